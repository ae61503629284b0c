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
use crate::repo::{
    atom_ref, manifest_ref, origin_ref, signature_ref, EntryKind, ObjectId, Repo, RepoError,
};
use crate::resolve::{LockMismatch, ResolveError};

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
    /// The atom is evaluated (its `[compose]` is not static), but the commit has no `atom.lock`
    /// for it, or one that no longer satisfies its manifest: the published version could never be
    /// evaluated (the reference's loader reads the lock of every atom it evaluates).
    #[error("{} cannot be published: {detail}; run `atom lock {}`, commit atom.lock, and publish again (a published version can never be fixed later)", path.display(), crate::diagnostic::shell_quote(&path.to_string_lossy()))]
    StaleLock {
        /// The atom's directory.
        path: PathBuf,
        /// What is missing or out of date.
        detail: StaleLockReason,
    },
    /// The atom's `atom.lock` in the commit does not parse.
    #[error("{} cannot be published: {error}", path.display())]
    InvalidLock {
        /// The atom's directory.
        path: PathBuf,
        /// Where and why.
        error: Box<SourceError>,
    },
    /// Signing failed: nothing of the atom was published.
    #[error(transparent)]
    Sign(crate::sign::SignError),
    /// A git operation failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// What is missing or out of date in the `atom.lock` an evaluated atom would be published with
/// ([`PublishError::StaleLock`]).
#[derive(Debug, thiserror::Error)]
pub enum StaleLockReason {
    /// The commit has no `atom.lock`, and the manifest declares dependencies.
    #[error("it declares dependencies but has no atom.lock in the commit")]
    NoLockWithDependencies,
    /// The commit has no `atom.lock` (the manifest declares no dependencies).
    #[error("it is evaluated (its [compose] is not static) but has no atom.lock in the commit, which the reference's loader needs to evaluate it")]
    NoLock,
    /// The lock's `[compose]` is not the manifest's.
    #[error("its atom.lock's [compose] does not match the manifest's [compose]")]
    Compose,
    /// The lock pins an atom of the working tree that was not published.
    #[error("its atom.lock pins {label} {version} from this repository's working tree (it was not published when the lock was written): publish {label} first")]
    LocalOnly {
        /// The pinned atom's label.
        label: Label,
        /// Its version in the lock.
        version: Version,
    },
    /// The lock does not cover the manifest's dependencies.
    #[error("{0}")]
    Mismatch(LockMismatch),
    /// The check itself failed.
    #[error("{0}")]
    Other(Box<ResolveError>),
}

/// Publishes the atoms at `paths` (relative to the repository root) from the commit `rev`.
/// With no paths, publishes every atom listed in the commit's `ekala.toml`.
///
/// Stops at the first atom that fails (after publishing the others): [`publish_report`] reports
/// every atom's outcome instead.
pub fn publish(repo: &Repo, rev: &str, paths: &[String]) -> Result<Vec<Outcome>, PublishError> {
    let report = publish_report(repo, rev, paths)?;
    let mut outcomes = Vec::new();
    for atom in report.atoms {
        outcomes.push(atom.result?);
    }
    Ok(outcomes)
}

/// What [`publish_report`] did, atom by atom.
#[derive(Debug)]
pub struct Report {
    /// The commit published from.
    pub origin: ObjectId,
    /// The root `refs/ekala/init` was created for, when the repository had none.
    pub initialized: Option<crate::id::Root>,
    /// Each atom, in the order asked for (or listed in `ekala.toml`).
    pub atoms: Vec<AtomReport>,
}

/// The outcome of one atom of a [`Report`].
#[derive(Debug)]
pub struct AtomReport {
    /// The atom's path as given (or listed in `ekala.toml`).
    pub path: String,
    /// Its label and version, when its manifest could be read.
    pub package: Option<(Label, Version)>,
    /// Files of the atom's directory whose working-tree state differs from the commit
    /// (`publish` reads the commit, not the working tree), relative to the atom directory, each
    /// with what changed: `mod.nix (modified)`.
    pub worktree_changes: Vec<String>,
    /// What a user should know about the published atom, one sentence each (e.g. a dependency
    /// the reference's loader cannot fetch).
    pub notes: Vec<String>,
    /// What happened.
    pub result: Result<Outcome, PublishError>,
}

