//! From the file as written to a topology: every reference resolved, every value checked, and
//! every problem reported with its place in the file.

use crate::error::{Problem, ProblemKind};
use crate::json::{table_to_json, to_json};
use crate::raw::{
    ProviderKind, RawAgent, RawProvider, RawServer, RawTool, RawTopology, RawTurn, RawWhen,
    Seconds, ToolKind,
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
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
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
    let context = AgentContext {
        defined: &defined,
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
    if let Some(max) = raw.max_handoffs.filter(|max| *max == 0) {
        v.report_at_top(ProblemKind::InvalidValue(format!(
            "max_handoffs must be at least 1, not {max}"
        )));
    }
    let problems = v.problems;
    match entry {
        Some(entry) if problems.is_empty() => Ok(Topology {
            source,
            entry,
            store,
            max_handoffs: raw.max_handoffs,
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
    defined: &'a [String],
    providers: &'a BTreeMap<String, ProviderDef>,
    tools: &'a BTreeMap<String, ToolDef>,
    default_provider: Option<String>,
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
        let duration = |d: &Option<Spanned<Seconds>>| d.as_ref().map(|d| d.get_ref().0);
        let mut timeouts = Timeouts::default();
        if let Some(t) = duration(&raw.connect_timeout) {
            timeouts = timeouts.with_connect(t);
        }
        if let Some(t) = duration(&raw.first_byte_timeout) {
            timeouts = timeouts.with_first_byte(t);
        }
        if let Some(t) = duration(&raw.idle_timeout) {
            timeouts = timeouts.with_idle(t);
        }
        if let Some(t) = duration(&raw.response_timeout) {
            timeouts = timeouts.with_response(t);
        }
        ProviderDef {
            name: name.get_ref().clone(),
            span: name.span(),
            kind,
            base_url: raw.base_url.map(Spanned::into_inner),
            api_key_env: raw.api_key_env.map(|v| (v.span(), v.into_inner())),
            model: raw.model.map(Spanned::into_inner),
            timeouts,
            chunk_delay: duration(&raw.chunk_delay).unwrap_or_default(),
        }
    }

    fn tool(&mut self, name: &Spanned<String>, raw: RawTool) -> Option<ToolDef> {
        let tool = name.get_ref();
        if !is_tool_name(tool) {
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
            }
            config = config.with_max_bytes(*max.get_ref());
        }
        if let Some(timeout) = &raw.timeout {
            config = config.with_timeout(timeout.get_ref().0);
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
                        defined: providers.keys().cloned().collect(),
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
            Some(entry) if defined.contains(entry.get_ref()) => entry.get_ref(),
            Some(entry) => {
                self.report(
                    &entry.span(),
                    ProblemKind::UndefinedEntry {
                        entry: entry.get_ref().clone(),
                        defined: defined.to_vec(),
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
        let tools = self.agent_tools(&name, &raw.tools, context.tools, used_tools);
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
                        defined: context
                            .defined
                            .iter()
                            .filter(|d| **d != name)
                            .cloned()
                            .collect(),
                    },
                );
            } else if let Ok(target) = AgentName::new(text) {
                handoffs.push(target);
            }
        }
        let options = self.run_options(&raw);
        let handoff_names: Vec<String> = raw.handoffs.iter().map(|h| h.get_ref().clone()).collect();
        let script: Vec<Turn> = raw
            .script
            .into_iter()
            .map(|turn| self.turn(&name, &tools, &handoff_names, turn))
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
        let mut settings = ModelSettings::default();
        settings.model = raw.model;
        settings.temperature = raw.temperature;
        settings.max_tokens = raw.max_tokens;
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
        let defined = || context.providers.keys().cloned().collect::<Vec<_>>();
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
        file_tools: &BTreeMap<String, ToolDef>,
        used_tools: &mut BTreeMap<String, ToolDef>,
    ) -> Vec<String> {
        let mut tools: Vec<String> = Vec::new();
        for name in names {
            let tool = name.get_ref();
            if tools.contains(tool) {
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
                    let mut available: Vec<String> = ToolKind::ALL
                        .into_iter()
                        .filter(|kind| kind.needs_table().is_none())
                        .map(|kind| kind.name().to_owned())
                        .chain(file_tools.keys().cloned())
                        .collect();
                    available.sort();
                    available.dedup();
                    self.report(
                        &name.span(),
                        ProblemKind::UnknownTool {
                            agent: agent.to_owned(),
                            tool: tool.clone(),
                            available,
                        },
                    );
                    continue;
                }
            };
            used_tools.entry(tool.clone()).or_insert(definition);
            tools.push(tool.clone());
        }
        tools
    }

    fn run_options(&mut self, raw: &RawAgent) -> RunOptions {
        let mut options = RunOptions::default();
        if let Some(steps) = raw.max_steps {
            if steps == 0 {
                self.report(
                    &raw.name.span(),
                    ProblemKind::InvalidValue(format!(
                        "max_steps of agent {:?} must be at least 1",
                        raw.name.get_ref()
                    )),
                );
            }
            options = options.with_max_steps(steps);
        }
        if let Some(tokens) = raw.max_history_tokens {
            options = options.with_max_history_tokens(tokens);
        }
        if let Some(timeout) = &raw.tool_timeout {
            options = options.with_tool_timeout(timeout.get_ref().0);
        }
        options
    }

    fn turn(
        &mut self,
        agent: &str,
        tools: &[String],
        handoffs: &[String],
        raw: Spanned<RawTurn>,
    ) -> Turn {
        let span = raw.span();
        let raw = raw.into_inner();
        let mut calls = Vec::new();
        let mut call = |v: &mut Self, tool: &Spanned<String>, arguments: Option<&toml::Table>| {
            if !tools.contains(tool.get_ref()) {
                v.report(
                    &tool.span(),
                    ProblemKind::ScriptTool {
                        agent: agent.to_owned(),
                        tool: tool.get_ref().clone(),
                        available: tools.to_vec(),
                    },
                );
            }
            let arguments = arguments.map_or_else(|| serde_json::json!({}), table_to_json);
            v.check_placeholders_in_json(&tool.span(), &arguments);
            calls.push(ScriptedCall {
                tool: tool.get_ref().clone(),
                arguments,
            });
        };
        match &raw.tool {
            Some(tool) => call(self, tool, raw.arguments.as_ref().map(Spanned::get_ref)),
            None => self.not_applicable(
                raw.arguments.as_ref().map(Spanned::span),
                "arguments",
                "a scripted turn without tool",
            ),
        }
        for extra in &raw.tool_calls {
            call(self, &extra.tool, extra.arguments.as_ref());
        }
        match &raw.handoff {
            Some(target) => {
                if !handoffs.contains(target.get_ref()) {
                    self.report(
                        &target.span(),
                        ProblemKind::ScriptHandoff {
                            agent: agent.to_owned(),
                            target: target.get_ref().clone(),
                            allowed: handoffs.to_vec(),
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
        if let Some(call) = raw.call.as_ref().filter(|c| *c.get_ref() == 0) {
            self.report(
                &call.span(),
                ProblemKind::InvalidValue("call counts from 1: the first call is call = 1".into()),
            );
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
            }
            server.max_body_bytes = *max.get_ref();
        }
        if let Some(grace) = &raw.shutdown_grace {
            server.shutdown_grace = grace.get_ref().0;
        }
        for tenant in raw.tenants {
            let owner = format!("tenant {:?}", tenant.name.get_ref());
            if let Some(token) = &tenant.token {
                self.report(
                    &token.span(),
                    ProblemKind::InlineSecret {
                        owner: owner.clone(),
                        field: "token",
                    },
                );
            }
            if server
                .tenants
                .iter()
                .any(|t| t.name == *tenant.name.get_ref())
            {
                self.report(
                    &tenant.name.span(),
                    ProblemKind::InvalidValue(format!("{owner} is defined twice")),
                );
            }
            match tenant.token_env {
                Some(variable) if is_env_name(variable.get_ref()) => {
                    server.tenants.push(TenantDef {
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
        server
    }
}

/// Whether `name` can name an environment variable portably.
fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `name` is a tool name model APIs accept.
fn is_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
