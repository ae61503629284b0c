//! Manifests: an atom's `atom.toml` ([`Manifest`], docs/format.md#the-atom-manifest) and a repository's `ekala.toml`
//! ([`set::SetManifest`], docs/format.md#the-set-manifest).
//!
//! Parsing is strict where the reference is strict (unknown fields are rejected, except under
//! `package.meta`), and every error points into the file: see [`crate::diagnostic`].

mod fields;
pub mod set;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use fields::{
    Mirror, MirrorError, NixDepError, Requirement, RequirementError, Version, VersionError,
    MAX_VERSION_BYTES,
};

use crate::diagnostic::{FileError, SourceError};
use crate::id::{Label, Tag};

/// The file name of an atom's manifest.
pub const MANIFEST_FILE: &str = "atom.toml";

/// An atom's manifest, `atom.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `[package]`: what the atom is.
    pub package: Package,
    /// `[compose]`: how the atom is evaluated.
    pub compose: Compose,
    /// `[deps]`: what the atom depends on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deps: Option<Spanned<Deps>>,
}

/// `[package]`: the atom's label, version, metadata and the sets it draws dependencies from.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// The atom's label.
    pub label: Label,
    /// The atom's version (strict semver).
    pub version: Version,
    /// `[package.meta]`: free-form metadata; unknown keys are tolerated and dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// `[package.sets]`: set tag → mirrors of that set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sets: BTreeMap<Tag, Mirrors>,
}

/// `[package.meta]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct Meta {
    /// Tags describing the atom.
    #[serde(default)]
    pub tags: BTreeSet<Tag>,
    /// A one-line description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The mirrors of a set: one address, or several (order irrelevant, duplicates collapse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirrors {
    /// `tag = "<mirror>"`.
    One(Mirror),
    /// `tag = ["<mirror>", ...]`.
    Many(BTreeSet<Mirror>),
}

