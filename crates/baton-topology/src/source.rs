//! The text of a topology file and the mapping from byte offsets to lines and columns.

use crate::error::{Problem, ProblemKind};
use std::ops::Range;

/// A topology file's name (as given) and text.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    name: String,
    text: String,
}

impl Source {
    pub(crate) fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
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
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
