//! One git repository holding atoms (docs/format.md#the-genesis, docs/format.md#refs-and-commits,
//! docs/format.md#resolution): a [`Repo`], bare or not, in which atoms are published under
//! `refs/eka/atoms/<label>/<version>`.
//!
//! This module and [`crate::remote`] are the only ones that use gix: everything else reads and
//! writes repositories through [`Repo`]. Repositories are opened in gix's isolated mode: no global or user git
//! configuration and no environment variable changes how they are read. No `git` process is
//! started here.

mod commit;
mod copy;
mod digest;
mod error;
mod materialize;
mod pack;
mod refs;
mod verify;
mod worktree;

pub use refs::{
    atom_ref, manifest_ref, origin_ref, signature_ref, store_signature_ref, STORE_SIGNATURES_PREFIX,
};

pub use commit::{AtomCommit, FORMAT};
pub use materialize::Files;
pub use verify::{CommitFormat, CommitMemory, FormatError, Pinned, Verified, VerifyError};

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

/// A git object id (SHA-1 in every repository atoms are defined for).
pub use gix::ObjectId;

pub use crate::entry_name;
pub use error::{Alteration, RepoError};
pub use refs::{
    AtomRef, RefAtom, RefLayout, ATOMS_PREFIX, INIT_REF, LEGACY_ATOMS_PREFIX, META_PREFIX,
};

use crate::id::{Label, Root};
use crate::manifest::{Requirement, Version};

