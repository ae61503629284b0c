//! Errors of the atom store.

use std::path::PathBuf;

use crate::diagnostic::FileError;
use crate::id::Root;
use crate::repo::{ObjectId, RepoError};

/// Everything that can go wrong finding, filling or reading the atom store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No store location could be worked out.
    #[error("cannot find the atom store: set ATOM_STORE (or HOME)")]
    NoStore,
    /// A set's repository is not in the store.
    #[error("the atom store has no repository for the set {root} ({} does not exist); get it with `{fetch}`", path.display())]
    MissingSet {
        /// The set's root.
        root: Root,
        /// Where its repository would be.
        path: PathBuf,
        /// The command that would fetch it.
        fetch: super::FetchCommand,
    },
    /// A local URL whose path does not exist.
    #[error("cannot fetch {url}: {} does not exist", path.display())]
    NoSuchRepository {
        /// The URL.
        url: String,
        /// Its path.
        path: PathBuf,
    },
    /// The repository fetched from publishes no atoms.
    #[error("{url} has no refs/ekala/init: it publishes no atoms (run `atom init` there first)")]
    NoGenesis {
        /// The URL.
        url: String,
    },
    /// The store's repository for a root was filled from a repository with another root.
    #[error("the store repository {} is recorded for root {recorded}, but {url} has root {root}", repo.display())]
    RootMismatch {
        /// The store repository.
        repo: PathBuf,
        /// The root it records.
        recorded: Root,
        /// The URL fetched from.
        url: String,
        /// That repository's root.
        root: Root,
    },
    /// A published ref differs between the source and the store.
    #[error("{url} has {name} at {id}, but the store has it at {existing}: published atoms never change (possible tampering); nothing was fetched")]
    RefChanged {
        /// The URL fetched from.
        url: String,
        /// The ref.
        name: String,
        /// Its target there.
        id: ObjectId,
        /// Its target in the store.
        existing: ObjectId,
    },
    /// The remote could not be reached or read.
    #[error(transparent)]
    Remote(Box<crate::remote::RemoteError>),
    /// Writing to the store failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A directory the store's trust rests on can be written by other users.
    #[error("refusing to use the atom store: {} can be changed by other users ({exposure}), who could then change the atoms it holds; {}", path.display(), super::guard::fix(path, exposure))]
    Exposed {
        /// The directory.
        path: PathBuf,
        /// Who else can write it (which says what to do).
        exposure: super::guard::Exposure,
    },
    /// An atom directory given to garbage collection has no lock.
    #[error("{} has no atom.lock, so nothing can be kept for it: run `atom lock` there first", dir.display())]
    NoLock {
        /// The atom directory.
        dir: PathBuf,
    },
    /// A directory of the store could not be read.
    #[error(transparent)]
    Read(#[from] FileError),
    /// A repository of the store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}
