//! A validated topology: load it, check it, build it into a running supervisor.

use crate::agent::AgentDef;
use crate::error::{Problem, ProblemKind, TopologyError, listed};
use crate::provider::ProviderDef;
use crate::raw::{ProviderKind, RawTopology};
use crate::server::{Credential, ServerDef};
use crate::source::Source;
use crate::store::StoreSpec;
use crate::summary::{AgentSummary, Summary};
use crate::tools::ToolDef;
use baton_core::actor::Supervisor;
use baton_core::ids::AgentName;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

/// A topology file, parsed and validated: agents, providers, tools, store and server.
///
/// [`load`](Self::load) and [`parse`](Self::parse) report every problem of the file at once,
/// each with its file, line and column. [`check`](Self::check) also checks what only the
/// environment can tell (API keys). [`build`](Self::build) opens the store, creates the
/// providers and tools, and starts a [`Supervisor`] with one actor per agent.
///
/// ```
/// use baton_topology::Topology;
///
/// let error = Topology::parse("support.toml", r#"
/// [providers.demo]
/// kind = "scripted"
///
/// [[agents]]
/// name = "triage"
/// handoffs = ["biling"]
/// script = [{ text = "Hello" }]
///
/// [[agents]]
/// name = "billing"
/// script = [{ text = "Hello" }]
/// "#).unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     r#"support.toml:7:13: agent "triage" hands off to "biling", which is not defined (defined agents: billing)"#
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Topology {
    pub(crate) source: Source,
    pub(crate) entry: AgentName,
    pub(crate) store: StoreSpec,
    /// Where the file names the store, while it is the file's.
    pub(crate) store_span: Option<Range<usize>>,
    pub(crate) max_handoffs: Option<u32>,
    pub(crate) agents: Vec<AgentDef>,
    pub(crate) providers: BTreeMap<String, ProviderDef>,
    /// The tools agents use, by name.
    pub(crate) tools: BTreeMap<String, ToolDef>,
    pub(crate) server: ServerDef,
}

