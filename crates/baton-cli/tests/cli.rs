//! The `baton` binary on the example topologies and on broken files.

mod common;

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn baton() -> Command {
    let mut command = cargo_bin_cmd!("baton");
    command.env("NO_COLOR", "1").env_remove("RUST_LOG");
    command
}

/// `baton COMMAND examples/topologies/EXAMPLE --store memory`, for a test to add the rest to.
fn in_memory(command: &str, example: &str) -> Command {
    let mut baton = baton();
    baton
        .arg(command)
        .arg(repo_file(&format!("examples/topologies/{example}")))
        .args(["--store", "memory"]);
    baton
}

/// A fresh SQLite store: the directory that holds it (the store lasts as long as it does) and
/// its URL.
fn sqlite_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("baton.db").display());
    (dir, store)
}

/// Runs `baton` with `args`, expecting success; returns its standard output.
fn stdout_of(args: &[&str]) -> String {
    let output = baton()
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(output).unwrap()
}

/// The id after `prefix` on the line that starts with it.
fn id_after(text: &str, prefix: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
        .to_owned()
}

#[test]
fn check_accepts_the_examples_and_summarizes_them() {
    for (example, agents) in [
        ("support.toml", "3 agents, entry triage"),
        ("research.toml", "3 agents, entry planner"),
    ] {
        let file = repo_file(&format!("examples/topologies/{example}"));
        baton()
            .arg("check")
            .arg(&file)
            .assert()
            .success()
            .stdout(predicate::str::contains(agents))
            .stdout(predicate::str::ends_with("ok\n"));
    }
}

#[test]
fn run_streams_the_support_example_offline() {
    in_memory("run", "support.toml")
        .arg("I was charged twice")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("thread "))
        .stdout(predicate::str::contains(
            "[triage] Thanks for reaching out. I'm passing you to our billing team",
        ))
        .stdout(predicate::str::contains(
            "  ⇒ handoff triage → billing: customer wrote: I was charged twice",
        ))
        .stdout(predicate::str::contains(
            "  → lookup_order {\"key\":\"A-1042\"}",
        ))
        .stdout(predicate::str::contains(
            "  ⇒ handoff billing → refunds: order A-1042 was paid twice",
        ))
        .stdout(predicate::str::contains(
            "[refunds] I've refunded 49.90 EUR for the duplicate payment on order A-1042",
        ))
        .stdout(
            predicate::str::is_match(r"usage: \d+ tokens \(\d+ in, \d+ out\), 5 steps").unwrap(),
        )
        .stdout(predicate::str::contains("continue with: baton run "));
}

#[test]
fn run_streams_the_research_example_offline() {
    in_memory("run", "research.toml")
        .args(["Write", "a", "brief", "on", "Rust's", "release", "history"])
        .assert()
        .success()
        .stdout(predicate::str::contains("  ⇒ handoff planner → researcher: research for: Write a brief on Rust's release history"))
        .stdout(predicate::str::contains("  ← calculator: 8.5"))
        .stdout(predicate::str::contains("  ⇒ handoff researcher → writer"))
        .stdout(predicate::str::contains("[writer] Rust release history (as of 20"));
}

#[test]
fn run_can_start_with_another_agent_but_not_an_unknown_one() {
    in_memory("run", "support.toml")
        .args(["--agent", "billing", "Where is order A-2001?"])
        .assert()
        .success()
        .stdout(predicate::str::contains("[triage]").not())
        .stdout(predicate::str::contains(
            "[billing] Let me look at order A-2001.",
        ));
    in_memory("run", "support.toml")
        .args(["--agent", "sales", "hi"])
        .assert()
        .code(1)
        .stderr(
            "error: the topology has no agent named \"sales\" (agents: triage, billing, refunds)\n",
        );
}

