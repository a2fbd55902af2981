//! What to type next: the commands that decide a paused run's calls, with the flags the user
//! gave, so that they can be copied as printed.

use super::Exit;
use crate::render::Printer;
use baton_core::actor::SupervisorError;
use baton_core::ids::{RunId, ThreadId};
use baton_core::run::PendingApproval;
use baton_topology::StoreSpec;
use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};

/// The flags that name a run's topology, store and provider again in a later command.
#[derive(Debug, Clone)]
pub(crate) struct NextCommands {
    /// The topology file, as the user wrote it (`None`: the user named only a store).
    file: Option<PathBuf>,
    /// The store the user named instead of the file's.
    store: Option<StoreSpec>,
    /// The provider the user named instead of the agents' own.
    provider: Option<String>,
    /// Whether the store outlives this process (a run paused in memory is lost with it).
    durable: bool,
}

impl NextCommands {
    /// The flags `file`, `store` and `provider` as the user gave them; `used` is the store the
    /// command opened (the file's, unless `store` replaced it).
    pub(crate) fn new(
        file: Option<&Path>,
        store: Option<&StoreSpec>,
        provider: Option<&str>,
        used: &StoreSpec,
    ) -> Self {
        Self {
            file: file.map(Path::to_path_buf),
            store: store.cloned(),
            provider: provider.map(str::to_owned),
            durable: !matches!(used, StoreSpec::Memory | StoreSpec::SqliteMemory),
        }
    }

    /// `baton runs approve RUN CALL` with the flags.
    pub(crate) fn approve(&self, run: RunId, call: &str) -> String {
        format!(
            "baton runs approve {run} {}{}",
            shell_word(call),
            self.flags()
        )
    }

    /// `baton runs reject RUN CALL` with the flags and a reason to fill in.
    pub(crate) fn reject(&self, run: RunId, call: &str) -> String {
        format!(
            "baton runs reject {run} {}{} --reason \"…\"",
            shell_word(call),
            self.flags()
        )
    }

    /// What to do when a decision is refused for `error`: where to look, or how to go on.
    pub(crate) fn instead_of(&self, error: &SupervisorError) -> String {
        match error {
            SupervisorError::UnknownCall { run, .. } => format!(
                " (its waiting calls: baton runs pending {run}{})",
                self.store_flags()
            ),
            SupervisorError::NotPaused { run, .. } => format!(
                " (what it did: baton runs show {run}{})",
                self.store_flags()
            ),
            SupervisorError::ApprovalExpired { run, .. } => format!(
                ": it is rejected as expired when the run goes on (baton runs resume {run}{})",
                self.flags()
            ),
            _ => String::new(),
        }
    }

    /// ` --file FILE --store URL`, as commands that only read the store take them.
    fn store_flags(&self) -> String {
        let mut flags = String::new();
        if let Some(file) = &self.file {
            flags.push_str(&format!(" --file {}", shell_word(&file.to_string_lossy())));
        }
        if let Some(store) = &self.store {
            flags.push_str(&format!(" --store {}", shell_word(&store.to_string())));
        }
        flags
    }

    /// ` --file FILE --store URL --provider NAME`, each only if given (the file as a
    /// placeholder if not: deciding needs it).
    fn flags(&self) -> String {
        let mut flags = String::new();
        if self.file.is_none() {
            flags.push_str(" --file FILE");
        }
        flags.push_str(&self.store_flags());
        if let Some(provider) = &self.provider {
            flags.push_str(&format!(" --provider {}", shell_word(provider)));
        }
        flags
    }

    /// The end of a command whose run paused: which calls wait and how to decide each (or
    /// that they cannot be, in a store that ends with the process). Returns [`Exit::Paused`].
    pub(crate) fn paused(
        &self,
        printer: &mut Printer,
        run: RunId,
        thread: Option<ThreadId>,
        pending: &[PendingApproval],
    ) -> io::Result<Exit> {
        let on_thread = thread.map_or_else(String::new, |thread| format!(" on thread {thread}"));
        let calls: Vec<&str> = pending.iter().map(|p| p.call_id.as_str()).collect();
        printer.note(&format!(
            "paused: run {run}{on_thread} waits for approval of {}",
            calls.join(", ")
        ))?;
        if !self.durable {
            printer.note(
                "the store is in memory: the paused run ends with this command; use a durable \
                 store (--store sqlite:baton.db) to decide its calls later",
            )?;
            return Ok(Exit::Paused);
        }
        self.how_to_decide(printer, run, pending)?;
        Ok(Exit::Paused)
    }

    /// One approve and one reject command per waiting call.
    pub(crate) fn how_to_decide(
        &self,
        printer: &mut Printer,
        run: RunId,
        pending: &[PendingApproval],
    ) -> io::Result<()> {
        for call in pending {
            let what = format!("{}({})", call.tool, call.call_id);
            printer.note(&format!(
                "approve {what}: {}",
                self.approve(run, &call.call_id)
            ))?;
            printer.note(&format!(
                "reject {what}:  {}",
                self.reject(run, &call.call_id)
            ))?;
        }
        Ok(())
    }
}

/// `word` as a shell reads it back: as it is when it has nothing a shell treats specially,
/// else in single quotes.
pub(crate) fn shell_word(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_a_shell_would_split_or_expand_them() {
        assert_eq!(
            shell_word("sqlite:/tmp/a-b/baton.db"),
            "sqlite:/tmp/a-b/baton.db"
        );
        assert_eq!(shell_word("my file.toml"), "'my file.toml'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("$HOME"), "'$HOME'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn the_commands_repeat_the_flags_the_user_gave() {
        let run = RunId::new();
        let store: StoreSpec = "sqlite:my dir/baton.db".parse().unwrap();
        let next = NextCommands::new(
            Some(Path::new("refunds.toml")),
            Some(&store),
            Some("openai"),
            &store,
        );
        assert_eq!(
            next.approve(run, "call_1_1"),
            format!(
                "baton runs approve {run} call_1_1 --file refunds.toml \
                 --store 'sqlite:my dir/baton.db' --provider openai"
            )
        );
        let only_store = NextCommands::new(None, Some(&store), None, &store);
        assert_eq!(
            only_store.reject(run, "c"),
            format!(
                "baton runs reject {run} c --file FILE --store 'sqlite:my dir/baton.db' --reason \"…\""
            )
        );
    }
}
