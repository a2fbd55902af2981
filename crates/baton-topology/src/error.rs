//! What can be wrong with a topology file, and where.

use baton_core::actor::SupervisorError;
use baton_core::error::StoreError;
use std::fmt;

/// Why a topology could not be loaded, checked or built.
///
/// Problems in the file are reported all together, each with the file, line and column it is
/// about:
///
/// ```text
/// support.toml:12:14: agent "triage" hands off to "biling", which is not defined (defined agents: billing, refunds)
/// support.toml:20:9: provider "openai" reads its API key from OPENAI_API_KEY, which is not set
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// The file could not be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The file, as given.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file has problems: syntax, unknown keys, references to things that are not defined,
    /// missing environment variables.
    #[error("{}", Problems(problems))]
    Invalid {
        /// Every problem found, in the order of the file.
        problems: Vec<Problem>,
    },
    /// The store could not be opened.
    #[error("cannot open the store {store}: {source}")]
    Store {
        /// The store, as configured (passwords hidden).
        store: String,
        /// Why.
        source: StoreError,
    },
    /// A provider chosen in code (or on the command line) is not defined in the file.
    #[error(
        "{file} defines no provider named {provider:?} (defined providers: {})",
        List(defined)
    )]
    UnknownProvider {
        /// The file, as given.
        file: String,
        /// The provider asked for.
        provider: String,
        /// The providers that are defined.
        defined: Vec<String>,
    },
    /// The supervisor refused the topology or could not start.
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    /// Something chosen outside the file (a store given in code or on the command line, or
    /// the default store) needs a cargo feature this build lacks. What the file names is
    /// reported at its place, as [`ProblemKind::FeatureDisabled`].
    #[error("{what} is not in this build: enable the cargo feature `{feature}`")]
    FeatureDisabled {
        /// What needs it (`store postgres://db/baton`).
        what: String,
        /// The feature.
        feature: &'static str,
    },
    /// The `[server]` settings are refused by `baton-server` (everything it refuses is
    /// reported at its key first; this is the server's own check, run after).
    #[cfg(feature = "server")]
    #[error(transparent)]
    Server(#[from] baton_server::ServerError),
}

impl TopologyError {
    /// The problems found in the file (empty for other errors).
    #[must_use]
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid { problems } => problems,
            _ => &[],
        }
    }

    pub(crate) fn invalid(mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| (p.line, p.column));
        Self::Invalid { problems }
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// One problem of a topology file, at a line and column (both from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as it was given.
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.kind
        )
    }
}

