//! The file as written: serde types that mirror the TOML, with spans kept for error reports.
//!
//! Everything here only parses; what the values mean, and whether references resolve, is
//! decided by `validate`. Each number names the range of [`limits`](crate::limits) it is
//! checked against.

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTopology {
    pub(crate) entry: Option<Spanned<String>>,
    pub(crate) provider: Option<Spanned<String>>,
    pub(crate) store: Option<Spanned<String>>,
    /// [`MAX_HANDOFFS`](crate::limits::MAX_HANDOFFS): 1 to 100.
    pub(crate) max_handoffs: Option<Spanned<u32>>,
    #[serde(default)]
    pub(crate) providers: BTreeMap<Spanned<String>, RawProvider>,
    #[serde(default)]
    pub(crate) tools: BTreeMap<Spanned<String>, RawTool>,
    #[serde(default)]
    pub(crate) agents: Vec<RawAgent>,
    pub(crate) server: Option<RawServer>,
}

/// `kind` of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProviderKind {
    Openai,
    Anthropic,
    Scripted,
}

impl ProviderKind {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Scripted => "scripted",
        }
    }

    /// The cargo feature this kind needs and this build lacks, if it does (each kind's
    /// feature is named as the kind is).
    pub(crate) const fn missing_feature(self) -> Option<&'static str> {
        let built = match self {
            Self::Openai => cfg!(feature = "openai"),
            Self::Anthropic => cfg!(feature = "anthropic"),
            Self::Scripted => cfg!(feature = "scripted"),
        };
        if built { None } else { Some(self.name()) }
    }
}

/// A `[providers.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    pub(crate) kind: Spanned<ProviderKind>,
    pub(crate) base_url: Option<Spanned<String>>,
    pub(crate) api_key_env: Option<Spanned<String>>,
    /// Refused: secrets stay out of files. Parsed so the error can say why.
    pub(crate) api_key: Option<Spanned<toml::Value>>,
    pub(crate) model: Option<Spanned<String>>,
    /// This and the three other timeouts: [`TIMEOUT`](crate::limits::TIMEOUT), more than 0
    /// and at most 1 h.
    pub(crate) connect_timeout: Option<Spanned<Seconds>>,
    pub(crate) first_byte_timeout: Option<Spanned<Seconds>>,
    pub(crate) idle_timeout: Option<Spanned<Seconds>>,
    pub(crate) response_timeout: Option<Spanned<Seconds>>,
    /// [`CHUNK_DELAY`](crate::limits::CHUNK_DELAY): 0 to 1 min.
    pub(crate) chunk_delay: Option<Spanned<Seconds>>,
}

/// `kind` of a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ToolKind {
    HttpGet,
    Calculator,
    CurrentTime,
    KvLookup,
}

impl ToolKind {
    pub(crate) const ALL: [Self; 4] = [
        Self::Calculator,
        Self::CurrentTime,
        Self::HttpGet,
        Self::KvLookup,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::HttpGet => "http_get",
            Self::Calculator => "calculator",
            Self::CurrentTime => "current_time",
            Self::KvLookup => "kv_lookup",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// What a `[tools.NAME]` table of this kind must hold, for kinds that need one.
    pub(crate) const fn needs_table(self) -> Option<&'static str> {
        match self {
            Self::HttpGet => Some("with allow_hosts, the hosts it may fetch from"),
            Self::KvLookup => Some("with entries, the table it looks keys up in"),
            Self::Calculator | Self::CurrentTime => None,
        }
    }

    /// The cargo feature this kind needs and this build lacks, if it does.
    pub(crate) const fn missing_feature(self) -> Option<&'static str> {
        match self {
            Self::Calculator if !cfg!(feature = "calculator") => Some("calculator"),
            Self::HttpGet if !cfg!(feature = "http-get") => Some("http-get"),
            _ => None,
        }
    }
}

/// A `[tools.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTool {
    pub(crate) kind: Option<Spanned<ToolKind>>,
    pub(crate) description: Option<String>,
    pub(crate) allow_hosts: Option<Spanned<Vec<Spanned<String>>>>,
    /// [`TOOL_MAX_BYTES`](crate::limits::TOOL_MAX_BYTES): 1 byte to 16 MiB.
    pub(crate) max_bytes: Option<Spanned<usize>>,
    /// [`TIMEOUT`](crate::limits::TIMEOUT): more than 0 and at most 1 h.
    pub(crate) timeout: Option<Spanned<Seconds>>,
    /// Floats in it must be finite: JSON has no NaN or infinity.
    pub(crate) entries: Option<Spanned<toml::Table>>,
    /// One of [`APPROVALS`](crate::tools::APPROVALS): whether its calls wait for a person.
    pub(crate) approval: Option<Spanned<String>>,
    /// Whether it only reads; by default the kind's own (every built-in kind only reads).
    pub(crate) read_only: Option<bool>,
    /// One of [`ON_INTERRUPT`](crate::tools::ON_INTERRUPT); by default the tool's own.
    pub(crate) on_interrupt: Option<Spanned<String>>,
}

