//! Writes: the statements of one transaction, and how each backend runs them.
//!
//! A [`Write`] is a list of [`Statement`]s that commit together, each numbering its parameters
//! from `$1`. Each backend runs it with as few round trips as its driver allows:
//!
//! - **SQLite** runs the whole write as one script, `BEGIN IMMEDIATE; …; COMMIT`, in a single
//!   call. sqlx runs every SQLite connection on a thread of its own, and each call is a round
//!   trip to that thread — two context switches, and a wait for a free core under load — which
//!   costs more than the statements themselves. The parameters are renumbered to follow each
//!   other, since sqlx binds `$n` across the whole script. (sqlx calls several statements in one
//!   prepared query a SQLite peculiarity it may drop, launchbadge/sqlx#3108; SQLite would then
//!   run writes as [`Batching::Statements`], the same statements one call each.)
//! - **PostgreSQL** takes one statement with parameters per message of its protocol, so the
//!   statements run one after another in a transaction; a write of one statement runs alone,
//!   in the transaction PostgreSQL gives every statement.
//!
//! A script cannot look at what its first statement returned before the next ones run, so the
//! statements of a write carry their own conditions: the first decides, and returns a row when
//! it decides to write; the others write only if it did; a last one reports why it did not (see
//! [`super::commit`]). A script runs them all. PostgreSQL, which answers each statement before
//! the next is sent, runs either the rest or the report.
//!
//! A script stops at its first failing statement, inside its transaction. So a script runs in a
//! task of its own, which rolls a failed script back before the connection goes back to the
//! pool, and finishes even when the caller stops waiting: a script cut short would leave its
//! transaction, and the database's write lock, open on a pooled connection.

use super::connections::Writer;
use super::{Dialect, Failure};
use baton_core::error::StoreError;
use futures::TryStreamExt as _;
use sqlx::any::{Any, AnyArguments, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{AnyPool, Either, Executor as _};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

/// How the statements of a write reach the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batching {
    /// All of them in one script, in one call.
    Script,
    /// One statement per call, in a transaction.
    Statements,
}

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

    /// The statement's text.
    #[cfg(test)]
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// The statement as a query with its values bound.
    fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        bind_all(sqlx::query(&self.sql), &self.values)
    }
}

/// Binds `values`, in order, after the parameters `query` already has.
fn bind_all<'q>(
    mut query: Query<'q, Any, AnyArguments<'q>>,
    values: impl IntoIterator<Item = &'q Value>,
) -> Query<'q, Any, AnyArguments<'q>> {
    for value in values {
        query = match value {
            Value::Text(text) => query.bind(text.as_deref()),
            Value::Int(int) => query.bind(*int),
            Value::Bool(value) => query.bind(*value),
        };
    }
    query
}

/// What the statements of a write see of other transactions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// Each statement sees what committed before it started (PostgreSQL's read committed): the
    /// writes whose first statement locks what the others depend on.
    #[default]
    PerStatement,
    /// Every statement sees the database as the write's first statement saw it, and a write that
    /// changes a row another transaction changed since fails (to be run again): the writes whose
    /// statements decide on rows that their first statement does not lock.
    OneSnapshot,
}

/// Statements that commit together, in order.
#[derive(Debug, Default)]
pub(crate) struct Write {
    statements: Vec<Statement>,
    /// For a write whose first statement decides: the read that reports why it wrote nothing.
    report: Option<Statement>,
    isolation: Isolation,
}

impl Write {
    /// An empty write whose statements see the database as `isolation` says.
    pub(crate) fn with(isolation: Isolation) -> Self {
        Self {
            isolation,
            ..Self::default()
        }
    }

    /// Adds a statement after the others.
    pub(crate) fn push(&mut self, statement: Statement) {
        self.statements.push(statement);
    }

    /// Makes the first statement the one that decides: it returns a row when it decides to
    /// write, and when it returns none, `report` tells why. The other statements must then write
    /// nothing on their own, and `report` must only read: a script runs them all, while
    /// PostgreSQL runs either the rest or the report.
    pub(crate) fn report_refusals_with(&mut self, report: Statement) {
        self.report = Some(report);
    }

    /// The statements, in order, the report last.
    #[cfg(test)]
    pub(crate) fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.statements.iter().chain(&self.report)
    }

    /// The write as one SQLite script, opened by `begin`: each statement's parameters numbered
    /// after those of the statements before it.
    fn script(&self, begin: &str) -> String {
        let all = || self.statements.iter().chain(&self.report);
        let length = all().map(|s| s.sql.len() + 2).sum::<usize>();
        let mut script = String::with_capacity(begin.len() + length + 16);
        script.push_str(begin);
        let mut offset = 0;
        for statement in all() {
            script.push_str(";\n");
            renumber(&statement.sql, offset, &mut script);
            offset += statement.values.len();
        }
        script.push_str(";\nCOMMIT");
        script
    }

    /// Every statement's values, in the order of the script's parameters.
    fn values(&self) -> impl Iterator<Item = &Value> {
        self.statements
            .iter()
            .chain(&self.report)
            .flat_map(|s| &s.values)
    }
}

