//! Resolving atoms from git repositories already on this machine, without a fetcher
//! (docs/design.md#resolving-without-a-fetcher).
//!
//! Atoms come from a repository or from the atom store ([`crate::store`]).
//!
//! - [`resolve`]: the highest published version of a label matching a requirement, verified and
//!   materialised (`builtins.atom.resolve`).
//! - [`graph`]: an atom and everything its `atom.lock` pins, transitively, verified against the
//!   lock (what `builtins.atom.import` loads).
//! - [`locking`]: computing an `atom.lock` from a manifest against the store (`atom lock`).

pub mod closure;
pub mod graph;
pub mod locking;
mod memo;
pub mod outdated;
pub mod trust;

use std::path::{Path, PathBuf};

use crate::diagnostic::{shell_quote, FileError, SourceError};
use crate::id::{AtomDigest, Label, Root, Tag};
use crate::lock::LOCK_FILE;
use crate::manifest::set::SetError;
use crate::manifest::{Manifest, Requirement, Version, MANIFEST_FILE};
use crate::repo::{AtomRef, ObjectId, Repo, RepoError};
use crate::sign::trust::TrustError;
use crate::sign::TRUST_FILE;
use crate::store::record::FetchRecord;
use crate::store::{FetchCommand, Store, StoreError};
pub use trust::{Distrust, Signers};

/// The top of the git working tree `dir` is in: its nearest ancestor (itself included, the
/// path made canonical first, so that `.` looks above the current directory too) with a `.git`
/// (a directory, or the file of a linked worktree or submodule). Where the consumer's trust file
/// and set manifest are.
pub fn work_tree_top(dir: &Path) -> Option<PathBuf> {
    let dir = std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .ok()?;
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// `items`, each as it displays, separated by commas.
fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A version the trust policy skipped: no key trusted for its set signs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The version.
    pub version: Version,
    /// Who signs it.
    pub found: Signers,
}

impl std::fmt::Display for Skipped {
    /// `VERSION (unsigned)` or `VERSION (signed by <fingerprints>)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.version, self.found)
    }
}

/// A dependency locked at an older version than its requirement allows, because no key
/// trusted for its set signs the newer ones ([`locking::Locked::skipped`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustSkipped {
    /// The dependency's label.
    pub label: Label,
    /// The version locked.
    pub locked: Version,
    /// The newer versions skipped.
    pub skipped: Vec<Skipped>,
    /// The set's tag.
    pub set: Tag,
}

impl std::fmt::Display for TrustSkipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: locked {} (skipped {}: not signed by a key {TRUST_FILE} trusts for {})",
            self.label,
            self.locked,
            join(&self.skipped),
            self.set
        )
    }
}

/// No version matching a requirement is signed by a key trusted for its set.
#[derive(Debug, thiserror::Error)]
#[error("no version of {label} matching {requirement} is signed by a key {TRUST_FILE} trusts for the set {set} ({}); skipped: {}; trust another key with `atom trust add {set} KEY`", .trusted.join(", "), join(.skipped))]
pub struct NoTrustedVersion {
    /// The label.
    pub label: Label,
    /// The requirement.
    pub requirement: Requirement,
    /// The set's tag.
    pub set: Tag,
    /// The trusted keys' fingerprints.
    pub trusted: Vec<String>,
    /// The versions skipped, each with who signs it.
    pub skipped: Vec<Skipped>,
}

/// A dependency's new version is not signed by the key its lock recorded.
#[derive(Debug, thiserror::Error)]
#[error("{label} {version} is {found}, but {previous} was signed by {expected} when it was locked: a new key is trusted only when you say so; check it, then run `atom trust add {set} KEY`")]
pub struct SignerChanged {
    /// The label.
    pub label: Label,
    /// The version the update would take.
    pub version: Version,
    /// The version locked before.
    pub previous: Version,
    /// The set's tag.
    pub set: Tag,
    /// The fingerprint of the signer recorded before.
    pub expected: String,
    /// Who signs the new version.
    pub found: Signers,
}

