//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the migrations at
//! compile time, and on stable Rust only the files it already knows are tracked.
//!
//! Also sets `cfg(baton_postgres)` when the tests have a PostgreSQL server to run against
//! (`BATON_POSTGRES_URL`), or must have one (`CI=true`): without it, the tests that need the
//! server are ignored, with the reason, instead of passing without running.

fn main() {
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rerun-if-env-changed=BATON_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rustc-check-cfg=cfg(baton_postgres)");
    let url = std::env::var("BATON_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    let ci = std::env::var("CI").is_ok_and(|ci| ci == "true");
    if url || ci {
        println!("cargo::rustc-cfg=baton_postgres");
    }
}
