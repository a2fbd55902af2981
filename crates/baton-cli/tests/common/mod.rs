//! What the command's tests share. Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;

/// `baton serve` as its tests see it.
pub struct Serving {
    /// Its first line (`serving … on http://ADDRESS …`).
    pub first: String,
    /// The address it serves on.
    pub address: String,
    /// The rest of its output, once it has exited.
    pub rest: mpsc::Receiver<Vec<String>>,
}

/// Reads `baton serve`'s first line from `child` (started with a piped stdout) and keeps
/// reading the rest in the background, so the server never blocks on a full pipe.
pub fn serving(child: &mut Child) -> Serving {
    let mut lines = BufReader::new(child.stdout.take().expect("a piped stdout")).lines();
    let first = lines
        .next()
        .expect("baton serve printed a line")
        .expect("its output is text");
    let (tx, rest) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(lines.map_while(Result::ok).collect());
    });
    let address = served_address(&first);
    Serving {
        first,
        address,
        rest,
    }
}

/// The address in `baton serve`'s first line (`serving … on http://ADDRESS …`).
pub fn served_address(first_line: &str) -> String {
    first_line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first_line:?}"))
        .to_owned()
}