/// Why a direct dependency cannot be locked on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DirectLockLimit {
    /// Only a git dependency can be resolved without downloading it.
    #[error("locking it means downloading it to hash its content, and this implementation resolves only what is on this machine; lock it once with eka, then `atom lock` keeps the entry")]
    NeedsDownload,
    /// Its repository is not on this machine.
    #[error("only git repositories on this machine can be resolved")]
    NotLocal,
    /// A version requirement against tags.
    #[error("resolving a version requirement against tags is not implemented")]
    VersionAgainstTags,
}

/// Where the repository an atom is resolved in comes from, which says how more versions get into
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A repository atoms are published in.
    Repository,
    /// A set's repository in the atom store in this directory.
    Store(PathBuf),
}

impl std::fmt::Display for Origin {
    /// The hint: how to get more versions into the repository.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Repository => f.write_str(
                "publish it there with `atom publish`, or pick a version from this list",
            ),
            Origin::Store(dir) => write!(
                f,
                "if it was published since the set was fetched, update the store ({}) with `atom fetch <a repository of the set>`",
                dir.display()
            ),
        }
    }
}

/// Why resolving or loading atoms failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A locked atom is not in its set's repository.
    #[error("{atom} (pinned by {by}) is not in the atom store: {missing}; update the store with `{fetch}`")]
    MissingAtom {
        /// The atom.
        atom: AtomName,
        /// Who pins it.
        by: AtomName,
        /// What is missing.
        missing: Box<Missing>,
        /// The command that would fetch it.
        fetch: FetchCommand,
    },
    /// Something the lock pins has changed.
    #[error("{atom} (pinned by {by}): {tampering}")]
    Tampered {
        /// The atom.
        atom: AtomName,
        /// Who pins it: an atom, or the mirror that serves it.
        by: PinnedBy,
        /// What differs.
        tampering: Box<Tampering>,
    },
    /// A locked atom's content or signer is not what its lock's integrity record says, or is
    /// not signed by a key the consumer trusts for its set.
    #[error("{atom} (pinned by {by}): {why}")]
    Untrusted {
        /// The atom.
        atom: AtomName,
        /// Who pins it.
        by: AtomName,
        /// What differs: the expected signer or digest and the found one.
        why: Box<Distrust>,
    },
    /// The consumer's trust file is invalid.
    #[error("{0}")]
    TrustFile(TrustError),
    /// No version matching a requirement is signed by a key trusted for its set.
    #[error("{0}")]
    NoTrustedVersion(Box<NoTrustedVersion>),
    /// The lock recorded a signer for a dependency, and the version an update would take is
    /// not signed by that key (trust on first use).
    #[error("{0}")]
    SignerChanged(Box<SignerChanged>),
    /// The lock does not match the manifest.
    #[error("{}: {detail}; run `atom lock {}` to update it", path.display(), shell_quote(&dir.to_string_lossy()))]
    OutOfDate {
        /// The lock file.
        path: PathBuf,
        /// The atom's directory.
        dir: PathBuf,
        /// What is out of date.
        detail: Box<LockMismatch>,
    },
    /// No published version matches the requirement; the hint says how to get more versions.
    #[error("{error}; {origin}")]
    NoMatchingVersion {
        /// What is published ([`RepoError::NoMatchingVersion`]).
        error: Box<RepoError>,
        /// Where the repository comes from.
        origin: Origin,
    },
    /// No published version matching the requirement is at the exact revision asked for.
    #[error("no published version of {label} matching {requirement} is at the revision {rev} (published: {}); {origin}", if .published.is_empty() { "none".to_owned() } else { .published.iter().map(|(version, rev)| format!("{version} ({rev})")).collect::<Vec<_>>().join(", ") })]
    NoVersionAtRev {
        /// The label asked for.
        label: Label,
        /// The requirement.
        requirement: Requirement,
        /// The revision asked for.
        rev: ObjectId,
        /// What is published, each version with its atom commit, newest first.
        published: Vec<(Version, ObjectId)>,
        /// Where the repository comes from.
        origin: Origin,
    },
    /// Atoms depend on each other in a cycle.
    #[error("atoms depend on each other in a cycle: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(" -> "))]
    Cycle(Vec<AtomName>),
    /// An atom's lock pins an atom from a set its `[sets]` does not list.
    #[error(
        "{atom}: its atom.lock pins {label} from the set {set}, which its [sets] does not list"
    )]
    UnlistedSet {
        /// The atom whose lock it is.
        atom: AtomName,
        /// The pinned atom's label.
        label: Label,
        /// The set it is pinned from.
        set: Root,
    },
    /// An atom's lock pins an atom at a rev that is not an object id.
    #[error("{atom}: its atom.lock pins {pinned} at an invalid rev: {source}")]
    InvalidRev {
        /// The atom whose lock it is.
        atom: AtomName,
        /// The pinned atom.
        pinned: AtomName,
        /// Why the rev is invalid.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A pinned atom cannot be read from its set's repository.
    #[error("{atom} (pinned by {by}): {error}")]
    Unreadable {
        /// The atom.
        atom: AtomName,
        /// Who pins it.
        by: AtomName,
        /// What failed.
        error: Box<RepoError>,
    },
    /// A published atom's manifest or lock does not parse.
    #[error("{atom}: {error}")]
    PublishedFile {
        /// The atom.
        atom: AtomName,
        /// Where and why.
        error: Box<SourceError>,
    },
    /// A published atom's lock is not UTF-8.
    #[error("{atom}: its {LOCK_FILE} is not UTF-8")]
    PublishedLockNotText {
        /// The atom.
        atom: AtomName,
    },
    /// A published atom's lock does not cover its manifest.
    #[error("{atom} (pinned by {by}): its published atom.lock does not match its manifest: {detail}; publish a version with an up-to-date lock")]
    PublishedLockOutOfDate {
        /// The atom.
        atom: AtomName,
        /// Who pins it.
        by: AtomName,
        /// What is out of date (as [`ResolveError::OutOfDate`] says it).
        detail: Box<LockMismatch>,
    },
    /// An atom's entry is not a path inside it.
    #[error("{atom}: its entry {entry:?} leaves the atom")]
    EntryLeaves {
        /// The atom.
        atom: AtomName,
        /// The entry.
        entry: String,
    },
    /// An atom composed by another atom has no lock pinning that composer.
    #[error("{atom} is composed with the atom {composer}, but has no atom.lock pinning it; run `atom lock`")]
    ComposerNotLocked {
        /// The atom.
        atom: AtomName,
        /// The composer's label.
        composer: Label,
    },
    /// A locked atom without a rev: it was never published.
    #[error("{atom} (pinned by {by}) is a local-only dependency (no rev in atom.lock); publish it and run `atom lock`")]
    LocalOnly {
        /// The atom.
        atom: AtomName,
        /// Who pins it.
        by: AtomName,
    },
    /// The atom store's copy of a set has no version matching a requirement.
    #[error("{0}")]
    NotInStore(Box<NotInStore>),
    /// The caller may not read a working copy's directory (see [`graph::load_checked`]); the
    /// error is the caller's reason.
    #[error(transparent)]
    Forbidden(graph::DirCheckError),
    /// An override entry does not parse.
    #[error("invalid atom override {entry:?}: {why} (the atom-override setting and $ATOM_OVERRIDE take label=path entries)")]
    InvalidOverride {
        /// The entry.
        entry: String,
        /// Why.
        why: OverrideProblem,
    },
    /// An override names a label no atom of the graph has: a typo, or an atom no longer used.
    #[error("the atom override {label}={} names no atom this evaluation loads ({}); check the label, or drop the override", path.display(), if labels.is_empty() { "it loads no dependency".to_owned() } else { format!("its atoms: {}", join(labels)) })]
    UnusedOverride {
        /// The label overridden.
        label: Label,
        /// The directory it names.
        path: PathBuf,
        /// The labels of the atoms the graph does load.
        labels: Vec<Label>,
    },
    /// An override or local atom directory holds another atom than the label it stands for.
    #[error("{label} (needed by {by}) is to be loaded from {}, but the atom there is {found}", dir.display())]
    OverrideLabel {
        /// Who depends on it.
        by: AtomName,
        /// The label wanted.
        label: Label,
        /// The directory.
        dir: PathBuf,
        /// The label found there.
        found: Label,
    },
    /// The repository's `ekala.toml` cannot list its atoms.
    #[error("{}: {error}", file.display())]
    LocalSet {
        /// The file.
        file: PathBuf,
        /// Why.
        error: Box<SetError>,
    },
    /// `atom lock --update NAME` names no dependency of the atom.
    #[error("{name} is not a dependency of this atom{}", if declared.is_empty() { " (it declares none)".to_owned() } else { format!(" (its dependencies: {})", declared.iter().map(Label::as_str).collect::<Vec<_>>().join(", ")) })]
    NotADependency {
        /// The name given.
        name: Label,
        /// The names there are.
        declared: Vec<Label>,
    },
    /// A dependency names a set the manifest does not declare.
    #[error("the set {0} is not declared in [package.sets]")]
    UndeclaredSet(Tag),
    /// The root of a set cannot be found on this machine.
    #[error("cannot tell the root of the set {0}: none of its mirrors is `::` or a repository on this machine, and no atom.lock records it (lock it once where a mirror is reachable, without --offline)")]
    UnknownRoot(Tag),
    /// The first mirror that answered publishes no version the requirement accepts.
    #[error("no published version of {label} matches {requirement} at {url}: {}", match (versions.is_empty(), labels.is_empty()) { (false, _) => format!("it publishes {}", join(versions)), (true, true) => "it publishes no version of it".to_owned(), (true, false) => format!("it publishes no version of it (its labels, closest first: {})", join(labels)) })]
    NotAtMirror {
        /// The label.
        label: Label,
        /// The requirement.
        requirement: Requirement,
        /// The mirror.
        url: String,
        /// The versions it publishes, newest first.
        versions: Vec<Version>,
        /// When it publishes none: its labels, closest first.
        labels: Vec<Label>,
    },
    /// Every mirror of a set failed while locking fetched what it needed.
    #[error("cannot get {what} from the set {tag}: {} (`atom lock --offline` locks from the atom store alone)", failures.iter().map(|(url, e)| format!("{url}: {e}")).collect::<Vec<_>>().join("; "))]
    Mirrors {
        /// The set's tag.
        tag: Tag,
        /// What was wanted.
        what: Sought,
        /// Each mirror tried (its URL as the manifest gives it), in order, with its failure.
        failures: Vec<(String, MirrorFailure)>,
    },
    /// `::` is used outside a git repository.
    #[error("`::` has no meaning as a mirror: {} is not inside a git repository", .0.display())]
    NotInRepository(PathBuf),
    /// A direct dependency cannot be locked here.
    #[error("cannot lock the direct dependency {name} ({url}): {why}")]
    CannotLockDirect {
        /// Its name.
        name: Label,
        /// Its URL.
        url: String,
        /// Why.
        why: DirectLockLimit,
    },
    /// A commit id that a lock cannot record (it is not 40 lowercase hex digits).
    #[error("invalid git revision {0:?}: expected 40 lowercase hexadecimal digits")]
    UnrecordableRev(String),
    /// A file could not be read or parsed.
    #[error(transparent)]
    File(#[from] FileError),
    /// A git repository failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The atom store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An atom as messages name it: `label-version`; a working copy also says how it stands in for
/// the atom and where it is: `label-version (overridden: DIR)`. (Boxed: errors carry two of
/// them and stay small.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomName(Box<NameParts>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct NameParts {
    label: Label,
    version: Version,
    copy: Option<(CopyKind, PathBuf)>,
}

impl AtomName {
    /// The published atom `label` `version`.
    pub fn new(label: &Label, version: &Version) -> AtomName {
        AtomName(Box::new(NameParts {
            label: label.clone(),
            version: version.clone(),
            copy: None,
        }))
    }

    /// The atom `manifest` describes.
    pub fn of(manifest: &Manifest) -> AtomName {
        AtomName::new(&manifest.package.label, &manifest.package.version)
    }

    /// The working copy in `dir` of the atom `manifest` describes, standing in for it as `kind`
    /// says.
    pub fn working_copy(manifest: &Manifest, kind: CopyKind, dir: PathBuf) -> AtomName {
        let mut name = AtomName::of(manifest);
        name.0.copy = Some((kind, dir));
        name
    }

    /// The label.
    pub fn label(&self) -> &Label {
        &self.0.label
    }

    /// The version.
    pub fn version(&self) -> &Version {
        &self.0.version
    }

    /// For a working copy: how it stands in for the atom, and its directory.
    pub fn copy(&self) -> Option<(CopyKind, &Path)> {
        self.0
            .copy
            .as_ref()
            .map(|(kind, dir)| (*kind, dir.as_path()))
    }
}

impl std::fmt::Display for AtomName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0.label, self.0.version)?;
        match &self.0.copy {
            Some((kind, dir)) => write!(f, " ({kind}: {})", dir.display()),
            None => Ok(()),
        }
    }
}