/// The process's value of `variable`, unless it is unset or blank.
fn process_env(variable: &str) -> Option<String> {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

impl Topology {
    /// Reads and validates the topology file at `path`.
    ///
    /// The file must be UTF-8 (a UTF-8 byte order mark is allowed): the first byte that is
    /// not is reported with its line and column, and a file saved as UTF-16 or UTF-32 is
    /// recognised by its byte order mark and reported as such.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TopologyError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| TopologyError::Read {
            file: file.clone(),
            source,
        })?;
        let text = crate::decode::decode(&file, bytes)
            .map_err(|problem| TopologyError::invalid(vec![problem]))?;
        Self::parse(file, text)
    }

    /// Validates the topology in `text`; `file` names it in error messages.
    ///
    /// Text nested deeper than 64 levels (tables of a header, dots of a key, arrays and
    /// inline tables count one each) is refused where it goes too deep.
    pub fn parse(file: impl Into<String>, text: impl Into<String>) -> Result<Self, TopologyError> {
        let source = Source::new(file, text);
        if let Some(offset) = crate::depth::too_deep(source.text()) {
            let kind = ProblemKind::TooDeep {
                limit: crate::depth::MAX_DEPTH,
            };
            return Err(TopologyError::invalid(vec![
                source.problem(&(offset..offset), kind),
            ]));
        }
        let raw: RawTopology = match toml::from_str(source.text()) {
            Ok(raw) => raw,
            Err(error) => {
                let span = error.span().unwrap_or(0..0);
                let problem = source.problem(&span, ProblemKind::Syntax(syntax_message(&error)));
                return Err(TopologyError::invalid(vec![problem]));
            }
        };
        crate::validate::validate(source, raw).map_err(TopologyError::invalid)
    }

    /// Checks what the file alone cannot tell: the environment variables it names are set,
    /// and every provider and tool can be created. Opens no store and starts nothing.
    pub fn check(&self) -> Result<Summary, TopologyError> {
        self.check_store()?;
        self.prepare(&process_env)?;
        self.tenants()?;
        Ok(self.summary())
    }

    /// Opens the store, creates the providers, tools and agents, and starts the supervisor.
    pub async fn build(&self) -> Result<Supervisor, TopologyError> {
        self.check_store()?;
        let agents = self.prepare(&process_env)?;
        tracing::debug!(
            file = self.source.name(),
            agents = agents.len(),
            store = %self.store,
            "starting the topology's supervisor"
        );
        let store = self.store.open().await?;
        let mut builder = Supervisor::builder().store(store);
        if let Some(max) = self.max_handoffs {
            builder = builder.max_handoffs(max);
        }
        for (agent, provider) in agents {
            builder = builder.agent_with_provider(agent, provider);
        }
        Ok(builder.spawn().await?)
    }

    /// The agent runs start with: `entry`, or else the first agent of the file.
    #[must_use]
    pub fn entry(&self) -> &AgentName {
        &self.entry
    }

    /// The agents, in file order.
    pub fn agent_names(&self) -> impl Iterator<Item = &AgentName> {
        self.agents.iter().map(|agent| &agent.name)
    }

    /// The store the topology keeps its threads and episodic logs in.
    #[must_use]
    pub fn store(&self) -> &StoreSpec {
        &self.store
    }

    /// Uses `store` instead of the file's.
    pub fn set_store(&mut self, store: StoreSpec) {
        self.store = store;
        self.store_span = None;
    }

    /// Serves every agent with the provider `name` of the file (to run a scripted topology
    /// on a real model, for instance).
    pub fn use_provider(&mut self, name: &str) -> Result<(), TopologyError> {
        let Some(provider) = self.providers.get(name) else {
            return Err(TopologyError::UnknownProvider {
                file: self.source.name().to_owned(),
                provider: name.to_owned(),
                defined: listed(self.providers.keys(), self.providers.len()),
            });
        };
        if provider.kind == ProviderKind::Scripted {
            let problems: Vec<Problem> = self
                .agents
                .iter()
                .filter(|agent| agent.script.is_empty())
                .map(|agent| {
                    self.source.problem(
                        &agent.name_span,
                        ProblemKind::MissingScript {
                            agent: agent.name.to_string(),
                            provider: name.to_owned(),
                        },
                    )
                })
                .collect();
            if !problems.is_empty() {
                return Err(TopologyError::invalid(problems));
            }
        }
        for agent in &mut self.agents {
            agent.provider = name.to_owned();
        }
        Ok(())
    }

    /// The server's configuration: `baton-server`'s defaults with what the `[server]`
    /// section sets, and each tenant's token read from its environment variable.
    ///
    /// A token is the variable's value with surrounding whitespace trimmed. A variable that
    /// is unset, empty, not UTF-8 or holds whitespace inside the token, and two variables
    /// holding the same token, are each reported at the `token_env` that names the variable
    /// (never with the value). Everything [`ServerConfig::validate`] refuses is refused at
    /// its key when the file is parsed; `validate` still runs, so a check added to the
    /// server alone cannot be skipped.
    ///
    /// [`ServerConfig::validate`]: baton_server::ServerConfig::validate
    #[cfg(feature = "server")]
    pub fn server_config(&self) -> Result<baton_server::ServerConfig, TopologyError> {
        let config = self.server.config(self.tenants()?);
        config.validate()?;
        Ok(config)
    }

    /// What the topology holds, for a short report.
    #[must_use]
    pub fn summary(&self) -> Summary {
        Summary {
            file: self.source.name().to_owned(),
            entry: self.entry.clone(),
            store: self.store.clone(),
            agents: self
                .agents
                .iter()
                .map(|agent| AgentSummary {
                    name: agent.name.clone(),
                    provider: agent.provider.clone(),
                    tools: agent.tools.clone(),
                    approvals: agent
                        .tools
                        .iter()
                        .filter(|tool| {
                            self.tools
                                .get(tool.as_str())
                                .is_some_and(|def| def.policy.needs_approval())
                        })
                        .cloned()
                        .collect(),
                    handoffs: agent.handoffs.clone(),
                })
                .collect(),
            providers: self
                .providers
                .values()
                .map(|p| (p.name.clone(), p.kind.name().to_owned()))
                .collect(),
        }
    }

    /// Refuses a store whose backend this build leaves out: at the file's `store` key if it
    /// is the file's, else as [`TopologyError::FeatureDisabled`].
    fn check_store(&self) -> Result<(), TopologyError> {
        let Some(feature) = self.store.missing_feature() else {
            return Ok(());
        };
        let what = format!("store {}", self.store);
        Err(match &self.store_span {
            Some(span) => TopologyError::invalid(vec![
                self.source
                    .problem(span, ProblemKind::FeatureDisabled { what, feature }),
            ]),
            None => TopologyError::FeatureDisabled { what, feature },
        })
    }

    /// The tenants with their tokens from the process's environment.
    fn tenants(&self) -> Result<Vec<Credential>, TopologyError> {
        self.server
            .tenants(&self.source, &|variable| std::env::var(variable))
            .map_err(TopologyError::invalid)
    }
}

/// The message of a TOML error, without the position and excerpt `toml` adds (Baton reports
/// the position itself).
fn syntax_message(error: &toml::de::Error) -> String {
    error.message().trim().replace('\n', "; ")
}
