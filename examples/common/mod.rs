//! Shared by the examples: printing a run's events, choosing the provider.

#![allow(dead_code)]

mod provider;

pub use provider::provider_from_args;

use baton::prelude::*;
use std::io::Write;

/// Prints a run's events as they arrive and returns the final answer, if any.
pub async fn print_run(mut events: RunStream) -> Option<String> {
    let mut stdout = std::io::stdout();
    let mut answer = None;
    let mut speaker = String::new();
    // Whether the cursor ends the speaker's header line, and whether text is flowing on it.
    let (mut on_header, mut in_text) = (false, false);
    while let Some(event) = events.next_event().await {
        if let RunEvent::TextDelta { delta } = &event {
            if !in_text {
                if !on_header {
                    print!("\n[{speaker}]");
                }
                print!(" ");
                in_text = true;
            }
            print!("{delta}");
            let _ = stdout.flush();
            continue;
        }
        (on_header, in_text) = (false, false);
        match event {
            RunEvent::AgentStarted { agent } => {
                speaker = agent.to_string();
                print!("\n[{speaker}]");
                on_header = true;
            }
            RunEvent::ToolCallStarted {
                name, arguments, ..
            } => {
                print!("\n  -> {name}({arguments})");
            }
            RunEvent::ToolCallFinished {
                output, is_error, ..
            } => {
                let mark = if is_error { "!!" } else { "<-" };
                print!("\n  {mark} {output}");
            }
            RunEvent::HandedOff { from, to, reason } => {
                print!("\n  == {from} hands off to {to}: {reason}");
            }
            RunEvent::Completed { output, usage } => {
                println!(
                    "\n\n(done: {} input + {} output tokens)",
                    usage.input_tokens, usage.output_tokens
                );
                answer = Some(output);
            }
            RunEvent::Failed { error } => println!("\n\n(run failed: {error})"),
            _ => {}
        }
        // A closed stdout is not worth failing an example over.
        let _ = stdout.flush();
    }
    answer
}
