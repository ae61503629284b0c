//! Stamps of materialised trees: a cheap way to notice that a tree on disk was changed after it
//! was written.
//!
//! When a tree is written to `<cache>/<tree>`, its stamp `<cache>/<tree>.stamp` records, for the
//! directory and every entry below it, the relative path, type, size, modification and change
//! times (in nanoseconds) and inode. The stamp lives beside the tree, not inside it, because an
//! atom's modules can list their own directory. Before a tree is used again, every recorded entry
//! is `lstat`ed and compared with its record (nothing is read or hashed): editing, replacing,
//! adding or removing a file changes a record (adding or removing changes the parent directory's
//! times). A missing or different stamp is not an error in itself: it sends the tree through the
//! deep check ([`crate::repo::Repo::check_materialized`]), which compares the content with the git
//! tree and rewrites the stamp when they agree.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const STAMP_VERSION: u32 = 1;

/// What a stamp holds.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Stamp {
    version: u32,
    /// The git directory the tree was written from (a hint for `atom store verify`).
    repo: Option<PathBuf>,
    /// The tree's root (path `""`) and every entry below it, in walk order.
    entries: Vec<Entry>,
}

/// `(path, type, size, mtime s, mtime ns, ctime s, ctime ns, inode)`; type is `d`, `f` or `l`
/// (anything else is `?`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Entry(String, char, u64, i64, i64, i64, i64, u64);

impl Entry {
    fn of(path: String, metadata: &fs::Metadata) -> Entry {
        let kind = metadata.file_type();
        let kind = if kind.is_dir() {
            'd'
        } else if kind.is_file() {
            'f'
        } else if kind.is_symlink() {
            'l'
        } else {
            '?'
        };
        Entry(
            path,
            kind,
            metadata.size(),
            metadata.mtime(),
            metadata.mtime_nsec(),
            metadata.ctime(),
            metadata.ctime_nsec(),
            metadata.ino(),
        )
    }
}

/// The stamp file of the tree at `dir`: `<dir>.stamp`.
pub fn stamp_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_owned();
    name.push(".stamp");
    dir.with_file_name(name)
}

/// The records of `dir` and everything below it (symlinks are not followed).
fn snapshot(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries = vec![Entry::of(String::new(), &fs::symlink_metadata(dir)?)];
    walk(dir, "", &mut entries)?;
    Ok(entries)
}

fn walk(dir: &Path, prefix: &str, entries: &mut Vec<Entry>) -> std::io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let relative = format!("{prefix}{}", name.to_string_lossy());
        let metadata = fs::symlink_metadata(&path)?;
        let is_dir = metadata.is_dir();
        entries.push(Entry::of(relative.clone(), &metadata));
        if is_dir {
            walk(&path, &format!("{relative}/"), entries)?;
        }
    }
    Ok(())
}

