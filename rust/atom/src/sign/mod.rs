//! Signed atoms (docs/format.md#signatures): a publisher signs each atom it publishes with an SSH
//! key, as git signs tags, and a consumer says whose signatures it trusts.
//!
//! - [`tag`]: the signed tag object at `refs/eka/meta/<label>/<version>/signature`, what it
//!   says (label, version, AtomId, content digest) and its verification, in-process;
//! - [`key`]: signing keys, used through `ssh-keygen -Y sign` (as git does, so agents,
//!   passphrases and hardware keys work); only publishing signs;
//! - [`trust`]: the consumer's trusted keys, `atom.signers` (allowed-signers lines).
//!
//! Verification never starts a process: the evaluator checks signatures with it.

pub mod key;
pub mod tag;
pub mod trust;

pub use key::SigningKey;
pub use tag::{SignatureTag, Signed, TagFields};
pub use trust::{TrustEntry, TrustFile, TRUST_FILE};

use crate::digest::ContentDigest;
use crate::id::{AtomDigest, Label};
use crate::manifest::Version;
use crate::repo::{signature_ref, ObjectId, Repo, RepoError, STORE_SIGNATURES_PREFIX};

/// Remembers which signature tags verified and by which key (a tag's id names its bytes, so a
/// tag that verified once always does): the atom store keeps one
/// ([`crate::store::Store::verified_signatures`]) so that a warm evaluation neither does
/// cryptography nor reads the tag from its repository.
pub trait VerifiedTags {
    /// A tag that verified before: its object's bytes and the key it verified with.
    fn get(&self, tag: ObjectId) -> Option<(Vec<u8>, Signer)>;
    /// Remembers that `tag`, whose object is `bytes`, verified with `signer` (best effort).
    fn put(&self, tag: ObjectId, bytes: &[u8], signer: &Signer);
}

/// Checks that the tag `tag` in `repo` is a valid signature of the atom `expected` describes
/// (its commit, label, version, AtomId and content digest), whoever made it.
pub fn check(repo: &Repo, expected: &TagFields, tag: ObjectId) -> Result<Signed, InvalidSignature> {
    check_with(repo, expected, tag, None)
}

/// [`check`], skipping the signature's cryptography when `verified` remembers the tag as
/// verified with the very key its signature names (what it says is still compared with
/// `expected`), and remembering a tag that verifies.
pub fn check_with(
    repo: &Repo,
    expected: &TagFields,
    tag: ObjectId,
    verified: Option<&dyn VerifiedTags>,
) -> Result<Signed, InvalidSignature> {
    if let Some(remembered) = verified.and_then(|v| remembered(expected, tag, v)) {
        return remembered.map_err(InvalidSignature::Tag);
    }
    let bytes = repo
        .read_tag(tag)
        .map_err(|e| InvalidSignature::Unreadable(Box::new(e)))?;
    let signed = SignatureTag::parse(tag, &bytes)?.verify_for(expected)?;
    if let Some(verified) = verified {
        verified.put(tag, &bytes, &signed.signer);
    }
    Ok(signed)
}

/// The tag `tag` as `verified` remembers it (`None` when it does not), checked against the
/// atom `expected` describes: [`check_with`] without the repository.
pub fn remembered(
    expected: &TagFields,
    tag: ObjectId,
    verified: &dyn VerifiedTags,
) -> Option<Result<Signed, SignError>> {
    let (bytes, signer) = verified.get(tag)?;
    // What it says is still compared with the atom: a tag that verified may be attached to
    // another atom than the one it signs.
    let parsed = SignatureTag::parse(tag, &bytes).ok()?;
    Some(parsed.matches(expected).map(|tag| Signed { tag, signer }))
}

/// The signature tags `repo` holds for the atom `expected` describes: the atom store's
/// (`refs/atom/signatures/<commit>/<tag>`) and a publisher's own
/// (`refs/eka/meta/<label>/<version>/signature`), each checked with [`check`]. The `Err`s say
/// why a tag is not a valid signature of it.
pub fn find(repo: &Repo, expected: &TagFields) -> Vec<Result<Signed, InvalidSignature>> {
    find_with(repo, expected, None)
}

/// [`find`], with [`check_with`]'s memory of verified tags.
pub fn find_with(
    repo: &Repo,
    expected: &TagFields,
    verified: Option<&dyn VerifiedTags>,
) -> Vec<Result<Signed, InvalidSignature>> {
    let mut tags = store_tags(repo, expected.commit);
    if let Ok(Some(tag)) = repo.ref_target(&signature_ref(&expected.label, &expected.version)) {
        tags.push(tag);
    }
    check_all(repo, expected, tags, verified)
}

/// [`find_with`] in an atom store, which keeps signatures only under its own prefix (a fetch
/// never writes a publisher's signature ref): one directory listing, no other lookup.
pub fn find_in_store(
    repo: &Repo,
    expected: &TagFields,
    verified: Option<&dyn VerifiedTags>,
) -> Vec<Result<Signed, InvalidSignature>> {
    check_all(repo, expected, store_tags(repo, expected.commit), verified)
}

/// The tags the store keeps for `commit`. It names each by its tag (`<prefix><commit>/<tag>`):
/// the tag the name gives is the one checked, whatever the ref points at.
fn store_tags(repo: &Repo, commit: ObjectId) -> Vec<ObjectId> {
    let prefix = format!("{STORE_SIGNATURES_PREFIX}{commit}/");
    repo.ref_names_under(&prefix)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| ObjectId::from_hex(&name.as_bytes()[prefix.len()..]).ok())
        .collect()
}