#[test]
fn threads_and_runs_are_kept_in_sqlite_and_can_be_read_back() {
    let (_dir, store) = sqlite_store();
    let file = repo_file("examples/topologies/support.toml");
    let file = file.to_str().unwrap();
    let first = stdout_of(&["run", file, "--store", &store, "hello"]);
    let thread = id_after(&first, "thread ");
    let run = id_after(&first, "run ");
    let second = stdout_of(&[
        "run",
        file,
        "--store",
        &store,
        "--thread",
        &thread,
        "I was charged twice",
    ]);
    assert_eq!(id_after(&second, "thread "), thread);

    let listed = stdout_of(&["threads", "list", "--store", &store]);
    assert!(
        listed.starts_with(&format!("{thread}   13 messages  hello")),
        "{listed}"
    );

    let shown = stdout_of(&["threads", "show", &thread, "--store", &store]);
    assert!(
        shown.starts_with("user: hello\nassistant: Hello! I can help"),
        "{shown}"
    );
    assert!(shown.contains("user: I was charged twice\n"), "{shown}");
    assert!(
        shown.contains("  → lookup_order {\"key\":\"A-1042\"}\n"),
        "{shown}"
    );

    let log = stdout_of(&["runs", "show", &run, "--store", &store]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].starts_with("  0  20") && lines[0].contains("  started    triage on thread "),
        "{log}"
    );
    assert!(lines[1].contains("  step       step 1: "), "{log}");
    assert!(lines[2].contains("  completed  "), "{log}");

    // The topology file names the store too.
    baton()
        .args(["threads", "list", "--file"])
        .arg(fixture("slow.toml"))
        .assert()
        .success()
        .stdout("no threads\n");
    baton()
        .args(["threads", "list"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: name the store with --store URL",
        ));
    baton()
        .args(["runs", "show", &thread, "--store", &store])
        .assert()
        .code(1)
        .stderr(format!(
            "error: run {thread} has no episodes in this store\n"
        ));
}

#[test]
fn chat_talks_on_one_thread_until_quit() {
    in_memory("chat", "support.toml")
        .write_stdin("hello\n\nWhere is order A-2001?\n/quit\nnever read\n")
        .assert()
        .success()
        .stdout(predicate::str::contains("you> [triage] Hello! I can help"))
        .stdout(predicate::str::contains(
            "[billing] Order A-2001 (Rain jacket, 89.00 EUR, paid on 2026-04-30) is shipped, arriving 2026-05-04.",
        ))
        .stdout(predicate::str::contains("never read").not());
}

/// Each broken file under `tests/fixtures/` and exactly what `baton check` says about it.
const BROKEN: &[(&str, &str)] = &[
    (
        "unknown_key.toml",
        "error: {}:6:1: unknown field `modle`, expected one of `name`, `instructions`, `provider`, \
         `model`, `temperature`, `max_tokens`, `tools`, `handoffs`, `max_steps`, \
         `max_history_tokens`, `tool_timeout`, `lease_ttl`, `approval_timeout`, `script`\n",
    ),
    (
        "syntax_error.toml",
        "error: {}:5:15: invalid basic string, expected `\"`\n",
    ),
    (
        "inline_api_key.toml",
        "error: {}:3:11: provider \"openai\" has an inline api_key: secrets stay out of topology \
         files; put it in an environment variable and name that variable with api_key_env\n",
    ),
    (
        "missing_env.toml",
        "error: {}:3:15: provider \"openai\" reads its API key from BATON_TEST_UNSET_KEY, which \
         is not set\n",
    ),
    (
        "several_errors.toml",
        "error: {0}:12:8: agent \"triage\" names no provider and there is no default (defined \
         providers: offline, openai): add provider = \"NAME\" to the agent or at the top of the file\n\
         error: {0}:13:13: agent \"triage\" hands off to \"biling\", which is not defined (defined \
         agents: billing)\n\
         error: {0}:18:12: agent \"billing\" uses provider \"opena\", which is not defined \
         (defined providers: offline, openai)\n\
         error: {0}:19:10: agent \"billing\" uses tool \"lookup_ordr\", which does not exist \
         (available tools: calculator, current_time)\n\
         error: {0}:23:8: agent name \"Refunds Team\" is invalid: use 1 to 64 characters from \
         a-z, 0-9, '_' and '-'\n\
         error: {0}:23:8: agent \"Refunds Team\" names no provider and there is no default \
         (defined providers: offline, openai): add provider = \"NAME\" to the agent or at the \
         top of the file\n",
    ),
];