/// How a working copy stands in for an atom of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyKind {
    /// An atom override names it.
    Overridden,
    /// It is an atom of the loaded atom's own repository.
    Local,
}

impl std::fmt::Display for CopyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CopyKind::Overridden => "overridden",
            CopyKind::Local => "local",
        })
    }
}

/// Who pins an atom found changed ([`ResolveError::Tampered`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinnedBy {
    /// The atom whose lock pins it.
    Atom(AtomName),
    /// The mirror that serves it, while locking.
    Mirror(String),
}

impl std::fmt::Display for PinnedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinnedBy::Atom(name) => name.fmt(f),
            PinnedBy::Mirror(url) => f.write_str(url),
        }
    }
}

/// What locking wanted from a set's mirrors ([`ResolveError::Mirrors`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sought {
    /// The set's root.
    Root,
    /// A version of an atom.
    Atom {
        /// Its label.
        label: Label,
        /// The requirement.
        requirement: Requirement,
    },
}

impl std::fmt::Display for Sought {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sought::Root => f.write_str("the set's root"),
            Sought::Atom { label, requirement } => write!(f, "{label}@{requirement}"),
        }
    }
}

/// Why one mirror of a set did not provide what locking wanted ([`ResolveError::Mirrors`]).
#[derive(Debug, thiserror::Error)]
pub enum MirrorFailure {
    /// It could not be listed or fetched from.
    #[error(transparent)]
    Store(Box<StoreError>),
    /// It publishes another set.
    #[error("it publishes the set with root {found}, not {expected}")]
    OtherRoot {
        /// The root it publishes.
        found: Root,
        /// The set's root.
        expected: Root,
    },
    /// It publishes no set at all.
    #[error("it publishes no atoms (no refs/ekala/init)")]
    NoAtoms,
    /// The fetch rejected the version chosen.
    #[error(transparent)]
    Rejected(Box<crate::store::Rejection>),
    /// The version chosen was not among those fetched.
    #[error("{label} {version} disappeared while it was fetched")]
    Disappeared {
        /// The label.
        label: Label,
        /// The version.
        version: Version,
    },
    /// The version chosen makes no exact requirement.
    #[error(transparent)]
    Requirement(crate::manifest::RequirementError),
}

