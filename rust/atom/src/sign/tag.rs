//! The signature tag of a published atom: an annotated git tag object whose object is the atom
//! commit and whose message names what is signed. It is signed exactly as git signs a tag with
//! an SSH key (an armored `SSHSIG` over the tag object without the signature, namespace `git`,
//! appended to the message), so `git verify-tag` checks it too:
//!
//! ```text
//! object <atom commit>
//! type commit
//! tag atom/<label>/<version>
//! tagger <name> <<email>> <seconds> +0000
//!
//! atom <label> <version>
//!
//! label: <label>
//! version: <version>
//! id: <AtomId>
//! digest: blake3-<64 hex digits>
//! -----BEGIN SSH SIGNATURE-----
//! …
//! -----END SSH SIGNATURE-----
//! ```

use std::str::FromStr;

use super::{SignError, Signer, TagMismatch, NAMESPACE};
use crate::digest::ContentDigest;
use crate::id::{AtomDigest, Label};
use crate::manifest::Version;
use crate::repo::ObjectId;

/// The first line of an armored SSH signature.
const ARMOR_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";

/// What a signature tag says about its atom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFields {
    /// The atom commit.
    pub commit: ObjectId,
    /// Its label.
    pub label: Label,
    /// Its version.
    pub version: Version,
    /// Its AtomId.
    pub id: AtomDigest,
    /// The content digest of its tree.
    pub digest: ContentDigest,
}

impl TagFields {
    /// What a signature of the atom `label` `version` at `commit`, of the set `root`, whose tree
    /// has the content digest `digest`, must say.
    pub fn new(
        root: &crate::id::Root,
        label: &Label,
        version: &Version,
        commit: ObjectId,
        digest: ContentDigest,
    ) -> TagFields {
        TagFields {
            commit,
            label: label.clone(),
            version: version.clone(),
            id: crate::id::AtomId::new(*root, label.clone()).digest(),
            digest,
        }
    }

    /// The tag object without its signature (what is signed), tagged by `tagger`
    /// (`Name <email>`) at `seconds` since the epoch.
    pub fn payload(&self, tagger: &str, seconds: u64) -> Vec<u8> {
        format!(
            "object {commit}\ntype commit\ntag atom/{label}/{version}\ntagger {tagger} {seconds} +0000\n\natom {label} {version}\n\nlabel: {label}\nversion: {version}\nid: {id}\ndigest: {digest}\n",
            commit = self.commit,
            label = self.label,
            version = self.version,
            id = self.id,
            digest = self.digest,
        )
        .into_bytes()
    }
}

/// A parsed signature tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureTag {
    /// The tag object's id.
    pub id: ObjectId,
    /// What it says.
    pub fields: TagFields,
    /// Its `tagger` line (without the word `tagger`).
    pub tagger: String,
    payload: Vec<u8>,
    armored: String,
}

/// A signature tag whose signature verified, and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The tag.
    pub tag: SignatureTag,
    /// The key that signed it.
    pub signer: Signer,
}

impl SignatureTag {
    /// Joins a payload ([`TagFields::payload`]) and its armored signature into a tag object.
    pub fn object(payload: &[u8], armored: &str) -> Vec<u8> {
        let mut object = payload.to_vec();
        object.extend_from_slice(armored.as_bytes());
        if !armored.ends_with('\n') {
            object.push(b'\n');
        }
        object
    }

