//! Checking that a published atom is what it claims to be (docs/format.md#verification): the commit has the
//! exact format of a publish, its manifest agrees with the ref, its metadata refs agree with it,
//! its origin descends from the repository's genesis, and its id is the expected one.

use gix::bstr::{BStr, ByteSlice};
use gix::ObjectId;

use super::refs::{manifest_ref, origin_ref, target, RefLayout};
use super::{AtomRef, Repo, RepoError, Result};
use crate::diagnostic::SourceError;
use crate::id::{AtomDigest, AtomId, Label, Root};
use crate::manifest::{Manifest, Package, Version, MANIFEST_FILE};

/// The format of a verified atom commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitFormat {
    /// `format pre1`: what is published today (docs/format.md#the-atom-commit).
    Pre1,
    /// `format pre1.0`, with a `path` header (docs/format.md#legacy-layouts).
    Pre1_0,
    /// `format 1`, under `refs/atoms/` (docs/format.md#legacy-layouts).
    Legacy1,
}

/// What verification established about a published atom.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The atom commit.
    pub commit: ObjectId,
    /// Its tree: the atom's content.
    pub tree: ObjectId,
    /// The source commit it was published from.
    pub origin: ObjectId,
    /// Whether the origin commit is present here and descends from the genesis.
    pub origin_checked: bool,
    /// The commit's format.
    pub format: CommitFormat,
    /// The atom's id in this repository.
    pub id: AtomDigest,
    /// The `[package]` table of its manifest.
    pub package: Package,
    /// The whole manifest, when it is a valid one (its `[package]` is `package`); `None` when
    /// only its `[package]` table is (what publishing requires of it).
    pub parsed: Option<Manifest>,
    /// Its manifest's text (`atom.toml` in the tree).
    pub manifest: String,
    /// The `atom.lock` blob at the top of its tree, if there is one.
    pub lock: Option<ObjectId>,
}

impl Verified {
    /// `{label, version, rev, tree, origin, origin_checked, id}` of the verified `atom`: what
    /// `atom verify --json` and libatom's `atom_repo_verify` report.
    pub fn to_json(&self, atom: &super::AtomRef) -> serde_json::Value {
        let mut json = atom.to_json();
        json["tree"] = self.tree.to_string().into();
        json["origin"] = self.origin.to_string().into();
        json["origin_checked"] = self.origin_checked.into();
        json["id"] = self.id.to_string().into();
        json
    }
}

impl VerifyError {
    /// Whether the message says itself that this may be tampering (a check only an altered
    /// repository fails), rather than an atom that was never valid.
    pub fn says_tampering(&self) -> bool {
        match self {
            VerifyError::NotRegular { .. }
            | VerifyError::ManifestRef { .. }
            | VerifyError::OriginRef { .. }
            | VerifyError::ForeignOrigin { .. }
            | VerifyError::UnsafeEntry { .. }
            | VerifyError::Id { .. } => true,
            VerifyError::NotACommit(_)
            | VerifyError::Format(_)
            | VerifyError::NoManifest
            | VerifyError::ManifestNotText
            | VerifyError::InvalidManifest(_)
            | VerifyError::Mismatch { .. } => false,
        }
    }
}

