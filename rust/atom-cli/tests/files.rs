//! Files the `atom` CLI reads itself (`atom.toml`, `atom.lock`) must be regular files inside the
//! atom: a symlink is refused without showing what it points at, and a FIFO is refused at once
//! instead of blocking the command forever.

use atom_test_support as support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{atom_repo, git, scratch, write};

/// Runs `atom args...` in `dir` and fails the test if it takes more than 20 seconds (it is
/// killed then, so a blocking open cannot hang the test suite).
fn atom_in(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atom"))
        .current_dir(dir)
        .args(args)
        .env("ATOM_STORE", dir.join("store"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            let _ = child.wait();
            panic!(
                "atom {args:?} in {} did not finish within 20 s",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The stderr of a command that must fail with status 1.
fn fails(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    stderr
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

const MANIFEST: &str =
    "[package]\nlabel = \"a\"\nversion = \"0.1.0\"\n\n[compose.as]\nnix = \".\"\n";
/// What the outside file holds: it must never appear in an error.
const SECRET: &str = "password = \"hunter2\"\n";

#[test]
fn a_symlinked_manifest_or_lock_is_refused_without_showing_its_target() {
    let dir = scratch("files-symlink");
    write(&dir, "secret.toml", SECRET);
    let atom = dir.join("a");
    fs::create_dir_all(&atom).unwrap();
    std::os::unix::fs::symlink(dir.join("secret.toml"), atom.join("atom.toml")).unwrap();
    for args in [&["check", "a"][..], &["lock", "a"]] {
        let err = fails(atom_in(&dir, args));
        assert_eq!(
            err,
            "error: a/atom.toml is a symlink: an atom's manifest must be a regular file inside the atom (replace the link with a copy of the file)\n",
            "{args:?}"
        );
    }

    fs::remove_file(atom.join("atom.toml")).unwrap();
    write(&atom, "atom.toml", MANIFEST);
    std::os::unix::fs::symlink(dir.join("secret.toml"), atom.join("atom.lock")).unwrap();
    for args in [
        &["check", "a"][..],
        &["lock", "a"],
        &["lock", "a", "--check"],
    ] {
        let err = fails(atom_in(&dir, args));
        assert_eq!(
            err,
            "error: a/atom.lock is a symlink: an atom's lock must be a regular file inside the atom (replace the link with a copy of the file)\n",
            "{args:?}"
        );
        assert!(!err.contains("hunter2"));
    }
    // A dangling link is not "no lock": it is refused the same way.
    fs::remove_file(atom.join("atom.lock")).unwrap();
    std::os::unix::fs::symlink(dir.join("nowhere"), atom.join("atom.lock")).unwrap();
    assert!(fails(atom_in(&dir, &["check", "a"])).contains("a/atom.lock is a symlink"));
}

#[test]
fn a_fifo_manifest_or_lock_is_refused_at_once() {
    let dir = scratch("files-fifo");
    let atom = dir.join("a");
    fs::create_dir_all(&atom).unwrap();
    mkfifo(&atom.join("atom.toml"));
    for args in [&["check", "a"][..], &["lock", "a"]] {
        let err = fails(atom_in(&dir, args));
        assert_eq!(
            err,
            "error: a/atom.toml is a FIFO (named pipe): an atom's manifest must be a regular file inside the atom\n",
            "{args:?}"
        );
    }
    fs::remove_file(atom.join("atom.toml")).unwrap();
    write(&atom, "atom.toml", MANIFEST);
    mkfifo(&atom.join("atom.lock"));
    for args in [
        &["check", "a"][..],
        &["lock", "a"],
        &["lock", "a", "--check"],
    ] {
        let err = fails(atom_in(&dir, args));
        assert_eq!(
            err,
            "error: a/atom.lock is a FIFO (named pipe): an atom's lock must be a regular file inside the atom\n",
            "{args:?}"
        );
    }
}

#[test]
fn publish_refuses_an_atom_whose_lock_or_manifest_is_a_committed_symlink() {
    let dir = scratch("files-publish");
    atom_repo(&dir);
    write(&dir, "secret.toml", SECRET);
    fs::remove_file(dir.join("b/atom.lock")).unwrap();
    std::os::unix::fs::symlink("../secret.toml", dir.join("b/atom.lock")).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "link"]);
    assert!(atom_in(&dir, &["init"]).status.success());
    let err = fails(atom_in(&dir, &["publish", "b"]));
    assert!(
        err.contains("b is not an atom in commit") && err.contains("its atom.lock is not a regular file (a symlink or a directory); commit the file itself"),
        "{err}"
    );
    fs::remove_file(dir.join("b/atom.lock")).unwrap();
    fs::remove_file(dir.join("b/atom.toml")).unwrap();
    std::os::unix::fs::symlink("../secret.toml", dir.join("b/atom.toml")).unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "link"]);
    let err = fails(atom_in(&dir, &["publish", "b"]));
    assert!(err.contains("its atom.toml is not a regular file"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    // The set manifest too, when publishing every atom it lists.
    fs::remove_file(dir.join("ekala.toml")).unwrap();
    std::os::unix::fs::symlink("secret.toml", dir.join("ekala.toml")).unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "link"]);
    let err = fails(atom_in(&dir, &["publish"]));
    assert!(
        err.contains("is a symlink, not a regular file: commit the file itself"),
        "{err}"
    );
}
