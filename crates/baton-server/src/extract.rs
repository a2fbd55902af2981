//! Extractors whose rejections are API errors (JSON, with a message), not axum's plain text.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::limits::BodyTimedOut;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::str::FromStr;
use std::sync::Arc;

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("this endpoint needs a bearer token"))
    }
}

/// A JSON request body. Any content type is read as JSON; a body over the configured limit
/// gets 413, one that does not arrive within the body timeout 408, one that is not JSON or not
/// of the expected shape 400 with serde's message (which names the field and the position).
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if let Some(timed_out) = BodyTimedOut::cause_of(&rejection) {
                    timed_out.to_api_error()
                } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large(state.max_body_bytes)
                } else {
                    ApiError::bad_request(
                        "invalid_body",
                        format!(
                            "the request body could not be read: {}",
                            rejection.body_text()
                        ),
                    )
                }
            })?;
        serde_json::from_slice(&bytes).map(Self).map_err(|error| {
            if error.is_data() {
                ApiError::bad_request("invalid_request", format!("invalid request: {error}"))
            } else {
                ApiError::bad_request(
                    "invalid_json",
                    format!("the request body is not valid JSON: {error}"),
                )
            }
        })
    }
}

/// Query parameters.
#[derive(Debug)]
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<T: DeserializeOwned + Send> FromRequestParts<Arc<AppState>> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(params)| Self(params))
            .map_err(|rejection| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("invalid query string: {}", rejection.body_text()),
                )
            })
    }
}

/// An id in the path (`/v1/threads/{id}/…`), parsed with its type's `FromStr`.
#[derive(Debug)]
pub(crate) struct IdPath<T>(pub(crate) T);

impl<T> FromRequestParts<Arc<AppState>> for IdPath<T>
where
    T: FromStr + Send,
    T::Err: std::fmt::Display,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request("invalid_path", rejection.body_text()))?;
        raw.parse()
            .map(Self)
            .map_err(|error| ApiError::bad_request("invalid_id", error.to_string()))
    }
}

/// An id and a name in the path (`/v1/runs/{id}/approvals/{call}`): the id parsed as
/// [`IdPath`] parses it, the name taken as it is.
#[derive(Debug)]
pub(crate) struct IdAndNamePath<T>(pub(crate) T, pub(crate) String);

impl<T> FromRequestParts<Arc<AppState>> for IdAndNamePath<T>
where
    T: FromStr + Send,
    T::Err: std::fmt::Display,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let Path((raw, name)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request("invalid_path", rejection.body_text()))?;
        let id = raw
            .parse()
            .map_err(|error: T::Err| ApiError::bad_request("invalid_id", error.to_string()))?;
        Ok(Self(id, name))
    }
}