/// What is wrong with a topology file.
///
/// Lists of names (the agents defined, the tools available, …) hold at most 20; a longer
/// list ends with an entry saying how many more there are (`and 480 more`), so a file with
/// thousands of agents still gets short messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The TOML does not parse, a key is unknown, or a value has the wrong type.
    #[error("{0}")]
    Syntax(String),
    /// The file defines no agent.
    #[error("the file defines no agent: add an [[agents]] table with a name")]
    NoAgents,
    /// An agent's name is not a valid agent name.
    #[error("agent name {0:?} is invalid: use 1 to 64 characters from a-z, 0-9, '_' and '-'")]
    InvalidAgentName(String),
    /// Two agents have the same name.
    #[error("agent {name:?} is defined twice (first on line {first_line})")]
    DuplicateAgent {
        /// The name.
        name: String,
        /// Where the first definition is.
        first_line: usize,
    },
    /// `entry` names an agent that is not defined.
    #[error(
        "entry agent {entry:?} is not defined (defined agents: {})",
        List(defined)
    )]
    UndefinedEntry {
        /// The entry as written.
        entry: String,
        /// The agents that are defined.
        defined: Vec<String>,
    },
    /// An agent hands off to an agent that is not defined.
    #[error(
        "agent {agent:?} hands off to {target:?}, which is not defined (defined agents: {})",
        List(defined)
    )]
    UndefinedHandoff {
        /// The agent.
        agent: String,
        /// The handoff target as written.
        target: String,
        /// The agents that are defined.
        defined: Vec<String>,
    },
    /// An agent hands off to itself.
    #[error("agent {0:?} hands off to itself")]
    SelfHandoff(String),
    /// An agent uses a tool that does not exist.
    #[error(
        "agent {agent:?} uses tool {tool:?}, which does not exist (available tools: {})",
        List(available)
    )]
    UnknownTool {
        /// The agent.
        agent: String,
        /// The tool as written.
        tool: String,
        /// Built-in tools usable without a table, and the tools the file defines.
        available: Vec<String>,
    },
    /// An agent uses a built-in tool that needs a `[tools.NAME]` table the file lacks.
    #[error("agent {agent:?} uses tool {tool:?}, which needs a [tools.{tool}] table ({needs})")]
    ToolNeedsTable {
        /// The agent.
        agent: String,
        /// The tool.
        tool: String,
        /// What the table must hold.
        needs: &'static str,
    },
    /// An agent uses a provider that is not defined.
    #[error(
        "agent {agent:?} uses provider {provider:?}, which is not defined (defined providers: {})",
        List(defined)
    )]
    UndefinedProvider {
        /// The agent.
        agent: String,
        /// The provider as written.
        provider: String,
        /// The providers that are defined.
        defined: Vec<String>,
    },
    /// The top-level `provider` is not defined.
    #[error(
        "default provider {provider:?} is not defined (defined providers: {})",
        List(defined)
    )]
    UndefinedDefaultProvider {
        /// The provider as written.
        provider: String,
        /// The providers that are defined.
        defined: Vec<String>,
    },
    /// An agent names no provider and there is no single one to default to.
    #[error(
        "agent {agent:?} names no provider and there is no default (defined providers: {}): \
         add provider = \"NAME\" to the agent or at the top of the file",
        List(defined)
    )]
    NoProvider {
        /// The agent.
        agent: String,
        /// The providers that are defined.
        defined: Vec<String>,
    },
    /// A provider or tenant holds a secret inline.
    #[error(
        "{owner} has an inline {field}: secrets stay out of topology files; put it in an \
         environment variable and name that variable with {field}_env"
    )]
    InlineSecret {
        /// Who holds it (`provider "openai"`, `tenant "acme"`).
        owner: String,
        /// The field (`api_key`, `token`).
        field: &'static str,
    },
    /// A field does not apply to this kind of provider or tool.
    #[error("{field} does not apply to {owner}")]
    NotApplicable {
        /// The field.
        field: String,
        /// What it was set on (`tool "orders" of kind kv_lookup`).
        owner: String,
    },
    /// A required field is missing.
    #[error("{owner} needs {field}")]
    Missing {
        /// What lacks it.
        owner: String,
        /// The field and what it is for.
        field: String,
    },
    /// A value is out of range or malformed.
    #[error("{0}")]
    InvalidValue(String),
    /// A key holds a word that is not one of those it accepts.
    #[error("{key} must be {}, not {value:?}", Choices(accepted))]
    UnknownChoice {
        /// The key and whose it is (`approval of tool "refund"`).
        key: String,
        /// The value as written.
        value: String,
        /// The values the key accepts.
        accepted: &'static [&'static str],
    },
    /// A scripted turn calls a tool its agent does not have.
    #[error(
        "a scripted turn of agent {agent:?} calls tool {tool:?}, which the agent does not have \
         (its tools: {})",
        List(available)
    )]
    ScriptTool {
        /// The agent.
        agent: String,
        /// The tool as written.
        tool: String,
        /// The agent's tools.
        available: Vec<String>,
    },
    /// A scripted turn hands off to an agent its agent may not hand off to.
    #[error(
        "a scripted turn of agent {agent:?} hands off to {target:?}, which is not among its \
         handoffs ({})",
        List(allowed)
    )]
    ScriptHandoff {
        /// The agent.
        agent: String,
        /// The target as written.
        target: String,
        /// The agent's handoffs.
        allowed: Vec<String>,
    },
    /// An agent served by a scripted provider has no scripted turns.
    #[error(
        "agent {agent:?} uses the scripted provider {provider:?} but has no [[agents.script]] \
         turns"
    )]
    MissingScript {
        /// The agent.
        agent: String,
        /// The provider.
        provider: String,
    },
    /// An environment variable the topology reads is not set.
    #[error("{owner} reads its {what} from {variable}, which is not set")]
    MissingEnv {
        /// Who reads it (`provider "openai"`, `tenant "acme"`).
        owner: String,
        /// What it holds (`API key`, `token`).
        what: &'static str,
        /// The variable.
        variable: String,
    },
    /// An environment variable the topology reads is set, but to nothing it can use. The
    /// value never appears in the message.
    #[error("{owner} reads its {what} from {variable}, which {reason}")]
    UnusableEnv {
        /// Who reads it (`tenant "acme"`).
        owner: String,
        /// What it holds (`token`).
        what: &'static str,
        /// The variable.
        variable: String,
        /// What is wrong with its value (`is empty`).
        reason: &'static str,
    },
    /// Two tenants' variables hold the same token, so a request could not tell them apart.
    #[error(
        "tenant {tenant:?} reads from {variable} the same token as tenant {other:?} has: give \
         each tenant its own token"
    )]
    SharedToken {
        /// The tenant declared later.
        tenant: String,
        /// Its variable.
        variable: String,
        /// The tenant declared first, that has the token too.
        other: String,
    },
    /// The file is not UTF-8: `byte` is the first that cannot be read as UTF-8 text.
    #[error("byte 0x{byte:02X} is not UTF-8: save the file as UTF-8")]
    NotUtf8 {
        /// The byte.
        byte: u8,
    },
    /// The file starts with the byte order mark of another encoding.
    #[error("the file is encoded as {encoding}: save it as UTF-8")]
    WrongEncoding {
        /// The encoding (`UTF-16 (little-endian)`).
        encoding: String,
    },
    /// Tables, dotted keys, arrays and inline tables nest deeper than the limit.
    #[error(
        "this nests deeper than {limit} levels (each table of a header, dot of a key, array \
         and inline table is one): flatten the structure"
    )]
    TooDeep {
        /// The most levels a file may nest.
        limit: usize,
    },
    /// A kind of provider or tool, or a store, needs a cargo feature this build lacks.
    #[error("{what} is not in this build: enable the cargo feature `{feature}`")]
    FeatureDisabled {
        /// What needs it (`provider "offline" of kind scripted`).
        what: String,
        /// The feature.
        feature: &'static str,
    },
    /// A provider could not be built from its configuration.
    #[error("provider {provider:?}: {message}")]
    Provider {
        /// The provider.
        provider: String,
        /// Why.
        message: String,
    },
}

/// The most names a problem lists.
pub(crate) const LISTED: usize = 20;

/// `names`, of which there are `total`, as a problem lists them: the first [`LISTED`], then
/// `and N more` if there are more. Costs the same whatever `total` is.
pub(crate) fn listed<'a>(names: impl IntoIterator<Item = &'a String>, total: usize) -> Vec<String> {
    let mut list: Vec<String> = names.into_iter().take(LISTED).cloned().collect();
    if total > list.len() {
        list.push(format!("and {} more", total - list.len()));
    }
    list
}

/// A comma-separated list of names, or "none".
struct List<'a>(&'a [String]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.0.join(", "))
    }
}

/// Words a key accepts, quoted: `"never" or "always"`, `"retry", "fail" or "ask"`.
struct Choices<'a>(&'a [&'a str]);

impl fmt::Display for Choices<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.0.len().saturating_sub(1);
        for (i, choice) in self.0.iter().enumerate() {
            match i {
                0 => {}
                _ if i == last => f.write_str(" or ")?,
                _ => f.write_str(", ")?,
            }
            write!(f, "{choice:?}")?;
        }
        Ok(())
    }
}
