//! What the store holds ([`Store::inventory`], `atom store ls`) and collecting what no lock needs
//! ([`Store::gc`], `atom store gc`).
//!
//! Collecting keeps what the locks of the given atom directories (or of the registered roots,
//! [`super::roots`]) need, transitively: the walk of [`Store::fill_from_lock`] without fetching
//! ([`Store::pinned_by`]). In each set repository it keeps, per kept version, the atom ref, its
//! metadata refs and the mirrors' records of it; a set that keeps some versions is written anew
//! beside the old one with only the objects its remaining refs reach, and swapped in with one
//! rename; a set that keeps none is removed, as are the git mirrors and the materialised trees no
//! lock needs. It all happens under the exclusive store lock ([`super::flock`]), so a concurrent
//! fetch or materialisation waits (and one in progress is waited for); temporaries (`.tmp-…`)
//! are never touched.

use crate::repo::STORE_SIGNATURES_PREFIX;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::attribution::{mirror_key, MIRRORS_PREFIX, PARTIAL_PREFIX};
use super::record::{read_record, FetchRecord};
use super::{FillKind, FillStatus, Result, Store, StoreError};
use crate::id::{Label, Root};
use crate::lock::{Lockfile, LOCK_FILE};
use crate::manifest::Version;
use crate::repo::{
    temporary_name, ObjectId, Repo, ATOMS_PREFIX, INIT_REF, LEGACY_ATOMS_PREFIX, META_PREFIX,
};
use crate::uri::Aliases;

/// The directory, in a set's repository, naming each mirror by its key: `atom-mirrors/<key>`
/// holds the mirror's name (written by every fetch).
pub const MIRROR_NAMES: &str = "atom-mirrors";

/// One version of a set, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The atom's label.
    pub label: Label,
    /// Its version.
    pub version: Version,
    /// The store's commit for it.
    pub commit: ObjectId,
    /// The commit's tree, when it can be read.
    pub tree: Option<ObjectId>,
    /// The mirrors that served it (their names, or their keys when no name was recorded).
    pub mirrors: Vec<String>,
}

/// One set repository of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetInfo {
    /// The set's root.
    pub root: Root,
    /// Its repository.
    pub path: PathBuf,
    /// Bytes on disk.
    pub bytes: u64,
    /// Its last recorded fetch.
    pub fetched: Option<FetchRecord>,
    /// Its versions, by label then newest first.
    pub versions: Vec<VersionInfo>,
}

/// One materialised tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeInfo {
    /// The git tree.
    pub tree: ObjectId,
    /// Only its Nix files (`trees/nix/<tree>`).
    pub nix_only: bool,
    /// Its directory.
    pub path: PathBuf,
    /// Bytes on disk.
    pub bytes: u64,
    /// The versions in the store whose tree it is (`label version`).
    pub atoms: Vec<String>,
}

/// One mirror of a plain git repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorInfo {
    /// Its repository.
    pub path: PathBuf,
    /// The URL it was mirrored from, when recorded.
    pub url: Option<String>,
    /// Bytes on disk.
    pub bytes: u64,
}

/// What the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The set repositories.
    pub sets: Vec<SetInfo>,
    /// The materialised trees.
    pub trees: Vec<TreeInfo>,
    /// The git mirrors.
    pub git: Vec<MirrorInfo>,
}