/// What of a locked atom is not in its set's repository in the atom store
/// ([`ResolveError::MissingAtom`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// Only its manifest and lock are there: locking fetched them.
    #[error("only its atom.toml and atom.lock are in {} (`atom lock` fetched them to lock it)", .repo.display())]
    Files {
        /// The set's repository.
        repo: PathBuf,
    },
    /// Its commit is not there.
    #[error("its commit {rev} is not in {}{}", .repo.display(), .last_fetch.as_ref().map(|t| format!(" ({t})")).unwrap_or_default())]
    Commit {
        /// The pinned commit.
        rev: ObjectId,
        /// The set's repository.
        repo: PathBuf,
        /// The set's last fetch, when recorded.
        last_fetch: Option<FetchRecord>,
    },
}

/// What differs from what a lock pins ([`ResolveError::Tampered`]); each reads as possible
/// tampering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tampering {
    /// The store's ref of the version names another commit than the lock.
    #[error("{name} points at {target}, but the lock pins {pinned} (possible tampering)")]
    RefMoved {
        /// The ref.
        name: String,
        /// Its target.
        target: ObjectId,
        /// The commit the lock pins.
        pinned: ObjectId,
    },
    /// The pinned atom does not verify.
    #[error("{}{}", .0, if .0.says_tampering() { "" } else { " (possible tampering)" })]
    Verify(crate::repo::VerifyError),
    /// The mirror publishes the version at another commit than the atom store has.
    #[error(
        "the mirror publishes {published}, but the atom store has {stored} (possible tampering)"
    )]
    MirrorDiffers {
        /// The commit the mirror publishes.
        published: ObjectId,
        /// The commit the store has.
        stored: ObjectId,
    },
}

