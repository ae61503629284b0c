//! Copying published atoms from another repository into an atom store, with gix and without a
//! `git` process: the objects reachable from `refs/ekala/init` and `refs/eka/*` are copied, then
//! the refs are created in one transaction.
//!
//! Only repositories reachable on the file system (a path or a `file://` URL) can be fetched:
//! this implementation has no network transport.

use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;
use gix::ObjectId;

use super::pack::PackWriter;
use super::refs::{INIT_REF, META_PREFIX};
use super::{create_refs, ref_target, Result, Store, StoreError, ATOMS_PREFIX};
use crate::id::Root;

/// What a fetch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The set's root.
    pub root: Root,
    /// The store repository it went into.
    pub repo: PathBuf,
    /// Refs created.
    pub created: Vec<String>,
    /// Refs already present with the same target.
    pub unchanged: usize,
    /// Objects copied.
    pub objects: usize,
}

impl Fetched {
    /// `{"root", "repo", "created", "unchanged", "objects"}`, as the CLI and libatom report it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "root": self.root.to_hex(),
            "repo": self.repo,
            "created": self.created,
            "unchanged": self.unchanged,
            "objects": self.objects,
        })
    }
}

/// The directory of a set's repository in an atom store.
pub fn set_repo_path(store_dir: &Path, root: &Root) -> PathBuf {
    store_dir.join(format!("{root}.git"))
}

/// Where `url` is on the file system, if it is a local path or a `file://` URL.
pub fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(path) = url.strip_prefix("file://") {
        return Some(PathBuf::from(path));
    }
    (!url.contains("://")).then(|| PathBuf::from(url))
}

/// Fetches the atoms of the repository at `url` into the store directory `store_dir`, into the
/// bare repository of its set root (created on first use). `progress` is called with the number
/// of objects copied so far, now and then.
pub fn fetch(url: &str, store_dir: &Path, progress: &mut dyn FnMut(usize)) -> Result<Fetched> {
    let path = local_path(url).ok_or_else(|| StoreError::Fetch(format!(
        "cannot fetch {url}: only local repositories (a path or a file:// URL) can be fetched; this build has no network transport"
    )))?;
    if !path.exists() {
        return Err(StoreError::Fetch(format!(
            "cannot fetch {url}: {} does not exist",
            path.display()
        )));
    }
    let source = Store::open(&path)?;
    let root = source.init_ref()?.ok_or_else(|| {
        StoreError::Fetch(format!(
            "{url} has no refs/ekala/init: it publishes no atoms (run `atom init` there first)"
        ))
    })?;
    let repo_path = set_repo_path(store_dir, &root);
    let dest = Store::open_or_init_bare(&repo_path)?;
    if let Some(recorded) = dest.init_ref()? {
        if recorded != root {
            return Err(StoreError::Fetch(format!(
                "the store repository {} is recorded for root {recorded}, but {url} has root {root}",
                repo_path.display()
            )));
        }
    }

    // The refs to copy, and which of them are new.
    let mut wanted: Vec<(String, ObjectId)> = Vec::new();
    let platform = source.repo.references().map_err(StoreError::refs)?;
    for prefix in [ATOMS_PREFIX, META_PREFIX] {
        for reference in platform.prefixed(prefix).map_err(StoreError::refs)? {
            let reference = reference.map_err(StoreError::refs)?;
            let Some(id) = reference.target().try_id().map(|id| id.to_owned()) else {
                continue;
            };
            let Ok(name) = reference.name().as_bstr().to_str() else {
                continue;
            };
            wanted.push((name.to_owned(), id));
        }
    }
    wanted.push((INIT_REF.to_owned(), super::id_of_root(&root)));
    let (mut new_refs, mut unchanged) = missing_refs(&dest, wanted, url)?;

    // Copy every object reachable from the new refs that the store lacks.
    let tips: Vec<ObjectId> = new_refs.iter().map(|(_, id)| *id).collect();
    let objects = copy_objects(&source, &dest, tips, progress)?;

    // Another process fetching into the same store may create some of these refs first (to the
    // same targets: published atoms never change), or hold their locks. Refs created meanwhile
    // count as unchanged; the rest are tried again while others make progress, and at most 10
    // times without progress (so that an error that is not a race is reported soon).
    let mut created = Vec::new();
    let mut idle = 0u64;
    while !new_refs.is_empty() {
        match create_refs(&dest, &new_refs, &format!("fetch: {url}")) {
            Ok(()) => {
                created.extend(new_refs.into_iter().map(|(name, _)| name));
                break;
            }
            Err(error) => {
                let before = new_refs.len();
                let (missing, now_there) = missing_refs(&dest, new_refs, url)?;
                idle = if missing.len() < before { 0 } else { idle + 1 };
                if idle >= 10 {
                    return Err(error);
                }
                unchanged += now_there;
                new_refs = missing;
                // Back off, by a different amount in each process.
                let jitter = u64::from(std::process::id() % 7);
                std::thread::sleep(std::time::Duration::from_millis(5 * idle + jitter));
            }
        }
    }
    Ok(Fetched {
        root,
        repo: repo_path,
        created,
        unchanged,
        objects,
    })
}

