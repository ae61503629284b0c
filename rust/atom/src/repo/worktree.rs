//! Comparing an atom directory of a commit with the same directory in the working tree: publish
//! reads the commit, and says so when the files someone just edited are not what it publishes.

use std::fs;
use std::path::Path;

use gix::objs::tree::EntryKind;
use gix::ObjectId;

use super::{Repo, RepoError, Result};

impl Repo {
    /// The files below `path` (relative to the work tree) whose state in the working tree differs
    /// from the tree `tree` of a commit: `name (modified)`, `name (deleted)`, `name (not
    /// committed)`, relative to `path`, sorted. Empty for a bare repository or when `path` is not
    /// in the working tree at all.
    pub fn worktree_changes(&self, tree: ObjectId, path: &Path) -> Result<Vec<String>> {
        let Some(workdir) = self.repo.workdir() else {
            return Ok(Vec::new());
        };
        let dir = workdir.join(path);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut changes = Vec::new();
        self.compare_dir(tree, &dir, "", &mut changes)?;
        changes.sort();
        Ok(changes)
    }

    fn compare_dir(
        &self,
        tree: ObjectId,
        dir: &Path,
        prefix: &str,
        changes: &mut Vec<String>,
    ) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| RepoError::Io { path, source }
        };
        let object = self
            .repo
            .find_tree(tree)
            .map_err(|e| RepoError::object(tree, e))?;
        let decoded = object.decode().map_err(|e| RepoError::object(tree, e))?;
        let mut committed = std::collections::BTreeSet::new();
        for entry in &decoded.entries {
            let name = String::from_utf8_lossy(entry.filename).into_owned();
            let shown = format!("{prefix}{name}");
            let full = dir.join(&name);
            committed.insert(name);
            let Ok(metadata) = fs::symlink_metadata(&full) else {
                changes.push(format!("{shown} (deleted)"));
                continue;
            };
            let kind = metadata.file_type();
            let same = match entry.mode.kind() {
                EntryKind::Tree if kind.is_dir() => {
                    self.compare_dir(entry.oid.to_owned(), &full, &format!("{shown}/"), changes)?;
                    true
                }
                EntryKind::Blob | EntryKind::BlobExecutable if kind.is_file() => {
                    use std::os::unix::fs::PermissionsExt;
                    let executable = metadata.permissions().mode() & 0o111 != 0;
                    let data = fs::read(&full).map_err(io(&full))?;
                    executable == (entry.mode.kind() == EntryKind::BlobExecutable)
                        && blob_id(entry.oid, &data)? == entry.oid
                }
                EntryKind::Link if kind.is_symlink() => {
                    use std::os::unix::ffi::OsStrExt;
                    let target = fs::read_link(&full).map_err(io(&full))?;
                    blob_id(entry.oid, target.as_os_str().as_bytes())? == entry.oid
                }
                // A submodule: its working copy is another repository's business.
                EntryKind::Commit => true,
                _ => false,
            };
            if !same {
                changes.push(format!("{shown} (modified)"));
            }
        }
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !committed.contains(&name) {
                changes.push(format!("{prefix}{name} (not committed)"));
            }
        }
        Ok(())
    }
}

/// The id `data` has as a blob, in the hash kind of `like`.
fn blob_id(like: &gix::oid, data: &[u8]) -> Result<ObjectId> {
    gix::objs::compute_hash(like.kind(), gix::object::Kind::Blob, data)
        .map_err(|e| RepoError::object(like.to_owned(), e))
}
