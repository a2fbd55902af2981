//! Agents: names, the entry, providers, tools, handoffs, settings and limits.

use super::{Names, Validator, scripts::Allowed};
use crate::agent::AgentDef;
use crate::error::{ProblemKind, listed};
use crate::limits;
use crate::provider::ProviderDef;
use crate::raw::{ProviderKind, RawAgent, ToolKind};
use crate::scripted::Turn;
use crate::tools::{CallPolicy, ToolConfig, ToolDef};
use baton_core::ids::AgentName;
use baton_core::llm::ModelSettings;
use baton_core::run::RunOptions;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use toml::Spanned;

/// What every agent's definition is checked against: what the file declares.
pub(super) struct Declarations<'a> {
    /// Agent names, valid and distinct, in file order.
    pub(super) defined: Names<'a>,
    /// Built-in tools usable without a table, and the tools the file defines, sorted.
    pub(super) available_tools: &'a [String],
    pub(super) providers: &'a BTreeMap<String, ProviderDef>,
    pub(super) tools: &'a BTreeMap<String, ToolDef>,
    /// Tools of a kind this build leaves out, reported where they are defined.
    pub(super) left_out_tools: &'a BTreeSet<String>,
    pub(super) default_provider: Option<String>,
}

impl Validator<'_> {
    /// The valid, distinct agent names in file order; reports invalid and repeated ones.
    pub(super) fn agent_names(&mut self, agents: &[RawAgent]) -> Vec<String> {
        let mut first_lines: HashMap<&str, usize> = HashMap::new();
        let mut defined = Vec::new();
        for agent in agents {
            let name = agent.name.get_ref();
            if AgentName::new(name).is_err() {
                self.report(
                    &agent.name.span(),
                    ProblemKind::InvalidAgentName(name.clone()),
                );
                continue;
            }
            let line = self.source.locate(agent.name.span().start).0;
            if let Some(first_line) = first_lines.get(name.as_str()) {
                self.report(
                    &agent.name.span(),
                    ProblemKind::DuplicateAgent {
                        name: name.clone(),
                        first_line: *first_line,
                    },
                );
                continue;
            }
            first_lines.insert(name, line);
            defined.push(name.clone());
        }
        defined
    }

    /// The agent runs start with: `entry`, or else the first agent of the file.
    pub(super) fn entry(
        &mut self,
        entry: Option<&Spanned<String>>,
        defined: &[String],
    ) -> Option<AgentName> {
        let name = match entry {
            Some(entry) if defined.iter().any(|d| d == entry.get_ref()) => entry.get_ref(),
            Some(entry) => {
                self.report(
                    &entry.span(),
                    ProblemKind::UndefinedEntry {
                        entry: entry.get_ref().clone(),
                        defined: listed(defined, defined.len()),
                    },
                );
                return None;
            }
            None => defined.first()?,
        };
        AgentName::new(name).ok()
    }

    /// The agent `raw` defines, every reference resolved; the file tools it uses are added
    /// to `used_tools`.
    pub(super) fn agent(
        &mut self,
        raw: RawAgent,
        declarations: &Declarations<'_>,
        used_tools: &mut BTreeMap<String, ToolDef>,
    ) -> Option<AgentDef> {
        let name = raw.name.get_ref().clone();
        let agent_name = AgentName::new(&name).ok();
        let provider = self.agent_provider(&raw, declarations);
        let tools = self.agent_tools(&name, &raw.tools, declarations, used_tools);
        let mut handoffs = Vec::new();
        for target in &raw.handoffs {
            let text = target.get_ref();
            if *text == name {
                self.report(&target.span(), ProblemKind::SelfHandoff(name.clone()));
            } else if !declarations.defined.contains(text) {
                self.report(
                    &target.span(),
                    ProblemKind::UndefinedHandoff {
                        agent: name.clone(),
                        target: text.clone(),
                        defined: listed(
                            declarations.defined.list.iter().filter(|d| **d != name),
                            declarations.defined.list.len()
                                - usize::from(declarations.defined.contains(&name)),
                        ),
                    },
                );
            } else if let Ok(target) = AgentName::new(text) {
                handoffs.push(target);
            }
        }
        let options = self.run_options(&raw);
        let handoff_names: Vec<String> = raw.handoffs.iter().map(|h| h.get_ref().clone()).collect();
        let allowed = Allowed {
            tools: Names::new(&tools),
            handoffs: Names::new(&handoff_names),
        };
        let script: Vec<Turn> = raw
            .script
            .into_iter()
            .map(|turn| self.turn(&name, &allowed, turn))
            .collect();
        if let Some(provider) = &provider
            && provider.kind == ProviderKind::Scripted
            && script.is_empty()
        {
            self.report(
                &raw.name.span(),
                ProblemKind::MissingScript {
                    agent: name.clone(),
                    provider: provider.name.clone(),
                },
            );
        }
        let of_agent = |key: &str| format!("{key} of agent {name:?}");
        if let Some(temperature) = &raw.temperature {
            self.in_range(&of_agent("temperature"), temperature, &limits::TEMPERATURE);
        }
        if let Some(max) = &raw.max_tokens {
            self.in_range(&of_agent("max_tokens"), max, &limits::MAX_TOKENS);
        }
        let mut settings = ModelSettings::default();
        settings.model = raw.model;
        settings.temperature = raw.temperature.map(Spanned::into_inner);
        settings.max_tokens = raw.max_tokens.map(Spanned::into_inner);
        Some(AgentDef {
            name: agent_name?,
            name_span: raw.name.span(),
            instructions: raw.instructions,
            provider: provider?.name.clone(),
            settings,
            options,
            tools,
            handoffs,
            script: script.into(),
        })
    }

    fn agent_provider<'p>(
        &mut self,
        raw: &RawAgent,
        declarations: &Declarations<'p>,
    ) -> Option<&'p ProviderDef> {
        let defined = || listed(declarations.providers.keys(), declarations.providers.len());
        match (&raw.provider, &declarations.default_provider) {
            (Some(name), _) => {
                let found = declarations.providers.get(name.get_ref());
                if found.is_none() {
                    self.report(
                        &name.span(),
                        ProblemKind::UndefinedProvider {
                            agent: raw.name.get_ref().clone(),
                            provider: name.get_ref().clone(),
                            defined: defined(),
                        },
                    );
                }
                found
            }
            (None, Some(default)) => declarations.providers.get(default),
            (None, None) => {
                self.report(
                    &raw.name.span(),
                    ProblemKind::NoProvider {
                        agent: raw.name.get_ref().clone(),
                        defined: defined(),
                    },
                );
                None
            }
        }
    }

    /// The agent's tool names, each resolved to a definition of the file or a built-in.
    fn agent_tools(
        &mut self,
        agent: &str,
        names: &[Spanned<String>],
        declarations: &Declarations<'_>,
        used_tools: &mut BTreeMap<String, ToolDef>,
    ) -> Vec<String> {
        let file_tools = declarations.tools;
        let mut tools: Vec<String> = Vec::new();
        let mut named: HashSet<&str> = HashSet::new();
        for name in names {
            let tool = name.get_ref();
            if named.contains(tool.as_str()) {
                self.report(
                    &name.span(),
                    ProblemKind::InvalidValue(format!("agent {agent:?} lists tool {tool:?} twice")),
                );
                continue;
            }
            if declarations.left_out_tools.contains(tool) {
                continue;
            }
            let definition = match (file_tools.get(tool), ToolKind::from_name(tool)) {
                (Some(definition), _) => definition.clone(),
                (None, Some(kind)) if kind.needs_table().is_none() => {
                    if let Some(feature) = kind.missing_feature() {
                        self.report(
                            &name.span(),
                            ProblemKind::FeatureDisabled {
                                what: format!("tool {tool:?} of agent {agent:?}"),
                                feature,
                            },
                        );
                        continue;
                    }
                    ToolDef {
                        name: tool.clone(),
                        description: None,
                        kind: match kind {
                            #[cfg(feature = "calculator")]
                            ToolKind::Calculator => ToolConfig::Calculator,
                            _ => ToolConfig::CurrentTime,
                        },
                        policy: CallPolicy::default(),
                    }
                }
                (None, Some(kind)) => {
                    self.report(
                        &name.span(),
                        ProblemKind::ToolNeedsTable {
                            agent: agent.to_owned(),
                            tool: tool.clone(),
                            needs: kind.needs_table().unwrap_or_default(),
                        },
                    );
                    continue;
                }
                (None, None) => {
                    let available = declarations.available_tools;
                    self.report(
                        &name.span(),
                        ProblemKind::UnknownTool {
                            agent: agent.to_owned(),
                            tool: tool.clone(),
                            available: listed(available, available.len()),
                        },
                    );
                    continue;
                }
            };
            used_tools.entry(tool.clone()).or_insert(definition);
            named.insert(tool);
            tools.push(tool.clone());
        }
        tools
    }

    fn run_options(&mut self, raw: &RawAgent) -> RunOptions {
        let of_agent = |key: &str| format!("{key} of agent {:?}", raw.name.get_ref());
        let mut options = RunOptions::default();
        if let Some(steps) = &raw.max_steps {
            if *steps.get_ref() == 0 {
                // Reported at the agent's name, as it always was.
                self.report(
                    &raw.name.span(),
                    ProblemKind::InvalidValue(format!(
                        "{} must be at least 1",
                        of_agent("max_steps")
                    )),
                );
            } else {
                self.in_range(&of_agent("max_steps"), steps, &limits::MAX_STEPS);
            }
            options = options.with_max_steps(*steps.get_ref());
        }
        if let Some(tokens) = &raw.max_history_tokens {
            self.in_range(
                &of_agent("max_history_tokens"),
                tokens,
                &limits::MAX_HISTORY_TOKENS,
            );
            options = options.with_max_history_tokens(*tokens.get_ref());
        }
        if let Some(timeout) = &raw.tool_timeout {
            let timeout = self.duration(&of_agent("tool_timeout"), timeout, &limits::TIMEOUT);
            options = options.with_tool_timeout(timeout);
        }
        if let Some(ttl) = &raw.lease_ttl {
            let ttl = self.duration(&of_agent("lease_ttl"), ttl, &limits::TIMEOUT);
            options = options.with_lease_ttl(ttl);
        }
        if let Some(timeout) = &raw.approval_timeout {
            let timeout = self.duration(
                &of_agent("approval_timeout"),
                timeout,
                &limits::APPROVAL_TIMEOUT,
            );
            options = options.with_approval_timeout(Some(timeout));
        }
        options
    }
}
