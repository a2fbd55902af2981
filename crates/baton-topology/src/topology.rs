//! A validated topology: load it, check it, build it into a running supervisor.

use crate::error::{Problem, ProblemKind, TopologyError, listed};
use crate::raw::{ProviderKind, RawTopology};
use crate::script::Turn;
use crate::server::{ServerDef, ServerSettings, TenantToken};
use crate::source::Source;
use crate::store::StoreSpec;
use crate::tools::{BuiltTool, ToolDef};
use baton_core::actor::Supervisor;
use baton_core::agent::Agent;
use baton_core::ids::AgentName;
use baton_core::llm::{LlmProvider, ModelSettings};
use baton_core::run::RunOptions;
use baton_providers::{AnthropicProvider, ConfigError, OpenAiProvider, ProviderConfig, Timeouts};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
    pub(crate) max_handoffs: Option<u32>,
    pub(crate) agents: Vec<AgentDef>,
    pub(crate) providers: BTreeMap<String, ProviderDef>,
    /// The tools agents use, by name.
    pub(crate) tools: BTreeMap<String, ToolDef>,
    pub(crate) server: ServerDef,
}

/// An agent as the file defines it, references resolved.
#[derive(Debug, Clone)]
pub(crate) struct AgentDef {
    pub(crate) name: AgentName,
    pub(crate) name_span: Range<usize>,
    pub(crate) instructions: String,
    pub(crate) provider: String,
    pub(crate) settings: ModelSettings,
    pub(crate) options: RunOptions,
    pub(crate) tools: Vec<String>,
    pub(crate) handoffs: Vec<AgentName>,
    pub(crate) script: Arc<[Turn]>,
}

