//! The content digest (docs/format.md#content-digest) on real git trees: the test vectors of
//! docs/format.md, recomputed by the independent checker `tests/digest/check_vectors.py`, match
//! `Repo::tree_digest` on trees git builds from the same files; and trees that have no digest are
//! refused.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use atom::digest::{ContentDigest, DigestError};
use atom::repo::{ObjectId, Repo, RepoError};

use atom_test_support as support;

use support::{git, git_input, repo_root, run, scratch};

/// The digest `Repo::tree_digest` gives the tree `tree` of the repository at `dir`.
fn digest_of(dir: &Path, tree: &str) -> Result<ContentDigest, RepoError> {
    let repo = Repo::open(dir).unwrap();
    repo.tree_digest(ObjectId::from_hex(tree.as_bytes()).unwrap())
}

#[test]
fn vectors_match_the_independent_checker() {
    let script = repo_root().join("tests/digest/check_vectors.py");
    // The checker exits non-zero when docs/format.md differs from what it computes.
    let output = run(Command::new("python3").arg(&script).arg("--json"));
    let vectors: serde_json::Value = serde_json::from_str(&output).unwrap();
    let vectors = vectors.as_array().unwrap();
    assert!(vectors.len() >= 6, "{vectors:?}");
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let dir = scratch(&format!("digest-{name}"));
        git(&dir, &["init", "-q"]);
        for file in vector["files"].as_array().unwrap() {
            let path = dir.join(file["path"].as_str().unwrap());
            let content = file["content"]
                .as_str()
                .unwrap()
                .repeat(file["repeat"].as_u64().unwrap_or(1) as usize);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            match file["kind"].as_str().unwrap() {
                "file" => fs::write(&path, content).unwrap(),
                "executable" => {
                    fs::write(&path, content).unwrap();
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
                }
                "symlink" => std::os::unix::fs::symlink(content, &path).unwrap(),
                other => panic!("unknown kind {other}"),
            }
        }
        git(&dir, &["add", "-A"]);
        let tree = git(&dir, &["write-tree"]);
        let digest = digest_of(&dir, &tree).unwrap();
        assert_eq!(
            digest.to_string(),
            vector["digest"].as_str().unwrap(),
            "vector {name}"
        );
        assert_eq!(
            vector["digest"]
                .as_str()
                .unwrap()
                .parse::<ContentDigest>()
                .unwrap(),
            digest
        );
    }
}

/// A tree object made of raw entries `(mode, name, id)`, written without git's checks.
fn raw_tree(dir: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let mut data = Vec::new();
    for (mode, name, id) in entries {
        data.extend_from_slice(mode.as_bytes());
        data.push(b' ');
        data.extend_from_slice(name);
        data.push(0);
        data.extend_from_slice(ObjectId::from_hex(id.as_bytes()).unwrap().as_bytes());
    }
    git_input(
        dir,
        &["hash-object", "-t", "tree", "-w", "--literally", "--stdin"],
        &data,
    )
}

#[test]
fn trees_without_a_digest_are_refused_with_the_entry_path() {
    let dir = scratch("digest-refused");
    git(&dir, &["init", "-q"]);
    let blob = git_input(&dir, &["hash-object", "-w", "--stdin"], b"x\n");
    let commit = git(
        &dir,
        &[
            "commit-tree",
            "-m",
            "c",
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        ],
    );
    let refused = |entries: &[(&str, &[u8], &str)]| {
        let inner = raw_tree(&dir, entries);
        let outer = raw_tree(&dir, &[("40000", b"sub", &inner)]);
        match digest_of(&dir, &outer) {
            Err(RepoError::Digest(e)) => e,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        refused(&[("160000", b"module", &commit)]),
        DigestError::Submodule {
            path: "sub/module".into()
        }
    );
    assert!(matches!(
        refused(&[("100644", b".Git", &blob)]),
        DigestError::Name { path, .. } if path == "sub/.Git"
    ));
    assert!(matches!(
        refused(&[("100644", b"a\xffb", &blob)]),
        DigestError::Name { .. }
    ));
    assert_eq!(
        refused(&[("100644", b"a", &blob), ("100755", b"a", &blob)]),
        DigestError::Duplicate {
            path: "sub/a".into()
        }
    );
}

#[test]
fn content_kinds_and_places_change_the_digest_and_nothing_else_does() {
    let dir = scratch("digest-kinds");
    git(&dir, &["init", "-q"]);
    let x = git_input(&dir, &["hash-object", "-w", "--stdin"], b"x\n");
    let y = git_input(&dir, &["hash-object", "-w", "--stdin"], b"y\n");
    let digest =
        |entries: &[(&str, &[u8], &str)]| digest_of(&dir, &raw_tree(&dir, entries)).unwrap();
    let base = digest(&[("100644", b"a", &x)]);
    assert_ne!(base, digest(&[("100644", b"a", &y)]));
    assert_ne!(base, digest(&[("100755", b"a", &x)]));
    assert_ne!(base, digest(&[("120000", b"a", &x)]));
    assert_ne!(base, digest(&[("100644", b"b", &x)]));
    // git's legacy group-writable mode is a regular file.
    assert_eq!(base, digest(&[("100664", b"a", &x)]));
    // The order of the entries in the git object (not canonical here) does not matter.
    assert_eq!(
        digest(&[("100644", b"a", &x), ("100644", b"b", &y)]),
        digest(&[("100644", b"b", &y), ("100644", b"a", &x)])
    );
    // A subtree named many times is the same wherever it is, and is hashed on its own.
    let inner = raw_tree(&dir, &[("100644", b"a", &x)]);
    let twice = digest(&[("40000", b"p", &inner), ("40000", b"q", &inner)]);
    let other = digest(&[("40000", b"p", &inner), ("40000", b"r", &inner)]);
    assert_ne!(twice, other);
    assert_eq!(digest_of(&dir, &inner).unwrap(), base);
}

#[test]
fn a_deeply_nested_tree_does_not_exhaust_the_stack() {
    // 20000 directories, one inside the other, written as loose objects by a short script (one
    // git process per level would take minutes). A recursive walk would overflow a test thread's
    // stack long before the bottom.
    let dir = scratch("digest-deep");
    git(&dir, &["init", "-q"]);
    let script = r#"
import hashlib, os, sys, zlib
def put(kind, data):
    raw = b"%s %d\0" % (kind, len(data)) + data
    oid = hashlib.sha1(raw).hexdigest()
    path = os.path.join(".git/objects", oid[:2], oid[2:])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(zlib.compress(raw))
    return oid
oid = put(b"blob", b"bottom\n")
oid = put(b"tree", b"100644 f\0" + bytes.fromhex(oid))
for _ in range(int(sys.argv[1])):
    oid = put(b"tree", b"40000 d\0" + bytes.fromhex(oid))
print(oid)
"#;
    let top = run(Command::new("python3")
        .current_dir(&dir)
        .args(["-c", script, "20000"]));
    let digest = digest_of(&dir, top.trim()).unwrap();
    assert!(digest.to_string().starts_with("blake3-"));
    let shallower = run(Command::new("python3")
        .current_dir(&dir)
        .args(["-c", script, "19999"]));
    assert_ne!(digest_of(&dir, shallower.trim()).unwrap(), digest);
}
