//! Field types of manifests and locks whose parsing needs its own words: versions, version
//! requirements, mirrors, and the shapes of direct Nix dependencies.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{GitRef, NixDep, NixSource};
use crate::id::{Label, Tag};

/// A strict semver version (`MAJOR.MINOR.PATCH[-pre][+build]`, no `v` prefix).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub semver::Version);

/// The longest a version may be, in bytes: like a label, it becomes a component of a git ref
/// name (`refs/eka/atoms/<label>/<version>`), and so of a file name, which file systems bound
/// (255 bytes on most).
pub const MAX_VERSION_BYTES: usize = 128;

impl Version {
    /// Parses a strict semver version of at most [`MAX_VERSION_BYTES`]; the error says what was
    /// wrong and what is valid.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        if text.len() > MAX_VERSION_BYTES {
            return Err(VersionError::TooLong {
                text: text.to_owned(),
            });
        }
        semver::Version::parse(text)
            .map(Version)
            .map_err(|e| VersionError::Syntax {
                text: text.to_owned(),
                reason: e.to_string(),
            })
    }
}

/// Why a text is not a [`Version`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Longer than [`MAX_VERSION_BYTES`].
    #[error("invalid version {:?}: it is {} bytes long, and a version can be at most {MAX_VERSION_BYTES} bytes (it becomes part of a git ref name); shorten its pre-release or build metadata", shorten(.text), .text.len())]
    TooLong {
        /// The text given.
        text: String,
    },
    /// Not semver.
    #[error("invalid version {text:?}: {reason} (a version is MAJOR.MINOR.PATCH, e.g. \"0.1.0\")")]
    Syntax {
        /// The text given.
        text: String,
        /// What the semver parser found wrong, in its words (its error exposes nothing else).
        reason: String,
    },
}

/// The pre-release that marks a lock's local-only version (`0.1.0-local`).
pub const LOCAL_PRE_RELEASE: &str = "local";

impl Version {
    /// The version the reference writes into a lock for an atom of the consumer's own repository
    /// that is locked from its working copy, without a rev: this version with the pre-release
    /// `local` in place of its own (build metadata kept), as `0.1.0-local`.
    pub fn local(&self) -> Version {
        let mut version = self.0.clone();
        version.pre = semver::Prerelease::new(LOCAL_PRE_RELEASE).expect("a valid pre-release");
        Version(version)
    }

    /// Whether this is a local-only version ([`Version::local`]): its pre-release is `local`.
    pub fn is_local(&self) -> bool {
        self.0.pre.as_str() == LOCAL_PRE_RELEASE
    }
}

/// `text`, or its first 40 characters and `...` when it is longer.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