/// Why a published atom failed verification. Each check has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The ref points at something other than a commit (`blob`, `tree` or `tag`).
    #[error("the ref points at a {0}, not at an atom commit")]
    NotACommit(&'static str),
    /// The commit is not in any known atom format.
    #[error("the commit is not an atom commit: {0}")]
    Format(FormatError),
    /// The atom's tree has no `atom.toml`.
    #[error("the atom's tree has no atom.toml blob")]
    NoManifest,
    /// `atom.toml` or `atom.lock` in the tree is not a regular blob.
    #[error("the atom's {file} is {kind} in its tree, not a regular file (possible tampering)")]
    NotRegular {
        /// The file.
        file: &'static str,
        /// What it is instead (`a symlink`, `a submodule`, `a directory`).
        kind: &'static str,
    },
    /// The manifest in the tree is not UTF-8.
    #[error("the atom's atom.toml is invalid: it is not UTF-8")]
    ManifestNotText,
    /// The manifest in the tree is invalid.
    #[error("the atom's atom.toml is invalid: {0}")]
    InvalidManifest(Box<SourceError>),
    /// The manifest names another label or version than the ref.
    #[error("the ref says {} {}, but its atom.toml says {} {}", expected.0, expected.1, found.0, found.1)]
    Mismatch {
        /// Label and version from the ref.
        expected: Box<(Label, Version)>,
        /// Label and version from the manifest.
        found: Box<(Label, Version)>,
    },
    /// The manifest ref points elsewhere than the tree's `atom.toml`.
    #[error("refs/eka/meta/.../manifest points at {found}, but the atom's atom.toml is {expected} (possible tampering)")]
    ManifestRef {
        /// The tree's blob.
        expected: ObjectId,
        /// The ref's target.
        found: ObjectId,
    },
    /// The origin ref names another commit than the atom commit's `origin` header.
    #[error("refs/eka/meta/.../origin points at {found}, but the atom commit's origin header names {expected} (possible tampering)")]
    OriginRef {
        /// The commit the header names.
        expected: ObjectId,
        /// The ref's target.
        found: ObjectId,
    },
    /// The origin commit descends from another root.
    #[error("the origin commit {origin} descends from {found}, not from this repository's genesis {genesis} (possible tampering)")]
    ForeignOrigin {
        /// The origin commit.
        origin: ObjectId,
        /// Its root.
        found: Root,
        /// The repository's genesis.
        genesis: Root,
    },
    /// An entry of the atom's tree has a name no atom may have (`.git` in any spelling, `..`,
    /// control characters; see [`super::entry_name`]).
    #[error("its tree has an entry {path:?}, which is refused: {why} (possible tampering)")]
    UnsafeEntry {
        /// The entry's path in the tree (lossily decoded).
        path: String,
        /// Why it is refused.
        why: super::entry_name::UnsafeName,
    },
    /// The id differs from the one expected (e.g. in a lock).
    #[error(
        "its id in this repository is {found}, not the expected {expected} (possible tampering)"
    )]
    Id {
        /// The expected id.
        expected: AtomDigest,
        /// The computed id.
        found: AtomDigest,
    },
}

/// How a commit differs from every atom commit format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The commit object does not parse.
    #[error("it does not parse: {0}")]
    Unparsable(String),
    /// It has parents.
    #[error("it has parents; atom commits are orphans")]
    HasParents,
    /// The header naming the source commit (`origin`, or `src` in format 1) is not a commit id.
    #[error("its {0} header is not a 40-digit hex commit id")]
    BadOrigin(&'static str),
    /// An author or committer line does not parse.
    #[error("{0}")]
    Signature(String),
    /// The author or committer is not empty at time 0.
    #[error("its author and committer are not empty with time 0 +0000")]
    NotAnonymous,
    /// It has an `encoding` header.
    #[error("it has an encoding header")]
    Encoding,
    /// The message is not the one its format prescribes.
    #[error("its message is {:?}, expected {expected:?}", BStr::new(.found))]
    Message {
        /// The message found.
        found: Vec<u8>,
        /// The message expected.
        expected: String,
    },
    /// The headers are not those of any format.
    #[error("its headers are {found:?}, expected `origin <commit>` then `format pre1`")]
    Headers {
        /// Each header, `name value`.
        found: Vec<String>,
    },
}

impl Repo {
    /// Verifies a published atom; `expected_id` (e.g. from a lock) is checked when given.
    pub fn verify(&self, atom: &AtomRef, expected_id: Option<&AtomDigest>) -> Result<Verified> {
        self.verify_with(atom, expected_id, true)
    }