impl Mirrors {
    /// Every mirror, sorted (`::` first).
    pub fn iter(&self) -> impl Iterator<Item = &Mirror> {
        let (one, many) = match self {
            Mirrors::One(m) => (Some(m), None),
            Mirrors::Many(set) => (None, Some(set.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

impl Serialize for Mirrors {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Mirrors::One(m) => m.serialize(serializer),
            Mirrors::Many(set) => set.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Mirrors {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Mirrors;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mirror (\"::\" or a git URL) or an array of mirrors")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Mirrors, E> {
                Mirror::parse(s).map(Mirrors::One).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Mirrors, A::Error> {
                let mut set = BTreeSet::new();
                while let Some(mirror) = seq.next_element()? {
                    set.insert(mirror);
                }
                if set.is_empty() {
                    return Err(serde::de::Error::custom(
                        "a set needs at least one mirror (\"::\" or a git URL)",
                    ));
                }
                Ok(Mirrors::Many(set))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `[compose]`: exactly one of `[compose.with.<composer>]` or `[compose.as]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase", try_from = "ComposeFields")]
pub enum Compose {
    /// `[compose.with.<composer>]`: evaluated by a composer atom.
    With(ComposeWith),
    /// `[compose.as]`: a trivial Nix atom or a static one.
    As(ComposeAs),
}

/// The TOML shape of `[compose]`, before the one-form rule is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComposeFields {
    with: Option<ComposeWith>,
    #[serde(rename = "as")]
    as_: Option<ComposeAsFields>,
}

/// Why `[compose]` is not exactly one valid form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// Both `[compose.with]` and `[compose.as]`.
    #[error("[compose] has both [compose.with] and [compose.as]; an atom is composed in exactly one way")]
    Both,
    /// Neither `[compose.with]` nor `[compose.as]`.
    #[error("[compose] is empty: expected [compose.with.<composer atom>] or [compose.as] with `nix = \"<path>\"` or `static = \"config\"`")]
    Empty,
    /// `[compose.as]` has both `nix` and `static`.
    #[error("[compose.as] has both `nix` and `static`; expected exactly one")]
    AsBoth,
    /// `[compose.as]` has neither `nix` nor `static`.
    #[error("[compose.as] is empty: expected `nix = \"<path>\"` or `static = \"config\"`")]
    AsEmpty,
    /// `[compose.with]` does not have exactly one entry.
    #[error("[compose.with] must have precisely one entry, the composer atom, found {} ({})", .found.len(), .found.iter().map(Label::as_str).collect::<Vec<_>>().join(", "))]
    WithEntries {
        /// The labels it has.
        found: Vec<Label>,
    },
}

impl TryFrom<ComposeFields> for Compose {
    type Error = ComposeError;
    fn try_from(fields: ComposeFields) -> Result<Self, ComposeError> {
        match (fields.with, fields.as_) {
            (Some(with), None) => Ok(Compose::With(with)),
            (None, Some(as_)) => Ok(Compose::As(as_.try_into()?)),
            (Some(_), Some(_)) => Err(ComposeError::Both),
            (None, None) => Err(ComposeError::Empty),
        }
    }
}

/// The TOML shape of `[compose.as]`, before the one-key rule is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComposeAsFields {
    nix: Option<String>,
    #[serde(rename = "static")]
    static_: Option<StaticFormat>,
}

impl TryFrom<ComposeAsFields> for ComposeAs {
    type Error = ComposeError;
    fn try_from(fields: ComposeAsFields) -> Result<Self, ComposeError> {
        match (fields.nix, fields.static_) {
            (Some(path), None) => Ok(ComposeAs::Nix(path)),
            (None, Some(format)) => Ok(ComposeAs::Static(format)),
            (Some(_), Some(_)) => Err(ComposeError::AsBoth),
            (None, None) => Err(ComposeError::AsEmpty),
        }
    }
}

/// `[compose.with.<composer>]`: the composer atom's label and where to find it. The table holds
/// precisely one entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(
    try_from = "BTreeMap<Label, Composer>",
    into = "BTreeMap<Label, Composer>"
)]
pub struct ComposeWith {
    /// The composer atom's label.
    pub label: Label,
    /// Where and which version.
    pub composer: Composer,
}

impl TryFrom<BTreeMap<Label, Composer>> for ComposeWith {
    type Error = ComposeError;
    fn try_from(map: BTreeMap<Label, Composer>) -> Result<Self, ComposeError> {
        if map.len() != 1 {
            return Err(ComposeError::WithEntries {
                found: map.into_keys().collect(),
            });
        }
        let (label, composer) = map.into_iter().next().expect("one entry");
        Ok(ComposeWith { label, composer })
    }
}

impl From<ComposeWith> for BTreeMap<Label, Composer> {
    fn from(with: ComposeWith) -> Self {
        BTreeMap::from([(with.label, with.composer)])
    }
}

/// The composer of `[compose.with.<composer>]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Composer {
    /// The set (a key of `[package.sets]`) the composer comes from.
    pub from: Spanned<Tag>,
    /// Which versions of the composer; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Requirement>,
    /// The directory in this atom where composition starts.
    #[serde(default = "dot", skip_serializing_if = "is_dot")]
    pub entry: String,
}

fn dot() -> String {
    ".".to_owned()
}

fn is_dot(s: &str) -> bool {
    s == "."
}

/// `[compose.as]`: exactly one of `nix = "<path>"` or `static = "config"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComposeAs {
    /// A trivial Nix atom: the path (relative to the atom) is imported.
    Nix(String),
    /// A static atom, not evaluated: its manifest is its value.
    Static(StaticFormat),
}

/// The format of a static atom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StaticFormat {
    /// The manifest itself is the configuration.
    Config,
}

/// `[deps]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Deps {
    /// `[deps.from.<set>]`: atoms by label with a version requirement, per set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub from: BTreeMap<Spanned<Tag>, BTreeMap<Label, Requirement>>,
    /// `[deps.direct]`: dependencies that are not atoms.
    #[serde(default, skip_serializing_if = "Direct::is_empty")]
    pub direct: Direct,
}

impl Deps {
    /// Whether no dependency is declared.
    pub fn is_empty(&self) -> bool {
        self.from.values().all(BTreeMap::is_empty) && self.direct.is_empty()
    }
}

/// `[deps.direct]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Direct {
    /// `[deps.direct.nix]`: name → source.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nix: BTreeMap<Label, NixDep>,
}

impl Direct {
    fn is_empty(&self) -> bool {
        self.nix.is_empty()
    }
}

/// One `[deps.direct.nix]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "fields::NixDepFields", into = "fields::NixDepFields")]
pub struct NixDep {
    /// Where it comes from.
    pub source: NixSource,
    /// `from_version = ["<set>", "<label>"]`: `__VERSION__` in the URL path is replaced by the
    /// locked version of that atom dependency.
    pub from_version: Option<Spanned<(Tag, Label)>>,
}

/// The source of a direct Nix dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NixSource {
    /// `{ url = "..." }`: a flat file, fetched at evaluation time.
    Url(String),
    /// `{ tar = "..." }`: a tarball, unpacked.
    Tar(String),
    /// `{ git = "...", ref? , version? }`: a git repository.
    Git {
        /// The repository.
        url: String,
        /// Which revision.
        at: GitRef,
    },
    /// `{ build = "...", unpack? }`: fetched at build time.
    Build {
        /// The file's URL.
        url: String,
        /// Whether to unpack it.
        unpack: bool,
    },
}

