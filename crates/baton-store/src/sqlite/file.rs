//! What a path must name before SQLite may open it as the store's database, and what the
//! system says when SQLite cannot open a file.

use std::fs::FileType;
use std::io;
use std::path::Path;

/// What was found at a database's path before it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Nothing: SQLite creates the file.
    Nothing,
    /// A regular file (possibly through symbolic links): SQLite reads it and judges its content.
    RegularFile,
}

/// Why a path was refused before SQLite saw it.
#[derive(Debug)]
pub(super) enum Refusal {
    /// The path exists but names something other than a regular file.
    NotRegular(&'static str),
    /// The path's metadata could not be read (a component is not a directory, a directory on
    /// the way may not be searched, …).
    Unreachable(io::Error),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotRegular(kind) => write!(
                f,
                "it is {kind}, not a regular file; an SQLite database is a regular file"
            ),
            Self::Unreachable(error) => write!(f, "{error}"),
        }
    }
}

/// Looks at `path` (following symbolic links) and refuses anything but a regular file or nothing.
///
/// SQLite opens whatever the path names, and only a regular file behaves as a database file:
/// - a character device such as `/dev/null` reads as empty, so SQLite takes it for a new, empty
///   database, and fails only when it creates its journal (`/dev/null-wal`) beside it — or, with
///   the rights to write there, leaves that journal in `/dev`;
/// - a FIFO blocks the open until some other process writes to it;
/// - a directory fails with SQLite's "unable to open database file", which does not say why.
///
/// Refusing them here, before SQLite sees them, says what the path is and touches nothing.
pub(super) fn inspect(path: &Path) -> Result<Found, Refusal> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(Found::RegularFile),
        Ok(metadata) => Err(Refusal::NotRegular(kind(metadata.file_type()))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Found::Nothing),
        Err(error) => Err(Refusal::Unreachable(error)),
    }
}

/// What a file that is not regular is, with its article.
fn kind(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Why the system will not open the existing file at `path` for reading and writing, if it will
/// not: SQLite's `SQLITE_CANTOPEN` ("unable to open database file") keeps the reason to itself.
///
/// Opens without creating or truncating, and closes at once: the file is not changed.
pub(super) fn why_unopenable(path: &Path) -> Option<io::Error> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .err()
}

/// Whether `error` is SQLite's `SQLITE_CANTOPEN`, in any of its extended forms.
pub(super) fn is_cannot_open(error: &sqlx::Error) -> bool {
    /// SQLite's primary result code for "unable to open database file".
    const SQLITE_CANTOPEN: i32 = 14;
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    // sqlx reports extended result codes, whose low byte is the primary code.
    error
        .code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == SQLITE_CANTOPEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_path_is_nothing_and_a_file_is_regular() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        assert_eq!(inspect(&path).unwrap(), Found::Nothing);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(inspect(&path).unwrap(), Found::RegularFile);
    }

    #[test]
    fn a_directory_is_refused_as_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let refusal = inspect(dir.path()).unwrap_err();
        assert!(
            refusal.to_string().starts_with("it is a directory"),
            "{refusal}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_to_a_device_is_refused_as_the_device() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("store.db");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let refusal = inspect(&link).unwrap_err();
        assert!(
            refusal.to_string().starts_with("it is a character device"),
            "{refusal}"
        );
    }
}