impl Report {
    /// How many atoms were published, found unchanged, and failed.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for atom in &self.atoms {
            match &atom.result {
                Ok(Outcome::Created(_)) => counts.0 += 1,
                Ok(Outcome::Unchanged(_)) => counts.1 += 1,
                Err(_) => counts.2 += 1,
            }
        }
        counts
    }
}

impl AtomReport {
    /// `{"path", "status": "published"|"unchanged"|"failed", ...}`: the outcome's fields
    /// ([`Outcome::to_json`]), or `"error"` (and `"label"`, `"version"` when known), plus
    /// `"worktree_changes"` when there are any.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = match &self.result {
            Ok(outcome) => {
                let mut json = outcome.to_json();
                json["status"] = match outcome {
                    Outcome::Created(_) => "published",
                    Outcome::Unchanged(_) => "unchanged",
                }
                .into();
                json
            }
            Err(error) => {
                let mut json = serde_json::json!({
                    "path": self.path,
                    "status": "failed",
                    "error": error.to_string(),
                });
                if let Some((label, version)) = &self.package {
                    json["label"] = label.as_str().into();
                    json["version"] = version.to_string().into();
                }
                json
            }
        };
        if !self.notes.is_empty() {
            json["notes"] = self.notes.clone().into();
        }
        if !self.worktree_changes.is_empty() {
            json["worktree_changes"] = self.worktree_changes.clone().into();
        }
        json
    }
}

/// One atom ready to publish.
struct Planned {
    atom: PublishedAtom,
    manifest_id: ObjectId,
    object: AtomCommit,
    tree: ObjectId,
}

/// Publishes the atoms at `paths` (relative to the repository root) from the commit `rev`, or
/// with no paths every atom listed in the commit's `ekala.toml`, and reports each one: published,
/// unchanged (its tree is the tree of the published version), or failed and why. One atom's
/// failure does not stop the others.
///
/// Refused per atom: a path that is not an atom in the commit, two atoms with one label, an
/// evaluated atom (any but a static one) without an `atom.lock` that matches its manifest (the
/// release could never be evaluated by the reference's loader), and different content under a
/// published version.
///
/// A repository without `refs/ekala/init` is initialised first (at the root of `rev`), so that
/// what is published can be fetched. The `Err` cases are those that concern every atom: `rev`
/// or `ekala.toml` cannot be read, or `rev` does not descend from the repository's genesis.
pub fn publish_report(repo: &Repo, rev: &str, paths: &[String]) -> Result<Report, PublishError> {
    publish_signed(repo, rev, paths, None)
}

/// How published atoms are signed (docs/format.md#signatures).
pub struct Signing<'a> {
    /// The key.
    pub key: &'a crate::sign::SigningKey,
    /// Who tags: `Name <email>`.
    pub tagger: String,
    /// When, in seconds since the epoch.
    pub time: u64,
}

