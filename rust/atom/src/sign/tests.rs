//! The signature tag, keys and the trust file, with keys made by `ssh-keygen`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::tag::{SignatureTag, TagFields};
use super::trust::{self, TrustFile};
use super::{SignError, Signer, SigningKey};
use crate::digest::ContentDigest;
use crate::id::{AtomId, Label, Root};
use crate::manifest::Version;
use crate::repo::ObjectId;

fn scratch(name: &str) -> atom_test_support::Scratch {
    atom_test_support::scratch(&format!("sign-{name}"))
}

fn keygen(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    key
}

fn fields(commit: &str, version: &str) -> TagFields {
    let root = Root::from_hex("68b63bd131acd23bdfd57983fe85ba7c092ce02f").unwrap();
    let label = Label::new("lib").unwrap();
    TagFields {
        commit: ObjectId::from_hex(commit.as_bytes()).unwrap(),
        label: label.clone(),
        version: Version::parse(version).unwrap(),
        id: AtomId::new(root, label).digest(),
        digest: ContentDigest::from_bytes([7; 32]),
    }
}

const COMMIT: &str = "1111111111111111111111111111111111111111";
const TAG: &str = "2222222222222222222222222222222222222222";

/// A signed tag object for `fields`, signed with `key`.
fn signed(key: &Path, fields: &TagFields) -> Vec<u8> {
    let payload = fields.payload("Alice <alice@example.org>", 1_700_000_000);
    let armored = SigningKey::file(key).sign(&payload).unwrap();
    SignatureTag::object(&payload, &armored)
}

fn fingerprint(key: &Path) -> String {
    let text = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    Signer::parse(&text).unwrap().fingerprint
}

#[test]
fn a_signed_tag_verifies_with_its_key_and_names_what_it_signs() {
    let dir = scratch("verify");
    let alice = keygen(&dir, "alice");
    let fields = fields(COMMIT, "1.0.0");
    let object = signed(&alice, &fields);
    let tag = SignatureTag::parse(ObjectId::from_hex(TAG.as_bytes()).unwrap(), &object).unwrap();
    assert_eq!(tag.fields, fields);
    let signed = tag.verify_for(&fields).unwrap();
    assert_eq!(signed.signer.fingerprint, fingerprint(&alice));
    assert!(signed.signer.key.starts_with("ssh-ed25519 "));
}

#[test]
fn a_signature_does_not_move_to_another_atom_or_survive_an_edit() {
    let dir = scratch("tamper");
    let alice = keygen(&dir, "alice");
    let fields = fields(COMMIT, "1.0.0");
    let object = signed(&alice, &fields);
    let id = ObjectId::from_hex(TAG.as_bytes()).unwrap();
    // Another version, commit or digest expected: refused, naming the field.
    for (other, field) in [
        (self::fields(COMMIT, "1.0.1"), "atom"),
        (
            self::fields("3333333333333333333333333333333333333333", "1.0.0"),
            "commit",
        ),
        (
            TagFields {
                digest: ContentDigest::from_bytes([8; 32]),
                ..fields.clone()
            },
            "content digest",
        ),
    ] {
        let err = SignatureTag::parse(id, &object)
            .unwrap()
            .verify_for(&other)
            .unwrap_err();
        assert!(
            matches!(&err, SignError::Mismatch { mismatch, .. } if mismatch.field() == field),
            "{err}"
        );
    }
    // The signed text edited (its version, in title, tag name and field alike): the signature
    // no longer verifies.
    let edited = String::from_utf8(object.clone())
        .unwrap()
        .replace("1.0.0", "1.0.9");
    let err = SignatureTag::parse(id, edited.as_bytes())
        .unwrap()
        .verify()
        .unwrap_err();
    assert!(matches!(err, SignError::BadSignature { .. }), "{err}");
    // No signature at all.
    let payload = fields.payload("Alice <alice@example.org>", 1);
    let err = SignatureTag::parse(id, &payload).unwrap_err();
    assert!(matches!(err, SignError::Unsigned { .. }), "{err}");
    // A signature made for another namespace (a file signature, not git's).
    let mut other_namespace = Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", "file", "-f"])
        .arg(&alice)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    other_namespace
        .stdin
        .take()
        .unwrap()
        .write_all(&payload)
        .unwrap();
    let armored = String::from_utf8(other_namespace.wait_with_output().unwrap().stdout).unwrap();
    let err = SignatureTag::parse(id, &SignatureTag::object(&payload, &armored))
        .unwrap()
        .verify()
        .unwrap_err();
    assert!(err.to_string().contains("namespace \"file\""), "{err}");
}

#[test]
fn malformed_tags_are_refused_with_a_reason() {
    let id = ObjectId::from_hex(TAG.as_bytes()).unwrap();
    let armor = "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n";
    for (text, why) in [
        ("object 11\ntype commit\n\nx\n", "SHA-1"),
        (
            &format!("object {COMMIT}\ntype tree\ntag a\ntagger x 1 +0000\n\natom lib 1.0.0\n\n"),
            "does not tag a commit",
        ),
        (
            &format!("object {COMMIT}\ntype commit\ntag atom/lib/1.0.0\ntagger x 1 +0000\n\natom lib 1.0.0\n\nlabel: lib\nversion: 1.0.0\nid: nope\ndigest: x\n"),
            "AtomId",
        ),
    ] {
        let object = format!("{text}{armor}");
        let err = SignatureTag::parse(id, object.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(why), "{err} (wanted {why})");
    }
}

