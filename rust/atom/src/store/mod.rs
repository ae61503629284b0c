//! Git-native atom storage (docs/format.md#the-genesis, docs/format.md#refs-and-commits, docs/format.md#resolution): a [`Store`] is a git repository, bare or not, in
//! which atoms are published under `refs/eka/atoms/<label>/<version>`.
//!
//! Repositories are opened in gix's isolated mode: no global or user git configuration and no
//! environment variable changes how they are read. No `git` process is ever started.

mod error;
pub mod fetch;
mod materialize;
mod pack;
mod refs;
pub mod stamp;
mod verify;

pub use refs::{atom_ref, manifest_ref, origin_ref};

pub use materialize::Files;
pub(crate) use verify::entry_kind_text;
pub use verify::{CommitFormat, Verified, VerifyError};

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use gix::ObjectId;

pub use error::StoreError;
pub use refs::{AtomRef, RefLayout, ATOMS_PREFIX, INIT_REF, LEGACY_ATOMS_PREFIX, META_PREFIX};

use crate::id::{Label, Root};
use crate::manifest::{Requirement, Version};

/// A git repository holding atoms.
pub struct Store {
    repo: gix::Repository,
    /// The genesis, once worked out (it does not change while the store is open).
    genesis: std::sync::OnceLock<Root>,
}

/// What `init` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    /// `refs/ekala/init` was created, pointing at this root.
    Created(Root),
    /// It already pointed at this root: nothing changed.
    Unchanged(Root),
}

pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Converts an object id to a [`Root`] (SHA-1 only, as the format defines).
pub(crate) fn root_of_id(id: &gix::oid) -> Result<Root> {
    let bytes: [u8; 20] = id
        .as_bytes()
        .try_into()
        .map_err(|_| StoreError::UnsupportedHash(id.to_hex().to_string()))?;
    Ok(Root::from_bytes(bytes))
}

/// Checks that an object's content hashes to its id, so that an object altered in place (a disk
/// fault, or someone rewriting a loose object file) is refused rather than trusted.
pub fn check_content(id: ObjectId, kind: gix::object::Kind, data: &[u8]) -> Result<()> {
    let actual =
        gix::objs::compute_hash(id.kind(), kind, data).map_err(|e| StoreError::object(id, e))?;
    if actual == id {
        Ok(())
    } else {
        Err(StoreError::object(
            id,
            format!("its content hashes to {actual}: the object was altered (possible tampering)"),
        ))
    }
}

/// A name for a temporary file or directory that no other process or thread uses:
/// `.tmp-<what>-<pid>-<counter>-<random>`. The random part keeps names apart even when two
/// processes share a pid (in different PID namespaces over one file system). Callers still create
/// the file exclusively (`create_new`, `create_dir`) so that a collision is an error, never a
/// clobbered file.
pub(crate) fn temporary_name(what: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // A randomly seeded hasher: std's source of per-process randomness.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(NEXT.load(Ordering::Relaxed));
    format!(
        ".tmp-{what}-{}-{}-{:016x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        hasher.finish()
    )
}

/// Converts a [`Root`] to an object id.
pub(crate) fn id_of_root(root: &Root) -> ObjectId {
    ObjectId::from_bytes_or_panic(root.as_bytes())
}

impl Store {
    /// Opens the repository at `path` (a work tree, its `.git`, or a bare repository).
    pub fn open(path: &Path) -> Result<Store> {
        let repo =
            gix::open_opts(path, gix::open::Options::isolated()).map_err(|e| StoreError::Open {
                path: path.to_owned(),
                source: e.into(),
            })?;
        Ok(Store {
            repo,
            genesis: std::sync::OnceLock::new(),
        })
    }

    /// Creates a bare repository at `path` (for the atom store) and opens it.
    pub fn init_bare(path: &Path) -> Result<Store> {
        gix::init_bare(path).map_err(|e| StoreError::Open {
            path: path.to_owned(),
            source: e.into(),
        })?;
        Store::open(path)
    }

