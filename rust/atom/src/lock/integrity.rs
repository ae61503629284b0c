//! `atom.integrity`, written beside `atom.lock` (docs/format.md#the-integrity-record): for each
//! atom the lock pins, the content digest of its tree and, when it was signed, the fingerprint
//! of the key that signed it and the signature tag.
//!
//! It is a file of its own because the reference client refuses unknown fields in `atom.lock`:
//! both tools read the lock, and this project also checks the record. `atom lock` writes it;
//! the evaluator refuses an atom whose tree or signer differs from what it records, and an
//! atom the lock pins that it has no record of (a lock edited by hand).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::GitRev;
use crate::diagnostic::{FileError, SourceError};
use crate::digest::ContentDigest;
use crate::id::Label;
use crate::manifest::Version;

/// The file name, beside `atom.lock`.
pub const INTEGRITY_FILE: &str = "atom.integrity";

/// The only format version there is.
pub const INTEGRITY_VERSION: u8 = 1;

/// What the lock's atoms hash to and who signed them. (Its serde form is the atom store's memory
/// of a parsed record, [`crate::store::Store::parsed`]; the file is read by [`Integrity::parse`].)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrity {
    /// One record per pinned atom commit, sorted by label, version and commit.
    pub atoms: Vec<Record>,
}

/// One pinned atom.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Record {
    /// Its label.
    pub label: Label,
    /// Its version.
    pub version: Version,
    /// The atom commit the lock pins.
    pub rev: GitRev,
    /// The content digest of its tree; absent when its files were not on this machine when it
    /// was locked (locking fetched only its manifest and lock) and no signature vouched for
    /// one: the next `atom lock` after `atom fetch` records it.
    pub digest: Option<ContentDigest>,
    /// The SHA-256 fingerprint of the key whose signature was verified when it was locked.
    pub signer: Option<String>,
    /// The signature tag that was verified.
    pub signature: Option<GitRev>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: u8,
    #[serde(default, rename = "atom")]
    atoms: Vec<toml::Spanned<RawRecord>>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    label: String,
    version: String,
    rev: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

impl Integrity {
    /// Parses the text of a record read from `path`.
    pub fn parse(text: &str, path: &str) -> Result<Integrity, SourceError> {
        let raw: RawFile =
            toml::from_str(text).map_err(|e| SourceError::from_toml(path, text, &e))?;
        if raw.version != INTEGRITY_VERSION {
            return Err(SourceError::new(
                path,
                text,
                None,
                format!(
                    "integrity record version {} is not supported (this atom reads version {INTEGRITY_VERSION})",
                    raw.version
                ),
            ));
        }
        let mut atoms = Vec::new();
        for spanned in raw.atoms {
            let span = spanned.span();
            let raw = spanned.into_inner();
            let bad = |what: String| SourceError::new(path, text, Some(span.clone()), what);
            let commit = |field: &str, hex: &str| {
                GitRev::parse(hex).map_err(|_| {
                    bad(format!(
                        "`{field}` is not an object id (40 lowercase hexadecimal digits): {hex:?}"
                    ))
                })
            };
            atoms.push(Record {
                label: Label::new(&raw.label).map_err(|e| bad(format!("`label`: {e}")))?,
                version: Version::parse(&raw.version)
                    .map_err(|e| bad(format!("`version`: {e}")))?,
                rev: commit("rev", &raw.rev)?,
                digest: raw
                    .digest
                    .as_deref()
                    .map(|d| d.parse().map_err(|e| bad(format!("`digest`: {e}"))))
                    .transpose()?,
                signer: raw.signer,
                signature: raw
                    .signature
                    .as_deref()
                    .map(|s| commit("signature", s))
                    .transpose()?,
            });
        }
        atoms.sort();
        Ok(Integrity { atoms })
    }