    /// Parses the tag object `id` (its raw bytes): strictly the layout this module writes.
    pub fn parse(id: ObjectId, bytes: &[u8]) -> Result<SignatureTag, SignError> {
        let bad = |why: &str| SignError::malformed(id, why);
        let text = std::str::from_utf8(bytes).map_err(|_| bad("it is not UTF-8"))?;
        // git takes the last line that starts a signature as where the signature begins.
        let start = text
            .match_indices(ARMOR_BEGIN)
            .filter(|(at, _)| *at == 0 || text.as_bytes()[at - 1] == b'\n')
            .map(|(at, _)| at)
            .last()
            .ok_or(SignError::Unsigned { tag: id })?;
        let (payload, armored) = text.split_at(start);
        let (header, message) = payload
            .split_once("\n\n")
            .ok_or_else(|| bad("it has no message"))?;
        let mut lines = header.lines();
        let mut field = |name: &str| -> Result<&str, SignError> {
            lines
                .next()
                .and_then(|line| line.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix(' '))
                .ok_or_else(|| bad(&format!("its header lacks `{name}` where it belongs")))
        };
        let commit = ObjectId::from_hex(field("object")?.as_bytes())
            .map_err(|_| bad("its object is not a SHA-1 object id"))?;
        if field("type")? != "commit" {
            return Err(bad("it does not tag a commit"));
        }
        let name = field("tag")?.to_owned();
        let tagger = field("tagger")?.to_owned();
        if lines.next().is_some() {
            return Err(bad("its header has more lines than an atom signature's"));
        }
        let mut message = message.lines();
        let title = message.next().unwrap_or_default().to_owned();
        if message.next() != Some("") {
            return Err(bad("its message does not start with a title line"));
        }
        let mut value = |key: &str| -> Result<&str, SignError> {
            message
                .next()
                .and_then(|line| line.strip_prefix(key))
                .and_then(|rest| rest.strip_prefix(": "))
                .ok_or_else(|| bad(&format!("its message lacks `{key}:` where it belongs")))
        };
        let label = Label::new(value("label")?).map_err(|e| bad(&format!("its label: {e}")))?;
        let version =
            Version::parse(value("version")?).map_err(|e| bad(&format!("its version: {e}")))?;
        let atom_id =
            AtomDigest::parse(value("id")?).map_err(|e| bad(&format!("its AtomId: {e}")))?;
        let digest = ContentDigest::from_str(value("digest")?)
            .map_err(|e| bad(&format!("its digest: {e}")))?;
        if message.next().is_some() {
            return Err(bad("its message has more lines than an atom signature's"));
        }
        if title != format!("atom {label} {version}") || name != format!("atom/{label}/{version}") {
            return Err(bad(
                "its title or tag name does not name its label and version",
            ));
        }
        Ok(SignatureTag {
            id,
            fields: TagFields {
                commit,
                label,
                version,
                id: atom_id,
                digest,
            },
            tagger,
            payload: payload.as_bytes().to_vec(),
            armored: armored.to_owned(),
        })
    }

    /// Checks the signature (in-process; namespace `git`): the key that made it.
    pub fn verify(self) -> Result<Signed, SignError> {
        let tag = self.id;
        let bad = |why: String| SignError::BadSignature { tag, why };
        let signature = ssh_key::SshSig::from_pem(self.armored.trim_end())
            .map_err(|e| bad(format!("the armored signature does not parse ({e})")))?;
        if signature.namespace() != NAMESPACE {
            return Err(bad(format!(
                "it was made for namespace {:?}, not {NAMESPACE:?}",
                signature.namespace()
            )));
        }
        let key = ssh_key::PublicKey::new(signature.public_key().clone(), "");
        key.verify(NAMESPACE, &self.payload, &signature)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Signed {
            signer: Signer::of(&key),
            tag: self,
        })
    }

    /// The key the signature names, without checking the signature.
    pub fn claimed_signer(&self) -> Result<Signer, SignError> {
        let signature = ssh_key::SshSig::from_pem(self.armored.trim_end()).map_err(|e| {
            SignError::BadSignature {
                tag: self.id,
                why: format!("the armored signature does not parse ({e})"),
            }
        })?;
        Ok(Signer::of(&ssh_key::PublicKey::new(
            signature.public_key().clone(),
            "",
        )))
    }

    /// [`SignatureTag::verify`], then checks that the tag signs `expected` exactly.
    pub fn verify_for(self, expected: &TagFields) -> Result<Signed, SignError> {
        let signed = self.verify()?;
        let tag = signed.tag.matches(expected)?;
        Ok(Signed {
            tag,
            signer: signed.signer,
        })
    }

    /// Checks that what the tag says is `expected` exactly (not its signature).
    pub fn matches(self, expected: &TagFields) -> Result<SignatureTag, SignError> {
        let found = &self.fields;
        let tag = self.id;
        let differ = |mismatch: TagMismatch| {
            Err(SignError::Mismatch {
                tag,
                mismatch: Box::new(mismatch),
            })
        };
        if found.commit != expected.commit {
            return differ(TagMismatch::Commit {
                expected: expected.commit,
                found: found.commit,
            });
        }
        if found.label != expected.label || found.version != expected.version {
            return differ(TagMismatch::Atom {
                expected: (expected.label.clone(), expected.version.clone()),
                found: (found.label.clone(), found.version.clone()),
            });
        }
        if found.id != expected.id {
            return differ(TagMismatch::Id {
                expected: expected.id,
                found: found.id,
            });
        }
        if found.digest != expected.digest {
            return differ(TagMismatch::Digest {
                expected: expected.digest,
                found: found.digest,
            });
        }
        Ok(self)
    }
}
