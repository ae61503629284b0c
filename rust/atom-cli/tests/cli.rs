//! The `atom` binary, run as a user would, on real git repositories.

use atom_test_support as support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use support::{atom_repo, git, repo_root, scratch, write};

fn atom_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atom"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("ATOM_STORE")
        .output()
        .unwrap()
}

fn atom(args: &[&str]) -> Output {
    atom_in(Path::new("."), args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Runs a command that must fail with status 1; returns its stderr.
fn fails(output: Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stderr)
}

fn json(output: Output) -> serde_json::Value {
    serde_json::from_str(&ok(output)).unwrap()
}

#[test]
fn id_prints_the_spec_vector() {
    let out = ok(atom(&[
        "id",
        "68b63bd131acd23bdfd57983fe85ba7c092ce02f",
        "atom-nix",
    ]));
    assert_eq!(
        out,
        "r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0\n"
    );
    let err = fails(atom(&["id", "68b6", "atom-nix"]));
    assert_eq!(err, "error: invalid root \"68b6\": a root commit id has 40 hexadecimal digits, this one has 4 characters\n");
}

#[test]
fn init_publish_ls_resolve_show_verify() {
    let dir = scratch("cli-workflow");
    atom_repo(&dir);
    let root = git(&dir, &["rev-parse", "HEAD"]);
    assert_eq!(
        ok(atom_in(&dir, &["init"])),
        format!("initialized: refs/ekala/init -> {root}\n")
    );
    assert_eq!(
        ok(atom_in(&dir, &["init"])),
        format!("already initialized: refs/ekala/init -> {root}\n")
    );

    let published = ok(atom_in(&dir, &["publish"]));
    let alpha = git(&dir, &["rev-parse", "refs/eka/atoms/alpha/1.0.0"]);
    assert!(
        published.contains(&format!("published alpha 1.0.0 (pkgs/a) -> {alpha}\n")),
        "{published}"
    );
    assert!(
        published.contains("published beta 0.1.0 (b) -> "),
        "{published}"
    );
    let again = json(atom_in(&dir, &["publish", "--json"]));
    assert_eq!(again.as_array().unwrap().len(), 2);
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["created"] == false),
        "{again}"
    );

    assert_eq!(
        ok(atom_in(&dir, &["ls"])),
        format!(
            "alpha 1.0.0 {alpha}\nbeta 0.1.0 {}\n",
            git(&dir, &["rev-parse", "refs/eka/atoms/beta/0.1.0"])
        )
    );
    let id = ok(atom_in(&dir, &["id", "alpha"]));
    assert_eq!(id, ok(atom(&["id", &root, "alpha"])));
    let resolved = json(atom_in(&dir, &["resolve", "alpha@^1", "--json"]));
    assert_eq!(resolved["version"], "1.0.0");
    assert_eq!(resolved["rev"], alpha.as_str());
    assert_eq!(resolved["id"], id.trim());
    let resolved = ok(atom_in(
        &dir,
        &["resolve", &format!("{}::alpha@^1", dir.display())],
    ));
    assert!(
        resolved.starts_with(&format!("alpha 1.0.0 {alpha}")),
        "{resolved}"
    );

    assert_eq!(
        ok(atom_in(&dir, &["show", "alpha@1.0.0"])),
        support::manifest("alpha", "1.0.0")
    );
    let shown = json(atom_in(&dir, &["show", "alpha@1.0.0", "--json"]));
    assert_eq!(shown["package"]["label"], "alpha");

    let verified = ok(atom_in(&dir, &["verify"]));
    assert_eq!(verified.lines().count(), 2, "{verified}");
    ok(atom_in(&dir, &["verify", "alpha@1.0.0", "--id", id.trim()]));
    let err = fails(atom_in(
        &dir,
        &[
            "verify",
            "alpha",
            "--id",
            "r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0",
        ],
    ));
    assert!(err.contains("possible tampering"), "{err}");

    let err = fails(atom_in(&dir, &["resolve", "alpha@^2"]));
    assert_eq!(
        err,
        "error: no published version of alpha matches ^2 (published: 1.0.0)\n"
    );
    let err = json_error(atom_in(&dir, &["show", "alpha@9.0.0", "--json"]));
    assert_eq!(err, "alpha 9.0.0 is not published in this repository");
}