impl Inventory {
    /// `{"sets": [{"root", "path", "bytes", "fetched": {"url", "date"}|null, "versions":
    /// [{"label", "version", "commit", "tree", "mirrors"}]}], "trees": [{"tree", "nix_only",
    /// "path", "bytes", "atoms"}], "git": [{"path", "url", "bytes"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let sets: Vec<_> = self
            .sets
            .iter()
            .map(|s| {
                serde_json::json!({
                    "root": s.root.to_hex(),
                    "path": s.path,
                    "bytes": s.bytes,
                    "fetched": s.fetched.as_ref().map(|r| serde_json::json!({"url": r.url, "date": r.date()})),
                    "versions": s.versions.iter().map(|v| serde_json::json!({
                        "label": v.label.as_str(),
                        "version": v.version.to_string(),
                        "commit": v.commit.to_string(),
                        "tree": v.tree.map(|t| t.to_string()),
                        "mirrors": v.mirrors,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let trees: Vec<_> = self
            .trees
            .iter()
            .map(|t| {
                serde_json::json!({
                    "tree": t.tree.to_string(),
                    "nix_only": t.nix_only,
                    "path": t.path,
                    "bytes": t.bytes,
                    "atoms": t.atoms,
                })
            })
            .collect();
        let git: Vec<_> = self
            .git
            .iter()
            .map(|g| serde_json::json!({"path": g.path, "url": g.url, "bytes": g.bytes}))
            .collect();
        serde_json::json!({"sets": sets, "trees": trees, "git": git})
    }
}

/// What [`Store::gc`] did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// Whether nothing was removed (a dry run).
    pub dry_run: bool,
    /// The atom directories whose locks were kept.
    pub roots: Vec<PathBuf>,
    /// The versions kept, as `(set, label, version)`.
    pub kept: Vec<(Root, Label, Version)>,
    /// Entries the locks need that the store lacks (nothing to keep for them).
    pub missing: usize,
    /// The versions removed.
    pub removed_versions: Vec<(Root, Label, Version)>,
    /// The set repositories removed whole.
    pub removed_sets: Vec<PathBuf>,
    /// The set repositories written anew with only what their remaining refs reach.
    pub repacked_sets: Vec<PathBuf>,
    /// The materialised trees removed.
    pub removed_trees: Vec<PathBuf>,
    /// The git mirrors removed.
    pub removed_mirrors: Vec<PathBuf>,
    /// Bytes freed (for a dry run: those of what would be removed whole; repacking is not
    /// estimated).
    pub freed: u64,
}

impl Collected {
    /// `{"dry_run", "roots", "kept", "missing", "removed_versions": [{"set", "label",
    /// "version"}], "removed_sets", "repacked_sets", "removed_trees", "removed_mirrors",
    /// "freed"}`.
    pub fn to_json(&self) -> serde_json::Value {
        let versions = |list: &[(Root, Label, Version)]| {
            list.iter()
                .map(|(root, label, version)| {
                    serde_json::json!({"set": root.to_hex(), "label": label.as_str(), "version": version.to_string()})
                })
                .collect::<Vec<_>>()
        };
        serde_json::json!({
            "dry_run": self.dry_run,
            "roots": self.roots,
            "kept": versions(&self.kept),
            "missing": self.missing,
            "removed_versions": versions(&self.removed_versions),
            "removed_sets": self.removed_sets,
            "repacked_sets": self.repacked_sets,
            "removed_trees": self.removed_trees,
            "removed_mirrors": self.removed_mirrors,
            "freed": self.freed,
        })
    }
}

/// The bytes of the files under `path` (not following symbolic links).
pub fn disk_bytes(path: &Path) -> u64 {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !metadata.is_dir() {
        return metadata.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| disk_bytes(&e.path()))
        .sum()
}

/// Whether `name` is 40 hexadecimal digits (a tree or root id), as opposed to a temporary.
fn is_id(name: &str) -> bool {
    name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Removes the directory `dir` as a whole: renamed to a temporary first, so that it is gone at
/// once, then deleted.
fn remove_whole(dir: &Path) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let doomed = parent.join(temporary_name(&format!("gc-{name}")));
    std::fs::rename(dir, &doomed).map_err(io(dir))?;
    std::fs::remove_dir_all(&doomed).map_err(io(&doomed))
}

/// Puts the directory `new` in place of `old` in one step (`renameat2` with `RENAME_EXCHANGE`),
/// then deletes what was `old`; where the exchange is not supported, two renames.
fn swap_in(new: &Path, old: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).ok();
    let exchanged = match (c(new), c(old)) {
        (Some(a), Some(b)) => {
            // SAFETY: both are valid NUL-terminated paths; AT_FDCWD resolves them as given.
            let status = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    a.as_ptr(),
                    libc::AT_FDCWD,
                    b.as_ptr(),
                    libc::RENAME_EXCHANGE,
                )
            };
            status == 0
        }
        _ => false,
    };
    if !exchanged {
        let parent = old.parent().unwrap_or(Path::new("."));
        let aside = parent.join(temporary_name("gc-old"));
        std::fs::rename(old, &aside).map_err(io(old))?;
        std::fs::rename(new, old).map_err(io(new))?;
        return std::fs::remove_dir_all(&aside).map_err(io(&aside));
    }
    std::fs::remove_dir_all(new).map_err(io(new))
}

/// The entries of `dir` (its path and name), or none when it does not exist.
fn entries(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .flatten()
            .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(StoreError::Io {
            path: dir.to_owned(),
            source,
        }),
    }
}

/// `(label, version)` of a ref `<prefix><label>/<version>[/…]`, when it parses.
fn label_version(name: &str, prefix: &str) -> Option<(Label, Version)> {
    let rest = name.strip_prefix(prefix)?;
    let mut parts = rest.splitn(3, '/');
    let label = Label::parse(parts.next()?).ok()?;
    let version = Version::parse(parts.next()?).ok()?;
    Some((label, version))
}

/// `(label, version)` of a ref `<prefix><key>/<label>/<version>` (a mirror's record, or a mark
/// of a partial version).
fn ref_version_under(name: &str, prefix: &str) -> Option<(Label, Version)> {
    let rest = name.strip_prefix(prefix)?;
    let (_, rest) = rest.split_once('/')?;
    label_version(rest, "")
}

/// The `(label, version)` a store ref belongs to, and whether it is one of an atom's refs at all.
fn ref_version(name: &str) -> Option<(Label, Version)> {
    if name.starts_with(MIRRORS_PREFIX) {
        return ref_version_under(name, MIRRORS_PREFIX);
    }
    [ATOMS_PREFIX, META_PREFIX, LEGACY_ATOMS_PREFIX]
        .iter()
        .find_map(|prefix| label_version(name, prefix))
}

impl Store {
    /// The set repositories of the store: `(root, path)`, by root.
    fn set_dirs(&self) -> Result<Vec<(Root, PathBuf)>> {
        let mut sets: Vec<_> = entries(self.dir())?
            .into_iter()
            .filter_map(|(path, name)| {
                let root = name.strip_suffix(".git").filter(|r| is_id(r))?;
                Some((Root::from_hex(root).ok()?, path))
            })
            .filter(|(_, path)| path.is_dir())
            .collect();
        sets.sort();
        Ok(sets)
    }