/// Records the tree at `dir` (written from the repository `repo`) in its stamp, written under a
/// temporary name and renamed into place.
pub fn write(dir: &Path, repo: &Path) -> std::io::Result<()> {
    let stamp = Stamp {
        version: STAMP_VERSION,
        repo: Some(repo.to_owned()),
        entries: snapshot(dir)?,
    };
    let text = serde_json::to_vec(&stamp).map_err(std::io::Error::other)?;
    let parent = dir.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(super::temporary_name("stamp"));
    // Read-only, and nobody else's to change: a stamp another user could write is not trusted
    // ([`read`]).
    let written = std::os::unix::fs::OpenOptionsExt::mode(
        fs::OpenOptions::new().write(true).create_new(true),
        0o444,
    )
    .open(&tmp)
    .and_then(|mut file| std::io::Write::write_all(&mut file, &text))
    .and_then(|()| fs::rename(&tmp, stamp_path(dir)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn read(dir: &Path) -> Option<Stamp> {
    let text = read_trusted(dir)?;
    serde_json::from_slice::<Stamp>(&text)
        .ok()
        .filter(|s| s.version == STAMP_VERSION)
}

/// The text of the stamp of `dir`, if it is a regular file that only this user (or root) could
/// have written.
fn read_trusted(dir: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let (mut file, size) = open_trusted(dir)?;
    if size > crate::diagnostic::MAX_FILE_SIZE {
        return None;
    }
    // Exactly the size the descriptor gave: a stamp is renamed into place whole, never changed.
    let mut text = vec![0; usize::try_from(size).ok()?];
    file.read_exact(&mut text).ok()?;
    Some(text)
}

/// The stamp of `dir` opened for reading, and its size, if it is a regular file that only this
/// user (or root) could have written.
fn open_trusted(dir: &Path) -> Option<(fs::File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;

    // Opened without following a symlink and checked through its descriptor: a stamp that is not
    // a regular file, or that another user could have written, says nothing (the tree gets the
    // deep check).
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(stamp_path(dir))
        .ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() || super::guard::exposure(&metadata).is_some() {
        return None;
    }
    Some((file, metadata.len()))
}

/// The repository the stamp of `dir` says the tree was written from, if it has a readable stamp.
pub fn recorded_repo(dir: &Path) -> Option<PathBuf> {
    read(dir)?.repo
}

/// Whether the tree at `dir` has a stamp and every entry it records is unchanged (by `lstat`
/// only): [`verified`], without the listing.
pub fn matches(dir: &Path) -> bool {
    unchanged(dir).is_some()
}

/// What a tree holds, as its stamp recorded it and [`verified`] found it on disk: each entry's
/// path relative to the tree and its type. Since adding or removing an entry changes its
/// directory's record, this is the whole listing.
#[derive(Debug, Clone)]
pub struct Listing {
    dir: PathBuf,
    /// Whether a name was recorded lossily (it was not UTF-8): then the listing answers nothing.
    lossy: bool,
    /// Relative path (`""` for the tree itself) and type (`d`, `f`, `l` or `?`), sorted by path.
    entries: Vec<(String, char)>,
}

/// The type of an entry of a [`Listing`], as `lstat` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symlink (not followed).
    Symlink,
    /// Anything else.
    Other,
}

impl Listing {
    /// The tree's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The type of `path` (inside the tree): `Some(None)` when the tree has no such entry, `None`
    /// when the listing cannot say (`path` is not inside the tree, or a name was not UTF-8).
    pub fn kind(&self, path: &Path) -> Option<Option<EntryKind>> {
        let relative = self.relative(path)?;
        Some(
            self.entries
                .binary_search_by(|(entry, _)| entry.as_str().cmp(&relative))
                .ok()
                .map(|index| kind_of(self.entries[index].1)),
        )
    }

    /// The entries directly inside the directory `dir` of the tree, names and types, by name;
    /// `None` when `dir` is not one of its directories.
    pub fn children(&self, dir: &Path) -> Option<Vec<(String, EntryKind)>> {
        if self.kind(dir)?? != EntryKind::Dir {
            return None;
        }
        let relative = self.relative(dir)?;
        let prefix = if relative.is_empty() {
            String::new()
        } else {
            format!("{relative}/")
        };
        // The paths that start with `prefix` sort together.
        let start = self
            .entries
            .partition_point(|(entry, _)| entry.as_str() < prefix.as_str());
        Some(
            self.entries[start..]
                .iter()
                .map_while(|(entry, kind)| Some((entry.strip_prefix(prefix.as_str())?, kind)))
                .filter(|(name, _)| !name.is_empty() && !name.contains('/'))
                .map(|(name, &kind)| (name.to_owned(), kind_of(kind)))
                .collect(),
        )
    }

    /// `path` relative to the tree, as its stamp names entries (`""` for the tree itself, no
    /// `.` components); `None` outside the tree or when the listing cannot say.
    fn relative<'a>(&self, path: &'a Path) -> Option<std::borrow::Cow<'a, str>> {
        if self.lossy {
            return None;
        }
        let rest = path.as_os_str().as_encoded_bytes();
        let rest = rest.strip_prefix(self.dir.as_os_str().as_encoded_bytes())?;
        let rest = match rest {
            [] => "",
            [b'/', rest @ ..] => std::str::from_utf8(rest).ok()?,
            _ => return None,
        };
        let plain = !rest.starts_with('/')
            && !rest.ends_with('/')
            && !rest.contains("//")
            && rest.split('/').all(|part| part != "." && part != "..");
        if plain {
            return Some(std::borrow::Cow::Borrowed(rest));
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in rest.split('/') {
            match part {
                "" | "." => {}
                // Not resolved here: `..` after a symlink is not the parent.
                ".." => return None,
                part => parts.push(part),
            }
        }
        Some(std::borrow::Cow::Owned(parts.join("/")))
    }
}

fn kind_of(kind: char) -> EntryKind {
    match kind {
        'd' => EntryKind::Dir,
        'f' => EntryKind::File,
        'l' => EntryKind::Symlink,
        _ => EntryKind::Other,
    }
}

/// The stamp of the tree at `dir` when every entry it records is unchanged (by `lstat` only).
///
/// Entries are `fstatat`ed relative to their directory, opened once each (`O_NOFOLLOW`), rather
/// than by full path: this runs on every load of every tree, and resolving each file's whole path
/// again dominated its cost.
fn unchanged(dir: &Path) -> Option<Stamp> {
    let stamp = read(dir)?;
    let root = fs::File::open(dir).ok()?;
    let root = OwnedFd::from(root);
    let mut dirs: std::collections::HashMap<&str, OwnedFd> = std::collections::HashMap::new();
    for entry in &stamp.entries {
        let (parent, name) = match entry.0.rsplit_once('/') {
            Some((parent, name)) => (dirs.get(parent), name),
            None => (Some(&root), entry.0.as_str()),
        };
        let Some(parent) = parent else {
            // The stamp lists a directory's entries after the directory itself.
            return None;
        };
        let status = if entry.0.is_empty() {
            stat_at(parent, None)
        } else {
            stat_at(parent, Some(name))
        };
        if status.as_ref().map(|s| same(entry, s)) != Some(true) {
            return None;
        }
        if entry.1 == 'd' && !entry.0.is_empty() {
            match open_dir_at(parent, name) {
                Some(fd) => {
                    dirs.insert(entry.0.as_str(), fd);
                }
                None => return None,
            }
        }
    }
    Some(stamp)
}

/// The listing of the tree at `dir` when it has a stamp and every entry the stamp records is
/// unchanged ([`matches`]); `None` otherwise. (A listing with a name that was not UTF-8, recorded
/// lossily, answers nothing: its names would not be the files'.)
pub fn verified(dir: &Path) -> Option<Listing> {
    let stamp = unchanged(dir)?;
    let lossy = stamp.entries.iter().any(|e| e.0.contains('\u{FFFD}'));
    Some(Listing {
        dir: dir.to_owned(),
        lossy,
        entries: {
            let mut entries: Vec<(String, char)> =
                stamp.entries.into_iter().map(|e| (e.0, e.1)).collect();
            entries.sort_unstable();
            entries
        },
    })
}

/// Whether `status` is what `entry` records.
// The casts are no-ops on 64-bit Linux, not on every target (`time_t`, `off_t`, `ino_t`).
#[allow(clippy::unnecessary_cast)]
fn same(entry: &Entry, status: &libc::stat) -> bool {
    let kind = match status.st_mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFREG => 'f',
        libc::S_IFLNK => 'l',
        _ => '?',
    };
    kind == entry.1
        && status.st_size as u64 == entry.2
        && status.st_mtime as i64 == entry.3
        && status.st_mtime_nsec as i64 == entry.4
        && status.st_ctime as i64 == entry.5
        && status.st_ctime_nsec as i64 == entry.6
        && status.st_ino as u64 == entry.7
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`, or `fstat(dir)` without a name.
fn stat_at(dir: &OwnedFd, name: Option<&str>) -> Option<libc::stat> {
    let mut status = std::mem::MaybeUninit::<libc::stat>::uninit();
    let result = match name {
        Some(name) => {
            let name = CString::new(name).ok()?;
            // SAFETY: `dir` is an open descriptor, `name` a NUL-terminated string and `status`
            // writable storage for one `stat`; all outlive the call.
            unsafe {
                libc::fstatat(
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    status.as_mut_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            }
        }
        // SAFETY: `dir` is an open descriptor and `status` writable storage for one `stat`.
        None => unsafe { libc::fstat(dir.as_raw_fd(), status.as_mut_ptr()) },
    };
    // SAFETY: the call succeeded, so it filled `status`.
    (result == 0).then(|| unsafe { status.assume_init() })
}

/// The directory `name` inside `dir`, opened without following a symlink.
fn open_dir_at(dir: &OwnedFd, name: &str) -> Option<OwnedFd> {
    let name = CString::new(name).ok()?;
    // SAFETY: `dir` is an open descriptor and `name` a NUL-terminated string outliving the call.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a non-negative result is a new descriptor that nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A materialised tree whose entries are checked when they are used, rather than all at once
/// ([`matches`]): its stamp is trusted (see [`read`]) and its top directory is unchanged. Each
/// entry is then compared with its record when something reads it ([`OnRead::check`]), so the
/// cost follows what an evaluation reads, not the size of the tree.
///
/// The stamp is searched for one record at a time: a tree's records are in walk order, each a
/// JSON array starting with its path (`["data/a.txt","f",…]`), and a path string cannot contain
/// an unescaped `"`, so `["<path>",` occurs only where that record starts. It is read as far as
/// the records looked for (a directory's record comes before everything in it), so a large tree
/// whose top few entries are used costs a few kilobytes.
#[derive(Debug)]
pub struct OnRead {
    dir: PathBuf,
    /// The stamp read so far, and the rest of it (`None` once read whole).
    text: std::cell::RefCell<(Vec<u8>, Option<fs::File>)>,
    /// Records looked up by searching the text so far; past [`SEARCHES`], every record, by
    /// path (copying a directory of many files looks up each one, and searching the text for
    /// each would cost the square of the tree's size).
    searches: std::cell::Cell<usize>,
    index: std::cell::OnceCell<Index>,
}

/// Every record of a stamp, in walk order, and where each path's record is.
#[derive(Debug)]
struct Index {
    entries: Vec<Entry>,
    by_path: std::collections::HashMap<String, usize>,
}

/// How many records are looked up by searching the stamp before it is parsed whole.
const SEARCHES: usize = 64;

/// How much of a stamp is read at first, and then at least as much again each time. Small: every
/// tree an evaluation opens keeps what was read (at 8 KiB, 50 trees cost 100 page faults).
const STAMP_CHUNK: usize = 2 << 10;

/// What [`OnRead::check`] found wrong with an entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The entry at this relative path differs from its record (or is gone). An entry added
    /// to a directory shows as a change of the directory.
    Entry(String),
}

