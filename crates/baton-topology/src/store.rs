//! Which store a topology keeps its threads and episodic logs in.

use crate::error::TopologyError;
use baton_core::memory::{InMemoryStore, Store};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// A store, as a topology file or the command line names it.
///
/// | text | store |
/// |---|---|
/// | `memory` | [`InMemoryStore`]: gone when the process ends |
/// | `sqlite:PATH` (the default is `sqlite:baton.db`) | `SqliteStore`, a file (relative paths are relative to the working directory) |
/// | `sqlite::memory:` | `SqliteStore` in memory |
/// | `postgres://…`, `postgresql://…` | `PostgresStore` |
///
/// ```
/// use baton_topology::StoreSpec;
///
/// let spec: StoreSpec = "sqlite:data/baton.db".parse().unwrap();
/// assert_eq!(spec, StoreSpec::Sqlite("data/baton.db".into()));
/// let hidden: StoreSpec = "postgres://baton:s3cret@db/baton".parse().unwrap();
/// assert_eq!(hidden.to_string(), "postgres://baton:***@db/baton");
/// assert!("mysql://db".parse::<StoreSpec>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreSpec {
    /// In memory, in this process.
    Memory,
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// An SQLite database in memory.
    SqliteMemory,
    /// A PostgreSQL database, by URL.
    Postgres(String),
}

impl Default for StoreSpec {
    fn default() -> Self {
        Self::Sqlite(PathBuf::from("baton.db"))
    }
}

/// A store text that names no store Baton knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "store {0:?} is not a store: use \"memory\", \"sqlite:PATH\" (e.g. \"sqlite:baton.db\") or \
     \"postgres://USER@HOST/DATABASE\""
)]
pub struct InvalidStore(pub String);

impl FromStr for StoreSpec {
    type Err = InvalidStore;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text == "memory" {
            return Ok(Self::Memory);
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self::Postgres(text.to_owned()));
        }
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            return match path {
                "" => Err(InvalidStore(text.to_owned())),
                ":memory:" => Ok(Self::SqliteMemory),
                path => Ok(Self::Sqlite(PathBuf::from(path))),
            };
        }
        Err(InvalidStore(text.to_owned()))
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::SqliteMemory => f.write_str("sqlite::memory:"),
            Self::Postgres(url) => f.write_str(&hide_password(url)),
        }
    }
}

impl StoreSpec {
    /// Opens (and, for SQL stores, migrates) the store.
    ///
    /// A store whose backend this build leaves out (the cargo features `sqlite` and
    /// `postgres`) is refused with [`TopologyError::FeatureDisabled`].
    pub async fn open(&self) -> Result<Arc<dyn Store>, TopologyError> {
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        let failed = |source| TopologyError::Store {
            store: self.to_string(),
            source,
        };
        Ok(match self {
            Self::Memory => InMemoryStore::shared(),
            #[cfg(feature = "sqlite")]
            Self::Sqlite(path) => {
                Arc::new(baton_store::SqliteStore::open(path).await.map_err(failed)?)
            }
            #[cfg(feature = "sqlite")]
            Self::SqliteMemory => Arc::new(
                baton_store::SqliteStore::open_in_memory()
                    .await
                    .map_err(failed)?,
            ),
            #[cfg(feature = "postgres")]
            Self::Postgres(url) => Arc::new(
                baton_store::PostgresStore::connect(url)
                    .await
                    .map_err(failed)?,
            ),
            // A backend this build leaves out.
            #[allow(unreachable_patterns)]
            _ => {
                return Err(TopologyError::FeatureDisabled {
                    what: format!("store {self}"),
                    feature: self.missing_feature().unwrap_or_default(),
                });
            }
        })
    }

    /// The cargo feature this store's backend needs and this build lacks, if it does.
    pub(crate) fn missing_feature(&self) -> Option<&'static str> {
        match self {
            Self::Memory => None,
            Self::Sqlite(_) | Self::SqliteMemory if !cfg!(feature = "sqlite") => Some("sqlite"),
            Self::Postgres(_) if !cfg!(feature = "postgres") => Some("postgres"),
            _ => None,
        }
    }
}

/// `url` with the password of its user info, if any, replaced by `***`.
fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_texts_parse() {
        assert_eq!("memory".parse(), Ok(StoreSpec::Memory));
        assert_eq!(
            " sqlite:baton.db ".parse(),
            Ok(StoreSpec::Sqlite("baton.db".into()))
        );
        assert_eq!(
            "sqlite:///tmp/x.db".parse(),
            Ok(StoreSpec::Sqlite("/tmp/x.db".into()))
        );
        assert_eq!("sqlite::memory:".parse(), Ok(StoreSpec::SqliteMemory));
        assert_eq!(
            "postgresql://u@h/d".parse(),
            Ok(StoreSpec::Postgres("postgresql://u@h/d".into()))
        );
        for bad in ["", "sqlite:", "redis://x", "baton.db"] {
            assert!(bad.parse::<StoreSpec>().is_err(), "{bad:?}");
        }
        assert_eq!(StoreSpec::default().to_string(), "sqlite:baton.db");
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            hide_password("postgres://u:p@h:5432/d?x=1"),
            "postgres://u:***@h:5432/d?x=1"
        );
        assert_eq!(hide_password("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(hide_password("postgres://h/d"), "postgres://h/d");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn memory_and_sqlite_stores_open() {
        StoreSpec::Memory.open().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let spec = StoreSpec::Sqlite(dir.path().join("t.db"));
        spec.open().await.unwrap();
        assert!(dir.path().join("t.db").exists());
        let missing = StoreSpec::Sqlite(dir.path().join("no/such/dir/t.db"));
        let Err(error) = missing.open().await else {
            panic!("a store in a missing directory opened");
        };
        let error = error.to_string();
        assert!(
            error.starts_with("cannot open the store sqlite:"),
            "{error}"
        );
    }
}
