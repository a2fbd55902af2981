//! Hostile probes against a running `baton serve` on 127.0.0.1, under a 256-descriptor limit.
//!
//! Each probe sends what an attacker or a careless client would (no token, another tenant's
//! ids, broken and oversized bodies, deep nesting, NUL and odd unicode, too many headers, a
//! long URI, garbage instead of HTTP, slow and idle connections) and asserts the answer: the
//! right status, Baton's JSON error shape, and a server that still answers everyone else.
//! Every read has a bound, so a probe that is not answered fails instead of hanging.
#![cfg(target_os = "linux")]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ACME: &str = "acme-probe-token";
const GLOBEX: &str = "globex-probe-token";
/// Longest any single answer may take before the probe counts as unanswered.
const ANSWER_BOUND: Duration = Duration::from_secs(30);

const TOPOLOGY: &str = r#"
store = "memory"

[providers.offline]
kind = "scripted"

[[agents]]
name = "echo"
script = [{ text = "Hello, prober." }]

[server]
bind = "127.0.0.1:0"
shutdown_grace = "1s"
max_body_bytes = 65536
header_read_timeout = "1s"
idle_timeout = "1s"
body_read_timeout = "1s"
max_connections = 100

[[server.tenants]]
name = "acme"
token_env = "PROBE_ACME_TOKEN"

[[server.tenants]]
name = "globex"
token_env = "PROBE_GLOBEX_TOKEN"
"#;