/// Appends `sql` to `out` with every parameter `$n` written `$(n + offset)`.
///
/// The statements are the engine's own, with no `$` inside literals.
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut rest = sql;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..=dollar]);
        rest = &rest[dollar + 1..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        match rest[..digits].parse::<usize>() {
            // Writing to a String cannot fail.
            Ok(n) => drop(write!(out, "{}", n + offset)),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
}

/// Runs `write` as one transaction; the rows its statements returned, in order.
pub(crate) async fn run(
    pool: &AnyPool,
    writer: &Writer,
    dialect: &'static Dialect,
    write: &Arc<Write>,
) -> Result<Vec<AnyRow>, Failure> {
    match dialect.batching {
        Batching::Script => {
            run_script(pool.clone(), writer.clone(), dialect, Arc::clone(write)).await
        }
        Batching::Statements => run_statements(pool, dialect, write).await,
    }
}

/// Runs `write` as one script, in a task that sees it to its end.
async fn run_script(
    pool: AnyPool,
    writer: Writer,
    dialect: &'static Dialect,
    write: Arc<Write>,
) -> Result<Vec<AnyRow>, Failure> {
    let script = tokio::spawn(async move {
        match writer {
            Writer::Pooled => {
                let conn = pool.acquire().await?;
                run_script_on(conn, dialect, &write).await.1
            }
            Writer::Kept(slot) => {
                let mut slot = slot.lock_owned().await;
                let conn = match slot.take() {
                    Some(conn) => conn,
                    None => pool.acquire().await?,
                };
                let (conn, result) = run_script_on(conn, dialect, &write).await;
                *slot = conn;
                result
            }
        }
    });
    match script.await {
        Ok(result) => result.map_err(Failure::Sql),
        Err(error) => Err(Failure::Store(StoreError::Backend(format!(
            "the {} write did not finish: {error}",
            dialect.name
        )))),
    }
}

/// Runs `write` as one script on `conn`; the connection back (unless it had to be closed), and
/// the rows.
async fn run_script_on(
    mut conn: PoolConnection<Any>,
    dialect: &Dialect,
    write: &Write,
) -> (
    Option<PoolConnection<Any>>,
    Result<Vec<AnyRow>, sqlx::Error>,
) {
    let script = write.script(dialect.begin(write.isolation));
    let query = bind_all(sqlx::query(&script), write.values());
    let mut results = conn.fetch_many(query);
    // Each statement that completes reports its result; the first is the transaction's
    // beginning.
    let mut began = false;
    let mut rows = Vec::new();
    let error = loop {
        match results.try_next().await {
            Ok(Some(Either::Left(_))) => began = true,
            Ok(Some(Either::Right(row))) => rows.push(row),
            Ok(None) => {
                drop(results);
                return (Some(conn), Ok(rows));
            }
            Err(error) => break error,
        }
    };
    drop(results);
    if began && let Err(rollback) = conn.execute("ROLLBACK").await {
        // Closed rather than handed to the next write inside a transaction.
        tracing::warn!(
            backend = dialect.name,
            error = %rollback,
            "cannot roll back a failed write; closing its connection"
        );
        conn.close_on_drop();
        return (None, Err(error));
    }
    (Some(conn), Err(error))
}

/// Runs the statements of `write` one after another in a transaction (or alone, for one): all
/// of them, or, when the first decides not to write, its report instead of the rest.
async fn run_statements(
    pool: &AnyPool,
    dialect: &Dialect,
    write: &Write,
) -> Result<Vec<AnyRow>, Failure> {
    let (first, rest) = match (write.statements.as_slice(), &write.report) {
        ([statement], None) => return Ok(statement.query().fetch_all(pool).await?),
        ([first, rest @ ..], _) => (first, rest),
        ([], _) => return Ok(Vec::new()),
    };
    let mut tx = pool.begin_with(dialect.begin(write.isolation)).await?;
    let mut rows = first.query().fetch_all(&mut *tx).await?;
    let next: Vec<&Statement> = match &write.report {
        Some(report) if rows.is_empty() => vec![report],
        _ => rest.iter().collect(),
    };
    for statement in next {
        rows.extend(statement.query().fetch_all(&mut *tx).await?);
    }
    tx.commit().await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbering_shifts_every_parameter() {
        let mut out = String::new();
        renumber("SELECT $1, $2 WHERE $10 = $1", 3, &mut out);
        assert_eq!(out, "SELECT $4, $5 WHERE $13 = $4");
    }

    #[test]
    fn a_script_numbers_parameters_across_statements() {
        let mut write = Write::default();
        write.push(
            Statement::new("UPDATE a SET x = $1 WHERE id = $2")
                .bind(1_i64)
                .bind("a"),
        );
        write.push(Statement::new("DELETE FROM b WHERE id = $1").bind("b"));
        assert_eq!(
            write.script("BEGIN IMMEDIATE"),
            "BEGIN IMMEDIATE;\nUPDATE a SET x = $1 WHERE id = $2;\nDELETE FROM b WHERE id = $3;\nCOMMIT"
        );
        let values: Vec<_> = write.values().cloned().collect();
        assert_eq!(values, [Value::from(1_i64), "a".into(), "b".into()]);
    }
}
