//! Whose atoms are accepted (docs/format.md#signatures): the consumer's trusted keys
//! ([`crate::sign::trust`]) and the lock's integrity record ([`crate::lock::integrity`]),
//! applied when a lock is written and when a locked atom is loaded.
//!
//! - A set with trusted keys accepts only versions signed by one of them.
//! - A set without: the lock records the signer it saw (trust on first use), and a later
//!   version not signed by that key is refused until the user trusts a key for the set.
//! - Loading: every pinned atom must have a record when the lock has an integrity record, its
//!   tree must hash to the recorded digest, and a recorded signer's signature must verify.

use std::path::{Path, PathBuf};

use super::{AtomName, ResolveError};
use crate::digest::ContentDigest;
use crate::id::{Label, Root};
use crate::lock::integrity::{Integrity, Record, INTEGRITY_FILE};
use crate::manifest::Version;
use crate::repo::{ObjectId, Repo};
use crate::sign::{Signed, TagFields, TrustFile, TRUST_FILE};

/// The keys the consumer trusts: `atom.signers` at the top of the repository an atom is in.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    file: TrustFile,
    /// The names the consumer's own lock gives each set (its tag, its mirrors): a set is
    /// trusted by these names wherever in the graph it is pinned, whatever a dependency's lock
    /// calls it.
    own: std::collections::HashMap<Root, Vec<String>>,
}

impl Policy {
    /// The policy of the repository `dir` is in (none outside a repository, or without the file).
    pub fn for_dir(dir: &Path) -> Result<Policy, ResolveError> {
        Policy::of_file(read_trust_file(dir)?.as_ref())
    }

    /// The policy of the trust file `file` (its path, and its text: `None` when there is none;
    /// `file` itself `None`: no trust file applies), as [`read_trust_file`] gives it.
    pub fn of_file(file: Option<&(PathBuf, Option<String>)>) -> Result<Policy, ResolveError> {
        let Some((path, text)) = file else {
            return Ok(Policy::default());
        };
        let file = TrustFile::of_text(path, text.as_deref()).map_err(ResolveError::TrustFile)?;
        Ok(Policy {
            file,
            own: Default::default(),
        })
    }

    /// [`Policy::for_dir`], with the names the consumer's own lock (`lock`, the atom's in `dir`)
    /// gives its sets.
    pub fn for_atom(
        dir: &Path,
        lock: Option<&crate::lock::Lockfile>,
    ) -> Result<Policy, ResolveError> {
        Ok(Policy::for_dir(dir)?.with_own_names(lock))
    }

    /// This policy, trusting each set also by the names the consumer's own lock `lock` gives it.
    pub fn with_own_names(mut self, lock: Option<&crate::lock::Lockfile>) -> Policy {
        for (root, set) in lock.iter().flat_map(|lock| &lock.sets) {
            self.own.insert(*root, lock_names(root, set));
        }
        self
    }

    /// The fingerprints of the keys trusted for the set `root` that `lock` pins an atom of: by
    /// its root, by the tag and mirrors `lock` gives it, and by those the consumer's own lock
    /// gives it.
    pub fn trusted_in(&self, lock: &crate::lock::Lockfile, root: &Root) -> Vec<String> {
        let mut names = match lock.sets.get(root) {
            Some(set) => lock_names(root, set),
            None => set_names(None, std::iter::empty(), root),
        };
        names.extend(self.own.get(root).into_iter().flatten().cloned());
        self.trusted(&names)
    }

    /// The fingerprints of the keys trusted for a set known by any of `names`.
    pub fn trusted(&self, names: &[String]) -> Vec<String> {
        self.file
            .keys_for(names)
            .into_iter()
            .map(|e| e.signer.fingerprint.clone())
            .collect()
    }
}

/// Where the trust file of the atom in `dir` is: `atom.signers` at the top of the working tree
/// `dir` is in ([`super::work_tree_top`]); `None` outside one.
pub fn trust_file_for(dir: &Path) -> Option<PathBuf> {
    super::work_tree_top(dir).map(|top| top.join(TRUST_FILE))
}

