//! `current_time`: the time now, in UTC.

use baton_core::context::ToolContext;
use baton_core::error::ToolError;
use baton_core::tool::Tool;
use schemars::JsonSchema;
use serde::Deserialize;

/// The current date and time in UTC, as RFC 3339 with whole seconds
/// (`2026-05-01T09:30:00Z`).
///
/// ```
/// use baton_core::tool::Tool;
/// use baton_core::context::ToolContext;
/// use baton_topology::tools::{CurrentTime, CurrentTimeArgs};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let now = CurrentTime.call(CurrentTimeArgs {}, ToolContext::standalone()).await.unwrap();
/// assert!(now.ends_with('Z'));
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CurrentTime;

/// Arguments of [`CurrentTime`]: none.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct CurrentTimeArgs {}

impl Tool for CurrentTime {
    type Args = CurrentTimeArgs;

    fn name(&self) -> &str {
        "current_time"
    }

    fn description(&self) -> &str {
        "Returns the current date and time in UTC (RFC 3339)."
    }

    /// It only reads the clock.
    fn read_only(&self) -> bool {
        true
    }

    async fn call(
        &self,
        _args: CurrentTimeArgs,
        _ctx: &ToolContext<'_>,
    ) -> Result<String, ToolError> {
        let now = jiff::Timestamp::now();
        let whole = jiff::Timestamp::from_second(now.as_second())
            .map_err(|error| ToolError::failed(error.to_string()))?;
        Ok(whole.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_time_is_rfc3339_utc_with_whole_seconds() {
        let before = jiff::Timestamp::now().as_second();
        let text = CurrentTime
            .call(CurrentTimeArgs {}, ToolContext::standalone())
            .await
            .unwrap();
        let after = jiff::Timestamp::now().as_second();
        assert_eq!(text.len(), "2026-05-01T09:30:00Z".len(), "{text}");
        assert!(text.ends_with('Z'), "{text}");
        let parsed: jiff::Timestamp = text.parse().unwrap();
        assert!((before..=after).contains(&parsed.as_second()));
    }
}