/// [`publish_report`], signing each atom with `signing` when given: its signature tag is
/// created with its refs, in the same transaction. An atom published before without a
/// signature gets one; one that has a signature keeps it.
pub fn publish_signed(
    repo: &Repo,
    rev: &str,
    paths: &[String],
    signing: Option<&Signing<'_>>,
) -> Result<Report, PublishError> {
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
    let recorded = repo.init_ref()?;
    if let Some(genesis) = recorded {
        let found = repo.root_of(origin)?;
        if found != genesis {
            return Err(PublishError::InconsistentRoot {
                commit: origin,
                found,
                genesis,
            });
        }
    }

    let mut atoms: Vec<AtomReport> = Vec::new();
    let mut planned: Vec<Option<Planned>> = Vec::new();
    for given in &paths {
        let mut report = AtomReport {
            path: given.clone(),
            package: None,
            worktree_changes: Vec::new(),
            notes: Vec::new(),
            result: Err(PublishError::NoSetManifest(origin)),
        };
        match plan(repo, origin, tree, given, &mut report) {
            Ok(plan) => {
                report.package = Some((plan.atom.label.clone(), plan.atom.version.clone()));
                planned.push(Some(plan));
            }
            Err(error) => {
                report.result = Err(error);
                planned.push(None);
            }
        }
        atoms.push(report);
    }

    // Two atoms with one label: neither is published.
    for i in 0..planned.len() {
        for j in 0..i {
            let (Some(first), Some(second)) = (&planned[j], &planned[i]) else {
                continue;
            };
            if first.atom.label == second.atom.label {
                let duplicate = || PublishError::DuplicateLabel {
                    label: first.atom.label.clone(),
                    first: first.atom.path.clone(),
                    second: second.atom.path.clone(),
                };
                atoms[i].result = Err(duplicate());
                atoms[j].result = Err(duplicate());
            }
        }
    }
    for (report, plan) in atoms.iter().zip(&mut planned) {
        if matches!(report.result, Err(PublishError::DuplicateLabel { .. })) {
            *plan = None;
        }
    }

    let mut initialized = None;
    if recorded.is_none() && planned.iter().any(Option::is_some) {
        if let crate::repo::InitOutcome::Created(root) = repo.init()? {
            initialized = Some(root);
        }
    }

    for (report, plan) in atoms.iter_mut().zip(planned) {
        if let Some(plan) = plan {
            report.result = publish_one(repo, plan, signing);
        }
    }
    Ok(Report {
        origin,
        initialized,
        atoms,
    })
}