    /// Reads `path`; `None` when it does not exist.
    pub fn read_if_present(path: &Path) -> Result<Option<Integrity>, FileError> {
        let Some(text) = crate::diagnostic::read_text_if_present(path)? else {
            return Ok(None);
        };
        Integrity::parse(&text, &path.display().to_string())
            .map(Some)
            .map_err(FileError::Invalid)
    }

    /// The record of the atom commit `rev` (its id in hexadecimal).
    pub fn record(&self, rev: &str) -> Option<&Record> {
        self.atoms.iter().find(|r| r.rev.as_str() == rev)
    }

    /// Adds `record` (replacing one of the same commit), keeping the order.
    pub fn insert(&mut self, record: Record) {
        self.atoms.retain(|r| r.rev != record.rev);
        self.atoms.push(record);
        self.atoms.sort();
    }

    /// The file's text: a header comment, `version`, then one `[[atom]]` table per record.
    pub fn render(&self) -> String {
        let mut text = format!(
            "# What each atom atom.lock pins hashes to, and whose signature was verified (`atom lock` writes this file).\nversion = {INTEGRITY_VERSION}\n"
        );
        for record in &self.atoms {
            let raw = RawRecord {
                label: record.label.to_string(),
                version: record.version.to_string(),
                rev: record.rev.as_str().to_owned(),
                digest: record.digest.map(|d| d.to_string()),
                signer: record.signer.clone(),
                signature: record.signature.as_ref().map(|s| s.as_str().to_owned()),
            };
            text.push_str("\n[[atom]]\n");
            text.push_str(&toml::to_string(&raw).expect("a record serialises"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: &str, rev: &str, signer: Option<&str>) -> Record {
        Record {
            label: Label::new(label).unwrap(),
            version: Version::parse("1.0.0").unwrap(),
            rev: GitRev::parse(rev).unwrap(),
            digest: Some(ContentDigest::from_bytes([1; 32])),
            signer: signer.map(str::to_owned),
            signature: signer.map(|_| GitRev::parse(&"e".repeat(40)).unwrap()),
        }
    }

    #[test]
    fn a_record_renders_sorted_and_reads_back() {
        let mut integrity = Integrity::default();
        integrity.insert(record("b", &"b".repeat(40), None));
        integrity.insert(record("a", &"a".repeat(40), Some("SHA256:abc")));
        let text = integrity.render();
        assert!(text.find("label = \"a\"").unwrap() < text.find("label = \"b\"").unwrap());
        assert_eq!(Integrity::parse(&text, INTEGRITY_FILE).unwrap(), integrity);
        // Replacing a record of the same commit keeps one.
        integrity.insert(record("b", &"b".repeat(40), Some("SHA256:x")));
        assert_eq!(integrity.atoms.len(), 2);
    }

    /// The atom store keeps parsed records in their serde form: it reads back as parsed.
    #[test]
    fn a_record_survives_its_serde_form() {
        let mut integrity = Integrity::default();
        integrity.insert(record("b", &"b".repeat(40), None));
        integrity.insert(record("a", &"a".repeat(40), Some("SHA256:abc")));
        let parsed = Integrity::parse(&integrity.render(), INTEGRITY_FILE).unwrap();
        let json = serde_json::to_vec(&parsed).unwrap();
        assert_eq!(serde_json::from_slice::<Integrity>(&json).unwrap(), parsed);
    }

    #[test]
    fn a_bad_record_points_at_its_table() {
        let text = "version = 1\n\n[[atom]]\nlabel = \"a\"\nversion = \"1.0.0\"\nrev = \"zz\"\ndigest = \"blake3-00\"\n";
        let err = Integrity::parse(text, INTEGRITY_FILE).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("`rev`"), "{}", err.message);
        let err = Integrity::parse("version = 2\n", INTEGRITY_FILE).unwrap_err();
        assert!(err.message.contains("version 2"), "{}", err.message);
        let err = Integrity::parse("version = 1\nextra = 1\n", INTEGRITY_FILE).unwrap_err();
        assert!(err.message.contains("extra"), "{}", err.message);
    }
}
