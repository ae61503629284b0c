//! Resolving atoms from git repositories already on this machine, without a fetcher
//! (docs/design.md#resolving-without-a-fetcher).
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
use crate::store::{fetch, stamp, AtomRef, Files, Store, StoreError};

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

/// One materialised tree checked by [`AtomStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeCheck {
    /// Its directory.
    pub dir: PathBuf,
    /// Which files it holds.
    pub files: Files,
    /// What is wrong with it, if anything.
    pub problem: Option<String>,
    /// Whether it was rewritten from git (`repair`).
    pub repaired: bool,
}

/// One published atom of a set repository checked by [`AtomStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomCheck {
    /// The set's repository.
    pub repo: PathBuf,
    /// `label-version`.
    pub atom: String,
    /// What is wrong with it, if anything.
    pub problem: Option<String>,
}

/// What [`AtomStore::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreReport {
    /// Every materialised tree.
    pub trees: Vec<TreeCheck>,
    /// Every published atom of every set repository.
    pub atoms: Vec<AtomCheck>,
}

impl StoreReport {
    /// How many problems were found and not repaired.
    pub fn unrepaired(&self) -> usize {
        self.trees
            .iter()
            .filter(|t| t.problem.is_some() && !t.repaired)
            .count()
            + self.atoms.iter().filter(|a| a.problem.is_some()).count()
    }

    /// `{"trees": [{dir, files, ok, problem, repaired}], "atoms": [{repo, atom, ok, problem}],
    /// "unrepaired": n}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "trees": self.trees.iter().map(|t| serde_json::json!({
                "dir": t.dir,
                "files": match t.files { Files::All => "all", Files::Nix => "nix" },
                "ok": t.problem.is_none(),
                "problem": t.problem,
                "repaired": t.repaired,
            })).collect::<Vec<_>>(),
            "atoms": self.atoms.iter().map(|a| serde_json::json!({
                "repo": a.repo,
                "atom": a.atom,
                "ok": a.problem.is_none(),
                "problem": a.problem,
            })).collect::<Vec<_>>(),
            "unrepaired": self.unrepaired(),
        })
    }
}

impl AtomStore {
    /// Checks the whole store (`atom store verify`): every materialised tree is compared with
    /// the git tree it came from ([`Store::check_materialized`]), and every published atom of
    /// every set repository is verified ([`Store::verify`]). With `repair`, a tree that differs
    /// (or whose git tree no repository has any more) is deleted and, when its git tree is
    /// found, written again.
    pub fn verify(&self, repair: bool) -> Result<StoreReport, ResolveError> {
        let mut report = StoreReport::default();
        let repos = self.repositories()?;
        let trees = self.trees();
        for (cache, files) in [(trees.clone(), Files::All), (trees.join("nix"), Files::Nix)] {
            for (dir, tree) in tree_dirs(&cache)? {
                report
                    .trees
                    .push(self.verify_tree(&dir, tree, files, &repos, repair));
            }
        }
        for repo in repos
            .iter()
            .filter(|p| p.parent() == Some(self.dir.as_path()))
        {
            let store = match Store::open(repo) {
                Ok(store) => store,
                Err(e) => {
                    report.atoms.push(AtomCheck {
                        repo: repo.clone(),
                        atom: String::new(),
                        problem: Some(e.to_string()),
                    });
                    continue;
                }
            };
            match store.atoms() {
                Ok(atoms) => {
                    for atom in atoms {
                        report.atoms.push(AtomCheck {
                            repo: repo.clone(),
                            atom: format!("{}-{}", atom.label, atom.version),
                            problem: store.verify(&atom, None).err().map(|e| e.to_string()),
                        });
                    }
                }
                Err(e) => report.atoms.push(AtomCheck {
                    repo: repo.clone(),
                    atom: String::new(),
                    problem: Some(e.to_string()),
                }),
            }
        }
        Ok(report)
    }

    /// The store's repositories: `<dir>/<root>.git` (sets) and `<dir>/git/<hash>.git` (mirrors).
    fn repositories(&self) -> Result<Vec<PathBuf>, ResolveError> {
        let mut repos = Vec::new();
        for dir in [self.dir.clone(), self.dir.join("git")] {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(FileError::Read { path: dir, source }.into()),
            };
            for entry in entries {
                let path = entry
                    .map_err(|source| FileError::Read {
                        path: dir.clone(),
                        source,
                    })?
                    .path();
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                if name.ends_with(".git") && !name.starts_with('.') && path.is_dir() {
                    repos.push(path);
                }
            }
        }
        repos.sort();
        Ok(repos)
    }

    fn verify_tree(
        &self,
        dir: &Path,
        tree: ObjectId,
        files: Files,
        repos: &[PathBuf],
        repair: bool,
    ) -> TreeCheck {
        // The repository the stamp names first, then every repository of the store.
        let candidates = stamp::recorded_repo(dir)
            .into_iter()
            .chain(repos.iter().cloned());
        let source = candidates
            .filter_map(|path| Store::open(&path).ok())
            .find(|store| store.repo().has_object(tree));
        let problem = match &source {
            None => Some(format!(
                "no repository of the store has its git tree {tree}, so it cannot be checked"
            )),
            Some(store) => match store.check_materialized(tree, dir, files) {
                Ok(()) => {
                    // Checked: stamp it afresh so that loading it needs no deep check.
                    let _ = stamp::write(dir, store.repo().git_dir());
                    None
                }
                Err(e) => Some(e.to_string()),
            },
        };
        let mut check = TreeCheck {
            dir: dir.to_owned(),
            files,
            problem,
            repaired: false,
        };
        if repair && check.problem.is_some() {
            let removed = std::fs::remove_dir_all(dir);
            stamp::remove(dir);
            let cache = dir.parent().unwrap_or(Path::new("."));
            check.repaired = match (removed, &source) {
                (Err(e), _) => {
                    check.problem = Some(format!(
                        "{}; cannot remove it: {e}",
                        check.problem.take().unwrap_or_default()
                    ));
                    false
                }
                (Ok(()), None) => true,
                (Ok(()), Some(store)) => store.materialize_files(tree, cache, files).is_ok(),
            };
        }
        check
    }
}

/// The materialised trees directly in `cache`: `(directory, tree id)`.
fn tree_dirs(cache: &Path) -> Result<Vec<(PathBuf, ObjectId)>, ResolveError> {
    let entries = match std::fs::read_dir(cache) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(FileError::Read {
                path: cache.to_owned(),
                source,
            }
            .into())
        }
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| FileError::Read {
                path: cache.to_owned(),
                source,
            })?
            .path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let is_id = name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if is_id && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            if let Ok(id) = ObjectId::from_hex(name.as_bytes()) {
                dirs.push((path, id));
            }
        }
    }
    dirs.sort();
    Ok(dirs)
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

/// The highest version of `label` in `store` matching `requirement`, verified (docs/format.md#verification: commit format,
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