    /// The materialised trees: `(tree, nix only, path)`.
    fn tree_dirs(&self) -> Result<Vec<(ObjectId, bool, PathBuf)>> {
        let mut trees = Vec::new();
        for (nix_only, dir) in [(false, self.trees()), (true, self.trees().join("nix"))] {
            for (path, name) in entries(&dir)? {
                if !is_id(&name) || !path.is_dir() {
                    continue;
                }
                if let Ok(id) = ObjectId::from_hex(name.as_bytes()) {
                    trees.push((id, nix_only, path));
                }
            }
        }
        trees.sort();
        Ok(trees)
    }

    /// The git mirrors' repositories.
    fn mirror_dirs(&self) -> Result<Vec<PathBuf>> {
        let mut dirs: Vec<_> = entries(&self.dir().join("git"))?
            .into_iter()
            .filter(|(path, name)| {
                name.ends_with(".git") && !name.starts_with('.') && path.is_dir()
            })
            .map(|(path, _)| path)
            .collect();
        dirs.sort();
        Ok(dirs)
    }

    /// Records, in the set repository `repo`, the name of the mirror with `key` (best effort: it
    /// only names mirrors in [`Store::inventory`]).
    pub(crate) fn record_mirror_name(&self, repo: &Path, key: &str, name: &str) {
        let dir = repo.join(MIRROR_NAMES);
        let path = dir.join(key);
        if std::fs::read_to_string(&path).is_ok_and(|t| t == name) {
            return;
        }
        let tmp = dir.join(temporary_name(key));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&tmp, name))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// What the store holds: its sets with their versions and the mirrors each came from, its
    /// materialised trees and its git mirrors, with their sizes on disk.
    pub fn inventory(&self) -> Result<Inventory> {
        self.check_permissions()?;
        let mut inventory = Inventory::default();
        let mut tree_atoms: BTreeMap<ObjectId, Vec<String>> = BTreeMap::new();
        for (root, path) in self.set_dirs()? {
            let repo = Repo::open(&path)?;
            let fetched = read_record(&path);
            let mut names: BTreeMap<String, String> = BTreeMap::new();
            for (file, key) in entries(&path.join(MIRROR_NAMES))? {
                if let Ok(name) = std::fs::read_to_string(&file) {
                    names.insert(key, name);
                }
            }
            if let Some(record) = &fetched {
                names
                    .entry(mirror_key(&record.url, &Aliases::default()))
                    .or_insert_with(|| record.url.clone());
            }
            let mut served: BTreeMap<(Label, Version), Vec<String>> = BTreeMap::new();
            for (name, _) in repo.refs_under(&[MIRRORS_PREFIX])? {
                let rest = &name[MIRRORS_PREFIX.len()..];
                let Some((key, atom)) = rest.split_once('/') else {
                    continue;
                };
                if let Some(lv) = label_version(atom, "") {
                    let shown = names.get(key).cloned().unwrap_or_else(|| key.to_owned());
                    served.entry(lv).or_default().push(shown);
                }
            }
            let mut versions = Vec::new();
            for atom in repo.atoms()? {
                let tree = repo.commit_tree(atom.commit).ok();
                if let Some(tree) = tree {
                    tree_atoms
                        .entry(tree)
                        .or_default()
                        .push(format!("{} {}", atom.label, atom.version));
                }
                let mirrors = served
                    .remove(&(atom.label.clone(), atom.version.clone()))
                    .unwrap_or_default();
                versions.push(VersionInfo {
                    label: atom.label,
                    version: atom.version,
                    commit: atom.commit,
                    tree,
                    mirrors,
                });
            }
            inventory.sets.push(SetInfo {
                root,
                bytes: disk_bytes(&path),
                path,
                fetched,
                versions,
            });
        }
        for (tree, nix_only, path) in self.tree_dirs()? {
            inventory.trees.push(TreeInfo {
                tree,
                nix_only,
                bytes: disk_bytes(&path),
                path,
                atoms: tree_atoms.get(&tree).cloned().unwrap_or_default(),
            });
        }
        for path in self.mirror_dirs()? {
            inventory.git.push(MirrorInfo {
                url: read_record(&path).map(|r| r.url),
                bytes: disk_bytes(&path),
                path,
            });
        }
        Ok(inventory)
    }

