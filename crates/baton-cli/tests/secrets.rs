//! The operator's API key never reaches a tenant, the terminal, a log line or the store.
//!
//! A fake OpenAI-compatible provider on 127.0.0.1 quotes the key back in every way a real one
//! can: inside a 200 event stream, in a 401 body, and through a tool's error (a fetched page
//! that quotes it); a fourth provider has the key in its base URL and drops every connection.
//! The real `baton` binary runs each case (`baton run`, and `baton serve` over REST, SSE and
//! the OpenAI-compatible endpoint) at `RUST_LOG=trace`, and the test looks for the key in
//! every byte it wrote: standard output and error, HTTP bodies, and the SQLite files.
#![cfg(unix)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};

/// The key: nothing about it looks like a credential, so only the registry of held secrets
/// can recognise it.
const KEY: &str = "Zq7Plant-Opaque-41xkLm";
/// A key in a well-known format, recognised by its shape alone wherever it comes from.
const FOREIGN_KEY: &str = "sk-proj-ForeignKey0123456789";

fn sse(events: &[String]) -> Response {
    let mut body = String::new();
    for event in events {
        body.push_str("data: ");
        body.push_str(event);
        body.push_str("\n\n");
    }
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

fn text_answer(text: &str) -> Response {
    sse(&[
        serde_json::json!({"choices":[{"index":0,"delta":{"role":"assistant","content":text}}]})
            .to_string(),
        serde_json::json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}).to_string(),
        "[DONE]".to_owned(),
    ])
}

/// The fake provider, with one base URL per way of leaking, and a raw listener that drops
/// every connection. Returns the HTTP address and the dropping one.
fn start_provider() -> (SocketAddr, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let dropper = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dropping = dropper.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in dropper.incoming() {
            drop(stream);
        }
    });
    listener.set_nonblocking(true).unwrap();
    let leak_url = format!("http://{address}/leak");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = Router::new()
                .route(
                    "/instream/v1/chat/completions",
                    post(|| async {
                        sse(&[serde_json::json!({"error": {
                            "message": format!("Incorrect API key provided: {KEY}. Also seen: {FOREIGN_KEY}"),
                            "type": "invalid_request_error",
                            "code": "invalid_api_key"
                        }})
                        .to_string()])
                    }),
                )
                .route(
                    "/unauthorized/v1/chat/completions",
                    post(|| async {
                        let body = serde_json::json!({"error": {
                            "message": format!("Incorrect API key provided: {KEY}. Header was: Bearer {KEY}"),
                            "type": "invalid_request_error",
                            "code": "invalid_api_key"
                        }});
                        (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
                    }),
                )
                .route(
                    "/tool/v1/chat/completions",
                    post(move |body: String| {
                        let leak_url = leak_url.clone();
                        async move {
                            if body.contains("\"role\":\"tool\"") {
                                assert!(!body.contains(KEY), "the model saw the key: {body}");
                                return text_answer("The page could not be fetched.");
                            }
                            let arguments = serde_json::json!({ "url": leak_url }).to_string();
                            sse(&[
                                serde_json::json!({"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[
                                    {"index":0,"id":"call_1","type":"function","function":{"name":"fetch","arguments":arguments}}
                                ]}}]})
                                .to_string(),
                                serde_json::json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})
                                    .to_string(),
                                "[DONE]".to_owned(),
                            ])
                        }
                    }),
                )
                .route(
                    "/leak",
                    get(|| async {
                        Response::builder()
                            .status(StatusCode::BAD_GATEWAY)
                            .body(Body::from(format!(
                                "upstream refused api_key={KEY} (Authorization: Bearer {KEY})"
                            )))
                            .unwrap()
                    }),
                );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (address, dropping)
}

/// A topology with one agent per way of leaking, each on its own provider.
fn topology(dir: &Path, provider: SocketAddr, dropping: SocketAddr) -> std::path::PathBuf {
    let file = dir.join("leaky.toml");
    let store = dir.join("baton.db");
    let text = format!(
        r#"
entry = "instream"
store = "sqlite:{store}"

[providers.instream]
kind = "openai"
base_url = "http://{provider}/instream/v1"
api_key_env = "LEAKY_PROVIDER_KEY"
model = "leaky"

[providers.unauthorized]
kind = "openai"
base_url = "http://{provider}/unauthorized/v1"
api_key_env = "LEAKY_PROVIDER_KEY"
model = "leaky"

[providers.tool]
kind = "openai"
base_url = "http://{provider}/tool/v1"
api_key_env = "LEAKY_PROVIDER_KEY"
model = "leaky"

[providers.dropping]
kind = "openai"
base_url = "http://operator:{KEY}@{dropping}/v1"
api_key_env = "LEAKY_PROVIDER_KEY"
model = "leaky"
connect_timeout = "1s"

[tools.fetch]
kind = "http_get"
allow_hosts = ["127.0.0.1"]

[[agents]]
name = "instream"
provider = "instream"

[[agents]]
name = "unauthorized"
provider = "unauthorized"

[[agents]]
name = "tool"
provider = "tool"
tools = ["fetch"]

[[agents]]
name = "dropping"
provider = "dropping"

[server]
bind = "127.0.0.1:0"
shutdown_grace = "1s"

[[server.tenants]]
name = "acme"
token_env = "LEAKY_TENANT_TOKEN"
"#,
        store = store.display()
    );
    std::fs::write(&file, text).unwrap();
    file
}