/// The trust file in force for the atom in `dir` and its text (`None`: there is none);
/// `None` outside a working tree. A file another user could have written is refused
/// ([`TrustFile::read_text`]).
pub fn read_trust_file(dir: &Path) -> Result<Option<(PathBuf, Option<String>)>, ResolveError> {
    let Some(path) = trust_file_for(dir) else {
        return Ok(None);
    };
    let text = TrustFile::read_text(&path).map_err(ResolveError::TrustFile)?;
    Ok(Some((path, text)))
}

/// The names a lock's entry `set` gives the set `root`: its tag, its mirror URLs, its root.
fn lock_names(root: &Root, set: &crate::lock::LockedSet) -> Vec<String> {
    set_names(
        Some(set.tag.as_str()),
        set.mirrors.iter().filter_map(|m| m.url()),
        root,
    )
}

/// The names a set is trusted by: its tag, its mirror URLs and its root.
pub fn set_names<'a>(
    tag: Option<&str>,
    urls: impl IntoIterator<Item = &'a str>,
    root: &Root,
) -> Vec<String> {
    let mut names: Vec<String> = tag.into_iter().map(str::to_owned).collect();
    names.extend(urls.into_iter().map(crate::uri::without_credentials));
    names.push(root.to_hex());
    names
}

/// What an atom commit is, for trust: its content digest and its valid signatures.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// The content digest of its tree; `None` when its files are not here (locking fetched only
    /// its manifest and lock) and no signature vouches for one.
    pub digest: Option<ContentDigest>,
    /// Its valid signatures.
    pub signed: Vec<Signed>,
}

impl Assessment {
    /// Reads the atom `label` `version` at `commit` in `repo` (of the set `root`), its content
    /// digest computed from the git tree.
    pub fn of(
        repo: &Repo,
        root: &Root,
        label: &Label,
        version: &Version,
        commit: ObjectId,
    ) -> Result<Assessment, ResolveError> {
        let digest = repo.tree_digest(repo.commit_tree(commit)?)?;
        Ok(Assessment::with_digest(
            repo,
            &TagFields::new(root, label, version, commit, digest),
            None,
        ))
    }

    /// [`Assessment::of`] the atom `expected` describes, whose digest is already known (the
    /// atom store's, [`crate::store::Store::tree_digest`]); `verified` remembers which tags
    /// verified before.
    pub fn with_digest(
        repo: &Repo,
        expected: &TagFields,
        verified: Option<&dyn crate::sign::VerifiedTags>,
    ) -> Assessment {
        Assessment::found(expected, crate::sign::find_with(repo, expected, verified))
    }

    /// [`Assessment::with_digest`] in an atom store ([`crate::sign::find_in_store`]).
    pub fn in_store(
        store_repo: &Repo,
        expected: &TagFields,
        verified: Option<&dyn crate::sign::VerifiedTags>,
    ) -> Assessment {
        Assessment::found(
            expected,
            crate::sign::find_in_store(store_repo, expected, verified),
        )
    }

    /// The atom `expected` describes as the lock's `record` of it says it was signed: the tag
    /// the record names, when `verified` remembers it verifying as a signature of this atom by
    /// the key the record names. `None` otherwise (then [`Assessment::in_store`] looks).
    ///
    /// Only that signature is in it, so [`check_loaded`] passing with it means passing with
    /// every signature the store holds (the check asks for a signature, never for its absence).
    pub fn recorded(
        expected: &TagFields,
        record: &Record,
        verified: &dyn crate::sign::VerifiedTags,
    ) -> Option<Assessment> {
        let signer = record.signer.as_ref()?;
        let tag = ObjectId::from_hex(record.signature.as_ref()?.as_str().as_bytes()).ok()?;
        let signed = crate::sign::remembered(expected, tag, verified)?.ok()?;
        (&signed.signer.fingerprint == signer).then(|| Assessment {
            digest: Some(expected.digest),
            signed: vec![signed],
        })
    }

