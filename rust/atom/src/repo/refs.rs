//! The ref layout of atoms (docs/format.md#ref-layout, docs/format.md#legacy-layouts) and the ref operations the store needs.

use gix::bstr::ByteSlice;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::{FullName, Target};
use gix::ObjectId;

use super::{RepoError, Result};
use crate::id::Label;
use crate::manifest::Version;

/// The ref holding a repository's genesis.
pub const INIT_REF: &str = "refs/ekala/init";
/// Where atom commits are published: `refs/eka/atoms/<label>/<version>`.
pub const ATOMS_PREFIX: &str = "refs/eka/atoms/";
/// Where their metadata goes: `refs/eka/meta/<label>/<version>/{manifest,origin}`.
pub const META_PREFIX: &str = "refs/eka/meta/";
/// The oldest layout: `refs/atoms/<label>/<version>` (read only).
pub const LEGACY_ATOMS_PREFIX: &str = "refs/atoms/";

/// Which layout a published atom ref follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefLayout {
    /// `refs/eka/atoms/<label>/<version>`.
    Current,
    /// `refs/atoms/<label>/<version>`, from format `1`.
    Legacy,
}

/// A published atom version: a ref naming a label and version, and the object it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomRef {
    /// The label in the ref name.
    pub label: Label,
    /// The version in the ref name.
    pub version: Version,
    /// What the ref points at (normally the atom commit).
    pub commit: ObjectId,
    /// The layout the ref follows.
    pub layout: RefLayout,
}

impl AtomRef {
    /// `{"label", "version", "rev"}`, as the CLI and libatom report it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "label": self.label.as_str(),
            "version": self.version.to_string(),
            "rev": self.commit.to_string(),
        })
    }

    /// The full ref name.
    pub fn ref_name(&self) -> String {
        match self.layout {
            RefLayout::Current => atom_ref(&self.label, &self.version),
            RefLayout::Legacy => format!("{LEGACY_ATOMS_PREFIX}{}/{}", self.label, self.version),
        }
    }
}

/// `refs/eka/atoms/<label>/<version>`.
pub fn atom_ref(label: &Label, version: &Version) -> String {
    format!("{ATOMS_PREFIX}{label}/{version}")
}

/// `refs/eka/meta/<label>/<version>/manifest`.
pub fn manifest_ref(label: &Label, version: &Version) -> String {
    format!("{META_PREFIX}{label}/{version}/manifest")
}

/// `refs/eka/meta/<label>/<version>/origin`.
pub fn origin_ref(label: &Label, version: &Version) -> String {
    format!("{META_PREFIX}{label}/{version}/origin")
}

/// `refs/eka/meta/<label>/<version>/signature`: the signed tag of a published atom
/// (docs/format.md#signatures).
pub fn signature_ref(label: &Label, version: &Version) -> String {
    format!("{META_PREFIX}{label}/{version}/signature")
}

/// The prefix under which the atom store keeps the signature tags of a commit:
/// `refs/atom/signatures/<commit>/<tag>` (a mirror's signature ref names one tag; the store keeps
/// every valid one it was served, each under its own id).
pub const STORE_SIGNATURES_PREFIX: &str = "refs/atom/signatures/";

/// `refs/atom/signatures/<commit>/<tag>`.
pub fn store_signature_ref(commit: ObjectId, tag: ObjectId) -> String {
    format!("{STORE_SIGNATURES_PREFIX}{commit}/{tag}")
}

/// What the `<label>/<version>` part of an atom ref names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefAtom {
    /// A valid label and version, written in their one canonical form.
    Atom(Label, Version),
    /// A valid label and version written in another form than the canonical one (a label not in
    /// NFKC form, such as `ﬁle` for `file`): such a ref would shadow, or be shadowed by, the
    /// canonical one, so it is refused.
    NotCanonical(Label, Version),
    /// Not an atom ref (the reference skips these too).
    Invalid,
}

