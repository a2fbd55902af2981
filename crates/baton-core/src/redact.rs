//! Keeping secrets out of everything Baton writes: events, episodes, log lines, HTTP bodies and
//! the terminal.
//!
//! A provider that reports an error may quote the request back, API key included, and a tool's
//! error may carry a credential it was given. Baton removes two kinds of text before such a
//! message goes anywhere:
//!
//! - **the secrets this process holds**: every [`Secret`] registers itself here while any clone
//!   of it lives (providers keep their API keys as secrets), so no code path has to remember to
//!   pass the list along;
//! - **anything that looks like a credential** in the common formats, whoever it belongs to:
//!   `Bearer …` values, `sk-…` keys (OpenAI, Anthropic), AWS access key ids, GitHub, Slack,
//!   Google, Hugging Face and Groq tokens, JSON Web Tokens, passwords in URLs, and values of
//!   fields named like `api_key`, `token`, `secret` or `password`.
//!
//! [`redact`] is the one function that does it. The run loop applies it to every error a
//! provider returns, in or out of a stream, to every tool error before the model sees it, and
//! to a failed run's message before it becomes an event, an episode or a log line; the
//! providers apply it at their own boundary too, for callers that use them without the loop.
//!
//! ```
//! use baton_core::redact::{Secret, redact};
//!
//! let key = Secret::new("k3y-0f-the-0perator-2f9a").unwrap();
//! let echoed = "Incorrect API key provided: k3y-0f-the-0perator-2f9a";
//! assert_eq!(redact(echoed), "Incorrect API key provided: [redacted]");
//! assert_eq!(redact("Authorization: Bearer abcdefgh12345678"), "Authorization: Bearer [redacted]");
//! assert_eq!(redact("nothing to hide"), "nothing to hide");
//! drop(key);
//! ```

use crate::error::LlmError;
use regex::Regex;
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, LazyLock, RwLock, Weak};
use zeroize::Zeroizing;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not searched for: they would match ordinary words.
const MIN_SECRET_LEN: usize = 6;

/// A secret value that [`redact`] removes from every text while any clone of it is alive.
///
/// Its memory is wiped when the last clone is dropped; `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Arc<Zeroizing<String>>);

impl Secret {
    /// Holds `value` as a secret and registers it for redaction.
    ///
    /// # Errors
    ///
    /// [`SecretError`] if `value` is empty or holds a character outside visible ASCII
    /// (`!`..=`~`): such a value cannot travel in an HTTP header unchanged, and a server
    /// echoing it back in another encoding would defeat redaction. The value is registered
    /// for redaction even then, so the refusal itself cannot leak it.
    pub fn new(value: impl Into<String>) -> Result<Self, SecretError> {
        let secret = Self::new_unchecked(value);
        secret.check()?;
        Ok(secret)
    }

    /// Holds `value` as a secret and registers it for redaction, without checking it.
    ///
    /// [`check`](Self::check) tells later whether it is fit to be sent.
    #[must_use]
    pub fn new_unchecked(value: impl Into<String>) -> Self {
        let secret = Self(Arc::new(Zeroizing::new(value.into())));
        registry::register(&secret.0);
        secret
    }

    /// Whether the value is non-empty visible ASCII.
    ///
    /// # Errors
    ///
    /// [`SecretError`] says which character is wrong, and where, never what the value is.
    pub fn check(&self) -> Result<(), SecretError> {
        if self.0.is_empty() {
            return Err(SecretError::Empty);
        }
        match self.0.chars().position(|c| !c.is_ascii_graphic()) {
            None => Ok(()),
            Some(position) => Err(SecretError::NotVisibleAscii {
                position: position + 1,
            }),
        }
    }

    /// The value itself, for the one place that sends it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Why a value was refused as a [`Secret`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The value is empty.
    #[error("it is empty")]
    Empty,
    /// The value holds whitespace, a control character or a character outside ASCII.
    #[error(
        "character {position} is not visible ASCII (a space, a control character or a \
         non-ASCII character); keys and tokens must be printable ASCII without spaces"
    )]
    NotVisibleAscii {
        /// The 1-based position of the first offending character.
        position: usize,
    },
}