impl Deref for Version {
    type Target = semver::Version;
    fn deref(&self) -> &semver::Version {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Version::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A version requirement in Cargo's syntax (`^1.2`, `~1`, `>=1, <2`, `*`; a bare `1.2.3` means
/// `^1.2.3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement(pub semver::VersionReq);

impl Requirement {
    /// Parses a requirement; the error says what was wrong and what is valid.
    pub fn parse(text: &str) -> Result<Requirement, RequirementError> {
        semver::VersionReq::parse(text)
            .map(Requirement)
            .map_err(|e| RequirementError {
                text: text.to_owned(),
                reason: e.to_string(),
            })
    }
}

/// Why a text is not a [`Requirement`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version requirement {text:?}: {reason} (use Cargo's syntax, e.g. \"^1.2\", \"~1\", \">=1, <2\" or \"*\")")]
pub struct RequirementError {
    /// The text given.
    pub text: String,
    /// What the semver parser found wrong, in its words (its error exposes nothing else).
    pub reason: String,
}

impl Deref for Requirement {
    type Target = semver::VersionReq;
    fn deref(&self) -> &semver::VersionReq {
        &self.0
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Requirement {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Requirement {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Requirement::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Where a set can be found: `::` (the local repository) or a git URL.
///
/// Sorted with `::` first, then URLs by their text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mirror {
    /// `::`: the repository the manifest is in.
    Local,
    /// A git URL: `https://`, `ssh://`, scp-like `user@host:path`, `file://` or a path.
    Url(String),
}

impl Mirror {
    /// Parses `::` or a git URL.
    pub fn parse(text: &str) -> Result<Mirror, MirrorError> {
        if text == "::" {
            return Ok(Mirror::Local);
        }
        let owned = || text.to_owned();
        if text.is_empty() {
            return Err(MirrorError::Empty);
        }
        if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(MirrorError::Space { text: owned(), c });
        }
        if text.starts_with('-') {
            return Err(MirrorError::LeadingDash { text: owned() });
        }
        let url_form = text.contains("://");
        // URLs: the characters RFC 3986 allows (and `%` escapes); file paths and scp-like
        // addresses: a conservative set, so that a mirror never reads as shell syntax.
        let allowed = |c: char| {
            c.is_ascii_alphanumeric()
                || (!c.is_ascii() && c.is_alphanumeric())
                || "-._~/@:+,=%".contains(c)
                || (url_form && "?#[]!$&'()*;".contains(c))
        };
        if let Some(c) = text.chars().find(|c| !allowed(*c)) {
            return Err(if url_form {
                MirrorError::UrlCharacter { text: owned(), c }
            } else {
                MirrorError::PathCharacter { text: owned(), c }
            });
        }
        if let Some((scheme, rest)) = text.split_once("://") {
            let valid_scheme = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if !valid_scheme || rest.is_empty() {
                return Err(MirrorError::Shape { text: owned() });
            }
        }
        Ok(Mirror::Url(text.to_owned()))
    }

    /// The URL, unless this is `::`.
    pub fn url(&self) -> Option<&str> {
        match self {
            Mirror::Local => None,
            Mirror::Url(url) => Some(url),
        }
    }

    /// Whether the URL has no scheme and is read as a file path (the reference warns: "no schema
    /// detected; interpreting as file-path").
    pub fn is_bare_path(&self) -> bool {
        match self {
            Mirror::Local => false,
            Mirror::Url(url) => !url.contains("://") && !is_scp_like(url),
        }
    }
}

/// Why a text is not a [`Mirror`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    /// The empty text.
    #[error("a mirror cannot be empty (use \"::\" for this repository, or a git URL)")]
    Empty,
    /// A white-space or control character.
    #[error("invalid mirror {text:?}: a git URL cannot contain {c:?}")]
    Space {
        /// The text given.
        text: String,
        /// The character.
        c: char,
    },
    /// A leading `-`, which a program would read as an option.
    #[error("invalid mirror {text:?}: it cannot start with '-' (write a path as ./{text})")]
    LeadingDash {
        /// The text given.
        text: String,
    },
    /// A character a URL (`scheme://...`) cannot hold unescaped.
    #[error("invalid mirror {text:?}: a git URL cannot contain {c:?}{}", url_escape(*.c))]
    UrlCharacter {
        /// The text given.
        text: String,
        /// The character.
        c: char,
    },
    /// A character outside the conservative set of a path or `user@host:path` mirror.
    #[error("invalid mirror {text:?}: a path or user@host:path mirror cannot contain {c:?} (use a file:// URL with %-escapes)")]
    PathCharacter {
        /// The text given.
        text: String,
        /// The character.
        c: char,
    },
    /// `scheme://` with an invalid scheme or nothing after it.
    #[error("invalid mirror {text:?}: expected <scheme>://<host>/<path>, user@host:path, or a file path")]
    Shape {
        /// The text given.
        text: String,
    },
}

/// How to write `c` in a URL instead: ` (escape it as %XX)` for an ASCII character, nothing
/// otherwise.
fn url_escape(c: char) -> String {
    if c.is_ascii() {
        format!(" (escape it as %{:02X})", c as u32)
    } else {
        String::new()
    }
}

/// `user@host:path` or `host:path` (a `:` before any `/`).
fn is_scp_like(url: &str) -> bool {
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash && colon > 0,
        (Some(colon), None) => colon > 0,
        _ => false,
    }
}

impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mirror::Local => f.write_str("::"),
            Mirror::Url(url) => f.write_str(url),
        }
    }
}

