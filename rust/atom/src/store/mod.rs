//! The atom store: one directory on this machine holding everything atoms are loaded from
//! (docs/design.md#resolving-without-a-fetcher).
//!
//! - `<store>/<root>.git`: the bare repository of the set with that root, filled by
//!   [`Store::fetch`] (`atom fetch`);
//! - `<store>/git/<hash>.git`: mirrors of plain git repositories (direct `nix+git` dependencies),
//!   filled by [`Store::fetch_git`] (`atom fetch --git`);
//! - `<store>/trees/<tree>`: the files of a git tree, materialised once; `<store>/trees/nix/<tree>`
//!   only its Nix files (what composing an atom reads);
//! - `<tree>.stamp` beside each tree ([`stamp`]): how a tree changed after it was written is
//!   noticed;
//! - the store directory itself is the store lock ([`flock`]): held shared while filling,
//!   exclusively while collecting;
//! - `<store>/roots/` ([`roots`]): the atom directories whose locks garbage collection keeps.
//!
//! A written tree is trusted only while it is what was written: files are read-only, the tree is
//! stamped, and every later use compares the stamp with the file system. When they differ (or the
//! stamp is missing), the tree is compared with its git tree
//! ([`crate::repo::Repo::check_materialized`]); a tree that still matches is stamped again, one
//! that does not is an error saying which file differs. [`Store::verify`] checks the whole store.

pub mod attribution;
mod error;
pub mod fetch;
pub mod fill;
pub mod flock;
pub mod gc;
pub mod guard;
pub mod record;
pub mod roots;
pub mod stamp;
mod verify;

pub use error::StoreError;
pub use fetch::{
    list, local_path, Divergence, FetchOptions, Fetched, FetchedVersion, Listing, Rejection,
    Session, VersionStatus,
};
pub use fill::{Attempt, FillKind, FillStatus, Filled, FilledEntry};
pub use flock::StoreLock;
pub use gc::{Collected, Inventory, MirrorInfo, SetInfo, TreeInfo, VersionInfo};
pub use verify::{AtomCheck, StoreReport, TreeCheck, TreeProblem};

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use crate::diagnostic::shell_quote;
use crate::digest::ContentDigest;
use crate::id::Root;
use crate::repo::{temporary_name, Files, ObjectId, Repo};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which signature tags verified, kept in the atom store ([`Store::verified_signatures`]).
#[derive(Debug, Clone)]
pub struct VerifiedSignatures {
    dir: PathBuf,
}

impl crate::sign::VerifiedTags for VerifiedSignatures {
    // A record is the key's fingerprint and OpenSSH line, one per line, then the tag object.
    fn get(&self, tag: ObjectId) -> Option<(Vec<u8>, crate::sign::Signer)> {
        let record = crate::diagnostic::read_small(&self.dir.join(tag.to_string())).ok()?;
        let mut parts = record.splitn(3, |&b| b == b'\n');
        let fingerprint = std::str::from_utf8(parts.next()?).ok()?;
        let key = std::str::from_utf8(parts.next()?).ok()?;
        let bytes = parts.next()?;
        (fingerprint.starts_with("SHA256:") && !key.is_empty()).then(|| {
            let signer = crate::sign::Signer {
                key: key.to_owned(),
                fingerprint: fingerprint.to_owned(),
            };
            (bytes.to_vec(), signer)
        })
    }

    fn put(&self, tag: ObjectId, bytes: &[u8], signer: &crate::sign::Signer) {
        let mut record = format!("{}\n{}\n", signer.fingerprint, signer.key).into_bytes();
        record.extend_from_slice(bytes);
        put_record(&self.dir, tag, &record);
    }
}

