//! From the file as written to a topology: every reference resolved, every value checked, and
//! every problem reported with its place in the file.

mod agents;
mod providers;
mod scripts;
mod server;
mod tools;

use crate::error::{Problem, ProblemKind};
use crate::limits::{self, Durations};
use crate::provider::ProviderDef;
use crate::raw::{RawTopology, Seconds, ToolKind};
use crate::source::Source;
use crate::store::StoreSpec;
use crate::tools::ToolDef;
use crate::topology::Topology;
use agents::Declarations;
use std::collections::{BTreeMap, BTreeSet, HashSet};
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
    // Tools of a kind this build leaves out are reported once, where they are defined.
    let mut left_out: BTreeSet<String> = BTreeSet::new();
    let mut tools: BTreeMap<String, ToolDef> = BTreeMap::new();
    for (name, tool) in raw.tools {
        if let Some(tool) = v.tool(&name, tool, &mut left_out) {
            tools.insert(name.into_inner(), tool);
        }
    }
    let defined = v.agent_names(&raw.agents);
    let default_provider = v.default_provider(raw.provider.as_ref(), &providers);
    let mut available_tools: Vec<String> = ToolKind::ALL
        .into_iter()
        .filter(|kind| kind.needs_table().is_none() && kind.missing_feature().is_none())
        .map(|kind| kind.name().to_owned())
        .chain(tools.keys().cloned())
        .collect();
    available_tools.sort();
    available_tools.dedup();
    let declarations = Declarations {
        defined: Names::new(&defined),
        available_tools: &available_tools,
        providers: &providers,
        tools: &tools,
        left_out_tools: &left_out,
        default_provider,
    };
    let mut agents = Vec::with_capacity(raw.agents.len());
    let mut used_tools: BTreeMap<String, ToolDef> = BTreeMap::new();
    for agent in raw.agents {
        if let Some(agent) = v.agent(agent, &declarations, &mut used_tools) {
            agents.push(agent);
        }
    }
    let entry = v.entry(raw.entry.as_ref(), &defined);
    let store_span = raw.store.as_ref().map(Spanned::span);
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
            store_span,
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

/// Collects the problems of a file as it is walked.
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
