//! The `atom` binary, run as a user would.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn atom(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atom"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn id_prints_the_spec_vector() {
    let out = atom(&["id", "68b63bd131acd23bdfd57983fe85ba7c092ce02f", "atom-nix"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0\n"
    );
    let out = atom(&["id", "68b6", "atom-nix"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: invalid root \"68b6\": a root commit id has 40 hexadecimal digits, this one has 4 characters\n"
    );
}

#[test]
fn check_accepts_a_valid_atom_with_its_lock() {
    let dir = scratch("valid");
    fs::copy(
        repo_root().join("nix/examples/hello/atom.toml"),
        dir.join("atom.toml"),
    )
    .unwrap();
    let out = atom(&["check", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("ok: hello 0.1.0: "),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).ends_with("atom.toml is valid\n"),
        "{}",
        text(&out.stdout)
    );

    fs::copy(
        repo_root().join("tests/fixtures/locks/atom-nix.atom.lock"),
        dir.join("atom.lock"),
    )
    .unwrap();
    let out = atom(&["check", dir.join("atom.toml").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("atom.lock are valid\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_reports_the_pointed_error_and_fails() {
    let dir = scratch("invalid");
    fs::copy(
        repo_root().join("tests/corpus/manifest/24-deps-undeclared-set.toml"),
        dir.join("atom.toml"),
    )
    .unwrap();
    let out = atom(&["check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let expected =
        fs::read_to_string(repo_root().join("tests/corpus/manifest/24-deps-undeclared-set.err"))
            .unwrap()
            .replace(
                "manifest/24-deps-undeclared-set.toml",
                &dir.join("atom.toml").display().to_string(),
            );
    assert_eq!(text(&out.stderr), format!("error: {expected}"));

    // A valid manifest with a broken lock fails on the lock.
    fs::copy(
        repo_root().join("nix/examples/hello/atom.toml"),
        dir.join("atom.toml"),
    )
    .unwrap();
    fs::write(dir.join("atom.lock"), "version = 2\n").unwrap();
    let out = atom(&["check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("atom.lock:1:11: unsupported lock format version 2"),
        "{}",
        text(&out.stderr)
    );

    let out = atom(&["check", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: cannot read /nonexistent: "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = atom(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
