//! The everyday workflow through the `atom` binary, on real git repositories: publishing many
//! atoms (unchanged ones skipped, every outcome reported), locks that update quietly, `atom add`,
//! `atom new`, and errors that say what to do.

use atom_test_support as support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use support::{atom_repo, git, manifest, scratch, write};

/// Runs `atom -C dir args...` with the atom store `dir/../store` unless `ATOM_STORE` is given in
/// `env`, and no Nix configuration of the machine.
fn atom_env(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = atom_command(dir, args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// The command [`atom_env`] runs, to spawn it instead.
fn atom_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_atom"));
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("ATOM_STORE", dir.parent().unwrap().join("store"))
        .env("NIX_CONF_DIR", dir.parent().unwrap().join("no-nix-conf"))
        .env("XDG_CONFIG_HOME", dir.parent().unwrap().join("no-config"))
        .env_remove("XDG_CONFIG_DIRS")
        .env_remove("NIX_USER_CONF_FILES")
        .env_remove("NIX_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

fn atom(dir: &Path, args: &[&str]) -> Output {
    atom_env(dir, args, &[])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The stdout of a command that must succeed.
fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// (stdout, stderr) of a command that must fail with status 1.
fn fails(output: Output) -> (String, String) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    (text(&output.stdout), text(&output.stderr))
}

/// A fresh directory holding `repo/` (a repository from [`atom_repo`]); returns `repo`.
fn project(name: &str) -> support::Scratch {
    let dir = scratch(name).nest("repo");
    fs::create_dir_all(&dir).unwrap();
    atom_repo(&dir);
    dir
}

fn commit(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
}

#[test]
fn publish_skips_unchanged_atoms_and_reports_every_outcome() {
    let dir = project("wf-publish-unchanged");
    let first = git(&dir, &["rev-parse", "HEAD"]);
    ok(atom(&dir, &["publish"]));
    let alpha = git(&dir, &["rev-parse", "refs/eka/atoms/alpha/1.0.0"]);
    let beta = git(&dir, &["rev-parse", "refs/eka/atoms/beta/0.1.0"]);

    // A new commit that changes no atom: nothing to publish, and that is not an error.
    write(&dir, "README", "hello\n");
    commit(&dir, "readme");
    let out = ok(atom(&dir, &["publish"]));
    assert_eq!(
        out,
        format!(
            "unchanged alpha 1.0.0 (pkgs/a) -> {alpha} (published from {first})\n\
             unchanged beta 0.1.0 (b) -> {beta} (published from {first})\n\
             0 published, 2 unchanged, 0 failed\n"
        )
    );

    // Different content under a published version fails that atom only; a new atom is still
    // published, and every outcome is reported.
    write(&dir, "pkgs/a/mod.nix", "{ Value = 2; }\n");
    support::trivial_atom(&dir, "c", "gamma", "0.1.0");
    write(
        &dir,
        "ekala.toml",
        "[set]\npackages = [\"pkgs/a\", \"b\", \"c\"]\n",
    );
    commit(&dir, "change alpha without a bump, add gamma");
    let (stdout, stderr) = fails(atom(&dir, &["publish"]));
    let gamma = git(&dir, &["rev-parse", "refs/eka/atoms/gamma/0.1.0"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].starts_with("failed alpha 1.0.0 (pkgs/a): alpha 1.0.0 is already published as ")
            && lines[0].ends_with("bump the version in its atom.toml"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("unchanged beta 0.1.0 (b) -> "),
        "{stdout}"
    );
    assert_eq!(lines[2], format!("published gamma 0.1.0 (c) -> {gamma}"));
    assert_eq!(lines[3], "1 published, 1 unchanged, 1 failed");
    assert!(
        stderr.starts_with("error: 1 of 3 atoms failed to publish:\n  alpha 1.0.0 (pkgs/a): "),
        "{stderr}"
    );

    // The same report as a JSON array, still exit 1.
    let output = atom(&dir, &["publish", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let statuses: Vec<&str> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "unchanged", "unchanged"], "{report}");
    assert_eq!(report[0]["label"], "alpha");
    assert!(report[0]["error"]
        .as_str()
        .unwrap()
        .contains("already published"));
    assert_eq!(report[2]["rev"], gamma.as_str());
}

#[test]
fn publish_refuses_a_missing_or_stale_lock_and_warns_about_uncommitted_files() {
    let dir = project("wf-publish-lock");
    ok(atom(&dir, &["publish"]));
    // beta 0.2.0 depends on alpha, from this repository, but has no lock.
    write(
        &dir,
        "b/atom.toml",
        "[package]\nlabel = \"beta\"\nversion = \"0.2.0\"\n\n[package.sets]\nhere = \"::\"\n\n[compose.as]\nnix = \".\"\n\n[deps.from.here]\nalpha = \"^1\"\n",
    );
    fs::remove_file(dir.join("b/atom.lock")).unwrap();
    commit(&dir, "beta depends on alpha");
    let (stdout, stderr) = fails(atom(&dir, &["publish", "b"]));
    assert!(
        stdout.contains("failed beta 0.2.0 (b): b cannot be published: it declares dependencies but has no atom.lock in the commit; run `atom lock b`, commit atom.lock, and publish again"),
        "{stdout}"
    );
    assert!(stderr.contains("1 of 1 atoms failed"), "{stderr}");
    assert!(git(&dir, &["for-each-ref", "refs/eka/atoms/beta/0.2.0"]).is_empty());

    // Locked, it publishes.
    ok(atom(&dir, &["lock", "b"]));
    commit(&dir, "lock beta");
    ok(atom(&dir, &["publish", "b"]));

    // A lock the manifest no longer accepts is refused too.
    let widened = fs::read_to_string(dir.join("b/atom.toml"))
        .unwrap()
        .replace("0.2.0", "0.3.0")
        .replace("alpha = \"^1\"", "alpha = \"^2\"");
    write(&dir, "b/atom.toml", &widened);
    commit(&dir, "beta wants alpha 2");
    let (stdout, _) = fails(atom(&dir, &["publish", "b"]));
    assert!(
        stdout.contains("it locks alpha 1.0.0, which the manifest's requirement ^2 no longer accepts; run `atom lock b`"),
        "{stdout}"
    );

    // Uncommitted edits: publish reads the commit, and says which files differ.
    write(&dir, "pkgs/a/mod.nix", "{ Value = 9; }\n");
    write(&dir, "pkgs/a/new.nix", "{ }\n");
    let output = atom(&dir, &["publish", "pkgs/a"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: pkgs/a: publishing commit ")
            && stderr.contains("differs from the working tree (mod.nix (modified), new.nix (not committed)); publish reads the commit"),
        "{stderr}"
    );
}

#[test]
fn publish_initialises_a_repository_without_identity_so_that_fetch_finds_its_atoms() {
    let dir = project("wf-publish-init");
    let root = git(&dir, &["rev-parse", "HEAD"]);
    let out = ok(atom(&dir, &["publish"]));
    assert!(
        out.starts_with(&format!("initialized: refs/ekala/init -> {root} (")),
        "{out}"
    );
    assert_eq!(git(&dir, &["rev-parse", "refs/ekala/init"]), root);
    let fetched = ok(atom(&dir, &["fetch", dir.to_str().unwrap()]));
    assert!(fetched.contains("new refs"), "{fetched}");
    // Nothing to publish: no identity is created.
    let empty = scratch("wf-publish-init-empty").nest("repo");
    fs::create_dir_all(&empty).unwrap();
    git(&empty, &["init", "-q", "-b", "main"]);
    write(&empty, "ekala.toml", "[set]\npackages = [\"missing\"]\n");
    commit(&empty, "init");
    fails(atom(&empty, &["publish"]));
    assert!(git(&empty, &["for-each-ref", "refs/ekala"]).is_empty());
}

#[test]
fn the_store_is_the_atom_store_setting_of_nix_configuration_as_for_the_plugin() {
    let dir = project("wf-store-setting");
    let top = dir.parent().unwrap().to_owned();
    ok(atom(&dir, &["publish"]));
    let root = git(&dir, &["rev-parse", "refs/ekala/init"]);
    let etc = top.join("etc");
    fs::create_dir_all(&etc).unwrap();
    fs::write(
        etc.join("nix.conf"),
        format!(
            "# the system's\natom-store = {}\n",
            top.join("from-conf").display()
        ),
    )
    .unwrap();
    let url = dir.to_str().unwrap();
    // nix.conf wins over ATOM_STORE, as the plugin's setting does.
    let out = ok(atom_env(&dir, &["fetch", url], &[("NIX_CONF_DIR", &etc)]));
    assert!(
        out.contains(&format!(
            "into {}",
            top.join("from-conf").join(format!("{root}.git")).display()
        )),
        "{out}"
    );
    // NIX_CONFIG wins over nix.conf.
    let mut command = Command::new(env!("CARGO_BIN_EXE_atom"));
    let output = command
        .args(["fetch", url])
        .env("NIX_CONF_DIR", &etc)
        .env(
            "NIX_CONFIG",
            format!("atom-store = {}", top.join("from-env").display()),
        )
        .env("XDG_CONFIG_HOME", top.join("no-config"))
        .env_remove("NIX_USER_CONF_FILES")
        .output()
        .unwrap();
    assert!(ok(output).contains(&top.join("from-env").display().to_string()));
    // --store wins over both; without any setting, ATOM_STORE is used.
    let out = ok(atom_env(
        &dir,
        &["fetch", url, "--store", top.join("given").to_str().unwrap()],
        &[("NIX_CONF_DIR", &etc)],
    ));
    assert!(
        out.contains(&top.join("given").display().to_string()),
        "{out}"
    );
    let out = ok(atom(&dir, &["fetch", url]));
    assert!(
        out.contains(&top.join("store").display().to_string()),
        "{out}"
    );
}

/// `app` (in `dir`) depending on `alpha` of this repository (`here = "::"`).
const APP: &str = "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nhere = \"::\"\n\n[compose.as]\nnix = \".\"\n\n[deps.from.here]\nalpha = \"^1\"\n";

fn publish_alpha(dir: &Path, version: &str) {
    write(dir, "pkgs/a/atom.toml", &manifest("alpha", version));
    commit(dir, &format!("alpha {version}"));
    ok(atom(dir, &["publish", "pkgs/a"]));
}

fn mtime(path: &Path) -> std::time::SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn lock_update_re_resolves_and_rewrites_only_what_changes() {
    let dir = project("wf-lock-update");
    ok(atom(&dir, &["publish"]));
    write(&dir, "app/atom.toml", APP);
    write(&dir, "app/mod.nix", "{ }\n");
    let lock = dir.join("app/atom.lock");
    ok(atom(&dir, &["lock", "app"]));
    assert!(fs::read_to_string(&lock)
        .unwrap()
        .contains("version = \"1.0.0\""));

    // Another tool's layout: [compose] before [sets], a comment. In sync: not rewritten.
    let text = fs::read_to_string(&lock).unwrap();
    let compose = "[compose]\nuse = \"nix\"\nentry = \".\"\n\n";
    let sets_at = text.find("[sets.").unwrap();
    let reordered = format!(
        "# kept by hand\n{}{compose}{}",
        &text[..sets_at].replace(LOCK_HEADER, ""),
        &text[sets_at..].replace(compose, "")
    );
    fs::write(&lock, &reordered).unwrap();
    let before = mtime(&lock);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = ok(atom(&dir, &["lock", "app"]));
    assert_eq!(
        out,
        format!("unchanged: {}\n", dir.join("app/atom.lock").display())
    );
    assert_eq!(fs::read_to_string(&lock).unwrap(), reordered);
    assert_eq!(mtime(&lock), before, "not even rewritten");
    ok(atom(&dir, &["lock", "app", "--check"]));

    // A newer version: kept until asked for.
    publish_alpha(&dir, "1.1.0");
    ok(atom(&dir, &["lock", "app"]));
    assert_eq!(fs::read_to_string(&lock).unwrap(), reordered);
    let err = fails(atom(&dir, &["lock", "app", "--update", "nosuch"])).1;
    assert_eq!(
        err,
        "error: nosuch is not a dependency of this atom (its dependencies: alpha)\n"
    );
    let out = ok(atom(&dir, &["lock", "app", "--update", "alpha"]));
    assert!(
        out.starts_with("updated alpha 1.0.0 -> 1.1.0\nwrote "),
        "{out}"
    );
    let updated = fs::read_to_string(&lock).unwrap();
    let alpha = git(&dir, &["rev-parse", "refs/eka/atoms/alpha/1.1.0"]);
    // Only the entry changed: the rest keeps its bytes.
    let old_alpha = git(&dir, &["rev-parse", "refs/eka/atoms/alpha/1.0.0"]);
    assert_eq!(
        updated,
        reordered
            .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
            .replace(&old_alpha, &alpha)
    );
    // --update with no name: every dependency.
    publish_alpha(&dir, "1.2.0");
    let out = ok(atom(&dir, &["lock", "app", "--update"]));
    assert!(out.starts_with("updated alpha 1.1.0 -> 1.2.0\n"), "{out}");
    assert!(fs::read_to_string(&lock)
        .unwrap()
        .starts_with("# kept by hand\n"));
}

const LOCK_HEADER: &str =
    "# This file is automatically @generated by eka.\n# It is not intended for manual editing.\n";

#[test]
fn check_reports_a_missing_or_stale_lock_and_missing_paths_like_lock_check() {
    let dir = project("wf-check");
    ok(atom(&dir, &["publish"]));
    write(&dir, "app/atom.toml", APP);
    write(&dir, "app/mod.nix", "{ }\n");
    let err = fails(atom(&dir, &["check", "app"])).1;
    assert!(
        err.contains(
            "app/atom.lock: the atom declares dependencies but has no atom.lock; run `atom lock"
        ),
        "{err}"
    );
    fails(atom(&dir, &["lock", "app", "--check"]));
    ok(atom(&dir, &["lock", "app"]));
    ok(atom(&dir, &["check", "app"]));
    // The manifest now wants a version the lock does not have.
    write(&dir, "app/atom.toml", &APP.replace("^1", "^2"));
    let err = fails(atom(&dir, &["check", "app"])).1;
    assert!(
        err.contains("it locks alpha 1.0.0, which the manifest's requirement ^2 no longer accepts"),
        "{err}"
    );
    fails(atom(&dir, &["lock", "app", "--check"]));
    // A compose path that does not exist.
    write(
        &dir,
        "app/atom.toml",
        &APP.replace("nix = \".\"", "nix = \"src\""),
    );
    for args in [&["check", "app"][..], &["lock", "app", "--check"]] {
        let err = fails(atom(&dir, args)).1;
        assert!(
            err.contains("app/atom.toml: [compose.as] nix = \"src\", but ")
                && err.contains("app/src does not exist"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn errors_say_what_to_do() {
    let dir = project("wf-errors");
    let top = dir.parent().unwrap().to_owned();
    // Nothing published yet.
    assert_eq!(
        ok(atom(&dir, &["ls"])),
        "no atom is published in this repository (publish with `atom publish`)\n"
    );
    ok(atom(&dir, &["publish"]));
    publish_alpha(&dir, "1.1.0");
    // `show LABEL`: the latest version.
    let shown = ok(atom(&dir, &["show", "alpha"]));
    assert!(shown.contains("version = \"1.1.0\""), "{shown}");
    // A mistyped label: the labels there are, closest first.
    let err = fails(atom(&dir, &["resolve", "betta"])).1;
    assert_eq!(
        err,
        "error: no published version of betta matches * (no version of it is published here; labels published here, closest first: beta, alpha)\n"
    );
    let err = fails(atom(&dir, &["show", "alpah"])).1;
    assert!(err.contains("closest first: alpha, beta"), "{err}");

    // A consumer outside the repository, from the store.
    let url = format!("file://{}", dir.display());
    ok(atom(&dir, &["fetch", &url]));
    let consumer = top.join("consumer");
    write(
        &consumer,
        "atom.toml",
        &APP.replace("\"::\"", &format!("\"{url}\""))
            .replace("^1", "^2"),
    );
    write(&consumer, "mod.nix", "{ }\n");
    // Not published anywhere: online, the mirror says what it publishes; offline, the store.
    let err = fails(atom(&consumer, &["lock"])).1;
    assert_eq!(
        err,
        format!(
            "error: no published version of alpha matches ^2 at {url}: it publishes 1.1.0, 1.0.0\n"
        )
    );
    let err = fails(atom(&consumer, &["lock", "--offline"])).1;
    assert!(
        err.starts_with("error: no published version of alpha matches ^2: the atom store has only 1.1.0, 1.0.0; it was last fetched from ")
            && err.contains(&format!("; if a matching version was published since, run `atom fetch {url}`")),
        "{err}"
    );
    // Published since the store was filled: offline, the store is stale; online, `atom lock`
    // fetches it from the mirror.
    publish_alpha(&dir, "2.0.0");
    let err = fails(atom(&consumer, &["lock", "--offline"])).1;
    assert!(
        err.starts_with(&format!("error: alpha 2.0.0 (matching ^2) is published at {url}, but the atom store is out of date: it has only 1.1.0, 1.0.0; it was last fetched from {url} on "))
            && err.ends_with(&format!(" UTC; run `atom fetch {url}`\n")),
        "{err}"
    );
    ok(atom(&consumer, &["lock"]));
    assert!(fs::read_to_string(consumer.join("atom.lock"))
        .unwrap()
        .contains("version = \"2.0.0\""));
    // A mistyped label against the store: the labels the set has, closest first.
    let typo = consumer.parent().unwrap().join("typo");
    write(
        &typo,
        "atom.toml",
        &fs::read_to_string(consumer.join("atom.toml"))
            .unwrap()
            .replace("alpha = ", "alpah = "),
    );
    let err = fails(atom(&typo, &["lock"])).1;
    assert!(
        err.contains("it publishes no version of it (its labels, closest first: alpha, beta)"),
        "{err}"
    );
    let err = fails(atom(&typo, &["lock", "--offline"])).1;
    assert!(
        err.contains(
            "the atom store has no version of it (its labels, closest first: alpha, beta)"
        ),
        "{err}"
    );
    // `-C DIR PATH`: PATH is in DIR.
    let out = ok(atom(&top, &["lock", "consumer"]));
    assert!(out.starts_with("unchanged: "), "{out}");
}

#[test]
fn the_new_commands_have_help() {
    let dir = scratch("wf-help");
    for command in ["add", "new", "lock", "publish", "show"] {
        let out = ok(atom(&dir, &[command, "--help"]));
        assert!(out.contains("Usage: atom"), "{command}: {out}");
    }
    assert!(ok(atom(&dir, &["lock", "--help"])).contains("--update"));
}

#[test]
fn new_creates_a_publishable_atom_and_lists_it() {
    let top = scratch("wf-new");
    let dir = top.join("repo");
    fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    let out = ok(atom(&dir, &["new", "libs/greet"]));
    assert_eq!(
        out,
        format!(
            "created atom greet 0.1.0 in {} (atom.toml, default.nix, atom.lock)\ncreated, listing libs/greet in {}\nnext: commit, then `atom publish libs/greet`\n",
            dir.join("libs/greet").display(),
            fs::canonicalize(&dir).unwrap().join("ekala.toml").display()
        )
    );
    assert_eq!(
        fs::read_to_string(dir.join("ekala.toml")).unwrap(),
        "[set]\npackages = [\"libs/greet\"]\n"
    );
    // Its lock is what `atom lock` writes (publish needs one for every evaluated atom), and
    // what the tests' fixtures use for such atoms.
    let lock = fs::read_to_string(dir.join("libs/greet/atom.lock")).unwrap();
    assert_eq!(lock, support::TRIVIAL_LOCK);
    fs::remove_file(dir.join("libs/greet/atom.lock")).unwrap();
    ok(atom(&dir, &["lock", "libs/greet", "--offline"]));
    assert_eq!(
        fs::read_to_string(dir.join("libs/greet/atom.lock")).unwrap(),
        lock
    );
    // A second atom, with a label of its own, is added to the list, keeping the file.
    fs::write(
        dir.join("ekala.toml"),
        "# my atoms\n[set]\npackages = [\"libs/greet\"]\n",
    )
    .unwrap();
    ok(atom(&dir, &["new", "app", "--label", "the-app"]));
    assert_eq!(
        fs::read_to_string(dir.join("ekala.toml")).unwrap(),
        "# my atoms\n[set]\npackages = [\"libs/greet\", \"app\"]\n"
    );
    assert!(fs::read_to_string(dir.join("app/atom.toml"))
        .unwrap()
        .contains("label = \"the-app\""));
    let err = fails(atom(&dir, &["new", "app"])).1;
    assert!(err.contains("is already an atom"), "{err}");
    let err = fails(atom(&dir, &["new", "9lives"])).1;
    assert!(err.contains("give one with --label"), "{err}");
    assert!(!dir.join("9lives").exists());
    ok(atom(&dir, &["check", "app"]));
    commit(&dir, "two atoms");
    let out = ok(atom(&dir, &["publish"]));
    assert!(
        out.ends_with("2 published, 0 unchanged, 0 failed\n"),
        "{out}"
    );
}

#[test]
fn add_edits_the_manifest_and_locks_it_atomically() {
    let dir = project("wf-add");
    let top = dir.parent().unwrap().to_owned();
    ok(atom(&dir, &["publish"]));
    publish_alpha(&dir, "1.1.0");
    ok(atom(&dir, &["new", "app"]));
    let manifest_path = dir.join("app/atom.toml");
    let lock_path = dir.join("app/atom.lock");
    // A comment that must survive.
    let original = fs::read_to_string(&manifest_path)
        .unwrap()
        .replace("[compose.as]", "# how it is built\n[compose.as]");
    fs::write(&manifest_path, &original).unwrap();

    // An atom of this repository; without a requirement: ^ the version locked.
    let out = ok(atom(&dir, &["add", "::alpha", "--path", "app"]));
    assert_eq!(
        out,
        format!(
            "added alpha ^1.1.0 (new set local = \"::\"), locked at 1.1.0 to {}\n",
            manifest_path.display()
        )
    );
    let text = fs::read_to_string(&manifest_path).unwrap();
    assert!(text.contains("# how it is built\n[compose.as]"), "{text}");
    assert!(
        text.contains("[package.sets]\nlocal = \"::\"\n")
            && text.ends_with("[deps.from.local]\nalpha = \"^1.1.0\"\n"),
        "{text}"
    );
    let alpha = git(&dir, &["rev-parse", "refs/eka/atoms/alpha/1.1.0"]);
    assert!(fs::read_to_string(&lock_path).unwrap().contains(&alpha));
    ok(atom(&dir, &["check", "app"]));
    ok(atom(&dir, &["lock", "app", "--check"]));
    // A second atom from the same set, with a requirement.
    ok(atom(&dir, &["add", "::beta@0.1", "--path", "app"]));
    assert!(fs::read_to_string(&manifest_path)
        .unwrap()
        .ends_with("[deps.from.local]\nalpha = \"^1.1.0\"\nbeta = \"^0.1\"\n"));

    // A direct git dependency at a ref.
    let src = top.join("src");
    fs::create_dir_all(&src).unwrap();
    git(&src, &["init", "-q", "-b", "main"]);
    write(&src, "default.nix", "{ }\n");
    commit(&src, "src");
    let src_rev = git(&src, &["rev-parse", "HEAD"]);
    let src_url = format!("file://{}", src.display());
    ok(atom(
        &dir,
        &[
            "add", "--git", &src_url, "--ref", "main", "--name", "source", "--path", "app",
        ],
    ));
    assert!(fs::read_to_string(&manifest_path)
        .unwrap()
        .ends_with(&format!(
            "[deps.direct.nix]\nsource = {{ git = \"{src_url}\", ref = \"main\" }}\n"
        )));
    assert!(fs::read_to_string(&lock_path).unwrap().contains(&src_rev));
    // A new commit on the ref: kept until updated by name.
    write(&src, "default.nix", "{ v = 2; }\n");
    commit(&src, "src 2");
    let src_rev2 = git(&src, &["rev-parse", "HEAD"]);
    ok(atom(&dir, &["lock", "app"]));
    assert!(fs::read_to_string(&lock_path).unwrap().contains(&src_rev));
    ok(atom(&dir, &["lock", "app", "--update", "source"]));
    let locked = fs::read_to_string(&lock_path).unwrap();
    assert!(
        locked.contains(&src_rev2) && !locked.contains(&src_rev),
        "{locked}"
    );

    // What cannot be locked changes nothing at all.
    let (manifest_before, lock_before) = (
        fs::read_to_string(&manifest_path).unwrap(),
        fs::read_to_string(&lock_path).unwrap(),
    );
    let err = fails(atom(&dir, &["add", "::nosuch", "--path", "app"])).1;
    assert!(
        err.starts_with("error: cannot lock the new dependency, so nothing was changed: no published version of nosuch matches *")
            && err.contains("closest first"),
        "{err}"
    );
    let err = fails(atom(
        &dir,
        &[
            "add",
            "--tar",
            "https://example.com/x.tar.gz",
            "--path",
            "app",
        ],
    ))
    .1;
    assert!(err.contains("cannot lock the direct dependency x"), "{err}");
    assert_eq!(fs::read_to_string(&manifest_path).unwrap(), manifest_before);
    assert_eq!(fs::read_to_string(&lock_path).unwrap(), lock_before);
    let leftovers: Vec<_> = fs::read_dir(dir.join("app"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Runs `git args...` in `dir` with `input` on its standard input; returns its trimmed output.
fn git_input(dir: &Path, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "git {args:?}");
    text(&output.stdout).trim().to_owned()
}

#[test]
fn verify_checks_the_origin_ref_reports_legacy_atoms_and_every_atom() {
    let dir = project("wf-verify");
    ok(atom(&dir, &["publish"]));
    let head = git(&dir, &["rev-parse", "HEAD"]);
    // Legacy layouts (docs/format.md#legacy-layouts), made by hand: `format pre1.0` under
    // refs/eka/atoms, and `format 1` under refs/atoms (whose tree has no atom.toml).
    write(&dir, "old/atom.toml", &manifest("bar", "0.1.0"));
    write(&dir, "older/older.atom", "legacy spec\n");
    commit(&dir, "legacy atoms");
    let origin = git(&dir, &["rev-parse", "HEAD"]);
    let tree = |path: &str| git(&dir, &["rev-parse", &format!("HEAD:{path}")]);
    let make = |body: String| {
        git_input(
            &dir,
            &["hash-object", "-t", "commit", "-w", "--stdin"],
            &body,
        )
    };
    let pre1_0 = make(format!(
        "tree {}\nauthor  <> 0 +0000\ncommitter  <> 0 +0000\norigin {origin}\npath old\nformat pre1.0\n\nbar: 0.1.0\n",
        tree("old")
    ));
    git(&dir, &["update-ref", "refs/eka/atoms/bar/0.1.0", &pre1_0]);
    let format1 = make(format!(
        "tree {}\nauthor  <> 0 +0000\ncommitter  <> 0 +0000\nsrc {origin}\npath older\nformat 1\n\nolder: 0.1.0\n",
        tree("older")
    ));
    git(&dir, &["update-ref", "refs/atoms/older/0.1.0", &format1]);
    let out = ok(atom(&dir, &["verify"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[1].starts_with(&format!("ok bar 0.1.0 {pre1_0} "))
            && lines[1].ends_with(" (legacy format pre1.0)"),
        "{out}"
    );
    assert_eq!(
        lines[3],
        format!("legacy older 0.1.0 {format1} (format 1, refs/atoms/older/0.1.0): older-0.1.0: the atom's tree has no atom.toml blob")
    );

    // The origin ref must name the origin header's commit; one bad atom hides no other.
    git(
        &dir,
        &["update-ref", "refs/eka/meta/alpha/1.0.0/origin", &origin],
    );
    let (stdout, stderr) = fails(atom(&dir, &["verify"]));
    assert!(stdout.contains(&format!(
        "bad alpha 1.0.0 {}: alpha-1.0.0: refs/eka/meta/.../origin points at {origin}, but the atom commit's origin header names {head} (possible tampering)",
        git(&dir, &["rev-parse", "refs/eka/atoms/alpha/1.0.0"])
    )), "{stdout}");
    assert!(stdout.contains("ok beta 0.1.0 "), "{stdout}");
    assert!(stdout.contains("legacy older 0.1.0 "), "{stdout}");
    assert!(
        stderr.starts_with("error: alpha-1.0.0: refs/eka/meta/.../origin points at"),
        "{stderr}"
    );
}

/// `app` and the atoms `labels` (each `atom new`), committed in the repository `dir` and
/// published.
fn app_and_libraries(dir: &Path, labels: &[String]) {
    ok(atom(dir, &["new", "app"]));
    for label in labels {
        ok(atom(dir, &["new", label]));
    }
    commit(dir, "app and libraries");
    ok(atom(dir, &["publish"]));
}

/// The names of the files in `dir` that an edit leaves only when interrupted.
fn edit_leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp") || n.contains("journal"))
        .collect()
}

#[test]
fn concurrent_adds_and_locks_of_one_atom_all_land() {
    let dir = project("wf-add-concurrent");
    let labels: Vec<String> = (0..6).map(|i| format!("lib{i}")).collect();
    app_and_libraries(&dir, &labels);
    // Six `atom add` and two `atom lock` processes on one atom at once.
    let mut children = Vec::new();
    for label in &labels {
        let uri = format!("::{label}");
        children.push(
            atom_command(&dir, &["add", &uri, "--path", "app"])
                .spawn()
                .unwrap(),
        );
    }
    for _ in 0..2 {
        children.push(atom_command(&dir, &["lock", "app"]).spawn().unwrap());
    }
    for child in children {
        ok(child.wait_with_output().unwrap());
    }
    let manifest = fs::read_to_string(dir.join("app/atom.toml")).unwrap();
    let lock = fs::read_to_string(dir.join("app/atom.lock")).unwrap();
    for label in &labels {
        assert!(
            manifest.contains(&format!("\n{label} = \"^0.1.0\"\n")),
            "{label} is missing:\n{manifest}"
        );
        let rev = git(
            &dir,
            &["rev-parse", &format!("refs/eka/atoms/{label}/0.1.0")],
        );
        assert!(
            lock.contains(&format!("label = \"{label}\"")) && lock.contains(&rev),
            "{label} is missing:\n{lock}"
        );
    }
    ok(atom(&dir, &["lock", "app", "--check"]));
    assert_eq!(edit_leftovers(&dir.join("app")), Vec::<String>::new());
}

#[test]
fn an_add_killed_between_its_renames_is_completed_by_the_next_edit() {
    let dir = project("wf-add-killed");
    let labels = vec!["first".to_owned(), "second".to_owned()];
    app_and_libraries(&dir, &labels);
    ok(atom(&dir, &["add", "::first", "--path", "app"]));
    let (manifest_path, lock_path) = (dir.join("app/atom.toml"), dir.join("app/atom.lock"));
    let lock_before = fs::read_to_string(&lock_path).unwrap();
    // A temporary that a process killed before its commit point would leave.
    write(&dir, "app/.tmp-atom.toml-1-0-0123456789abcdef", "half");

    // The test hook makes `atom add` stop between renaming atom.toml and atom.lock.
    let marker = dir.parent().unwrap().join("paused");
    let mut adding = atom_command(&dir, &["add", "::second", "--path", "app"])
        .env("ATOM_TEST_PAUSE_BETWEEN_RENAMES", &marker)
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !marker.exists() {
        if let Some(status) = adding.try_wait().unwrap() {
            panic!("atom add ended before its pause point: {status}");
        }
        assert!(started.elapsed().as_secs() < 60, "atom add never paused");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(fs::read_to_string(&manifest_path)
        .unwrap()
        .contains("\nsecond = \"^0.1.0\"\n"));
    assert_eq!(fs::read_to_string(&lock_path).unwrap(), lock_before);

    // A reader waits for the edit instead of seeing half of it.
    let checking = atom_command(&dir, &["check", "app"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    adding.kill().unwrap(); // SIGKILL
    adding.wait().unwrap();
    let (_, err) = fails(checking.wait_with_output().unwrap());
    assert_eq!(
        err,
        format!(
            "error: an edit of the atom in {} was interrupted (.atom-edit.journal is still there); run `atom lock` on it to complete the edit\n",
            dir.join("app").display()
        )
    );

    // The next edit completes it: both files now say `second`.
    let output = atom(&dir, &["lock", "app"]);
    let stderr = text(&output.stderr);
    assert_eq!(ok(output), format!("unchanged: {}\n", lock_path.display()));
    assert_eq!(
        stderr,
        format!(
            "warning: completed an edit that was interrupted (renamed into place: {}, {})\n",
            lock_path.display(),
            dir.join("app/atom.integrity").display()
        )
    );
    let second = git(&dir, &["rev-parse", "refs/eka/atoms/second/0.1.0"]);
    let lock = fs::read_to_string(&lock_path).unwrap();
    assert!(
        lock.contains("label = \"second\"") && lock.contains(&second),
        "{lock}"
    );
    ok(atom(&dir, &["check", "app"]));
    assert_eq!(edit_leftovers(&dir.join("app")), Vec::<String>::new());
}

#[test]
fn a_store_other_users_can_write_is_refused() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = project("wf-store-exposed");
    ok(atom(&dir, &["publish"]));
    let store = dir.parent().unwrap().join("store");
    let url = format!("file://{}", dir.display());
    ok(atom(&dir, &["fetch", &url]));
    let chmod = |path: &Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap()
    };
    let refused = |path: &Path, why: &str, fix: &str| {
        let err = fails(atom(&dir, &["fetch", &url])).1;
        assert_eq!(
            err,
            format!(
                "error: refusing to use the atom store: {} can be changed by other users ({why}), who could then change the atoms it holds; {fix}\n",
                path.display()
            )
        );
    };

    chmod(&store, 0o777);
    refused(
        &store,
        "everyone can write it (mode 0777)",
        &format!("run `chmod go-w {}`", store.display()),
    );
    chmod(&store, 0o1777);
    refused(
        &store,
        "everyone can write it (mode 1777)",
        &format!("run `chmod go-w {}`", store.display()),
    );
    // Group-writable but ours (a user-private group): accepted.
    chmod(&store, 0o775);
    ok(atom(&dir, &["fetch", &url]));

    let root = git(&dir, &["rev-parse", "refs/ekala/init"]);
    let set = store.join(format!("{root}.git"));
    let objects = set.join("objects");
    chmod(&objects, 0o777);
    refused(
        &objects,
        "everyone can write it (mode 0777)",
        &format!("run `chmod go-w {}`", objects.display()),
    );
    chmod(&objects, 0o755);
    ok(atom(&dir, &["fetch", &url]));

    // Owned by another user: only as root can the test make one.
    let me = fs::metadata(&store).unwrap().uid();
    if me == 0 {
        std::os::unix::fs::chown(&set, Some(65534), None).unwrap();
        refused(
            &set,
            "it belongs to the user with uid 65534, not to you",
            &format!("use a store of your own (ATOM_STORE, the atom-store setting, or the CLI's --store), or make it yours: `chown -R \"$(id -u)\" {}` as root", set.display()),
        );
        // `atom store verify` refuses it too.
        let err = fails(atom(&dir, &["store", "verify"])).1;
        assert!(
            err.contains("it belongs to the user with uid 65534"),
            "{err}"
        );
        std::os::unix::fs::chown(&set, Some(0), None).unwrap();
        ok(atom(&dir, &["fetch", &url]));
    }
}

#[test]
fn a_local_set_with_a_mirror_locks_the_mirrors_newer_version_as_the_reference_does() {
    // The repository publishes alpha 1.0.0 and 1.1.0 and pushes them to its mirror; here only
    // 1.0.0 is left among the refs (a clone that has not fetched the newer release).
    let dir = project("wf-local-and-mirror");
    ok(atom(&dir, &["publish"]));
    publish_alpha(&dir, "1.1.0");
    let newer = git(&dir, &["rev-parse", "refs/eka/atoms/alpha/1.1.0"]);
    let mirror = dir.parent().unwrap().join("mirror.git");
    git(
        dir.parent().unwrap(),
        &["init", "-q", "--bare", mirror.to_str().unwrap()],
    );
    git(
        &dir,
        &["push", "-q", mirror.to_str().unwrap(), "refs/*:refs/*"],
    );
    git(&dir, &["update-ref", "-d", "refs/eka/atoms/alpha/1.1.0"]);
    let url = format!("file://{}", mirror.display());
    write(
        &dir,
        "app/atom.toml",
        &APP.replace("here = \"::\"", &format!("here = [\"::\", \"{url}\"]")),
    );
    write(&dir, "app/default.nix", "{ }\n");
    ok(atom(&dir, &["lock", "app"]));
    let lock = fs::read_to_string(dir.join("app/atom.lock")).unwrap();
    assert!(
        lock.contains(&format!(
            "label = \"alpha\"\nversion = \"1.1.0\"\nset = \"{}\"\nrev = \"{newer}\"\nmirror = \"{url}\"\n",
            git(&dir, &["rev-parse", "refs/ekala/init"])
        )),
        "{lock}"
    );
    // Offline, without the mirror: this repository's own refs.
    fs::remove_file(dir.join("app/atom.lock")).unwrap();
    ok(atom(&dir, &["lock", "app", "--offline"]));
    let lock = fs::read_to_string(dir.join("app/atom.lock")).unwrap();
    assert!(
        lock.contains("label = \"alpha\"\nversion = \"1.0.0\"\n"),
        "{lock}"
    );
    // A version the mirror does not have (published here, not pushed): this repository's refs.
    publish_alpha(&dir, "1.2.0");
    write(
        &dir,
        "app/atom.toml",
        &APP.replace("here = \"::\"", &format!("here = [\"::\", \"{url}\"]"))
            .replace("alpha = \"^1\"", "alpha = \"^1.2\""),
    );
    ok(atom(&dir, &["lock", "app"]));
    let lock = fs::read_to_string(dir.join("app/atom.lock")).unwrap();
    let local = git(&dir, &["rev-parse", "refs/eka/atoms/alpha/1.2.0"]);
    assert!(
        lock.contains(&format!(
            "label = \"alpha\"\nversion = \"1.2.0\"\nset = \"{}\"\nrev = \"{local}\"\nid = ",
            git(&dir, &["rev-parse", "refs/ekala/init"])
        )),
        "{lock}"
    );
}
