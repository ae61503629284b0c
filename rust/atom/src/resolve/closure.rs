//! Verifying the whole locked closure of an atom (`atom verify --recursive`): every atom its
//! lock pins, transitively through each dependency's own lock, checked as the evaluator checks
//! it (AtomId, content digest, signature, trusted keys) and, where the source commit is on this
//! machine, against the source it claims to be published from.

use std::collections::BTreeSet;
use std::path::Path;

use super::trust::{self, Assessment, Policy};
use super::{AtomName, ResolveError};
use crate::diagnostic::SourceError;
use crate::digest::ContentDigest;
use crate::id::Label;
use crate::lock::integrity::{Integrity, INTEGRITY_FILE};
use crate::lock::{AtomDep, LockedCompose, LockedDep, Lockfile, LOCK_FILE};
use crate::manifest::set::{SetManifest, SET_MANIFEST_FILE};
use crate::manifest::{Manifest, MANIFEST_FILE};
use crate::repo::RepoError;
use crate::repo::{AtomRef, ObjectId, RefLayout, Repo};
use crate::store::Store;
use crate::store::StoreError;

/// Why an atom of the closure failed its check.
#[derive(Debug, thiserror::Error)]
pub enum ClosureProblem {
    /// The lock pins a rev that is not an object id.
    #[error(transparent)]
    Rev(Box<dyn std::error::Error + Send + Sync>),
    /// Its commit is neither in the atom store nor in the consumer's repository.
    #[error("its commit is not on this machine; run `atom fetch` in the atom's directory")]
    NotHere,
    /// Its tree is not the subtree of its source commit.
    #[error("its tree is {tree}, but its source commit {origin} has {found} for {label} (possible tampering)")]
    SourceTree {
        /// Its tree.
        tree: ObjectId,
        /// The source commit.
        origin: ObjectId,
        /// The source commit's tree for its label.
        found: ObjectId,
        /// Its label.
        label: Label,
    },
    /// Its source commit does not list it.
    #[error("its source commit {origin} lists no atom {label} in its {SET_MANIFEST_FILE} (possible tampering)")]
    NotInSource {
        /// The source commit.
        origin: ObjectId,
        /// Its label.
        label: Label,
    },
    /// One of its files cannot be read as text.
    #[error("its {file}: {error}")]
    Unreadable {
        /// The file.
        file: &'static str,
        /// Why.
        error: RepoError,
    },
    /// Its lock or integrity record does not parse.
    #[error(transparent)]
    File(#[from] SourceError),
    /// Its repository failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The atom store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// It is not what the lock recorded, or not signed by a trusted key.
    #[error(transparent)]
    Resolve(Box<ResolveError>),
}

impl From<ResolveError> for ClosureProblem {
    fn from(error: ResolveError) -> Self {
        ClosureProblem::Resolve(Box::new(error))
    }
}

/// One atom of the closure, as checked.
#[derive(Debug)]
pub struct ClosureEntry {
    /// The atom.
    pub atom: AtomName,
    /// The atom whose lock pins it.
    pub by: AtomName,
    /// The pinned commit (`None`: an unpublished atom of the consumer's repository).
    pub rev: Option<ObjectId>,
    /// Its content digest, when it was read.
    pub digest: Option<ContentDigest>,
    /// The fingerprint of the key whose signature verified.
    pub signer: Option<String>,
    /// The source check: `Some(true)` the tree is the source commit's subtree, `None` the
    /// source commit is not on this machine.
    pub source: Option<bool>,
    /// What is wrong; `None` when it verified.
    pub problem: Option<ClosureProblem>,
}

impl ClosureEntry {
    /// As `atom verify --recursive --json` prints it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "atom": self.atom.to_string(),
            "by": self.by.to_string(),
            "rev": self.rev.map(|r| r.to_string()),
            "digest": self.digest.map(|d| d.to_string()),
            "signer": self.signer,
            "source": self.source,
            "ok": self.problem.is_none(),
            "problem": self.problem.as_ref().map(ToString::to_string),
        })
    }
}