/// `text` without the secrets this process holds and without anything that looks like a
/// credential; borrowed when there was nothing to remove.
#[must_use]
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    registry::for_each(|secret| {
        if out.contains(secret) {
            out = Cow::Owned(out.replace(secret, REDACTED));
        }
    });
    match CREDENTIAL.replace_all(&out, replace_credential) {
        Cow::Borrowed(_) => out,
        Cow::Owned(scrubbed) => Cow::Owned(scrubbed),
    }
}

/// `text` redacted in place: no allocation when there is nothing to remove.
pub fn redact_string(text: &mut String) {
    if let Cow::Owned(scrubbed) = redact(text) {
        *text = scrubbed;
    }
}

impl LlmError {
    /// This error with every message [`redact`]ed.
    #[must_use]
    pub fn redacted(mut self) -> Self {
        match &mut self {
            Self::Status { message, .. }
            | Self::Overloaded { message, .. }
            | Self::Provider { message, .. }
            | Self::Connection(message)
            | Self::Timeout(message)
            | Self::MalformedStream(message)
            | Self::InvalidRequest(message) => redact_string(message),
            Self::Cancelled | Self::IncompleteStream | Self::ResponseTooLarge { .. } => {}
        }
        self
    }
}

/// Credentials in the common formats. Groups `keep1`..`keep3` are a prefix that stays (a
/// field's name, `Bearer `, `scheme://user:`), the rest of the match is the credential.
static CREDENTIAL: LazyLock<Regex> = LazyLock::new(|| {
    let patterns = [
        // Authorization header values.
        r"(?P<keep1>(?i:bearer)\s+)[A-Za-z0-9._~+/=-]{8,}",
        // Fields named like a credential: `api_key=…`, `"password": "…"`, `x-api-key: …`.
        r#"(?P<keep2>(?i:[a-z0-9_-]*(?:api[_-]?key|access[_-]?token|auth[_-]?token|secret|password|passwd|token))["']?\s*[:=]\s*["']?)[^\s"'&,;}\]]{6,}"#,
        // Passwords in URLs: scheme://user:password@host.
        r"(?P<keep3>[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@",
        // OpenAI, Anthropic (sk-, sk-proj-, sk-ant-…), including masked echoes (sk-…****abcd).
        r"\bsk-[A-Za-z0-9_*-]{8,}",
        // AWS access key ids.
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        // GitHub tokens.
        r"\bgh[pousr]_[A-Za-z0-9]{20,}",
        r"\bgithub_pat_[A-Za-z0-9_]{20,}",
        // Slack tokens.
        r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
        // Google API keys.
        r"\bAIza[0-9A-Za-z_-]{30,}",
        // Hugging Face, Groq, Replicate tokens.
        r"\b(?:hf|gsk|r8)_[A-Za-z0-9]{20,}",
        // JSON Web Tokens.
        r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*",
    ];
    #[allow(clippy::expect_used)]
    Regex::new(&patterns.join("|")).expect("the credential patterns are valid")
});

/// A field's value made only of letters and shorter than this is taken for a word.
const PLAIN_WORD_MAX: usize = 16;

fn replace_credential(captures: &regex::Captures<'_>) -> String {
    let whole = captures.get(0).map_or("", |m| m.as_str());
    let keep = ["keep1", "keep2", "keep3"]
        .into_iter()
        .find_map(|name| captures.name(name))
        .map_or("", |m| m.as_str());
    // A field's value that is a short plain word is prose ("api_key: secrets stay out of …"),
    // not a credential: keys carry digits or symbols, or are long.
    if captures.name("keep2").is_some() {
        let value = &whole[keep.len()..];
        if value.len() < PLAIN_WORD_MAX && value.bytes().all(|b| b.is_ascii_alphabetic()) {
            return whole.to_owned();
        }
    }
    // A URL's password keeps its `@`, so the host stays readable.
    let tail = if whole.ends_with('@') && keep.contains("://") {
        "@"
    } else {
        ""
    };
    format!("{keep}{REDACTED}{tail}")
}

