//! From the file as written to a topology: every reference resolved, every value checked, and
//! every problem reported with its place in the file.

use crate::error::{Problem, ProblemKind, listed};
use crate::json::{table_to_json, to_json};
use crate::limits::{self, Durations};
use crate::raw::{
    ProviderKind, RawAgent, RawProvider, RawServer, RawTenant, RawTool, RawTopology, RawTurn,
    RawWhen, Seconds, ToolKind,
};
use crate::script::{Placeholder, ScriptedCall, Turn, When};
use crate::server::{ServerDef, TenantDef};
use crate::source::Source;
use crate::store::StoreSpec;
use crate::tools::{HttpGetConfig, ToolConfig, ToolDef};
use crate::topology::{AgentDef, ProviderDef, Topology};
use baton_core::ids::AgentName;
use baton_core::llm::ModelSettings;
use baton_core::run::RunOptions;
use baton_providers::Timeouts;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::time::Duration;
use toml::Spanned;

/// Checks `raw` and builds the topology, or returns every problem found.
pub(crate) fn validate(source: Source, raw: RawTopology) -> Result<Topology, Vec<Problem>> {
    let mut v = Validator {
        source: &source,
        problems: Vec::new(),
    };
    let providers: BTreeMap<String, ProviderDef> = raw
        .providers
        .into_iter()
        .map(|(name, provider)| (name.get_ref().clone(), v.provider(&name, provider)))
        .collect();
    let tools: BTreeMap<String, ToolDef> = raw
        .tools
        .into_iter()
        .filter_map(|(name, tool)| Some((name.get_ref().clone(), v.tool(&name, tool)?)))
        .collect();
    let defined = v.agent_names(&raw.agents);
    let default_provider = v.default_provider(raw.provider.as_ref(), &providers);
    let mut available_tools: Vec<String> = ToolKind::ALL
        .into_iter()
        .filter(|kind| kind.needs_table().is_none())
        .map(|kind| kind.name().to_owned())
        .chain(tools.keys().cloned())
        .collect();
    available_tools.sort();
    available_tools.dedup();
    let context = AgentContext {
        defined: Names::new(&defined),
        available_tools: &available_tools,
        providers: &providers,
        tools: &tools,
        default_provider,
    };
    let mut agents = Vec::with_capacity(raw.agents.len());
    let mut used_tools: BTreeMap<String, ToolDef> = BTreeMap::new();
    for agent in raw.agents {
        if let Some(agent) = v.agent(agent, &context, &mut used_tools) {
            agents.push(agent);
        }
    }
    let entry = v.entry(raw.entry.as_ref(), &defined);
    let store = match &raw.store {
        Some(text) => text
            .get_ref()
            .parse()
            .unwrap_or_else(|error: crate::store::InvalidStore| {
                v.report(&text.span(), ProblemKind::InvalidValue(error.to_string()));
                StoreSpec::default()
            }),
        None => StoreSpec::default(),
    };
    let server = raw.server.map(|s| v.server(s)).unwrap_or_default();
    match &raw.max_handoffs {
        // Reported at the top of the file, as it always was.
        Some(max) if *max.get_ref() == 0 => v.report_at_top(ProblemKind::InvalidValue(
            "max_handoffs must be at least 1, not 0".into(),
        )),
        Some(max) => v.in_range("max_handoffs", max, &limits::MAX_HANDOFFS),
        None => {}
    }
    let problems = v.problems;
    match entry {
        Some(entry) if problems.is_empty() => Ok(Topology {
            source,
            entry,
            store,
            max_handoffs: raw.max_handoffs.map(Spanned::into_inner),
            agents,
            providers,
            tools: used_tools,
            server,
        }),
        _ if problems.is_empty() => Err(vec![source.problem_at_top(ProblemKind::NoAgents)]),
        _ => Err(problems),
    }
}

