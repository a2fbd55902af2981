//! Runs that pause for a person: `baton run` exiting with 4 and the commands to decide,
//! `baton runs pending|approve|reject` in later processes on the same SQLite store, and
//! `baton chat` asking about each call.

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

/// The exit code of a run that paused for approval.
const PAUSED: i32 = 4;

/// The refunds topology: every call of its `refund` tool waits for approval.
fn refunds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/approvals.toml")
}

fn baton() -> Command {
    let mut command = cargo_bin_cmd!("baton");
    command.env("NO_COLOR", "1").env_remove("RUST_LOG");
    command
}

/// A fresh SQLite store: the directory that holds it (the store lasts as long as it does) and
/// its URL.
fn sqlite_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("baton.db").display());
    (dir, store)
}

/// What a finished `baton` said: its exit code and standard output and error.
struct Said {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn said(command: &mut Command) -> Said {
    let output = command.output().unwrap();
    Said {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `baton ARGS… --store STORE --file refunds.toml`.
fn on_refunds(store: &str, args: &[&str]) -> Said {
    said(
        baton()
            .args(args)
            .args(["--store", store, "--file"])
            .arg(refunds()),
    )
}

/// `baton run refunds.toml --store STORE MESSAGE`, which pauses; the run's id and what the run
/// printed.
fn paused_run(store: &str, message: &str) -> (String, String) {
    let run = said(
        baton()
            .arg("run")
            .arg(refunds())
            .args(["--store", store, message]),
    );
    assert_eq!(run.code, Some(PAUSED), "{}{}", run.stdout, run.stderr);
    let id = run
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("paused: run "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no paused line in:\n{}", run.stdout))
        .to_owned();
    (id, run.stdout)
}

/// The command printed after `prefix` (`approve refund(call_1_1): `) on a line of `text`.
fn printed_command<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}

/// Runs a command line `baton` printed, through the shell as a user would paste it.
#[cfg(unix)]
fn run_printed(command: &str) -> Said {
    let rest = command
        .strip_prefix("baton ")
        .unwrap_or_else(|| panic!("not a baton command: {command}"));
    said(
        Command::new("sh")
            .arg("-c")
            .arg(format!("\"$BATON\" {rest}"))
            .env("BATON", env!("CARGO_BIN_EXE_baton"))
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG"),
    )
}

#[test]
fn help_documents_the_exit_status_of_a_paused_run() {
    baton()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "  4    a run paused: calls wait for approval",
        ));
    baton()
        .args(["runs", "approve", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--for-run"))
        .stdout(predicate::str::contains(
            "4 when it still (or again) waits for approval",
        ));
}

#[cfg(unix)]
#[test]
fn a_paused_run_is_approved_in_another_process_and_completes() {
    let (_dir, store) = sqlite_store();
    let (run, printed) = paused_run(&store, "refund my duplicate payment");
    assert!(
        printed.contains(
            "[refunds] I'll refund the duplicate payment.\n  ? refund {\"key\":\"A-1042\"} waits \
             for approval (call call_1_1)\n"
        ),
        "{printed}"
    );
    let approve = printed_command(&printed, "approve refund(call_1_1): ");
    let file = refunds().display().to_string();
    assert_eq!(
        approve,
        format!("baton runs approve {run} call_1_1 --file {file} --store {store}")
    );
    assert!(
        printed.contains(&format!(
            "reject refund(call_1_1):  baton runs reject {run} call_1_1 --file {file} --store \
             {store} --reason \"…\"\n"
        )),
        "{printed}"
    );

    let pending = said(baton().args(["runs", "pending", &run, "--store", &store]));
    assert_eq!(pending.code, Some(0), "{}", pending.stderr);
    assert!(
        pending
            .stdout
            .starts_with("call_1_1  refund {\"key\":\"A-1042\"}  step 1\n"),
        "{}",
        pending.stdout
    );

    let approved = run_printed(approve);
    assert_eq!(
        approved.code,
        Some(0),
        "{}{}",
        approved.stdout,
        approved.stderr
    );
    assert!(
        approved.stdout.starts_with(&format!(
            "  ✓ call call_1_1 approved\ncontinuing run {run}: no call waits any more\n"
        )),
        "{}",
        approved.stdout
    );
    assert!(
        approved
            .stdout
            .contains("  ← refund: refunded 49.90 EUR on order A-1042\n"),
        "{}",
        approved.stdout
    );
    assert!(
        approved
            .stdout
            .contains("[refunds] Done: refunded 49.90 EUR on order A-1042.\n"),
        "{}",
        approved.stdout
    );

    // The log tells the story: requested, paused, decided, then the ledger's intent and result.
    let log = said(baton().args(["runs", "show", &run, "--store", &store]));
    for line in [
        "  approval   step 1: refund(call_1_1) {\"key\":\"A-1042\"} requested, no deadline\n",
        "  paused     step 1: waiting for call_1_1\n",
        "  decided    step 1: call_1_1 approved\n",
        "  intent     step 1: refund(call_1_1) {\"key\":\"A-1042\"}\n",
        "  result     step 1: refund(call_1_1) ok in ",
        "  completed  ",
    ] {
        assert!(log.stdout.contains(line), "{line:?} in:\n{}", log.stdout);
    }

    // Decided already: the run is not paused any more.
    let again = run_printed(approve);
    assert_eq!(again.code, Some(1), "{}", again.stdout);
    assert_eq!(
        again.stderr,
        format!(
            "error: run {run} is not waiting for approval: it finished (what it did: baton runs \
             show {run} --file {file} --store {store})\n"
        )
    );
    let pending = said(baton().args(["runs", "pending", &run, "--store", &store]));
    assert_eq!(
        pending.stdout,
        format!("no call of run {run} waits for approval: it finished\n")
    );
}

#[test]
fn a_rejected_call_never_runs_and_the_model_answers_the_reason() {
    let (_dir, store) = sqlite_store();
    let (run, _) = paused_run(&store, "refund my duplicate payment");

    let unknown = on_refunds(&store, &["runs", "reject", &run, "call_9"]);
    assert_eq!(unknown.code, Some(1), "{}", unknown.stdout);
    assert!(
        unknown.stderr.starts_with(&format!(
            "error: run {run} has no call \"call_9\" waiting for approval (its waiting calls: \
             baton runs pending {run} --file "
        )),
        "{}",
        unknown.stderr
    );

    let rejected = on_refunds(
        &store,
        &[
            "runs",
            "reject",
            &run,
            "call_1_1",
            "--reason",
            "not a duplicate",
        ],
    );
    assert_eq!(
        rejected.code,
        Some(0),
        "{}{}",
        rejected.stdout,
        rejected.stderr
    );
    assert!(
        rejected
            .stdout
            .starts_with("  ✗ call call_1_1 rejected: not a duplicate\n"),
        "{}",
        rejected.stdout
    );
    assert!(
        rejected
            .stdout
            .contains("[refunds] I did not refund it: rejected by a person: not a duplicate\n"),
        "{}",
        rejected.stdout
    );
    assert!(!rejected.stdout.contains("← refund"), "{}", rejected.stdout);
    let log = said(baton().args(["runs", "show", &run, "--store", &store]));
    assert!(
        log.stdout
            .contains("  decided    step 1: call_1_1 rejected: not a duplicate\n"),
        "{}",
        log.stdout
    );
    assert!(!log.stdout.contains("  intent "), "{}", log.stdout);
}

#[test]
fn the_calls_of_a_step_are_decided_one_at_a_time() {
    let (_dir, store) = sqlite_store();
    let (run, printed) = paused_run(&store, "refund both orders");
    assert!(
        printed.contains(&format!("paused: run {run} on thread "))
            && printed.contains(" waits for approval of call_1_1, call_1_2\n"),
        "{printed}"
    );

    // The first decision leaves the other call waiting: still paused.
    let first = on_refunds(&store, &["runs", "reject", &run, "call_1_2"]);
    assert_eq!(first.code, Some(PAUSED), "{}{}", first.stdout, first.stderr);
    assert!(
        first.stdout.starts_with(&format!(
            "  ✗ call call_1_2 rejected: rejected by the operator\npaused: run {run} waits for \
             approval of call_1_1\napprove refund(call_1_1): baton runs approve {run} call_1_1 "
        )),
        "{}",
        first.stdout
    );
    let pending = said(baton().args(["runs", "pending", &run, "--store", &store]));
    assert!(
        pending
            .stdout
            .starts_with("call_1_1  refund {\"key\":\"A-1042\"}  step 1\n"),
        "{}",
        pending.stdout
    );
    assert!(!pending.stdout.contains("call_1_2  "), "{}", pending.stdout);

    // The last one takes the run up: the approved call runs, the rejected one does not.
    let last = on_refunds(&store, &["runs", "approve", &run, "call_1_1"]);
    assert_eq!(last.code, Some(0), "{}{}", last.stdout, last.stderr);
    assert!(
        last.stdout
            .contains("  ← refund: refunded 49.90 EUR on order A-1042\n"),
        "{}",
        last.stdout
    );
    assert!(
        last.stdout
            .contains("  ✗ refund: rejected by a person: rejected by the operator\n"),
        "{}",
        last.stdout
    );
    assert!(!last.stdout.contains("A-2001 ("), "{}", last.stdout);
}

#[test]
fn chat_asks_about_each_call_and_reads_the_answers_from_piped_input() {
    baton()
        .arg("chat")
        .arg(refunds())
        .args(["--store", "memory"])
        .write_stdin("refund my duplicate payment\ny\nrefund it again\nmaybe\nn\nnot today\n")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "approve refund {\"key\":\"A-1042\"}? [y]es / [n]o / [a]lways for this run: y\n  ✓ \
             call call_1_1 approved\n",
        ))
        .stdout(predicate::str::contains(
            "[refunds] Done: refunded 49.90 EUR on order A-1042.\n",
        ))
        .stdout(predicate::str::contains(
            "for this run: maybe\nanswer y (yes), n (no) or a (always",
        ))
        .stdout(predicate::str::contains(
            "reason for the model (empty: rejected by the operator): not today\n",
        ))
        .stdout(predicate::str::contains(
            "[refunds] I did not refund it: rejected by a person: not today\n",
        ));
}

#[test]
fn a_chat_that_ends_before_the_answer_leaves_the_run_paused_for_later() {
    let (_dir, store) = sqlite_store();
    let chat = said(
        baton()
            .arg("chat")
            .arg(refunds())
            .args(["--store", &store])
            .write_stdin("refund my duplicate payment\n"),
    );
    assert_eq!(chat.code, Some(PAUSED), "{}{}", chat.stdout, chat.stderr);
    let run = chat
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("paused: run "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no paused line in:\n{}", chat.stdout))
        .to_owned();
    let approved = on_refunds(&store, &["runs", "approve", &run, "call_1_1", "--for-run"]);
    assert_eq!(
        approved.code,
        Some(0),
        "{}{}",
        approved.stdout,
        approved.stderr
    );
    assert!(
        approved
            .stdout
            .starts_with("  ✓ call call_1_1 approved for the run\n"),
        "{}",
        approved.stdout
    );
    assert!(
        approved
            .stdout
            .contains("[refunds] Done: refunded 49.90 EUR on order A-1042.\n"),
        "{}",
        approved.stdout
    );
}

#[test]
fn a_run_paused_in_memory_says_it_cannot_be_decided_later() {
    let run = said(baton().arg("run").arg(refunds()).args([
        "--store",
        "memory",
        "refund my duplicate payment",
    ]));
    assert_eq!(run.code, Some(PAUSED), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("the store is in memory: the paused run ends with this command"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("baton runs approve"), "{}", run.stdout);
}

#[test]
fn deciding_needs_the_topology_and_a_known_run() {
    let (_dir, store) = sqlite_store();
    let no_file = said(baton().args([
        "runs",
        "approve",
        "01a24d30-8f02-76ec-9473-174f69ecb748",
        "call_1_1",
        "--store",
        &store,
    ]));
    assert_eq!(no_file.code, Some(1));
    assert_eq!(
        no_file.stderr,
        "error: deciding a call needs its topology: add --file FILE\n"
    );
    let unknown = on_refunds(
        &store,
        &[
            "runs",
            "approve",
            "01a24d30-8f02-76ec-9473-174f69ecb748",
            "call_1_1",
        ],
    );
    assert_eq!(unknown.code, Some(1));
    assert_eq!(
        unknown.stderr,
        "error: no run 01a24d30-8f02-76ec-9473-174f69ecb748 in the store\n"
    );
    let pending = said(baton().args([
        "runs",
        "pending",
        "01a24d30-8f02-76ec-9473-174f69ecb748",
        "--store",
        &store,
    ]));
    assert_eq!(
        pending.stderr,
        "error: no run 01a24d30-8f02-76ec-9473-174f69ecb748 in the store\n"
    );
}
