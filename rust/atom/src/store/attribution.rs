//! Which mirror each version in the store came from. A set's repository in the store is one
//! identity (its root), but anyone can publish under a root they copied: a fork, or a hostile
//! repository that claims the set's `refs/ekala/init`. So every fetch also records, per mirror,
//! the versions that mirror serves, under `refs/atom/mirrors/<key>/<label>/<version>`, and
//! locking chooses among the versions of the mirrors the manifest declares for the set, never
//! among whatever the store holds.
//!
//! The store's own refs (`refs/eka/atoms/…`) keep the first commit seen for a version. A mirror
//! that serves another commit for a version already there gets its own record (the objects are
//! fetched and verified, the store's refs stay), so the version a declared mirror publishes is
//! never blocked by what another server said first. A mirror that changes a version it served
//! before is refused: published atoms never change.

use crate::id::Label;
use crate::manifest::Version;
use crate::repo::{ObjectId, Repo};
use crate::uri::Aliases;

/// Where the per-mirror records are, in a set's repository.
pub const MIRRORS_PREFIX: &str = "refs/atom/mirrors/";

/// A mirror as the store names it: the URL without credentials and with aliases expanded, or,
/// for a repository on this machine, `file://` and its absolute path; so that `gh:o/r` and
/// `https://github.com/o/r`, or `./repo` and `file:///abs/repo`, are one mirror.
pub fn mirror_name(url: &str, aliases: &Aliases) -> String {
    if let Some(path) = super::fetch::local_path(url) {
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        return format!("file://{}", path.display());
    }
    let url = crate::remote::network_url(url, aliases).unwrap_or_else(|_| url.to_owned());
    crate::uri::without_credentials(&url)
        .trim_end_matches('/')
        .to_owned()
}

/// The key of a mirror in ref names: 16 hex digits of the BLAKE3 hash of its name.
pub fn mirror_key(url: &str, aliases: &Aliases) -> String {
    let hash = blake3::hash(mirror_name(url, aliases).as_bytes());
    hash.to_hex()[..16].to_owned()
}

/// `refs/atom/mirrors/<key>/<label>/<version>`.
pub fn attribution_ref(key: &str, label: &Label, version: &Version) -> String {
    format!("{MIRRORS_PREFIX}{key}/{label}/{version}")
}

/// The commit the mirror with `key` served for `label` `version`, if it served one.
pub fn attributed(
    repo: &Repo,
    key: &str,
    label: &Label,
    version: &Version,
) -> Result<Option<ObjectId>, crate::repo::RepoError> {
    repo.ref_target(&attribution_ref(key, label, version))
}

/// Where the marks of partial versions are, in a set's repository:
/// `refs/atom/partial/<key>/<label>/<version>` names a commit that the mirror with `key` served
/// and of which the store holds only what locking reads (the commit, its trees, its `atom.toml`
/// and `atom.lock`: [`super::FetchOptions::manifests_only`]). Such a version has the mirror's
/// record but none of the store's own refs; it is absent for the evaluator and for
/// [`super::Store::fill_from_lock`], and the next fetch of it receives only the files it lacks
/// and removes the mark.
pub const PARTIAL_PREFIX: &str = "refs/atom/partial/";

/// `refs/atom/partial/<key>/<label>/<version>`.
pub fn partial_ref(key: &str, label: &Label, version: &Version) -> String {
    format!("{PARTIAL_PREFIX}{key}/{label}/{version}")
}

/// The marks of partial versions ([`PARTIAL_PREFIX`]) that name `commit` for `label` `version`.
pub fn partial_marks(
    repo: &Repo,
    label: &Label,
    version: &Version,
    commit: ObjectId,
) -> Result<Vec<(String, ObjectId)>, crate::repo::RepoError> {
    let suffix = format!("/{label}/{version}");
    Ok(repo
        .refs_under(&[PARTIAL_PREFIX])?
        .into_iter()
        .filter(|(name, id)| *id == commit && name.ends_with(&suffix))
        .collect())
}

/// Whether the store holds only the manifest and lock of `commit` for `label` `version`: a mark
/// names it ([`PARTIAL_PREFIX`]), and the store's own atom ref does not (that ref is written only
/// for a version received and verified whole: a mark beside it is one a fetch cut short left).
pub fn is_partial(
    repo: &Repo,
    label: &Label,
    version: &Version,
    commit: ObjectId,
) -> Result<bool, crate::repo::RepoError> {
    Ok(!partial_marks(repo, label, version, commit)?.is_empty()
        && repo.ref_target(&crate::repo::atom_ref(label, version))? != Some(commit))
}

/// Verifies `atom` as the store holds it: whole ([`Repo::verify`]), or, for a partial version
/// ([`is_partial`]), as far as its top tree ([`Repo::verify_top`]): what locking reads.
pub fn verify_held(
    repo: &Repo,
    atom: &crate::repo::AtomRef,
) -> Result<crate::repo::Verified, crate::repo::RepoError> {
    if is_partial(repo, &atom.label, &atom.version, atom.commit)? {
        repo.verify_top(atom)
    } else {
        repo.verify(atom, None)
    }
}

/// Whether some mirror served `commit` for `label` `version` (whichever mirror it was).
pub fn served_by_a_mirror(
    repo: &Repo,
    label: &Label,
    version: &Version,
    commit: ObjectId,
) -> Result<bool, crate::repo::RepoError> {
    let suffix = format!("/{label}/{version}");
    Ok(repo
        .refs_under(&[MIRRORS_PREFIX])?
        .into_iter()
        .any(|(name, id)| id == commit && name.ends_with(&suffix)))
}

/// The versions of `label` that the mirrors with `keys` served, as atom refs (a version two of
/// them served at different commits: the first key's), newest first.
pub fn versions(
    repo: &Repo,
    keys: &[String],
    label: &Label,
) -> Result<Vec<crate::repo::AtomRef>, crate::repo::RepoError> {
    let mut found: Vec<crate::repo::AtomRef> = Vec::new();
    for key in keys {
        let prefix = format!("{MIRRORS_PREFIX}{key}/{label}/");
        for (name, commit) in repo.refs_under(&[prefix.as_str()])? {
            let Ok(version) = Version::parse(&name[prefix.len()..]) else {
                continue;
            };
            if found.iter().any(|a| a.version == version) {
                continue;
            }
            found.push(crate::repo::AtomRef {
                label: label.clone(),
                version,
                commit,
                layout: crate::repo::RefLayout::Current,
            });
        }
    }
    found.sort_by(|a, b| b.version.cmp(&a.version));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mirror_has_one_name() {
        let aliases = Aliases::default();
        assert_eq!(
            mirror_name("gh:owner/repo", &aliases),
            mirror_name("https://github.com/owner/repo/", &aliases)
        );
        assert_eq!(
            mirror_name("https://u:secret@h.example/r", &aliases),
            "https://h.example/r"
        );
        assert_eq!(mirror_name("/srv/x", &aliases), "file:///srv/x");
        assert_eq!(mirror_name("file:///srv/x", &aliases), "file:///srv/x");
        assert_ne!(
            mirror_key("https://h.example/a", &aliases),
            mirror_key("https://h.example/b", &aliases)
        );
    }
}