/// What every agent's definition is checked against.
struct AgentContext<'a> {
    /// Agent names, valid and distinct, in file order.
    defined: Names<'a>,
    /// Built-in tools usable without a table, and the tools the file defines, sorted.
    available_tools: &'a [String],
    providers: &'a BTreeMap<String, ProviderDef>,
    tools: &'a BTreeMap<String, ToolDef>,
    default_provider: Option<String>,
}

/// Names in their order, with a set to look them up in constant time (a file may list
/// thousands).
struct Names<'a> {
    list: &'a [String],
    set: HashSet<&'a str>,
}

impl<'a> Names<'a> {
    fn new(list: &'a [String]) -> Self {
        Self {
            list,
            set: list.iter().map(String::as_str).collect(),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.set.contains(name)
    }
}

struct Validator<'a> {
    source: &'a Source,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn report(&mut self, span: &Range<usize>, kind: ProblemKind) {
        let problem = self.source.problem(span, kind);
        self.problems.push(problem);
    }

    fn report_at_top(&mut self, kind: ProblemKind) {
        let problem = self.source.problem_at_top(kind);
        self.problems.push(problem);
    }

    /// Refuses `value` outside `range`, quoting it as written.
    fn in_range<T: PartialOrd + fmt::Display>(
        &mut self,
        subject: &str,
        value: &Spanned<T>,
        range: &RangeInclusive<T>,
    ) {
        if let Some(must) = limits::refusal(value.get_ref(), range) {
            self.out_of_range(subject, &value.span(), &must);
        }
    }

    /// The duration of `value`, refused (but still returned) outside `range`.
    fn duration(&mut self, subject: &str, value: &Spanned<Seconds>, range: &Durations) -> Duration {
        if let Some(must) = range.refusal(value.get_ref().0) {
            self.out_of_range(subject, &value.span(), &must);
        }
        value.get_ref().0
    }

    fn out_of_range(&mut self, subject: &str, span: &Range<usize>, must: &str) {
        let written = self.source.slice(span).trim().to_owned();
        self.report(
            span,
            ProblemKind::InvalidValue(format!("{subject} must be {must}, not {written}")),
        );
    }

    /// Refuses NaN and infinities in `table`, which becomes JSON and JSON has neither.
    fn finite_numbers(&mut self, span: &Range<usize>, what: &str, table: &toml::Table) {
        if table.values().any(is_not_finite) {
            self.report(
                span,
                ProblemKind::InvalidValue(format!(
                    "{what} holds nan or inf, which JSON cannot carry: write a finite number \
                     or a string"
                )),
            );
        }
    }

    fn not_applicable(&mut self, span: Option<Range<usize>>, field: &str, owner: &str) {
        if let Some(span) = span {
            self.report(
                &span,
                ProblemKind::NotApplicable {
                    field: field.to_owned(),
                    owner: owner.to_owned(),
                },
            );
        }
    }

    fn provider(&mut self, name: &Spanned<String>, raw: RawProvider) -> ProviderDef {
        let owner = format!("provider {:?}", name.get_ref());
        let kind = *raw.kind.get_ref();
        if let Some(key) = &raw.api_key {
            self.report(
                &key.span(),
                ProblemKind::InlineSecret {
                    owner: owner.clone(),
                    field: "api_key",
                },
            );
        }
        let of_kind = format!("{owner} of kind {}", kind.name());
        if kind == ProviderKind::Scripted {
            let remote = [
                ("base_url", raw.base_url.as_ref().map(Spanned::span)),
                ("api_key_env", raw.api_key_env.as_ref().map(Spanned::span)),
                ("model", raw.model.as_ref().map(Spanned::span)),
                (
                    "connect_timeout",
                    raw.connect_timeout.as_ref().map(Spanned::span),
                ),
                (
                    "first_byte_timeout",
                    raw.first_byte_timeout.as_ref().map(Spanned::span),
                ),
                ("idle_timeout", raw.idle_timeout.as_ref().map(Spanned::span)),
                (
                    "response_timeout",
                    raw.response_timeout.as_ref().map(Spanned::span),
                ),
            ];
            for (field, span) in remote {
                self.not_applicable(span, field, &of_kind);
            }
        } else {
            self.not_applicable(
                raw.chunk_delay.as_ref().map(Spanned::span),
                "chunk_delay",
                &of_kind,
            );
        }
        if let Some(variable) = &raw.api_key_env
            && !is_env_name(variable.get_ref())
        {
            self.report(
                &variable.span(),
                ProblemKind::InvalidValue(format!(
                    "api_key_env {:?} is not an environment variable name (use A-Z, 0-9 and '_')",
                    variable.get_ref()
                )),
            );
        }
        if let Some(url) = &raw.base_url {
            let text = url.get_ref();
            if !(text.starts_with("http://") || text.starts_with("https://")) {
                self.report(
                    &url.span(),
                    ProblemKind::InvalidValue(format!(
                        "base_url {text:?} of {owner} is not an http:// or https:// URL"
                    )),
                );
            }
        }
        // Keys that do not apply to the kind were refused above; only the others are checked.
        let subject = |key: &str| format!("{key} of {owner}");
        let mut timeouts = Timeouts::default();
        let mut chunk_delay = Duration::ZERO;
        if kind == ProviderKind::Scripted {
            if let Some(delay) = &raw.chunk_delay {
                chunk_delay = self.duration(&subject("chunk_delay"), delay, &limits::CHUNK_DELAY);
            }
        } else {
            let mut timeout = |key: &str, value: &Option<Spanned<Seconds>>| {
                value
                    .as_ref()
                    .map(|value| self.duration(&subject(key), value, &limits::TIMEOUT))
            };
            if let Some(t) = timeout("connect_timeout", &raw.connect_timeout) {
                timeouts = timeouts.with_connect(t);
            }
            if let Some(t) = timeout("first_byte_timeout", &raw.first_byte_timeout) {
                timeouts = timeouts.with_first_byte(t);
            }
            if let Some(t) = timeout("idle_timeout", &raw.idle_timeout) {
                timeouts = timeouts.with_idle(t);
            }
            if let Some(t) = timeout("response_timeout", &raw.response_timeout) {
                timeouts = timeouts.with_response(t);
            }
        }
        ProviderDef {
            name: name.get_ref().clone(),
            span: name.span(),
            kind,
            base_url: raw.base_url.map(Spanned::into_inner),
            api_key_env: raw.api_key_env.map(|v| (v.span(), v.into_inner())),
            model: raw.model.map(Spanned::into_inner),
            timeouts,
            chunk_delay,
        }
    }

    fn tool(&mut self, name: &Spanned<String>, raw: RawTool) -> Option<ToolDef> {
        let tool = name.get_ref();
        if !baton_core::tool::is_tool_name(tool) {
            self.report(
                &name.span(),
                ProblemKind::InvalidValue(format!(
                    "tool name {tool:?} is invalid: use 1 to 64 characters from a-z, A-Z, 0-9, '_' and '-'"
                )),
            );
        }
        let owner = format!("tool {tool:?}");
        let Some(kind) = raw
            .kind
            .as_ref()
            .map(|k| *k.get_ref())
            .or_else(|| ToolKind::from_name(tool))
        else {
            self.report(
                &name.span(),
                ProblemKind::Missing {
                    owner,
                    field: "kind, one of calculator, current_time, http_get, kv_lookup".into(),
                },
            );
            return None;
        };
        let of_kind = format!("{owner} of kind {}", kind.name());
        if kind != ToolKind::HttpGet {
            self.not_applicable(
                raw.allow_hosts.as_ref().map(Spanned::span),
                "allow_hosts",
                &of_kind,
            );
            self.not_applicable(
                raw.max_bytes.as_ref().map(Spanned::span),
                "max_bytes",
                &of_kind,
            );
            self.not_applicable(raw.timeout.as_ref().map(Spanned::span), "timeout", &of_kind);
        }
        if kind != ToolKind::KvLookup {
            self.not_applicable(raw.entries.as_ref().map(Spanned::span), "entries", &of_kind);
        }
        let config = match kind {
            ToolKind::Calculator => ToolConfig::Calculator,
            ToolKind::CurrentTime => ToolConfig::CurrentTime,
            ToolKind::HttpGet => ToolConfig::HttpGet(self.http_get(name, &of_kind, &raw)?),
            ToolKind::KvLookup => {
                let Some(entries) = &raw.entries else {
                    self.report(
                        &name.span(),
                        ProblemKind::Missing {
                            owner: of_kind,
                            field: "entries, the table it looks keys up in".into(),
                        },
                    );
                    return None;
                };
                self.finite_numbers(
                    &entries.span(),
                    &format!("entries of {owner}"),
                    entries.get_ref(),
                );
                ToolConfig::KvLookup(
                    entries
                        .get_ref()
                        .iter()
                        .map(|(key, value)| (key.clone(), to_json(value)))
                        .collect(),
                )
            }
        };
        Some(ToolDef {
            name: tool.clone(),
            description: raw.description,
            kind: config,
        })
    }

    fn http_get(
        &mut self,
        name: &Spanned<String>,
        owner: &str,
        raw: &RawTool,
    ) -> Option<HttpGetConfig> {
        let hosts = match &raw.allow_hosts {
            Some(hosts) if !hosts.get_ref().is_empty() => hosts.get_ref(),
            other => {
                let span = other.as_ref().map_or_else(|| name.span(), Spanned::span);
                self.report(
                    &span,
                    ProblemKind::Missing {
                        owner: owner.to_owned(),
                        field: "allow_hosts, the hosts it may fetch from".into(),
                    },
                );
                return None;
            }
        };
        for host in hosts {
            let text = host.get_ref().trim();
            let bare = text.strip_prefix("*.").unwrap_or(text);
            if bare.is_empty() || bare.contains(['/', ' ', '*']) {
                self.report(
                    &host.span(),
                    ProblemKind::InvalidValue(format!(
                        "allow_hosts entry {text:?} is not a host: write e.g. \"example.com\", \
                         \"127.0.0.1\" or \"*.example.com\""
                    )),
                );
            }
        }
        let mut config = HttpGetConfig::new(hosts.iter().map(|h| h.get_ref().clone()));
        if let Some(max) = &raw.max_bytes {
            if *max.get_ref() == 0 {
                self.report(
                    &max.span(),
                    ProblemKind::InvalidValue("max_bytes must be at least 1".into()),
                );
            } else {
                let subject = format!("max_bytes of tool {:?}", name.get_ref());
                self.in_range(&subject, max, &limits::TOOL_MAX_BYTES);
            }
            config = config.with_max_bytes(*max.get_ref());
        }
        if let Some(timeout) = &raw.timeout {
            let subject = format!("timeout of tool {:?}", name.get_ref());
            let timeout = self.duration(&subject, timeout, &limits::TIMEOUT);
            config = config.with_timeout(timeout);
        }
        Some(config)
    }

    /// The valid, distinct agent names in file order; reports invalid and repeated ones.
    fn agent_names(&mut self, agents: &[RawAgent]) -> Vec<String> {
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

    fn default_provider(
        &mut self,
        provider: Option<&Spanned<String>>,
        providers: &BTreeMap<String, ProviderDef>,
    ) -> Option<String> {
        match provider {
            Some(name) if providers.contains_key(name.get_ref()) => Some(name.get_ref().clone()),
            Some(name) => {
                self.report(
                    &name.span(),
                    ProblemKind::UndefinedDefaultProvider {
                        provider: name.get_ref().clone(),
                        defined: listed(providers.keys(), providers.len()),
                    },
                );
                None
            }
            None if providers.len() == 1 => providers.keys().next().cloned(),
            None => None,
        }
    }

    fn entry(&mut self, entry: Option<&Spanned<String>>, defined: &[String]) -> Option<AgentName> {
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

    fn agent(
        &mut self,
        raw: RawAgent,
        context: &AgentContext<'_>,
        used_tools: &mut BTreeMap<String, ToolDef>,
    ) -> Option<AgentDef> {
        let name = raw.name.get_ref().clone();
        let agent_name = AgentName::new(&name).ok();
        let provider = self.agent_provider(&raw, context);
        let tools = self.agent_tools(&name, &raw.tools, context, used_tools);
        let mut handoffs = Vec::new();
        for target in &raw.handoffs {
            let text = target.get_ref();
            if *text == name {
                self.report(&target.span(), ProblemKind::SelfHandoff(name.clone()));
            } else if !context.defined.contains(text) {
                self.report(
                    &target.span(),
                    ProblemKind::UndefinedHandoff {
                        agent: name.clone(),
                        target: text.clone(),
                        defined: listed(
                            context.defined.list.iter().filter(|d| **d != name),
                            context.defined.list.len()
                                - usize::from(context.defined.contains(&name)),
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
        context: &AgentContext<'p>,
    ) -> Option<&'p ProviderDef> {
        let defined = || listed(context.providers.keys(), context.providers.len());
        match (&raw.provider, &context.default_provider) {
            (Some(name), _) => {
                let found = context.providers.get(name.get_ref());
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
            (None, Some(default)) => context.providers.get(default),
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
        context: &AgentContext<'_>,
        used_tools: &mut BTreeMap<String, ToolDef>,
    ) -> Vec<String> {
        let file_tools = context.tools;
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
            let definition = match (file_tools.get(tool), ToolKind::from_name(tool)) {
                (Some(definition), _) => definition.clone(),
                (None, Some(kind)) if kind.needs_table().is_none() => ToolDef {
                    name: tool.clone(),
                    description: None,
                    kind: match kind {
                        ToolKind::Calculator => ToolConfig::Calculator,
                        _ => ToolConfig::CurrentTime,
                    },
                },
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
                    let available = context.available_tools;
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
        options
    }

    fn turn(&mut self, agent: &str, allowed: &Allowed<'_>, raw: Spanned<RawTurn>) -> Turn {
        let span = raw.span();
        let raw = raw.into_inner();
        let mut calls = Vec::new();
        let mut call = |v: &mut Self,
                        tool: &Spanned<String>,
                        arguments: Option<&toml::Table>,
                        arguments_span: &Range<usize>| {
            if !allowed.tools.contains(tool.get_ref()) {
                v.report(
                    &tool.span(),
                    ProblemKind::ScriptTool {
                        agent: agent.to_owned(),
                        tool: tool.get_ref().clone(),
                        available: listed(allowed.tools.list, allowed.tools.list.len()),
                    },
                );
            }
            if let Some(arguments) = arguments {
                let what = format!("the arguments of a call of tool {:?}", tool.get_ref());
                v.finite_numbers(arguments_span, &what, arguments);
            }
            let arguments = arguments.map_or_else(|| serde_json::json!({}), table_to_json);
            v.check_placeholders_in_json(&tool.span(), &arguments);
            calls.push(ScriptedCall {
                tool: tool.get_ref().clone(),
                arguments,
            });
        };
        match &raw.tool {
            Some(tool) => {
                let arguments_span = raw
                    .arguments
                    .as_ref()
                    .map_or_else(|| tool.span(), Spanned::span);
                call(
                    self,
                    tool,
                    raw.arguments.as_ref().map(Spanned::get_ref),
                    &arguments_span,
                );
            }
            None => self.not_applicable(
                raw.arguments.as_ref().map(Spanned::span),
                "arguments",
                "a scripted turn without tool",
            ),
        }
        for extra in &raw.tool_calls {
            // The arguments of `tool_calls` keep no place of their own: the call's tool has one.
            call(
                self,
                &extra.tool,
                extra.arguments.as_ref(),
                &extra.tool.span(),
            );
        }
        match &raw.handoff {
            Some(target) => {
                if !allowed.handoffs.contains(target.get_ref()) {
                    self.report(
                        &target.span(),
                        ProblemKind::ScriptHandoff {
                            agent: agent.to_owned(),
                            target: target.get_ref().clone(),
                            allowed: listed(allowed.handoffs.list, allowed.handoffs.list.len()),
                        },
                    );
                }
                let reason = raw.reason.as_ref().map_or_else(
                    || format!("{} is better placed to help", target.get_ref()),
                    |r| r.get_ref().clone(),
                );
                if let Some(written) = &raw.reason {
                    self.check_placeholders(&written.span(), written.get_ref());
                }
                calls.push(ScriptedCall::handoff(target.get_ref(), &reason));
            }
            None => self.not_applicable(
                raw.reason.as_ref().map(Spanned::span),
                "reason",
                "a scripted turn without handoff",
            ),
        }
        if let Some(text) = &raw.text {
            self.check_placeholders(&text.span(), text.get_ref());
        }
        if raw.text.is_none() && calls.is_empty() {
            self.report(
                &span,
                ProblemKind::Missing {
                    owner: format!("a scripted turn of agent {agent:?}"),
                    field: "an answer: text, tool, tool_calls or handoff".into(),
                },
            );
        }
        Turn {
            when: self.when(raw.when),
            text: raw.text.map(Spanned::into_inner),
            calls,
        }
    }

    fn when(&mut self, raw: RawWhen) -> When {
        match &raw.call {
            Some(call) if *call.get_ref() == 0 => self.report(
                &call.span(),
                ProblemKind::InvalidValue("call counts from 1: the first call is call = 1".into()),
            ),
            Some(call) => self.in_range("call", call, &limits::CALL),
            None => {}
        }
        let lower = |needles: Option<crate::raw::OneOrMany>| {
            needles
                .map(|n| n.0.iter().map(|s| s.to_lowercase()).collect())
                .unwrap_or_default()
        };
        When {
            call: raw.call.map(Spanned::into_inner),
            user_contains: lower(raw.user_contains),
            after_tool: raw.after_tool.map(Spanned::into_inner),
            result_contains: lower(raw.result_contains),
        }
    }

    fn check_placeholders(&mut self, span: &Range<usize>, text: &str) {
        for key in Placeholder::invalid_in(text) {
            self.report(
                span,
                ProblemKind::InvalidValue(format!(
                    "placeholder {{{{{key}}}}} is not one of {}",
                    Placeholder::FORMS
                )),
            );
        }
    }

    fn check_placeholders_in_json(&mut self, span: &Range<usize>, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(text) => self.check_placeholders(span, text),
            serde_json::Value::Array(items) => {
                for item in items {
                    self.check_placeholders_in_json(span, item);
                }
            }
            serde_json::Value::Object(fields) => {
                for item in fields.values() {
                    self.check_placeholders_in_json(span, item);
                }
            }
            _ => {}
        }
    }

    fn server(&mut self, raw: RawServer) -> ServerDef {
        let mut server = ServerDef::default();
        if let Some(bind) = &raw.bind {
            match bind.get_ref().parse() {
                Ok(address) => server.bind = address,
                Err(_) => self.report(
                    &bind.span(),
                    ProblemKind::InvalidValue(format!(
                        "bind {:?} is not an address with a port, such as \"127.0.0.1:8080\"",
                        bind.get_ref()
                    )),
                ),
            }
        }
        if let Some(max) = &raw.max_body_bytes {
            if *max.get_ref() == 0 {
                self.report(
                    &max.span(),
                    ProblemKind::InvalidValue("max_body_bytes must be at least 1".into()),
                );
            } else {
                self.in_range("max_body_bytes", max, &limits::MAX_BODY_BYTES);
            }
            server.max_body_bytes = *max.get_ref();
        }
        if let Some(max) = &raw.max_connections {
            self.in_range("max_connections", max, &limits::MAX_CONNECTIONS);
            server.max_connections = *max.get_ref();
        }
        let durations = [
            (
                "shutdown_grace",
                &raw.shutdown_grace,
                &limits::SHUTDOWN_GRACE,
                &mut server.shutdown_grace,
            ),
            (
                "header_read_timeout",
                &raw.header_read_timeout,
                &limits::TIMEOUT,
                &mut server.header_read_timeout,
            ),
            (
                "idle_timeout",
                &raw.idle_timeout,
                &limits::TIMEOUT,
                &mut server.idle_timeout,
            ),
            (
                "body_read_timeout",
                &raw.body_read_timeout,
                &limits::TIMEOUT,
                &mut server.body_read_timeout,
            ),
        ];
        for (key, value, range, setting) in durations {
            if let Some(value) = value {
                *setting = self.duration(key, value, range);
            }
        }
        server.tenants = self.tenants(raw.tenants);
        server
    }

    /// The tenants, each with a valid, distinct name and a variable of its own.
    fn tenants(&mut self, raw: Vec<RawTenant>) -> Vec<TenantDef> {
        let mut tenants: Vec<TenantDef> = Vec::with_capacity(raw.len());
        let mut names: HashSet<String> = HashSet::new();
        // Each variable and the tenant that reads it first.
        let mut readers: HashMap<String, String> = HashMap::new();
        for tenant in raw {
            let name = tenant.name.get_ref();
            let owner = format!("tenant {name:?}");
            if let Some(token) = &tenant.token {
                self.report(
                    &token.span(),
                    ProblemKind::InlineSecret {
                        owner: owner.clone(),
                        field: "token",
                    },
                );
            }
            if !is_tenant_name(name) {
                self.report(
                    &tenant.name.span(),
                    ProblemKind::InvalidValue(format!(
                        "tenant name {name:?} is invalid: a tenant needs a name (its threads \
                         belong to it), without whitespace around it or control characters"
                    )),
                );
            } else if !names.insert(name.clone()) {
                self.report(
                    &tenant.name.span(),
                    ProblemKind::InvalidValue(format!("{owner} is defined twice")),
                );
            }
            match tenant.token_env {
                Some(variable) if is_env_name(variable.get_ref()) => {
                    if let Some(first) = readers.get(variable.get_ref()) {
                        self.report(
                            &variable.span(),
                            ProblemKind::InvalidValue(format!(
                                "{owner} reads its token from {}, as tenant {first:?} does: \
                                 give each tenant a variable of its own (two tenants with one \
                                 token cannot be told apart)",
                                variable.get_ref()
                            )),
                        );
                    } else {
                        readers.insert(variable.get_ref().clone(), name.clone());
                    }
                    tenants.push(TenantDef {
                        name: tenant.name.into_inner(),
                        token_env_span: variable.span(),
                        token_env: variable.into_inner(),
                    });
                }
                Some(variable) => self.report(
                    &variable.span(),
                    ProblemKind::InvalidValue(format!(
                        "token_env {:?} is not an environment variable name (use A-Z, 0-9 and '_')",
                        variable.get_ref()
                    )),
                ),
                // An inline token was already reported, with the advice to use token_env.
                None if tenant.token.is_some() => {}
                None => self.report(
                    &tenant.name.span(),
                    ProblemKind::Missing {
                        owner,
                        field: "token_env, the environment variable that holds its bearer token"
                            .into(),
                    },
                ),
            }
        }
        tenants
    }
}

/// Whether `name` can name a tenant: not empty, no whitespace around it, no control
/// characters (`baton-server` refuses blank names; the rest would be invisible in logs).
fn is_tenant_name(name: &str) -> bool {
    !name.trim().is_empty() && name.trim() == name && !name.contains(char::is_control)
}

/// What one agent's scripted turns may use.
struct Allowed<'a> {
    tools: Names<'a>,
    handoffs: Names<'a>,
}

/// Whether `value` is or holds a NaN or infinite float.
fn is_not_finite(value: &toml::Value) -> bool {
    match value {
        toml::Value::Float(x) => !x.is_finite(),
        toml::Value::Array(items) => items.iter().any(is_not_finite),
        toml::Value::Table(table) => table.values().any(is_not_finite),
        _ => false,
    }
}

/// Whether `name` can name an environment variable portably.
fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
