//! `baton chat` asking the operator about each call of a paused run, and going on with it.
//!
//! The answers are read line by line from standard input, a terminal or not, so a script can
//! pipe them in as it pipes the messages.

use super::Exit;
use super::run::{Outcome, follow};
use crate::cli::DEFAULT_REJECTION;
use crate::error::CliError;
use crate::interrupt::Interrupts;
use crate::render::{Printer, one_line};
use baton_core::actor::{Decided, Supervisor, SupervisorError};
use baton_core::ids::RunId;
use baton_core::memory::Decision;
use baton_core::run::PendingApproval;
use std::io::IsTerminal;
use tokio::io::{BufReader, Lines, Stdin};

/// How much of a call's arguments a question shows.
const ARGUMENT_CHARS: usize = 160;

/// Where the questions go and the answers come from.
pub(crate) struct Asking<'a> {
    pub(crate) supervisor: &'a Supervisor,
    pub(crate) printer: &'a mut Printer,
    pub(crate) interrupts: &'a mut Interrupts,
    /// Standard input, shared with the chat's messages.
    answers: &'a mut Lines<BufReader<Stdin>>,
    /// Whether to show each answer after its question: piped answers are not echoed by a
    /// terminal, and the transcript reads better with them.
    echo: bool,
}

/// What asking came to.
pub(crate) enum Asked {
    /// Every call was decided and the run went on; how it ended (it may have paused again).
    Went(Outcome),
    /// The operator left before deciding `pending` (end of input, or Ctrl-C); the command ends
    /// with the exit.
    Left(Vec<PendingApproval>, Exit),
    /// Nothing to follow: no call waited, or the decision had an outcome this build does not
    /// know.
    Nothing,
}

/// What the operator said, or that they left.
enum Heard {
    Line(String),
    Left(Exit),
}

/// An answer to "approve …?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    Always,
}

impl Answer {
    /// `y`, `yes`, `n`, `no`, `a`, `always`, in any case.
    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Some(Self::Yes),
            "n" | "no" => Some(Self::No),
            "a" | "always" => Some(Self::Always),
            _ => None,
        }
    }
}

impl<'a> Asking<'a> {
    /// Questions on `printer`, answers from `answers` (standard input).
    pub(crate) fn new(
        supervisor: &'a Supervisor,
        printer: &'a mut Printer,
        interrupts: &'a mut Interrupts,
        answers: &'a mut Lines<BufReader<Stdin>>,
    ) -> Self {
        Self {
            supervisor,
            printer,
            interrupts,
            answers,
            echo: !std::io::stdin().is_terminal(),
        }
    }

    /// Asks about each call of the paused run `run` in turn and decides it; the last decision
    /// takes the run up, and its events are followed to its end.
    ///
    /// # Errors
    ///
    /// The supervisor's refusal of a decision, or the terminal's failure.
    pub(crate) async fn decide_all(
        &mut self,
        run: RunId,
        mut pending: Vec<PendingApproval>,
    ) -> Result<Asked, CliError> {
        while let Some(call) = pending.first() {
            let decision = match self.ask(call).await? {
                Ok(decision) => decision,
                Err(exit) => return Ok(Asked::Left(pending, exit)),
            };
            let call = call.call_id.clone();
            let stream = match self.supervisor.decide(run, &call, decision.clone()).await {
                Ok(Decided::Waiting { pending: left }) => {
                    self.printer.decision(&call, &decision)?;
                    pending = left;
                    continue;
                }
                Ok(Decided::Resumed(stream)) => {
                    self.printer.decision(&call, &decision)?;
                    stream
                }
                Ok(_) => return Ok(Asked::Nothing),
                Err(SupervisorError::ApprovalExpired { .. }) => {
                    self.printer.decision(&call, &Decision::Expired)?;
                    self.printer.note("  going on without it")?;
                    self.supervisor.resume(run).await?
                }
                Err(error) => return Err(error.into()),
            };
            let (_, outcome) =
                follow(self.supervisor, stream, self.printer, self.interrupts).await?;
            return Ok(Asked::Went(outcome));
        }
        Ok(Asked::Nothing)
    }

    /// The operator's decision on `call`, or the exit to end with if they left.
    async fn ask(&mut self, call: &PendingApproval) -> Result<Result<Decision, Exit>, CliError> {
        let arguments = one_line(&call.arguments, ARGUMENT_CHARS);
        loop {
            self.printer.prompt(&format!(
                "approve {} {arguments}? [y]es / [n]o / [a]lways for this run: ",
                call.tool
            ))?;
            let answer = match self.hear().await? {
                Heard::Line(answer) => answer,
                Heard::Left(exit) => return Ok(Err(exit)),
            };
            match Answer::parse(&answer) {
                Some(Answer::Yes) => return Ok(Ok(Decision::approve())),
                Some(Answer::Always) => return Ok(Ok(Decision::approve_for_run())),
                Some(Answer::No) => {
                    self.printer
                        .prompt(&format!("reason for the model (empty: {DEFAULT_REJECTION}): "))?;
                    let reason = match self.hear().await? {
                        Heard::Line(reason) => reason,
                        Heard::Left(exit) => return Ok(Err(exit)),
                    };
                    let reason = match reason.trim() {
                        "" => DEFAULT_REJECTION,
                        reason => reason,
                    };
                    return Ok(Ok(Decision::reject(reason)));
                }
                None => self
                    .printer
                    .note("answer y (yes), n (no) or a (always: this call and the tool's later calls in this run)")?,
            }
        }
    }

    /// The next line of input; at its end the run stays paused, and Ctrl-C cancels.
    async fn hear(&mut self) -> Result<Heard, CliError> {
        tokio::select! {
            line = self.answers.next_line() => Ok(match line? {
                Some(line) => {
                    if self.echo {
                        self.printer.line(&line)?;
                    }
                    Heard::Line(line)
                }
                None => {
                    self.printer.line("")?;
                    Heard::Left(Exit::Paused)
                }
            }),
            () = self.interrupts.next() => {
                self.printer.line("")?;
                Ok(Heard::Left(Exit::Cancelled))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_a_word_or_its_first_letter_in_any_case() {
        assert_eq!(Answer::parse("y"), Some(Answer::Yes));
        assert_eq!(Answer::parse(" YES \n"), Some(Answer::Yes));
        assert_eq!(Answer::parse("n"), Some(Answer::No));
        assert_eq!(Answer::parse("No"), Some(Answer::No));
        assert_eq!(Answer::parse("a"), Some(Answer::Always));
        assert_eq!(Answer::parse("always"), Some(Answer::Always));
        assert_eq!(Answer::parse(""), None);
        assert_eq!(Answer::parse("maybe"), None);
    }
}
