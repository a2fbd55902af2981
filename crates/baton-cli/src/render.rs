//! How a run looks in a terminal: who is speaking, the text as it streams, tool calls,
//! approvals, handoffs, and the usage at the end.

use baton_core::agent::is_handoff_tool;
use baton_core::ids::AgentName;
use baton_core::llm::Usage;
use baton_core::memory::Decision;
use baton_core::run::RunEvent;
use baton_core::tool::OnInterrupt;
use std::collections::HashMap;
use std::io::{self, IsTerminal, Stdout, Write};

/// How much of a tool result a line shows.
const RESULT_CHARS: usize = 160;

/// Writes run events to standard output, styled when it is a terminal.
pub(crate) struct Printer {
    out: Stdout,
    styled: bool,
    speaker: Option<AgentName>,
    /// Whether the next text starts a new paragraph labelled with the speaker.
    label_due: bool,
    /// Whether the speaker's name was shown since it took over.
    speaker_shown: bool,
    /// Whether the cursor is after text on an unfinished line.
    mid_line: bool,
    steps: u32,
    /// Whether to show what the tool-call ledger records.
    verbose: bool,
    /// The calls whose decisions were shown (a run taken up shows its step's decisions again),
    /// and whether each runs.
    decisions_shown: HashMap<String, bool>,
}

impl Printer {
    pub(crate) fn new() -> Self {
        let out = io::stdout();
        let styled = out.is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self {
            out,
            styled,
            speaker: None,
            label_due: true,
            speaker_shown: false,
            mid_line: false,
            steps: 0,
            verbose: false,
            decisions_shown: HashMap::new(),
        }
    }

    /// Also shows what the tool-call ledger records (each call's intent and result).
    pub(crate) fn verbose(self, verbose: bool) -> Self {
        Self { verbose, ..self }
    }

    /// Forgets the previous run, for the next one on the same terminal.
    pub(crate) fn reset(&mut self) {
        self.speaker = None;
        self.label_due = true;
        self.speaker_shown = false;
        self.mid_line = false;
        self.steps = 0;
        self.decisions_shown.clear();
    }

