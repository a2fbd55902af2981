//! Baton topology files.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
