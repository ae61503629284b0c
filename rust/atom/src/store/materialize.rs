//! Writing an atom's tree out of git into a content-addressed directory, once: all of it, or only
//! its Nix files (what composing it reads; the rest is written when something needs it).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::path::{Path, PathBuf};

use gix::objs::tree::EntryKind;
use gix::ObjectId;

use super::{Result, Store, StoreError};

/// Which files of a tree to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Files {
    /// Everything.
    All,
    /// Regular `*.nix` files and the directories holding them.
    Nix,
}

impl Store {
    /// The directory `<cache>/<tree id>` holding the files of `tree`, written on first use.
    ///
    /// The tree is written under a temporary name in `cache` and renamed into place, so a reader
    /// never sees half a tree; when several processes materialise the same tree at once, one
    /// rename wins and the others discard their copy. Every object is checked against its id.
    pub fn materialize(&self, tree: ObjectId, cache: &Path) -> Result<PathBuf> {
        self.materialize_files(tree, cache, Files::All)
    }

    /// The directory `<cache>/nix/<tree id>` holding only the regular `*.nix` files of `tree`
    /// (in their directories), written once like [`Store::materialize`]: enough to plan and
    /// parse an atom's modules without writing its data files.
    pub fn materialize_nix(&self, tree: ObjectId, cache: &Path) -> Result<PathBuf> {
        self.materialize_files(tree, &cache.join("nix"), Files::Nix)
    }

    fn materialize_files(&self, tree: ObjectId, cache: &Path, files: Files) -> Result<PathBuf> {
        let dest = cache.join(tree.to_string());
        if dest.is_dir() {
            return Ok(dest);
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        fs::create_dir_all(cache).map_err(io(cache))?;
        let tmp = cache.join(super::temporary_name(&tree.to_string()));
        let written = fs::create_dir(&tmp)
            .map_err(io(&tmp))
            .and_then(|()| self.write_tree(tree, &tmp, files).map(|_| ()));
        if let Err(error) = written {
            let _ = fs::remove_dir_all(&tmp);
            return Err(error);
        }
        match fs::rename(&tmp, &dest) {
            Ok(()) => Ok(dest),
            Err(_) if dest.is_dir() => {
                // Another process put the same tree in place first.
                let _ = fs::remove_dir_all(&tmp);
                Ok(dest)
            }
            Err(source) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(StoreError::Io { path: dest, source })
            }
        }
    }

    /// Writes the entries of `tree` selected by `files` into the existing directory `dir`;
    /// returns whether anything was written.
    fn write_tree(&self, tree: ObjectId, dir: &Path, files: Files) -> Result<bool> {
        let object = self
            .repo
            .find_tree(tree)
            .map_err(|e| StoreError::object(tree, e))?;
        super::check_content(tree, gix::object::Kind::Tree, &object.data)?;
        let decoded = object.decode().map_err(|e| StoreError::object(tree, e))?;
        let mut wrote = false;
        for entry in &decoded.entries {
            let name = std::str::from_utf8(entry.filename)
                .ok()
                .filter(|n| !n.is_empty() && *n != "." && *n != ".." && !n.contains('/'))
                .ok_or_else(|| {
                    StoreError::object(
                        tree,
                        format!("tree has an unsafe entry name {:?}", entry.filename),
                    )
                })?;
            let path = dir.join(name);
            let id = entry.oid.to_owned();
            let io = |source| StoreError::Io {
                path: path.clone(),
                source,
            };
            let kind = entry.mode.kind();
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
                        .map_err(|e| StoreError::object(id, e))?;
                    super::check_content(id, gix::object::Kind::Blob, &blob.data)?;
                    let mode = if kind == EntryKind::BlobExecutable {
                        0o755
                    } else {
                        0o644
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
                        .map_err(|e| StoreError::object(id, e))?;
                    super::check_content(id, gix::object::Kind::Blob, &blob.data)?;
                    let target = std::str::from_utf8(&blob.data)
                        .map_err(|_| StoreError::object(id, "symlink target is not UTF-8"))?;
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