    /// Opens the bare repository at `path`, creating it first if it does not exist. Creation is
    /// atomic: the repository is initialised under a temporary name in the same directory and
    /// renamed into place, so no process ever sees half a repository; when another process put
    /// one in place meanwhile, that one is used.
    pub fn open_or_init_bare(path: &Path) -> Result<Store> {
        if path.is_dir() {
            return Store::open(path);
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = parent.join(temporary_name(&name));
        std::fs::create_dir(&tmp).map_err(io(&tmp))?;
        if let Err(e) = gix::init_bare(&tmp) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(StoreError::Open {
                path: path.to_owned(),
                source: e.into(),
            });
        }
        match std::fs::rename(&tmp, path) {
            Ok(()) => {}
            // Already in place (another process won the race): use it.
            Err(_) if path.is_dir() => {
                let _ = std::fs::remove_dir_all(&tmp);
            }
            Err(source) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(StoreError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        Store::open(path)
    }

    /// The underlying gix repository.
    pub fn repo(&self) -> &gix::Repository {
        &self.repo
    }

    /// The commit `rev` names (`HEAD`, a branch, a hex id, ...).
    pub fn commit_id(&self, rev: &str) -> Result<ObjectId> {
        let id = self
            .repo
            .rev_parse_single(rev)
            .map_err(|e| StoreError::Rev {
                rev: rev.to_owned(),
                source: e.into(),
            })?
            .detach();
        let object = self
            .repo
            .find_object(id)
            .map_err(|e| StoreError::object(id, e))?;
        let commit = object.peel_to_commit().map_err(|e| StoreError::Rev {
            rev: rev.to_owned(),
            source: e.into(),
        })?;
        Ok(commit.id)
    }

    /// The repository's genesis: `refs/ekala/init` when present, otherwise the root found by
    /// walking the ancestors of `HEAD` (docs/format.md#the-genesis).
    pub fn genesis(&self) -> Result<Root> {
        if let Some(root) = self.genesis.get() {
            return Ok(*root);
        }
        let root = match self.init_ref()? {
            Some(root) => root,
            None => self.root_of(self.commit_id("HEAD")?)?,
        };
        Ok(*self.genesis.get_or_init(|| root))
    }

    /// The target of `refs/ekala/init`, if it exists.
    pub fn init_ref(&self) -> Result<Option<Root>> {
        match self
            .repo
            .try_find_reference(INIT_REF)
            .map_err(StoreError::refs)?
        {
            Some(mut reference) => {
                let id = reference.peel_to_id().map_err(StoreError::refs)?.detach();
                Ok(Some(root_of_id(&id)?))
            }
            None => Ok(None),
        }
    }

    /// The root commit reached from `commit` by the reference's walk: always pop the oldest
    /// (by committer time) commit discovered so far; the first popped commit without parents is
    /// the root.
    pub fn root_of(&self, commit: ObjectId) -> Result<Root> {
        let mut seen = gix::hashtable::HashSet::default();
        let mut queue = BinaryHeap::new();
        let mut order = 0u64;
        let mut push = |queue: &mut BinaryHeap<_>, id: ObjectId, time: i64| {
            order += 1;
            queue.push((Reverse(time), Reverse(order), id));
        };
        let first = self
            .repo
            .find_commit(commit)
            .map_err(|e| StoreError::object(commit, e))?;
        push(
            &mut queue,
            commit,
            first
                .time()
                .map_err(|e| StoreError::object(commit, e))?
                .seconds,
        );
        seen.insert(commit);
        while let Some((_, _, id)) = queue.pop() {
            let commit = self
                .repo
                .find_commit(id)
                .map_err(|e| StoreError::object(id, e))?;
            let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
            if parents.is_empty() {
                return root_of_id(&id);
            }
            for parent in parents {
                if seen.insert(parent) {
                    let time = self
                        .repo
                        .find_commit(parent)
                        .map_err(|e| StoreError::object(parent, e))?
                        .time()
                        .map_err(|e| StoreError::object(parent, e))?
                        .seconds;
                    push(&mut queue, parent, time);
                }
            }
        }
        Err(StoreError::RootNotFound(commit.to_string()))
    }

    /// Creates `refs/ekala/init` pointing at the root of `HEAD`. Idempotent; refuses to change an
    /// existing `refs/ekala/init` that points elsewhere.
    pub fn init(&self) -> Result<InitOutcome> {
        let head = self.commit_id("HEAD")?;
        let root = self.root_of(head)?;
        if let Some(existing) = self.init_ref()? {
            return if existing == root {
                Ok(InitOutcome::Unchanged(root))
            } else {
                Err(StoreError::InitConflict { existing, root })
            };
        }
        refs::create(
            &self.repo,
            &[(INIT_REF.to_owned(), id_of_root(&root))],
            "init: ekala project",
        )?;
        Ok(InitOutcome::Created(root))
    }

    /// Every published version of `label`, newest first. Refs that do not parse (a version that
    /// is not semver) are skipped. Cost follows the versions of this label (a prefix lookup), not
    /// the size of the repository.
    pub fn versions(&self, label: &Label) -> Result<Vec<AtomRef>> {
        let mut atoms = refs::list(&self.repo, Some(label))?;
        atoms.sort_by(|a, b| b.version.cmp(&a.version));
        Ok(atoms)
    }

    /// Every published atom version in the repository, by label then newest first.
    pub fn atoms(&self) -> Result<Vec<AtomRef>> {
        let mut atoms = refs::list(&self.repo, None)?;
        atoms.sort_by(|a, b| a.label.cmp(&b.label).then(b.version.cmp(&a.version)));
        Ok(atoms)
    }

    /// The highest published version of `label` matching `requirement` (Cargo's rules: a
    /// pre-release matches only a comparator with the same `major.minor.patch` that has a
    /// pre-release itself).
    pub fn resolve(&self, label: &Label, requirement: &Requirement) -> Result<AtomRef> {
        let versions = self.versions(label)?;
        select(&versions, requirement)
            .cloned()
            .ok_or_else(|| StoreError::NoMatchingVersion {
                label: label.clone(),
                requirement: requirement.to_string(),
                available: versions.iter().map(|a| a.version.to_string()).collect(),
            })
    }

    /// The published atom `label` at exactly `version`.
    pub fn find(&self, label: &Label, version: &Version) -> Result<AtomRef> {
        self.versions(label)?
            .into_iter()
            .find(|a| &a.version == version)
            .ok_or_else(|| StoreError::NoSuchAtom {
                label: label.clone(),
                version: version.to_string(),
            })
    }

    /// The tree of an atom commit.
    pub fn atom_tree(&self, atom: &AtomRef) -> Result<ObjectId> {
        let commit = self
            .repo
            .find_commit(atom.commit)
            .map_err(|e| StoreError::object(atom.commit, e))?;
        Ok(commit
            .tree_id()
            .map_err(|e| StoreError::object(atom.commit, e))?
            .detach())
    }
}

/// The object a ref points at, if the ref exists.
pub fn ref_target(store: &Store, name: &str) -> Result<Option<ObjectId>> {
    refs::target(&store.repo, name)
}

/// Creates refs in one all-or-nothing transaction with must-not-exist semantics.
pub fn create_refs(store: &Store, refs: &[(String, ObjectId)], message: &str) -> Result<()> {
    refs::create(&store.repo, refs, message)
}

/// The highest version in `versions` that matches `requirement`.
pub fn select<'a>(versions: &'a [AtomRef], requirement: &Requirement) -> Option<&'a AtomRef> {
    versions
        .iter()
        .filter(|a| requirement.matches(&a.version))
        .max_by(|a, b| a.version.cmp(&b.version))
}