    /// Verifies an atom pinned by a lock: as [`Repo::verify`] with the expected id, except that
    /// the origin commit's ancestry is not walked (`origin_checked` is false). The walk costs
    /// the length of the history, and the lock already pins the commit and the id; `atom verify`
    /// and `atom lock` do the full check.
    pub fn verify_pinned(&self, atom: &AtomRef, expected_id: &AtomDigest) -> Result<Verified> {
        self.verify_with(atom, Some(expected_id), false)
    }

    /// Verifies what a version of which only the commit, its top tree and its manifest are here
    /// (fetched to lock it) can show: as [`Repo::verify`], without reading the tree below its top
    /// level (the names in it are checked when the version is received whole) and without
    /// walking the origin's ancestry.
    pub fn verify_top(&self, atom: &AtomRef) -> Result<Verified> {
        self.verify_with(atom, None, false)
    }

    fn verify_with(
        &self,
        atom: &AtomRef,
        expected_id: Option<&AtomDigest>,
        walk_origin: bool,
    ) -> Result<Verified> {
        let facts = self.commit_facts(atom)?;
        self.check_facts(atom, facts, expected_id, walk_origin, None)
    }

    /// Loads an atom pinned by a lock: [`Repo::verify_pinned`], the texts of its `atom.lock`
    /// and `atom.integrity` (when it has them) and its tree's content digest. What the commit's
    /// objects say is taken from `memory` when it remembers the commit, and given to it
    /// otherwise, once it passed the checks: a commit's id names its content, so this never
    /// changes. `ref_target` is what the atom's own ref names, as the caller read it.
    ///
    /// The id and the label and version asked for are checked every time. The metadata refs
    /// (manifest, origin) are checked when the commit is first read: they decide nothing that
    /// is evaluated, and `atom store verify` checks them again.
    pub fn load_pinned(
        &self,
        atom: &AtomRef,
        expected_id: &AtomDigest,
        ref_target: Option<ObjectId>,
        memory: Option<&dyn CommitMemory>,
    ) -> Result<Pinned> {
        let remembered = memory
            .and_then(|m| m.get(atom.commit))
            .and_then(|bytes| Remembered::decode(&bytes));
        let (remembered, first_read) = match remembered {
            Some(remembered) => (remembered, false),
            None => {
                let facts = self.commit_facts(atom)?;
                let digest = self.tree_digest(facts.tree)?;
                let lock_text = facts.lock.map(|id| self.read_text(id)).transpose()?;
                let integrity = match self.entry(
                    facts.tree,
                    std::path::Path::new(crate::lock::integrity::INTEGRITY_FILE),
                )? {
                    Some(entry) if entry.is_blob() => Some(self.read_text(entry.id)?),
                    _ => None,
                };
                let remembered = Remembered {
                    facts,
                    lock_text,
                    integrity,
                    digest,
                };
                (remembered, true)
            }
        };
        let record = first_read.then(|| remembered.encode());
        let Remembered {
            facts,
            lock_text,
            integrity,
            digest,
        } = remembered;
        let described =
            first_read && atom.layout == RefLayout::Current && ref_target == Some(atom.commit);
        let verified = self.check_facts(atom, facts, Some(expected_id), false, Some(described))?;
        if let (Some(memory), Some(record)) = (memory, record) {
            memory.put(atom.commit, &record);
        }
        Ok(Pinned {
            verified,
            lock_text,
            integrity,
            digest,
        })
    }