impl Serialize for Mirror {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mirror {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Mirror::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The TOML shape of a `[deps.direct.nix]` entry, before its rules are checked.
#[derive(Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NixDepFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    git: Option<String>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    git_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<Requirement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    build: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unpack: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from_version: Option<Spanned<(Tag, Label)>>,
}

const NIX_DEP_SHAPES: &str = "{ url = \"...\" }, { tar = \"...\" }, { git = \"...\" } with an optional `ref` or `version`, or { build = \"...\", unpack = <bool> }";

/// Why a `[deps.direct.nix]` entry does not have the keys of one kind of dependency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NixDepError {
    /// Not exactly one of `url`, `tar`, `git` or `build`.
    #[error("a direct Nix dependency has exactly one of `url`, `tar`, `git` or `build`, found {}; expected {NIX_DEP_SHAPES}", if .found.is_empty() { "none".to_owned() } else { .found.join(" and ") })]
    Kinds {
        /// The kinds it has.
        found: Vec<&'static str>,
    },
    /// A key that belongs to another kind.
    #[error("`{key}` only goes with `{kind}`, not with `{found}`; expected {NIX_DEP_SHAPES}")]
    OnlyWith {
        /// The key.
        key: &'static str,
        /// The kind it goes with.
        kind: &'static str,
        /// The kind the entry is.
        found: &'static str,
    },
    /// A git dependency with both `ref` and `version`.
    #[error("a git dependency takes `ref` or `version`, not both")]
    RefAndVersion,
}

impl TryFrom<NixDepFields> for NixDep {
    type Error = NixDepError;
    fn try_from(f: NixDepFields) -> Result<Self, NixDepError> {
        let kinds: Vec<&'static str> = [
            ("url", f.url.is_some()),
            ("tar", f.tar.is_some()),
            ("git", f.git.is_some()),
            ("build", f.build.is_some()),
        ]
        .iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| *name)
        .collect();
        if kinds.len() != 1 {
            return Err(NixDepError::Kinds { found: kinds });
        }
        let only_with = |key: &'static str, present: bool, kind: &'static str| {
            if present && kinds[0] != kind {
                Err(NixDepError::OnlyWith {
                    key,
                    kind,
                    found: kinds[0],
                })
            } else {
                Ok(())
            }
        };
        only_with("ref", f.git_ref.is_some(), "git")?;
        only_with("version", f.version.is_some(), "git")?;
        only_with("unpack", f.unpack.is_some(), "build")?;
        let source = match (f.url, f.tar, f.git, f.build) {
            (Some(url), ..) => NixSource::Url(url),
            (_, Some(url), ..) => NixSource::Tar(url),
            (_, _, Some(url), _) => NixSource::Git {
                url,
                at: match (f.git_ref, f.version) {
                    (Some(_), Some(_)) => return Err(NixDepError::RefAndVersion),
                    (Some(r), None) => GitRef::Ref(r),
                    (None, Some(v)) => GitRef::Version(v),
                    (None, None) => GitRef::Head,
                },
            },
            (_, _, _, Some(url)) => NixSource::Build {
                url,
                unpack: f.unpack.unwrap_or(false),
            },
            _ => unreachable!("exactly one kind is present"),
        };
        Ok(NixDep {
            source,
            from_version: f.from_version,
        })
    }
}

impl From<NixDep> for NixDepFields {
    fn from(dep: NixDep) -> Self {
        let mut f = NixDepFields {
            from_version: dep.from_version,
            ..Default::default()
        };
        match dep.source {
            NixSource::Url(url) => f.url = Some(url),
            NixSource::Tar(url) => f.tar = Some(url),
            NixSource::Git { url, at } => {
                f.git = Some(url);
                match at {
                    GitRef::Head => {}
                    GitRef::Ref(r) => f.git_ref = Some(r),
                    GitRef::Version(v) => f.version = Some(v),
                }
            }
            NixSource::Build { url, unpack } => {
                f.build = Some(url);
                f.unpack = unpack.then_some(true);
            }
        }
        f
    }
}
