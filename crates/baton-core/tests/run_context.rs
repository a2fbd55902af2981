//! The run context: what tools, guardrails and providers know of the run they act for.

mod common;

use baton_core::context::{RunContext, ToolContext};
use baton_core::prelude::*;
use baton_testkit::{Script, ScriptedProvider};
use common::*;
use serde_json::json;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
struct User(&'static str);

/// Answers with everything its context says.
struct Whoami;

impl Tool for Whoami {
    type Args = serde_json::Value;
    fn name(&self) -> &str {
        "whoami"
    }
    fn description(&self) -> &str {
        "Says whom it acts for."
    }
    async fn call(&self, _: serde_json::Value, ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        let run = ctx.run();
        Ok(format!(
            "run={} thread={} agent={} step={} call={} user={} key={}",
            run.run_id(),
            run.thread(),
            run.agent(),
            run.step(),
            ctx.call_id(),
            ctx.extension::<User>().map_or("nobody", |u| u.0),
            ctx.idempotency_key()
        ))
    }
}

/// Remembers the steps and users it checked.
#[derive(Default, Clone)]
struct Witness(Arc<Mutex<Vec<(u32, &'static str)>>>);

#[async_trait::async_trait]
impl Guardrail for Witness {
    fn name(&self) -> &str {
        "witness"
    }
    async fn check_request(&self, _request: &ChatRequest, run: &RunContext<'_>) -> Verdict {
        let user = run.extension::<User>().map_or("nobody", |u| u.0);
        self.0.lock().unwrap().push((run.step(), user));
        Verdict::Allow
    }
}

#[tokio::test(start_paused = true)]
async fn tools_guardrails_and_providers_see_the_run_they_act_for() {
    let provider = ScriptedProvider::new()
        .respond(Script::tool_call("whoami", json!({})))
        .respond(Script::text("done"));
    let f = fixture_with(provider, Agent::builder("helper").tool(Whoami));
    let mut extensions = http::Extensions::new();
    extensions.insert(User("ada"));
    let ctx = f.ctx.clone().with_extensions(extensions);
    let witness = Witness::default();
    let options = RunOptions::default().with_guardrail(witness.clone());
    let output = run_steps(&ctx, f.thread, vec![Message::user("who?")], options)
        .await
        .unwrap();
    assert_eq!(output.output, "done");

    let thread = f.thread_messages().await;
    let call_id = &thread[1].tool_calls()[0].id;
    let run = ctx.run_id;
    assert_eq!(
        thread[2].content(),
        format!(
            "run={run} thread={} agent=helper step=1 call={call_id} user=ada key={run}:1:{call_id}",
            f.thread
        )
    );
    assert_eq!(*witness.0.lock().unwrap(), [(1, "ada"), (2, "ada")]);
    let requests = f.provider.requests();
    let steps: Vec<u32> = requests
        .iter()
        .map(|r| r.run.as_ref().unwrap().step)
        .collect();
    assert_eq!(steps, [1, 2]);
    let scope = &requests[0].run.as_ref().unwrap().scope;
    assert_eq!((scope.run_id(), scope.thread()), (run, f.thread));
    assert_eq!(scope.extensions().get::<User>().map(|u| u.0), Some("ada"));
}