    /// Removes from the store what the locks of the atom directories `dirs` do not need,
    /// transitively (see the module's documentation); with no directory, what the registered
    /// roots do not need ([`Store::roots`]). With `dry_run`, only says what it would remove.
    pub fn gc(&self, dirs: &[PathBuf], dry_run: bool) -> Result<Collected> {
        self.check_permissions()?;
        let _lock = self.lock_exclusive()?;
        let roots = if dirs.is_empty() {
            self.roots()?
        } else {
            dirs.iter()
                .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()))
                .collect()
        };
        let mut collected = Collected {
            dry_run,
            ..Collected::default()
        };

        // What the locks need.
        let mut keep_versions: BTreeSet<(Root, Label, Version)> = BTreeSet::new();
        let mut keep_mirrors: BTreeSet<PathBuf> = BTreeSet::new();
        let mut keep_trees: BTreeSet<ObjectId> = BTreeSet::new();
        for dir in &roots {
            let path = dir.join(LOCK_FILE);
            let lock = Lockfile::read_if_present(&path)?
                .ok_or_else(|| StoreError::NoLock { dir: dir.clone() })?;
            let pinned = self.pinned_by(&lock, &path.to_string_lossy())?;
            let local = Repo::discover(dir).ok();
            for entry in pinned.entries {
                let Some(rev) = entry.rev else {
                    continue;
                };
                match (&entry.kind, &entry.status) {
                    (_, FillStatus::Failed(_)) => collected.missing += 1,
                    (FillKind::Atom(_), FillStatus::Local) => {
                        // An atom of the working tree's repository, materialised from it.
                        let tree = local.as_ref().and_then(|r| r.commit_tree(rev).ok());
                        keep_trees.extend(tree);
                    }
                    (FillKind::Atom(root), _) => {
                        if let Some(repo) = self.open_set(root)? {
                            keep_trees.extend(repo.commit_tree(rev).ok());
                        }
                        if let Some(version) = entry.version {
                            keep_versions.insert((*root, entry.label, version));
                        }
                    }
                    (FillKind::Git(url), _) => {
                        // The store's mirror, or the URL itself when it is a local path.
                        let found = self.git_mirror(url, rev);
                        if let Some(repo) = found.and_then(|p| Repo::open(&p).ok()) {
                            keep_trees.extend(repo.commit_tree(rev).ok());
                        }
                        keep_mirrors.insert(self.git_mirror_path(url));
                    }
                }
            }
        }
        collected.roots = roots;
        collected.kept = keep_versions.iter().cloned().collect();

        // The sets.
        for (root, path) in self.set_dirs()? {
            self.check_repo_permissions(&path)?;
            let repo = Repo::open(&path)?;
            let refs = repo.refs_under(&[
                ATOMS_PREFIX,
                META_PREFIX,
                MIRRORS_PREFIX,
                LEGACY_ATOMS_PREFIX,
            ])?;
            let mut kept_refs = Vec::new();
            let mut dropped: BTreeSet<(Label, Version)> = BTreeSet::new();
            // Versions of which only the manifest and lock are here (fetched to lock them) are
            // not what a lock needs, and a set written anew holds whole versions only.
            let partial: BTreeSet<(Label, Version, ObjectId)> = repo
                .refs_under(&[PARTIAL_PREFIX])?
                .into_iter()
                .filter_map(|(name, id)| {
                    let (label, version) = ref_version_under(&name, PARTIAL_PREFIX)?;
                    Some((label, version, id))
                })
                // A mark beside the store's own ref to the commit is stale (`attribution::is_partial`).
                .filter(|(label, version, id)| {
                    !matches!(repo.ref_target(&crate::repo::atom_ref(label, version)), Ok(Some(t)) if t == *id)
                })
                .collect();
            let mut partial_dropped = false;
            for (name, id) in refs {
                let is_partial = name.starts_with(MIRRORS_PREFIX)
                    && ref_version(&name)
                        .is_some_and(|(label, version)| partial.contains(&(label, version, id)));
                if is_partial {
                    partial_dropped = true;
                    continue;
                }
                match ref_version(&name) {
                    Some((label, version))
                        if keep_versions.contains(&(root, label.clone(), version.clone())) =>
                    {
                        kept_refs.push((name, id))
                    }
                    Some(lv) => {
                        dropped.insert(lv);
                    }
                    // A ref that names no atom version: kept as it is.
                    None => kept_refs.push((name, id)),
                }
            }
            if dropped.is_empty() && !partial_dropped {
                continue;
            }
            // The signatures the store keeps for the commits still named.
            let named: BTreeSet<String> = kept_refs
                .iter()
                .filter(|(name, _)| {
                    name.starts_with(ATOMS_PREFIX) || name.starts_with(MIRRORS_PREFIX)
                })
                .map(|(_, id)| id.to_string())
                .collect();
            for (name, id) in repo.refs_under(&[STORE_SIGNATURES_PREFIX])? {
                let commit = name
                    .strip_prefix(STORE_SIGNATURES_PREFIX)
                    .and_then(|rest| rest.split('/').next());
                if commit.is_some_and(|c| named.contains(c)) {
                    kept_refs.push((name, id));
                }
            }
            collected.removed_versions.extend(
                dropped
                    .into_iter()
                    .map(|(label, version)| (root, label, version)),
            );
            let versions_kept = kept_refs.iter().any(|(name, _)| {
                name.starts_with(ATOMS_PREFIX) || name.starts_with(MIRRORS_PREFIX)
            });
            if !versions_kept {
                collected.freed += disk_bytes(&path);
                if !dry_run {
                    remove_whole(&path)?;
                }
                collected.removed_sets.push(path);
                continue;
            }
            if !dry_run {
                let before = disk_bytes(&path);
                self.rewrite_set(&repo, root, &path, kept_refs)?;
                collected.freed += before.saturating_sub(disk_bytes(&path));
            }
            collected.repacked_sets.push(path);
        }

        // The git mirrors and the trees.
        for path in self.mirror_dirs()? {
            if keep_mirrors.contains(&path) {
                continue;
            }
            collected.freed += disk_bytes(&path);
            if !dry_run {
                remove_whole(&path)?;
            }
            collected.removed_mirrors.push(path);
        }
        if !dry_run {
            for cache in super::FORGOTTEN_BY_GC {
                let _ = std::fs::remove_dir_all(self.dir().join(cache));
            }
        }
        // The digest records of trees no lock needs (a cache: computed again when needed).
        for (path, name) in entries(&self.dir().join("digests"))? {
            let needed = ObjectId::from_hex(name.as_bytes()).is_ok_and(|t| keep_trees.contains(&t));
            if !needed && !dry_run {
                let _ = std::fs::remove_file(&path);
            }
        }
        for (tree, _, path) in self.tree_dirs()? {
            if keep_trees.contains(&tree) {
                continue;
            }
            collected.freed += disk_bytes(&path);
            if !dry_run {
                remove_whole(&path)?;
                super::stamp::remove(&path);
            }
            collected.removed_trees.push(path);
        }
        Ok(collected)
    }

    /// Writes the set repository at `path` anew beside it with only `refs` (and `refs/ekala/init`)
    /// and the objects they reach, with its records, and swaps it in.
    fn rewrite_set(
        &self,
        repo: &Repo,
        root: Root,
        path: &Path,
        mut refs: Vec<(String, ObjectId)>,
    ) -> Result<()> {
        let name = format!("{root}.git");
        let tmp = self.dir().join(temporary_name(&name));
        let written = (|| -> Result<()> {
            let new = Repo::init_bare(&tmp)?;
            if let Some(init) = repo.ref_target(INIT_REF)? {
                refs.push((INIT_REF.to_owned(), init));
            }
            let tips: Vec<ObjectId> = refs
                .iter()
                .map(|(_, id)| *id)
                .filter(|id| repo.has_object(*id))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            repo.copy_objects_to(&new, tips, false, &mut |_| {})?;
            new.create_refs(&refs, "gc")?;
            let record = path.join(super::record::FETCH_RECORD);
            if record.exists() {
                std::fs::copy(&record, tmp.join(super::record::FETCH_RECORD))
                    .map_err(io(&record))?;
            }
            let names = path.join(MIRROR_NAMES);
            if names.is_dir() {
                std::fs::create_dir_all(tmp.join(MIRROR_NAMES)).map_err(io(&tmp))?;
                for (file, key) in entries(&names)? {
                    std::fs::copy(&file, tmp.join(MIRROR_NAMES).join(key)).map_err(io(&file))?;
                }
            }
            Ok(())
        })();
        if let Err(error) = written {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(error);
        }
        swap_in(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_name_their_versions() {
        let lv = |l: &str, v: &str| Some((Label::parse(l).unwrap(), Version::parse(v).unwrap()));
        assert_eq!(ref_version("refs/eka/atoms/lib/1.2.0"), lv("lib", "1.2.0"));
        assert_eq!(
            ref_version("refs/eka/meta/lib/1.2.0/manifest"),
            lv("lib", "1.2.0")
        );
        assert_eq!(
            ref_version("refs/atom/mirrors/0123456789abcdef/lib/1.2.0"),
            lv("lib", "1.2.0")
        );
        assert_eq!(ref_version("refs/ekala/init"), None);
    }
}
