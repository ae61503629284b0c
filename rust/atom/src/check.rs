//! Checks of an atom on disk beyond the syntax of its files, shared by `atom check` and
//! `atom lock`: the paths its manifest names exist, and its lock covers its dependencies.

use std::path::{Path, PathBuf};

use crate::diagnostic::FileError;
use crate::lock::{Lockfile, LOCK_FILE};
use crate::manifest::{Compose, ComposeAs, Manifest};
use crate::resolve::ResolveError;

/// What is wrong with an atom on disk.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The manifest names a path inside the atom that does not exist.
    #[error("{}: {key} = {value:?}, but {} does not exist", manifest.display(), missing.display())]
    MissingPath {
        /// The manifest.
        manifest: PathBuf,
        /// The key naming the path: `[compose.as] nix`, `[compose.with.<label>] entry`.
        key: String,
        /// The path as written.
        value: String,
        /// The path that is missing.
        missing: PathBuf,
    },
    /// A file could not be read or parsed.
    #[error(transparent)]
    File(#[from] FileError),
    /// The lock does not cover the manifest.
    #[error(transparent)]
    Lock(Box<ResolveError>),
}

impl From<ResolveError> for CheckError {
    fn from(error: ResolveError) -> Self {
        CheckError::Lock(Box::new(error))
    }
}

/// Checks that the paths the manifest of the atom in `dir` names (the `[compose.as] nix` path,
/// a composer's `entry`) exist.
pub fn entries_exist(dir: &Path) -> Result<(), CheckError> {
    let manifest = Manifest::read_atom(dir)?;
    manifest_paths_exist(dir, &manifest)
}

/// [`entries_exist`] for a manifest already read.
pub fn manifest_paths_exist(dir: &Path, manifest: &Manifest) -> Result<(), CheckError> {
    let (key, value) = match &manifest.compose {
        Compose::As(ComposeAs::Nix(path)) => ("[compose.as] nix".to_owned(), path),
        Compose::With(with) => (
            format!("[compose.with.{}] entry", with.label),
            &with.composer.entry,
        ),
        Compose::As(ComposeAs::Static(_)) => return Ok(()),
    };
    let missing = dir.join(value);
    if std::fs::symlink_metadata(&missing).is_err() {
        return Err(CheckError::MissingPath {
            manifest: dir.join(crate::manifest::MANIFEST_FILE),
            key,
            value: value.clone(),
            missing,
        });
    }
    Ok(())
}

/// Checks that `lock` (the atom's `atom.lock`, if it has one) locks every dependency `manifest`
/// declares at a version it accepts: a missing or stale lock is an error saying to run
/// `atom lock DIR`.
pub fn lock_covers(
    dir: &Path,
    manifest: &Manifest,
    lock: Option<&Lockfile>,
) -> Result<(), CheckError> {
    crate::resolve::graph::check_lock(manifest, lock, &dir.join(LOCK_FILE), dir)?;
    Ok(())
}
