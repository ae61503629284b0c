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
//! deep check ([`super::Store::check_materialized`]), which compares the content with the git
//! tree and rewrites the stamp when they agree.

use std::fs;
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
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
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
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &text))
        .and_then(|()| fs::rename(&tmp, stamp_path(dir)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn read(dir: &Path) -> Option<Stamp> {
    let text = crate::diagnostic::read_text(&stamp_path(dir)).ok()?;
    serde_json::from_str::<Stamp>(&text)
        .ok()
        .filter(|s| s.version == STAMP_VERSION)
}

/// The repository the stamp of `dir` says the tree was written from, if it has a readable stamp.
pub fn recorded_repo(dir: &Path) -> Option<PathBuf> {
    read(dir)?.repo
}

/// Whether the tree at `dir` has a stamp and every entry it records is unchanged (by `lstat`
/// only).
pub fn matches(dir: &Path) -> bool {
    let Some(stamp) = read(dir) else {
        return false;
    };
    stamp.entries.iter().all(|entry| {
        let path = if entry.0.is_empty() {
            dir.to_owned()
        } else {
            dir.join(&entry.0)
        };
        fs::symlink_metadata(&path).is_ok_and(|m| Entry::of(entry.0.clone(), &m) == *entry)
    })
}

/// Removes the stamp of `dir`, if any.
pub fn remove(dir: &Path) {
    let _ = fs::remove_file(stamp_path(dir));
}