/// An `[[agents]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) instructions: String,
    pub(crate) provider: Option<Spanned<String>>,
    pub(crate) model: Option<String>,
    /// [`TEMPERATURE`](crate::limits::TEMPERATURE): 0 to 2.
    pub(crate) temperature: Option<Spanned<f32>>,
    /// [`MAX_TOKENS`](crate::limits::MAX_TOKENS): 1 to 1,000,000.
    pub(crate) max_tokens: Option<Spanned<u32>>,
    #[serde(default)]
    pub(crate) tools: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) handoffs: Vec<Spanned<String>>,
    /// [`MAX_STEPS`](crate::limits::MAX_STEPS): 1 to 1,000.
    pub(crate) max_steps: Option<Spanned<u32>>,
    /// [`MAX_HISTORY_TOKENS`](crate::limits::MAX_HISTORY_TOKENS): 1 to 10,000,000.
    pub(crate) max_history_tokens: Option<Spanned<u32>>,
    /// [`TIMEOUT`](crate::limits::TIMEOUT): more than 0 and at most 1 h.
    pub(crate) tool_timeout: Option<Spanned<Seconds>>,
    /// [`TIMEOUT`](crate::limits::TIMEOUT): how long a run's lease lasts unless renewed.
    pub(crate) lease_ttl: Option<Spanned<Seconds>>,
    /// [`APPROVAL_TIMEOUT`](crate::limits::APPROVAL_TIMEOUT): how long a call waits for
    /// approval before it is rejected as expired (by default, as long as it takes).
    pub(crate) approval_timeout: Option<Spanned<Seconds>>,
    #[serde(default)]
    pub(crate) script: Vec<Spanned<RawTurn>>,
}

/// An `[[agents.script]]` table: one scripted model turn and when it applies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTurn {
    #[serde(default)]
    pub(crate) when: RawWhen,
    pub(crate) text: Option<Spanned<String>>,
    pub(crate) tool: Option<Spanned<String>>,
    /// Floats in it must be finite: JSON has no NaN or infinity.
    pub(crate) arguments: Option<Spanned<toml::Table>>,
    #[serde(default)]
    pub(crate) tool_calls: Vec<RawCall>,
    pub(crate) handoff: Option<Spanned<String>>,
    pub(crate) reason: Option<Spanned<String>>,
}

/// One call of a turn's `tool_calls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCall {
    pub(crate) tool: Spanned<String>,
    /// Floats in it must be finite: JSON has no NaN or infinity.
    pub(crate) arguments: Option<toml::Table>,
}

/// The conditions of a scripted turn; all that are given must hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWhen {
    /// [`CALL`](crate::limits::CALL): 1 to 1,000, the calls [`MAX_STEPS`](crate::limits::MAX_STEPS) allows.
    pub(crate) call: Option<Spanned<u32>>,
    pub(crate) user_contains: Option<OneOrMany>,
    pub(crate) after_tool: Option<Spanned<String>>,
    pub(crate) result_contains: Option<OneOrMany>,
}

/// The `[server]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub(crate) bind: Option<Spanned<String>>,
    /// [`MAX_BODY_BYTES`](crate::limits::MAX_BODY_BYTES): 1 byte to 64 MiB.
    pub(crate) max_body_bytes: Option<Spanned<usize>>,
    /// [`SHUTDOWN_GRACE`](crate::limits::SHUTDOWN_GRACE): 0 to 1 h.
    pub(crate) shutdown_grace: Option<Spanned<Seconds>>,
    /// This and the two other timeouts: [`TIMEOUT`](crate::limits::TIMEOUT), more than 0 and
    /// at most 1 h.
    pub(crate) header_read_timeout: Option<Spanned<Seconds>>,
    pub(crate) idle_timeout: Option<Spanned<Seconds>>,
    pub(crate) body_read_timeout: Option<Spanned<Seconds>>,
    /// [`MAX_CONNECTIONS`](crate::limits::MAX_CONNECTIONS): 1 to 100,000.
    pub(crate) max_connections: Option<Spanned<usize>>,
    /// [`APPROVAL_SWEEP`](crate::limits::APPROVAL_SWEEP): 0 (off) to 1 h.
    pub(crate) approval_sweep: Option<Spanned<Seconds>>,
    #[serde(default)]
    pub(crate) tenants: Vec<RawTenant>,
}

/// A `[[server.tenants]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenant {
    pub(crate) name: Spanned<String>,
    pub(crate) token_env: Option<Spanned<String>>,
    /// Refused: secrets stay out of files. Parsed so the error can say why.
    pub(crate) token: Option<Spanned<toml::Value>>,
}

/// A string, or a list of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OneOrMany(pub(crate) Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Strings;

        impl<'de> Visitor<'de> for Strings {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![value.to_owned()]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut all = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    all.push(item);
                }
                Ok(OneOrMany(all))
            }
        }

        deserializer.deserialize_any(Strings)
    }
}

/// A duration: a number of seconds (`30`, `0.5`) or a text such as `"30s"`, `"500ms"` or
/// `"1m 30s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seconds(pub(crate) Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        const EXPECTED: &str =
            "a duration: seconds as a number, or a text such as \"30s\", \"500ms\" or \"1m 30s\"";

        impl Visitor<'_> for DurationVisitor {
            type Value = Seconds;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Seconds, E> {
                u64::try_from(value)
                    .map(|secs| Seconds(Duration::from_secs(secs)))
                    .map_err(|_| E::custom(format!("expected {EXPECTED}, found {value}")))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Seconds, E> {
                Ok(Seconds(Duration::from_secs(value)))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Seconds, E> {
                Duration::try_from_secs_f64(value)
                    .map(Seconds)
                    .map_err(|_| E::custom(format!("expected {EXPECTED}, found {value}")))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Seconds, E> {
                value
                    .parse::<jiff::SignedDuration>()
                    .ok()
                    .and_then(|d| Duration::try_from(d).ok())
                    .map(Seconds)
                    .ok_or_else(|| E::custom(format!("expected {EXPECTED}, found {value:?}")))
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}
