//! The content digest of a git tree (see [`crate::digest`]), read through gix.

use std::collections::HashMap;

use gix::ObjectId;

use super::{EntryKind, Repo, RepoError, Result};
use crate::digest::{file_digest, ContentDigest, DigestError, Kind, TreeHasher};

/// A directory being hashed: its path (empty or ending with `/`), its entries, the next one to
/// look at, and the entries hashed so far.
struct Frame {
    id: ObjectId,
    prefix: String,
    entries: Vec<gix::objs::tree::Entry>,
    next: usize,
    hasher: TreeHasher,
}

impl Repo {
    /// The content digest of the tree `tree` (docs/format.md#content-digest): a BLAKE3 hash of
    /// its names, kinds, file contents and symlink targets, independent of git's object ids.
    /// A tree holding a submodule, a refused name or two entries of one name has none
    /// ([`RepoError::Digest`]). Each distinct object is read and hashed once.
    pub fn tree_digest(&self, tree: ObjectId) -> Result<ContentDigest> {
        let mut trees: HashMap<ObjectId, ContentDigest> = HashMap::new();
        let mut blobs: HashMap<(ObjectId, Kind), ContentDigest> = HashMap::new();
        let mut stack = vec![self.digest_frame(tree, String::new())?];
        loop {
            let frame = stack
                .last_mut()
                .expect("the stack holds the top tree until it is done");
            let Some(entry) = frame.entries.get(frame.next) else {
                let frame = stack.pop().expect("a frame was just looked at");
                let digest = frame
                    .hasher
                    .finish()
                    .map_err(|e| RepoError::Digest(e.below(&frame.prefix)))?;
                trees.insert(frame.id, digest);
                match stack.last_mut() {
                    None => return Ok(digest),
                    Some(parent) => {
                        let name = &parent.entries[parent.next].filename;
                        parent.hasher.push(name, Kind::Directory, digest);
                        parent.next += 1;
                        continue;
                    }
                }
            };
            let kind = match entry.mode.kind() {
                EntryKind::Tree => Kind::Directory,
                EntryKind::Blob => Kind::File,
                EntryKind::BlobExecutable => Kind::Executable,
                EntryKind::Link => Kind::Symlink,
                EntryKind::Commit => {
                    let path = String::from_utf8_lossy(&entry.filename).into_owned();
                    return Err(RepoError::Digest(
                        DigestError::Submodule { path }.below(&frame.prefix),
                    ));
                }
            };
            let id = entry.oid;
            if kind == Kind::Directory {
                if let Some(digest) = trees.get(&id) {
                    frame.hasher.push(&entry.filename, kind, *digest);
                    frame.next += 1;
                } else {
                    let prefix = format!("{}{}/", frame.prefix, entry.filename);
                    let child = self.digest_frame(id, prefix)?;
                    stack.push(child);
                }
                continue;
            }
            let digest = match blobs.get(&(id, kind)) {
                Some(digest) => *digest,
                None => {
                    let blob = self
                        .repo
                        .find_blob(id)
                        .map_err(|e| RepoError::object(id, e))?;
                    let digest = file_digest(kind, &blob.data);
                    blobs.insert((id, kind), digest);
                    digest
                }
            };
            frame.hasher.push(&entry.filename, kind, digest);
            frame.next += 1;
        }
    }

    /// The frame of the directory `id` at `prefix`, its entries read.
    fn digest_frame(&self, id: ObjectId, prefix: String) -> Result<Frame> {
        let object = self
            .repo
            .find_tree(id)
            .map_err(|e| RepoError::object(id, e))?;
        let decoded = object.decode().map_err(|e| RepoError::object(id, e))?;
        let entries = decoded
            .entries
            .iter()
            .map(|entry| gix::objs::tree::Entry::from(*entry))
            .collect();
        Ok(Frame {
            id,
            prefix,
            entries,
            next: 0,
            hasher: TreeHasher::new(),
        })
    }
}
