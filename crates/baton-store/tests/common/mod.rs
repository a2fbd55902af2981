//! Fixtures of the backend tests: the PostgreSQL server, and the checks of this crate's stores
//! beyond the conformance suite.
#![allow(dead_code)]

pub mod checks;
pub mod postgres;
#[cfg(all(feature = "sqlite", feature = "postgres"))]
pub mod processes;