impl RefAtom {
    /// Reads the `label` and `version` parts of a ref name.
    pub fn parse(label: &str, version: &str) -> RefAtom {
        let (Ok(parsed_label), Ok(parsed_version)) = (Label::new(label), Version::parse(version))
        else {
            return RefAtom::Invalid;
        };
        if parsed_label.as_str() == label && parsed_version.to_string() == version {
            RefAtom::Atom(parsed_label, parsed_version)
        } else {
            RefAtom::NotCanonical(parsed_label, parsed_version)
        }
    }
}

/// The atom refs of one label (or of all labels), in both layouts. Refs whose label or version
/// does not parse are skipped, as the reference does; so are refs not in canonical form
/// ([`RefAtom::NotCanonical`], listed by [`non_canonical`]).
pub(super) fn list(repo: &gix::Repository, label: Option<&Label>) -> Result<Vec<AtomRef>> {
    let platform = repo.references().map_err(RepoError::refs)?;
    let mut atoms = Vec::new();
    for (prefix, layout) in [
        (ATOMS_PREFIX, RefLayout::Current),
        (LEGACY_ATOMS_PREFIX, RefLayout::Legacy),
    ] {
        let scan = match label {
            Some(label) => format!("{prefix}{label}/"),
            None => prefix.to_owned(),
        };
        let iter = platform.prefixed(scan.as_str()).map_err(RepoError::refs)?;
        for reference in iter {
            let reference = reference.map_err(RepoError::refs)?;
            let name = reference.name().as_bstr();
            let Ok(name) = name.to_str() else { continue };
            let Some(rest) = name.strip_prefix(prefix) else {
                continue;
            };
            let Some((ref_label, version)) = rest.rsplit_once('/') else {
                continue;
            };
            // Legacy layouts keep `_specs`/`_srcs` refs beside the atoms.
            if ref_label.contains('/') {
                continue;
            }
            let RefAtom::Atom(ref_label, version) = RefAtom::parse(ref_label, version) else {
                continue;
            };
            if label.is_some_and(|l| l != &ref_label) {
                continue;
            }
            let Some(commit) = reference.target().try_id().map(|id| id.to_owned()) else {
                continue;
            };
            atoms.push(AtomRef {
                label: ref_label,
                version,
                commit,
                layout,
            });
        }
    }
    Ok(atoms)
}