/// [`check_with`] of each of `tags`, once each.
fn check_all(
    repo: &Repo,
    expected: &TagFields,
    mut tags: Vec<ObjectId>,
    verified: Option<&dyn VerifiedTags>,
) -> Vec<Result<Signed, InvalidSignature>> {
    tags.sort();
    tags.dedup();
    tags.into_iter()
        .map(|tag| check_with(repo, expected, tag, verified))
        .collect()
}

/// Why a tag is not a valid signature of an atom ([`check`]).
#[derive(Debug, thiserror::Error)]
pub enum InvalidSignature {
    /// The tag object cannot be read.
    #[error("{0}")]
    Unreadable(Box<RepoError>),
    /// The tag does not parse, says something else than the atom, or its signature does not
    /// verify.
    #[error("{0}")]
    Tag(#[from] SignError),
}

/// The SSH signature namespace: git's, so that `git verify-tag` accepts the tags.
pub const NAMESPACE: &str = "git";

/// A public key that signed something, as it is named to people: its OpenSSH line and its
/// SHA-256 fingerprint (`SHA256:…`, as `ssh-keygen -l` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The key, as an OpenSSH public key line without comment (`ssh-ed25519 AAAA…`).
    pub key: String,
    /// Its fingerprint.
    pub fingerprint: String,
}

impl Signer {
    /// The signer of `key`.
    pub fn of(key: &ssh_key::PublicKey) -> Signer {
        let bare = ssh_key::PublicKey::new(key.key_data().clone(), "");
        Signer {
            key: bare
                .to_openssh()
                .unwrap_or_else(|_| key.algorithm().to_string()),
            fingerprint: key.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
        }
    }

    /// Parses an OpenSSH public key line (`ssh-ed25519 AAAA… [comment]`).
    pub fn parse(line: &str) -> Result<Signer, SignError> {
        let key =
            ssh_key::PublicKey::from_openssh(line.trim()).map_err(|e| SignError::InvalidKey {
                key: crate::diagnostic::escape_controls(line.trim()).into_owned(),
                why: e.to_string(),
            })?;
        Ok(Signer::of(&key))
    }
}

/// Why signing or checking a signature failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The object is not a signature tag of this format.
    #[error("tag {tag} is not an atom signature: {why}")]
    Malformed {
        /// The tag object.
        tag: ObjectId,
        /// What is wrong.
        why: String,
    },
    /// The tag carries no SSH signature.
    #[error("tag {tag} carries no SSH signature")]
    Unsigned {
        /// The tag object.
        tag: ObjectId,
    },
    /// The signature does not verify.
    #[error("the signature of tag {tag} does not verify: {why} (possible tampering)")]
    BadSignature {
        /// The tag object.
        tag: ObjectId,
        /// Why.
        why: String,
    },
    /// The tag signs another atom than the one it is attached to.
    #[error("tag {tag} signs {mismatch} (possible tampering)")]
    Mismatch {
        /// The tag object.
        tag: ObjectId,
        /// What differs.
        mismatch: Box<TagMismatch>,
    },
    /// A public key that does not parse.
    #[error("{key:?} is not an SSH public key: {why}")]
    InvalidKey {
        /// The text given.
        key: String,
        /// Why.
        why: String,
    },
    /// Signing failed.
    #[error("cannot sign with {key}: {why}")]
    Signing {
        /// The key file.
        key: String,
        /// Why (ssh-keygen's own message, when it said one).
        why: String,
    },
}

impl SignError {
    pub(crate) fn malformed(tag: ObjectId, why: impl Into<String>) -> SignError {
        SignError::Malformed {
            tag,
            why: why.into(),
        }
    }
}

/// What a signature tag signs differently from the atom it is attached to
/// ([`SignError::Mismatch`]); it reads `FIELD TAG'S, but the atom's is ATOM'S`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagMismatch {
    /// Another atom commit.
    #[error("commit {found}, but the atom's is {expected}")]
    Commit {
        /// The atom's.
        expected: ObjectId,
        /// The tag's.
        found: ObjectId,
    },
    /// Another label or version.
    #[error("atom {} {}, but the atom's is {} {}", .found.0, .found.1, .expected.0, .expected.1)]
    Atom {
        /// The atom's.
        expected: (Label, Version),
        /// The tag's.
        found: (Label, Version),
    },
    /// Another AtomId.
    #[error("AtomId {found}, but the atom's is {expected}")]
    Id {
        /// The atom's.
        expected: AtomDigest,
        /// The tag's.
        found: AtomDigest,
    },
    /// Another content digest.
    #[error("content digest {found}, but the atom's is {expected}")]
    Digest {
        /// The atom's.
        expected: ContentDigest,
        /// The tag's.
        found: ContentDigest,
    },
}

impl TagMismatch {
    /// The field that differs: `commit`, `atom`, `AtomId` or `content digest`.
    pub fn field(&self) -> &'static str {
        match self {
            TagMismatch::Commit { .. } => "commit",
            TagMismatch::Atom { .. } => "atom",
            TagMismatch::Id { .. } => "AtomId",
            TagMismatch::Digest { .. } => "content digest",
        }
    }
}

#[cfg(test)]
mod tests;