/// How an atom's `atom.lock` fails to cover its manifest ([`graph::check_lock`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockMismatch {
    /// The manifest declares dependencies and there is no lock.
    #[error("the atom declares dependencies but has no atom.lock")]
    NoLock,
    /// No `[sets]` entry has the tag a dependency names.
    #[error("it has no [sets] entry tagged {tag}")]
    NoSet {
        /// The set's tag.
        tag: Tag,
    },
    /// A declared atom dependency is not locked.
    #[error("it does not lock {tag}.{label}")]
    NotLocked {
        /// The set's tag.
        tag: Tag,
        /// The dependency's label.
        label: Label,
    },
    /// The locked version is no longer accepted by the manifest's requirement.
    #[error("it locks {label} {version}, which the manifest's requirement {requirement} no longer accepts")]
    NotAccepted {
        /// The dependency's label.
        label: Label,
        /// The locked version.
        version: Version,
        /// The manifest's requirement.
        requirement: Requirement,
    },
    /// A declared direct (Nix) dependency is not locked.
    #[error("it does not lock the direct dependency {name}")]
    DirectNotLocked {
        /// The dependency's name.
        name: Label,
    },
}

/// Why an atom override entry (`label=path`) does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideProblem {
    /// No `=`.
    #[error("expected label=path")]
    NoEquals,
    /// The label is not valid.
    #[error("{0}")]
    Label(crate::id::NameError),
    /// Nothing after `=`.
    #[error("the path is empty")]
    EmptyPath,
}

