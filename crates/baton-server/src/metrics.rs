//! Prometheus metrics, computed from the run events the server relays and from
//! [`Supervisor::status`](baton_core::actor::Supervisor::status).
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `baton_runs_started_total` | `agent` | runs started through the server, by entry agent |
//! | `baton_runs_completed_total` | `agent` | runs that completed, by entry agent |
//! | `baton_runs_failed_total` | `agent` | runs that failed or were abandoned, by entry agent |
//! | `baton_runs_paused_total` | `agent` | runs that paused for approval, by entry agent |
//! | `baton_run_duration_seconds` | `agent` | start (or taking up) to terminal event, by entry agent |
//! | `baton_steps_total` | `agent` | model steps, by the agent that ran them |
//! | `baton_step_duration_seconds` | `agent` | one step (model call and its tools) |
//! | `baton_input_tokens_total`, `baton_output_tokens_total` | `agent` | tokens per step's agent |
//! | `baton_handoffs_total` | `from`, `to` | handoffs between agents |
//! | `baton_active_runs` | `agent` | runs admitted (running or waiting), at scrape time |
//! | `baton_approvals_expired_total` | | paused runs the approval sweep took up because their approvals expired undecided |
//!
//! A run that pauses for approval ends its stream; when the last decision takes it up, it
//! counts as started again (as a resumed run does), so a run that paused once and then
//! completed counts two starts, one pause and one completion.
//!
//! Runs started on the supervisor directly, not through the server, appear only in
//! `baton_active_runs`; so do the runs the approval sweep takes up (they go on unheard), which
//! `baton_approvals_expired_total` counts instead.

use baton_core::actor::SupervisorStatus;
use baton_core::llm::Usage;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};
use std::time::Duration;

/// The content type of [`Metrics::encode`]'s output.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabel {
    agent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandoffLabels {
    from: String,
    to: String,
}

/// How a relayed run's stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunEnd {
    Completed,
    /// Failed, cancelled, or abandoned by its client.
    Failed,
    /// Paused, its calls waiting for approval.
    Paused,
}

type HistogramFamily = Family<AgentLabel, Histogram, fn() -> Histogram>;

/// The server's metrics and their registry.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    runs_started: Family<AgentLabel, Counter>,
    runs_completed: Family<AgentLabel, Counter>,
    runs_failed: Family<AgentLabel, Counter>,
    runs_paused: Family<AgentLabel, Counter>,
    run_duration: HistogramFamily,
    steps: Family<AgentLabel, Counter>,
    step_duration: HistogramFamily,
    input_tokens: Family<AgentLabel, Counter>,
    output_tokens: Family<AgentLabel, Counter>,
    handoffs: Family<HandoffLabels, Counter>,
    active_runs: Family<AgentLabel, Gauge>,
    approvals_expired: Counter,
}

fn run_histogram() -> Histogram {
    // 50 ms to about 7 minutes.
    Histogram::new(exponential_buckets(0.05, 2.0, 14))
}

fn step_histogram() -> Histogram {
    // 10 ms to about 80 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// `metric`, registered in `registry` under `name` (after the `baton` prefix) with `help`.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("baton");
        // Registered in the order the text format lists them.
        let runs_started = registered(
            &mut registry,
            "runs_started",
            "Runs started through the server, by entry agent",
            Family::default(),
        );
        let runs_completed = registered(
            &mut registry,
            "runs_completed",
            "Runs that completed, by entry agent",
            Family::default(),
        );
        let runs_failed = registered(
            &mut registry,
            "runs_failed",
            "Runs that failed, were cancelled or were abandoned by their client, by entry agent",
            Family::default(),
        );
        let runs_paused = registered(
            &mut registry,
            "runs_paused",
            "Runs that paused, their calls waiting for approval, by entry agent",
            Family::default(),
        );
        let run_duration: HistogramFamily = registered(
            &mut registry,
            "run_duration_seconds",
            "Time from a run's start to its terminal event, by entry agent",
            Family::new_with_constructor(run_histogram),
        );
        let steps = registered(
            &mut registry,
            "steps",
            "Model steps, by the agent that ran them",
            Family::default(),
        );
        let step_duration: HistogramFamily = registered(
            &mut registry,
            "step_duration_seconds",
            "Time of one step: the model call and its tool calls",
            Family::new_with_constructor(step_histogram),
        );
        let input_tokens = registered(
            &mut registry,
            "input_tokens",
            "Prompt tokens, by the agent whose step used them",
            Family::default(),
        );
        let output_tokens = registered(
            &mut registry,
            "output_tokens",
            "Generated tokens, by the agent whose step produced them",
            Family::default(),
        );
        let handoffs = registered(
            &mut registry,
            "handoffs",
            "Handoffs between agents",
            Family::default(),
        );
        let active_runs = registered(
            &mut registry,
            "active_runs",
            "Runs admitted by an agent (running or waiting), at scrape time",
            Family::default(),
        );
        let approvals_expired = registered(
            &mut registry,
            "approvals_expired",
            "Paused runs the approval sweep took up because their approvals expired undecided",
            Counter::default(),
        );
        Self {
            registry,
            runs_started,
            runs_completed,
            runs_failed,
            runs_paused,
            run_duration,
            steps,
            step_duration,
            input_tokens,
            output_tokens,
            handoffs,
            active_runs,
            approvals_expired,
        }
    }

    pub(crate) fn run_started(&self, agent: &str) {
        self.runs_started.get_or_create(&label(agent)).inc();
    }

    pub(crate) fn run_ended(&self, agent: &str, end: RunEnd, took: Duration) {
        let label = label(agent);
        let outcome = match end {
            RunEnd::Completed => &self.runs_completed,
            RunEnd::Failed => &self.runs_failed,
            RunEnd::Paused => &self.runs_paused,
        };
        outcome.get_or_create(&label).inc();
        observe_seconds(&self.run_duration, &label, took);
    }

    pub(crate) fn step_finished(&self, agent: &str, usage: Usage, took: Duration) {
        let label = label(agent);
        self.steps.get_or_create(&label).inc();
        observe_seconds(&self.step_duration, &label, took);
        self.input_tokens
            .get_or_create(&label)
            .inc_by(usage.input_tokens);
        self.output_tokens
            .get_or_create(&label)
            .inc_by(usage.output_tokens);
    }

    pub(crate) fn handed_off(&self, from: &str, to: &str) {
        self.handoffs
            .get_or_create(&HandoffLabels {
                from: from.to_owned(),
                to: to.to_owned(),
            })
            .inc();
    }

    /// Counts `runs` paused runs taken up because their approvals expired.
    pub(crate) fn approvals_expired(&self, runs: usize) {
        self.approvals_expired
            .inc_by(u64::try_from(runs).unwrap_or(u64::MAX));
    }

    /// The metrics in the OpenMetrics text format, with the active runs taken from `status`.
    pub(crate) fn encode(&self, status: &SupervisorStatus) -> Result<String, std::fmt::Error> {
        for agent in &status.agents {
            let admitted = i64::try_from(agent.admitted_runs).unwrap_or(i64::MAX);
            self.active_runs
                .get_or_create(&label(agent.name.as_str()))
                .set(admitted);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

fn label(agent: &str) -> AgentLabel {
    AgentLabel {
        agent: agent.to_owned(),
    }
}

/// Records `took`, in seconds, in the histogram of `label`.
fn observe_seconds(histograms: &HistogramFamily, label: &AgentLabel, took: Duration) {
    histograms.get_or_create(label).observe(took.as_secs_f64());
}
