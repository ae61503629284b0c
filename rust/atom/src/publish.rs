//! Publishing atoms into a git repository (docs/format.md#the-atom-commit, docs/format.md#publishing).
//!
//! An atom is published from a commit: the atom directory's tree becomes the tree of an orphan
//! *atom commit* whose bytes depend only on (tree, origin commit, label, version), and three refs
//! are created at once with must-not-exist semantics, so a version, once published, never changes.

use std::path::PathBuf;

use std::path::Path;

use crate::diagnostic::SourceError;
use crate::id::Label;
use crate::manifest::set::{self, SetManifest, SET_MANIFEST_FILE};
use crate::manifest::{Package, Version, MANIFEST_FILE};
use crate::repo::{atom_ref, manifest_ref, origin_ref, EntryKind, ObjectId, Repo, RepoError};

pub use crate::repo::{AtomCommit, FORMAT};

/// A published atom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedAtom {
    /// Its directory in the source commit.
    pub path: PathBuf,
    /// Its label.
    pub label: Label,
    /// Its version.
    pub version: Version,
    /// The atom commit.
    pub commit: ObjectId,
    /// The source commit.
    pub origin: ObjectId,
}

/// What publishing one atom did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The atom commit and its refs were created.
    Created(PublishedAtom),
    /// This exact atom commit was already published: nothing changed.
    Unchanged(PublishedAtom),
}

impl Outcome {
    /// `{"label", "version", "path", "rev", "origin", "created"}`, as the CLI and libatom report it.
    pub fn to_json(&self) -> serde_json::Value {
        let atom = self.atom();
        serde_json::json!({
            "label": atom.label.as_str(),
            "version": atom.version.to_string(),
            "path": atom.path,
            "rev": atom.commit.to_string(),
            "origin": atom.origin.to_string(),
            "created": matches!(self, Outcome::Created(_)),
        })
    }

    /// The atom, whatever happened.
    pub fn atom(&self) -> &PublishedAtom {
        match self {
            Outcome::Created(a) | Outcome::Unchanged(a) => a,
        }
    }
}

