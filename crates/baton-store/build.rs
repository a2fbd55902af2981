//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the migrations at
//! compile time, and on stable Rust only the files it already knows are tracked.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