/// The store's caches that `atom store gc` removes whole: verified signatures and commits,
/// parsed lock files, loaded graphs (which may name what it removed) and servers'
/// advertisements, all checked, parsed, loaded or asked for again when needed. (The other cache,
/// `digests/`, it trims to what the kept trees need.)
pub(crate) const FORGOTTEN_BY_GC: [&str; 5] =
    ["signatures", "commits", "parsed", "graphs", "servers"];

/// The form of the records in `<store>/parsed/` ([`Store::parsed`]), part of their key: change it
/// whenever a parser or a parsed type changes, so that no record an earlier build wrote is read.
pub const PARSED_FORMAT: &str = "parsed-1";

/// Writes the cache record `<dir>/<id>` (under a temporary name, then renamed, so a reader sees
/// a whole record or none). Best effort: a record that cannot be written is worked out again
/// next time.
fn put_record(dir: &Path, id: impl std::fmt::Display, record: &[u8]) {
    // Writable by nobody else whatever the umask: the store refuses a cache others can write.
    let made = std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o755)
        .create(dir);
    if made.is_err() {
        return;
    }
    let tmp = dir.join(temporary_name("record"));
    if fs::write(&tmp, record).is_ok() && fs::rename(&tmp, dir.join(id.to_string())).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// What atom commits' objects say, kept in the atom store ([`Store::verified_commits`]).
#[derive(Debug, Clone)]
pub struct VerifiedCommits {
    dir: PathBuf,
}

impl crate::repo::CommitMemory for VerifiedCommits {
    fn get(&self, commit: ObjectId) -> Option<Vec<u8>> {
        crate::diagnostic::read_small(&self.dir.join(commit.to_string())).ok()
    }

    fn put(&self, commit: ObjectId, record: &[u8]) {
        if !record.is_empty() {
            put_record(&self.dir, commit, record);
        }
    }
}

/// Where an atom's files are: a directory, or a tree of a store repository
/// ([`Store::materialize`] gives its directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A directory (the atom asked for).
    Dir(PathBuf),
    /// A verified tree in a store repository, to be materialised when used.
    Tree {
        /// The set's repository.
        repo: PathBuf,
        /// The atom's tree.
        tree: ObjectId,
    },
}

/// The atom store in one directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    /// Set once [`Store::check_permissions`] passed: nobody else can write the directories it
    /// checks, so they cannot become writable to others later (an evaluation asks once per
    /// atom).
    permissions_checked: std::sync::OnceLock<()>,
}

impl PartialEq for Store {
    fn eq(&self, other: &Store) -> bool {
        self.dir == other.dir
    }
}

impl Eq for Store {}