    /// What `atom`'s commit and the top of its tree say, each object checked against its id,
    /// and the commit's format and manifest checked against `atom`.
    fn commit_facts(&self, atom: &AtomRef) -> Result<CommitFacts> {
        let fail = |problem: VerifyError| RepoError::Verify {
            atom: format!("{}-{}", atom.label, atom.version),
            problem,
        };
        let object = self
            .repo
            .find_object(atom.commit)
            .map_err(|e| RepoError::object(atom.commit, e))?;
        super::check_content(atom.commit, object.kind, &object.data)?;
        if object.kind != gix::object::Kind::Commit {
            return Err(fail(VerifyError::NotACommit(kind_name(object.kind))));
        }
        let commit = gix::objs::CommitRef::from_bytes(&object.data, gix::hash::Kind::Sha1)
            .map_err(|e| fail(VerifyError::Format(FormatError::Unparsable(e.to_string()))))?;
        let (format, origin) =
            commit_format(&commit, atom).map_err(|e| fail(VerifyError::Format(e)))?;
        let tree = commit.tree();

        let tree_object = self
            .repo
            .find_tree(tree)
            .map_err(|e| RepoError::object(tree, e))?;
        super::check_content(tree, gix::object::Kind::Tree, &tree_object.data)?;
        // The files atom reads itself must be regular blobs: a symlink's "content" is its target,
        // and a publish never makes one (it refuses such atoms).
        let regular = |name: &'static str| match tree_object.find_entry(name) {
            None => Ok(None),
            Some(entry) if entry.mode().is_blob() => Ok(Some(entry.object_id())),
            Some(entry) => Err(fail(VerifyError::NotRegular {
                file: name,
                kind: entry_kind_text(entry.mode().kind()),
            })),
        };
        let manifest_id = regular(MANIFEST_FILE)?.ok_or_else(|| fail(VerifyError::NoManifest))?;
        let lock = regular(crate::lock::LOCK_FILE)?;
        let manifest = self.read_text(manifest_id).map_err(|e| match e {
            RepoError::NotText(_) => fail(VerifyError::ManifestNotText),
            other => other,
        })?;
        Ok(CommitFacts {
            format,
            origin,
            tree,
            manifest_id,
            manifest,
            lock,
        })
    }

    /// [`Repo::verify`] of an atom whose commit says `facts`: its manifest, its metadata refs,
    /// its origin (walked when `walk_origin`) and its id. The metadata refs are checked when
    /// `described` (whether the atom's ref names this commit) is true, or, when it is `None`,
    /// when the atom's ref, looked up here, names this commit.
    fn check_facts(
        &self,
        atom: &AtomRef,
        facts: CommitFacts,
        expected_id: Option<&AtomDigest>,
        walk_origin: bool,
        described: Option<bool>,
    ) -> Result<Verified> {
        let fail = |problem: VerifyError| RepoError::Verify {
            atom: format!("{}-{}", atom.label, atom.version),
            problem,
        };
        let CommitFacts {
            format,
            origin,
            tree,
            manifest_id,
            manifest: text,
            lock,
        } = facts;
        // Parsed whole once here for whoever loads the atom next; the check itself needs only
        // its `[package]` table.
        let parsed = Manifest::parse(&text, MANIFEST_FILE).ok();
        let package = match &parsed {
            Some(manifest) => manifest.package.clone(),
            None => Package::parse_only(&text, MANIFEST_FILE)
                .map_err(|e| fail(VerifyError::InvalidManifest(Box::new(e))))?,
        };
        if package.label != atom.label || package.version != atom.version {
            return Err(fail(VerifyError::Mismatch {
                expected: Box::new((atom.label.clone(), atom.version.clone())),
                found: Box::new((package.label.clone(), package.version.clone())),
            }));
        }
        // The metadata refs describe the commit the atom ref names: in an atom store, another
        // mirror's commit for the same version (`store::attribution`) is checked by itself.
        // (`described` says it when the caller knows, or is not to look.)
        let described = match described {
            Some(described) => described,
            None => {
                atom.layout == RefLayout::Current
                    && target(&self.repo, &atom.ref_name())? == Some(atom.commit)
            }
        };
        if described {
            if let Some(found) = target(&self.repo, &manifest_ref(&atom.label, &atom.version))? {
                if found != manifest_id {
                    return Err(fail(VerifyError::ManifestRef {
                        expected: manifest_id,
                        found,
                    }));
                }
            }
            if let Some(found) = target(&self.repo, &origin_ref(&atom.label, &atom.version))? {
                if found != origin {
                    return Err(fail(VerifyError::OriginRef {
                        expected: origin,
                        found,
                    }));
                }
            }
        }

        if walk_origin {
            if let Some((path, why)) = self.unsafe_entry(tree)? {
                return Err(fail(VerifyError::UnsafeEntry { path, why }));
            }
        }

        let genesis = self.genesis()?;
        let origin_object = if walk_origin {
            self.repo
                .try_find_object(origin)
                .map_err(|e| RepoError::object(origin, e))?
        } else {
            None
        };
        let origin_checked = match origin_object {
            Some(object) if object.kind == gix::object::Kind::Commit => {
                let found = self.root_of(origin)?;
                if found != genesis {
                    return Err(fail(VerifyError::ForeignOrigin {
                        origin,
                        found,
                        genesis,
                    }));
                }
                true
            }
            _ => false,
        };
        let id = AtomId::new(genesis, atom.label.clone()).digest();
        if let Some(expected) = expected_id {
            if *expected != id {
                return Err(fail(VerifyError::Id {
                    expected: *expected,
                    found: id,
                }));
            }
        }
        Ok(Verified {
            commit: atom.commit,
            tree,
            origin,
            origin_checked,
            format,
            id,
            package,
            parsed,
            manifest: text,
            lock,
        })
    }
}