impl std::fmt::Display for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |path: &str| {
            if path.is_empty() {
                "its top directory".to_owned()
            } else {
                format!("{path:?}")
            }
        };
        match self {
            Changed::Entry(path) => write!(f, "{} changed since it was written", shown(path)),
        }
    }
}

/// The tree at `dir` to be checked on read, when its stamp is trusted and its top directory is
/// as recorded; `None` otherwise (then it needs the full check).
pub fn on_read(dir: &Path) -> Option<OnRead> {
    let (file, _) = open_trusted(dir)?;
    let tree = OnRead {
        dir: dir.to_owned(),
        text: std::cell::RefCell::new((Vec::new(), Some(file))),
        searches: std::cell::Cell::new(0),
        index: std::cell::OnceCell::new(),
    };
    tree.read_more()?;
    let version = format!("{{\"version\":{STAMP_VERSION},");
    if !tree.text.borrow().0.starts_with(version.as_bytes()) {
        return None;
    }
    tree.check_relative("").ok()?;
    Some(tree)
}

impl OnRead {
    /// The tree's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Compares the entry at `path` (in the tree, after its symlinks are resolved) with its
    /// record. A path the tree does not have is fine while the directory that would hold it is
    /// unchanged (adding or removing an entry changes its directory's times). Paths outside the
    /// tree are not its concern.
    pub fn check(&self, path: &Path) -> Result<(), Changed> {
        self.check_kind(path).map(|_| ())
    }