/// No version matching a requirement in the atom store's copy of a set: never published, or
/// the store is out of date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInStore {
    /// The label.
    pub label: Label,
    /// The requirement.
    pub requirement: Requirement,
    /// The versions the store has.
    pub available: Vec<Version>,
    /// When it has none: the labels it has, closest to `label` first.
    pub labels: Vec<Label>,
    /// A matching version and the mirror on this machine publishing it: the store is stale.
    pub published: Option<(Version, String)>,
    /// The set's last fetch, when recorded.
    pub last_fetch: Option<FetchRecord>,
    /// The command that would update the store.
    pub fetch: FetchCommand,
}

impl std::fmt::Display for NotInStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let NotInStore {
            label,
            requirement,
            available,
            labels,
            published,
            last_fetch,
            fetch,
        } = self;
        let has = if available.is_empty() && !labels.is_empty() {
            format!(
                "no version of it (its labels, closest first: {})",
                join(labels)
            )
        } else if available.is_empty() {
            "no version of it".to_owned()
        } else {
            format!("only {}", join(available))
        };
        let fetched = last_fetch
            .as_ref()
            .map(|t| format!("; {t}"))
            .unwrap_or_default();
        match published {
            Some((version, url)) => write!(
                f,
                "{label} {version} (matching {requirement}) is published at {url}, but the atom store is out of date: it has {has}{fetched}; run `{fetch}`"
            ),
            None => write!(
                f,
                "no published version of {label} matches {requirement}: the atom store has {has}{fetched}; if a matching version was published since, run `{fetch}`"
            ),
        }
    }
}