/// An atom pinned by a lock, loaded by [`Repo::load_pinned`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pinned {
    /// What verifying it established.
    pub verified: Verified,
    /// The text of its `atom.lock`, if it has one.
    pub lock_text: Option<String>,
    /// The text of its `atom.integrity`, if it has one (a blob at the top of its tree).
    pub integrity: Option<String>,
    /// The content digest of its tree (docs/format.md#content-digest).
    pub digest: crate::digest::ContentDigest,
}

/// Remembers what atom commits' objects say ([`Repo::load_pinned`]), as opaque records: the
/// atom store keeps one so that a warm evaluation reads no object of the atoms it loads.
pub trait CommitMemory {
    /// The record kept for `commit`, if any.
    fn get(&self, commit: ObjectId) -> Option<Vec<u8>>;
    /// Keeps `record` for `commit` (best effort).
    fn put(&self, commit: ObjectId, record: &[u8]);
}

/// What an atom commit's own objects say, each checked against its id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CommitFacts {
    format: CommitFormat,
    origin: ObjectId,
    tree: ObjectId,
    manifest_id: ObjectId,
    manifest: String,
    lock: Option<ObjectId>,
}

/// A [`CommitMemory`] record: the facts and the texts [`Repo::load_pinned`] reads, and the
/// tree's content digest.
struct Remembered {
    facts: CommitFacts,
    lock_text: Option<String>,
    integrity: Option<String>,
    digest: crate::digest::ContentDigest,
}

/// The record's layout; a record of another layout (or damaged) is read from the objects again.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record<'a> {
    version: u32,
    format: &'a str,
    origin: &'a str,
    tree: &'a str,
    manifest_id: &'a str,
    manifest: std::borrow::Cow<'a, str>,
    lock: Option<&'a str>,
    lock_text: Option<std::borrow::Cow<'a, str>>,
    integrity: Option<std::borrow::Cow<'a, str>>,
    digest: &'a str,
}

const RECORD_VERSION: u32 = 2;

