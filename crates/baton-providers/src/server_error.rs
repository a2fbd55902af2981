//! Turning a provider's error answer into an [`LlmError`] the run loop can act on: the HTTP
//! status decides retryability (in `baton-core`), the body says what went wrong, and the
//! `Retry-After` headers say how long to wait.

use baton_core::error::LlmError;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// Longest server text kept in an error when the body is not the usual JSON.
const MAX_MESSAGE_CHARS: usize = 500;

/// The error from an HTTP response with a non-success `status`.
///
/// HTTP 529 and Anthropic's `overloaded_error` become [`LlmError::Overloaded`]; everything
/// else is [`LlmError::Status`], whose retryability `baton-core` derives from the code.
pub(crate) fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> LlmError {
    let retry_after = retry_after(headers, SystemTime::now());
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .map(|value| ErrorDetail::from_value(&value))
        .unwrap_or_default();
    let message = detail
        .message
        .unwrap_or_else(|| fallback_message(status, body));
    if status.as_u16() == 529 || detail.kind.as_deref() == Some("overloaded_error") {
        return LlmError::Overloaded {
            message,
            retry_after,
        };
    }
    LlmError::Status {
        status: status.as_u16(),
        message,
        retry_after,
    }
}

/// How long the server asked the client to wait: `retry-after-ms` (milliseconds, as OpenAI
/// and Anthropic send it) first, then `Retry-After` as seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(millis) = header("retry-after-ms").and_then(parse_seconds) {
        return Some(millis / 1000);
    }
    let value = header(RETRY_AFTER.as_str())?.trim();
    if let Some(seconds) = parse_seconds(value) {
        return Some(seconds);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A non-negative decimal number of seconds as a duration.
fn parse_seconds(value: &str) -> Option<Duration> {
    let number = value.trim().parse::<f64>().ok()?;
    if number < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(number).ok()
}

fn fallback_message(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return status.canonical_reason().unwrap_or("no message").to_owned();
    }
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

/// What a provider said in an error object. OpenAI, Anthropic and the OpenAI-compatible
/// servers all use one of these shapes:
/// `{"error": {"message", "type", "code"}}`, `{"type": "error", "error": {...}}`,
/// `{"error": "text"}`, or vLLM's flat `{"object": "error", "message", "type", "code"}`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ErrorDetail {
    /// The human-readable message.
    pub(crate) message: Option<String>,
    /// The error type (`"overloaded_error"`, `"server_error"`, …).
    pub(crate) kind: Option<String>,
    /// A numeric code, when the provider gives an HTTP-like one.
    pub(crate) code: Option<u16>,
}

impl ErrorDetail {
    /// Reads the error object out of a JSON error body or event (or out of the error object
    /// itself).
    pub(crate) fn from_value(value: &serde_json::Value) -> Self {
        if let serde_json::Value::String(message) = value {
            return Self {
                message: Some(message.clone()),
                ..Self::default()
            };
        }
        if let Some(inner) = value
            .get("error")
            .filter(|inner| inner.is_object() || inner.is_string())
        {
            return Self::from_value(inner);
        }
        let text = |key: &str| {
            value
                .get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let code = value.get("code").and_then(|code| match code {
            serde_json::Value::Number(number) => number.as_u64(),
            serde_json::Value::String(text) => text.parse().ok(),
            _ => None,
        });
        Self {
            message: text("message"),
            kind: text("type"),
            code: code.and_then(|code| u16::try_from(code).ok()),
        }
    }

    /// Whether the error is worth a retry, by the same rule as HTTP statuses: a 408, 409,
    /// 429 or 5xx code, or a server-side error type.
    pub(crate) fn is_transient(&self) -> bool {
        let transient_code = self
            .code
            .is_some_and(|code| matches!(code, 408 | 409 | 429 | 500..=599));
        let transient_kind = matches!(
            self.kind.as_deref(),
            Some(
                "server_error"
                    | "api_error"
                    | "overloaded_error"
                    | "rate_limit_error"
                    | "timeout_error"
            )
        );
        transient_code || transient_kind
    }

    /// The message, or a generic one naming the type.
    pub(crate) fn describe(&self) -> String {
        match (&self.message, &self.kind) {
            (Some(message), _) => message.clone(),
            (None, Some(kind)) => kind.clone(),
            (None, None) => "unspecified error".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1.5")]), now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "7"), ("retry-after-ms", "250")]),
                now
            ),
            Some(Duration::from_millis(250))
        );
        // Wed, 21 Oct 2015 07:28:00 GMT is 1_445_412_480 seconds after the epoch.
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-3")]), now), None);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1e300")]), now),
            None
        );
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn statuses_keep_the_server_message() {
        let body = br#"{"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key"}}"#;
        let error = classify(StatusCode::UNAUTHORIZED, &HeaderMap::new(), body);
        assert_eq!(
            error,
            LlmError::Status {
                status: 401,
                message: "Incorrect API key provided.".into(),
                retry_after: None,
            }
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let error = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "2")]),
            br#"{"error": "slow down"}"#,
        );
        assert!(error.is_retryable());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(error.to_string(), "provider returned HTTP 429: slow down");
    }

    #[test]
    fn overload_is_recognised_by_status_and_by_type() {
        let body =
            br#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#;
        for status in [529, 503] {
            let status = StatusCode::from_u16(status).unwrap();
            let error = classify(status, &HeaderMap::new(), body);
            assert_eq!(
                error,
                LlmError::Overloaded {
                    message: "Overloaded".into(),
                    retry_after: None
                }
            );
        }
    }

    #[test]
    fn bodies_that_are_not_json_are_kept_as_text_or_reason() {
        let error = classify(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"upstream down\n",
        );
        assert_eq!(
            error.to_string(),
            "provider returned HTTP 502: upstream down"
        );
        let error = classify(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), b"");
        assert_eq!(
            error.to_string(),
            "provider returned HTTP 503: Service Unavailable"
        );
    }

    #[test]
    fn flat_vllm_errors_are_read() {
        let value = serde_json::json!({"object": "error", "message": "boom", "type": "InternalServerError", "code": 500});
        let detail = ErrorDetail::from_value(&value);
        assert_eq!(detail.message.as_deref(), Some("boom"));
        assert_eq!(detail.code, Some(500));
    }
}