/// Which revision of a git dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// `HEAD`.
    Head,
    /// `ref = "<ref>"`.
    Ref(String),
    /// `version = "<req>"`: the highest matching tag.
    Version(Requirement),
}

impl Package {
    /// Parses only the `[package]` table of `atom.toml` text, as publishing does (docs/format.md#publishing): the
    /// other tables are not validated.
    pub fn parse_only(text: &str, path: &str) -> Result<Package, SourceError> {
        #[derive(Deserialize)]
        struct PackageOnly {
            package: Package,
        }
        toml::from_str::<PackageOnly>(text)
            .map(|p| p.package)
            .map_err(|e| SourceError::from_toml(path, text, &e))
    }
}

impl Manifest {
    /// Parses `atom.toml` text; `path` names the file in errors.
    pub fn parse(text: &str, path: &str) -> Result<Manifest, SourceError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| SourceError::from_toml(path, text, &e))?;
        manifest.validate(text, path)?;
        Ok(manifest)
    }

    /// Reads and parses the manifest of an atom: `path` is the atom's directory or its
    /// `atom.toml` itself.
    pub fn read_atom(path: &Path) -> Result<Manifest, FileError> {
        if path.is_dir() {
            Manifest::read(&path.join(MANIFEST_FILE))
        } else {
            Manifest::read(path)
        }
    }

    /// Reads and parses an `atom.toml` file.
    pub fn read(path: &Path) -> Result<Manifest, FileError> {
        let text = crate::diagnostic::read_text(path)?;
        Ok(Manifest::parse(&text, &path.display().to_string())?)
    }

    /// Checks the rules that span several tables (docs/format.md#the-atom-manifest).
    fn validate(&self, text: &str, path: &str) -> Result<(), SourceError> {
        let sets = &self.package.sets;
        let declared = || {
            if sets.is_empty() {
                "no set is declared".to_owned()
            } else {
                let names: Vec<_> = sets.keys().map(|t| t.as_str()).collect();
                format!("declared sets: {}", names.join(", "))
            }
        };
        let undeclared = |tag: &Spanned<Tag>, what: &str| {
            SourceError::new(
                path,
                text,
                Some(tag.span()),
                format!(
                    "{what} uses the set \"{}\", which [package.sets] does not declare",
                    tag.as_ref()
                ),
            )
            .with_help(format!(
                "declare it, e.g. `{} = \"<git url>\"` under [package.sets] ({})",
                tag.as_ref(),
                declared()
            ))
        };

        if let Compose::With(with) = &self.compose {
            if !sets.contains_key(with.composer.from.as_ref()) {
                return Err(undeclared(
                    &with.composer.from,
                    &format!("[compose.with.{}] `from`", with.label),
                ));
            }
        }
        let Some(deps) = &self.deps else {
            return Ok(());
        };
        if matches!(self.compose, Compose::As(ComposeAs::Static(_))) && !deps.as_ref().is_empty() {
            return Err(SourceError::new(
                path,
                text,
                Some(deps.span()),
                "A static atom, which is not evaluated, cannot provide dependencies",
            )
            .with_help("remove [deps], or compose the atom with `[compose.as] nix = \".\"`"));
        }
        for tag in deps.as_ref().from.keys() {
            if !sets.contains_key(tag.as_ref()) {
                return Err(undeclared(tag, &format!("[deps.from.{}]", tag.as_ref())));
            }
        }
        for (name, dep) in &deps.as_ref().direct.nix {
            if let Some(from_version) = &dep.from_version {
                let (set, label) = from_version.as_ref();
                let known = deps
                    .as_ref()
                    .from
                    .iter()
                    .find(|(tag, _)| tag.as_ref() == set)
                    .is_some_and(|(_, atoms)| atoms.contains_key(label));
                if !known {
                    return Err(SourceError::new(
                        path,
                        text,
                        Some(from_version.span()),
                        format!(
                            "[deps.direct.nix.{name}] `from_version` names the atom {label} of the set {set}, which [deps.from.{set}] does not declare"
                        ),
                    )
                    .with_help(format!("add `{label} = \"<version requirement>\"` under [deps.from.{set}]")));
                }
            }
        }
        Ok(())
    }

    /// The manifest as JSON, shaped like the TOML file (what `builtins.atom.manifest` and
    /// libatom return).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a manifest always converts to JSON")
    }

    /// The declared dependencies, if there is a `[deps]` table.
    pub fn dependencies(&self) -> Option<&Deps> {
        self.deps.as_ref().map(|d| d.as_ref())
    }
}