impl Remembered {
    fn encode(&self) -> Vec<u8> {
        let facts = &self.facts;
        let ids = [facts.origin, facts.tree, facts.manifest_id].map(|id| id.to_string());
        let digest = self.digest.to_string();
        let lock = facts.lock.map(|id| id.to_string());
        let record = Record {
            version: RECORD_VERSION,
            format: match facts.format {
                CommitFormat::Pre1 => "pre1",
                CommitFormat::Pre1_0 => "pre1.0",
                CommitFormat::Legacy1 => "1",
            },
            origin: &ids[0],
            tree: &ids[1],
            manifest_id: &ids[2],
            manifest: facts.manifest.as_str().into(),
            lock: lock.as_deref(),
            lock_text: self.lock_text.as_deref().map(Into::into),
            integrity: self.integrity.as_deref().map(Into::into),
            digest: &digest,
        };
        serde_json::to_vec(&record).unwrap_or_default()
    }

    fn decode(bytes: &[u8]) -> Option<Remembered> {
        let record: Record<'_> = serde_json::from_slice(bytes).ok()?;
        let id = |hex: &str| ObjectId::from_hex(hex.as_bytes()).ok();
        if record.version != RECORD_VERSION || record.lock.is_some() != record.lock_text.is_some() {
            return None;
        }
        let facts = CommitFacts {
            format: match record.format {
                "pre1" => CommitFormat::Pre1,
                "pre1.0" => CommitFormat::Pre1_0,
                "1" => CommitFormat::Legacy1,
                _ => return None,
            },
            origin: id(record.origin)?,
            tree: id(record.tree)?,
            manifest_id: id(record.manifest_id)?,
            manifest: record.manifest.into_owned(),
            lock: match record.lock {
                Some(hex) => Some(id(hex)?),
                None => None,
            },
        };
        Some(Remembered {
            facts,
            lock_text: record.lock_text.map(|t| t.into_owned()),
            integrity: record.integrity.map(|t| t.into_owned()),
            digest: record.digest.parse().ok()?,
        })
    }
}

impl Repo {
    /// The first entry under `tree` whose name is refused (see [`super::entry_name`]), with its
    /// path. Each distinct tree is read once, so a tree that names one subtree many times at
    /// many levels costs its distinct objects, not its paths.
    fn unsafe_entry(
        &self,
        tree: ObjectId,
    ) -> Result<Option<(String, super::entry_name::UnsafeName)>> {
        let mut seen = std::collections::HashSet::new();
        let mut pending = vec![(String::new(), tree)];
        while let Some((prefix, tree)) = pending.pop() {
            if !seen.insert(tree) {
                continue;
            }
            let object = self
                .repo
                .find_tree(tree)
                .map_err(|e| RepoError::object(tree, e))?;
            let decoded = object.decode().map_err(|e| RepoError::object(tree, e))?;
            for entry in &decoded.entries {
                let path = format!("{prefix}{}", entry.filename);
                if let Err(why) = super::entry_name::check(entry.filename) {
                    return Ok(Some((path, why)));
                }
                if entry.mode.is_tree() {
                    pending.push((format!("{path}/"), entry.oid.to_owned()));
                }
            }
        }
        Ok(None)
    }

    /// The format of the atom commit `atom` points at, when it is a commit in one of the known
    /// formats (checked no further): how `atom verify` tells a legacy atom it cannot fully verify
    /// from a broken one.
    pub fn atom_format(&self, atom: &AtomRef) -> Option<CommitFormat> {
        let object = self.repo.find_object(atom.commit).ok()?;
        if object.kind != gix::object::Kind::Commit {
            return None;
        }
        let commit = gix::objs::CommitRef::from_bytes(&object.data, gix::hash::Kind::Sha1).ok()?;
        commit_format(&commit, atom).ok().map(|(format, _)| format)
    }
}

impl CommitFormat {
    /// Whether this is one of the legacy formats (docs/format.md#legacy-layouts).
    pub fn is_legacy(self) -> bool {
        !matches!(self, CommitFormat::Pre1)
    }

    /// `pre1`, `pre1.0`, `1`: the format header's value.
    pub fn name(self) -> &'static str {
        match self {
            CommitFormat::Pre1 => "pre1",
            CommitFormat::Pre1_0 => "pre1.0",
            CommitFormat::Legacy1 => "1",
        }
    }
}

