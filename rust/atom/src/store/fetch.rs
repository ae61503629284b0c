//! Copying published atoms from another repository into the atom store, without a `git`
//! process: the objects reachable from `refs/ekala/init` and `refs/eka/*` are copied, then
//! the refs are created in one transaction.
//!
//! Only repositories reachable on the file system (a path or a `file://` URL) can be fetched:
//! this implementation has no network transport.

use std::path::PathBuf;

use super::{Result, Store, StoreError};
use crate::id::Root;
use crate::repo::{id_of_root, ObjectId, Repo, ATOMS_PREFIX, INIT_REF, META_PREFIX};

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

/// Where `url` is on the file system, if it is a local path or a `file://` URL.
pub fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(path) = url.strip_prefix("file://") {
        return Some(PathBuf::from(path));
    }
    (!url.contains("://")).then(|| PathBuf::from(url))
}

impl Store {
    /// Fetches the atoms of the repository at `url` into this store, into the bare repository of
    /// its set root (created on first use). `progress` is called with the number of objects
    /// copied so far, now and then.
    pub fn fetch(&self, url: &str, progress: &mut dyn FnMut(usize)) -> Result<Fetched> {
        let path = local_path(url).ok_or_else(|| StoreError::NotLocal {
            url: url.to_owned(),
        })?;
        if !path.exists() {
            return Err(StoreError::NoSuchRepository {
                url: url.to_owned(),
                path,
            });
        }
        let source = Repo::open(&path)?;
        let root = source.init_ref()?.ok_or_else(|| StoreError::NoGenesis {
            url: url.to_owned(),
        })?;
        let repo_path = self.set_path(&root);
        let dest = Repo::open_or_init_bare(&repo_path)?;
        if let Some(recorded) = dest.init_ref()? {
            if recorded != root {
                return Err(StoreError::RootMismatch {
                    repo: repo_path,
                    recorded,
                    url: url.to_owned(),
                    root,
                });
            }
        }

        // The refs to copy, and which of them are new.
        let mut wanted = source.refs_under(&[ATOMS_PREFIX, META_PREFIX])?;
        wanted.push((INIT_REF.to_owned(), id_of_root(&root)));
        let (mut new_refs, mut unchanged) = missing_refs(&dest, wanted, url)?;

        // Copy every object reachable from the new refs that the store lacks.
        let tips: Vec<ObjectId> = new_refs.iter().map(|(_, id)| *id).collect();
        let objects = source.copy_objects_to(&dest, tips, progress)?;

        // Another process fetching into the same store may create some of these refs first (to the
        // same targets: published atoms never change), or hold their locks. Refs created meanwhile
        // count as unchanged; the rest are tried again while others make progress, and at most 10
        // times without progress (so that an error that is not a race is reported soon).
        let mut created = Vec::new();
        let mut idle = 0u64;
        while !new_refs.is_empty() {
            match dest.create_refs(&new_refs, &format!("fetch: {url}")) {
                Ok(()) => {
                    created.extend(new_refs.into_iter().map(|(name, _)| name));
                    break;
                }
                Err(error) => {
                    let before = new_refs.len();
                    let (missing, now_there) = missing_refs(&dest, new_refs, url)?;
                    idle = if missing.len() < before { 0 } else { idle + 1 };
                    if idle >= 10 {
                        return Err(error.into());
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
}

/// Of the refs `wanted`, those `dest` does not have, and how many it has with the same target;
/// one with another target is an error.
fn missing_refs(
    dest: &Repo,
    wanted: Vec<(String, ObjectId)>,
    url: &str,
) -> Result<(Vec<(String, ObjectId)>, usize)> {
    let mut missing = Vec::new();
    let mut unchanged = 0;
    for (name, id) in wanted {
        match dest.ref_target(&name)? {
            None => missing.push((name, id)),
            Some(existing) if existing == id => unchanged += 1,
            Some(existing) => {
                return Err(StoreError::RefChanged {
                    url: url.to_owned(),
                    name,
                    id,
                    existing,
                })
            }
        }
    }
    Ok((missing, unchanged))
}

impl Store {
    /// Mirrors the git repository at `url` (a direct Nix dependency, not an atom set) into the
    /// store: every object reachable from its refs is copied into [`Store::git_mirror_path`], so
    /// that the evaluator can read a locked `nix+git` revision without fetching. Returns the
    /// mirror and the objects copied.
    pub fn fetch_git(
        &self,
        url: &str,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(PathBuf, usize)> {
        let path =
            local_path(url)
                .filter(|p| p.exists())
                .ok_or_else(|| StoreError::MirrorNotLocal {
                    url: url.to_owned(),
                })?;
        let source = Repo::open(&path)?;
        let mirror = self.git_mirror_path(url);
        let dest = Repo::open_or_init_bare(&mirror)?;
        let tips = source.ref_tips()?;
        let objects = source.copy_objects_to(&dest, tips, progress)?;
        Ok((mirror, objects))
    }
}