/// Of the refs `wanted`, those `dest` does not have, and how many it has with the same target;
/// one with another target is an error.
fn missing_refs(
    dest: &Store,
    wanted: Vec<(String, ObjectId)>,
    url: &str,
) -> Result<(Vec<(String, ObjectId)>, usize)> {
    let mut missing = Vec::new();
    let mut unchanged = 0;
    for (name, id) in wanted {
        match ref_target(dest, &name)? {
            None => missing.push((name, id)),
            Some(existing) if existing == id => unchanged += 1,
            Some(existing) => {
                return Err(StoreError::Fetch(format!(
                    "{url} has {name} at {id}, but the store has it at {existing}: published atoms never change (possible tampering); nothing was fetched"
                )))
            }
        }
    }
    Ok((missing, unchanged))
}

/// The directory of the store's mirror of the git repository at `url` (a direct `nix+git`
/// dependency): `<store>/git/<BLAKE3 of the URL, 32 hex digits>.git`.
pub fn git_mirror_path(store_dir: &Path, url: &str) -> PathBuf {
    let digest = blake3::hash(url.as_bytes()).to_hex();
    store_dir.join("git").join(format!("{}.git", &digest[..32]))
}

/// Mirrors the git repository at `url` (a direct Nix dependency, not an atom set) into the store:
/// every object reachable from its refs is copied into [`git_mirror_path`], so that the evaluator
/// can read a locked `nix+git` revision without fetching. Returns the mirror and the objects
/// copied.
pub fn fetch_git(
    url: &str,
    store_dir: &Path,
    progress: &mut dyn FnMut(usize),
) -> Result<(PathBuf, usize)> {
    let path = local_path(url)
        .filter(|p| p.exists())
        .ok_or_else(|| StoreError::Fetch(format!(
            "cannot mirror {url}: only repositories on this machine (a path or a file:// URL) can be fetched; this build has no network transport"
        )))?;
    let source = Store::open(&path)?;
    let mirror = git_mirror_path(store_dir, url);
    let dest = Store::open_or_init_bare(&mirror)?;
    let mut tips = Vec::new();
    let platform = source.repo.references().map_err(StoreError::refs)?;
    for reference in platform.all().map_err(StoreError::refs)? {
        let mut reference = reference.map_err(StoreError::refs)?;
        if let Ok(id) = reference.peel_to_id() {
            tips.push(id.detach());
        }
    }
    let objects = copy_objects(&source, &dest, tips, progress)?;
    Ok((mirror, objects))
}

/// Copies every object reachable from `tips` that `dest` lacks from `source`, checking that each
/// object's content matches its id; returns how many were copied.
fn copy_objects(
    source: &Store,
    dest: &Store,
    tips: Vec<ObjectId>,
    progress: &mut dyn FnMut(usize),
) -> Result<usize> {
    let mut objects = 0;
    let mut stack = tips;
    let mut seen = gix::hashtable::HashSet::default();
    let mut pack = PackWriter::new(dest.repo.objects.store_ref().path())?;
    // One lookup that may load the destination's pack indexes; after it, misses (every object
    // of a first fetch) are answered from what is loaded instead of listing the pack directory
    // again each time. A wrong miss would only copy an object twice.
    if let Some(first) = stack.first() {
        dest.repo.has_object(first);
    }
    while let Some(id) = stack.pop() {
        if !seen.insert(id) || dest.repo.objects.exists_without_refresh(&id) {
            continue;
        }
        let object = source
            .repo
            .find_object(id)
            .map_err(|e| StoreError::object(id, e))?;
        match object.kind {
            gix::object::Kind::Commit => {
                let commit = gix::objs::CommitRef::from_bytes(&object.data, gix::hash::Kind::Sha1)
                    .map_err(|e| StoreError::object(id, e))?;
                stack.push(commit.tree());
                stack.extend(commit.parents());
            }
            gix::object::Kind::Tree => {
                let tree = gix::objs::TreeRef::from_bytes(&object.data, gix::hash::Kind::Sha1)
                    .map_err(|e| StoreError::object(id, e))?;
                // Submodule commits are not part of this repository.
                stack.extend(
                    tree.entries
                        .iter()
                        .filter(|e| !e.mode.is_commit())
                        .map(|e| e.oid.to_owned()),
                );
            }
            gix::object::Kind::Tag => {
                let tag = gix::objs::TagRef::from_bytes(&object.data, gix::hash::Kind::Sha1)
                    .map_err(|e| StoreError::object(id, e))?;
                stack.push(tag.target());
            }
            gix::object::Kind::Blob => {}
        }
        super::check_content(id, object.kind, &object.data)?;
        pack.add(id, object.kind, &object.data)?;
        objects += 1;
        if objects % 1000 == 0 {
            progress(objects);
        }
    }
    pack.finish()?;
    progress(objects);
    Ok(objects)
}