fn baton() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
    command
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "trace")
        .env("LEAKY_PROVIDER_KEY", KEY)
        .env("LEAKY_TENANT_TOKEN", "tenant-token-for-tests")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL");
    command
}

/// Fails if `what` holds either key, or any long piece of the operator's.
fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for needle in [KEY, FOREIGN_KEY, &KEY[..10], &KEY[8..]] {
        assert!(
            !text.contains(needle),
            "{what} holds {needle:?}:\n{}",
            text.chars().take(4000).collect::<String>()
        );
    }
}

/// Every file of the store (the database, its WAL and shared-memory files).
fn assert_store_clean(dir: &Path) {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("baton.db") {
            seen += 1;
            assert_clean(&name, &std::fs::read(&path).unwrap());
        }
    }
    assert!(seen > 0, "no store files in {}", dir.display());
}

#[test]
fn baton_run_keeps_the_key_out_of_the_terminal_the_log_and_the_store() {
    let (provider, dropping) = start_provider();
    let dir = tempfile::tempdir().unwrap();
    let file = topology(dir.path(), provider, dropping);
    for (agent, must_say) in [
        ("instream", "Incorrect API key provided: [redacted]"),
        ("unauthorized", "Incorrect API key provided: [redacted]"),
        ("tool", "The page could not be fetched."),
        ("dropping", "connection"),
    ] {
        let output = baton()
            .arg("run")
            .arg(&file)
            .args(["--agent", agent, "hello"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let both = [output.stdout.as_slice(), output.stderr.as_slice()].concat();
        let shown = String::from_utf8_lossy(&both).into_owned();
        assert!(shown.contains(must_say), "{agent}: {shown}");
        assert!(
            shown.contains("TRACE") || shown.contains("DEBUG"),
            "{agent}: trace logging was not on"
        );
        assert_clean(&format!("{agent}: stdout"), &output.stdout);
        assert_clean(&format!("{agent}: stderr"), &output.stderr);
    }
    let episodes = baton()
        .args(["threads", "list"])
        .arg("--store")
        .arg(format!("sqlite:{}", dir.path().join("baton.db").display()))
        .output()
        .unwrap();
    assert_clean("threads list", &episodes.stdout);
    assert_store_clean(dir.path());
}

/// Sends one HTTP/1.1 request and returns the status line and the whole response.
fn request(address: &str, path: &str, body: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer tenant-token-for-tests\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.lines().next().unwrap_or_default().to_owned();
    (status, response)
}

#[test]
fn baton_serve_keeps_the_key_out_of_every_answer_the_log_and_the_store() {
    let (provider, dropping) = start_provider();
    let dir = tempfile::tempdir().unwrap();
    let file = topology(dir.path(), provider, dropping);
    let log = dir.path().join("serve.log");
    let mut child = baton()
        .arg("serve")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let common::Serving { address, rest, .. } = common::serving(&mut child);

    let mut answers = Vec::new();
    for agent in ["instream", "unauthorized", "tool", "dropping"] {
        for stream in [false, true] {
            let (status, thread) = request(&address, "/v1/threads", "");
            assert!(status.contains("201"), "{thread}");
            let id = thread
                .split("\"id\":\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap()
                .to_owned();
            let body = format!(r#"{{"agent":"{agent}","input":"hello","stream":{stream}}}"#);
            answers.push((
                agent,
                request(&address, &format!("/v1/threads/{id}/runs"), &body),
            ));
        }
        for stream in [false, true] {
            let body = format!(
                r#"{{"model":"{agent}","stream":{stream},"messages":[{{"role":"user","content":"hello"}}]}}"#
            );
            answers.push((agent, request(&address, "/v1/chat/completions", &body)));
        }
    }
    for (agent, (status, response)) in &answers {
        assert_clean(&format!("{agent} answered {status}"), response.as_bytes());
    }
    let redacted = answers
        .iter()
        .filter(|(agent, (_, response))| {
            *agent == "instream" && response.contains("Incorrect API key provided: [redacted]")
        })
        .count();
    assert_eq!(
        redacted,
        4,
        "every instream answer says what the provider said: {:#?}",
        answers
            .iter()
            .filter(|(agent, _)| *agent == "instream")
            .collect::<Vec<_>>()
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest = rest.recv().unwrap();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    let logged = std::fs::read(&log).unwrap();
    assert!(
        String::from_utf8_lossy(&logged).contains("TRACE"),
        "trace logging was not on"
    );
    assert_clean("the server's log", &logged);
    assert_store_clean(dir.path());
}

#[test]
fn a_key_outside_visible_ascii_is_refused_at_start_without_showing_it() {
    let (provider, dropping) = start_provider();
    let dir = tempfile::tempdir().unwrap();
    let file = topology(dir.path(), provider, dropping);
    let output = baton()
        .env("LEAKY_PROVIDER_KEY", "Zq7Plant\u{a0}Opaque-41xkLm")
        .arg("run")
        .arg(&file)
        .arg("hello")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the API key cannot be used: character 9 is not visible ASCII"),
        "{stderr}"
    );
    for piece in ["Zq7Plant", "Opaque-41xkLm"] {
        assert!(!stderr.contains(piece), "{stderr}");
    }
}
