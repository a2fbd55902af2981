//! A linear pre-scan that refuses text nested deeper than [`MAX_DEPTH`], at the place it
//! goes too deep, before the text reaches `toml`.
//!
//! `toml` refuses keys of 80 or more segments without saying where, and every recursive
//! walk of the parsed values (serde, the JSON conversion, dropping them) would go as deep as
//! the text. Counting here keeps both bounded and the report located. The scan knows just
//! enough TOML to count: strings and comments are skipped, a header counts its segments, a
//! key its dots, and each array or inline table one level.

/// The deepest a topology file may nest: tables of a header, dotted keys, arrays and inline
/// tables each count one level. Topology files need fewer than ten; `toml` itself stops at
/// 80 segments in one key.
pub(crate) const MAX_DEPTH: usize = 64;

/// An open array or inline table.
struct Frame {
    /// An inline table (else an array).
    table: bool,
    /// Whether a key comes next (in an inline table, after `{` or `,`).
    expect_key: bool,
    /// Levels the dots of the current key added.
    key_dots: usize,
}

/// The byte offset where `text` first nests deeper than [`MAX_DEPTH`], if it does.
pub(crate) fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut frames: Vec<Frame> = Vec::new();
    let mut depth = 0;
    // Dots of the current top-level key, and whether the scan is still in that key.
    let mut top_key_dots = 0;
    let mut top_expect_key = true;
    let mut line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'\n' => {
                if frames.is_empty() {
                    depth -= top_key_dots;
                    top_key_dots = 0;
                    top_expect_key = true;
                    line_start = true;
                }
                i += 1;
                continue;
            }
            b'#' => {
                i = end_of_line(bytes, i);
                continue;
            }
            b'"' | b'\'' => {
                i = end_of_string(bytes, i);
                line_start = false;
                continue;
            }
            b'[' if frames.is_empty() && line_start => {
                let (end, segments) = match header(bytes, i) {
                    Ok(header) => header,
                    Err(at) => return Some(at),
                };
                depth = segments;
                i = end;
                line_start = false;
                continue;
            }
            b'[' | b'{' => {
                frames.push(Frame {
                    table: byte == b'{',
                    expect_key: byte == b'{',
                    key_dots: 0,
                });
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            b']' | b'}' => {
                if let Some(frame) = frames.pop() {
                    depth -= 1 + frame.key_dots;
                }
            }
            b',' => {
                if let Some(frame) = frames.last_mut().filter(|f| f.table) {
                    depth -= frame.key_dots;
                    frame.key_dots = 0;
                    frame.expect_key = true;
                }
            }
            b'=' => match frames.last_mut() {
                Some(frame) => frame.expect_key = false,
                None => top_expect_key = false,
            },
            b'.' => {
                let in_key = match frames.last_mut() {
                    Some(frame) if frame.table && frame.expect_key => {
                        frame.key_dots += 1;
                        true
                    }
                    Some(_) => false,
                    None if top_expect_key => {
                        top_key_dots += 1;
                        true
                    }
                    None => false,
                };
                if in_key {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some(i);
                    }
                }
            }
            _ => {}
        }
        line_start = false;
        i += 1;
    }
    None
}

/// Where the header starting at `start` (`[` or `[[`) ends and how many segments it has, or
/// the offset of the dot that makes them too many.
fn header(bytes: &[u8], start: usize) -> Result<(usize, usize), usize> {
    let mut segments = 1;
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' | b']' | b'#' => return Ok((i, segments)),
            b'"' | b'\'' => {
                i = end_of_string(bytes, i);
                continue;
            }
            b'.' => {
                segments += 1;
                if segments > MAX_DEPTH {
                    return Err(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok((i, segments))
}

/// The offset of the newline that ends the line of `i` (or the end of the text).
fn end_of_line(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |n| i + n)
}

/// The offset just after the string that starts with the quote at `start`: basic (`"`,
/// with escapes) or literal (`'`), on one line or multi-line (tripled quotes). An
/// unterminated one-line string ends at its line's end, as `toml` will report.
fn end_of_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let escapes = quote == b'"';
    let triple = bytes[start..].starts_with(&[quote; 3]);
    let mut i = start + if triple { 3 } else { 1 };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if escapes => i += 1,
            b'\n' if !triple => return i,
            b if b == quote => {
                if !triple {
                    return i + 1;
                }
                if bytes[i..].starts_with(&[quote; 3]) {
                    // Up to two more quotes may close a multi-line string: `""""""` ends it
                    // with the content `""`.
                    let run = bytes[i..].iter().take_while(|b| **b == quote).count();
                    return i + run.min(5);
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dotted(segments: usize) -> String {
        vec!["a"; segments].join(".")
    }

    #[test]
    fn files_within_the_limit_pass() {
        let text = format!(
            "x = 1.5 # a.b.c\n[{}]\n[[agents.script]]\nwhen = {{ call = 1 }}\n\
             arguments = {{ a = {{ b = [[1, 2], {{ c.d = \"e.f\" }}] }} }}\n\
             s = \"\"\"\n[[[[\"\"\"\nt = '''{{{{'''\n",
            dotted(MAX_DEPTH)
        );
        assert_eq!(too_deep(&text), None);
        let nested = format!("v = {}{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(too_deep(&nested), None);
    }

    #[test]
    fn the_level_past_the_limit_is_where_it_is_too_deep() {
        let header = format!("x = 1\n[{}]\n", dotted(5000));
        // `[` is at 6; the 64th dot, which opens the 65th segment, is 2 * 64 bytes on.
        assert_eq!(too_deep(&header), Some(6 + 2 * MAX_DEPTH));
        // A key's last segment is its value, not a table: 66 segments are 65 levels.
        let key = format!("{} = 1\n", dotted(MAX_DEPTH + 2));
        assert_eq!(too_deep(&key), Some(2 * MAX_DEPTH + 1));
        assert_eq!(too_deep(&format!("{} = 1\n", dotted(MAX_DEPTH + 1))), None);
        let arrays = format!("v = {}", "[".repeat(5000));
        assert_eq!(too_deep(&arrays), Some(4 + MAX_DEPTH));
        let tables = format!("v = {}", "{ a = ".repeat(5000));
        assert_eq!(too_deep(&tables), Some(4 + 6 * MAX_DEPTH));
        // Header segments, key dots and values add up.
        let mixed = format!("[{}]\n{} = [[1]]\n", dotted(60), dotted(4));
        assert_eq!(too_deep(&mixed), Some(mixed.find("[[1").unwrap() + 1));
    }

    #[test]
    fn strings_and_comments_do_not_count() {
        let inside = format!(
            "a = \"{0}\"\nb = '{0}'\nc = \"\"\"\n{0}\n\"\"\"\n# {0}\n\"{1}\" = 1\n",
            "[".repeat(500),
            ".".repeat(500)
        );
        assert_eq!(too_deep(&inside), None);
    }
}
