//! Writing a git tree out into a directory (all of it, or only its Nix files), and comparing a
//! directory with the git tree it was written from ([`Repo::check_materialized`]): content
//! hashes, modes, symlink targets, no extra or missing entries. Where trees are written, and
//! when they are checked, is the atom store's business ([`crate::store`]).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::path::Path;

use gix::objs::tree::EntryKind;
use gix::ObjectId;

use super::error::Alteration;
use super::{Repo, RepoError, Result};
use crate::diagnostic::FileKind;

/// Which files of a tree a materialised directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Everything.
    All,
    /// Regular `*.nix` files and the directories holding them.
    Nix,
}

impl Repo {
    /// The entries of `tree` (checked against its id) as (name, id, kind); a name that is not
    /// safe to write into a directory ([`super::entry_name::check`]: `..`, `/`, `.git`, …) is an
    /// error.
    fn tree_entries(&self, tree: ObjectId) -> Result<Vec<(String, ObjectId, EntryKind)>> {
        let object = self
            .repo
            .find_tree(tree)
            .map_err(|e| RepoError::object(tree, e))?;
        super::check_content(tree, gix::object::Kind::Tree, &object.data)?;
        let decoded = object.decode().map_err(|e| RepoError::object(tree, e))?;
        decoded
            .entries
            .iter()
            .map(|entry| {
                let name = super::entry_name::check(entry.filename).map_err(|why| {
                    RepoError::object(
                        tree,
                        format!(
                            "the tree has an entry named {:?}, which is refused: {why}",
                            entry.filename
                        ),
                    )
                })?;
                Ok((name.to_owned(), entry.oid.to_owned(), entry.mode.kind()))
            })
            .collect()
    }

    /// Writes the entries of `tree` selected by `files` into the existing, empty directory `dir`
    /// (files read-only, every object checked against its id); returns whether anything was
    /// written.
    pub fn write_tree(&self, tree: ObjectId, dir: &Path, files: Files) -> Result<bool> {
        let mut wrote = false;
        for (name, id, kind) in self.tree_entries(tree)? {
            let name = name.as_str();
            let path = dir.join(name);
            let io = |source| RepoError::Io {
                path: path.clone(),
                source,
            };
            let wanted = match (files, kind) {
                (Files::All, _) | (Files::Nix, EntryKind::Tree) => true,
                (Files::Nix, EntryKind::Blob | EntryKind::BlobExecutable) => name.ends_with(".nix"),
                (Files::Nix, _) => false,
            };
            if !wanted {
                continue;
            }
            match kind {
                EntryKind::Tree => {
                    fs::create_dir(&path).map_err(io)?;
                    if self.write_tree(id, &path, files)? || files == Files::All {
                        wrote = true;
                    } else {
                        // No Nix file below: the directory is not part of the selection.
                        fs::remove_dir(&path).map_err(io)?;
                    }
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    let blob = self
                        .repo
                        .find_blob(id)
                        .map_err(|e| RepoError::object(id, e))?;
                    super::check_content(id, gix::object::Kind::Blob, &blob.data)?;
                    // Read-only: a materialised tree is not to be edited (directories stay
                    // writable, so that deleting the cache needs no chmod).
                    let mode = if kind == EntryKind::BlobExecutable {
                        0o555
                    } else {
                        0o444
                    };
                    fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(mode)
                        .open(&path)
                        .and_then(|mut file| file.write_all(&blob.data))
                        .map_err(io)?;
                    wrote = true;
                }
                EntryKind::Link => {
                    let blob = self
                        .repo
                        .find_blob(id)
                        .map_err(|e| RepoError::object(id, e))?;
                    super::check_content(id, gix::object::Kind::Blob, &blob.data)?;
                    let target = std::str::from_utf8(&blob.data)
                        .map_err(|_| RepoError::object(id, "symlink target is not UTF-8"))?;
                    symlink(target, &path).map_err(io)?;
                    wrote = true;
                }
                // A submodule's content is not part of the atom.
                EntryKind::Commit => {
                    fs::create_dir(&path).map_err(io)?;
                    wrote = true;
                }
            }
        }
        Ok(wrote)
    }
}

/// What one entry of a materialised tree must be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// A directory (a tree, or a submodule's empty directory).
    Dir,
    /// A regular file with this blob's content.
    File { id: ObjectId, executable: bool },
    /// A symlink to this target.
    Link(Vec<u8>),
}

