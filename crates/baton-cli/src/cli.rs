//! The command line, as `clap` parses it.

use baton_core::ids::{RunId, ThreadId};
use baton_topology::StoreSpec;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// What the exit statuses mean, for `--help`.
const EXIT_STATUSES: &str = "\
Exit status:
  0    done (a run completed)
  1    an error (printed as `error: …`), or a run failed
  2    the command line is invalid
  4    a run paused: calls wait for approval (see `baton runs pending|approve|reject`)
  130  interrupted (Ctrl-C)";

/// The reason a rejection gives the model when the operator gives none.
pub(crate) const DEFAULT_REJECTION: &str = "rejected by the operator";

/// Run, chat with, check and serve Baton topology files.
#[derive(Debug, Parser)]
#[command(name = "baton", version, propagate_version = true, after_help = EXIT_STATUSES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Runs a topology on one message and streams the answer.
    Run(RunArgs),
    /// Talks with a topology on one thread, a line at a time (until end of input or /quit).
    Chat(ChatArgs),
    /// Validates a topology file and the environment variables it names.
    Check(CheckArgs),
    /// Lists and shows the threads of a store.
    #[command(subcommand)]
    Threads(ThreadsCommand),
    /// Shows, resumes and decides runs recorded in a store.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Serves a topology over HTTP.
    Serve(ServeArgs),
}

/// Which topology to run and what to change in it.
#[derive(Debug, Args)]
pub(crate) struct TopologyArgs {
    /// The topology file.
    pub(crate) file: PathBuf,
    /// The store to use instead of the file's: memory, sqlite:PATH or postgres://…
    #[arg(long, value_name = "URL")]
    pub(crate) store: Option<StoreSpec>,
    /// Serves every agent with this provider of the file (e.g. a real model instead of the
    /// scripted one).
    #[arg(long, value_name = "NAME")]
    pub(crate) provider: Option<String>,
}

/// Where a conversation starts: the topology, the agent that takes the first turn, and the
/// thread.
#[derive(Debug, Args)]
pub(crate) struct ConversationArgs {
    #[command(flatten)]
    pub(crate) topology: TopologyArgs,
    /// The agent to start with (default: the file's entry agent).
    #[arg(long, value_name = "NAME")]
    pub(crate) agent: Option<String>,
    /// Continues this thread (default: a new thread).
    #[arg(long, value_name = "ID")]
    pub(crate) thread: Option<ThreadId>,
    /// Also shows what the tool-call ledger records (each call's intent and result).
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) conversation: ConversationArgs,
    /// The message.
    #[arg(required = true, value_name = "MESSAGE")]
    pub(crate) message: Vec<String>,
}

#[derive(Debug, Args)]
// A chat starts every turn, not only the first, with the agent.
#[command(mut_arg("agent", |agent| {
    agent.help("The agent to start each turn with (default: the file's entry agent)")
}))]
pub(crate) struct ChatArgs {
    #[command(flatten)]
    pub(crate) conversation: ConversationArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The topology file.
    pub(crate) file: PathBuf,
}

/// Where to read threads and runs from.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The store: memory, sqlite:PATH or postgres://…
    #[arg(long, value_name = "URL", global = true)]
    pub(crate) store: Option<StoreSpec>,
    /// A topology file whose store to use.
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ThreadsCommand {
    /// Lists the threads, oldest first.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Shows a thread's messages.
    Show {
        /// The thread.
        id: ThreadId,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RunsCommand {
    /// Shows a run's episodic log, one line per episode.
    Show {
        /// The run.
        id: RunId,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Lists the runs that did not finish (interrupted, or in flight elsewhere).
    Unfinished {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Continues an interrupted run from its last completed step (needs --file).
    Resume {
        /// The run.
        id: RunId,
        #[command(flatten)]
        run: GoOnArgs,
    },
    /// Lists the calls of a paused run that wait for approval.
    Pending {
        /// The run.
        id: RunId,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Approves a call of a paused run; deciding its last waiting call continues the run here
    /// (needs --file).
    #[command(after_help = DECISION_EXITS)]
    Approve {
        /// The run.
        id: RunId,
        /// The call (as `baton runs pending` lists it).
        call: String,
        /// Also approves every later call of the same tool in this run.
        #[arg(long)]
        for_run: bool,
        #[command(flatten)]
        run: GoOnArgs,
    },
    /// Rejects a call of a paused run: it never runs and the model is told the reason;
    /// deciding its last waiting call continues the run here (needs --file).
    #[command(after_help = DECISION_EXITS)]
    Reject {
        /// The run.
        id: RunId,
        /// The call (as `baton runs pending` lists it).
        call: String,
        /// Why, for the model.
        #[arg(long, value_name = "TEXT", default_value = DEFAULT_REJECTION)]
        reason: String,
        #[command(flatten)]
        run: GoOnArgs,
    },
}

/// What the exit statuses of a decision mean, for its `--help`.
const DECISION_EXITS: &str = "\
Exit status: 0 when the run then completes, 4 when it still (or again) waits for approval, \
1 when the decision is refused (no such run or call, not paused, expired) or the run fails.";

/// How to go on with a recorded run: its topology, the store and the provider to use.
#[derive(Debug, Args)]
// Going on with a run runs the file's agents, not only reads its store.
#[command(mut_arg("file", |file| {
    file.help("The topology file the run goes on with (and its store, unless --store names one)")
}))]
pub(crate) struct GoOnArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Serves every agent with this provider of the file (as `baton run --provider` did).
    #[arg(long, value_name = "NAME")]
    pub(crate) provider: Option<String>,
    /// Also shows what the tool-call ledger records (each call's intent and result).
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) topology: TopologyArgs,
    /// The address to listen on instead of the bind address in the file's server section.
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<std::net::SocketAddr>,
}