impl Store {
    /// The store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store {
            dir: dir.into(),
            permissions_checked: std::sync::OnceLock::new(),
        }
    }

    /// The default store, from the values of `ATOM_STORE`, `XDG_CACHE_HOME` and `HOME` (in that
    /// order of preference; empty values count as unset): `$ATOM_STORE`, else
    /// `$XDG_CACHE_HOME/atom/store`, else `$HOME/.cache/atom/store`.
    pub fn locate(
        atom_store: Option<&OsStr>,
        xdg_cache_home: Option<&OsStr>,
        home: Option<&OsStr>,
    ) -> Option<Store> {
        let set = |v: Option<&OsStr>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
        set(atom_store)
            .or_else(|| set(xdg_cache_home).map(|d| d.join("atom/store")))
            .or_else(|| set(home).map(|d| d.join(".cache/atom/store")))
            .map(Store::new)
    }

    /// [`Store::locate`] with this process's environment.
    pub fn from_env() -> Result<Store> {
        let var = std::env::var_os;
        Store::locate(
            var("ATOM_STORE").as_deref(),
            var("XDG_CACHE_HOME").as_deref(),
            var("HOME").as_deref(),
        )
        .ok_or(StoreError::NoStore)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where materialised atom trees go.
    pub fn trees(&self) -> PathBuf {
        self.dir.join("trees")
    }

    /// The directory of a set's repository: `<store>/<root>.git`.
    pub fn set_path(&self, root: &Root) -> PathBuf {
        self.dir.join(format!("{root}.git"))
    }

    /// The directory of the store's mirror of the git repository at `url` (a direct `nix+git`
    /// dependency): `<store>/git/<BLAKE3 of the URL without credentials, 32 hex digits>.git`
    /// (a lock records the URL without them).
    pub fn git_mirror_path(&self, url: &str) -> PathBuf {
        let digest = blake3::hash(crate::uri::without_credentials(url).as_bytes()).to_hex();
        self.dir.join("git").join(format!("{}.git", &digest[..32]))
    }

    /// A git repository on this machine holding the commit `rev` of `url`: the store's mirror of
    /// it (filled by `atom fetch --git`), or `url` itself when it is a local path.
    pub fn git_mirror(&self, url: &str, rev: ObjectId) -> Option<PathBuf> {
        let mirror = self.git_mirror_path(url);
        // An exposed store is not used; a local repository named by URL is the user's own.
        let mirror = self
            .check_repo_permissions(&mirror)
            .is_ok()
            .then_some(mirror);
        let candidates = [mirror, local_path(url)];
        candidates
            .into_iter()
            .flatten()
            .find(|path| path.exists() && Repo::open(path).is_ok_and(|repo| repo.has_object(rev)))
    }

    /// Checks that no other user (root aside) can write the directories the store's trust rests
    /// on: the store, `trees/`, `trees/nix/` and `git/` ([`guard`]). Every method that reads or
    /// fills the store calls it first.
    pub fn check_permissions(&self) -> Result<()> {
        if self.permissions_checked.get().is_some() {
            return Ok(());
        }
        let trees = self.trees();
        // The caches too: what a record there says is taken without a second look.
        let caches: Vec<PathBuf> = std::iter::once("digests")
            .chain(FORGOTTEN_BY_GC)
            .map(|c| self.dir.join(c))
            .collect();
        guard::check(&[&self.dir, &trees, &trees.join("nix"), &self.dir.join("git")])?;
        guard::check(&caches.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
        let _ = self.permissions_checked.set(());
        Ok(())
    }

    /// [`Store::check_permissions`], and the same for the repository at `repo` (a set's or a
    /// mirror's), its `objects/` and its `refs/`.
    pub(crate) fn check_repo_permissions(&self, repo: &Path) -> Result<()> {
        self.check_permissions()?;
        guard::check(&[repo, &repo.join("objects"), &repo.join("refs")])
    }

    /// The repository of the set with this root, if it has been fetched.
    pub fn open_set(&self, root: &Root) -> Result<Option<Repo>> {
        let path = self.set_path(root);
        self.check_repo_permissions(&path)?;
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(Repo::open(&path)?))
    }

    /// The content digest of the git tree `tree` of `repo` (docs/format.md#content-digest),
    /// computed from the tree once and kept in `<store>/digests/<tree>`. A tree's id names its
    /// content (objects are checked against their ids when read), so its digest never changes;
    /// the record is as trustworthy as the store's own objects, which only the store's owner
    /// can write ([`Store::check_permissions`]). A record that does not parse is computed again.
    pub fn tree_digest(&self, repo: &Repo, tree: ObjectId) -> Result<ContentDigest> {
        let dir = self.dir.join("digests");
        let path = dir.join(tree.to_string());
        if let Ok(bytes) = crate::diagnostic::read_small(&path) {
            if let Some(digest) = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.trim().parse::<ContentDigest>().ok())
            {
                return Ok(digest);
            }
        }
        let digest = repo.tree_digest(tree)?;
        put_record(&dir, tree, format!("{digest}\n").as_bytes());
        Ok(digest)
    }

    /// The atom store's memory of verified signature tags: `<store>/signatures/<tag>` holds the
    /// fingerprint and OpenSSH line of the key the tag verified with, then the tag object. Like [`Store::tree_digest`]'s records, it is
    /// as trustworthy as the store's own objects (a tag's id names its bytes).
    pub fn verified_signatures(&self) -> VerifiedSignatures {
        VerifiedSignatures {
            dir: self.dir.join("signatures"),
        }
    }

    /// `text` (the text of a file of kind `kind`, `atom.lock` say) parsed by `parse`, or as it
    /// was parsed before: the store keeps each parsed form (`<store>/parsed/<key>`, JSON) by the
    /// BLAKE3 hash of the kind, [`PARSED_FORMAT`], this build ([`crate::BUILD_ID`]) and the text. A record that does not
    /// read back is parsed again. An error is never kept.
    ///
    /// Like the commits' records, it is as trustworthy as the store itself: nobody else can write
    /// in it ([`Store::check_permissions`]; in a store that fails that check, `text` is parsed).
    pub fn parsed<T, E>(
        &self,
        kind: &str,
        text: &str,
        parse: impl FnOnce(&str) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let key = blake3::Hasher::new()
            .update(kind.as_bytes())
            .update(b"\0")
            .update(PARSED_FORMAT.as_bytes())
            .update(b"\0")
            .update(crate::BUILD_ID.as_bytes())
            .update(b"\0")
            .update(text.as_bytes())
            .finalize()
            .to_hex();
        if self.check_permissions().is_err() {
            return parse(text);
        }
        let dir = self.dir.join("parsed");
        let remembered = crate::diagnostic::read_small(&dir.join(key.as_str()))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if let Some(value) = remembered {
            return Ok(value);
        }
        let value = parse(text)?;
        // Into a store that exists: this makes none.
        if self.dir.is_dir() {
            if let Ok(record) = serde_json::to_vec(&value) {
                put_record(&dir, key.as_str(), &record);
            }
        }
        Ok(value)
    }

    /// The record `<store>/graphs/<key>` (JSON) of a loaded dependency graph
    /// ([`crate::resolve::graph`]): `None` without one, with one that does not read back, or in
    /// a store others could write in ([`Store::check_permissions`]). Like the commits' records,
    /// it is as trustworthy as the store itself.
    pub fn remembered_graph<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.check_permissions().ok()?;
        let bytes = crate::diagnostic::read_small(&self.dir.join("graphs").join(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Keeps `graph` as the record `<store>/graphs/<key>` ([`Store::remembered_graph`]), in a
    /// store that exists and passes [`Store::check_permissions`]; nothing otherwise.
    pub fn remember_graph<T: serde::Serialize>(&self, key: &str, graph: &T) {
        if self.check_permissions().is_err() || !self.dir.is_dir() {
            return;
        }
        // A record too large to read back would be written again by every load.
        if let Ok(record) = serde_json::to_vec(graph) {
            if (record.len() as u64) < crate::diagnostic::MAX_FILE_SIZE {
                put_record(&self.dir.join("graphs"), key, &record);
            }
        }
    }

    /// The atom store's memory of what atom commits' objects say (`<store>/commits/<commit>`,
    /// see [`Repo::load_pinned`]): with it, a warm evaluation reads no object of the atoms it
    /// loads. Like [`Store::tree_digest`]'s records, it is as trustworthy as the store's own
    /// objects (a commit's id names its content, and the commit names its tree).
    pub fn verified_commits(&self) -> VerifiedCommits {
        VerifiedCommits {
            dir: self.dir.join("commits"),
        }
    }

    /// `options`, with HTTP(S) servers' capability advertisements remembered in this store
    /// (`<store>/servers/`, see [`crate::remote::advertisement`]) unless they say where already.
    pub fn remembering(&self, options: &fetch::FetchOptions) -> fetch::FetchOptions {
        let mut options = options.clone();
        if options.remote.advertisements.is_none() {
            options.remote.advertisements = Some(
                crate::remote::advertisement::Advertisements::new(self.dir.join("servers")),
            );
        }
        options
    }

    /// The repository of the set with this root; a missing one is an error that says how to get
    /// it (`mirror`: a URL the set can be fetched from, when one is known).
    pub fn require_set(&self, root: &Root, mirror: Option<&str>) -> Result<Repo> {
        self.open_set(root)?.ok_or_else(|| StoreError::MissingSet {
            root: *root,
            path: self.set_path(root),
            fetch: fetch_command(mirror),
        })
    }

    /// The directory holding the files of `source`: the directory itself, or the tree
    /// materialised (once) under [`Store::trees`].
    pub fn materialize(&self, source: &Source) -> Result<PathBuf> {
        self.source_dir(source, Files::All)
    }

    /// The directory holding the Nix files of `source`, enough to compose it: the directory
    /// itself, or only the tree's `*.nix` files, materialised (once) under
    /// `<trees>/nix/<tree>`. Its data files are written by [`Store::materialize`] when
    /// something needs them. For a tree already written, also its listing as its stamp recorded
    /// it, verified on disk just now ([`stamp::verified`]): composing needs no other look at the
    /// directory. No listing for a directory source or a tree written just now.
    pub fn materialize_modules(
        &self,
        source: &Source,
    ) -> Result<(PathBuf, Option<stamp::Listing>)> {
        let Source::Tree { repo, tree } = source else {
            return Ok((self.source_dir(source, Files::Nix)?, None));
        };
        self.check_permissions()?;
        let done = self.tree_dir(*tree, Files::Nix);
        if let Some(listing) = stamp::verified(&done) {
            return Ok((done, Some(listing)));
        }
        Ok((
            self.materialize_files(&Repo::open(repo)?, *tree, Files::Nix)?,
            None,
        ))
    }

    /// The directory of `source`: the directory itself, the tree's directory when already
    /// written and unchanged since (by its stamp; the repository is not even opened), or what
    /// [`Store::materialize_files`] makes of it.
    fn source_dir(&self, source: &Source, files: Files) -> Result<PathBuf> {
        match source {
            Source::Dir(dir) => Ok(dir.clone()),
            Source::Tree { repo, tree } => {
                self.check_permissions()?;
                let done = self.tree_dir(*tree, files);
                // (No stamp, or no directory to match it, is no match.)
                if stamp::matches(&done) {
                    return Ok(done);
                }
                self.materialize_files(&Repo::open(repo)?, *tree, files)
            }
        }
    }

    /// [`Store::materialize`], for an evaluation that checks each file when it reads it: a tree
    /// already written is taken when its stamp is trusted and its top directory unchanged, and
    /// the [`CheckedTree`] compares each entry with its record when it is used. (A directory
    /// source is the atom's own working copy: nothing to check.)
    pub fn materialize_checked_on_read(
        &self,
        source: &Source,
    ) -> Result<(PathBuf, Option<CheckedTree>)> {
        let Source::Tree { repo, tree } = source else {
            return Ok((self.materialize(source)?, None));
        };
        self.check_permissions()?;
        let done = self.tree_dir(*tree, Files::All);
        let on_read = match stamp::on_read(&done) {
            Some(on_read) => on_read,
            None => {
                let dir = self.materialize_files(&Repo::open(repo)?, *tree, Files::All)?;
                stamp::on_read(&dir).ok_or_else(|| StoreError::Io {
                    path: stamp::stamp_path(&dir),
                    source: std::io::Error::other("the stamp just written cannot be read"),
                })?
            }
        };
        // `on_read` found the root as recorded.
        let root = Checked {
            below: false,
            kind: Some(stamp::EntryKind::Dir),
        };
        let checked = CheckedTree {
            repo: repo.clone(),
            tree: *tree,
            on_read,
            checked: std::collections::HashMap::from([(done.clone().into_os_string(), root)]),
        };
        Ok((done, Some(checked)))
    }

    /// Where the tree `tree` goes: `<trees>/<tree>`, or `<trees>/nix/<tree>` for its Nix files.
    pub fn tree_dir(&self, tree: ObjectId, files: Files) -> PathBuf {
        let trees = self.trees();
        match files {
            Files::All => trees.join(tree.to_string()),
            Files::Nix => trees.join("nix").join(tree.to_string()),
        }
    }

    /// The directory [`Store::tree_dir`] holding the files of `tree` (read from `repo`)
    /// selected by `files`, written on first use and checked on every later one
    /// ([`materialize_into`]).
    pub fn materialize_files(&self, repo: &Repo, tree: ObjectId, files: Files) -> Result<PathBuf> {
        self.check_permissions()?;
        let _lock = self.lock_shared()?;
        let dest = self.tree_dir(tree, files);
        let cache = dest
            .parent()
            .expect("a tree's directory is in the trees directory");
        materialize_into(repo, tree, cache, files)
    }

    /// [`Store::materialize_files`] with every file: `<trees>/<tree>`.
    pub fn materialize_tree(&self, repo: &Repo, tree: ObjectId) -> Result<PathBuf> {
        self.materialize_files(repo, tree, Files::All)
    }
}

/// The directory `<cache>/<tree id>` holding the files of `tree` (read from `repo`) selected by
/// `files`, written on first use and checked on every later one (see the module's
/// documentation). [`Store`] keeps its trees this way; `cache` may be any directory.
///
/// The tree is written under a temporary name in `cache` and renamed into place, so a reader
/// never sees half a tree; when several processes materialise the same tree at once, one rename
/// wins and the others discard their copy. Every object is checked against its id.
pub fn materialize_into(
    repo: &Repo,
    tree: ObjectId,
    cache: &Path,
    files: Files,
) -> Result<PathBuf> {
    let dest = cache.join(tree.to_string());
    if dest.is_dir() {
        check_in_place(repo, tree, &dest, files)?;
        return Ok(dest);
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    fs::create_dir_all(cache).map_err(io(cache))?;
    let tmp = cache.join(temporary_name(&tree.to_string()));
    let written = fs::create_dir(&tmp)
        .map_err(io(&tmp))
        .and_then(|()| Ok(repo.write_tree(tree, &tmp, files).map(|_| ())?));
    if let Err(error) = written {
        let _ = fs::remove_dir_all(&tmp);
        return Err(error);
    }
    match fs::rename(&tmp, &dest) {
        Ok(()) => {
            stamp::write(&dest, repo.git_dir()).map_err(io(&dest))?;
            Ok(dest)
        }
        Err(_) if dest.is_dir() => {
            // Another process put the same tree in place first (and may not have stamped it
            // yet).
            let _ = fs::remove_dir_all(&tmp);
            check_in_place(repo, tree, &dest, files)?;
            Ok(dest)
        }
        Err(source) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(StoreError::Io { path: dest, source })
        }
    }
}

/// Checks a tree already at `dest`: by its stamp, else by comparing it with `tree` and, when they
/// agree, stamping it again.
fn check_in_place(repo: &Repo, tree: ObjectId, dest: &Path, files: Files) -> Result<()> {
    if stamp::matches(dest) {
        return Ok(());
    }
    repo.check_materialized(tree, dest, files)?;
    stamp::write(dest, repo.git_dir()).map_err(|source| StoreError::Io {
        path: dest.to_owned(),
        source,
    })
}

/// A materialised tree whose entries are compared with its stamp when they are used
/// ([`Store::materialize_checked_on_read`]). An entry that differs sends the whole tree through
/// the deep check: when its content still agrees with the git tree (a file touched, say) it is
/// stamped again and the evaluation goes on; otherwise the error names the first difference.
#[derive(Debug)]
pub struct CheckedTree {
    repo: PathBuf,
    tree: ObjectId,
    on_read: stamp::OnRead,
    /// The paths checked so far (by their bytes: hashing a `Path` goes component by component):
    /// an entry is checked once, when it is first used.
    checked: std::collections::HashMap<std::ffi::OsString, Checked>,
}

/// What [`CheckedTree`] knows of a path it checked.
#[derive(Debug, Clone, Copy)]
struct Checked {
    /// Whether everything below it was checked too.
    below: bool,
    /// Its type, when the tree records it there and not as a symlink
    /// ([`stamp::OnRead::check_kind`]).
    kind: Option<stamp::EntryKind>,
}

impl CheckedTree {
    /// The tree's directory.
    pub fn dir(&self) -> &Path {
        self.on_read.dir()
    }

    /// Checks the entry at `path` before it is read (see [`stamp::OnRead::check`]).
    pub fn check(&mut self, path: &Path) -> Result<()> {
        self.check_kind(path).map(|_| ())
    }

    /// [`CheckedTree::check`], and the type of the entry at `path` when `path` is its own
    /// resolution: the entry is recorded there as a directory or a regular file and found as
    /// recorded ([`stamp::OnRead::check_kind`]), and so is every directory from the tree's root
    /// down to it. A directory whose record holds has had no entry added, removed or replaced
    /// since (each would change its times), so no component of `path` can have become a
    /// symlink. `None` when the record cannot vouch for it: then its symlinks are resolved on
    /// disk.
    pub fn check_kind(&mut self, path: &Path) -> Result<Option<stamp::EntryKind>> {
        if let Some(checked) = self.checked.get(path.as_os_str()) {
            return Ok(checked.kind);
        }
        let mut kind = match self.on_read.check_kind(path) {
            Ok(kind) => kind,
            // The tree was checked whole and stamped again: no shortcut this time.
            Err(changed) => self.settle(Err(changed)).map(|()| None)?,
        };
        if kind.is_some() && path != self.dir() {
            // The root itself was found as recorded when the tree was opened (and is remembered
            // so below), which ends this walk up.
            let parent = path.parent().unwrap_or(path);
            if self.check_kind(parent)? != Some(stamp::EntryKind::Dir) {
                kind = None;
            }
        }
        let below = false;
        self.checked
            .insert(path.as_os_str().to_owned(), Checked { below, kind });
        Ok(kind)
    }

    /// Checks `path` and everything below it before it is copied.
    pub fn check_below(&mut self, path: &Path) -> Result<()> {
        let known = self.checked.get(path.as_os_str()).copied();
        if known.is_some_and(|checked| checked.below) {
            return Ok(());
        }
        let found = self.on_read.check_below(path);
        self.settle(found)?;
        let kind = known.and_then(|checked| checked.kind);
        let below = true;
        self.checked
            .insert(path.as_os_str().to_owned(), Checked { below, kind });
        Ok(())
    }

    fn settle(&mut self, found: std::result::Result<(), stamp::Changed>) -> Result<()> {
        if found.is_ok() {
            return Ok(());
        }
        let dir = self.on_read.dir().to_owned();
        let repo = Repo::open(&self.repo)?;
        repo.check_materialized(self.tree, &dir, Files::All)?;
        let io = |source| StoreError::Io {
            path: stamp::stamp_path(&dir),
            source,
        };
        stamp::write(&dir, repo.git_dir()).map_err(io)?;
        self.on_read = stamp::on_read(&dir).ok_or_else(|| {
            io(std::io::Error::other(
                "the stamp just written cannot be read",
            ))
        })?;
        Ok(())
    }
}

/// `atom fetch <mirror>` (the mirror shell-quoted: it comes from a lock), or a placeholder naming
/// what to fetch when no mirror is known.
pub fn fetch_command(mirror: Option<&str>) -> FetchCommand {
    FetchCommand {
        mirror: mirror.map(str::to_owned),
    }
}

/// The command that would fetch a set into the atom store: `atom fetch URL` (the URL quoted for
/// a shell), or a placeholder for the URL when no mirror is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchCommand {
    /// A URL the set can be fetched from, when one is known.
    pub mirror: Option<String>,
}