    pub(crate) fn event(&mut self, event: &RunEvent) -> io::Result<()> {
        match event {
            RunEvent::AgentStarted { agent } => {
                self.speaker = Some(agent.clone());
                self.label_due = true;
                self.speaker_shown = false;
            }
            RunEvent::TextDelta { delta } => {
                if self.label_due {
                    self.end_line()?;
                    let label = self.label();
                    write!(self.out, "{label} ")?;
                    self.label_due = false;
                }
                self.out.write_all(delta.as_bytes())?;
                self.mid_line = !delta.ends_with('\n');
                self.out.flush()?;
            }
            // A call a person refused does not run: its result says so.
            RunEvent::ToolCallStarted { id, .. }
                if self.decisions_shown.get(id) == Some(&false) => {}
            RunEvent::ToolCallStarted {
                name, arguments, ..
            } if !is_handoff_tool(name) => {
                self.introduce_speaker()?;
                let arguments = one_line(arguments, RESULT_CHARS);
                self.note(&format!("  → {name} {arguments}"))?;
                self.label_due = true;
            }
            RunEvent::ApprovalRequested {
                id,
                name,
                arguments,
                expires_at_ms,
                ..
            } => {
                self.introduce_speaker()?;
                let arguments = one_line(arguments, RESULT_CHARS);
                let expiry = expires_at_ms
                    .map_or_else(String::new, |at| format!(", expires {}", timestamp(at)));
                self.note(&format!(
                    "  ? {name} {arguments} waits for approval (call {id}{expiry})"
                ))?;
                self.label_due = true;
            }
            RunEvent::ApprovalDecided { id, decision } => self.decision(id, decision)?,
            RunEvent::CallInterrupted { id, name, policy } => {
                self.introduce_speaker()?;
                self.note(&format!(
                    "  ! {name} (call {id}) was interrupted by a crash: {policy}, {}",
                    interruption(*policy)
                ))?;
                self.label_due = true;
            }
            RunEvent::IntentRecorded { id } if self.verbose => {
                self.note(&format!("  · intent recorded: call {id}"))?;
            }
            RunEvent::ResultRecorded { id } if self.verbose => {
                self.note(&format!("  · result recorded: call {id}"))?;
            }
            RunEvent::ToolCallFinished {
                name,
                output,
                is_error,
                ..
            } if *is_error || !is_handoff_tool(name) => {
                let mark = if *is_error { "✗" } else { "←" };
                let output = one_line(output, RESULT_CHARS);
                self.note(&format!("  {mark} {name}: {output}"))?;
                self.label_due = true;
            }
            RunEvent::HandedOff { from, to, reason } => {
                self.note(&format!("  ⇒ handoff {from} → {to}: {reason}"))?;
            }
            RunEvent::StepFinished { .. } => self.steps += 1,
            RunEvent::Completed { .. } | RunEvent::Failed { .. } | RunEvent::Paused { .. } => {
                self.end_line()?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The decision on call `id`, unless it was shown already.
    pub(crate) fn decision(&mut self, id: &str, decision: &Decision) -> io::Result<()> {
        if self.decisions_shown.contains_key(id) {
            return Ok(());
        }
        self.decisions_shown
            .insert(id.to_owned(), decision.is_approved());
        self.note(&format!("  {}", decided(id, decision)))?;
        self.label_due = true;
        Ok(())
    }

    /// A line of its own, dimmed.
    pub(crate) fn note(&mut self, text: &str) -> io::Result<()> {
        self.end_line()?;
        let text = self.paint("2", text);
        writeln!(self.out, "{text}")?;
        self.out.flush()
    }

    /// A plain line of its own.
    pub(crate) fn line(&mut self, text: &str) -> io::Result<()> {
        self.end_line()?;
        writeln!(self.out, "{text}")?;
        self.out.flush()
    }

    /// Text without a line break (a prompt).
    pub(crate) fn prompt(&mut self, text: &str) -> io::Result<()> {
        self.end_line()?;
        let text = self.paint("1", text);
        write!(self.out, "{text}")?;
        self.out.flush()
    }

    pub(crate) fn usage(&mut self, usage: &Usage) -> io::Result<()> {
        let plural = if self.steps == 1 { "" } else { "s" };
        let text = format!(
            "usage: {} tokens ({} in, {} out), {} step{plural}",
            usage.total(),
            usage.input_tokens,
            usage.output_tokens,
            self.steps
        );
        self.note(&text)
    }

    /// The speaker's label on a line of its own, unless it was shown since it took over.
    fn introduce_speaker(&mut self) -> io::Result<()> {
        if !self.speaker_shown {
            self.end_line()?;
            let label = self.label();
            writeln!(self.out, "{label}")?;
        }
        Ok(())
    }

    fn end_line(&mut self) -> io::Result<()> {
        if self.mid_line {
            writeln!(self.out)?;
            self.mid_line = false;
        }
        Ok(())
    }

    /// The speaker's label, `[billing]`; showing it counts as introducing the speaker.
    fn label(&mut self) -> String {
        self.speaker_shown = true;
        let name = self.speaker.as_ref().map_or("agent", AgentName::as_str);
        self.paint("1;36", &format!("[{name}]"))
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.styled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// A decision on call `id`, as one line: `✓ call call_1 approved`, `✗ call call_1 rejected: why`.
pub(crate) fn decided(id: &str, decision: &Decision) -> String {
    let mark = if decision.is_approved() { "✓" } else { "✗" };
    format!("{mark} call {id} {}", decision_text(decision))
}

/// What a decision was: `approved`, `approved for the run`, `rejected: why`, `expired: …`.
pub(crate) fn decision_text(decision: &Decision) -> String {
    match decision {
        Decision::Approved { for_run: false } => "approved".to_owned(),
        Decision::Approved { for_run: true } => "approved for the run".to_owned(),
        Decision::Rejected { reason } => format!("rejected: {}", one_line(reason, RESULT_CHARS)),
        Decision::Expired => "expired: nobody decided in time".to_owned(),
        // A decision this build does not know.
        _ => "decided".to_owned(),
    }
}

/// What a run does about a call that a crash interrupted, by the tool's policy.
pub(crate) fn interruption(policy: OnInterrupt) -> &'static str {
    match policy {
        OnInterrupt::Retry => "running it again",
        OnInterrupt::Fail => "not running it again (the model is told)",
        OnInterrupt::Ask => "waiting for approval to run it again",
    }
}

/// Milliseconds since the Unix epoch as an RFC 3339 time (the number, if out of range).
pub(crate) fn timestamp(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| ms.to_string(), |t| format!("{t:.3}"))
}

/// `text` on one line, cut to `max` characters.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() <= max {
        return flat.to_owned();
    }
    let cut: String = flat.chars().take(max).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_flattened_and_cut() {
        assert_eq!(one_line(" a\nb\tc ", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("é€xyz", 2), "é€…");
    }
}
