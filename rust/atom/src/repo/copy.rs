//! Copying objects and listing refs between repositories (what a fetch is made of), with gix and
//! without a `git` process.

use gix::bstr::ByteSlice;
use gix::ObjectId;

use super::pack::PackWriter;
use super::{check_content, Repo, RepoError, Result};

impl Repo {
    /// The objects that the commits `tips` are made of (each commit, its tree, and what that
    /// tree holds, recursively; a submodule's commit is not part of it) that this repository
    /// lacks, found by walking what it has: after a fetch that left the blobs out, exactly the
    /// objects still to ask for. A tree it lacks is listed, not walked (asking for it brings
    /// what it holds).
    pub fn missing_objects(&self, tips: &[ObjectId]) -> Result<Vec<ObjectId>> {
        let (mut missing, blobs) = self.missing_by_kind(tips)?;
        missing.extend(blobs);
        Ok(missing)
    }

    /// [`Repo::missing_objects`], as the commits and trees, then the other objects (blobs).
    pub fn missing_by_kind(&self, tips: &[ObjectId]) -> Result<(Vec<ObjectId>, Vec<ObjectId>)> {
        let mut missing = Vec::new();
        let mut blobs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut trees = Vec::new();
        for &commit in tips {
            if !self.has_object(commit) {
                missing.push(commit);
                continue;
            }
            trees.push(self.commit_tree(commit)?);
        }
        while let Some(tree) = trees.pop() {
            if !seen.insert(tree) {
                continue;
            }
            if !self.has_object(tree) {
                missing.push(tree);
                continue;
            }
            let object = self
                .repo
                .find_tree(tree)
                .map_err(|e| RepoError::object(tree, e))?;
            for entry in object
                .decode()
                .map_err(|e| RepoError::object(tree, e))?
                .entries
            {
                let id = entry.oid.to_owned();
                match entry.mode.kind() {
                    gix::objs::tree::EntryKind::Tree => trees.push(id),
                    gix::objs::tree::EntryKind::Commit => {}
                    _ if !self.has_object(id) && seen.insert(id) => blobs.push(id),
                    _ => {}
                }
            }
        }
        Ok((missing, blobs))
    }

    /// The refs under each of `prefixes` that point directly at an object, by full name.
    pub fn refs_under(&self, prefixes: &[&str]) -> Result<Vec<(String, ObjectId)>> {
        let platform = self.repo.references().map_err(RepoError::refs)?;
        let mut refs = Vec::new();
        for prefix in prefixes {
            for reference in platform.prefixed(*prefix).map_err(RepoError::refs)? {
                let reference = reference.map_err(RepoError::refs)?;
                let Some(id) = reference.target().try_id().map(|id| id.to_owned()) else {
                    continue;
                };
                let Ok(name) = reference.name().as_bstr().to_str() else {
                    continue;
                };
                refs.push((name.to_owned(), id));
            }
        }
        Ok(refs)
    }

    /// What every ref of the repository points at, peeled (refs that do not peel are skipped).
    pub fn ref_tips(&self) -> Result<Vec<ObjectId>> {
        let mut tips = Vec::new();
        let platform = self.repo.references().map_err(RepoError::refs)?;
        for reference in platform.all().map_err(RepoError::refs)? {
            let mut reference = reference.map_err(RepoError::refs)?;
            if let Ok(id) = reference.peel_to_id() {
                tips.push(id.detach());
            }
        }
        Ok(tips)
    }

    /// Copies every object reachable from `tips` that `dest` lacks into `dest` (as one pack),
    /// checking that each object's content matches its id; returns how many were copied. With
    /// `history` false, a commit's parents are not followed (atom commits have none: a commit
    /// that claims some is rejected later, without its history having been copied).
    /// `progress` is called with the number copied so far, now and then.
    pub fn copy_objects_to(
        &self,
        dest: &Repo,
        tips: Vec<ObjectId>,
        history: bool,
        progress: &mut dyn FnMut(usize),
    ) -> Result<usize> {
        let mut objects = 0;
        let mut stack = tips;
        let mut seen = gix::hashtable::HashSet::default();
        let mut pack = PackWriter::new(dest.repo.objects.store_ref().path())?;
        // One lookup that may load the destination's pack indexes; after it, misses (every
        // object of a first fetch) are answered from what is loaded instead of listing the pack
        // directory again each time. A wrong miss would only copy an object twice.
        if let Some(first) = stack.first() {
            dest.repo.has_object(first);
        }
        while let Some(id) = stack.pop() {
            if !seen.insert(id) || dest.repo.objects.exists_without_refresh(&id) {
                continue;
            }
            let object = self
                .repo
                .find_object(id)
                .map_err(|e| RepoError::object(id, e))?;
            match object.kind {
                gix::object::Kind::Commit => {
                    let commit =
                        gix::objs::CommitRef::from_bytes(&object.data, gix::hash::Kind::Sha1)
                            .map_err(|e| RepoError::object(id, e))?;
                    stack.push(commit.tree());
                    if history {
                        stack.extend(commit.parents());
                    }
                }
                gix::object::Kind::Tree => {
                    let tree = gix::objs::TreeRef::from_bytes(&object.data, gix::hash::Kind::Sha1)
                        .map_err(|e| RepoError::object(id, e))?;
                    // Submodule commits are not part of this repository.
                    stack.extend(
                        tree.entries
                            .iter()
                            .filter(|e| !e.mode.is_commit())
                            .map(|e| e.oid.to_owned()),
                    );
                }
                gix::object::Kind::Tag => {
                    let tag = gix::objs::TagRef::from_bytes(&object.data, gix::hash::Kind::Sha1)
                        .map_err(|e| RepoError::object(id, e))?;
                    stack.push(tag.target());
                }
                gix::object::Kind::Blob => {}
            }
            check_content(id, object.kind, &object.data)?;
            pack.add(id, object.kind, &object.data)?;
            objects += 1;
            if objects % 1000 == 0 {
                progress(objects);
            }
        }
        pack.finish()?;
        progress(objects);
        Ok(objects)
    }
}
