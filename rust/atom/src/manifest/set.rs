//! The set manifest `ekala.toml` at a repository's root (docs/format.md#the-set-manifest): which directories hold the
//! repository's atoms.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diagnostic::{FileError, SourceError};
use crate::id::{Label, Tag};

/// The file name of a set manifest.
pub const SET_MANIFEST_FILE: &str = "ekala.toml";

/// `ekala.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetManifest {
    /// `[set]`.
    pub set: Set,
    /// `[metadata]`: unknown keys are tolerated and dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<SetMetadata>,
}

/// `[set]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Set {
    /// Directories holding atoms, relative to the repository root.
    #[serde(default)]
    pub packages: Vec<Spanned<String>>,
}

/// `[metadata]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct SetMetadata {
    /// Tags describing the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeSet<Tag>>,
}

/// An atom listed by a set manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMember {
    /// The atom's directory, relative to the repository root, normalised.
    pub path: PathBuf,
    /// The label its `atom.toml` declares.
    pub label: Label,
}

/// What listing a set's atoms found besides the atoms themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetWarning {
    /// A listed path has no `atom.toml` (the reference: "atom no longer exists").
    Missing(PathBuf),
}

impl SetManifest {
    /// Parses `ekala.toml` text; `path` names the file in errors. Every listed path must stay
    /// inside the repository and must not be the repository root.
    pub fn parse(text: &str, path: &str) -> Result<SetManifest, SourceError> {
        let manifest: SetManifest =
            toml::from_str(text).map_err(|e| SourceError::from_toml(path, text, &e))?;
        for package in &manifest.set.packages {
            normalize(package.as_ref()).map_err(|why| {
                SourceError::new(
                    path,
                    text,
                    Some(package.span()),
                    format!("invalid atom path {:?}: {why}", package.as_ref()),
                )
                .with_help("list directories relative to the repository root, e.g. \"pkgs/hello\"")
            })?;
        }
        Ok(manifest)
    }

    /// Reads and parses an `ekala.toml` file.
    pub fn read(path: &Path) -> Result<SetManifest, FileError> {
        let text = crate::diagnostic::read_text(path)?;
        Ok(SetManifest::parse(&text, &path.display().to_string())?)
    }

    /// The listed paths, normalised relative to the repository root.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.set
            .packages
            .iter()
            .map(|p| normalize(p.as_ref()).expect("validated by parse"))
            .collect()
    }

    /// Lists the set's atoms under `repo` by reading each listed `atom.toml` for its label.
    /// Missing manifests are reported as warnings; two atoms with one label are an error.
    pub fn members(&self, repo: &Path) -> Result<(Vec<SetMember>, Vec<SetWarning>), SetError> {
        let mut members: Vec<SetMember> = Vec::new();
        let mut warnings = Vec::new();
        let mut seen: BTreeMap<Label, PathBuf> = BTreeMap::new();
        for path in self.paths() {
            let file = repo.join(&path).join(super::MANIFEST_FILE);
            if !crate::diagnostic::is_present(&file) {
                warnings.push(SetWarning::Missing(path));
                continue;
            }
            let manifest = super::Manifest::read(&file).map_err(SetError::Manifest)?;
            let label = manifest.package.label;
            if let Some(first) = seen.insert(label.clone(), path.clone()) {
                return Err(SetError::DuplicateLabel {
                    label,
                    first,
                    second: path,
                });
            }
            members.push(SetMember { path, label });
        }
        Ok((members, warnings))
    }
}

/// Why a set's atoms could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// A listed atom's manifest is invalid.
    #[error(transparent)]
    Manifest(FileError),
    /// Two listed atoms declare the same label.
    #[error("the atoms at {} and {} are both labelled \"{label}\": atoms must have unique labels to retain distinct identities", first.display(), second.display())]
    DuplicateLabel {
        /// The shared label.
        label: Label,
        /// The first path with it.
        first: PathBuf,
        /// The second path with it.
        second: PathBuf,
    },
}

/// Normalises a listed path lexically: relative, inside the repository, not the root itself.
pub fn normalize(path: &str) -> Result<PathBuf, &'static str> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err("it leaves the repository");
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("it is absolute; paths are relative to the repository root")
            }
        }
    }
    if parts.is_empty() {
        return Err("atoms cannot exist at the repo root");
    }
    Ok(parts.iter().collect())
}