    /// [`OnRead::check`], and the type of the entry at `path` when the tree records one there,
    /// found just as recorded, that is not a symlink (`None` otherwise, or outside the tree).
    pub fn check_kind(&self, path: &Path) -> Result<Option<EntryKind>, Changed> {
        let Ok(relative) = path.strip_prefix(&self.dir) else {
            return Ok(None);
        };
        match relative.to_str() {
            Some(relative) => self.check_relative(relative),
            // (Checked as the stamp recorded such a name, lossily: no type to vouch for.)
            None => self
                .check_relative(&relative.to_string_lossy())
                .map(|_| None),
        }
    }

    /// [`OnRead::check`] of `path` and of every entry below it (what copying it reads).
    pub fn check_below(&self, path: &Path) -> Result<(), Changed> {
        let Ok(relative) = path.strip_prefix(&self.dir) else {
            return Ok(());
        };
        let relative = relative.to_string_lossy();
        self.check_relative(&relative)?;
        let Some(index) = self.index() else {
            return Err(Changed::Entry(relative.into_owned()));
        };
        let prefix = format!("{relative}/");
        for entry in &index.entries {
            if relative.is_empty() || entry.0.starts_with(&prefix) {
                let status = fs::symlink_metadata(self.dir.join(&entry.0));
                if !status.is_ok_and(|s| same_metadata(entry, &s)) {
                    return Err(Changed::Entry(entry.0.clone()));
                }
            }
        }
        Ok(())
    }

