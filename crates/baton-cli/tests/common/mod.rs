//! What the command's tests share.

/// The address in `baton serve`'s first line (`serving … on http://ADDRESS …`).
pub fn served_address(first_line: &str) -> String {
    first_line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first_line:?}"))
        .to_owned()
}
