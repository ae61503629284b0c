//! Signed atoms end to end: real SSH keys made by `ssh-keygen`, a publisher that signs, a
//! consumer fetching over a real `git daemon` on 127.0.0.1, and a fork that shares the root
//! pushing versions to the very mirror the consumer uses, unsigned or signed by its own key.
//! The fork is refused by `atom lock --update`, by the evaluator (a lock edited by hand) and by
//! `atom verify --recursive`; trusting a key makes locking skip what it did not sign.

mod common;

use atom_test_support::servers;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::support::{git, write};
use common::{nix_command, plugin, scratch, stderr, stdout};
use servers::{serve_bare, Kind, Server};

fn atom_cli() -> PathBuf {
    common::support::artifact("atom", &["rust/atom/src", "rust/atom-cli/src"])
}

/// Runs `atom` in `dir` with the store `store`, git's configuration isolated to the
/// repository's own.
fn atom(store: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(atom_cli())
        .current_dir(dir)
        .env("ATOM_STORE", store)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("SSH_AUTH_SOCK", "/nonexistent")
        .args(args)
        .output()
        .expect("atom runs")
}

fn ok(store: &Path, dir: &Path, args: &[&str]) -> String {
    let output = atom(store, dir, args);
    assert!(
        output.status.success(),
        "atom {args:?} failed:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    format!("{}{}", stdout(&output), stderr(&output))
}

fn fails(store: &Path, dir: &Path, args: &[&str]) -> String {
    let output = atom(store, dir, args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "atom {args:?} should fail:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(!text.contains("panicked"), "{text}");
    text
}

/// A new ed25519 key pair `dir/name` (no passphrase); returns its fingerprint (`SHA256:…`).
fn keygen(dir: &Path, name: &str) -> String {
    let key = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let listed = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    String::from_utf8(listed.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

/// Sets git up in `repo` to sign with the SSH key `key`, as a publisher who signs commits does.
fn signs_with(repo: &Path, key: &Path) {
    git(repo, &["config", "gpg.format", "ssh"]);
    git(
        repo,
        &["config", "user.signingKey", &key.display().to_string()],
    );
}

fn lib_files(store: &Path, repo: &Path, version: &str, greeting: &str) {
    write(repo, "ekala.toml", "[set]\npackages = [\"lib\"]\n");
    write(
        repo,
        "lib/atom.toml",
        &format!(
            "[package]\nlabel = \"lib\"\nversion = \"{version}\"\n\n[compose.as]\nnix = \".\"\n"
        ),
    );
    write(
        repo,
        "lib/default.nix",
        &format!("{{ greeting = \"{greeting}\"; }}\n"),
    );
    // An evaluated atom is published with its lock.
    ok(store, repo, &["lock", "lib"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", version]);
}

/// `nix-instantiate --eval --strict` of `expr` with the plugin and the atom store `store`.
fn nix_eval(store: &Path, expr: &str) -> Output {
    let home = scratch("signing-home");
    nix_command("nix-instantiate", &home)
        .args(["--store", "dummy://", "--option", "plugin-files"])
        .arg(plugin())
        .args(["--option", "atom-store"])
        .arg(store)
        .args(["--eval", "--strict", "--expr", expr])
        .output()
        .unwrap()
}

/// The greeting of the atom `app`, evaluated.
fn eval(store: &Path, app: &Path) -> Output {
    nix_eval(
        store,
        &format!("(builtins.atom.import {}).greeting", app.display()),
    )
}

#[test]
fn a_fork_on_the_same_mirror_is_refused_unless_its_key_is_trusted() {
    let dir = scratch("signing");
    let store = dir.join("store");
    let keys = dir.join("keys");
    fs::create_dir_all(&keys).unwrap();
    let alice = keygen(&keys, "alice");
    let mallory = keygen(&keys, "mallory");

    // Alice publishes lib 1.0.0, signed through git's own configuration, to the mirror.
    let served = dir.join("served");
    // The servers serve `<dir>/repos`.
    let mirror = served.join("repos/lib.git");
    fs::create_dir_all(served.join("repos")).unwrap();
    serve_bare(&mirror);
    let up = dir.join("up");
    fs::create_dir_all(&up).unwrap();
    git(&up, &["init", "-q", "-b", "main"]);
    git(&up, &["config", "user.name", "Alice"]);
    git(&up, &["config", "user.email", "alice@example.org"]);
    signs_with(&up, &keys.join("alice"));
    lib_files(&store, &up, "1.0.0", "hello from alice");
    let mirror_path = mirror.display().to_string();
    ok(&store, &up, &["publish", "--push", &mirror_path]);

    // Stock git accepts the signature with an allowed-signers file.
    let signers = keys.join("allowed");
    let public = fs::read_to_string(keys.join("alice.pub")).unwrap();
    fs::write(
        &signers,
        format!("alice@example.org namespaces=\"git\" {public}"),
    )
    .unwrap();
    let verified = Command::new("git")
        .current_dir(&up)
        .args([
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", signers.display()),
        ])
        .args(["verify-tag", "refs/eka/meta/lib/1.0.0/signature"])
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(
        stderr(&verified).contains("Good \"git\" signature"),
        "{}",
        stderr(&verified)
    );

    // Every face shows the digest and the signer.
    let shown = ok(&store, &up, &["show", "lib@1.0.0", "--json"]);
    assert!(
        shown.contains(&format!("\"signer\":\"{alice}\"")),
        "{shown}"
    );
    assert!(shown.contains("\"digest\":\"blake3-"), "{shown}");
    let listed = ok(&store, &up, &["ls", "--json"]);
    assert!(
        listed.contains(&format!("\"signer\":\"{alice}\"")),
        "{listed}"
    );
    let resolved = nix_eval(
        &store,
        &format!(
            "with builtins.atom.resolve {{ repo = {}; label = \"lib\"; }}; [ signer digest ]",
            up.display()
        ),
    );
    let resolved_text = stdout(&resolved);
    assert!(
        resolved_text.contains(&alice),
        "{resolved_text}{}",
        stderr(&resolved)
    );
    assert!(resolved_text.contains("blake3-"), "{resolved_text}");

    // The consumer locks lib over git:// and the lock records digest and signer.
    let server = Server::start(Kind::Daemon, &served);
    let url = server.url("lib.git");
    let app = dir.join("app");
    fs::create_dir_all(&app).unwrap();
    git(&app, &["init", "-q", "-b", "main"]);
    write(
        &app,
        "atom.toml",
        &format!("[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nup = \"{url}\"\n\n[deps.from.up]\nlib = \"^1\"\n\n[compose.as]\nnix = \".\"\n"),
    );
    write(
        &app,
        "default.nix",
        "{ greeting = deps.from.up.lib.greeting; }\n",
    );
    ok(&store, &app, &["lock"]);
    let integrity = fs::read_to_string(app.join("atom.integrity")).unwrap();
    assert!(
        integrity.contains(&format!("signer = \"{alice}\"")),
        "{integrity}"
    );
    assert!(integrity.contains("digest = \"blake3-"), "{integrity}");
    let good = eval(&store, &app);
    assert!(good.status.success(), "{}", stderr(&good));
    assert_eq!(stdout(&good).trim(), "\"hello from alice\"");
    // The loaded graph shows what was checked: the pinned commit, digest and signer of lib.
    let graph = nix_eval(
        &store,
        &format!("builtins.toJSON (builtins.atom.graph {})", app.display()),
    );
    assert!(graph.status.success(), "{}", stderr(&graph));
    let graph: serde_json::Value =
        serde_json::from_str(&serde_json::from_str::<String>(stdout(&graph).trim()).unwrap())
            .unwrap();
    assert_eq!(graph[1]["name"], "app-0.1.0", "{graph}");
    assert_eq!(graph[1]["signer"], serde_json::Value::Null, "{graph}");
    assert_eq!(graph[1]["deps"], serde_json::json!([0]), "{graph}");
    let lib = &graph[0];
    assert_eq!(lib["label"], "lib", "{graph}");
    assert_eq!(lib["signer"].as_str(), Some(alice.as_str()), "{graph}");
    assert!(
        integrity.contains(&format!("digest = {}", lib["digest"])),
        "{graph}\n{integrity}"
    );
    assert!(
        integrity.contains(&format!("rev = {}", lib["rev"])),
        "{graph}\n{integrity}"
    );
    // The store remembers the signature it verified, so a warm load does no cryptography.
    let remembered = fs::read_dir(store.join("signatures")).unwrap().count();
    assert_eq!(remembered, 1);
    let verify = ok(&store, &app, &["verify", "--recursive"]);
    assert!(verify.contains("ok      lib-1.0.0"), "{verify}");
    assert!(verify.contains(&alice), "{verify}");

    // Mallory forks (same root) and pushes lib 1.0.1, unsigned, to the same mirror.
    let fork = dir.join("fork");
    git(
        &dir,
        &[
            "clone",
            "-q",
            &up.display().to_string(),
            &fork.display().to_string(),
        ],
    );
    git(
        &fork,
        &[
            "fetch",
            "-q",
            &mirror_path,
            "refs/ekala/init:refs/ekala/init",
        ],
    );
    git(&fork, &["config", "user.name", "Mallory"]);
    git(&fork, &["config", "user.email", "mallory@example.org"]);
    lib_files(&store, &fork, "1.0.1", "owned by mallory");
    ok(&store, &fork, &["publish", "--push", &mirror_path]);

    // Trust on first use: the update is refused, naming both sides.
    let refused = fails(&store, &app, &["lock", "--update"]);
    assert!(refused.contains("lib 1.0.1 is unsigned"), "{refused}");
    assert!(refused.contains(&alice), "{refused}");
    assert!(fs::read_to_string(app.join("atom.lock"))
        .unwrap()
        .contains("1.0.0"));

    // A lock edited by hand to pin the fork's commit: the evaluator and verify refuse it.
    let forked = git(&fork, &["rev-parse", "refs/eka/atoms/lib/1.0.1"]);
    let genuine = git(&up, &["rev-parse", "refs/eka/atoms/lib/1.0.0"]);
    let lock = fs::read_to_string(app.join("atom.lock")).unwrap();
    fs::write(
        app.join("atom.lock"),
        lock.replace(&genuine, &forked)
            .replace("\"1.0.0\"", "\"1.0.1\""),
    )
    .unwrap();
    ok(&store, &app, &["fetch"]);
    let evaluated = eval(&store, &app);
    assert!(
        !evaluated.status.success(),
        "the fork evaluated: {}",
        stdout(&evaluated)
    );
    let err = stderr(&evaluated);
    assert!(err.contains("lib-1.0.1 (pinned by app-0.1.0)"), "{err}");
    assert!(err.contains("has no record of commit"), "{err}");
    let failed = fails(&store, &app, &["verify", "--recursive"]);
    assert!(failed.contains("FAILED  lib-1.0.1"), "{failed}");
    // Recording the fork's commit by hand too: the key still differs.
    let integrity_text = fs::read_to_string(app.join("atom.integrity")).unwrap();
    fs::write(
        app.join("atom.integrity"),
        integrity_text
            .replace(&genuine, &forked)
            .replace("\"1.0.0\"", "\"1.0.1\""),
    )
    .unwrap();
    let err = stderr(&eval(&store, &app));
    assert!(err.contains("lib-1.0.1 (pinned by app-0.1.0)"), "{err}");
    fs::write(app.join("atom.lock"), &lock).unwrap();
    fs::write(app.join("atom.integrity"), &integrity_text).unwrap();

    // Mallory signs 1.0.2 with her own key: still refused on first use.
    signs_with(&fork, &keys.join("mallory"));
    lib_files(&store, &fork, "1.0.2", "owned by mallory");
    ok(&store, &fork, &["publish", "--push", &mirror_path]);
    let refused = fails(&store, &app, &["lock", "--update"]);
    assert!(
        refused.contains(&format!("lib 1.0.2 is signed by {mallory}")),
        "{refused}"
    );

    // Trusting Alice's key for the set: updates skip what she did not sign, and say so.
    let trusted = ok(
        &store,
        &app,
        &[
            "trust",
            "add",
            "up",
            &keys.join("alice.pub").display().to_string(),
        ],
    );
    assert!(trusted.contains(&alice), "{trusted}");
    assert!(fs::read_to_string(app.join("atom.signers"))
        .unwrap()
        .contains("up namespaces=\"git\" ssh-ed25519 "));
    let listed = ok(&store, &app, &["trust", "ls"]);
    assert!(listed.contains(&format!("up  {alice}")), "{listed}");
    let updated = ok(&store, &app, &["lock", "--update"]);
    assert!(updated.contains("skipped 1.0.2 (signed by"), "{updated}");
    assert!(updated.contains("1.0.1 (unsigned)"), "{updated}");
    assert!(fs::read_to_string(app.join("atom.lock"))
        .unwrap()
        .contains("\"1.0.0\""));
    // An atom in a subdirectory of the repository, locked from its own directory (the path
    // `.`), is under the same trust file.
    write(
        &app,
        "sub/atom.toml",
        &format!("[package]\nlabel = \"sub\"\nversion = \"0.1.0\"\n\n[package.sets]\nup = \"{url}\"\n\n[deps.from.up]\nlib = \"^1\"\n\n[compose.as]\nnix = \".\"\n"),
    );
    let locked = ok(&store, &app.join("sub"), &["lock"]);
    assert!(locked.contains("skipped 1.0.2 (signed by"), "{locked}");
    let sub_lock = fs::read_to_string(app.join("sub/atom.lock")).unwrap();
    assert!(sub_lock.contains("\"1.0.0\""), "{sub_lock}");
    fs::remove_dir_all(app.join("sub")).unwrap();

    // Alice publishes 1.1.0: it is taken.
    lib_files(&store, &up, "1.1.0", "hello again from alice");
    git(&up, &["fetch", "-q", &mirror_path, "refs/eka/*:refs/eka/*"]);
    ok(&store, &up, &["publish", "--push", &mirror_path]);
    ok(&store, &app, &["lock", "--update"]);
    let good = eval(&store, &app);
    assert_eq!(
        stdout(&good).trim(),
        "\"hello again from alice\"",
        "{}",
        stderr(&good)
    );
    let verify = ok(&store, &app, &["verify", "--recursive", "--json"]);
    assert!(verify.contains("\"failed\":0"), "{verify}");

    // `atom store verify` checks the signatures the store keeps: one moved onto another atom
    // is reported.
    ok(&store, &app, &["store", "verify"]);
    let root = git(&up, &["rev-parse", "refs/ekala/init"]);
    let set = store.join(format!("{root}.git"));
    let mallory_commit = git(&fork, &["rev-parse", "refs/eka/atoms/lib/1.0.2"]);
    let kept = git(
        &set,
        &[
            "for-each-ref",
            "--format=%(objectname)",
            &format!("refs/atom/signatures/{mallory_commit}/"),
        ],
    );
    assert_eq!(
        kept.lines().count(),
        1,
        "the store keeps Mallory's valid signature: {kept}"
    );
    git(
        &set,
        &[
            "update-ref",
            &format!("refs/atom/signatures/{genuine}/{}", kept.trim()),
            kept.trim(),
        ],
    );
    let reported = fails(&store, &app, &["store", "verify"]);
    assert!(reported.contains("lib-1.0.0"), "{reported}");
    assert!(
        reported.contains("a signature the store keeps for it is invalid"),
        "{reported}"
    );
    git(
        &set,
        &[
            "update-ref",
            "-d",
            &format!("refs/atom/signatures/{genuine}/{}", kept.trim()),
        ],
    );

    // A collection keeps what the lock needs, its signature included, and forgets the loaded
    // graphs (they may name what it removed).
    assert!(store.join("graphs").is_dir());
    let collected = ok(&store, &app, &["store", "gc", "."]);
    assert!(collected.contains("lib"), "{collected}");
    assert!(!store.join("graphs").exists());
    let good = eval(&store, &app);
    assert_eq!(
        stdout(&good).trim(),
        "\"hello again from alice\"",
        "{}",
        stderr(&good)
    );

    // Only Mallory's key trusted: nothing Alice signed is accepted.
    ok(&store, &app, &["trust", "rm", "up"]);
    ok(
        &store,
        &app,
        &[
            "trust",
            "add",
            "up",
            &keys.join("mallory.pub").display().to_string(),
        ],
    );
    let err = stderr(&eval(&store, &app));
    assert!(err.contains(&format!("trusts only {mallory}")), "{err}");
    drop(server);
}
