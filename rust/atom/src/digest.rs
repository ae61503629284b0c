//! The content digest of an atom: a BLAKE3 hash of a canonical encoding of its tree, independent
//! of git's SHA-1 object ids (docs/format.md#content-digest).
//!
//! Every node of a tree has a digest, computed from its own encoding alone (Merkle-style), so the
//! digest of a subtree can be checked without reading the rest of the atom. Each encoding starts
//! with [`HEADER`] (which names the scheme and its version) and a one-byte kind, and every
//! variable-length part is preceded by its length, so no two different nodes share an encoding:
//!
//! - a file: `HEADER ‖ kind ‖ u64le(length) ‖ content`, with kind `f` (regular file), `x`
//!   (executable file) or `l` (symlink, whose content is its target);
//! - a directory: `HEADER ‖ "d" ‖ u64le(count) ‖ entries`, each entry being
//!   `u64le(name length) ‖ name ‖ kind ‖ digest of the entry (32 bytes)`, in increasing order of
//!   their names' bytes; names are unique and safe ([`crate::entry_name`]).
//!
//! A git submodule (a gitlink) has no content in the repository, so a tree holding one has no
//! digest. The digest of an atom is the digest of its tree.

use std::fmt;
use std::str::FromStr;

use crate::entry_name::{self, UnsafeName};

/// The first bytes of every encoded node: the scheme's name and version, then a NUL byte.
pub const HEADER: &[u8] = b"atom-digest-v1\0";

/// The prefix of a digest's text form, `blake3-<64 lowercase hex digits>`.
pub const TEXT_PREFIX: &str = "blake3-";

/// What a node of a tree is, with the byte that stands for it in the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A regular, non-executable file: `f`.
    File,
    /// An executable file: `x`.
    Executable,
    /// A symbolic link, whose content is its target: `l`.
    Symlink,
    /// A directory: `d`.
    Directory,
}

impl Kind {
    /// The byte that stands for this kind in the encoding.
    pub fn byte(self) -> u8 {
        match self {
            Kind::File => b'f',
            Kind::Executable => b'x',
            Kind::Symlink => b'l',
            Kind::Directory => b'd',
        }
    }
}

/// The BLAKE3 digest of a node (a file, a symlink or a directory) in the canonical encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentDigest([u8; 32]);

impl ContentDigest {
    /// The digest with these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> ContentDigest {
        ContentDigest(bytes)
    }

    /// The digest's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TEXT_PREFIX)?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// As its text (`blake3-<hex>`).
impl serde::Serialize for ContentDigest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// From its text (`blake3-<hex>`).
impl<'de> serde::Deserialize<'de> for ContentDigest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a text is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDigestError {
    /// It does not start with `blake3-`.
    #[error("a content digest starts with `blake3-`")]
    Prefix,
    /// What follows the prefix is not 64 lowercase hexadecimal digits.
    #[error("a content digest is `blake3-` followed by 64 lowercase hexadecimal digits")]
    Hex,
}

impl FromStr for ContentDigest {
    type Err = ParseDigestError;

    fn from_str(text: &str) -> Result<ContentDigest, ParseDigestError> {
        let hex = text
            .strip_prefix(TEXT_PREFIX)
            .ok_or(ParseDigestError::Prefix)?
            .as_bytes();
        if hex.len() != 64 {
            return Err(ParseDigestError::Hex);
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(ParseDigestError::Hex),
        };
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Ok(ContentDigest(bytes))
    }
}

/// Why a tree has no digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// An entry has a name no atom may have.
    #[error("the entry {path:?} has a name no atom may have: {why}")]
    Name {
        /// The entry's path in the tree (lossily decoded).
        path: String,
        /// Why the name is refused.
        why: UnsafeName,
    },
    /// Two entries of one directory have the same name.
    #[error("the tree has two entries named {path:?}")]
    Duplicate {
        /// The entries' path in the tree.
        path: String,
    },
    /// An entry is a git submodule (a gitlink), whose content is not in the repository.
    #[error("the entry {path:?} is a git submodule, whose content is not in the repository")]
    Submodule {
        /// The entry's path in the tree.
        path: String,
    },
}

impl DigestError {
    /// The same error for an entry of the directory at `prefix` (which ends with `/`, or is
    /// empty for the top of the tree).
    pub fn below(self, prefix: &str) -> DigestError {
        match self {
            DigestError::Name { path, why } => DigestError::Name {
                path: format!("{prefix}{path}"),
                why,
            },
            DigestError::Duplicate { path } => DigestError::Duplicate {
                path: format!("{prefix}{path}"),
            },
            DigestError::Submodule { path } => DigestError::Submodule {
                path: format!("{prefix}{path}"),
            },
        }
    }
}

/// Computes the digest of a file or symlink whose content arrives in pieces: the length is
/// known up front, as the encoding puts it before the content.
#[derive(Debug, Clone)]
pub struct FileHasher {
    hasher: blake3::Hasher,
    remaining: u64,
}

impl FileHasher {
    /// A hasher for a node of `kind` (not [`Kind::Directory`]) with `length` bytes of content.
    ///
    /// # Panics
    ///
    /// When `kind` is [`Kind::Directory`]: a directory is hashed by [`TreeHasher`].
    pub fn new(kind: Kind, length: u64) -> FileHasher {
        assert!(
            kind != Kind::Directory,
            "a directory is hashed by TreeHasher"
        );
        let mut hasher = blake3::Hasher::new();
        hasher.update(HEADER);
        hasher.update(&[kind.byte()]);
        hasher.update(&length.to_le_bytes());
        FileHasher {
            hasher,
            remaining: length,
        }
    }

