//! Writes: the statements that commit together, and how they run.
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
//! A [`Write`] may hold several statements, each numbering its parameters from `$1`: they run
//! as an ordinary sqlx transaction on one connection (the dialect's `BEGIN`, `BEGIN
//! IMMEDIATE` on SQLite; the statements; `COMMIT`), and the report, if the first statement
//! returned no row, instead of the rest.
//!
//! A write of several statements that fails or is cancelled midway is rolled back: sqlx's
//! transaction rolls back when it is dropped uncommitted, before its connection runs anything
//! else. A write of one statement is the database's to finish once sent: it commits whole or
//! not at all, and a caller that stopped waiting for it may not hear which (a commit retried
//! after that is refused as already committed).

use super::Dialect;
use super::retry::Failure;
use sqlx::any::{Any, AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{AnyConnection, Connection as _};
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

/// Statements that commit together, in order.
#[derive(Debug, Default)]
pub(crate) struct Write {
    statements: Vec<Statement>,
    /// For a write whose first statement decides: the read that reports why it wrote nothing.
    report: Option<Statement>,
}

impl Write {
    /// Adds a statement after the others.
    pub(crate) fn push(&mut self, statement: Statement) {
        self.statements.push(statement);
    }

    /// Makes the first statement the one that decides: it returns a row when it decides to
    /// write, and when it returns none, `report` runs instead of the rest and tells why. The
    /// other statements still check the first one's mark, so that each says on its own what it
    /// writes; `report` must only read.
    pub(crate) fn report_refusals_with(&mut self, report: Statement) {
        self.report = Some(report);
    }

    /// The statements, in order, the report last.
    #[cfg(test)]
    pub(crate) fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.statements.iter().chain(&self.report)
    }
}

/// Runs `write` as one transaction on `conn`; the rows its statements returned, in order.
pub(crate) async fn run(
    conn: &mut AnyConnection,
    dialect: &Dialect,
    write: &Write,
) -> Result<Vec<AnyRow>, Failure> {
    let (first, rest) = match (write.statements.as_slice(), &write.report) {
        // On SQLite too under the write lock from its start: a statement that writes opens a
        // write transaction before it reads.
        ([statement], None) => {
            return Ok(statement.query().fetch_all(&mut *conn).await?);
        }
        // The statement decides and writes alone; when it writes nothing, the report reads why,
        // after it. What it reads may have moved on since (another writer committed), which the
        // report's reader tells from a refusal (see the engine's `refusal`).
        ([statement], Some(report)) => {
            let rows = statement.query().fetch_all(&mut *conn).await?;
            if !rows.is_empty() {
                return Ok(rows);
            }
            return Ok(report.query().fetch_all(&mut *conn).await?);
        }
        ([first, rest @ ..], _) => (first, rest),
        ([], _) => return Ok(Vec::new()),
    };
    let mut tx = conn.begin_with(dialect.begin_write).await?;
    let mut rows = first.query().fetch_all(&mut *tx).await?;
    let next: &[Statement] = match &write.report {
        Some(report) if rows.is_empty() => std::slice::from_ref(report),
        _ => rest,
    };
    for statement in next {
        rows.extend(statement.query().fetch_all(&mut *tx).await?);
    }
    tx.commit().await?;
    Ok(rows)
}