struct Server {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// `baton serve` with at most 256 open descriptors.
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("probes.toml");
        std::fs::write(&file, TOPOLOGY).unwrap();
        let mut child = Command::new("prlimit")
            .arg("--nofile=256:256")
            .arg(env!("CARGO_BIN_EXE_baton"))
            .arg("serve")
            .arg(&file)
            .env("NO_COLOR", "1")
            .env("PROBE_ACME_TOKEN", ACME)
            // Surrounding whitespace in the variable is trimmed, not a lock-out.
            .env("PROBE_GLOBEX_TOKEN", format!("  {GLOBEX}\n"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let address = common::serving(&mut child).address;
        Self {
            child,
            address,
            _dir: dir,
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.address).unwrap();
        stream.set_read_timeout(Some(ANSWER_BOUND)).unwrap();
        stream
    }

    /// Sends `raw` bytes on a new connection and reads the whole answer.
    fn send_raw(&self, raw: &[u8]) -> Answer {
        let mut stream = self.connect();
        stream.write_all(raw).unwrap();
        Answer::read(&mut stream)
    }

    /// A request with `token` (if any), `Connection: close`, and `body`.
    fn request(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
        let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: probe\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        self.send_raw(raw.as_bytes())
    }

    fn new_thread(&self, token: &str) -> String {
        let answer = self.request("POST", "/v1/threads", Some(token), "");
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.json()["id"].as_str().unwrap().to_owned()
    }

    /// A run of agent `echo` on `thread` for tenant ACME, answered with 200.
    fn run(&self, thread: &str, input: &str) -> Answer {
        let answer = self.request(
            "POST",
            &format!("/v1/threads/{thread}/runs"),
            Some(ACME),
            &format!(r#"{{"agent":"echo","input":"{input}"}}"#),
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        answer
    }

    fn still_serves(&self) {
        let answer = self.request("GET", "/healthz", None, "");
        assert_eq!(answer.status, 200, "{answer:?}");
        let thread = self.new_thread(ACME);
        let answer = self.run(&thread, "hi");
        assert_eq!(answer.json()["output"], "Hello, prober.");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn read(stream: &mut TcpStream) -> Self {
        let mut bytes = Vec::new();
        match stream.read_to_end(&mut bytes) {
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
            Err(error) => panic!("no answer within {ANSWER_BOUND:?}: {error}"),
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        Self {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {self:?}"))
    }

    /// Asserts `status` with Baton's error shape: `{"error": {"type": …, "message": …}}`.
    fn assert_error(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}");
        assert!(
            self.head
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "not declared as JSON: {self:?}"
        );
        let json = self.json();
        assert!(
            json["error"]["type"].is_string() && json["error"]["message"].is_string(),
            "not Baton's error shape: {self:?}"
        );
    }
}

#[test]
fn hostile_requests_get_typed_answers_and_leave_the_server_serving() {
    let server = Server::start();

    // Authentication comes first: no route detail without a token.
    server
        .request("POST", "/v1/threads", None, "")
        .assert_error(401);
    server
        .request("POST", "/v1/threads", Some("wrong"), "")
        .assert_error(401);
    server
        .request("DELETE", "/v1/threads", None, "")
        .assert_error(401);
    server
        .request("GET", "/v1/no-such-route", None, "")
        .assert_error(401);
    server
        .request("DELETE", "/v1/threads", Some(ACME), "")
        .assert_error(405);
    server
        .request("GET", "/v1/no-such-route", Some(ACME), "")
        .assert_error(404);
    // The trimmed token of a variable with surrounding whitespace works.
    server.new_thread(GLOBEX);

    // Another tenant's thread and run are not there.
    let thread = server.new_thread(ACME);
    let answer = server.run(&thread, "mine");
    let run = answer.json()["run_id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        ("GET", format!("/v1/threads/{thread}/messages"), ""),
        (
            "POST",
            format!("/v1/threads/{thread}/runs"),
            r#"{"agent":"echo","input":"theirs"}"#,
        ),
        ("GET", format!("/v1/runs/{run}/episodes"), ""),
        ("POST", format!("/v1/runs/{run}/cancel"), ""),
        ("POST", format!("/v1/runs/{run}/resume"), "{}"),
    ] {
        server
            .request(method, &path, Some(GLOBEX), body)
            .assert_error(404);
    }
    let messages = server.request(
        "GET",
        &format!("/v1/threads/{thread}/messages"),
        Some(ACME),
        "",
    );
    assert!(!messages.body.contains("theirs"), "{messages:?}");

    // Broken, deep, odd and oversized bodies.
    let runs = format!("/v1/threads/{thread}/runs");
    for body in [
        "{",
        "null",
        "[]",
        r#"{"agent":"echo"}"#,
        r#"{"agent":"echo","input":42}"#,
        r#"{"agent":"echo","input":"x","unknown":true}"#,
        r#"{"agent":"../../etc/passwd","input":"x"}"#,
        "\u{0}\u{0}\u{0}",
    ] {
        let answer = server.request("POST", &runs, Some(ACME), body);
        assert!(
            matches!(answer.status, 400 | 404 | 422),
            "{body:?}: {answer:?}"
        );
        answer.assert_error(answer.status);
    }
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    server
        .request("POST", "/v1/chat/completions", Some(ACME), &deep)
        .assert_error(400);
    let deep_object = format!(
        r#"{{"agent":"echo","input":"x","stream":{}true{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let answer = server.request("POST", &runs, Some(ACME), &deep_object);
    answer.assert_error(answer.status);
    for input in [
        r#""nul \u0000 inside""#,
        r#""lone surrogate \ud800""#,
        "\"right-to-left \u{202e} and emoji \u{1f600}\"",
    ] {
        let thread = server.new_thread(ACME);
        let body = format!(r#"{{"agent":"echo","input":{input}}}"#);
        let answer = server.request(
            "POST",
            &format!("/v1/threads/{thread}/runs"),
            Some(ACME),
            &body,
        );
        assert!(matches!(answer.status, 200 | 400), "{input}: {answer:?}");
        if answer.status != 200 {
            answer.assert_error(400);
        }
    }
    let big = format!(r#"{{"agent":"echo","input":"{}"}}"#, "x".repeat(70_000));
    server
        .request("POST", &runs, Some(ACME), &big)
        .assert_error(413);

    // A body announced far over the limit is refused before it is sent.
    let mut stream = server.connect();
    write!(
        stream,
        "POST {runs} HTTP/1.1\r\nHost: probe\r\nAuthorization: Bearer {ACME}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n"
    )
    .unwrap();
    Answer::read(&mut stream).assert_error(413);

    // Protocol-level refusals in the same JSON shape.
    let many_headers: String = (0..500).map(|i| format!("X-Probe-{i}: {i}\r\n")).collect();
    server
        .send_raw(format!("GET /healthz HTTP/1.1\r\nHost: probe\r\n{many_headers}\r\n").as_bytes())
        .assert_error(431);
    let huge_header = format!("X-Big: {}\r\n", "h".repeat(40_000));
    server
        .send_raw(format!("GET /healthz HTTP/1.1\r\nHost: probe\r\n{huge_header}\r\n").as_bytes())
        .assert_error(431);
    let long_uri = format!("/v1/threads/{}", "u".repeat(20_000));
    server
        .send_raw(format!("GET {long_uri} HTTP/1.1\r\nHost: probe\r\n\r\n").as_bytes())
        .assert_error(414);
    server
        .send_raw(b"\x16\x03\x01\x00\xa5 this is not HTTP\r\n\r\n")
        .assert_error(400);
    server
        .send_raw(b"GET / HTTP/1.1\r\nHost: probe\r\nBad Header\r\n\r\n")
        .assert_error(400);

    server.still_serves();
}

#[test]
fn slow_and_idle_clients_are_closed_and_never_lock_others_out() {
    let server = Server::start();

    // A head that trickles in and stops is cut off after the header timeout.
    let mut trickle = server.connect();
    trickle
        .write_all(b"POST /v1/threads HTTP/1.1\r\nHo")
        .unwrap();
    let answer = Answer::read(&mut trickle);
    assert!(matches!(answer.status, 0 | 408), "{answer:?}");
    if answer.status == 408 {
        answer.assert_error(408);
    }

    // A body that never arrives gets 408.
    let thread = server.new_thread(ACME);
    let mut slow_body = server.connect();
    write!(
        slow_body,
        "POST /v1/threads/{thread}/runs HTTP/1.1\r\nHost: probe\r\nAuthorization: Bearer {ACME}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"agent\":"
    )
    .unwrap();
    Answer::read(&mut slow_body).assert_error(408);

    // 1,000 idle connections against 256 descriptors and a bound of 100 connections: a normal
    // client is still served, and the idle ones are closed after the timeout.
    raise_own_descriptor_limit(4096);
    let idle: Vec<TcpStream> = (0..1000).map(|_| server.connect()).collect();
    server.still_serves();
    let mut closed = 0;
    for mut stream in idle {
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            Ok(0) => closed += 1,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => closed += 1,
            Ok(_) => closed += 1, // an answer (408) before closing counts as closing
            Err(error) => panic!("an idle connection stayed open past {ANSWER_BOUND:?}: {error}"),
        }
    }
    assert_eq!(closed, 1000);
    server.still_serves();
}

/// Lets this test process hold a thousand connections (CI's default soft limit is 1,024).
fn raise_own_descriptor_limit(limit: u32) {
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={limit}:"))
        .status()
        .unwrap();
    assert!(status.success(), "could not raise the descriptor limit");
}