    /// The valid signatures among `found`, of the atom `expected` describes.
    fn found(
        expected: &TagFields,
        found: Vec<Result<Signed, crate::sign::InvalidSignature>>,
    ) -> Assessment {
        Assessment {
            digest: Some(expected.digest),
            signed: found.into_iter().filter_map(Result::ok).collect(),
        }
    }

    /// For an atom whose files are not here yet: the signatures of it that verify over what
    /// they say, when they agree on its content digest (which is then checked against the files
    /// when they come). `None` when none does.
    pub fn vouched(
        repo: &Repo,
        root: &Root,
        label: &Label,
        version: &Version,
        commit: ObjectId,
    ) -> Option<Assessment> {
        let prefix = format!("{}{commit}/", crate::repo::STORE_SIGNATURES_PREFIX);
        let mut signed: Vec<Signed> = Vec::new();
        for (_, tag) in repo.refs_under(&[&prefix]).ok()? {
            let Ok(bytes) = repo.read_tag(tag) else {
                continue;
            };
            let Ok(parsed) = crate::sign::SignatureTag::parse(tag, &bytes) else {
                continue;
            };
            let claimed = TagFields::new(root, label, version, commit, parsed.fields.digest);
            if let Ok(ok) = parsed.verify_for(&claimed) {
                signed.push(ok);
            }
        }
        let digest = signed.first()?.tag.fields.digest;
        signed
            .iter()
            .all(|s| s.tag.fields.digest == digest)
            .then_some(Assessment {
                digest: Some(digest),
                signed,
            })
    }

    /// The signature by one of `fingerprints`.
    pub fn signed_by(&self, fingerprints: &[String]) -> Option<&Signed> {
        self.signed
            .iter()
            .find(|s| fingerprints.contains(&s.signer.fingerprint))
    }

    /// The keys whose signatures of it verify (`unsigned` or `signed by <fingerprints>` as
    /// text).
    pub fn describe(&self) -> Signers {
        let mut keys: Vec<String> = self
            .signed
            .iter()
            .map(|s| s.signer.fingerprint.clone())
            .collect();
        keys.dedup();
        Signers(keys)
    }

    /// The integrity record of this atom, naming `signed` as its signer.
    pub fn record(
        &self,
        label: &Label,
        version: &Version,
        rev: ObjectId,
        signed: Option<&Signed>,
    ) -> Record {
        let hex = |id: ObjectId| {
            crate::lock::GitRev::parse(&id.to_string()).expect("an object id is 40 hex digits")
        };
        Record {
            label: label.clone(),
            version: version.clone(),
            rev: hex(rev),
            digest: self.digest,
            signer: signed.map(|s| s.signer.fingerprint.clone()),
            signature: signed.map(|s| hex(s.tag.id)),
        }
    }
}

/// The fingerprints of the keys whose signatures of an atom verify; it reads `unsigned` when
/// there are none, else `signed by <fingerprints>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signers(pub Vec<String>);

impl std::fmt::Display for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.is_empty() {
            true => f.write_str("unsigned"),
            false => write!(f, "signed by {}", self.0.join(", ")),
        }
    }
}

/// Why a locked atom is not trusted ([`ResolveError::Untrusted`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Distrust {
    /// The lock's integrity record has no entry for the pinned commit.
    #[error("its lock's {INTEGRITY_FILE} has no record of commit {rev} (was atom.lock edited by hand?); run `atom lock` to check and record it")]
    NoRecord {
        /// The pinned commit.
        rev: ObjectId,
    },
    /// Its content digest is not the one the lock recorded.
    #[error(
        "its content digest is {found}, but its lock recorded {recorded} (possible tampering)"
    )]
    Digest {
        /// The digest of its tree.
        found: ContentDigest,
        /// The digest the lock recorded.
        recorded: ContentDigest,
    },
    /// It is not signed by the key the lock recorded.
    #[error("expected signed by {expected}, found {found} (possible tampering)")]
    Signer {
        /// The fingerprint the lock recorded.
        expected: String,
        /// Who signs it.
        found: Signers,
    },
    /// It is not signed by a key the consumer trusts for its set.
    #[error("{TRUST_FILE} trusts only {} for its set, found {found}", .trusted.join(", "))]
    NotTrusted {
        /// The fingerprints trusted for its set.
        trusted: Vec<String>,
        /// Who signs it.
        found: Signers,
    },
    /// It is not on this machine, so its signature cannot be checked.
    #[error("it is not in the atom store, so its signature cannot be checked; run `atom fetch`, then `atom lock`")]
    NotInStore,
}

