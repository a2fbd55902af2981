//! Writes: one statement each, and how they run.
//!
//! Every write the store makes is one statement (see [`super::commit`] and [`super::leases`]):
//! it runs alone, in the transaction the database gives every statement (its triggers and its
//! `WITH` parts included), in one call; on SQLite still under the write lock from its start,
//! since a statement that writes takes the lock before it reads. sqlx prepares each statement
//! once per connection and keeps it in the connection's statement cache, so a write on a
//! connection kept for writes (SQLite, see [`super::connections`]) parses nothing after its
//! first run.
//!
//! A write's statement decides, and returns a row when it decides to write; when it returns
//! none, the write's report, a read, runs after it and tells why it wrote nothing.
//!
//! A write is the database's to finish once sent: it commits whole or not at all, and a caller
//! that stopped waiting for it may not hear which (a commit retried after that is refused as
//! already committed).

use super::retry::Failure;
use sqlx::AnyConnection;
use sqlx::any::{Any, AnyArguments, AnyRow};
use sqlx::query::Query;
use std::borrow::Cow;

/// A value for one parameter of a statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// Text, or a NULL of text type.
    Text(Option<String>),
    /// A 64-bit integer, or a NULL of that type.
    Int(Option<i64>),
    /// A boolean (an integer 0 or 1 on SQLite).
    Bool(bool),
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Self::Text(Some(text))
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Self::Text(Some(text.to_owned()))
    }
}

impl From<Option<String>> for Value {
    fn from(text: Option<String>) -> Self {
        Self::Text(text)
    }
}

impl From<Option<&str>> for Value {
    fn from(text: Option<&str>) -> Self {
        Self::Text(text.map(str::to_owned))
    }
}

impl From<i64> for Value {
    fn from(int: i64) -> Self {
        Self::Int(Some(int))
    }
}

impl From<Option<i64>> for Value {
    fn from(int: Option<i64>) -> Self {
        Self::Int(int)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

/// One SQL statement and the values of its parameters `$1, $2, …`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    sql: Cow<'static, str>,
    values: Vec<Value>,
}

impl Statement {
    /// The statement `sql`, with no values bound yet.
    pub(crate) fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            values: Vec::new(),
        }
    }

    /// Binds the next parameter.
    #[must_use]
    pub(crate) fn bind(mut self, value: impl Into<Value>) -> Self {
        self.values.push(value.into());
        self
    }

    /// How many parameters are bound so far: the next is `$` this plus one.
    pub(crate) fn bound(&self) -> usize {
        self.values.len()
    }

    /// The statement with its text rewritten by `rewrite` (given the text), its values kept.
    #[must_use]
    pub(crate) fn rewritten(self, rewrite: impl FnOnce(&str) -> String) -> Self {
        Self {
            sql: rewrite(&self.sql).into(),
            values: self.values,
        }
    }

    /// The statement's text.
    #[cfg(test)]
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// The statement as a query with its values bound.
    fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        self.values
            .iter()
            .fold(sqlx::query(&self.sql), |query, value| match value {
                Value::Text(text) => query.bind(text.as_deref()),
                Value::Int(int) => query.bind(*int),
                Value::Bool(value) => query.bind(*value),
            })
    }
}

/// A write: one statement that decides, and the read that reports why it wrote nothing.
#[derive(Debug)]
pub(crate) struct Write {
    statement: Statement,
    /// The read that reports why the statement wrote nothing, when it returns no row.
    report: Option<Statement>,
}

impl Write {
    /// A write of `statement`.
    pub(crate) const fn new(statement: Statement) -> Self {
        Self {
            statement,
            report: None,
        }
    }

    /// Makes `statement` the one that decides: it returns a row when it writes, and when it
    /// returns none, `report` runs after it and tells why; `report` must only read.
    #[must_use]
    pub(crate) fn reporting_refusals_with(mut self, report: Statement) -> Self {
        self.report = Some(report);
        self
    }

    /// The statement, then the report.
    #[cfg(test)]
    pub(crate) fn statements(&self) -> impl Iterator<Item = &Statement> {
        std::iter::once(&self.statement).chain(&self.report)
    }
}

/// Runs `write` on `conn`: its statement alone, in the transaction the database gives every
/// statement, then, if it returned no row, its report. What the report reads may have moved on
/// since (another writer committed), which its reader tells from a refusal (see the engine's
/// `refusal`). The rows returned.
pub(crate) async fn run(conn: &mut AnyConnection, write: &Write) -> Result<Vec<AnyRow>, Failure> {
    let rows = write.statement.query().fetch_all(&mut *conn).await?;
    match &write.report {
        Some(report) if rows.is_empty() => Ok(report.query().fetch_all(&mut *conn).await?),
        _ => Ok(rows),
    }
}