#[test]
fn digest_of_a_published_atom_matches_the_independent_checker() {
    let dir = scratch("cli-digest");
    atom_repo(&dir);
    // An executable file and a symlink too, so that every kind of entry is in the tree.
    write(&dir, "pkgs/a/bin/run", "#!/bin/sh\n");
    let run = dir.join("pkgs/a/bin/run");
    let mut mode = fs::metadata(&run).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o755);
    fs::set_permissions(&run, mode).unwrap();
    std::os::unix::fs::symlink("../mod.nix", dir.join("pkgs/a/bin/link")).unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "kinds"]);
    ok(atom_in(&dir, &["publish"]));

    let expected = support::run(
        Command::new("python3")
            .arg(repo_root().join("tests/digest/check_vectors.py"))
            .arg("--dir")
            .arg(dir.join("pkgs/a")),
    );
    assert!(expected.starts_with("blake3-"), "{expected}");
    assert_eq!(ok(atom_in(&dir, &["digest", "alpha@1.0.0"])), expected);
    assert_eq!(ok(atom_in(&dir, &["digest", "alpha"])), expected);
    let shown = json(atom_in(&dir, &["digest", "alpha@1.0.0", "--json"]));
    assert_eq!(shown["digest"], expected.trim());
    assert_eq!(shown["version"], "1.0.0");
    assert_eq!(
        shown["tree"],
        git(&dir, &["rev-parse", "refs/eka/atoms/alpha/1.0.0^{tree}"]).as_str()
    );
    let beta = ok(atom_in(&dir, &["digest", "beta@0.1.0"]));
    assert!(beta.starts_with("blake3-") && beta != expected, "{beta}");
    let err = json_error(atom_in(&dir, &["digest", "alpha@9.0.0", "--json"]));
    assert_eq!(err, "alpha 9.0.0 is not published in this repository");
}

fn json_error(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_str(&text(&output.stdout)).unwrap();
    value["error"].as_str().unwrap().to_owned()
}

#[test]
fn fetch_then_resolve_from_the_store() {
    let source = scratch("cli-fetch-source");
    atom_repo(&source);
    ok(atom_in(&source, &["init"]));
    ok(atom_in(&source, &["publish"]));
    let store = scratch("cli-fetch-store");
    let url = format!("file://{}", source.display());
    let fetched = json(atom(&[
        "fetch",
        &url,
        "--store",
        store.to_str().unwrap(),
        "--json",
    ]));
    let repo = fetched["repo"].as_str().unwrap().to_owned();
    // refs/ekala/init; per atom its ref, manifest and origin refs, and the mirror's record.
    assert_eq!(fetched["created"].as_array().unwrap().len(), 9, "{fetched}");
    let resolved = json(atom_in(Path::new(&repo), &["resolve", "beta", "--json"]));
    assert_eq!(resolved["version"], "0.1.0");
    // ATOM_STORE is the default store.
    let out = Command::new(env!("CARGO_BIN_EXE_atom"))
        .args(["fetch", source.to_str().unwrap()])
        .env("ATOM_STORE", &store)
        .output()
        .unwrap();
    assert!(ok(out).contains("0 new refs, 9 unchanged, 0 objects"));
    let err = fails(atom(&[
        "fetch",
        "/nonexistent",
        "--store",
        store.to_str().unwrap(),
    ]));
    assert!(err.contains("/nonexistent does not exist"), "{err}");
}