/// Checks a locked atom being loaded (`label` `version` at `rev`, pinned by `by`) against the
/// integrity record of the lock that pins it and the consumer's trusted keys for its set.
pub fn check_loaded(
    assessment: &Assessment,
    integrity: Option<&Integrity>,
    trusted: &[String],
    atom: &AtomName,
    by: &AtomName,
    rev: ObjectId,
) -> Result<Option<Record>, ResolveError> {
    let untrusted = |why: Distrust| ResolveError::Untrusted {
        atom: atom.clone(),
        by: by.clone(),
        why: Box::new(why),
    };
    let record = match integrity {
        None => None,
        Some(integrity) => Some(
            integrity
                .record(&rev.to_string())
                .cloned()
                .ok_or_else(|| untrusted(Distrust::NoRecord { rev }))?,
        ),
    };
    if let Some(record) = &record {
        if let (Some(recorded), Some(found)) = (record.digest, assessment.digest) {
            if recorded != found {
                return Err(untrusted(Distrust::Digest { found, recorded }));
            }
        }
        if let Some(expected) = &record.signer {
            if assessment
                .signed_by(std::slice::from_ref(expected))
                .is_none()
            {
                return Err(untrusted(Distrust::Signer {
                    expected: expected.clone(),
                    found: assessment.describe(),
                }));
            }
        }
    }
    if !trusted.is_empty() && assessment.signed_by(trusted).is_none() {
        return Err(untrusted(Distrust::NotTrusted {
            trusted: trusted.to_vec(),
            found: assessment.describe(),
        }));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::Lockfile;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID5PZYRXxC6IDoVjCeypB7x8ksM9lsQdNk33sSXwnF2S test";
    const FINGERPRINT: &str = "SHA256:yXIwCo0hquMtdH2vfZ0y3BL1CMsXWMEUrWFp9XCTFrc";
    const ROOT: &str = "68b63bd131acd23bdfd57983fe85ba7c092ce02f";

    fn lock(tag: &str, mirror: &str) -> Lockfile {
        Lockfile::parse(
            &format!("version = 1\n\n[sets.{ROOT}]\ntag = \"{tag}\"\nmirrors = [\"{mirror}\"]\n\n[compose]\nuse = \"nix\"\nentry = \".\"\n"),
            "atom.lock",
        )
        .unwrap()
    }

    #[test]
    fn a_set_is_trusted_by_the_consumer_s_names_wherever_it_is_pinned() {
        let root = Root::from_hex(ROOT).unwrap();
        let file = TrustFile::parse(
            &format!("company namespaces=\"git\" {KEY}\n"),
            "atom.signers",
        )
        .unwrap();
        let consumer = lock("company", "https://example.org/company.git");
        let mut policy = Policy {
            file,
            own: Default::default(),
        };
        // A dependency's lock calls the same set something else, at another mirror.
        let dependency = lock("renamed", "https://mirror.example/x.git");
        assert!(policy.trusted_in(&dependency, &root).is_empty());
        for (root, set) in &consumer.sets {
            policy.own.insert(*root, lock_names(root, set));
        }
        assert_eq!(policy.trusted_in(&dependency, &root), vec![FINGERPRINT]);
        assert_eq!(policy.trusted_in(&consumer, &root), vec![FINGERPRINT]);
        // By root, too.
        let by_root = Policy {
            file: TrustFile::parse(&format!("{ROOT} {KEY}\n"), "atom.signers").unwrap(),
            own: Default::default(),
        };
        assert_eq!(by_root.trusted_in(&dependency, &root), vec![FINGERPRINT]);
    }
}