/// A provider as the file defines it; its key is still an environment variable's name.
#[derive(Debug, Clone)]
pub(crate) struct ProviderDef {
    pub(crate) name: String,
    pub(crate) span: Range<usize>,
    pub(crate) kind: ProviderKind,
    pub(crate) base_url: Option<String>,
    pub(crate) api_key_env: Option<(Range<usize>, String)>,
    pub(crate) model: Option<String>,
    pub(crate) timeouts: Timeouts,
    #[cfg_attr(not(feature = "scripted"), allow(dead_code))]
    pub(crate) chunk_delay: Duration,
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// An agent with the provider that serves it.
type ServedAgent = (Agent, Arc<dyn LlmProvider>);

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
        self.prepare(&process_env)?;
        self.tenants()?;
        Ok(self.summary())
    }

    /// Opens the store, creates the providers, tools and agents, and starts the supervisor.
    pub async fn build(&self) -> Result<Supervisor, TopologyError> {
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

    /// The `[server]` settings, with each tenant's token read from its environment variable.
    ///
    /// A token is the variable's value with surrounding whitespace trimmed. A variable that
    /// is unset, empty, not UTF-8 or holds whitespace inside the token, and two variables
    /// holding the same token, are each reported at the `token_env` that names the variable
    /// (never with the value).
    pub fn server_settings(&self) -> Result<ServerSettings, TopologyError> {
        Ok(ServerSettings {
            bind: self.server.bind,
            tenants: self.tenants()?,
            max_body_bytes: self.server.max_body_bytes,
            shutdown_grace: self.server.shutdown_grace,
            header_read_timeout: self.server.header_read_timeout,
            idle_timeout: self.server.idle_timeout,
            body_read_timeout: self.server.body_read_timeout,
            max_connections: self.server.max_connections,
        })
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

    /// The agents with their providers, ready for a supervisor.
    fn prepare(&self, env: Env<'_>) -> Result<Vec<ServedAgent>, TopologyError> {
        let mut problems = Vec::new();
        let mut providers: BTreeMap<&str, Arc<dyn LlmProvider>> = BTreeMap::new();
        for agent in &self.agents {
            let Some(def) = self.providers.get(&agent.provider) else {
                continue;
            };
            if def.kind == ProviderKind::Scripted || providers.contains_key(def.name.as_str()) {
                continue;
            }
            match self.remote_provider(def, env) {
                Ok(provider) => {
                    providers.insert(&def.name, provider);
                }
                Err(problem) => problems.push(problem),
            }
        }
        let mut tools: BTreeMap<&str, BuiltTool> = BTreeMap::new();
        for (name, def) in &self.tools {
            match def.build() {
                Ok(tool) => {
                    tools.insert(name, tool);
                }
                Err(error) => problems.push(
                    self.source
                        .problem_at_top(ProblemKind::InvalidValue(format!(
                            "tool {name:?}: {error}"
                        ))),
                ),
            }
        }
        if !problems.is_empty() {
            return Err(TopologyError::invalid(problems));
        }
        let mut agents = Vec::with_capacity(self.agents.len());
        for def in &self.agents {
            let provider = match (
                self.providers.get(&def.provider),
                providers.get(def.provider.as_str()),
            ) {
                (_, Some(provider)) => Arc::clone(provider),
                (Some(provider), None) => self.scripted_provider(def, provider)?,
                (None, None) => continue,
            };
            let mut builder = Agent::builder(def.name.as_str())
                .instructions(def.instructions.clone())
                .settings(def.settings.clone())
                .options(def.options.clone());
            for tool in &def.tools {
                if let Some(tool) = tools.get(tool.as_str()) {
                    builder = tool.clone().add_to(builder);
                }
            }
            for target in &def.handoffs {
                builder = builder.handoff(target.as_str());
            }
            match builder.build() {
                Ok(agent) => agents.push((agent, provider)),
                Err(error) => problems.push(
                    self.source
                        .problem(&def.name_span, ProblemKind::InvalidValue(error.to_string())),
                ),
            }
        }
        if problems.is_empty() {
            Ok(agents)
        } else {
            Err(TopologyError::invalid(problems))
        }
    }

    fn remote_provider(
        &self,
        def: &ProviderDef,
        env: Env<'_>,
    ) -> Result<Arc<dyn LlmProvider>, Problem> {
        let owner = format!("provider {:?}", def.name);
        let mut config = ProviderConfig::new().timeouts(def.timeouts);
        if let Some((span, variable)) = &def.api_key_env {
            let Some(key) = env(variable) else {
                return Err(self.source.problem(
                    span,
                    ProblemKind::MissingEnv {
                        owner,
                        what: "API key",
                        variable: variable.clone(),
                    },
                ));
            };
            config = config.api_key(key);
        }
        if let Some(url) = &def.base_url {
            config = config.base_url(url.clone());
        }
        if let Some(model) = &def.model {
            config = config.model(model.clone());
        }
        let built: Result<Arc<dyn LlmProvider>, ConfigError> = match def.kind {
            ProviderKind::Openai => OpenAiProvider::new(config).map(|p| Arc::new(p) as _),
            ProviderKind::Anthropic => AnthropicProvider::new(config).map(|p| Arc::new(p) as _),
            // Scripted models are made per agent, by `scripted_provider`.
            ProviderKind::Scripted => Err(ConfigError::Client(
                "a scripted provider has no remote configuration".into(),
            )),
        };
        built.map_err(|error| {
            let kind = match error {
                ConfigError::MissingApiKey { variable } => ProblemKind::Missing {
                    owner,
                    field: format!(
                        "api_key_env to talk to the provider's own API (e.g. api_key_env = {variable:?})"
                    ),
                },
                other => ProblemKind::Provider {
                    provider: def.name.clone(),
                    message: other.to_string(),
                },
            };
            self.source.problem(&def.span, kind)
        })
    }

    #[cfg(feature = "scripted")]
    fn scripted_provider(
        &self,
        agent: &AgentDef,
        provider: &ProviderDef,
    ) -> Result<Arc<dyn LlmProvider>, TopologyError> {
        use crate::script::ScriptedModel;
        use baton_testkit::{Script, ScriptedProvider};
        let model = ScriptedModel {
            agent: agent.name.to_string(),
            turns: Arc::clone(&agent.script),
        };
        let delay = provider.chunk_delay;
        let provider = ScriptedProvider::from_fn(move |request| match model.respond(request) {
            Ok(chunks) if delay.is_zero() => Script::chunks(chunks),
            Ok(chunks) => Script::chunks(chunks).with_chunk_delay(delay),
            Err(error) => Script::error(error),
        })
        .without_recording();
        Ok(Arc::new(provider))
    }

    #[cfg(not(feature = "scripted"))]
    fn scripted_provider(
        &self,
        _agent: &AgentDef,
        provider: &ProviderDef,
    ) -> Result<Arc<dyn LlmProvider>, TopologyError> {
        Err(TopologyError::invalid(vec![
            self.source.problem(
                &provider.span,
                ProblemKind::Provider {
                    provider: provider.name.clone(),
                    message: "this build has no scripted provider: enable the cargo feature \
                          `scripted` of baton-topology"
                        .into(),
                },
            ),
        ]))
    }

    /// The tenants with their tokens from the process's environment.
    fn tenants(&self) -> Result<Vec<TenantToken>, TopologyError> {
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

/// What a topology holds: its agents and how they connect, its providers and its store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// The file, as given.
    pub file: String,
    /// The agent runs start with.
    pub entry: AgentName,
    /// The store.
    pub store: StoreSpec,
    /// The agents, in file order.
    pub agents: Vec<AgentSummary>,
    /// The providers the file defines: name and kind.
    pub providers: Vec<(String, String)>,
}

/// One agent of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentSummary {
    /// The agent.
    pub name: AgentName,
    /// The provider that serves it.
    pub provider: String,
    /// Its tools.
    pub tools: Vec<String>,
    /// The agents it may hand off to.
    pub handoffs: Vec<AgentName>,
}

impl fmt::Display for Summary {
    /// ```text
    /// support.toml: 3 agents, entry triage, store sqlite:baton.db
    ///   triage   (scripted) → billing
    ///   billing  (scripted) tools: lookup_order → refunds
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.agents.len() == 1 { "" } else { "s" };
        write!(
            f,
            "{}: {} agent{plural}, entry {}, store {}",
            self.file,
            self.agents.len(),
            self.entry,
            self.store
        )?;
        let width = self
            .agents
            .iter()
            .map(|a| a.name.as_str().len())
            .max()
            .unwrap_or(0);
        for agent in &self.agents {
            write!(f, "\n  {:width$} ({})", agent.name.as_str(), agent.provider)?;
            if !agent.tools.is_empty() {
                write!(f, " tools: {}", agent.tools.join(", "))?;
            }
            if !agent.handoffs.is_empty() {
                let targets: Vec<&str> = agent.handoffs.iter().map(AgentName::as_str).collect();
                write!(f, " → {}", targets.join(", "))?;
            }
        }
        Ok(())
    }
}