/// Why an atom cannot be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The path is not an atom directory in the commit.
    #[error("{} is not an atom in commit {commit}: {why}", path.display())]
    NotAnAtom {
        /// The path.
        path: PathBuf,
        /// The commit.
        commit: ObjectId,
        /// What is missing.
        why: &'static str,
    },
    /// The path is not a valid atom path.
    #[error("cannot publish {path:?}: {why}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why.
        why: &'static str,
    },
    /// The atom's manifest or the set manifest is invalid.
    #[error("{0}")]
    Manifest(Box<SourceError>),
    /// The commit does not descend from the repository's genesis.
    #[error("commit {commit} descends from {found}, but refs/ekala/init says this repository's root is {genesis}")]
    InconsistentRoot {
        /// The commit.
        commit: ObjectId,
        /// Its root.
        found: crate::id::Root,
        /// The recorded genesis.
        genesis: crate::id::Root,
    },
    /// The version is already published with other content.
    #[error("{} {} is already published as {existing}; publishing {} would give {}. Published versions never change: bump the version in its atom.toml", atom.label, atom.version, atom.path.display(), atom.commit)]
    VersionExists {
        /// The atom this publish would create.
        atom: Box<PublishedAtom>,
        /// The published commit.
        existing: ObjectId,
    },
    /// Two labels in one publish.
    #[error("{} and {} are both labelled {label}: atoms must have unique labels to retain distinct identities", first.display(), second.display())]
    DuplicateLabel {
        /// The label.
        label: Label,
        /// One path.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// The commit has no `ekala.toml`.
    #[error("commit {0} has no ekala.toml at its root: list the repository's atoms there, or name the atoms to publish")]
    NoSetManifest(ObjectId),
    /// The commit's `ekala.toml` is not a regular file (a symlink, a directory, a submodule).
    #[error("the ekala.toml of commit {0} is {1}, not a regular file: commit the file itself")]
    SetManifestNotRegular(ObjectId, &'static str),
    /// A git operation failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Publishes the atoms at `paths` (relative to the repository root) from the commit `rev`.
/// With no paths, publishes every atom listed in the commit's `ekala.toml`.
pub fn publish(repo: &Repo, rev: &str, paths: &[String]) -> Result<Vec<Outcome>, PublishError> {
    let origin = repo.commit_id(rev)?;
    let tree = repo.commit_tree(origin)?;

    let paths: Vec<String> = if paths.is_empty() {
        let entry = repo
            .entry(tree, Path::new(SET_MANIFEST_FILE))?
            .ok_or(PublishError::NoSetManifest(origin))?;
        if !entry.is_blob() {
            return Err(PublishError::SetManifestNotRegular(
                origin,
                entry.kind_text(),
            ));
        }
        let text = repo.read_text(entry.id)?;
        let set = SetManifest::parse(&text, &format!("{rev}:{SET_MANIFEST_FILE}"))
            .map_err(|e| PublishError::Manifest(Box::new(e)))?;
        set.paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    } else {
        paths.to_vec()
    };

    // The genesis of the commit must be the repository's recorded one.
    if let Some(genesis) = repo.init_ref()? {
        let found = repo.root_of(origin)?;
        if found != genesis {
            return Err(PublishError::InconsistentRoot {
                commit: origin,
                found,
                genesis,
            });
        }
    }

    let mut planned: Vec<(PublishedAtom, ObjectId, AtomCommit)> = Vec::new();
    for given in &paths {
        let path = set::normalize(given).map_err(|why| PublishError::InvalidPath {
            path: given.clone(),
            why,
        })?;
        let not_an_atom = |why| PublishError::NotAnAtom {
            path: path.clone(),
            commit: origin,
            why,
        };
        let dir = repo
            .entry(tree, &path)?
            .ok_or_else(|| not_an_atom("it does not exist there"))?;
        if dir.kind != EntryKind::Tree {
            return Err(not_an_atom("it is not a directory"));
        }
        let entry = |name: &str| repo.entry(tree, &path.join(name));
        let manifest = entry(MANIFEST_FILE)?.ok_or_else(|| not_an_atom("it has no atom.toml"))?;
        if !manifest.is_blob() {
            return Err(not_an_atom(
                "its atom.toml is not a regular file (a symlink or a directory); commit the file itself",
            ));
        }
        if entry(crate::lock::LOCK_FILE)?.is_some_and(|e| !e.is_blob()) {
            return Err(not_an_atom(
                "its atom.lock is not a regular file (a symlink or a directory); commit the file itself",
            ));
        }
        let manifest_id = manifest.id;
        let text = repo.read_text(manifest_id)?;
        let package =
            Package::parse_only(&text, &format!("{}", path.join(MANIFEST_FILE).display()))
                .map_err(|e| PublishError::Manifest(Box::new(e)))?;
        if let Some((first, ..)) = planned.iter().find(|(a, ..)| a.label == package.label) {
            return Err(PublishError::DuplicateLabel {
                label: package.label,
                first: first.path.clone(),
                second: path,
            });
        }
        let object = AtomCommit::new(dir.id, origin, &package.label, &package.version);
        let commit = object.id();
        let atom = PublishedAtom {
            path,
            label: package.label,
            version: package.version,
            commit,
            origin,
        };
        planned.push((atom, manifest_id, object));
    }

    let mut outcomes = Vec::new();
    for (atom, manifest_id, object) in planned {
        outcomes.push(publish_one(repo, atom, manifest_id, object)?);
    }
    Ok(outcomes)
}

fn publish_one(
    repo: &Repo,
    atom: PublishedAtom,
    manifest_id: ObjectId,
    object: AtomCommit,
) -> Result<Outcome, PublishError> {
    let name = atom_ref(&atom.label, &atom.version);
    let check_existing = |existing: Option<ObjectId>| match existing {
        Some(existing) if existing == atom.commit => Ok(Some(Outcome::Unchanged(atom.clone()))),
        Some(existing) => Err(PublishError::VersionExists {
            atom: Box::new(atom.clone()),
            existing,
        }),
        None => Ok(None),
    };
    if let Some(outcome) = check_existing(repo.ref_target(&name)?)? {
        return Ok(outcome);
    }
    let written = repo.write_commit(&object)?;
    debug_assert_eq!(written, atom.commit);
    let refs = [
        (name.clone(), atom.commit),
        (manifest_ref(&atom.label, &atom.version), manifest_id),
        (origin_ref(&atom.label, &atom.version), atom.origin),
    ];
    match repo.create_refs(&refs, &format!("publish: {}: {}", atom.label, atom.version)) {
        Ok(()) => Ok(Outcome::Created(atom)),
        // Another process may have published this version between our check and our
        // transaction: the refs it made decide.
        Err(error) => match check_existing(repo.ref_target(&name)?)? {
            Some(outcome) => Ok(outcome),
            None => Err(error.into()),
        },
    }
}
