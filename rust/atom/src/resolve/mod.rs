//! Resolving atoms from git repositories already on this machine, without a fetcher (DESIGN.md,
//! "Resolving versions without a fetcher").
//!
//! - [`AtomStore`]: the directory of bare repositories keyed by set root that `atom fetch` fills,
//!   plus the content-addressed directories atoms are materialised into.
//! - [`resolve`]: the highest published version of a label matching a requirement, verified and
//!   materialised (`builtins.atom.resolve`).
//! - [`graph`]: an atom and everything its `atom.lock` pins, transitively, verified against the
//!   lock (what `builtins.atom.import` loads).
//! - [`locking`]: computing an `atom.lock` from a manifest against the store (`atom lock`).

pub mod graph;
pub mod locking;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::diagnostic::{shell_quote, FileError};
use crate::id::{AtomDigest, Label, Root};
use crate::manifest::{Manifest, Requirement, MANIFEST_FILE};
use crate::store::{fetch, AtomRef, Store, StoreError};

/// The atom store: `<dir>/<root>.git` holds the atoms of the set with that root (filled by
/// `atom fetch`), `<dir>/trees/<tree id>` the files of a materialised atom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomStore {
    dir: PathBuf,
}

impl AtomStore {
    /// The store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> AtomStore {
        AtomStore { dir: dir.into() }
    }

    /// The default store, from the values of `ATOM_STORE`, `XDG_CACHE_HOME` and `HOME` (in that
    /// order of preference; empty values count as unset): `$ATOM_STORE`, else
    /// `$XDG_CACHE_HOME/atom/store`, else `$HOME/.cache/atom/store`.
    pub fn locate(
        atom_store: Option<&OsStr>,
        xdg_cache_home: Option<&OsStr>,
        home: Option<&OsStr>,
    ) -> Option<AtomStore> {
        let set = |v: Option<&OsStr>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
        set(atom_store)
            .or_else(|| set(xdg_cache_home).map(|d| d.join("atom/store")))
            .or_else(|| set(home).map(|d| d.join(".cache/atom/store")))
            .map(AtomStore::new)
    }

    /// [`AtomStore::locate`] with this process's environment.
    pub fn from_env() -> Result<AtomStore, ResolveError> {
        let var = std::env::var_os;
        AtomStore::locate(
            var("ATOM_STORE").as_deref(),
            var("XDG_CACHE_HOME").as_deref(),
            var("HOME").as_deref(),
        )
        .ok_or(ResolveError::NoStore)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where materialised atom trees go.
    pub fn trees(&self) -> PathBuf {
        self.dir.join("trees")
    }

    /// The repository of the set with this root, if it has been fetched.
    pub fn open_set(&self, root: &Root) -> Result<Option<Store>, ResolveError> {
        let path = fetch::set_repo_path(&self.dir, root);
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(Store::open(&path)?))
    }

    /// The repository of the set with this root; a missing one is an error that says how to get it
    /// (`mirror`: a URL the set can be fetched from, when one is known).
    pub fn require_set(&self, root: &Root, mirror: Option<&str>) -> Result<Store, ResolveError> {
        self.open_set(root)?
            .ok_or_else(|| ResolveError::MissingSet {
                root: *root,
                path: fetch::set_repo_path(&self.dir, root),
                fetch: fetch_command(mirror),
            })
    }
}

/// `atom fetch <mirror>` (the mirror shell-quoted: it comes from a lock), or a placeholder naming
/// what to fetch when no mirror is known.
pub fn fetch_command(mirror: Option<&str>) -> String {
    match mirror {
        Some(url) => format!("atom fetch {}", shell_quote(url)),
        None => "atom fetch <a repository that publishes it>".to_owned(),
    }
}