impl std::fmt::Display for FetchCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.mirror {
            Some(url) => write!(f, "atom fetch {}", shell_quote(url)),
            None => f.write_str("atom fetch <a repository that publishes it>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed text is kept and read back without parsing; a record that does not read back is
    /// parsed again; an error is not kept; a store that does not exist is not made.
    #[test]
    fn a_parsed_text_is_remembered_and_an_error_is_not() {
        let dir = atom_test_support::scratch("store-parsed");
        let store = Store::new(dir.join("store"));
        let parse = |text: &str| text.parse::<u32>();
        assert_eq!(store.parsed("n", "7", parse), Ok(7));
        assert!(!store.dir().exists(), "no store was made");

        fs::create_dir_all(store.dir()).unwrap();
        assert_eq!(store.parsed("n", "7", parse), Ok(7));
        let records = || -> Vec<PathBuf> {
            fs::read_dir(store.dir().join("parsed"))
                .map(|entries| entries.map(|e| e.unwrap().path()).collect())
                .unwrap_or_default()
        };
        assert_eq!(records().len(), 1);
        let unreachable = |_: &str| -> std::result::Result<u32, std::num::ParseIntError> {
            panic!("parsed again")
        };
        assert_eq!(store.parsed("n", "7", unreachable), Ok(7));
        // The kind is part of the key.
        assert_eq!(store.parsed("m", "7", parse), Ok(7));
        assert_eq!(records().len(), 2);

        for record in records() {
            fs::write(record, "not json").unwrap();
        }
        assert_eq!(store.parsed("n", "7", parse), Ok(7));
        assert!(store.parsed("n", "x", parse).is_err());
        assert!(
            store.parsed("n", "x", parse).is_err(),
            "an error is not kept"
        );
        assert_eq!(records().len(), 2);
    }

    /// A cache directory others can write is refused like the store's other directories.
    #[test]
    fn a_cache_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = atom_test_support::scratch("store-caches");
        let store = Store::new(dir.join("store"));
        fs::create_dir_all(store.dir()).unwrap();
        put_record(&store.dir().join("parsed"), "x", b"{}");
        assert!(store.check_permissions().is_ok());

        let exposed = Store::new(dir.join("exposed"));
        fs::create_dir_all(exposed.dir().join("commits")).unwrap();
        fs::set_permissions(
            exposed.dir().join("commits"),
            fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        let err = exposed.check_permissions().unwrap_err().to_string();
        assert!(err.contains("commits"), "{err}");
    }

    #[test]
    fn the_store_is_found_in_order_of_preference() {
        let os = |s: &'static str| Some(OsStr::new(s));
        let dir = |store: Option<Store>| store.map(|s| s.dir().to_owned());
        assert_eq!(
            dir(Store::locate(os("/s"), os("/x"), os("/h"))),
            Some(PathBuf::from("/s"))
        );
        assert_eq!(
            dir(Store::locate(os(""), os("/x"), os("/h"))),
            Some(PathBuf::from("/x/atom/store"))
        );
        assert_eq!(
            dir(Store::locate(None, os(""), os("/h"))),
            Some(PathBuf::from("/h/.cache/atom/store"))
        );
        assert_eq!(dir(Store::locate(None, None, os(""))), None);
    }

    #[test]
    fn the_fetch_hint_is_one_shell_word_per_argument() {
        assert_eq!(
            fetch_command(Some("file:///srv/repo")).to_string(),
            "atom fetch file:///srv/repo"
        );
        assert_eq!(
            fetch_command(Some("https://example.com/it's$(reboot)")).to_string(),
            "atom fetch 'https://example.com/it'\\''s$(reboot)'"
        );
    }
}