/// Reads and checks the atom at `given` in the commit `origin` (tree `tree`).
fn plan(
    repo: &Repo,
    origin: ObjectId,
    tree: ObjectId,
    given: &str,
    report: &mut AtomReport,
) -> Result<Planned, PublishError> {
    let path = set::normalize(given).map_err(|why| PublishError::InvalidPath {
        path: given.to_owned(),
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
    // Only a warning: a working tree that cannot be read does not stop the publish.
    report.worktree_changes = repo.worktree_changes(dir.id, &path).unwrap_or_default();
    let entry = |name: &str| repo.entry(tree, &path.join(name));
    let manifest = entry(MANIFEST_FILE)?.ok_or_else(|| not_an_atom("it has no atom.toml"))?;
    if !manifest.is_blob() {
        return Err(not_an_atom(
            "its atom.toml is not a regular file (a symlink or a directory); commit the file itself",
        ));
    }
    let lock = entry(crate::lock::LOCK_FILE)?;
    if lock.is_some_and(|e| !e.is_blob()) {
        return Err(not_an_atom(
            "its atom.lock is not a regular file (a symlink or a directory); commit the file itself",
        ));
    }
    let manifest_id = manifest.id;
    let text = repo.read_text(manifest_id)?;
    let manifest_path = format!("{}", path.join(MANIFEST_FILE).display());
    let package = Package::parse_only(&text, &manifest_path)
        .map_err(|e| PublishError::Manifest(Box::new(e)))?;
    report.package = Some((package.label.clone(), package.version.clone()));
    check_lock(repo, &path, &text, &manifest_path, lock.map(|e| e.id))?;
    if let Some(lock) = lock {
        report.notes = unfetchable_by_the_reference(repo, lock.id);
    }
    let object = AtomCommit::new(dir.id, origin, &package.label, &package.version);
    let commit = object.id();
    Ok(Planned {
        atom: PublishedAtom {
            path,
            label: package.label,
            version: package.version,
            commit,
            origin,
        },
        manifest_id,
        object,
        tree: dir.id,
    })
}

/// The dependencies a published lock pins from a `"::"`-only set: this evaluator loads them from
/// the atom store by the set's root, the reference's loader cannot (it fetches by the entry's
/// `mirror`, and there is none). One sentence each (docs/format.md#reference-discrepancies).
fn unfetchable_by_the_reference(repo: &Repo, lock: ObjectId) -> Vec<String> {
    let Some(lock) = repo.read_lock(lock) else {
        return Vec::new();
    };
    lock.deps
        .iter()
        .filter_map(|dep| match dep {
            crate::lock::LockedDep::Atom(atom) if atom.rev.is_some() && atom.mirror.is_none() => {
                let urls = lock
                    .sets
                    .get(&atom.set)
                    .is_some_and(|set| set.mirrors.iter().any(|m| m.url().is_some()));
                (!urls).then(|| {
                    format!(
                        "its atom.lock pins {} {} from a \"::\" set without a mirror URL: this evaluator loads it from the atom store, the reference's loader cannot fetch it; give the set a mirror URL beside \"::\"",
                        atom.label, atom.version
                    )
                })
            }
            _ => None,
        })
        .collect()
}

/// Refuses an evaluated atom without a committed `atom.lock`, or whose lock does not match its
/// `[compose]` or satisfy its dependencies. A static atom has no lock. A manifest that does not
/// parse as a whole is published as the reference does (only `[package]` is read at publish
/// time), and is not checked here.
fn check_lock(
    repo: &Repo,
    path: &Path,
    text: &str,
    manifest_path: &str,
    lock: Option<ObjectId>,
) -> Result<(), PublishError> {
    use crate::lock::LockedCompose;
    use crate::manifest::{Compose, ComposeAs};
    let Ok(manifest) = crate::manifest::Manifest::parse(text, manifest_path) else {
        return Ok(());
    };
    // A static atom is never evaluated and has no lock; every other atom is evaluated, and the
    // reference's loader reads its lock (`[locker]`, `[compose]`) even when it has no
    // dependencies.
    if matches!(manifest.compose, Compose::As(ComposeAs::Static(_))) {
        return Ok(());
    }
    let stale = |detail: StaleLockReason| PublishError::StaleLock {
        path: path.to_owned(),
        detail,
    };
    let lock_path = path.join(crate::lock::LOCK_FILE);
    let Some(lock) = lock else {
        return Err(stale(
            if manifest.dependencies().is_some_and(|d| !d.is_empty()) {
                StaleLockReason::NoLockWithDependencies
            } else {
                StaleLockReason::NoLock
            },
        ));
    };
    let lock = crate::lock::Lockfile::parse(&repo.read_text(lock)?, &lock_path.to_string_lossy())
        .map_err(|e| PublishError::InvalidLock {
        path: path.to_owned(),
        error: Box::new(e),
    })?;
    match (&manifest.compose, &lock.compose) {
        (Compose::As(ComposeAs::Nix(entry)), LockedCompose::Nix { entry: locked })
            if entry == locked => {}
        (Compose::With(with), LockedCompose::Atom { atom, entry })
            if atom.label == with.label
                && *entry == with.composer.entry
                && with
                    .composer
                    .version
                    .as_ref()
                    .is_none_or(|requirement| atom.satisfies(requirement)) => {}
        _ => return Err(stale(StaleLockReason::Compose)),
    }
    let lock = Some(lock);
    let local_only = lock.iter().flat_map(|l| &l.deps).find_map(|d| match d {
        crate::lock::LockedDep::Atom(a) if a.rev.is_none() => Some(a),
        _ => None,
    });
    if let Some(dep) = local_only {
        return Err(stale(StaleLockReason::LocalOnly {
            label: dep.label.clone(),
            version: dep.version.clone(),
        }));
    }
    crate::resolve::graph::check_lock(&manifest, lock.as_ref(), &lock_path, path).map_err(|e| {
        stale(match e {
            ResolveError::OutOfDate { detail, .. } => match *detail {
                LockMismatch::NoLock => StaleLockReason::NoLockWithDependencies,
                other => StaleLockReason::Mismatch(other),
            },
            other => StaleLockReason::Other(Box::new(other)),
        })
    })
}

fn publish_one(
    repo: &Repo,
    plan: Planned,
    signing: Option<&Signing<'_>>,
) -> Result<Outcome, PublishError> {
    let Planned {
        atom,
        manifest_id,
        object,
        tree,
    } = plan;
    let outcome = publish_atom(repo, atom, manifest_id, object, tree, signing)?;
    // An atom published before without a signature is signed now.
    if let (Some(signing), Outcome::Unchanged(atom)) = (signing, &outcome) {
        let name = signature_ref(&atom.label, &atom.version);
        if repo.ref_target(&name)?.is_none() {
            let tag = sign(repo, atom, tree, signing)?;
            repo.create_refs(
                &[(name, tag)],
                &format!("publish: sign {}: {}", atom.label, atom.version),
            )?;
        }
    }
    Ok(outcome)
}

/// Writes the signature tag of `atom` (whose tree is `tree`); returns its id.
fn sign(
    repo: &Repo,
    atom: &PublishedAtom,
    tree: ObjectId,
    signing: &Signing<'_>,
) -> Result<ObjectId, PublishError> {
    let root = repo.genesis()?;
    let fields = crate::sign::TagFields {
        commit: atom.commit,
        label: atom.label.clone(),
        version: atom.version.clone(),
        id: crate::id::AtomId::new(root, atom.label.clone()).digest(),
        digest: repo.tree_digest(tree)?,
    };
    let payload = fields.payload(&signing.tagger, signing.time);
    let armored = signing.key.sign(&payload).map_err(PublishError::Sign)?;
    let object = crate::sign::SignatureTag::object(&payload, &armored);
    // What was signed is checked before it is published: a key ssh-keygen signs with in another
    // namespace or format would give tags no one can verify.
    let id = repo.write_tag(&object)?;
    crate::sign::SignatureTag::parse(id, &object)
        .and_then(|tag| tag.verify_for(&fields))
        .map_err(PublishError::Sign)?;
    Ok(id)
}

/// Creates the atom commit and refs of `atom`, and its signature tag when `signing`.
fn publish_atom(
    repo: &Repo,
    atom: PublishedAtom,
    manifest_id: ObjectId,
    object: AtomCommit,
    tree: ObjectId,
    signing: Option<&Signing<'_>>,
) -> Result<Outcome, PublishError> {
    let name = atom_ref(&atom.label, &atom.version);
    let check_existing = |existing: Option<ObjectId>| match existing {
        Some(existing) if existing == atom.commit => Ok(Some(Outcome::Unchanged(atom.clone()))),
        // The same content published from another commit: nothing to do.
        Some(existing) if same_tree(repo, &atom, existing, tree)? => {
            let origin = repo
                .ref_target(&origin_ref(&atom.label, &atom.version))?
                .unwrap_or(existing);
            Ok(Some(Outcome::Unchanged(PublishedAtom {
                commit: existing,
                origin,
                ..atom.clone()
            })))
        }
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
    let mut refs = vec![
        (manifest_ref(&atom.label, &atom.version), manifest_id),
        (origin_ref(&atom.label, &atom.version), atom.origin),
    ];
    if let Some(signing) = signing {
        refs.push((
            signature_ref(&atom.label, &atom.version),
            sign(repo, &atom, tree, signing)?,
        ));
    }
    refs.push((name.clone(), atom.commit));
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

/// Whether the published atom commit `existing` of `atom` is a verified atom commit whose tree is
/// `tree`.
fn same_tree(
    repo: &Repo,
    atom: &PublishedAtom,
    existing: ObjectId,
    tree: ObjectId,
) -> Result<bool, PublishError> {
    let published = crate::repo::AtomRef {
        label: atom.label.clone(),
        version: atom.version.clone(),
        commit: existing,
        layout: crate::repo::RefLayout::Current,
    };
    Ok(match repo.verify(&published, None) {
        Ok(verified) => verified.tree == tree,
        Err(_) => false,
    })
}
