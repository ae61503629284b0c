//! Atom identity (docs/format.md#identity): validated names and the [`AtomId`].
//!
//! An atom is identified by its repository's *genesis* (the root commit, a [`Root`]) and its
//! [`Label`]. The textual id is a keyed BLAKE3 digest of the two ([`AtomDigest`]), so an id
//! computed anywhere from the same repository and label is the same 52 characters.

mod base32;
mod name;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use name::{Identifier, InvalidName, Label, NameError, NameKind, Tag, MAX_NAME_BYTES};

/// The BLAKE3 `derive_key` context of atom ids.
const ID_CONTEXT: &str = "AtomId";

/// Why a root commit id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootError {
    /// Not 40 characters long.
    #[error("a root commit id has 40 hexadecimal digits, this one has {0} characters")]
    Length(usize),
    /// A character that is not a hexadecimal digit.
    #[error("a root commit id has only hexadecimal digits, found '{}' at position {position}", .found.escape_debug())]
    NotHex {
        /// The offending character.
        found: char,
        /// Its position (0-based, in characters).
        position: usize,
    },
}

/// A text that is not a root commit id, with the text: `invalid root "68b6": ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid root {input:?}: {error}")]
pub struct InvalidRoot {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub error: RootError,
}

/// A text that is not an atom id, with the text: `invalid atom id "r9il": ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid atom id {input:?}: {error}")]
pub struct InvalidDigest {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub error: DigestError,
}

/// Why an atom id text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// A character outside lowercase base32hex (`0-9a-v`).
    #[error("an atom id is lowercase base32hex (0-9, a-v), found '{}' at position {position}", .found.escape_debug())]
    InvalidBase32 {
        /// The offending character.
        found: char,
        /// Its position (0-based, in characters).
        position: usize,
    },
    /// The text does not decode to exactly 32 bytes (it must be 52 characters, canonical).
    #[error(
        "an atom id is 52 base32hex characters encoding 32 bytes, this one has {0} characters"
    )]
    Blake3Bytes(usize),
    /// 52 valid characters whose last one sets bits past the 32 bytes.
    #[error("an atom id's last character must leave its 4 padding bits zero (not canonical)")]
    NonCanonical,
}

/// The genesis of a repository: the 20 raw bytes of its root commit's SHA-1 id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Root([u8; 20]);

impl Root {
    /// Wraps raw commit id bytes.
    pub const fn from_bytes(bytes: [u8; 20]) -> Self {
        Root(bytes)
    }

    /// [`Root::from_hex`], with an error that carries `text`.
    pub fn parse(text: &str) -> Result<Self, InvalidRoot> {
        Root::from_hex(text).map_err(|error| InvalidRoot {
            input: text.to_owned(),
            error,
        })
    }

    /// Parses 40 hexadecimal digits (either case).
    pub fn from_hex(hex: &str) -> Result<Self, RootError> {
        let chars = hex.chars().count();
        if chars != 40 || hex.len() != 40 {
            return Err(RootError::Length(chars));
        }
        let mut bytes = [0u8; 20];
        let digits = hex.as_bytes();
        for (i, byte) in bytes.iter_mut().enumerate() {
            let nibble = |position: usize| {
                let c = digits[position] as char;
                c.to_digit(16)
                    .map(|d| d as u8)
                    .ok_or(RootError::NotHex { found: c, position })
            };
            *byte = (nibble(2 * i)? << 4) | nibble(2 * i + 1)?;
        }
        Ok(Root(bytes))
    }

    /// The raw commit id.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The commit id as 40 lowercase hexadecimal digits.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Root({self})")
    }
}

impl serde::Serialize for Root {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Root {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Root::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl FromStr for Root {
    type Err = RootError;
    fn from_str(s: &str) -> Result<Self, RootError> {
        Root::from_hex(s)
    }
}

/// The 32-byte digest that names an atom; its text form is what users see as "the atom id".
///
/// Displayed as 52 characters of lowercase, unpadded RFC 4648 base32hex. A precision truncates
/// the text: `format!("{:.8}", digest)` gives the first 8 characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AtomDigest([u8; 32]);

impl AtomDigest {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        AtomDigest(bytes)
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses the 52-character text form; the error carries `text`.
    pub fn parse(text: &str) -> Result<Self, InvalidDigest> {
        base32::decode(text)
            .map(AtomDigest)
            .map_err(|error| InvalidDigest {
                input: text.to_owned(),
                error,
            })
    }
}

impl fmt::Display for AtomDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = base32::encode(&self.0);
        match f.precision() {
            Some(n) => f.write_str(&text[..n.min(text.len())]),
            None => f.write_str(&text),
        }
    }
}

impl fmt::Debug for AtomDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AtomDigest({self})")
    }
}

impl serde::Serialize for AtomDigest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for AtomDigest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        AtomDigest::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl FromStr for AtomDigest {
    type Err = InvalidDigest;
    fn from_str(s: &str) -> Result<Self, InvalidDigest> {
        AtomDigest::parse(s)
    }
}

/// An atom's identity: the genesis of its repository and its label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AtomId {
    root: Root,
    label: Label,
}

impl AtomId {
    /// The identity of the atom `label` in the repository whose root commit is `root`.
    pub fn new(root: Root, label: Label) -> Self {
        AtomId { root, label }
    }

    /// The repository's genesis.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The atom's label.
    pub fn label(&self) -> &Label {
        &self.label
    }

    /// The digest: `keyed_hash(derive_key("AtomId", root bytes), NFKC label bytes)`.
    ///
    /// Nothing else is hashed: no version, separator or length prefix (docs/format.md#the-atomid).
    pub fn digest(&self) -> AtomDigest {
        let key = blake3::derive_key(ID_CONTEXT, self.root.as_bytes());
        AtomDigest(*blake3::keyed_hash(&key, self.label.as_bytes()).as_bytes())
    }
}

impl fmt::Display for AtomId {
    /// The digest's text form (so `{:.8}` truncates it too).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.digest(), f)
    }
}