/// The name git gives an object kind: `blob`.
fn kind_name(kind: gix::object::Kind) -> &'static str {
    match kind {
        gix::object::Kind::Blob => "blob",
        gix::object::Kind::Tree => "tree",
        gix::object::Kind::Commit => "commit",
        gix::object::Kind::Tag => "tag",
    }
}

/// What a tree entry of this kind is, for messages: `a symlink`.
pub(crate) fn entry_kind_text(kind: gix::objs::tree::EntryKind) -> &'static str {
    use gix::objs::tree::EntryKind;
    match kind {
        EntryKind::Tree => "a directory",
        EntryKind::Blob => "a file",
        EntryKind::BlobExecutable => "an executable file",
        EntryKind::Link => "a symlink",
        EntryKind::Commit => "a submodule",
    }
}

fn hex_id(value: &BStr) -> Option<ObjectId> {
    let text = value.to_str().ok()?;
    (text.len() == 40 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| ObjectId::from_hex(text.as_bytes()).ok())
        .flatten()
}

/// Which format the commit follows and the origin it names, or what is wrong with it.
fn commit_format(
    commit: &gix::objs::CommitRef<'_>,
    atom: &AtomRef,
) -> std::result::Result<(CommitFormat, ObjectId), FormatError> {
    if commit.parents().next().is_some() {
        return Err(FormatError::HasParents);
    }
    let headers: Vec<(&BStr, &BStr)> = commit
        .extra_headers
        .iter()
        .map(|(k, v)| (*k, v.as_ref()))
        .collect();
    let names: Vec<&[u8]> = headers.iter().map(|(k, _)| k.as_bytes()).collect();
    let value = |i: usize| headers[i].1;
    let message = commit.message.as_bytes();
    let short_message = format!("{}: {}", atom.label, atom.version);
    match names.as_slice() {
        [b"origin", b"format"] if value(1) == "pre1" => {
            let origin = hex_id(value(0)).ok_or(FormatError::BadOrigin("origin"))?;
            let empty = |s: &gix::actor::SignatureRef<'_>| {
                s.name.is_empty() && s.email.is_empty() && s.time == "0 +0000"
            };
            let (author, committer) = (
                commit
                    .author()
                    .map_err(|e| FormatError::Signature(e.to_string()))?,
                commit
                    .committer()
                    .map_err(|e| FormatError::Signature(e.to_string()))?,
            );
            if !empty(&author) || !empty(&committer) {
                return Err(FormatError::NotAnonymous);
            }
            if commit.encoding.is_some() {
                return Err(FormatError::Encoding);
            }
            let expected = format!("publish({}): {}", atom.label, atom.version);
            if message != expected.as_bytes() {
                return Err(wrong_message(commit, expected));
            }
            Ok((CommitFormat::Pre1, origin))
        }
        [b"origin", b"path", b"format"] if value(2) == "pre1.0" => {
            let origin = hex_id(value(0)).ok_or(FormatError::BadOrigin("origin"))?;
            if message.trim() != short_message.as_bytes() {
                return Err(wrong_message(commit, short_message));
            }
            Ok((CommitFormat::Pre1_0, origin))
        }
        [b"src", b"path", b"format"] if value(2) == "1" => {
            let origin = hex_id(value(0)).ok_or(FormatError::BadOrigin("src"))?;
            if message.trim() != short_message.as_bytes() {
                return Err(wrong_message(commit, short_message));
            }
            Ok((CommitFormat::Legacy1, origin))
        }
        _ => Err(FormatError::Headers {
            found: headers.iter().map(|(k, v)| format!("{k} {v}")).collect(),
        }),
    }
}

fn wrong_message(commit: &gix::objs::CommitRef<'_>, expected: String) -> FormatError {
    FormatError::Message {
        found: commit.message.to_vec(),
        expected,
    }
}
