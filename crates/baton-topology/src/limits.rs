//! The range of every number a topology file may hold, in one place.
//!
//! A value outside its range is refused at its place in the file, so `baton check` refuses
//! what would otherwise misbehave later: a temperature a provider rejects on every call, a
//! handoff cycle allowed to run for billions of handoffs, a timeout that fires at once or
//! never. The bounds are generous on purpose: they catch mistakes, not tuning. Each key in
//! `raw` names the range it is checked against; `docs/format.md` lists them for users.

use std::ops::RangeInclusive;
use std::time::Duration;

/// `max_handoffs`: at least one; a run that needs more than 100 handoffs is a cycle.
pub(crate) const MAX_HANDOFFS: RangeInclusive<u32> = 1..=100;

/// An agent's `temperature`: the range OpenAI-compatible APIs accept (Anthropic's is 0 to 1).
pub(crate) const TEMPERATURE: RangeInclusive<f32> = 0.0..=2.0;

/// An agent's `max_tokens`: one token at least; no model writes a million in one answer.
pub(crate) const MAX_TOKENS: RangeInclusive<u32> = 1..=1_000_000;

/// An agent's `max_steps` (model calls in one run): one at least, a thousand at most.
pub(crate) const MAX_STEPS: RangeInclusive<u32> = 1..=1_000;

/// An agent's `max_history_tokens`: above every context window offered today.
pub(crate) const MAX_HISTORY_TOKENS: RangeInclusive<u32> = 1..=10_000_000;

/// A scripted turn's `when.call`: a call number an agent can reach within [`MAX_STEPS`].
pub(crate) const CALL: RangeInclusive<u32> = MAX_STEPS;

/// An `http_get` tool's `max_bytes`: the body is handed to the model whole.
#[cfg_attr(not(feature = "http-get"), allow(dead_code))]
pub(crate) const TOOL_MAX_BYTES: RangeInclusive<usize> = 1..=16 * 1024 * 1024;

/// The server's `max_body_bytes`: request bodies are read into memory whole.
pub(crate) const MAX_BODY_BYTES: RangeInclusive<usize> = 1..=64 * 1024 * 1024;

/// The server's `max_connections`: at least one; more than a process can usually keep open.
pub(crate) const MAX_CONNECTIONS: RangeInclusive<usize> = 1..=100_000;

/// Every timeout (of providers, tools, agents and the server): longer than zero, at most an
/// hour.
pub(crate) const TIMEOUT: Durations = Durations {
    zero: false,
    max: Duration::from_secs(3600),
    max_text: "1h",
};

/// An agent's `approval_timeout`: longer than zero; a call nobody decided in 30 days is
/// forgotten, not pending.
pub(crate) const APPROVAL_TIMEOUT: Durations = Durations {
    zero: false,
    max: Duration::from_secs(30 * 24 * 3600),
    max_text: "720h (30 days)",
};

/// The server's `shutdown_grace`: zero (cancel runs at once) to an hour.
pub(crate) const SHUTDOWN_GRACE: Durations = Durations {
    zero: true,
    max: Duration::from_secs(3600),
    max_text: "1h",
};

/// The server's `approval_sweep`: zero (no sweep) to an hour.
pub(crate) const APPROVAL_SWEEP: Durations = Durations {
    zero: true,
    max: Duration::from_secs(3600),
    max_text: "1h",
};

/// A scripted provider's `chunk_delay`: zero (none) to a minute.
pub(crate) const CHUNK_DELAY: Durations = Durations {
    zero: true,
    max: Duration::from_secs(60),
    max_text: "1m",
};

/// The durations a key may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Durations {
    /// Whether zero is allowed.
    pub(crate) zero: bool,
    /// The longest allowed.
    pub(crate) max: Duration,
    /// [`max`](Self::max) as written in a file.
    pub(crate) max_text: &'static str,
}

impl Durations {
    /// Why `value` is out of range, as the end of "… must be …", or `None` if it is not.
    pub(crate) fn refusal(&self, value: Duration) -> Option<String> {
        if value.is_zero() && !self.zero {
            Some("longer than 0".into())
        } else if value > self.max {
            Some(format!("at most {}", self.max_text))
        } else {
            None
        }
    }
}

/// Why `value` is out of `range`, as the end of "… must be …", or `None` if it is not. A
/// value that compares with neither end (NaN) is out of range.
pub(crate) fn refusal<T: PartialOrd + std::fmt::Display>(
    value: &T,
    range: &RangeInclusive<T>,
) -> Option<String> {
    if range.contains(value) {
        None
    } else if value < range.start() {
        Some(format!("at least {}", range.start()))
    } else if value > range.end() {
        Some(format!("at most {}", range.end()))
    } else {
        Some(format!(
            "a number from {} to {}",
            range.start(),
            range.end()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_their_range_say_which_end_they_pass() {
        assert_eq!(refusal(&0, &MAX_STEPS).unwrap(), "at least 1");
        assert_eq!(refusal(&1001, &MAX_STEPS).unwrap(), "at most 1000");
        assert_eq!(refusal(&1000, &MAX_STEPS), None);
        assert_eq!(
            refusal(&f32::NAN, &TEMPERATURE).unwrap(),
            "a number from 0 to 2"
        );
        assert_eq!(refusal(&f32::INFINITY, &TEMPERATURE).unwrap(), "at most 2");
        assert_eq!(refusal(&2.0, &TEMPERATURE), None);
        assert_eq!(TIMEOUT.refusal(Duration::ZERO).unwrap(), "longer than 0");
        assert_eq!(
            TIMEOUT.refusal(Duration::from_secs(3601)).unwrap(),
            "at most 1h"
        );
        assert_eq!(SHUTDOWN_GRACE.refusal(Duration::ZERO), None);
        assert_eq!(
            APPROVAL_TIMEOUT
                .refusal(Duration::from_secs(30 * 24 * 3600 + 1))
                .unwrap(),
            "at most 720h (30 days)"
        );
    }
}