/// A resolved, verified and materialised atom: what `builtins.atom.resolve` returns.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The published atom chosen.
    pub atom: AtomRef,
    /// Its AtomId in its repository.
    pub id: AtomDigest,
    /// Its tree.
    pub tree: ObjectId,
    /// The directory holding its files.
    pub src: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// The content digest of its tree.
    pub digest: crate::digest::ContentDigest,
    /// The fingerprint of the first key whose signature of it verifies, if any.
    pub signer: Option<String>,
}

impl Resolution {
    /// `{label, version, rev, id, digest, signer, src, manifest}` (`signer` is null for an
    /// unsigned atom).
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = self.atom.to_json();
        json["id"] = self.id.to_string().into();
        json["digest"] = self.digest.to_string().into();
        json["signer"] = self.signer.clone().into();
        json["src"] = self.src.to_string_lossy().into_owned().into();
        json["manifest"] = self.manifest.to_json();
        json
    }
}

/// The highest version of `label` in `repo` (which comes from `origin`) matching `requirement`,
/// verified (docs/format.md#verification: commit format, manifest agreeing with its ref, metadata
/// refs) and materialised in the atom store `store`.
pub fn resolve(
    repo: &Repo,
    origin: &Origin,
    label: &Label,
    requirement: &Requirement,
    store: &Store,
) -> Result<Resolution, ResolveError> {
    let atom = repo.resolve(label, requirement).map_err(|e| match e {
        error @ RepoError::NoMatchingVersion { .. } => ResolveError::NoMatchingVersion {
            error: Box::new(error),
            origin: origin.clone(),
        },
        other => other.into(),
    })?;
    finish(repo, atom, store)
}

/// [`resolve`] of the one published version matching `requirement` whose atom commit is `rev`:
/// its answer depends on that commit alone, not on which versions the repository holds now (what
/// pure evaluation requires). An error when no such version is published.
pub fn resolve_at(
    repo: &Repo,
    origin: &Origin,
    label: &Label,
    requirement: &Requirement,
    rev: ObjectId,
    store: &Store,
) -> Result<Resolution, ResolveError> {
    let versions = repo.versions(label)?;
    let Some(atom) = versions
        .iter()
        .find(|a| a.commit == rev && requirement.matches(&a.version))
    else {
        return Err(ResolveError::NoVersionAtRev {
            label: label.clone(),
            requirement: requirement.clone(),
            rev,
            published: versions
                .iter()
                .map(|a| (a.version.clone(), a.commit))
                .collect(),
            origin: origin.clone(),
        });
    };
    finish(repo, atom.clone(), store)
}