/// The process's live secrets, held weakly: a secret is forgotten when its last clone drops.
mod registry {
    use super::{Arc, MIN_SECRET_LEN, RwLock, Weak, Zeroizing};

    type Entry = Weak<Zeroizing<String>>;

    static SECRETS: RwLock<Vec<Entry>> = RwLock::new(Vec::new());

    pub(super) fn register(secret: &Arc<Zeroizing<String>>) {
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let mut secrets = SECRETS
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        secrets.retain(|entry| entry.strong_count() > 0);
        secrets.push(Arc::downgrade(secret));
    }

    pub(super) fn for_each(mut visit: impl FnMut(&str)) {
        let secrets = SECRETS
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for entry in secrets.iter() {
            if let Some(secret) = entry.upgrade() {
                visit(secret.as_str());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_removed_while_they_live() {
        let secret = Secret::new("plain-looking-value-1234").unwrap();
        assert_eq!(
            redact("key plain-looking-value-1234 and plain-looking-value-1234"),
            "key [redacted] and [redacted]"
        );
        drop(secret);
        assert_eq!(
            redact("plain-looking-value-1234"),
            "plain-looking-value-1234"
        );
    }

    #[test]
    fn common_credential_formats_are_removed() {
        let cases = [
            (
                "Authorization: Bearer abc.DEF-123_456",
                "Authorization: Bearer [redacted]",
            ),
            (
                "Incorrect API key provided: sk-proj-abcdEFGH1234. See docs.",
                "Incorrect API key provided: [redacted]. See docs.",
            ),
            ("masked sk-proj-********abcd", "masked [redacted]"),
            ("aws AKIAIOSFODNN7EXAMPLE here", "aws [redacted] here"),
            ("gh ghp_0123456789abcdefghijABCDEFGHIJ", "gh [redacted]"),
            (
                r#"{"api_key": "s3cr3t-value"}"#,
                r#"{"api_key": "[redacted]"}"#,
            ),
            ("x-api-key: abcdef123456", "x-api-key: [redacted]"),
            (
                "?access_token=abcdef123456&x=1",
                "?access_token=[redacted]&x=1",
            ),
            (
                "postgres://baton:hunter2-pass@db:5432/baton",
                "postgres://baton:[redacted]@db:5432/baton",
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig_nature",
                "jwt [redacted]",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(redact(text), expected, "{text}");
        }
    }

    #[test]
    fn a_field_followed_by_a_plain_word_is_prose() {
        for text in [
            "an inline api_key: secrets stay out of topology files",
            "password: required",
            "token=expired",
        ] {
            assert_eq!(redact(text), text);
        }
        assert_eq!(
            redact("password: correcthorsebatterystaple"),
            "password: [redacted]"
        );
        assert_eq!(redact("token=Abc_defgh"), "token=[redacted]");
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for text in [
            "model crashed",
            "provider returned HTTP 500: internal error",
            "the token budget of 4096 was exceeded",
            "https://api.example.com/v1/chat/completions",
        ] {
            assert!(matches!(redact(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn secrets_outside_visible_ascii_are_refused_but_still_redacted() {
        assert_eq!(
            Secret::new("abc\u{a0}defghij").unwrap_err(),
            SecretError::NotVisibleAscii { position: 4 }
        );
        assert_eq!(Secret::new("").unwrap_err(), SecretError::Empty);
        assert_eq!(
            Secret::new("with space inside").unwrap_err(),
            SecretError::NotVisibleAscii { position: 5 }
        );
        let kept = Secret::new_unchecked("unusual\u{e9}secret-value");
        assert!(kept.check().is_err());
        assert_eq!(redact("echo unusual\u{e9}secret-value"), "echo [redacted]");
    }

    #[test]
    fn errors_are_redacted_in_every_message() {
        let error = LlmError::Provider {
            message: "Incorrect API key provided: sk-live-0123456789".into(),
            retryable: false,
        };
        assert_eq!(
            error.redacted().to_string(),
            "provider error: Incorrect API key provided: [redacted]"
        );
        let debug = format!("{:?}", Secret::new("abcdefghijkl").unwrap());
        assert_eq!(debug, "[redacted]");
    }
}