    /// The check of the entry at `relative`; its recorded type when that is what it is and not
    /// a symlink.
    fn check_relative(&self, relative: &str) -> Result<Option<EntryKind>, Changed> {
        let relative = relative.trim_end_matches('/');
        let path = if relative.is_empty() {
            self.dir.clone()
        } else {
            self.dir.join(relative)
        };
        let status = fs::symlink_metadata(&path);
        match (self.record(relative), status) {
            (Some(entry), Ok(status)) if same_metadata(&entry, &status) => match entry.1 {
                // A symlink of the tree: what reading it reaches is checked too.
                'l' => match fs::canonicalize(&path)
                    .map(|r| r.strip_prefix(&self.dir).map(Path::to_owned))
                {
                    Ok(Ok(inner)) if inner != Path::new(relative) => {
                        self.check_relative(&inner.to_string_lossy()).map(|_| None)
                    }
                    _ => Ok(None),
                },
                kind => Ok(Some(kind_of(kind))),
            },
            (Some(_), _) => Err(Changed::Entry(relative.to_owned())),
            (None, status) => {
                // Reached through a symlink of the tree: the entry it names is checked instead.
                let resolved = status
                    .is_ok()
                    .then(|| fs::canonicalize(&path).ok())
                    .flatten();
                if let Some(Ok(inner)) = resolved.as_deref().map(|r| r.strip_prefix(&self.dir)) {
                    if inner != Path::new(relative) {
                        return self.check_relative(&inner.to_string_lossy()).map(|_| None);
                    }
                }
                // Not in the tree as written (missing, below a file, or out of the tree through
                // a symlink, which is the confinement's to refuse): fine if the directory that
                // would hold it is as recorded, since adding an entry changes its times. (A
                // stamp without the tree's own record vouches for nothing.)
                if relative.is_empty() {
                    return Err(Changed::Entry(String::new()));
                }
                let parent = relative.rsplit_once('/').map_or("", |(parent, _)| parent);
                self.check_relative(parent).map(|_| None)
            }
        }
    }

    /// The record of the entry at `relative`, if the tree has one.
    fn record(&self, relative: &str) -> Option<Entry> {
        if self.searches.get() >= SEARCHES {
            if let Some(index) = self.index() {
                return index
                    .by_path
                    .get(relative)
                    .map(|&i| index.entries[i].clone());
            }
        }
        self.searches.set(self.searches.get() + 1);
        let quoted = serde_json::to_string(relative).ok()?;
        let needle = format!("[{quoted},");
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        loop {
            {
                let text = &self.text.borrow().0;
                if let Some(start) = finder.find(text) {
                    let mut records =
                        serde_json::Deserializer::from_slice(&text[start..]).into_iter::<Entry>();
                    // A record cut at the end of what was read so far parses once more is read.
                    if let Some(Ok(entry)) = records.next() {
                        return (entry.0 == relative).then_some(entry);
                    }
                }
            }
            if self.read_more() != Some(true) {
                return None;
            }
        }
    }

    /// Every record (the stamp read and parsed whole, once); `None` when it does not parse
    /// (then records are searched for one by one).
    fn index(&self) -> Option<&Index> {
        if let Some(index) = self.index.get() {
            return Some(index);
        }
        while self.read_more() == Some(true) {}
        let entries = serde_json::from_slice::<Stamp>(&self.text.borrow().0)
            .ok()?
            .entries;
        let by_path = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| (entry.0.clone(), i))
            .collect();
        Some(self.index.get_or_init(|| Index { entries, by_path }))
    }

    /// Reads on in the stamp (at least as much as was read so far): `Some(true)` when more was
    /// read, `Some(false)` at its end, `None` when it cannot be read.
    fn read_more(&self) -> Option<bool> {
        use std::io::Read;
        let mut state = self.text.borrow_mut();
        let (text, file) = &mut *state;
        let Some(reader) = file.as_mut() else {
            return Some(false);
        };
        let want = text.len().max(STAMP_CHUNK);
        if text.len() + want > crate::diagnostic::MAX_FILE_SIZE as usize {
            return None;
        }
        let before = text.len();
        // Room for all of it first: `read_to_end` into a full buffer reads in small steps.
        text.reserve_exact(want);
        reader.take(want as u64).read_to_end(text).ok()?;
        if text.len() == before {
            *file = None;
            return Some(false);
        }
        Some(true)
    }
}

