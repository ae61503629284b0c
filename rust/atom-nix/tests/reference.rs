//! Interchangeability with the reference client (issue 21), against what it produced: the
//! fixtures of `tests/fixtures/reference/` (locks and manifests its `eka add` wrote, refs its
//! `eka publish` wrote, values its Nix loader nix-lock computed), made by
//! `scripts/compare-reference.sh EKA --update`. The repositories are recreated by the fixture's
//! `repos.sh` (deterministic commits), published with the real `atom` CLI, and evaluated with the
//! real plugin in the real `nix-instantiate`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::support::{self, repo_root};
use common::{nix_command, plugin, scratch, stderr, stdout, Scratch};

/// The `atom` CLI, checked to be built from the current sources.
fn atom_cli() -> PathBuf {
    support::artifact("atom", &["rust/atom/src", "rust/atom-cli/src"])
}

fn fixture(name: &str) -> String {
    let path = repo_root().join("tests/fixtures/reference").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The scenario's repositories under a fresh directory (`proj/`, `up/`, `mirror.git/`).
fn repos(name: &str) -> Scratch {
    let dir = scratch(name);
    let atom = atom_cli();
    let output = Command::new(repo_root().join("tests/fixtures/reference/repos.sh"))
        .arg(&dir)
        .arg(&atom)
        .arg(format!("{} publish", atom.display()))
        .env("ATOM_STORE", dir.join("publish-store"))
        .output()
        .unwrap();
    assert!(output.status.success(), "repos.sh: {}", stderr(&output));
    dir
}

/// Runs `atom -C dir args...` isolated in `dir/../home`, with the atom store `dir/../store`.
fn atom(dir: &Path, args: &[&str]) -> Output {
    let top = dir.parent().unwrap();
    Command::new(atom_cli())
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", top.join("home"))
        .env("XDG_CONFIG_HOME", top.join("home/config"))
        .env("NIX_CONF_DIR", top.join("home/etc"))
        .env("ATOM_STORE", top.join("store"))
        .output()
        .expect("atom runs")
}

fn atom_ok(dir: &Path, args: &[&str]) -> String {
    let output = atom(dir, args);
    assert!(
        output.status.success(),
        "atom {args:?}:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// The value of `builtins.atom.import atom` as `nix-instantiate --eval --strict` prints it.
fn value(atom: &Path) -> String {
    let home = scratch("reference-home");
    let output = nix_command("nix-instantiate", &home)
        .args(["--store", "dummy://", "--option", "plugin-files"])
        .arg(plugin())
        .args(["--eval", "--strict", "--expr"])
        .arg(format!("builtins.atom.import {}", atom.display()))
        .env(
            "ATOM_STORE",
            atom.parent().unwrap().parent().unwrap().join("store"),
        )
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// A fixture with `@DIR@` replaced by `dir`.
fn at(name: &str, dir: &Path) -> String {
    fixture(name).replace("@DIR@", dir.to_str().unwrap())
}

#[test]
fn published_refs_are_those_of_the_reference() {
    let dir = repos("ref-refs");
    let refs = Command::new("git")
        .args(["for-each-ref"])
        .current_dir(dir.join("up"))
        .output()
        .unwrap();
    assert_eq!(stdout(&refs).trim_end(), fixture("up.refs").trim_end());
}

#[test]
fn trivial_atoms_have_the_value_the_reference_loader_computes() {
    // lib is written by `atom new`, triv by hand: `[compose.as] nix = "."` imports default.nix
    // with `cfg` and `atoms` in scope.
    let dir = repos("ref-trivial");
    for atom in ["lib", "triv"] {
        assert_eq!(
            value(&dir.join("proj").join(atom)),
            fixture(&format!("proj-{atom}.value")).trim_end(),
            "{atom}"
        );
    }
}

#[test]
fn a_local_only_dependency_is_locked_and_read_as_the_reference_does() {
    let dir = repos("ref-local");
    let app = dir.join("proj/app");
    fs::write(app.join("atom.toml"), fixture("proj-app.atom.toml")).unwrap();
    // Written: byte for byte the reference's lock ([locker], `0.1.0-local`, no rev).
    atom_ok(&dir.join("proj"), &["lock", "app"]);
    assert_eq!(
        fs::read_to_string(app.join("atom.lock")).unwrap(),
        fixture("proj-app.atom.lock")
    );
    // Read: the reference's own lock satisfies the manifest and is evaluated, to the value the
    // reference's loader gives.
    fs::write(app.join("atom.lock"), fixture("proj-app.atom.lock")).unwrap();
    atom_ok(&dir.join("proj"), &["lock", "app", "--check"]);
    atom_ok(&dir.join("proj"), &["check", "app"]);
    assert_eq!(value(&app), fixture("proj-app.value").trim_end());
}

#[test]
fn a_local_set_with_a_mirror_locks_the_mirrors_newer_version_as_the_reference_does() {
    let dir = repos("ref-mirror");
    let app = dir.join("up/app");
    fs::write(app.join("atom.toml"), at("up-app.atom.toml", &dir)).unwrap();
    atom_ok(&dir.join("up"), &["lock", "app"]);
    assert_eq!(
        fs::read_to_string(app.join("atom.lock")).unwrap(),
        at("up-app.atom.lock", &dir)
    );
}

#[test]
fn a_trivial_directory_entry_is_its_default_nix_and_a_module_only_without_one() {
    let dir = scratch("ref-default-nix");
    let atom = dir.join("a");
    fs::create_dir_all(&atom).unwrap();
    fs::write(
        atom.join("atom.toml"),
        "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n\n[compose.as]\nnix = \".\"\n",
    )
    .unwrap();
    fs::write(atom.join("mod.nix"), "{ From = \"mod.nix\"; }\n").unwrap();
    // Only a mod.nix (which the reference cannot import): composed as a module, as before.
    assert_eq!(value(&atom), "{ from = \"mod.nix\"; }");
    // With a default.nix: that file, as the reference imports the directory, with `cfg` and
    // `atoms` in scope.
    fs::write(
        atom.join("default.nix"),
        "{ from = \"default.nix\"; v = cfg.package.version; atoms = builtins.attrNames atoms; }\n",
    )
    .unwrap();
    assert_eq!(
        value(&atom),
        "{ atoms = [ \"deps\" ]; from = \"default.nix\"; v = \"1.0.0\"; }"
    );
}

#[test]
fn a_lock_without_locker_is_read_and_gets_the_references_locker_when_locked() {
    let dir = repos("ref-no-locker");
    let proj = dir.join("proj");
    let app = proj.join("app");
    fs::write(app.join("atom.toml"), fixture("proj-app.atom.toml")).unwrap();
    // The reference's lock without its [locker] table (as atom-nix published its own).
    let full = fixture("proj-app.atom.lock");
    let start = full.find("[locker]").unwrap();
    let end = full.find("[compose]").unwrap();
    let without = format!("{}{}", &full[..start], &full[end..]);
    fs::write(app.join("atom.lock"), &without).unwrap();
    atom_ok(&proj, &["check", "app"]);
    assert_eq!(
        value(&app),
        fixture("proj-app.value").trim_end(),
        "read and evaluated"
    );
    let check = atom(&proj, &["lock", "app", "--check"]);
    assert!(!check.status.success(), "out of date without [locker]");
    atom_ok(&proj, &["lock", "app"]);
    assert_eq!(fs::read_to_string(app.join("atom.lock")).unwrap(), full);
}

/// A fixture of `tests/fixtures/reference/signed/` with `@DIR@` replaced by `dir` and `@MID@` by
/// the commit mid 0.1.0 was published at there (it names `dir` and its signature, so it differs
/// each time).
fn signed_fixture(name: &str, dir: &Path) -> String {
    let mid = Command::new("git")
        .args(["rev-parse", "refs/eka/atoms/mid/0.1.0"])
        .current_dir(dir.join("mirror.git"))
        .output()
        .unwrap();
    assert!(mid.status.success(), "{}", stderr(&mid));
    at(&format!("signed/{name}"), dir).replace("@MID@", stdout(&mid).trim())
}

#[test]
fn the_reference_locks_and_loads_signed_atoms_and_its_lock_of_them_is_read_here() {
    // Atoms published and signed by `atom publish` (a key made by ssh-keygen), mid with
    // atom.lock and atom.integrity, pushed with their signature tags to mirror.git.
    let dir = scratch("ref-signed");
    let output = Command::new(repo_root().join("tests/fixtures/reference/signed/repos.sh"))
        .arg(&dir)
        .arg(atom_cli())
        .env("ATOM_STORE", dir.join("store"))
        .env("HOME", dir.join("home"))
        .output()
        .unwrap();
    assert!(output.status.success(), "repos.sh: {}", stderr(&output));
    let signature = Command::new("git")
        .args(["cat-file", "-t", "refs/eka/meta/mid/0.1.0/signature"])
        .current_dir(dir.join("mirror.git"))
        .output()
        .unwrap();
    assert_eq!(stdout(&signature).trim(), "tag", "{}", stderr(&signature));

    // mid's lock, written by `atom lock` and published, is the one the reference writes.
    assert_eq!(
        fs::read_to_string(dir.join("pub/mid/atom.lock")).unwrap(),
        signed_fixture("mid.atom.lock", &dir)
    );

    // app, locked here against the signed mirror: the reference's lock, and atom.integrity
    // beside it.
    let cons = dir.join("cons");
    let app = cons.join("app");
    atom_ok(&cons, &["lock", "app"]);
    let reference_lock = signed_fixture("app.atom.lock", &dir);
    assert_eq!(
        fs::read_to_string(app.join("atom.lock")).unwrap(),
        reference_lock
    );
    let integrity = fs::read_to_string(app.join("atom.integrity")).unwrap();
    assert!(integrity.contains("signer = \"SHA256:"), "{integrity}");

    // The reference's own lock (no atom.integrity): accepted, its closure verifies through mid's
    // published atom.integrity, and it evaluates to the value the reference's loader computed.
    fs::write(app.join("atom.lock"), &reference_lock).unwrap();
    fs::remove_file(app.join("atom.integrity")).unwrap();
    atom_ok(&cons, &["lock", "app", "--check"]);
    let verified = atom_ok(&cons, &["verify", "--recursive", "app"]);
    assert!(verified.contains("2 atoms verified"), "{verified}");
    assert_eq!(
        verified.matches("signed by SHA256:").count(),
        2,
        "{verified}"
    );
    assert_eq!(value(&app), fixture("signed/app.value").trim_end());
}
