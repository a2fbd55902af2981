//! Opening a store that cannot be opened fails at once, with the database's own reason and the
//! path or server, and leaves what it refused as it was.
//!
//! Each failure is checked not to be the pool's "pool timed out": sqlx's pool retries a failing
//! connection until its acquire timeout (30 s) and then reports only that, so an error that
//! names its reason did not wait for the pool.
#![cfg(any(feature = "sqlite", feature = "postgres"))]

mod common;

/// The error's text, after checking that it names `what` and `why`, and was not a timeout.
fn refused(error: &baton_core::error::StoreError, what: &str, why: &str) -> String {
    let text = error.to_string();
    assert!(text.contains(what), "{text:?} does not name {what:?}");
    assert!(text.contains(why), "{text:?} does not say {why:?}");
    assert!(
        !text.contains("timed out"),
        "{text:?} went through a timeout"
    );
    text
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::refused;
    use baton_core::ids::ThreadId;
    use baton_core::llm::Message;
    use baton_core::memory::{Page, ThreadStore};
    use baton_store::SqliteStore;
    use std::collections::BTreeSet;
    use std::io::Write as _;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    /// What a directory holds: its entries' names and, for each regular file, its length, its
    /// modification time and (if this process may read it) its bytes.
    #[derive(Debug, PartialEq, Eq)]
    struct Contents(BTreeSet<(String, Option<FileState>)>);

    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct FileState {
        len: u64,
        modified: std::time::SystemTime,
        bytes: Option<Vec<u8>>,
    }

    impl Contents {
        fn of(dir: &Path) -> Self {
            let entries = std::fs::read_dir(dir)
                .expect("read the directory")
                .map(|entry| {
                    let path = entry.expect("a directory entry").path();
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    let metadata = std::fs::metadata(&path).expect("metadata");
                    let state = metadata.is_file().then(|| FileState {
                        len: metadata.len(),
                        modified: metadata.modified().expect("modification time"),
                        bytes: std::fs::read(&path).ok(),
                    });
                    (name, state)
                })
                .collect();
            Self(entries)
        }
    }

    /// Opens `path`, expecting a refusal that names the path and `why`, and checks that the
    /// directory holding `path` is as it was (same files, same bytes, no `-wal` or `-shm`).
    async fn open_refused(path: &Path, why: &str) -> String {
        let beside = path.parent().expect("a parent directory");
        let before = Contents::of(beside);
        let error = SqliteStore::open(path)
            .await
            .expect_err("the open should fail");
        let text = refused(&error, &path.display().to_string(), why);
        assert_eq!(Contents::of(beside), before, "the open changed {beside:?}");
        text
    }

    /// A database made by the store, with enough rows to fill several pages, closed.
    async fn real_database(path: &Path) {
        let store = SqliteStore::open(path).await.expect("open");
        let thread = ThreadId::new();
        let messages: Vec<_> = (0..200)
            .map(|i| Arc::new(Message::user(format!("message {i}: {}", "x".repeat(100)))))
            .collect();
        store
            .append(thread, Some(0), &messages)
            .await
            .expect("append");
        store.close().await;
    }

    fn suffixed(path: &Path, suffix: &str) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    #[tokio::test]
    async fn random_bytes_are_not_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("random.db");
        // A fixed pseudo-random sequence (xorshift), two pages long.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let bytes: Vec<u8> = (0..8192)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        std::fs::write(&path, &bytes).unwrap();
        open_refused(&path, "file is not a database").await;
    }

    #[tokio::test]
    async fn a_truncated_database_is_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("truncated.db");
        real_database(&path).await;
        assert!(
            !suffixed(&path, "-wal").exists(),
            "closing checkpoints the log"
        );
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len >= 3 * 4096, "{len} bytes: too few pages to cut");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        open_refused(&path, "database disk image is malformed").await;
    }

    #[tokio::test]
    async fn dev_null_is_refused_as_a_device() {
        let path = Path::new("/dev/null");
        if !path.exists() {
            return;
        }
        let journals = [suffixed(path, "-wal"), suffixed(path, "-shm")];
        let present: Vec<bool> = journals.iter().map(|p| p.exists()).collect();
        let error = SqliteStore::open(path)
            .await
            .expect_err("the open should fail");
        refused(
            &error,
            "/dev/null",
            "it is a character device, not a regular file",
        );
        let after: Vec<bool> = journals.iter().map(|p| p.exists()).collect();
        assert_eq!(after, present, "no journal was left in /dev");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_link_to_dev_null_is_refused_as_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        std::os::unix::fs::symlink("/dev/null", &path).unwrap();
        open_refused(&path, "it is a character device").await;
    }

    #[tokio::test]
    async fn a_directory_is_refused_as_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        std::fs::create_dir(&path).unwrap();
        let text = open_refused(&path, "it is a directory, not a regular file").await;
        assert_eq!(std::fs::read_dir(&path).unwrap().count(), 0, "{text}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        match std::process::Command::new("mkfifo").arg(&path).status() {
            Ok(status) if status.success() => {}
            _ => {
                note("skipped: `mkfifo` could not make a FIFO");
                return;
            }
        }
        open_refused(&path, "it is a FIFO").await;
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_file_without_read_and_write_permission_cannot_be_opened() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.db");
        real_database(&path).await;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::File::open(&path).is_ok() {
            note(
                "a_file_without_read_and_write_permission_cannot_be_opened: skipped, this \
                 process reads files whatever their modes (root?); \
                 a_path_through_a_regular_file_is_unreachable covers a file the system will \
                 not open",
            );
            return;
        }
        let text = open_refused(&path, "unable to open database file").await;
        assert!(text.contains("Permission denied"), "{text}");
    }

    #[tokio::test]
    async fn a_path_through_a_regular_file_is_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-directory");
        std::fs::write(&file, b"a file").unwrap();
        let path = file.join("store.db");
        let error = SqliteStore::open(&path)
            .await
            .expect_err("the open should fail");
        refused(&error, &path.display().to_string(), "Not a directory");
        assert_eq!(std::fs::read(&file).unwrap(), b"a file");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn a_missing_file_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let store = SqliteStore::open(&path).await.expect("open");
        let thread = ThreadId::new();
        let hi = [Arc::new(Message::user("hi"))];
        assert_eq!(store.append(thread, Some(0), &hi).await, Ok(1));
        store.close().await;
        assert!(path.is_file());
        let store = SqliteStore::open(&path).await.expect("open again");
        assert_eq!(store.list(thread, Page::ALL).await.unwrap().len(), 1);
        store.close().await;
    }

    #[tokio::test]
    async fn an_empty_file_is_a_new_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.db");
        std::fs::write(&path, b"").unwrap();
        let store = SqliteStore::open(&path).await.expect("open");
        assert_eq!(store.threads(Page::ALL).await, Ok(vec![]));
        store.close().await;
    }

    /// Says `text` past the test harness's capture, so that it shows when the tests pass.
    fn note(text: &str) {
        let _ = writeln!(std::io::stderr(), "note: {text}");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::common::postgres::server_url;
    use super::refused;
    use baton_store::PostgresStore;

    /// A local port with nothing listening on it.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    }

    #[tokio::test]
    async fn a_refused_connection_says_so_with_the_address() {
        let port = closed_port();
        let url = format!("postgres://baton:hunter2-secret@127.0.0.1:{port}/baton");
        let error = PostgresStore::connect(&url)
            .await
            .expect_err("nothing listens there");
        let text = refused(
            &error,
            &format!("127.0.0.1:{port}/baton as baton"),
            "Connection refused",
        );
        assert!(!text.contains("hunter2-secret"), "{text}");
    }

    crate::needs_postgres! {
        #[tokio::test]
        async fn a_wrong_password_says_so_with_the_address_and_not_the_password() {
            let url = server_url();
            let Some((user_info, rest)) = url.split_once('@') else {
                panic!("BATON_POSTGRES_URL has no user info: cannot make a wrong password")
            };
            let user = user_info
                .rsplit_once(':')
                .map_or(user_info, |(user, _)| user);
            let wrong = format!("{user}:not-the-password-42@{rest}");
            let error = PostgresStore::connect(&wrong)
                .await
                .expect_err("the password is wrong");
            let host = rest.split(['/', '?']).next().unwrap_or(rest);
            let text = refused(&error, host, "password authentication failed");
            assert!(!text.contains("not-the-password-42"), "{text}");
        }
    }

    #[tokio::test]
    async fn a_malformed_url_does_not_show_the_password() {
        let error = PostgresStore::connect("postgres://baton:hunter2-secret@localhost:port/baton")
            .await
            .expect_err("the port is not a number");
        let text = refused(&error, "parsing the PostgreSQL URL", "port");
        assert!(!text.contains("hunter2-secret"), "{text}");
    }
}