    /// Adds the next piece of the content.
    ///
    /// # Panics
    ///
    /// When the pieces add up to more than the length given to [`FileHasher::new`].
    pub fn update(&mut self, piece: &[u8]) {
        let length = piece.len() as u64;
        assert!(length <= self.remaining, "more content than announced");
        self.remaining -= length;
        self.hasher.update(piece);
    }

    /// The digest.
    ///
    /// # Panics
    ///
    /// When the pieces add up to less than the length given to [`FileHasher::new`].
    pub fn finish(self) -> ContentDigest {
        assert!(self.remaining == 0, "less content than announced");
        ContentDigest(*self.hasher.finalize().as_bytes())
    }
}

/// The digest of a file or symlink of `kind` (not [`Kind::Directory`]) holding `content`.
pub fn file_digest(kind: Kind, content: &[u8]) -> ContentDigest {
    let mut hasher = FileHasher::new(kind, content.len() as u64);
    hasher.update(content);
    hasher.finish()
}

/// Collects the entries of one directory, in any order, and computes its digest.
#[derive(Debug, Clone, Default)]
pub struct TreeHasher {
    entries: Vec<(Vec<u8>, Kind, ContentDigest)>,
}

impl TreeHasher {
    /// An empty directory.
    pub fn new() -> TreeHasher {
        TreeHasher::default()
    }

    /// Adds the entry `name`, of `kind`, whose own digest is `digest`.
    pub fn push(&mut self, name: &[u8], kind: Kind, digest: ContentDigest) {
        self.entries.push((name.to_vec(), kind, digest));
    }

    /// The directory's digest; refused when a name is not safe or appears twice.
    pub fn finish(mut self) -> Result<ContentDigest, DigestError> {
        for (name, _, _) in &self.entries {
            entry_name::check(name).map_err(|why| DigestError::Name {
                path: String::from_utf8_lossy(name).into_owned(),
                why,
            })?;
        }
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(pair) = self.entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(DigestError::Duplicate {
                path: String::from_utf8_lossy(&pair[0].0).into_owned(),
            });
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(HEADER);
        hasher.update(&[Kind::Directory.byte()]);
        hasher.update(&(self.entries.len() as u64).to_le_bytes());
        for (name, kind, digest) in &self.entries {
            hasher.update(&(name.len() as u64).to_le_bytes());
            hasher.update(name);
            hasher.update(&[kind.byte()]);
            hasher.update(digest.as_bytes());
        }
        Ok(ContentDigest(*hasher.finalize().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_is_strict() {
        let digest = file_digest(Kind::File, b"");
        let text = digest.to_string();
        assert!(text.starts_with("blake3-") && text.len() == 7 + 64);
        assert_eq!(text.parse::<ContentDigest>(), Ok(digest));
        assert_eq!(
            text.to_uppercase().parse::<ContentDigest>(),
            Err(ParseDigestError::Prefix)
        );
        let upper = format!("blake3-{}", text[7..].to_uppercase());
        assert_eq!(upper.parse::<ContentDigest>(), Err(ParseDigestError::Hex));
        assert_eq!(
            text[..70].parse::<ContentDigest>(),
            Err(ParseDigestError::Hex)
        );
        assert_eq!(
            format!("{text}0").parse::<ContentDigest>(),
            Err(ParseDigestError::Hex)
        );
    }

    #[test]
    fn kinds_and_lengths_keep_nodes_apart() {
        let file = file_digest(Kind::File, b"a");
        assert_ne!(file, file_digest(Kind::Executable, b"a"));
        assert_ne!(file, file_digest(Kind::Symlink, b"a"));
        assert_ne!(file, file_digest(Kind::File, b"a\0"));
        // Moving bytes between a name and the next entry changes the encoding.
        let mut one = TreeHasher::new();
        one.push(b"ab", Kind::File, file);
        let mut other = TreeHasher::new();
        other.push(b"a", Kind::File, file);
        assert_ne!(one.finish().unwrap(), other.finish().unwrap());
    }

    #[test]
    fn order_of_pushing_does_not_matter() {
        let a = file_digest(Kind::File, b"1");
        let b = file_digest(Kind::Symlink, b"a");
        let mut one = TreeHasher::new();
        one.push(b"a", Kind::File, a);
        one.push(b"b", Kind::Symlink, b);
        let mut other = TreeHasher::new();
        other.push(b"b", Kind::Symlink, b);
        other.push(b"a", Kind::File, a);
        assert_eq!(one.finish(), other.finish());
    }

    #[test]
    fn unsafe_and_duplicate_names_are_refused() {
        let file = file_digest(Kind::File, b"");
        for name in [&b".git"[..], b"..", b"a/b", b"\xff", b".GIT."] {
            let mut tree = TreeHasher::new();
            tree.push(name, Kind::File, file);
            assert!(matches!(tree.finish(), Err(DigestError::Name { .. })));
        }
        let mut tree = TreeHasher::new();
        tree.push(b"a", Kind::File, file);
        tree.push(b"a", Kind::Directory, file);
        assert_eq!(
            tree.finish().unwrap_err().below("dir/"),
            DigestError::Duplicate {
                path: "dir/a".into()
            }
        );
    }

    #[test]
    fn streaming_matches_one_piece() {
        let mut hasher = FileHasher::new(Kind::Executable, 6);
        hasher.update(b"ab");
        hasher.update(b"");
        hasher.update(b"cdef");
        assert_eq!(hasher.finish(), file_digest(Kind::Executable, b"abcdef"));
    }
}
