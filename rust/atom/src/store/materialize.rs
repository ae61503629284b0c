//! Writing an atom's tree out of git into a content-addressed directory, once.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use gix::objs::tree::EntryKind;
use gix::ObjectId;

use super::{Result, Store, StoreError};

impl Store {
    /// The directory `<cache>/<tree id>` holding the files of `tree`, written on first use.
    ///
    /// The tree is written under a temporary name in `cache` and renamed into place, so a reader
    /// never sees half a tree; when several processes materialise the same tree at once, one
    /// rename wins and the others discard their copy.
    pub fn materialize(&self, tree: ObjectId, cache: &Path) -> Result<PathBuf> {
        let dest = cache.join(tree.to_string());
        if dest.is_dir() {
            return Ok(dest);
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        fs::create_dir_all(cache).map_err(io(cache))?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = cache.join(format!(
            ".tmp-{tree}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let written = fs::create_dir(&tmp)
            .map_err(io(&tmp))
            .and_then(|()| self.write_tree(tree, &tmp));
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

    fn write_tree(&self, tree: ObjectId, dir: &Path) -> Result<()> {
        let object = self
            .repo
            .find_tree(tree)
            .map_err(|e| StoreError::object(tree, e))?;
        super::check_content(tree, gix::object::Kind::Tree, &object.data)?;
        let decoded = object.decode().map_err(|e| StoreError::object(tree, e))?;
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
            match entry.mode.kind() {
                EntryKind::Tree => {
                    fs::create_dir(&path).map_err(io)?;
                    self.write_tree(id, &path)?;
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    let blob = self
                        .repo
                        .find_blob(id)
                        .map_err(|e| StoreError::object(id, e))?;
                    super::check_content(id, gix::object::Kind::Blob, &blob.data)?;
                    let mut file = fs::File::create(&path).map_err(io)?;
                    file.write_all(&blob.data).map_err(io)?;
                    let mode = if entry.mode.kind() == EntryKind::BlobExecutable {
                        0o755
                    } else {
                        0o644
                    };
                    file.set_permissions(fs::Permissions::from_mode(mode))
                        .map_err(io)?;
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
                }
                // A submodule's content is not part of the atom.
                EntryKind::Commit => fs::create_dir(&path).map_err(io)?,
            }
        }
        Ok(())
    }
}
