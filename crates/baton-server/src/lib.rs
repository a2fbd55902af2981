//! Baton as an HTTP service: a [`Supervisor`] behind a JSON API with streamed runs (SSE), an
//! OpenAI-compatible endpoint, tenants, probes and Prometheus metrics.
//!
//! The server uses only the public library API: anything it does, an embedder could do. Run
//! it with [`serve`] (or [`serve_on`] with a listener of your own), or mount [`router`] in an
//! existing axum application.
//!
//! # Example
//!
//! ```
//! use baton_core::actor::Supervisor;
//! use baton_core::agent::Agent;
//! use baton_server::{ServerConfig, Tenant};
//! use baton_testkit::{Script, ScriptedProvider};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let supervisor = Supervisor::builder()
//!     .provider(Arc::new(ScriptedProvider::new().respond(Script::text("Hello!"))))
//!     .agent(Agent::builder("greeter").build()?)
//!     .spawn()
//!     .await?;
//! let config = ServerConfig::new(vec![Tenant::new("acme", "token-1")]);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("http://{}", listener.local_addr()?);
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(baton_server::serve_on(listener, supervisor, config, async {
//!     let _ = stopped.await;
//! }));
//!
//! let client = reqwest::Client::new();
//! let thread: serde_json::Value = client
//!     .post(format!("{url}/v1/threads"))
//!     .bearer_auth("token-1")
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! let run: serde_json::Value = client
//!     .post(format!("{url}/v1/threads/{}/runs", thread["id"].as_str().unwrap_or_default()))
//!     .bearer_auth("token-1")
//!     .json(&serde_json::json!({ "agent": "greeter", "input": "hi" }))
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(run["output"], "Hello!");
//!
//! let _ = stop.send(());
//! server.await??;
//! # Ok(())
//! # }
//! ```
//!
//! # Endpoints
//!
//! Everything under `/v1` needs `Authorization: Bearer <token>` of a configured [`Tenant`],
//! checked before anything else about the request: without a valid token, every path under
//! `/v1` answers 401, whether it exists or not, whatever the method and the body.
//! Errors are JSON, `{"error": {"type": "...", "message": "..."}}`, with a 4xx status for the
//! caller's mistakes (400 invalid JSON or fields, or a request that is not HTTP; 401 no or bad
//! token; 404 unknown thread, run, agent, call or route; 405 wrong method; 408 a head or body
//! that did not arrive in time; 409 thread busy, run not paused, call decided already; 410
//! approval expired; 413 body too large, refused before it is read when its `Content-Length`
//! says so; 414 target over 8 KiB; 429 agent overloaded; 431 headers over 16 KiB or 100
//! lines) and a 5xx status for the server's (502 provider failed, 503 shutting down). This
//! holds for the errors the HTTP layer answers by itself too.
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /v1/threads` | a new thread of the caller: `201 {"id"}` |
//! | `GET /v1/threads?offset=&limit=` | the caller's threads, oldest first |
//! | `GET /v1/threads/{id}/messages?offset=&limit=` | a page of a thread's messages |
//! | `POST /v1/threads/{id}/runs` | `{"agent", "input", "stream"}`: with `stream: true`, SSE of the run's events (`event: <type>`, JSON data, ending with `completed`, `failed` or `paused`); otherwise `{"status": "completed", "run_id", "thread_id", "output", "usage", "steps"}` or `{"status": "paused", "run_id", "thread_id", "pending"}` |
//! | `GET /v1/runs/{id}/episodes` | the run's episodic log |
//! | `POST /v1/runs/{id}/cancel` | cancels a run in flight: `{"run_id", "cancelled"}` |
//! | `POST /v1/runs/{id}/resume` | `{stream}`: continues a run interrupted by a crash from its last completed step (404 unknown, 409 finished, in flight or paused) |
//! | `GET /v1/runs/{id}/approvals` | `{"run_id", "pending"}`: the calls a paused run waits on (empty unless paused) |
//! | `POST /v1/runs/{id}/approvals/{call}` | `{"decision": "approve"}`, `{"decision": "approve", "for_run": true}` or `{"decision": "reject", "reason"}`, and `stream`: decides a waiting call (see [Approvals](#approvals)) |
//! | `POST /v1/chat/completions` | OpenAI-compatible; `model` names an agent |
//! | `GET /v1/models` | the agents, as OpenAI models |
//! | `GET /healthz` | liveness (no token) |
//! | `GET /readyz` | 200 while runs are taken, 503 during shutdown (no token) |
//! | `GET /metrics` | Prometheus metrics, OpenMetrics text (no token; aggregate per agent) |
//!
//! Responses that start a run carry `x-baton-run-id` and `x-baton-thread-id` headers, so a
//! streaming client can cancel its run or read its log. A client that disconnects from a
//! stream (or from a request waiting for its answer) cancels the run: the server drops the
//! run's stream, and the run records `Failed` of kind `consumer_gone`.
//!
//! # Approvals
//!
//! A tool an agent gives [`Approval`](baton_core::tool::Approval) pauses its run before the
//! call runs. The run's stream ends with a `paused` event (the run event, with the `pending`
//! calls: run id, step, call id, tool, arguments, `expires_at_ms`), and a run answered as
//! JSON says `"status": "paused"` with the same calls: both are 200, a pause is not a
//! failure. A paused run holds its thread (a new run on it is refused with 409
//! `thread_busy`, whose message names the paused run and where to decide it) but nothing in
//! the process. `POST /v1/runs/{id}/approvals/{call}` records a decision; while other calls
//! still wait it answers them (`{"status": "paused", "pending"}`, or with `stream` one
//! `paused` event). The decision that leaves none waiting takes the run up and is answered as
//! `POST /v1/runs/{id}/resume` is: with `stream`, SSE of the rest of the run, else its end
//! as JSON. Deciding a run that is not paused (running, finished) or a call decided already
//! is 409 (`not_paused`, `already_decided`), an unknown call 404 (`unknown_call`), a call
//! whose approval expired 410 (`approval_expired`). A run whose approvals expired undecided
//! goes on by itself: every [`ServerConfig::approval_sweep`] (30 s by default), [`serve`]
//! takes such runs up, their expired calls rejected as expired (the model is told), and they
//! go on unheard; their logs (`GET /v1/runs/{id}/episodes`) show how they ended. Another tenant's run is 404 on both
//! routes, as for runs that do not exist.
//!
//! On `POST /v1/chat/completions`, a run that pauses ends the completion with an assistant
//! message that says what waits and where to decide it, `finish_reason: "stop"`.
//!
//! # Connections
//!
//! [`serve`] speaks HTTP/1.1 with keep-alive. A connection must send each request's head
//! within [`ServerConfig::header_read_timeout`] and may wait
//! [`ServerConfig::idle_timeout`] between requests; a body must arrive within
//! [`ServerConfig::body_read_timeout`]. At most [`ServerConfig::max_connections`] are open:
//! at the limit, the connection idle the longest closes for a new one, so idle clients cannot
//! crowd out busy ones. Responses are written without delay (`TCP_NODELAY`), so each event of
//! a stream leaves as soon as it is sent.
//!
//! # Tenancy
//!
//! Each thread belongs to the tenant that created it, and another tenant gets 404 for it and
//! for its runs, exactly as for ids that do not exist. The store has no place for metadata, so
//! the owner is encoded in the thread id: a server-minted id is a UUID v7 whose last 32 bits
//! are a tag derived from the tenant's name. An in-memory map (thread → tenant) is the
//! authority for threads created by this process; after a restart, a thread belongs to the
//! tenant whose tag it carries, if the store holds messages for it. So ownership survives in
//! a durable store without writing anything but the thread itself. Limits: a thread created
//! but never written to is forgotten on restart; renaming a tenant orphans its threads
//! (tokens may rotate); listing a tenant's threads reads the store's whole thread list.
//!
//! Tokens are compared in constant time, as SHA-256 digests so that their length does not
//! show either, and never appear in `Debug` output or logs.
//!
//! # Metrics
//!
//! Computed from the events the server relays and from [`Supervisor::status`]: runs started,
//! completed and failed per agent, steps, input and output tokens, run and step latency
//! histograms, active runs per agent, handoffs, and the runs the approval sweep took up.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod config;
mod connection;
mod error;
mod extract;
mod limits;
mod metrics;
mod ownership;
mod relay;
mod routes;
mod server;
mod state;
mod sweep;

pub use auth::CallerTenant;
pub use config::{ServerConfig, Tenant};
pub use error::ServerError;
pub use server::{serve, serve_on};

use baton_core::actor::Supervisor;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// The service's routes over `supervisor`, for embedding in an existing axum application.
///
/// The router holds its own state (tenants, thread owners, metrics), so build it once and
/// clone it. Readiness follows the supervisor: `/readyz` answers 503 once
/// [`Supervisor::shutdown`] began. Call [`ServerConfig::validate`] first; the router does not.
///
/// The router keeps the request-level rules (authentication before routing, the head and body
/// limits and the body timeout, JSON errors); the connection-level ones (header-read and idle
/// timeouts, the connection limit, `TCP_NODELAY`, JSON for the HTTP layer's own errors) are
/// [`serve`]'s, and an embedding server keeps its own.
///
/// ```
/// use baton_core::actor::Supervisor;
/// use baton_core::agent::Agent;
/// use baton_server::{ServerConfig, Tenant};
/// use baton_testkit::ScriptedProvider;
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let supervisor = Supervisor::builder()
///     .provider(Arc::new(ScriptedProvider::new()))
///     .agent(Agent::builder("assistant").build()?)
///     .spawn()
///     .await?;
/// let config = ServerConfig::new(vec![Tenant::new("acme", "token-1")]);
/// config.validate()?;
/// let app = axum::Router::new().nest("/agents", baton_server::router(supervisor, &config));
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
pub fn router(supervisor: Supervisor, config: &ServerConfig) -> axum::Router {
    server::build_router(supervisor, config, Arc::new(AtomicBool::new(false)))
}