/// Verifies the chosen `atom` and materialises it.
fn finish(repo: &Repo, atom: AtomRef, store: &Store) -> Result<Resolution, ResolveError> {
    let verified = repo.verify(&atom, None)?;
    let src = store.materialize_tree(repo, verified.tree)?;
    let manifest = Manifest::parse(
        &verified.manifest,
        &src.join(MANIFEST_FILE).to_string_lossy(),
    )
    .map_err(|e| ResolveError::File(e.into()))?;
    let digest = repo.tree_digest(verified.tree)?;
    let signed = match repo.genesis() {
        Ok(root) => {
            trust::Assessment::with_digest(
                repo,
                &crate::sign::TagFields::new(
                    &root,
                    &atom.label,
                    &atom.version,
                    atom.commit,
                    digest,
                ),
                None,
            )
            .signed
        }
        Err(_) => Vec::new(),
    };
    Ok(Resolution {
        id: verified.id,
        atom,
        tree: verified.tree,
        src,
        manifest,
        digest,
        signer: signed.first().map(|s| s.signer.fingerprint.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::graph::check_lock;
    use super::*;
    use crate::lock::Lockfile;
    use std::path::Path;

    const ROOT: &str = "68b63bd131acd23bdfd57983fe85ba7c092ce02f";

    fn manifest(deps: &str) -> Manifest {
        Manifest::parse(
            &format!("[package]\nlabel = \"a\"\nversion = \"0.1.0\"\n\n[package.sets]\nbs = \"https://example.com/b\"\n\n[compose.as]\nnix = \".\"\n{deps}"),
            "atom.toml",
        )
        .unwrap()
    }

    fn lock(version: &str) -> Lockfile {
        Lockfile::parse(
            &format!("version = 1\n\n[sets.{ROOT}]\ntag = \"bs\"\nmirrors = [\"https://example.com/b\"]\n\n[compose]\nuse = \"nix\"\nentry = \".\"\n\n[[deps]]\ntype = \"atom\"\nlabel = \"b\"\nversion = \"{version}\"\nset = \"{ROOT}\"\nrev = \"{}\"\nid = \"r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0\"\n", "1".repeat(40)),
            "atom.lock",
        )
        .unwrap()
    }

    /// How `lock` fails to cover `manifest`, if it does.
    fn check(manifest: &Manifest, lock: Option<&Lockfile>) -> Result<(), LockMismatch> {
        check_lock(manifest, lock, Path::new("a/atom.lock"), Path::new("a")).map_err(|e| match e {
            ResolveError::OutOfDate { detail, .. } => *detail,
            other => panic!("{other}"),
        })
    }

    #[test]
    fn a_lock_must_satisfy_the_manifest() {
        let deps = manifest("\n[deps.from.bs]\nb = \"^1\"\n");
        let (b, c) = (Label::new("b").unwrap(), Label::new("c").unwrap());
        assert_eq!(check(&manifest(""), None), Ok(()));
        assert_eq!(check(&deps, Some(&lock("1.2.0"))), Ok(()));
        assert_eq!(check(&deps, None), Err(LockMismatch::NoLock));
        assert_eq!(
            check(&deps, Some(&lock("2.0.0"))),
            Err(LockMismatch::NotAccepted {
                label: b,
                version: Version::parse("2.0.0").unwrap(),
                requirement: Requirement::parse("^1").unwrap(),
            })
        );
        let more = manifest("\n[deps.from.bs]\nb = \"^1\"\nc = \"^1\"\n");
        assert_eq!(
            check(&more, Some(&lock("1.0.0"))),
            Err(LockMismatch::NotLocked {
                tag: Tag::new("bs").unwrap(),
                label: c,
            })
        );
        // The message names the lock, what is out of date and the command that updates it.
        let message = |manifest: &Manifest, lock: Option<&Lockfile>| {
            check_lock(manifest, lock, Path::new("a/atom.lock"), Path::new("a"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            message(&deps, None),
            "a/atom.lock: the atom declares dependencies but has no atom.lock; run `atom lock a` to update it"
        );
        assert_eq!(
            message(&deps, Some(&lock("2.0.0"))),
            "a/atom.lock: it locks b 2.0.0, which the manifest's requirement ^1 no longer accepts; run `atom lock a` to update it"
        );
        assert_eq!(
            message(&more, Some(&lock("1.0.0"))),
            "a/atom.lock: it does not lock bs.c; run `atom lock a` to update it"
        );
    }
}