/// Checks every atom the lock of the atom in `dir` pins, transitively.
pub fn verify_closure(dir: &Path, store: &Store) -> Result<Vec<ClosureEntry>, ResolveError> {
    let manifest = Manifest::read_atom(dir)?;
    let lock_path = dir.join(LOCK_FILE);
    let lock = Lockfile::read_if_present(&lock_path)?;
    super::graph::check_lock(&manifest, lock.as_ref(), &lock_path, dir)?;
    let integrity = Integrity::read_if_present(&dir.join(INTEGRITY_FILE))?;
    let policy = Policy::for_atom(dir, lock.as_ref())?;
    let local = Repo::discover(dir).ok();
    let mut entries = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue = Vec::new();
    if let Some(lock) = lock {
        queue.push((lock, integrity, AtomName::of(&manifest)));
    }
    while let Some((lock, integrity, by)) = queue.pop() {
        let mut pinned: Vec<&AtomDep> = lock
            .deps
            .iter()
            .filter_map(|d| match d {
                LockedDep::Atom(a) => Some(a),
                _ => None,
            })
            .collect();
        if let LockedCompose::Atom { atom, .. } = &lock.compose {
            pinned.push(atom);
        }
        for dep in pinned {
            if !seen.insert((
                dep.set,
                dep.label.clone(),
                dep.version.clone(),
                dep.rev.clone(),
            )) {
                continue;
            }
            let mut entry = ClosureEntry {
                atom: AtomName::new(&dep.label, &dep.version),
                by: by.clone(),
                rev: None,
                digest: None,
                signer: None,
                source: None,
                problem: None,
            };
            match check(
                dep,
                &lock,
                integrity.as_ref(),
                &policy,
                local.as_ref(),
                store,
                &mut entry,
            ) {
                Ok(Some(next)) => queue.push((next.0, next.1, entry.atom.clone())),
                Ok(None) => {}
                Err(problem) => entry.problem = Some(problem),
            }
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// A published atom's own lock and integrity record.
type Pinned = (Lockfile, Option<Integrity>);

/// Checks one pinned atom, filling `entry`; returns its own lock to follow.
fn check(
    dep: &AtomDep,
    lock: &Lockfile,
    integrity: Option<&Integrity>,
    policy: &Policy,
    local: Option<&Repo>,
    store: &Store,
    entry: &mut ClosureEntry,
) -> Result<Option<Pinned>, ClosureProblem> {
    let Some(rev) = &dep.rev else {
        entry.source = None;
        return Ok(None);
    };
    let rev =
        ObjectId::from_hex(rev.as_str().as_bytes()).map_err(|e| ClosureProblem::Rev(e.into()))?;
    entry.rev = Some(rev);
    let repo = match store.open_set(&dep.set)? {
        Some(repo) if repo.has_object(rev) => repo,
        _ => match local {
            Some(local) if local.has_object(rev) => Repo::open(local.git_dir())?,
            _ => return Err(ClosureProblem::NotHere),
        },
    };
    let atom = AtomRef {
        label: dep.label.clone(),
        version: dep.version.clone(),
        commit: rev,
        layout: RefLayout::Current,
    };
    let verified = repo.verify_pinned(&atom, &dep.id)?;
    let assessment = Assessment::of(&repo, &dep.set, &dep.label, &dep.version, rev)?;
    entry.digest = assessment.digest;
    let trusted = policy.trusted_in(lock, &dep.set);
    let record = trust::check_loaded(
        &assessment,
        integrity,
        &trusted,
        &entry.atom,
        &entry.by,
        rev,
    )?;
    entry.signer = record.and_then(|r| r.signer).or_else(|| {
        assessment
            .signed
            .first()
            .map(|s| s.signer.fingerprint.clone())
    });
    // Where the source commit is here: the atom must be its subtree.
    let source_repo = [Some(&repo), local]
        .into_iter()
        .flatten()
        .find(|r| r.has_object(verified.origin));
    if let Some(source) = source_repo {
        match source_subtree(source, verified.origin, &dep.label) {
            Some(tree) if tree == verified.tree => entry.source = Some(true),
            Some(found) => {
                entry.source = Some(false);
                return Err(ClosureProblem::SourceTree {
                    tree: verified.tree,
                    origin: verified.origin,
                    found,
                    label: dep.label.clone(),
                });
            }
            None => {
                entry.source = Some(false);
                return Err(ClosureProblem::NotInSource {
                    origin: verified.origin,
                    label: dep.label.clone(),
                });
            }
        }
    }
    let read = |id: ObjectId, file: &'static str| {
        repo.read_text(id)
            .map_err(|error| ClosureProblem::Unreadable { file, error })
    };
    let Some(lock_id) = verified.lock else {
        return Ok(None);
    };
    let own_lock = Lockfile::parse(
        &read(lock_id, LOCK_FILE)?,
        &format!("{}/{LOCK_FILE}", entry.atom),
    )?;
    let own_integrity = match repo.entry(verified.tree, Path::new(INTEGRITY_FILE))? {
        Some(file) if file.is_blob() => Some(Integrity::parse(
            &read(file.id, INTEGRITY_FILE)?,
            &format!("{}/{INTEGRITY_FILE}", entry.atom),
        )?),
        _ => None,
    };
    Ok(Some((own_lock, own_integrity)))
}

/// The tree of the atom labelled `label` in the source commit `origin` (by its `ekala.toml`).
fn source_subtree(repo: &Repo, origin: ObjectId, label: &crate::id::Label) -> Option<ObjectId> {
    let tree = repo.commit_tree(origin).ok()?;
    let set_file = repo.entry(tree, Path::new(SET_MANIFEST_FILE)).ok()??;
    let set = SetManifest::parse(&repo.read_text(set_file.id).ok()?, SET_MANIFEST_FILE).ok()?;
    set.paths().iter().find_map(|path| {
        let manifest = repo.entry(tree, &path.join(MANIFEST_FILE)).ok()??;
        let package =
            crate::manifest::Package::parse_only(&repo.read_text(manifest.id).ok()?, MANIFEST_FILE)
                .ok()?;
        (package.label == *label)
            .then(|| repo.entry(tree, path).ok().flatten().map(|e| e.id))
            .flatten()
    })
}