#[test]
fn concurrent_publishes_of_one_version_have_exactly_one_winner() {
    let dir = scratch("cli-race");
    atom_repo(&dir);
    for round in 0..8 {
        let version = format!("2.0.{round}");
        let mut revs = Vec::new();
        for side in ["left", "right"] {
            git(&dir, &["checkout", "-q", "-B", side, "main"]);
            write(
                &dir,
                "pkgs/a/atom.toml",
                &support::manifest("alpha", &version),
            );
            write(
                &dir,
                "pkgs/a/mod.nix",
                &format!("{{ Value = \"{side}\"; }}\n"),
            );
            git(&dir, &["commit", "-q", "-am", side]);
            revs.push(git(&dir, &["rev-parse", "HEAD"]));
        }
        let children: Vec<_> = revs
            .iter()
            .map(|rev| {
                Command::new(env!("CARGO_BIN_EXE_atom"))
                    .arg("-C")
                    .arg(&dir)
                    .args(["publish", "pkgs/a", "--rev", rev])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let winners: Vec<usize> = (0..2).filter(|&i| outputs[i].status.success()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {:?}", outputs);
        let loser = &outputs[1 - winners[0]];
        assert_eq!(loser.status.code(), Some(1));
        let err = text(&loser.stderr);
        assert!(
            err.contains("is already published as")
                || err.contains("cannot create refs/eka/atoms/alpha/"),
            "round {round}: {err}"
        );
        // Every ref of the version belongs to the winner.
        let winner_rev = &revs[winners[0]];
        assert_eq!(
            git(
                &dir,
                &[
                    "rev-parse",
                    &format!("refs/eka/meta/alpha/{version}/origin")
                ]
            ),
            *winner_rev
        );
        let atom_commit = git(
            &dir,
            &["rev-parse", &format!("refs/eka/atoms/alpha/{version}")],
        );
        assert!(git(&dir, &["cat-file", "commit", &atom_commit])
            .contains(&format!("origin {winner_rev}")));
        assert_eq!(
            git(
                &dir,
                &[
                    "rev-parse",
                    &format!("refs/eka/meta/alpha/{version}/manifest")
                ]
            ),
            git(
                &dir,
                &["rev-parse", &format!("{winner_rev}:pkgs/a/atom.toml")]
            )
        );
        ok(atom_in(&dir, &["verify", &format!("alpha@{version}")]));
    }
    assert_eq!(
        fs::read_dir(dir.join(".git/refs/eka/atoms/alpha"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".lock"))
            .count(),
        0,
        "no lock file is left behind"
    );
}

#[test]
fn check_accepts_a_valid_atom_with_its_lock() {
    let dir = scratch("cli-check-valid");
    fs::copy(
        repo_root().join("nix/examples/hello/atom.toml"),
        dir.join("atom.toml"),
    )
    .unwrap();
    let out = ok(atom(&["check", dir.to_str().unwrap()]));
    assert!(
        out.starts_with("ok: hello 0.1.0: ") && out.ends_with("atom.toml is valid\n"),
        "{out}"
    );
    fs::copy(
        repo_root().join("tests/fixtures/locks/atom-nix.atom.lock"),
        dir.join("atom.lock"),
    )
    .unwrap();
    let out = ok(atom(&["check", dir.join("atom.toml").to_str().unwrap()]));
    assert!(out.ends_with("atom.lock are valid\n"), "{out}");
}

#[test]
fn check_reports_the_pointed_error_and_fails() {
    let dir = scratch("cli-check-invalid");
    fs::copy(
        repo_root().join("tests/corpus/manifest/24-deps-undeclared-set.toml"),
        dir.join("atom.toml"),
    )
    .unwrap();
    let err = fails(atom(&["check", dir.to_str().unwrap()]));
    let expected =
        fs::read_to_string(repo_root().join("tests/corpus/manifest/24-deps-undeclared-set.err"))
            .unwrap()
            .replace(
                "manifest/24-deps-undeclared-set.toml",
                &dir.join("atom.toml").display().to_string(),
            );
    assert_eq!(err, format!("error: {expected}"));

    fs::copy(
        repo_root().join("nix/examples/hello/atom.toml"),
        dir.join("atom.toml"),
    )
    .unwrap();
    fs::write(dir.join("atom.lock"), "version = 2\n").unwrap();
    let err = fails(atom(&["check", dir.to_str().unwrap()]));
    assert!(
        err.contains("atom.lock:1:11: unsupported lock format version 2"),
        "{err}"
    );
    let err = fails(atom(&["check", "/nonexistent"]));
    assert!(
        err.starts_with("error: cannot read /nonexistent: "),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2_and_every_command_has_help() {
    assert_eq!(atom(&["frobnicate"]).status.code(), Some(2));
    for command in [
        "init", "publish", "fetch", "ls", "resolve", "show", "digest", "id", "verify", "check",
    ] {
        let out = ok(atom(&[command, "--help"]));
        assert!(out.contains("Usage: atom"), "{command}: {out}");
    }
}

#[test]
fn check_and_publish_agree_on_the_longest_version_and_label() {
    let dir = scratch("cli-long-version");
    atom_repo(&dir);
    ok(atom_in(&dir, &["init"]));
    let a = &dir.join("pkgs/a").display().to_string();
    let set = |label: &str, version: &str| {
        write(&dir, "pkgs/a/atom.toml", &support::manifest(label, version));
        git(&dir, &["commit", "-q", "-am", version]);
    };
    // 300 bytes: `atom publish` used to fail on it with "file name too long".
    let long = format!("1.0.0-{}", "x".repeat(294));
    set("alpha", &long);
    let check = fails(atom(&["check", a]));
    let message = format!(
        "invalid version \"1.0.0-{}...\": it is 300 bytes long, and a version can be at most 128 bytes (it becomes part of a git ref name); shorten its pre-release or build metadata",
        "x".repeat(34)
    );
    assert!(
        check.starts_with(&format!("error: {a}/atom.toml:3:11: {message}\n")),
        "{check}"
    );
    let publish = fails(atom_in(&dir, &["publish", "pkgs/a"]));
    assert!(
        publish.contains(&format!("pkgs/a/atom.toml:3:11: {message}")),
        "{publish}"
    );
    assert!(!publish.contains("too long"), "{publish}");

    // Exactly 128 bytes is accepted by both.
    let longest = format!("1.0.0-{}", "x".repeat(122));
    set("alpha", &longest);
    ok(atom(&["check", a]));
    ok(atom_in(&dir, &["publish", "pkgs/a"]));
    assert!(ok(atom_in(&dir, &["ls", "alpha"])).contains(&longest));

    // Labels have the same bound, checked the same way by both.
    set(&"l".repeat(129), "1.0.0");
    let check = fails(atom(&["check", a]));
    assert!(
        check.contains("pkgs/a/atom.toml:2:9: invalid label")
            && check.contains("cannot be more than 128 bytes"),
        "{check}"
    );
    let publish = fails(atom_in(&dir, &["publish", "pkgs/a"]));
    assert!(
        publish.contains("cannot be more than 128 bytes"),
        "{publish}"
    );
    set(&"l".repeat(128), "1.0.0");
    ok(atom(&["check", a]));
    ok(atom_in(&dir, &["publish", "pkgs/a"]));
}

/// `atom publish --push b` where `b` is an atom directory: refused before anything is published,
/// saying how to write either meaning; `--push=b` names a remote explicitly.
#[test]
fn publish_push_does_not_take_an_atom_directory_for_the_remote() {
    let dir = scratch("cli-push-arg");
    atom_repo(&dir);
    ok(atom_in(&dir, &["init"]));
    let err = fails(atom_in(&dir, &["publish", "--push", "b"]));
    assert!(
        err.contains("atom publish b --push") && err.contains("--push=b"),
        "{err}"
    );
    assert_eq!(git(&dir, &["for-each-ref", "refs/eka/atoms"]), "");
    // Explicitly a remote: published, then the push fails on the missing remote.
    let err = fails(atom_in(&dir, &["publish", "--push=b"]));
    assert!(!err.contains("atom publish b --push"), "{err}");
    assert_ne!(git(&dir, &["for-each-ref", "refs/eka/atoms"]), "");
}

/// `atom show URL::lib` and `atom resolve word::lib` say what was misunderstood and what to
/// write instead, rather than report a malformed label or a malformed file URL.
#[test]
fn show_and_resolve_explain_a_uri_they_cannot_use() {
    let dir = scratch("cli-uri-errors");
    atom_repo(&dir);
    let err = fails(atom_in(&dir, &["show", "https://h.example/r::lib"]));
    assert!(
        err.contains("this command takes an atom published in this repository")
            && err.contains("atom fetch https://h.example/r lib"),
        "{err}"
    );
    let err = fails(atom_in(&dir, &["resolve", "alice::lib"]));
    assert!(
        err.contains("\"alice\" in \"alice::lib\" is not a git remote of this repository, a URL alias, or a directory here"),
        "{err}"
    );
    let err = fails(atom_in(&dir, &["resolve", "./nowhere::lib"]));
    assert!(err.contains("no repository at \"./nowhere\""), "{err}");
}

/// Run from a subdirectory of the repository (the working directory, not `-C`), commands find
/// the repository as git does; atom paths are relative to where the user is; `atom new` inside
/// an atom warns that the outer atom would carry the inner one's files.
#[test]
fn commands_work_from_a_subdirectory() {
    let dir = scratch("cli-subdir");
    atom_repo(&dir);
    let pkgs = dir.join("pkgs");
    let run = |cwd: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_atom"))
            .current_dir(cwd)
            .args(args)
            .env_remove("ATOM_STORE")
            .output()
            .unwrap()
    };
    let published = ok(run(&pkgs, &["publish", "a"]));
    assert!(
        published.contains("published alpha 1.0.0 (pkgs/a)"),
        "{published}"
    );
    assert!(ok(run(&pkgs, &["ls"])).starts_with("alpha 1.0.0 "));
    ok(run(&pkgs.join("a"), &["check"]));
    ok(run(&pkgs.join("a"), &["verify", "alpha"]));
    let output = run(&pkgs.join("a"), &["new", "inner"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("is inside the atom at")
            && text(&output.stderr).contains("pkgs/a"),
        "{}",
        text(&output.stderr)
    );
    let output = run(&dir, &["new", "side"]);
    assert!(!text(&output.stderr).contains("inside the atom"));
}

/// `atom fetch` with no URL reads the lock of the atom in -C DIR (or --atom DIR): without one it
/// says what to do, and it takes neither labels nor --git without a URL.
#[test]
fn fetch_without_a_url_needs_a_lock() {
    let dir = scratch("cli-fill");
    let store = scratch("cli-fill-store");
    let store = store.to_str().unwrap();
    write(&dir, "app/atom.toml", &support::manifest("app", "0.1.0"));
    let err = fails(atom_in(&dir, &["fetch", "--atom", "app", "--store", store]));
    assert!(
        err.contains("app/atom.lock does not exist")
            && err.contains(&format!("run `atom lock {}/app`", dir.display())),
        "{err}"
    );
    let err = fails(atom_in(&dir, &["fetch", "--git", "--store", store]));
    assert!(err.contains("--git needs the URL"), "{err}");
    let output = atom_in(&dir, &["fetch", "--atom", "app", "x", "--store", store]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    // A lock with only local entries: nothing to fetch, nothing fetched.
    ok(atom_in(
        &dir.join("app"),
        &["lock", "--offline", "--store", store],
    ));
    let out = ok(atom_in(&dir.join("app"), &["fetch", "--store", store]));
    assert!(out.contains("the store has everything"), "{out}");
}

/// In a git worktree (whose `.git` is a file), commands that read the repository's URL aliases
/// work: there is no `.git/info/eka.toml` to read there.
#[test]
fn commands_work_in_a_worktree() {
    let top = scratch("cli-worktree");
    let dir = top.join("main");
    fs::create_dir(&dir).unwrap();
    atom_repo(&dir);
    ok(atom_in(&dir, &["publish"]));
    let tree = top.join("wt");
    git(
        &dir,
        &["worktree", "add", "-q", "-b", "wt", tree.to_str().unwrap()],
    );
    assert!(tree.join(".git").is_file());
    let url = format!("file://{}", dir.display());
    let out = ok(atom_in(&tree, &["ls", &url, "alpha"]));
    assert!(out.contains("alpha"), "{out}");
}