#[test]
fn broken_files_fail_with_every_problem_and_its_position() {
    for (name, expected) in BROKEN {
        let file = fixture(name);
        let shown = file.display().to_string();
        let expected = expected.replace("{0}", &shown).replace("{}", &shown);
        for command in ["check", "run"] {
            let mut baton = baton();
            baton
                .arg(command)
                .arg(&file)
                .env_remove("BATON_TEST_UNSET_KEY");
            if command == "run" {
                baton.arg("hello");
            }
            baton.assert().code(1).stdout("").stderr(expected.clone());
        }
    }
}

#[test]
fn a_missing_file_and_bad_arguments_are_errors() {
    baton()
        .args(["check", "no/such/file.toml"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot read no/such/file.toml: ",
        ));
    baton()
        .args(["threads", "show", "not-a-uuid", "--store", "memory"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ThreadId must be a UUID"));
    in_memory("run", "support.toml")
        .args(["--provider", "gemini", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "defines no provider named \"gemini\" (defined providers: anthropic, offline, openai)",
        ));
    in_memory("run", "support.toml")
        .args(["--provider", "openai", "hi"])
        .env_remove("OPENAI_API_KEY")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "provider \"openai\" reads its API key from OPENAI_API_KEY, which is not set",
        ));
}

/// `baton` to start in the background: its standard output piped, its errors dropped.
#[cfg(unix)]
fn background() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_baton"));
    command
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    command
}

