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
    /// The path is not a regular file (a symlink, FIFO, socket, device or directory), so it is
    /// not read: a symlink could show another file's content, a FIFO could block forever.
    #[error("{} is {kind}: {} must be a regular file inside the {}{}", path.display(), role_of(path).0, role_of(path).1, kind.advice())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        kind: FileKind,
    },
    /// The file is larger than [`MAX_FILE_SIZE`].
    #[error("{} is {size} bytes long, more than the {limit} bytes a file read by atom may have", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size (at least, when it grew while being read).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The content is invalid; the error points into the file.
    #[error("{0}")]
    Invalid(#[from] SourceError),
}

/// What a path that is not a regular file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A symbolic link.
    Symlink,
    /// A directory.
    Directory,
    /// A FIFO (named pipe).
    Fifo,
    /// A Unix socket.
    Socket,
    /// A block device.
    BlockDevice,
    /// A character device.
    CharDevice,
    /// Anything else.
    Other,
}

impl FileKind {
    /// The kind of a file type that is not a regular file.
    pub fn of(file_type: std::fs::FileType) -> FileKind {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_symlink() {
            FileKind::Symlink
        } else if file_type.is_dir() {
            FileKind::Directory
        } else if file_type.is_fifo() {
            FileKind::Fifo
        } else if file_type.is_socket() {
            FileKind::Socket
        } else if file_type.is_block_device() {
            FileKind::BlockDevice
        } else if file_type.is_char_device() {
            FileKind::CharDevice
        } else {
            FileKind::Other
        }
    }

    fn advice(self) -> &'static str {
        match self {
            FileKind::Symlink => " (replace the link with a copy of the file)",
            _ => "",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Symlink => "a symlink",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::Socket => "a socket",
            FileKind::BlockDevice => "a block device",
            FileKind::CharDevice => "a character device",
            FileKind::Other => "not a regular file",
        })
    }
}

/// What the file at `path` is to atom, and where it must live: `("an atom's lock", "atom")`.
fn role_of(path: &Path) -> (&'static str, &'static str) {
    match path.file_name().and_then(|n| n.to_str()) {
        Some("atom.toml") => ("an atom's manifest", "atom"),
        Some("atom.lock") => ("an atom's lock", "atom"),
        Some("ekala.toml") => ("a set's ekala.toml", "repository"),
        _ => ("a file atom reads", "atom"),
    }
}

