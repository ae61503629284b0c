//! Errors of a git repository.

use std::path::PathBuf;

use gix::ObjectId;

use crate::id::{Label, Root};
use crate::manifest::{Requirement, Version};

pub(super) type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong reading or writing atoms in a git repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The repository could not be opened.
    #[error("cannot open the git repository at {}: {source}", path.display())]
    Open {
        /// Where.
        path: PathBuf,
        /// Why.
        source: Source,
    },
    /// A revision does not name a commit.
    #[error("{rev:?} does not name a commit: {source}")]
    Rev {
        /// The revision.
        rev: String,
        /// Why.
        source: Source,
    },
    /// An object is missing or unreadable.
    #[error("cannot read object {id}: {source}")]
    Object {
        /// The object.
        id: ObjectId,
        /// Why.
        source: Source,
    },
    /// A tree has no content digest (docs/format.md#content-digest).
    #[error("the tree has no content digest: {0}")]
    Digest(#[from] crate::digest::DigestError),
    /// Refs could not be read.
    #[error("cannot read the repository's refs: {0}")]
    Refs(Source),
    /// A ref name is invalid.
    #[error("invalid ref name {name:?}: {source}")]
    RefName {
        /// The name.
        name: String,
        /// Why.
        source: Source,
    },
    /// Refs could not be created (one exists already, or another process holds its lock).
    #[error("cannot create {}: {source}", refs.join(", "))]
    RefUpdate {
        /// The refs of the transaction.
        refs: Vec<String>,
        /// Why.
        source: Source,
    },
    /// The repository has no commit yet, so no root commit to identify it.
    #[error("the repository {} has no commit yet, so it has no identity (its root commit): commit first (`git commit`), then run this again", .0.display())]
    NoCommitYet(std::path::PathBuf),
    /// The repository is a shallow clone without `refs/ekala/init`: its root commit is not here.
    #[error("the repository {} is a shallow clone without refs/ekala/init, so its root commit (which identifies its atoms) is not here: fetch the identity with `git fetch origin refs/ekala/init:refs/ekala/init`, or the whole history with `git fetch --unshallow`", .0.display())]
    ShallowGenesis(std::path::PathBuf),
    /// The history has no root commit.
    #[error("no root commit found in the history of {0}")]
    RootNotFound(ObjectId),
    /// The object ids are not SHA-1.
    #[error("object id {0} is not SHA-1; atoms are defined for SHA-1 repositories")]
    UnsupportedHash(ObjectId),
    /// `refs/ekala/init` points at another root.
    #[error("refs/ekala/init already points at {existing}, but the root of HEAD is {root}; refusing to change a repository's identity")]
    InitConflict {
        /// Where it points.
        existing: Root,
        /// The root of HEAD.
        root: Root,
    },
    /// No published version matches.
    #[error("no published version of {label} matches {requirement}{}", available_text(.available, .labels))]
    NoMatchingVersion {
        /// The label.
        label: Label,
        /// The requirement.
        requirement: Requirement,
        /// The versions there are.
        available: Vec<Version>,
        /// When the label has no version at all: the labels that are published, closest to it
        /// first (a typo's likely fix).
        labels: Vec<Label>,
    },
    /// No such published version.
    #[error("{label} {version} is not published in this repository")]
    NoSuchAtom {
        /// The label.
        label: Label,
        /// The version.
        version: Version,
    },
    /// A verification failed.
    #[error("{atom}: {problem}")]
    Verify {
        /// `label-version`.
        atom: String,
        /// What is wrong.
        problem: super::verify::VerifyError,
    },
    /// Too many objects for one pack.
    #[error("more than 2^32 objects do not fit in one pack")]
    PackTooLarge,
    /// A pack being written could not be hashed.
    #[error("cannot hash the {what}: {source}")]
    PackHash {
        /// `pack` or `pack index`.
        what: &'static str,
        /// Why.
        source: Source,
    },
    /// A blob that should be text is not UTF-8.
    #[error("blob {0} is not UTF-8 text")]
    NotText(ObjectId),
    /// A materialised tree no longer matches the git tree it was written from.
    #[error("{}/{file} {detail}: the materialised tree {} no longer matches the git tree {tree} it was written from (possible tampering); run `atom store verify --repair` to rewrite it", dir.display(), dir.display())]
    TreeAltered {
        /// The tree's directory.
        dir: PathBuf,
        /// The git tree.
        tree: ObjectId,
        /// The first entry that differs, relative to `dir`.
        file: String,
        /// How it differs.
        detail: Box<Alteration>,
    },
    /// Writing to the file system failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// How an entry of a materialised tree differs from the git tree it was written from
/// ([`RepoError::TreeAltered`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Alteration {
    /// It is missing.
    #[error("is missing")]
    Missing,
    /// Its executable bit differs.
    #[error("is {}executable, but git has it {}executable", if *.executable { "" } else { "not " }, if *.executable { "not " } else { "" })]
    Executable {
        /// Whether the file on disk is executable (git has the opposite).
        executable: bool,
    },
    /// Its content differs.
    #[error("was changed (its content hashes to {found}, git has {expected})")]
    Content {
        /// The hash of its content.
        found: ObjectId,
        /// The git blob.
        expected: ObjectId,
    },
    /// A symlink's target differs.
    #[error("points at {}, but git has {}", .found.display(), String::from_utf8_lossy(.expected))]
    Link {
        /// Its target on disk.
        found: PathBuf,
        /// Its target in git.
        expected: Vec<u8>,
    },
    /// It is another kind of entry.
    #[error("is {}, but git has {}", kind_text(*.found), kind_text(*.expected))]
    Kind {
        /// What it is on disk (`None`: a regular file).
        found: Option<crate::diagnostic::FileKind>,
        /// What git has (`None`: a regular file).
        expected: Option<crate::diagnostic::FileKind>,
    },
    /// It is not in the git tree.
    #[error("is not in the git tree (it was added)")]
    Added,
}

/// `a regular file`, or what `kind` says.
fn kind_text(kind: Option<crate::diagnostic::FileKind>) -> String {
    kind.map_or_else(|| "a regular file".to_owned(), |k| k.to_string())
}

fn available_text(available: &[Version], labels: &[Label]) -> String {
    let join = |items: Vec<String>| items.join(", ");
    if available.is_empty() && labels.is_empty() {
        " (no version of it is published here, nor of any other label)".to_owned()
    } else if available.is_empty() {
        format!(
            " (no version of it is published here; labels published here, closest first: {})",
            join(labels.iter().map(|l| l.to_string()).collect())
        )
    } else {
        format!(
            " (published: {})",
            join(available.iter().map(|v| v.to_string()).collect())
        )
    }
}

impl RepoError {
    pub(crate) fn object(id: ObjectId, source: impl Into<Source>) -> Self {
        RepoError::Object {
            id,
            source: source.into(),
        }
    }

    pub(crate) fn refs(source: impl Into<Source>) -> Self {
        RepoError::Refs(source.into())
    }
}