/// Sends the signal `name` (`-INT`, `-TERM`, …) to `child`.
#[cfg(unix)]
fn signal(child: &std::process::Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
mod interrupted {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::Child;
    use std::sync::mpsc;

    /// A `baton run` on the slow fixture whose answer has started to stream.
    struct SlowRun {
        child: Child,
        /// The rest of its standard output, once it exits.
        rest: mpsc::Receiver<String>,
    }

    fn start_slow_run(store: &str) -> SlowRun {
        let mut child = background()
            .arg("run")
            .arg(fixture("slow.toml"))
            .args(["--store", store, "what is 6 * 7?"])
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen.push_str(&line);
            seen.push('\n');
            if line == "[solver] Result:" {
                break;
            }
        }
        assert!(seen.ends_with("[solver] Result:\n"), "{seen}");
        // Keep reading, so that the child never blocks on a full pipe.
        let (tx, rest) = mpsc::channel();
        std::thread::spawn(move || {
            let lines: Vec<String> = lines.map_while(Result::ok).collect();
            let _ = tx.send(lines.join("\n"));
        });
        SlowRun { child, rest }
    }

    #[test]
    fn ctrl_c_cancels_the_run_and_exits_130() {
        let (_dir, store) = sqlite_store();
        let mut run = start_slow_run(&store);
        signal(&run.child, "-INT");
        let status = run.child.wait().unwrap();
        let rest = run.rest.recv().unwrap();
        assert_eq!(status.code(), Some(130), "{rest}");
        assert!(rest.contains("interrupted: cancelling the run…"), "{rest}");
        let run = id_after(&rest, "cancelled run ");
        let log = stdout_of(&["runs", "show", &run, "--store", &store]);
        assert!(
            log.trim_end()
                .ends_with("failed     cancelled: run cancelled"),
            "{log}"
        );
    }

    #[test]
    fn a_killed_run_is_unfinished_and_resumes_from_its_last_step() {
        let (_dir, store) = sqlite_store();
        let mut run = start_slow_run(&store);
        signal(&run.child, "-KILL");
        run.child.wait().unwrap();
        run.rest.recv().unwrap();
        let killed_at = std::time::Instant::now();
        let unfinished = stdout_of(&["runs", "unfinished", "--store", &store]);
        let (run, state) = unfinished.trim().split_once("  ").unwrap();
        let run = run.to_owned();
        assert_eq!(run.len(), 36, "{unfinished}");
        // The dead process's lease still holds the run: resuming it now is refused.
        assert!(state.starts_with("in flight: driven by "), "{unfinished}");
        let file = fixture("slow.toml");
        let refused = baton()
            .args(["runs", "resume", &run, "--store", &store, "--file"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{stderr}");
        assert!(stderr.contains("is being driven elsewhere"), "{stderr}");
        // The lease (3 s, see the fixture) ends at most that long after the kill.
        std::thread::sleep(
            std::time::Duration::from_millis(3200).saturating_sub(killed_at.elapsed()),
        );
        assert_eq!(
            stdout_of(&["runs", "unfinished", "--store", &store]),
            format!("{run}  abandoned: resumable\n")
        );
        let resumed = stdout_of(&[
            "runs",
            "resume",
            &run,
            "--store",
            &store,
            "--file",
            file.to_str().unwrap(),
        ]);
        assert!(
            resumed.starts_with(&format!("resuming run {run}\n")),
            "{resumed}"
        );
        assert!(resumed.contains("42, computed slowly."), "{resumed}");
        assert!(
            !resumed.contains("→ calculator"),
            "the tool did not run again: {resumed}"
        );
        assert_eq!(
            stdout_of(&["runs", "unfinished", "--store", &store]),
            "no unfinished runs\n"
        );
    }
}

#[cfg(unix)]
mod served {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    /// Sends one HTTP/1.1 request and returns the status line and the body.
    fn request(
        address: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (String, String) {
        let mut stream = TcpStream::connect(address).unwrap();
        let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_owned(), body.to_owned())
    }

    #[test]
    fn serve_answers_tenants_over_http_until_terminated() {
        let mut child = background()
            .arg("serve")
            .arg(fixture("server.toml"))
            .env("BATON_TEST_TOKEN", "t0ken-for-tests")
            .spawn()
            .unwrap();
        let common::Serving {
            first,
            address,
            rest,
        } = common::serving(&mut child);
        assert!(first.starts_with("serving "), "{first}");
        assert!(first.ends_with("(agents: greeter; tenants: 1)"), "{first}");

        assert_eq!(
            request(&address, "GET", "/healthz", None, "").0,
            "HTTP/1.1 200 OK"
        );
        assert_eq!(
            request(&address, "POST", "/v1/threads", None, "").0,
            "HTTP/1.1 401 Unauthorized"
        );
        let (status, body) = request(&address, "POST", "/v1/threads", Some("t0ken-for-tests"), "");
        assert_eq!(status, "HTTP/1.1 201 Created", "{body}");
        let thread: serde_json::Value = serde_json::from_str(&body).unwrap();
        let path = format!("/v1/threads/{}/runs", thread["id"].as_str().unwrap());
        let (status, body) = request(
            &address,
            "POST",
            &path,
            Some("t0ken-for-tests"),
            r#"{"agent": "greeter", "input": "hi"}"#,
        );
        assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
        let run: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(run["output"], "Hello from the server!");

        signal(&child, "-TERM");
        let rest = rest.recv().unwrap();
        assert!(child.wait().unwrap().success(), "{rest:?}");
        assert!(
            rest.last().is_some_and(|l| l.starts_with("stopped")),
            "{rest:?}"
        );
    }

    #[test]
    fn serve_needs_the_tenants_tokens() {
        baton()
            .arg("serve")
            .arg(fixture("server.toml"))
            .env_remove("BATON_TEST_TOKEN")
            .assert()
            .code(1)
            .stderr(format!(
                "error: {}:17:13: tenant \"acme\" reads its token from BATON_TEST_TOKEN, which is not set\n",
                fixture("server.toml").display()
            ));
    }
}