/// A git repository holding atoms.
pub struct Repo {
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

pub(crate) type Result<T, E = RepoError> = std::result::Result<T, E>;

/// Converts an object id to a [`Root`] (SHA-1 only, as the format defines).
pub(crate) fn root_of_id(id: &gix::oid) -> Result<Root> {
    let bytes: [u8; 20] = id
        .as_bytes()
        .try_into()
        .map_err(|_| RepoError::UnsupportedHash(id.to_owned()))?;
    Ok(Root::from_bytes(bytes))
}

/// Checks that an object's content hashes to its id, so that an object altered in place (a disk
/// fault, or someone rewriting a loose object file) is refused rather than trusted.
pub(crate) fn check_content(id: ObjectId, kind: gix::object::Kind, data: &[u8]) -> Result<()> {
    let actual =
        gix::objs::compute_hash(id.kind(), kind, data).map_err(|e| RepoError::object(id, e))?;
    if actual == id {
        Ok(())
    } else {
        Err(RepoError::object(
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

impl Repo {
    /// Opens the repository at `path` (a work tree, its `.git`, or a bare repository).
    pub fn open(path: &Path) -> Result<Repo> {
        Repo::opened(path, gix::open_opts(path, gix::open::Options::isolated()))
    }

    /// Opens the repository `path` is in, looking upwards from it as git does (a subdirectory
    /// of a work tree finds the work tree's repository).
    pub fn discover(path: &Path) -> Result<Repo> {
        let isolated = gix::open::Options::isolated();
        Repo::opened(path, gix::discover_opts(path, Default::default(), isolated))
    }

    /// A [`Repo`] of what gix opened at `path`, or the error naming `path`.
    fn opened<E: Into<error::Source>>(
        path: &Path,
        opened: std::result::Result<gix::Repository, E>,
    ) -> Result<Repo> {
        let repo = opened.map_err(|e| RepoError::Open {
            path: path.to_owned(),
            source: e.into(),
        })?;
        Ok(Repo {
            repo,
            genesis: std::sync::OnceLock::new(),
        })
    }

    /// The work tree, if the repository has one.
    pub fn work_tree(&self) -> Option<&Path> {
        self.repo.workdir()
    }

    /// Creates a bare repository at `path` (a directory that does not exist, or is empty).
    pub(crate) fn init_bare(path: &Path) -> Result<Repo> {
        std::fs::create_dir_all(path).map_err(|source| RepoError::Io {
            path: path.to_owned(),
            source,
        })?;
        gix::init_bare(path).map_err(|e| RepoError::Open {
            path: path.to_owned(),
            source: e.into(),
        })?;
        Repo::open(path)
    }

    /// Takes `root` as the repository's genesis when it records none yet (a store repository
    /// being filled, whose `refs/ekala/init` is written last).
    pub(crate) fn assume_genesis(&self, root: Root) {
        let _ = self.genesis.set(root);
    }

    /// Opens the bare repository at `path`, creating it first if it does not exist. Creation is
    /// atomic: the repository is initialised under a temporary name in the same directory and
    /// renamed into place, so no process ever sees half a repository; when another process put
    /// one in place meanwhile, that one is used.
    pub fn open_or_init_bare(path: &Path) -> Result<Repo> {
        if path.is_dir() {
            return Repo::open(path);
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| RepoError::Io { path, source }
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
            return Err(RepoError::Open {
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
                return Err(RepoError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        Repo::open(path)
    }

    /// The gix repository, for the network code ([`crate::remote`]) that writes into it.
    pub(crate) fn gix(&self) -> &gix::Repository {
        &self.repo
    }

    /// The repository's git directory (`.git`, or the bare repository itself).
    pub fn git_dir(&self) -> &Path {
        self.repo.git_dir()
    }

    /// The work tree, or the git directory of a bare repository: how messages name it.
    fn shown_path(&self) -> PathBuf {
        self.repo
            .workdir()
            .unwrap_or_else(|| self.repo.git_dir())
            .to_owned()
    }

    /// Whether the object `id` is in the repository.
    pub fn has_object(&self, id: ObjectId) -> bool {
        self.repo.has_object(id)
    }

    /// The blob `id` as text, its content checked against its id. A blob that is not UTF-8 is
    /// [`RepoError::NotText`].
    pub fn read_text(&self, id: ObjectId) -> Result<String> {
        let blob = self
            .repo
            .find_blob(id)
            .map_err(|e| RepoError::object(id, e))?;
        check_content(id, gix::object::Kind::Blob, &blob.data)?;
        String::from_utf8(blob.data.clone()).map_err(|_| RepoError::NotText(id))
    }

    /// The entry at `path` (relative, `/`-separated components) below the tree `tree`, if there
    /// is one.
    pub fn entry(&self, tree: ObjectId, path: &Path) -> Result<Option<Entry>> {
        let object = self
            .repo
            .find_tree(tree)
            .map_err(|e| RepoError::object(tree, e))?;
        Ok(object
            .lookup_entry_by_path(path)
            .map_err(|e| RepoError::object(tree, e))?
            .map(|entry| Entry {
                id: entry.object_id(),
                kind: entry.mode().kind(),
            }))
    }

    /// The object a ref points at, if the ref exists.
    pub fn ref_target(&self, name: &str) -> Result<Option<ObjectId>> {
        refs::target(&self.repo, name)
    }

    /// The names of the refs directly under `prefix` (ending in `/`), without reading what they
    /// point at.
    pub fn ref_names_under(&self, prefix: &str) -> Result<Vec<String>> {
        refs::names_under(&self.repo, prefix)
    }

    /// Creates refs in one all-or-nothing transaction with must-not-exist semantics.
    pub fn create_refs(&self, refs: &[(String, ObjectId)], message: &str) -> Result<()> {
        refs::create(&self.repo, refs, message)
    }

    /// Deletes refs in one transaction, each only while it points at the given object.
    pub fn delete_refs(&self, refs: &[(String, ObjectId)]) -> Result<()> {
        refs::delete(&self.repo, refs)
    }

    /// Writes an atom commit; returns its id.
    pub fn write_commit(&self, commit: &AtomCommit) -> Result<ObjectId> {
        let id = commit.id();
        Ok(self
            .repo
            .write_object(commit.object())
            .map_err(|e| RepoError::object(id, e))?
            .detach())
    }

    /// The `atom.lock` in the blob `id`, when it is UTF-8 and parses. Best effort: a lock that
    /// does not parse is reported when its atom is loaded, not here.
    pub fn read_lock(&self, id: ObjectId) -> Option<crate::lock::Lockfile> {
        let text = self.read_text(id).ok()?;
        crate::lock::Lockfile::parse(&text, crate::lock::LOCK_FILE).ok()
    }

    /// Writes a tag object from its raw bytes (git's tag format); returns its id.
    pub fn write_tag(&self, bytes: &[u8]) -> Result<ObjectId> {
        let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::object::Kind::Tag, bytes)
            .map_err(|e| RepoError::object(ObjectId::null(gix::hash::Kind::Sha1), e))?;
        use gix::objs::Write as _;
        self.repo
            .objects
            .write_buf(gix::object::Kind::Tag, bytes)
            .map_err(|e| RepoError::object(id, e))
    }

    /// The raw bytes of the tag object `id`, checked against its id; an error when it is not
    /// a tag.
    pub fn read_tag(&self, id: ObjectId) -> Result<Vec<u8>> {
        let object = self
            .repo
            .find_object(id)
            .map_err(|e| RepoError::object(id, e))?;
        if object.kind != gix::object::Kind::Tag {
            return Err(RepoError::object(
                id,
                format!("it is a {}, not a tag", object.kind),
            ));
        }
        check_content(id, object.kind, &object.data)?;
        Ok(object.data.to_vec())
    }

    /// The commit `rev` names (`HEAD`, a branch, a hex id, ...).
    pub fn commit_id(&self, rev: &str) -> Result<ObjectId> {
        let id = self
            .repo
            .rev_parse_single(rev)
            .map_err(|e| RepoError::Rev {
                rev: rev.to_owned(),
                source: e.into(),
            })?
            .detach();
        let object = self
            .repo
            .find_object(id)
            .map_err(|e| RepoError::object(id, e))?;
        let commit = object.peel_to_commit().map_err(|e| RepoError::Rev {
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
            // The walk would stop at the shallow boundary and call it the root.
            None if self.repo.is_shallow().unwrap_or(false) => {
                return Err(RepoError::ShallowGenesis(self.shown_path()))
            }
            None if self.repo.head().is_ok_and(|head| head.is_unborn()) => {
                return Err(RepoError::NoCommitYet(self.shown_path()))
            }
            None => self.root_of(self.commit_id("HEAD")?)?,
        };
        Ok(*self.genesis.get_or_init(|| root))
    }

    /// The target of `refs/ekala/init`, if it exists.
    pub fn init_ref(&self) -> Result<Option<Root>> {
        match self
            .repo
            .try_find_reference(INIT_REF)
            .map_err(RepoError::refs)?
        {
            // The ref is direct, and its object is not read: a store records the root of a set
            // without having the root commit.
            Some(mut reference) => {
                let id = match reference.target().try_id() {
                    Some(id) => id.to_owned(),
                    None => reference.peel_to_id().map_err(RepoError::refs)?.detach(),
                };
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
            .map_err(|e| RepoError::object(commit, e))?;
        push(
            &mut queue,
            commit,
            first
                .time()
                .map_err(|e| RepoError::object(commit, e))?
                .seconds,
        );
        seen.insert(commit);
        while let Some((_, _, id)) = queue.pop() {
            let commit = self
                .repo
                .find_commit(id)
                .map_err(|e| RepoError::object(id, e))?;
            let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
            if parents.is_empty() {
                return root_of_id(&id);
            }
            for parent in parents {
                if seen.insert(parent) {
                    let time = self
                        .repo
                        .find_commit(parent)
                        .map_err(|e| RepoError::object(parent, e))?
                        .time()
                        .map_err(|e| RepoError::object(parent, e))?
                        .seconds;
                    push(&mut queue, parent, time);
                }
            }
        }
        Err(RepoError::RootNotFound(commit))
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
                Err(RepoError::InitConflict { existing, root })
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

    /// The atom refs that are refused because their label or version is not written in
    /// canonical form (a label not in NFKC form), by full name: [`Repo::atoms`] leaves them out.
    pub fn non_canonical_refs(&self) -> Result<Vec<String>> {
        refs::non_canonical(&self.repo)
    }

    /// The highest published version of `label` matching `requirement` (Cargo's rules: a
    /// pre-release matches only a comparator with the same `major.minor.patch` that has a
    /// pre-release itself).
    pub fn resolve(&self, label: &Label, requirement: &Requirement) -> Result<AtomRef> {
        let versions = self.versions(label)?;
        select(&versions, requirement)
            .cloned()
            .ok_or_else(|| RepoError::NoMatchingVersion {
                label: label.clone(),
                requirement: requirement.clone(),
                available: versions.iter().map(|a| a.version.clone()).collect(),
                labels: if versions.is_empty() {
                    self.closest_labels(label)
                } else {
                    Vec::new()
                },
            })
    }

    /// The labels published here (at most 8), closest to `label` first (by edit distance, then
    /// alphabetically): what a mistyped label most likely meant.
    pub fn closest_labels(&self, label: &Label) -> Vec<Label> {
        closest_labels(&self.atoms().unwrap_or_default(), label)
    }

    /// The published atom `label` at exactly `version`.
    pub fn find(&self, label: &Label, version: &Version) -> Result<AtomRef> {
        self.versions(label)?
            .into_iter()
            .find(|a| &a.version == version)
            .ok_or_else(|| RepoError::NoSuchAtom {
                label: label.clone(),
                version: version.clone(),
            })
    }

    /// The tree of an atom commit.
    pub fn atom_tree(&self, atom: &AtomRef) -> Result<ObjectId> {
        self.commit_tree(atom.commit)
    }

    /// The tree of the commit `commit`.
    pub fn commit_tree(&self, commit: ObjectId) -> Result<ObjectId> {
        let object = self
            .repo
            .find_commit(commit)
            .map_err(|e| RepoError::object(commit, e))?;
        Ok(object
            .tree_id()
            .map_err(|e| RepoError::object(commit, e))?
            .detach())
    }
}

/// An entry of a git tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The object it names.
    pub id: ObjectId,
    /// What it is.
    pub kind: EntryKind,
}

impl Entry {
    /// Whether it is a regular file (executable or not): not a symlink, directory or submodule.
    pub fn is_blob(&self) -> bool {
        matches!(self.kind, EntryKind::Blob | EntryKind::BlobExecutable)
    }

    /// What it is, for messages: `a symlink`.
    pub fn kind_text(&self) -> &'static str {
        verify::entry_kind_text(self.kind)
    }
}

/// The kind of a tree entry.
pub use gix::objs::tree::EntryKind;

/// The Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The highest version in `versions` that matches `requirement`.
pub fn select<'a>(versions: &'a [AtomRef], requirement: &Requirement) -> Option<&'a AtomRef> {
    versions
        .iter()
        .filter(|a| requirement.matches(&a.version))
        .max_by(|a, b| a.version.cmp(&b.version))
}

/// The labels of `atoms` (at most 8), closest to `label` first (by edit distance, then
/// alphabetically): what a mistyped label most likely meant.
pub fn closest_labels(atoms: &[AtomRef], label: &Label) -> Vec<Label> {
    let mut labels: Vec<Label> = atoms.iter().map(|a| a.label.clone()).collect();
    labels.sort();
    labels.dedup();
    labels.sort_by_cached_key(|l| (edit_distance(l.as_str(), label.as_str()), l.clone()));
    labels.truncate(8);
    labels
}
