//! The text of a topology file and the mapping from byte offsets to lines and columns.
//!
//! A file with many problems is located in time linear in its size plus the number of
//! problems: the start of every line and the number of characters before every block of
//! [`BLOCK`] bytes are found once, when the source is made; each offset is then located by
//! a binary search over the line starts and a scan of at most two blocks.

use crate::error::{Problem, ProblemKind};
use std::ops::Range;

/// Bytes per block of the character-count table: the most a column costs to count.
const BLOCK: usize = 256;

/// The UTF-8 byte order mark, which `toml` skips and editors do not show as a column.
const BOM: &str = "\u{feff}";

/// A topology file's name (as given) and text.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    name: String,
    text: String,
    locator: Locator,
}

impl Source {
    pub(crate) fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            name: name.into(),
            locator: Locator::new(&text),
            text,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Line and column (in characters), both from 1, of byte `offset`.
    pub(crate) fn locate(&self, offset: usize) -> (usize, usize) {
        self.locator.locate(&self.text, offset)
    }

    /// The text of `span` as written (empty if it is not within the text).
    pub(crate) fn slice(&self, span: &Range<usize>) -> &str {
        self.text.get(span.clone()).unwrap_or_default()
    }

    /// A problem at the start of `span`.
    pub(crate) fn problem(&self, span: &Range<usize>, kind: ProblemKind) -> Problem {
        let (line, column) = self.locate(span.start);
        Problem {
            file: self.name.clone(),
            line,
            column,
            kind,
        }
    }

    /// A problem with no better place than the top of the file.
    pub(crate) fn problem_at_top(&self, kind: ProblemKind) -> Problem {
        self.problem(&(0..0), kind)
    }
}

/// Where lines start and how many characters come before each block, computed once.
#[derive(Debug, Clone)]
struct Locator {
    /// The byte offset of each line's first byte; the first is 0.
    line_starts: Vec<usize>,
    /// `chars_before_block[i]`: characters in the text's first `i * BLOCK` bytes.
    chars_before_block: Vec<usize>,
    /// Whether the text starts with a byte order mark (not counted as a column).
    bom: bool,
}

impl Locator {
    fn new(text: &str) -> Self {
        #[cfg(test)]
        work::record_build();
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        line_starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let mut chars_before_block = Vec::with_capacity(bytes.len() / BLOCK + 1);
        let mut chars = 0;
        for block in bytes.chunks(BLOCK) {
            chars_before_block.push(chars);
            chars += count_chars(block);
        }
        chars_before_block.push(chars);
        Self {
            line_starts,
            chars_before_block,
            bom: text.starts_with(BOM),
        }
    }

    fn locate(&self, text: &str, offset: usize) -> (usize, usize) {
        #[cfg(test)]
        work::record_locate();
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        // The last line starting at or before `offset`; line_starts[0] = 0 makes it exist.
        let line = self.line_starts.partition_point(|start| *start <= offset);
        let line_start = self.line_starts[line - 1];
        let mut column = self.chars_between(text.as_bytes(), line_start, offset) + 1;
        if line == 1 && self.bom && offset >= BOM.len() {
            column -= 1;
        }
        (line, column)
    }

    /// Characters in `bytes[start..end]`, scanning at most two blocks.
    fn chars_between(&self, bytes: &[u8], start: usize, end: usize) -> usize {
        if end - start <= 2 * BLOCK {
            return scan(&bytes[start..end]);
        }
        self.chars_before(bytes, end) - self.chars_before(bytes, start)
    }

    /// Characters in `bytes[..offset]`, scanning at most one block.
    fn chars_before(&self, bytes: &[u8], offset: usize) -> usize {
        let block = offset / BLOCK;
        self.chars_before_block[block] + scan(&bytes[block * BLOCK..offset])
    }
}

/// Characters in `bytes`, a slice of UTF-8 that may start or end inside a character: each
/// byte that is not a continuation byte starts one.
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| (**b & 0xC0) != 0x80).count()
}

/// [`count_chars`] for locating, which tests measure.
fn scan(bytes: &[u8]) -> usize {
    #[cfg(test)]
    work::record_scan(bytes.len());
    count_chars(bytes)
}

/// How much work locating did on this thread, for tests that check it stays linear.
#[cfg(test)]
pub(crate) mod work {
    use std::cell::Cell;

    thread_local! {
        static BUILDS: Cell<usize> = const { Cell::new(0) };
        static SCANNED: Cell<usize> = const { Cell::new(0) };
        static LOCATES: Cell<usize> = const { Cell::new(0) };
    }

