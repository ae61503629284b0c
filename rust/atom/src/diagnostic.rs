//! Errors that point into a file, shown the way rustc and cargo show them:
//!
//! ```text
//! atom.toml:3:9: invalid label "9atom": cannot start with: '9'
//!   |
//! 3 | label = "9atom"
//!   |         ^^^^^^^
//!   = help: a label starts with a letter and continues with letters, digits, `_` or `-`
//! ```

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// An error at a position in a text file, with the offending line and a caret under the span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The file as it should be named to the user.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What would be valid, when there is something useful to say.
    pub help: Option<String>,
    /// The text of the offending line (without its newline).
    line_text: String,
    /// How many characters the caret underlines (at least 1).
    width: usize,
}

impl SourceError {
    /// An error about `span` (byte offsets) of `source`, which was read from `path`.
    /// A missing span points at the start of the file.
    pub fn new(
        path: &str,
        source: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let span = span.unwrap_or(0..0);
        let start = floor_char_boundary(source, span.start.min(source.len()));
        let end = floor_char_boundary(source, span.end.clamp(start, source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line_text = source[line_start..line_end].trim_end_matches('\r');
        let column = source[line_start..start].chars().count() + 1;
        let width = source[start..end.min(line_end)].chars().count().max(1);
        SourceError {
            path: path.to_owned(),
            line: source[..start].matches('\n').count() + 1,
            column,
            message: message.into(),
            help: None,
            line_text: line_text.to_owned(),
            width,
        }
    }

    /// Adds a note saying what would be valid.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The first line only: `<path>:<line>:<column>: <message>`.
    pub fn headline(&self) -> String {
        format!(
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.message
        )
    }
}

impl SourceError {
    /// The error of a TOML parser or deserializer, at its span. Multi-line parser messages are
    /// joined into one line.
    pub fn from_toml(path: &str, source: &str, error: &toml::de::Error) -> Self {
        let message = error
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        SourceError::new(path, source, error.span(), message)
    }
}

/// A file that could not be read, or whose content is invalid.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid UTF-8.
    #[error("cannot read {}: it is not valid UTF-8 (invalid byte at offset {offset})", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The offset of the first invalid byte.
        offset: usize,
    },
    /// The content is invalid; the error points into the file.
    #[error("{0}")]
    Invalid(#[from] SourceError),
}

/// Reads a text file, with errors that name it.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    let bytes = std::fs::read(path).map_err(|source| FileError::Read {
        path: path.to_owned(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| FileError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        // Tabs are shown as one space so that the caret lines up.
        let text = self.line_text.replace('\t', " ");
        writeln!(f, "{}", self.headline())?;
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{number} | {text}")?;
        write!(
            f,
            "{gutter} | {}{}",
            " ".repeat(self.column - 1),
            "^".repeat(self.width)
        )?;
        if let Some(help) = &self.help {
            write!(f, "\n{gutter} = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SourceError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_line_and_column_in_characters() {
        let source = "[package]\nlabel = \"ñ9\" # x\n";
        let start = source.find("\"ñ9\"").unwrap();
        let error = SourceError::new(
            "atom.toml",
            source,
            Some(start..start + "\"ñ9\"".len()),
            "bad",
        )
        .with_help("better");
        assert_eq!(
            error.to_string(),
            "atom.toml:2:9: bad\n  |\n2 | label = \"ñ9\" # x\n  |         ^^^^\n  = help: better"
        );
    }

    #[test]
    fn spans_out_of_range_or_inside_a_character_are_clamped() {
        let source = "é";
        let error = SourceError::new("f", source, Some(1..99), "m");
        assert_eq!(error.headline(), "f:1:1: m");
        let error = SourceError::new("f", "", None, "m");
        assert_eq!(error.to_string(), "f:1:1: m\n  |\n1 | \n  | ^");
    }
}