/// Whether `status` (from `lstat`) is what `entry` records.
fn same_metadata(entry: &Entry, status: &fs::Metadata) -> bool {
    Entry::of(entry.0.clone(), status) == *entry
}

/// Removes the stamp of `dir`, if any.
pub fn remove(dir: &Path) {
    let _ = fs::remove_file(stamp_path(dir));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A tree of `files` files in `sub/`, stamped.
    fn stamped_tree(name: &str, files: usize) -> atom_test_support::Scratch {
        let dir = atom_test_support::scratch(name).nest("tree");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("top.txt"), "top\n").unwrap();
        for i in 0..files {
            fs::write(dir.join(format!("sub/f{i:04}.txt")), format!("{i}\n")).unwrap();
        }
        write(&dir, Path::new("/nowhere")).unwrap();
        dir
    }

    /// Edits `file` in place (same inode, directory times unchanged).
    fn edit_in_place(file: &Path) {
        fs::set_permissions(file, fs::Permissions::from_mode(0o644)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(file, "edited\n").unwrap();
    }

    #[test]
    fn a_verified_stamp_lists_the_tree_and_a_changed_one_lists_nothing() {
        let dir = stamped_tree("stamp-listing", 2);
        // Names that sort between a directory and its entries (`-` and `.` before `/`).
        fs::create_dir(dir.join("sub-x")).unwrap();
        fs::write(dir.join("sub.nix"), "1\n").unwrap();
        std::os::unix::fs::symlink("top.txt", dir.join("link")).unwrap();
        write(&dir, Path::new("/nowhere")).unwrap();
        let listing = verified(&dir).expect("an unchanged tree is listed");
        let kind = |path: &str| listing.kind(&dir.join(path));
        assert_eq!(kind(""), Some(Some(EntryKind::Dir)));
        assert_eq!(kind("."), Some(Some(EntryKind::Dir)));
        assert_eq!(kind("./sub/f0001.txt"), Some(Some(EntryKind::File)));
        assert_eq!(kind("sub/./f0000.txt"), Some(Some(EntryKind::File)));
        assert_eq!(kind("link"), Some(Some(EntryKind::Symlink)));
        assert_eq!(kind("missing.nix"), Some(None));
        assert_eq!(kind("sub/../top.txt"), None, "`..` is not resolved by name");
        assert_eq!(listing.kind(Path::new("/elsewhere/top.txt")), None);
        assert_eq!(
            listing.kind(&PathBuf::from(format!("{}x", dir.display()))),
            None
        );
        let names = |path: &str| {
            let mut names: Vec<String> = listing
                .children(&dir.join(path))
                .unwrap()
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(""), ["link", "sub", "sub-x", "sub.nix", "top.txt"]);
        assert_eq!(names("sub"), ["f0000.txt", "f0001.txt"]);
        assert!(names("sub-x").is_empty());
        assert!(listing.children(&dir.join("top.txt")).is_none());
        // A change anywhere: no listing.
        fs::write(dir.join("sub/new.txt"), "new\n").unwrap();
        assert!(verified(&dir).is_none());
    }

    #[test]
    fn entries_are_checked_one_by_one_as_they_are_used() {
        let dir = stamped_tree("stamp-on-read", 3);
        let tree = on_read(&dir).expect("a fresh stamp is taken");
        assert_eq!(tree.check(&dir.join("sub/f0001.txt")), Ok(()));
        // Not in the tree, and its directory unchanged: nothing was added.
        assert_eq!(tree.check(&dir.join("sub/none.txt")), Ok(()));
        // Outside the tree: not its concern.
        assert_eq!(tree.check(Path::new("/etc/hostname")), Ok(()));

        edit_in_place(&dir.join("sub/f0002.txt"));
        assert_eq!(
            tree.check(&dir.join("sub/f0002.txt")),
            Err(Changed::Entry("sub/f0002.txt".into()))
        );
        // An in-place edit leaves the directory and the other files as recorded.
        assert_eq!(tree.check(&dir.join("sub")), Ok(()));
        assert_eq!(tree.check(&dir.join("sub/f0000.txt")), Ok(()));
        assert_eq!(
            tree.check_below(&dir.join("sub")),
            Err(Changed::Entry("sub/f0002.txt".into()))
        );

        fs::write(dir.join("sub/new.txt"), "new\n").unwrap();
        assert_eq!(
            tree.check(&dir.join("sub/new.txt")),
            Err(Changed::Entry("sub".into()))
        );
        assert_eq!(
            tree.check(&dir.join("sub")),
            Err(Changed::Entry("sub".into()))
        );
    }

    /// A path the tree does not record is judged by the directory that would hold it: below a
    /// file, or out of the tree through one of its symlinks (the confinement's to refuse), it
    /// is no change of the tree. Only a recorded directory or file, not a symlink, has a kind.
    #[test]
    fn paths_the_tree_does_not_record_are_judged_by_their_directory() {
        let dir = atom_test_support::scratch("stamp-unrecorded").nest("tree");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("top.txt"), "top\n").unwrap();
        fs::write(dir.join("sub/a.txt"), "a\n").unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("out")).unwrap();
        std::os::unix::fs::symlink("sub", dir.join("in")).unwrap();
        write(&dir, Path::new("/nowhere")).unwrap();
        let tree = on_read(&dir).expect("a fresh stamp is taken");

        assert_eq!(tree.check_kind(&dir), Ok(Some(EntryKind::Dir)));
        assert_eq!(tree.check_kind(&dir.join("sub")), Ok(Some(EntryKind::Dir)));
        assert_eq!(
            tree.check_kind(&dir.join("top.txt")),
            Ok(Some(EntryKind::File))
        );
        assert_eq!(tree.check_kind(&dir.join("out")), Ok(None));
        // Through a symlink of the tree: the entry it names is checked, and has no kind here.
        assert_eq!(tree.check_kind(&dir.join("in/a.txt")), Ok(None));
        assert_eq!(tree.check_kind(&dir.join("out/hostname")), Ok(None));
        assert_eq!(tree.check_kind(&dir.join("top.txt/x")), Ok(None));
        assert_eq!(tree.check_kind(&dir.join("sub/none.txt")), Ok(None));

        // An entry added below: its directory changed.
        fs::write(dir.join("sub/b.txt"), "b\n").unwrap();
        assert_eq!(
            tree.check(&dir.join("sub/b.txt")),
            Err(Changed::Entry("sub".into()))
        );
        assert_eq!(
            tree.check(&dir.join("in/b.txt")),
            Err(Changed::Entry("sub".into()))
        );
    }

    #[test]
    fn many_lookups_use_an_index_of_the_whole_stamp() {
        let files = SEARCHES * 3;
        let dir = stamped_tree("stamp-index", files);
        let tree = on_read(&dir).expect("a fresh stamp is taken");
        for i in 0..files {
            assert_eq!(tree.check(&dir.join(format!("sub/f{i:04}.txt"))), Ok(()));
        }
        assert!(tree.index.get().is_some(), "the stamp was indexed");
        edit_in_place(&dir.join(format!("sub/f{:04}.txt", files - 1)));
        let last = format!("sub/f{:04}.txt", files - 1);
        assert_eq!(tree.check(&dir.join(&last)), Err(Changed::Entry(last)));
        assert_eq!(tree.check(&dir.join("sub/none.txt")), Ok(()));
    }

    #[test]
    fn a_changed_top_directory_or_a_foreign_stamp_is_not_taken() {
        let dir = stamped_tree("stamp-top", 1);
        fs::write(dir.join("added.txt"), "x\n").unwrap();
        assert!(on_read(&dir).is_none(), "the top directory changed");
        let dir = stamped_tree("stamp-mode", 1);
        fs::set_permissions(stamp_path(&dir), fs::Permissions::from_mode(0o666)).unwrap();
        assert!(
            on_read(&dir).is_none(),
            "a stamp everyone can write says nothing"
        );
    }
}