    /// Work done since the last [`reset`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Work {
        /// Line tables built.
        pub(crate) builds: usize,
        /// Offsets located.
        pub(crate) locates: usize,
        /// Bytes scanned to count columns.
        pub(crate) scanned: usize,
    }

    /// The most bytes one location may scan.
    pub(crate) const MAX_SCAN_PER_LOCATE: usize = 2 * super::BLOCK;

    pub(crate) fn reset() {
        BUILDS.set(0);
        SCANNED.set(0);
        LOCATES.set(0);
    }

    pub(crate) fn done() -> Work {
        Work {
            builds: BUILDS.get(),
            locates: LOCATES.get(),
            scanned: SCANNED.get(),
        }
    }

    pub(super) fn record_build() {
        BUILDS.set(BUILDS.get() + 1);
    }

    pub(super) fn record_scan(bytes: usize) {
        SCANNED.set(SCANNED.get() + bytes);
    }

    pub(super) fn record_locate() {
        LOCATES.set(LOCATES.get() + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Line and column the slow, obvious way.
    fn naive(text: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let mut column = before[line_start..].chars().count() + 1;
        if line == 1 && text.starts_with(BOM) && offset >= BOM.len() {
            column -= 1;
        }
        (line, column)
    }

    #[test]
    fn offsets_map_to_lines_and_character_columns() {
        let source = Source::new("t.toml", "a = 1\nname = \"é\" x\n\nz");
        assert_eq!(source.locate(0), (1, 1));
        assert_eq!(source.locate(4), (1, 5));
        assert_eq!(source.locate(6), (2, 1));
        // "é" is two bytes but one column.
        let x = source.text().find('x').unwrap();
        assert_eq!(source.locate(x), (2, 12));
        assert_eq!(source.locate(source.text().len()), (4, 2));
        assert_eq!(source.locate(usize::MAX), (4, 2));
    }

    #[test]
    fn long_lines_of_many_byte_characters_locate_as_the_naive_way_does() {
        let line: String = (0..1500)
            .map(|i| match i % 4 {
                0 => 'a',
                1 => 'é',
                2 => '€',
                _ => '𝄞',
            })
            .collect();
        let text = format!("{BOM}{line}\n\n{line}\nend");
        let source = Source::new("t.toml", text.as_str());
        for offset in (0..=text.len() + 2).step_by(7).chain([3, 4, text.len()]) {
            assert_eq!(
                source.locate(offset),
                naive(&text, offset),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn a_byte_order_mark_is_not_a_column() {
        let source = Source::new("t.toml", format!("{BOM}a = 1\nb"));
        assert_eq!(source.locate(0), (1, 1));
        assert_eq!(source.locate(BOM.len()), (1, 1));
        assert_eq!(source.locate(BOM.len() + 4), (1, 5));
        assert_eq!(source.locate(source.text().len()), (2, 2));
    }

    #[test]
    fn forty_thousand_problems_build_one_table_and_scan_a_bounded_amount_each() {
        // One problem per line, then all of them on one line of 320 kB.
        for (layout, per_line) in [("\n  ", true), (" ", false)] {
            let mut text = String::from(
                "[providers.offline]\nkind = \"scripted\"\n[[agents]]\nname = \"a\"\n\
                 script = [{ text = \"hi\" }]\ntools = [",
            );
            for _ in 0..40_000 {
                text.push_str(layout);
                text.push_str("\"nope\",");
            }
            text.push_str("]\n");
            work::reset();
            let error = crate::Topology::parse("t.toml", text.as_str()).unwrap_err();
            let work = work::done();
            assert_eq!(error.problems().len(), 40_000);
            assert_eq!(work.builds, 1, "{work:?}");
            // Each problem once, and the agent's name for its line.
            assert_eq!(work.locates, 40_001, "{work:?}");
            assert!(
                work.scanned <= work.locates * work::MAX_SCAN_PER_LOCATE,
                "{work:?}"
            );
            if per_line {
                // Less than one pass over the file in all; scanning from the start of the
                // file for each problem would be some 20,000 passes.
                assert!(
                    work.scanned < text.len(),
                    "{work:?} for {} bytes",
                    text.len()
                );
            }
        }
    }

    #[test]
    fn locating_scans_at_most_two_blocks_whatever_the_line_length() {
        let text = "x".repeat(100 * BLOCK);
        work::reset();
        let source = Source::new("t.toml", text.as_str());
        for offset in (0..text.len()).step_by(BLOCK / 3) {
            assert_eq!(source.locate(offset), (1, offset + 1));
        }
        let work = work::done();
        assert_eq!(work.builds, 1);
        assert!(work.locates > 300);
        assert!(
            work.scanned <= work.locates * work::MAX_SCAN_PER_LOCATE,
            "{work:?}"
        );
    }
}