/// Why resolving or loading atoms failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
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
        fetch: String,
    },
    /// A locked atom is not in its set's repository.
    #[error("{atom} (pinned by {by}) is not in the atom store: {detail}; update the store with `{fetch}`")]
    MissingAtom {
        /// `label-version`.
        atom: String,
        /// Who pins it.
        by: String,
        /// What is missing.
        detail: String,
        /// The command that would fetch it.
        fetch: String,
    },
    /// Something the lock pins has changed.
    #[error("{atom} (pinned by {by}): {detail} (possible tampering)")]
    Tampered {
        /// `label-version`.
        atom: String,
        /// Who pins it.
        by: String,
        /// What differs.
        detail: String,
    },
    /// The lock does not match the manifest.
    #[error("{}: {detail}; run `atom lock {}` to update it", path.display(), shell_quote(&dir.to_string_lossy()))]
    OutOfDate {
        /// The lock file.
        path: PathBuf,
        /// The atom's directory.
        dir: PathBuf,
        /// What is out of date.
        detail: String,
    },
    /// Atoms depend on each other in a cycle.
    #[error("atoms depend on each other in a cycle: {0}")]
    Cycle(String),
    /// A published atom's files are unusable.
    #[error("{atom}: {detail}")]
    Invalid {
        /// `label-version`.
        atom: String,
        /// What is wrong.
        detail: String,
    },
    /// Resolution is not possible as asked.
    #[error("{0}")]
    Unsupported(String),
    /// A file could not be read or parsed.
    #[error(transparent)]
    File(#[from] FileError),
    /// The git store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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
}

impl Resolution {
    /// `{label, version, rev, id, src, manifest}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = self.atom.to_json();
        json["id"] = self.id.to_string().into();
        json["src"] = self.src.to_string_lossy().into_owned().into();
        json["manifest"] = self.manifest.to_json();
        json
    }
}

/// The highest version of `label` in `store` matching `requirement`, verified (SPEC 2.2 format,
/// manifest agreeing with its ref, metadata refs) and materialised under `trees`.
pub fn resolve(
    store: &Store,
    label: &Label,
    requirement: &Requirement,
    trees: &Path,
) -> Result<Resolution, ResolveError> {
    let atom = store.resolve(label, requirement)?;
    let verified = store.verify(&atom, None)?;
    let src = store.materialize(verified.tree, trees)?;
    let manifest = Manifest::parse(
        &verified.manifest,
        &src.join(MANIFEST_FILE).to_string_lossy(),
    )
    .map_err(|e| ResolveError::File(e.into()))?;
    Ok(Resolution {
        id: verified.id,
        atom,
        tree: verified.tree,
        src,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::graph::check_lock;
    use super::*;
    use crate::lock::Lockfile;
    use std::ffi::OsStr;

    #[test]
    fn the_store_is_found_in_order_of_preference() {
        let os = |s: &'static str| Some(OsStr::new(s));
        let dir = |store: Option<AtomStore>| store.map(|s| s.dir().to_owned());
        assert_eq!(
            dir(AtomStore::locate(os("/s"), os("/x"), os("/h"))),
            Some(PathBuf::from("/s"))
        );
        assert_eq!(
            dir(AtomStore::locate(os(""), os("/x"), os("/h"))),
            Some(PathBuf::from("/x/atom/store"))
        );
        assert_eq!(
            dir(AtomStore::locate(None, os(""), os("/h"))),
            Some(PathBuf::from("/h/.cache/atom/store"))
        );
        assert_eq!(dir(AtomStore::locate(None, None, os(""))), None);
    }

    #[test]
    fn the_fetch_hint_is_one_shell_word_per_argument() {
        assert_eq!(
            fetch_command(Some("file:///srv/repo")),
            "atom fetch file:///srv/repo"
        );
        assert_eq!(
            fetch_command(Some("https://example.com/it's$(reboot)")),
            "atom fetch 'https://example.com/it'\\''s$(reboot)'"
        );
    }

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

    fn check(manifest: &Manifest, lock: Option<&Lockfile>) -> Result<(), String> {
        check_lock(manifest, lock, Path::new("a/atom.lock"), Path::new("a"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_lock_must_satisfy_the_manifest() {
        let deps = manifest("\n[deps.from.bs]\nb = \"^1\"\n");
        assert_eq!(check(&manifest(""), None), Ok(()));
        assert_eq!(check(&deps, Some(&lock("1.2.0"))), Ok(()));
        assert_eq!(
            check(&deps, None),
            Err("a/atom.lock: the atom declares dependencies but has no atom.lock; run `atom lock a` to update it".into())
        );
        assert_eq!(
            check(&deps, Some(&lock("2.0.0"))),
            Err("a/atom.lock: it locks b 2.0.0, which the manifest's requirement ^1 no longer accepts; run `atom lock a` to update it".into())
        );
        let more = manifest("\n[deps.from.bs]\nb = \"^1\"\nc = \"^1\"\n");
        assert_eq!(
            check(&more, Some(&lock("1.0.0"))),
            Err("a/atom.lock: it does not lock bs.c; run `atom lock a` to update it".into())
        );
    }
}