impl Repo {
    /// Compares the directory `dir` with the git tree `tree` it was materialised from (`files`
    /// selects the entries it is meant to hold): every file's content hash and executable bit,
    /// every symlink's target, and no entry missing or extra. The first difference is a
    /// [`RepoError::TreeAltered`] naming the file.
    pub fn check_materialized(&self, tree: ObjectId, dir: &Path, files: Files) -> Result<()> {
        let mut expected = std::collections::BTreeMap::new();
        self.expected_entries(tree, "", files, &mut expected)?;
        let mut found = std::collections::BTreeMap::new();
        disk_entries(dir, "", &mut found).map_err(|source| RepoError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let altered = |file: &str, detail: Alteration| RepoError::TreeAltered {
            dir: dir.to_owned(),
            tree,
            file: file.to_owned(),
            detail: Box::new(detail),
        };
        for (path, want) in &expected {
            let Some(metadata) = found.remove(path) else {
                return Err(altered(path, Alteration::Missing));
            };
            let full = dir.join(path);
            let kind = metadata.file_type();
            match want {
                Expected::Dir if kind.is_dir() => {}
                Expected::File { id, executable } if kind.is_file() => {
                    use std::os::unix::fs::PermissionsExt;
                    let is_executable = metadata.permissions().mode() & 0o111 != 0;
                    if is_executable != *executable {
                        return Err(altered(
                            path,
                            Alteration::Executable {
                                executable: is_executable,
                            },
                        ));
                    }
                    let data = fs::read(&full).map_err(|source| RepoError::Io {
                        path: full.clone(),
                        source,
                    })?;
                    let actual = gix::objs::compute_hash(id.kind(), gix::object::Kind::Blob, &data)
                        .map_err(|e| RepoError::object(*id, e))?;
                    if actual != *id {
                        return Err(altered(
                            path,
                            Alteration::Content {
                                found: actual,
                                expected: *id,
                            },
                        ));
                    }
                }
                Expected::Link(target) if kind.is_symlink() => {
                    let actual = fs::read_link(&full).map_err(|source| RepoError::Io {
                        path: full.clone(),
                        source,
                    })?;
                    if actual.as_os_str().as_encoded_bytes() != target.as_slice() {
                        return Err(altered(
                            path,
                            Alteration::Link {
                                found: actual,
                                expected: target.clone(),
                            },
                        ));
                    }
                }
                _ => {
                    let found = (!kind.is_file()).then(|| FileKind::of(kind));
                    let expected = match want {
                        Expected::Dir => Some(FileKind::Directory),
                        Expected::File { .. } => None,
                        Expected::Link(_) => Some(FileKind::Symlink),
                    };
                    return Err(altered(path, Alteration::Kind { found, expected }));
                }
            }
        }
        if let Some(path) = found.keys().next() {
            return Err(altered(path, Alteration::Added));
        }
        Ok(())
    }

    /// The entries of `tree` that [`Repo::write_tree`] writes with `files`, by relative path;
    /// returns whether anything is selected.
    fn expected_entries(
        &self,
        tree: ObjectId,
        prefix: &str,
        files: Files,
        out: &mut std::collections::BTreeMap<String, Expected>,
    ) -> Result<bool> {
        let mut any = false;
        for (name, id, kind) in self.tree_entries(tree)? {
            let name = name.as_str();
            let path = format!("{prefix}{name}");
            match (files, kind) {
                (_, EntryKind::Tree) => {
                    out.insert(path.clone(), Expected::Dir);
                    let below = self.expected_entries(id, &format!("{path}/"), files, out)?;
                    if below || files == Files::All {
                        any = true;
                    } else {
                        out.remove(&path);
                    }
                }
                (Files::Nix, EntryKind::Blob | EntryKind::BlobExecutable)
                    if !name.ends_with(".nix") => {}
                (Files::Nix, EntryKind::Link | EntryKind::Commit) => {}
                (_, EntryKind::Blob | EntryKind::BlobExecutable) => {
                    out.insert(
                        path,
                        Expected::File {
                            id,
                            executable: kind == EntryKind::BlobExecutable,
                        },
                    );
                    any = true;
                }
                (_, EntryKind::Link) => {
                    let blob = self
                        .repo
                        .find_blob(id)
                        .map_err(|e| RepoError::object(id, e))?;
                    super::check_content(id, gix::object::Kind::Blob, &blob.data)?;
                    out.insert(path, Expected::Link(blob.data.clone()));
                    any = true;
                }
                (_, EntryKind::Commit) => {
                    out.insert(path, Expected::Dir);
                    any = true;
                }
            }
        }
        Ok(any)
    }
}

/// Every entry below `dir` by relative path, with its `lstat` metadata.
fn disk_entries(
    dir: &Path,
    prefix: &str,
    out: &mut std::collections::BTreeMap<String, fs::Metadata>,
) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let metadata = fs::symlink_metadata(entry.path())?;
        if metadata.is_dir() {
            disk_entries(&entry.path(), &format!("{path}/"), out)?;
        }
        out.insert(path, metadata);
    }
    Ok(())
}