#[test]
fn a_missing_key_file_is_a_signing_error_naming_it() {
    let err = SigningKey::file("/nonexistent/key").sign(b"x").unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot sign with /nonexistent/key: ssh-keygen -Y sign"),
        "{text}"
    );
}

#[test]
fn the_trust_file_reads_allowed_signers_lines_and_points_at_bad_ones() {
    let dir = scratch("trust");
    let alice = std::fs::read_to_string(keygen(&dir, "alice").with_extension("pub")).unwrap();
    let bob = std::fs::read_to_string(keygen(&dir, "bob").with_extension("pub")).unwrap();
    let text = format!(
        "# comment\n\ncompany,https://example.org/x.git namespaces=\"git\" {alice}other namespaces=\"file\" {bob}"
    );
    let file = TrustFile::parse(&text, "atom.signers").unwrap();
    assert_eq!(file.entries.len(), 2);
    assert_eq!(file.entries[0].line, 3);
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        file.keys_for(&names(&["https://example.org/x.git"])).len(),
        1
    );
    assert_eq!(file.keys_for(&names(&["company"])).len(), 1);
    // A line for another namespace trusts nothing here.
    assert!(file.keys_for(&names(&["other"])).is_empty());

    let err =
        TrustFile::parse("set cert-authority ssh-ed25519 AAAA\n", "atom.signers").unwrap_err();
    assert_eq!((err.line, err.column), (1, 5));
    assert!(err.message.contains("cert-authority"), "{}", err.message);
    let err = TrustFile::parse(
        "ok ssh-ed25519 AAAA\n\nset ssh-ed25519 notbase64\n",
        "atom.signers",
    )
    .unwrap_err();
    assert_eq!(err.line, 1);
    let err = TrustFile::parse(&format!("{alice}set ssh-rsa AAAA\n"), "atom.signers").unwrap_err();
    assert!(err.line >= 1, "{err:?}");

    // add and remove keep the other lines.
    let signer = Signer::parse(&alice).unwrap();
    let added = trust::add("", "company", &signer, Some("alice")).unwrap();
    assert!(trust::add(&added, "company", &signer, None).is_none());
    let both = trust::add(&added, "lib", &signer, None).unwrap();
    let (kept, removed) = trust::remove(&both, "company", Some(&signer.fingerprint)).unwrap();
    assert_eq!(removed, 1);
    let file = TrustFile::parse(&kept, "atom.signers").unwrap();
    assert_eq!(file.entries.len(), 1);
    assert_eq!(file.entries[0].sets, vec!["lib".to_owned()]);
}

/// Tags remembered as verified, in memory.
#[derive(Default)]
struct Remembered(std::cell::RefCell<std::collections::HashMap<ObjectId, (Vec<u8>, Signer)>>);

impl super::VerifiedTags for Remembered {
    fn get(&self, tag: ObjectId) -> Option<(Vec<u8>, Signer)> {
        self.0.borrow().get(&tag).cloned()
    }
    fn put(&self, tag: ObjectId, bytes: &[u8], signer: &Signer) {
        self.0
            .borrow_mut()
            .insert(tag, (bytes.to_vec(), signer.clone()));
    }
}

/// The lock's record of a signature is taken without a listing only when the store remembers
/// that very tag verifying, for this atom, by the key the record names.
#[test]
fn a_recorded_signature_is_taken_only_as_remembered_for_this_atom_and_signer() {
    use crate::lock::integrity::Record;
    use crate::lock::GitRev;
    use crate::resolve::trust::Assessment;

    let dir = scratch("recorded");
    let alice = keygen(&dir, "alice");
    let bob = keygen(&dir, "bob");
    let expected = fields(COMMIT, "1.0.0");
    let tag = ObjectId::from_hex(TAG.as_bytes()).unwrap();
    let record = |signer: &Path, signature: &str| Record {
        label: expected.label.clone(),
        version: expected.version.clone(),
        rev: GitRev::parse(COMMIT).unwrap(),
        digest: Some(expected.digest),
        signer: Some(fingerprint(signer)),
        signature: Some(GitRev::parse(signature).unwrap()),
    };
    let remembered = Remembered::default();
    // Not remembered: the listing decides.
    assert!(Assessment::recorded(&expected, &record(&alice, TAG), &remembered).is_none());

    let bytes = signed(&alice, &expected);
    let signer = SignatureTag::parse(tag, &bytes)
        .unwrap()
        .verify_for(&expected)
        .unwrap()
        .signer;
    super::VerifiedTags::put(&remembered, tag, &bytes, &signer);
    let assessment = Assessment::recorded(&expected, &record(&alice, TAG), &remembered)
        .expect("the recorded tag, remembered by its signer");
    assert_eq!(assessment.digest, Some(expected.digest));
    assert_eq!(assessment.signed.len(), 1);
    assert_eq!(assessment.signed[0].signer.fingerprint, fingerprint(&alice));

    // Another signer recorded, another tag recorded, another atom expected: not taken.
    assert!(Assessment::recorded(&expected, &record(&bob, TAG), &remembered).is_none());
    let other_tag = "3333333333333333333333333333333333333333";
    assert!(Assessment::recorded(&expected, &record(&alice, other_tag), &remembered).is_none());
    let other = fields(COMMIT, "1.0.1");
    assert!(Assessment::recorded(&other, &record(&alice, TAG), &remembered).is_none());
    let no_signer = Record {
        signer: None,
        ..record(&alice, TAG)
    };
    assert!(Assessment::recorded(&expected, &no_signer, &remembered).is_none());
}