/// Reads a small file that git or the atom store writes (a loose ref, a cache record) in as few
/// system calls as its size allows: one `read` into a 4 KiB buffer tells a shorter regular file
/// whole (a short read of a regular file is its end), where [`std::fs::read`] asks for its size
/// first and reads once more to see the end. Longer files are read on to their end, up to
/// [`MAX_FILE_SIZE`].
pub(crate) fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    const FIRST: usize = 4096;
    let mut file = std::fs::File::open(path)?;
    let mut bytes = vec![0; FIRST];
    let n = loop {
        match file.read(&mut bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    bytes.truncate(n);
    if n == FIRST {
        file.take(MAX_FILE_SIZE).read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

/// The largest file atom reads itself (manifests, locks): 16 MiB.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// Reads a text file that atom reads itself (`atom.toml`, `atom.lock`, `ekala.toml`), with errors
/// that name it.
///
/// The file must be a regular file: it is opened with `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC` and
/// checked with `fstat` on the open descriptor, so a symlink, FIFO, socket, device or directory is
/// refused ([`FileError::NotRegular`]) without following it or blocking on it; a file larger
/// than [`MAX_FILE_SIZE`] is refused too ([`FileError::TooLarge`]).
pub fn read_text(path: &Path) -> Result<String, FileError> {
    let bytes = read_regular(path)?;
    String::from_utf8(bytes).map_err(|e| FileError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// [`read_text`] for a file that may be absent: `None` when nothing is at `path` (a dangling
/// symlink is something, and refused).
pub fn read_text_if_present(path: &Path) -> Result<Option<String>, FileError> {
    match read_text(path) {
        Err(FileError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        other => other.map(Some),
    }
}

/// Whether anything (a file, a directory, even a dangling symlink) is at `path`.
pub fn is_present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn read_regular(path: &Path) -> Result<Vec<u8>, FileError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;

    let read_error = |source| FileError::Read {
        path: path.to_owned(),
        source,
    };
    let not_regular = |kind| FileError::NotRegular {
        path: path.to_owned(),
        kind,
    };
    // Refuse what is visibly not a regular file before opening it: opening a device can have
    // effects of its own. The descriptor is checked again below, which is what counts.
    let seen = std::fs::symlink_metadata(path).map_err(read_error)?;
    if !seen.file_type().is_file() {
        return Err(not_regular(FileKind::of(seen.file_type())));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| {
            // O_NOFOLLOW fails with ELOOP on a symlink (one that replaced the file just now).
            if source.raw_os_error() == Some(libc::ELOOP)
                && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
            {
                not_regular(FileKind::Symlink)
            } else {
                read_error(source)
            }
        })?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.file_type().is_file() {
        return Err(not_regular(FileKind::of(metadata.file_type())));
    }
    let too_large = |size| FileError::TooLarge {
        path: path.to_owned(),
        size,
        limit: MAX_FILE_SIZE,
    };
    if metadata.len() > MAX_FILE_SIZE {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// `text` as one word of a POSIX shell command line, for hints that show a command to run: plain
/// strings (letters, digits and `_@%+=:,./-`, not starting with `-`) as they are, anything else
/// in single quotes (a `'` inside becomes `'\''`). Data pasted into a suggested command (a URL
/// from a lock, a path) then stays one argument, whatever it contains.
pub fn shell_quote(text: &str) -> std::borrow::Cow<'_, str> {
    let plain = !text.is_empty()
        && !text.starts_with('-')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if plain {
        text.into()
    } else {
        format!("'{}'", text.replace('\'', "'\\''")).into()
    }
}

/// `text` with its control characters written as escapes (`\n`, `\r`, `\t`, `\u{1b}`; a
/// backslash stays as it is), and nothing else changed: for text that comes from elsewhere (a
/// server's message, a ref name, a file name in a tree) and is shown to a person, so that it can
/// neither rewrite their terminal nor pass for lines of its own.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() => escaped.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => escaped.push(c),
        }
    }
    escaped.into()
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

    fn scratch(name: &str) -> atom_test_support::Scratch {
        atom_test_support::scratch(&format!("diag-{name}"))
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = scratch("regular");
        let outside = dir.join("secret");
        std::fs::write(&outside, "password = 1\n").unwrap();
        std::fs::create_dir(dir.join("atom")).unwrap();
        let lock = dir.join("atom/atom.lock");
        std::os::unix::fs::symlink(&outside, &lock).unwrap();
        let error = read_text(&lock).unwrap_err();
        assert!(matches!(
            error,
            FileError::NotRegular {
                kind: FileKind::Symlink,
                ..
            }
        ));
        assert_eq!(
            error.to_string(),
            format!("{} is a symlink: an atom's lock must be a regular file inside the atom (replace the link with a copy of the file)", lock.display())
        );
        // A dangling symlink is present, and refused the same way.
        let manifest = dir.join("atom/atom.toml");
        std::os::unix::fs::symlink(dir.join("nowhere"), &manifest).unwrap();
        assert!(matches!(
            read_text_if_present(&manifest),
            Err(FileError::NotRegular {
                kind: FileKind::Symlink,
                ..
            })
        ));
        assert!(read_text_if_present(&dir.join("atom/absent"))
            .unwrap()
            .is_none());

        let fifo = dir.join("fifo/atom.toml");
        std::fs::create_dir(dir.join("fifo")).unwrap();
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `c_path` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        let error = read_text(&fifo).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{} is a FIFO (named pipe): an atom's manifest must be a regular file inside the atom", fifo.display())
        );
        assert!(matches!(
            read_text(&dir),
            Err(FileError::NotRegular {
                kind: FileKind::Directory,
                ..
            })
        ));
        assert!(matches!(
            read_text(Path::new("/dev/null")),
            Err(FileError::NotRegular {
                kind: FileKind::CharDevice,
                ..
            })
        ));

        let big = dir.join("big");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_FILE_SIZE + 1)
            .unwrap();
        assert!(matches!(read_text(&big), Err(FileError::TooLarge { .. })));
        std::fs::write(&big, "fine").unwrap();
        assert_eq!(read_text(&big).unwrap(), "fine");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shell_words_are_quoted_unless_plain() {
        assert_eq!(shell_quote("file:///srv/repo.git"), "file:///srv/repo.git");
        assert_eq!(shell_quote("git@host:org/r"), "git@host:org/r");
        assert_eq!(shell_quote("x; rm -rf ~"), "'x; rm -rf ~'");
        assert_eq!(shell_quote("https://h/$(reboot)"), "'https://h/$(reboot)'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("-rf"), "'-rf'");
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
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