/// The full names of the atom refs (both layouts) whose label or version is not written in
/// canonical form ([`RefAtom::NotCanonical`]).
pub(super) fn non_canonical(repo: &gix::Repository) -> Result<Vec<String>> {
    let platform = repo.references().map_err(RepoError::refs)?;
    let mut names = Vec::new();
    for prefix in [ATOMS_PREFIX, LEGACY_ATOMS_PREFIX] {
        for reference in platform.prefixed(prefix).map_err(RepoError::refs)? {
            let reference = reference.map_err(RepoError::refs)?;
            let name = reference.name().as_bstr().to_str_lossy().into_owned();
            let Some((label, version)) = name[prefix.len()..].rsplit_once('/') else {
                continue;
            };
            if matches!(RefAtom::parse(label, version), RefAtom::NotCanonical(..)) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// The object a ref points at, if the ref exists.
///
/// A full name (`refs/…`) is looked up exactly: its loose file, then packed-refs. git's
/// shorthand search (`refs/tags/<name>`, `refs/heads/<name>`, …) would cost several file
/// lookups for every ref that does not exist, and loading an atom asks for several such refs
/// (a publisher's signature ref is rarely in a store).
pub(super) fn target(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>> {
    if !name.starts_with("refs/") {
        return Ok(repo
            .try_find_reference(name)
            .map_err(RepoError::refs)?
            .and_then(|r| r.target().try_id().map(|id| id.to_owned())));
    }
    let full = FullName::try_from(name).map_err(RepoError::refs)?;
    let path = repo.common_dir().join(name);
    match crate::diagnostic::read_small(&path) {
        Ok(contents) => {
            let loose = gix::refs::file::loose::Reference::try_from_path(
                full,
                &contents,
                repo.object_hash(),
            )
            .map_err(RepoError::refs)?;
            return Ok(loose.target.try_id().map(ToOwned::to_owned));
        }
        // A directory of refs (`refs/a` when `refs/a/b` exists) is not a ref itself.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || path.is_dir() => {}
        Err(e) => return Err(RepoError::refs(e)),
    }
    let Some(packed) = repo.refs.cached_packed_buffer().map_err(RepoError::refs)? else {
        return Ok(None);
    };
    let found = packed
        .try_find(full.as_ref())
        .map_err(RepoError::refs)?
        .map(|r| r.target());
    Ok(found)
}

/// The names of the refs directly under `prefix` (which ends in `/`), loose and packed, found by
/// listing the directory and the packed-refs file without reading each loose ref: for refs whose
/// name says what they point at (`refs/atom/signatures/<commit>/<tag>`).
pub(super) fn names_under(repo: &gix::Repository, prefix: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    match std::fs::read_dir(repo.common_dir().join(prefix)) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(RepoError::refs)?;
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    if let Some(name) = entry.file_name().to_str() {
                        // A lock or temporary file of a transaction is not a ref.
                        if !name.ends_with(".lock") {
                            names.push(format!("{prefix}{name}"));
                        }
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(RepoError::refs(e)),
    }
    if let Some(packed) = repo.refs.cached_packed_buffer().map_err(RepoError::refs)? {
        for reference in packed
            .iter_prefixed(prefix.into())
            .map_err(RepoError::refs)?
        {
            let reference = reference.map_err(RepoError::refs)?;
            if let Ok(name) = reference.name.as_bstr().to_str() {
                if !name[prefix.len()..].contains('/') {
                    names.push(name.to_owned());
                }
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Deletes the refs `refs`, each only while it still points at the given object, in one
/// transaction.
pub(super) fn delete(repo: &gix::Repository, refs: &[(String, ObjectId)]) -> Result<()> {
    edit(repo, refs, |id| Change::Delete {
        expected: PreviousValue::MustExistAndMatch(Target::Object(id)),
        log: RefLog::AndReference,
    })
}

/// Creates every ref in one transaction, each with must-not-exist semantics: either all are
/// created or none is (an existing ref, or another process holding a ref's lock, aborts the whole
/// transaction before anything changes).
pub(super) fn create(
    repo: &gix::Repository,
    refs: &[(String, ObjectId)],
    message: &str,
) -> Result<()> {
    edit(repo, refs, |id| Change::Update {
        log: LogChange {
            mode: RefLog::AndReference,
            force_create_reflog: false,
            message: message.into(),
        },
        expected: PreviousValue::MustNotExist,
        new: Target::Object(id),
    })
}

/// Applies `change` (made from each ref's object) to every ref of `refs`, in one transaction.
fn edit(
    repo: &gix::Repository,
    refs: &[(String, ObjectId)],
    change: impl Fn(ObjectId) -> Change,
) -> Result<()> {
    let edits =
        refs.iter()
            .map(|(name, id)| {
                let name: FullName = name.as_str().try_into().map_err(
                    |e: gix::validate::reference::name::Error| RepoError::RefName {
                        name: name.clone(),
                        source: e.into(),
                    },
                )?;
                Ok(RefEdit {
                    change: change(*id),
                    name,
                    deref: false,
                })
            })
            .collect::<Result<Vec<_>>>()?;
    let committer = gix::actor::SignatureRef {
        name: "atom".into(),
        email: "".into(),
        time: "0 +0000",
    };
    repo.edit_references_as(edits, Some(committer))
        .map_err(|e| RepoError::RefUpdate {
            refs: refs.iter().map(|(n, _)| n.clone()).collect(),
            source: e.into(),
        })?;
    Ok(())
}
