//! Validated names: [`Identifier`] ⊂ [`Label`] ⊂ [`Tag`] (docs/format.md#names).
//!
//! All three go through one algorithm: NFKC-normalise, bound the length, require an XID_Start
//! first character, then check every character against the kind's predicate. The normalised
//! string is what is stored, compared and hashed.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use unicode_normalization::UnicodeNormalization;

/// The longest a name may be, in UTF-8 bytes, after normalisation.
pub const MAX_NAME_BYTES: usize = 128;

/// Why a string is not a valid name. The messages are those of the reference implementation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The normalised name is longer than [`MAX_NAME_BYTES`].
    #[error("cannot be more than {MAX_NAME_BYTES} bytes")]
    TooLong,
    /// The name is empty.
    #[error("cannot be empty")]
    Empty,
    /// The first character is not XID_Start (so never a digit, `_`, `-`, `.` or `:`).
    #[error("cannot start with: '{}'", .0.escape_debug())]
    InvalidStart(char),
    /// Every character that the kind does not allow, in order, duplicates kept.
    /// For tags, `..` is reported as these two characters.
    #[error("contains invalid characters: '{}'", .0.escape_debug())]
    InvalidCharacters(String),
}

/// A text that is not a valid name of some kind, with the text:
/// `invalid label "9atom": cannot start with: '9'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {input:?}: {error}")]
pub struct InvalidName {
    /// The kind of name it should have been.
    pub kind: NameKind,
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub error: NameError,
}

/// The three kinds of name, from the strictest to the most permissive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// Strict UAX #31 identifier: XID_Continue characters only.
    Identifier,
    /// Atom labels and dependency names: XID_Continue or `-`.
    Label,
    /// Set names and `meta.tags`: label characters plus `.` and `:`, without `..`.
    Tag,
}

impl NameKind {
    /// Whether `c` may appear after the first character of a name of this kind.
    fn allows(self, c: char) -> bool {
        let ident = unicode_ident::is_xid_continue(c);
        match self {
            NameKind::Identifier => ident,
            NameKind::Label => ident || c == '-',
            NameKind::Tag => ident || c == '-' || c == '.' || c == ':',
        }
    }

    /// The kind's name as a person reads it in a message.
    pub fn as_str(self) -> &'static str {
        match self {
            NameKind::Identifier => "identifier",
            NameKind::Label => "label",
            NameKind::Tag => "tag",
        }
    }

    /// Normalises `input` to NFKC and validates it as a name of this kind.
    pub fn validate(self, input: &str) -> Result<String, NameError> {
        let normalized: String = input.nfkc().collect();
        if normalized.len() > MAX_NAME_BYTES {
            return Err(NameError::TooLong);
        }
        let first = normalized.chars().next().ok_or(NameError::Empty)?;
        if !unicode_ident::is_xid_start(first) {
            return Err(NameError::InvalidStart(first));
        }
        let invalid: String = normalized.chars().filter(|&c| !self.allows(c)).collect();
        if !invalid.is_empty() {
            return Err(NameError::InvalidCharacters(invalid));
        }
        if self == NameKind::Tag && normalized.contains("..") {
            return Err(NameError::InvalidCharacters("..".to_owned()));
        }
        Ok(normalized)
    }

    /// [`NameKind::validate`], with an error that names the kind and carries `input`.
    pub fn parse(self, input: &str) -> Result<String, InvalidName> {
        self.validate(input).map_err(|error| InvalidName {
            kind: self,
            input: input.to_owned(),
            error,
        })
    }
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The kind of name this type holds.
            pub const KIND: NameKind = $kind;

            /// Normalises (NFKC) and validates `input`.
            pub fn new(input: &str) -> Result<Self, NameError> {
                Self::KIND.validate(input).map(Self)
            }

            /// [`Self::new`], with an error that names the kind and carries `input`.
            pub fn parse(input: &str) -> Result<Self, InvalidName> {
                Self::KIND.parse(input).map(Self)
            }

            /// The normalised name.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The normalised name, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(&s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;
            fn try_from(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        /// Validates while deserializing; the error says which kind of name and why, e.g.
        /// `invalid label "9atom": cannot start with: '9'`.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }
    };
}

name_type!(
    /// A strict UAX #31 identifier. Defined by the format, unused by it so far.
    Identifier,
    NameKind::Identifier
);
name_type!(
    /// An atom's label (also the name of a direct dependency): XID_Continue characters or `-`,
    /// starting with an XID_Start character, at most 128 bytes after NFKC normalisation.
    Label,
    NameKind::Label
);
name_type!(
    /// A set name or a `meta.tags` entry: label characters plus `.` and `:`, never `..`.
    Tag,
    NameKind::Tag
);

impl From<Identifier> for Label {
    fn from(id: Identifier) -> Label {
        Label(id.0)
    }
}

impl From<Label> for Tag {
    fn from(label: Label) -> Tag {
        Tag(label.0)
    }
}
