//! Dependencies without a fetcher, end to end: atoms published in a real git repository, fetched
//! into a real atom store with the real `atom` CLI, locked with `atom lock`, and loaded by the
//! real plugin in the real `nix-instantiate`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::support::{self, git, write};
use common::{nix_command, plugin, scratch, stderr, stdout, Scratch, NIX_VERSION};

/// The `atom` CLI, checked to be built from the current sources.
fn atom_cli() -> PathBuf {
    support::artifact("atom", &["rust/atom/src", "rust/atom-cli/src"])
}

/// Runs `atom` with `ATOM_STORE=store`.
fn atom(store: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(atom_cli())
        .current_dir(dir)
        .env("ATOM_STORE", store)
        .args(args)
        .output()
        .expect("atom runs")
}

fn atom_ok(store: &Path, dir: &Path, args: &[&str]) -> String {
    let output = atom(store, dir, args);
    assert!(
        output.status.success(),
        "atom {args:?} failed:\n{}",
        stderr(&output)
    );
    stdout(&output)
}

/// A manifest composed natively from its own directory, depending on `deps` (`label = req`
/// lines) of the set `bs` at `set_url`.
fn manifest(label: &str, version: &str, set_url: &str, deps: &str) -> String {
    let mut text = format!(
        "[package]\nlabel = \"{label}\"\nversion = \"{version}\"\n\n[package.sets]\nbs = \"{set_url}\"\n\n[compose.as]\nnix = \".\"\n"
    );
    if !deps.is_empty() {
        text.push_str(&format!("\n[deps.from.bs]\n{deps}\n"));
    }
    text
}

/// A repository publishing `b` 1.0.0, 1.2.0 and 2.0.0, a store that fetched it, and an atom `a`
/// (outside the repository) depending on `b ^1`, locked.
struct Fixture {
    dir: Scratch,
    repo: PathBuf,
    store: PathBuf,
    a: PathBuf,
    packages: Vec<String>,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = scratch(name);
        let repo = dir.join("repo");
        let store = dir.join("store");
        let a = dir.join("a");
        fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        write(&repo, "ekala.toml", "[set]\npackages = [\"b\"]\n");
        for version in ["1.0.0", "1.2.0", "2.0.0"] {
            write(&repo, "b/atom.toml", &manifest("b", version, "::", ""));
            write(&repo, "b/atom.lock", support::TRIVIAL_LOCK);
            write(
                &repo,
                "b/mod.nix",
                &format!("{{ Version = \"{version}\"; Greet = name: \"hello ${{name}} from b {version}\"; }}\n"),
            );
            git(&repo, &["add", "."]);
            git(&repo, &["commit", "-q", "-m", &format!("b {version}")]);
            atom_ok(&store, &repo, &["init"]);
            atom_ok(&store, &repo, &["publish"]);
        }
        let url = format!("file://{}", repo.display());
        write(&a, "atom.toml", &manifest("a", "0.1.0", &url, "b = \"^1\""));
        write(
            &a,
            "mod.nix",
            "{ Message = deps.from.bs.b.greet \"a\"; BVersion = deps.from.bs.b.version; }\n",
        );
        let fixture = Fixture {
            dir,
            repo,
            store,
            a,
            packages: vec!["b".to_owned()],
        };
        atom_ok(&fixture.store, &fixture.dir, &["fetch", &url]);
        atom_ok(&fixture.store, &fixture.a, &["lock"]);
        fixture
    }

    /// Adds the atom `path` to the repository with `files`, locks it (`atom lock`, resolving
    /// `::` sets in the repository) when `lock` (else it is given the lock of an atom without
    /// dependencies, unless `files` has one), commits, publishes and fetches into the store.
    fn publish(&mut self, path: &str, files: &[(&str, &str)], lock: bool) {
        if !lock {
            write(&self.repo.join(path), "atom.lock", support::TRIVIAL_LOCK);
        }
        for (name, text) in files {
            write(&self.repo.join(path), name, text);
        }
        self.packages.push(path.to_owned());
        let list: Vec<String> = self.packages.iter().map(|p| format!("\"{p}\"")).collect();
        write(
            &self.repo,
            "ekala.toml",
            &format!("[set]\npackages = [{}]\n", list.join(", ")),
        );
        if lock {
            atom_ok(&self.store, &self.repo, &["lock", path]);
        }
        git(&self.repo, &["add", "."]);
        git(&self.repo, &["commit", "-q", "-m", path]);
        atom_ok(&self.store, &self.repo, &["publish", path]);
        atom_ok(&self.store, &self.dir, &["fetch", &self.url()]);
    }

    /// A directory `name` outside the repository holding an atom with `files`, locked.
    fn consumer(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.dir.join(name);
        for (file, text) in files {
            write(&dir, file, text);
        }
        atom_ok(&self.store, &dir, &["lock"]);
        dir
    }

    fn url(&self) -> String {
        format!("file://{}", self.repo.display())
    }

    /// The store repository of the fixture's set.
    fn set_repo(&self) -> PathBuf {
        let root = git(&self.repo, &["rev-parse", "refs/ekala/init"]);
        self.store.join(format!("{root}.git"))
    }

    /// `nix-instantiate --eval --strict` with the plugin, the store given by `--option`, and
    /// `git`, `curl` and proxies rigged so that any fetcher fails and leaves a mark in
    /// `<dir>/fetcher-ran`.
    fn eval(&self, expr: &str) -> Output {
        self.eval_with(&[], expr)
    }

    /// `eval` with extra arguments for `nix-instantiate`.
    fn eval_with(&self, args: &[&str], expr: &str) -> Output {
        self.eval_env(args, &[], expr)
    }

    /// `eval_with` with `env` added to the environment of `nix-instantiate`.
    fn eval_env(&self, args: &[&str], env: &[(&str, &str)], expr: &str) -> Output {
        let home = scratch("deps-home");
        let trap = home.join("trap");
        let mark = self.dir.join("fetcher-ran");
        for tool in ["git", "curl"] {
            write(
                &trap,
                tool,
                &format!(
                    "#!/bin/sh\necho \"{tool} $*\" >> '{}'\nexit 1\n",
                    mark.display()
                ),
            );
            let path = trap.join(tool);
            Command::new("chmod").arg("+x").arg(&path).status().unwrap();
        }
        let path = format!(
            "{}:{}",
            trap.display(),
            common::search_path().to_string_lossy()
        );
        // Under `timeout`: an evaluation that blocks (e.g. opening a FIFO) fails the test instead of
        // hanging it. KILL, because a process blocked in open() does not act on SIGINT or SIGTERM.
        let output = nix_command("timeout", &home)
            .args(["-s", "KILL", "120", "nix-instantiate"])
            .env("PATH", path)
            .env("http_proxy", "http://127.0.0.1:9")
            .env("https_proxy", "http://127.0.0.1:9")
            .env("ALL_PROXY", "http://127.0.0.1:9")
            .args(["--store", "dummy://", "--option", "plugin-files"])
            .arg(plugin())
            .args(["--option", "atom-store"])
            .arg(&self.store)
            .args(["--option", "connect-timeout", "1"])
            .args(args)
            .args(["--eval", "--strict", "--expr", expr])
            .envs(env.iter().copied())
            .output()
            .expect("nix-instantiate runs");
        // Nix 2.26 fetches git repositories with libgit2, not the `git` command: there, a fetcher
        // that ran is seen by the cache it writes in HOME.
        let cache = home.join("cache/nix");
        let wrote_cache = fs::read_dir(&cache)
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().starts_with("fetcher"));
        if wrote_cache {
            let mut text = fs::read_to_string(&mark).unwrap_or_default();
            text.push_str(&format!("Nix's fetcher cache was written by {expr}\n"));
            fs::write(&mark, text).unwrap();
        }
        output
    }

    /// Forgets what the trap saw (after a fetch a test expects).
    fn reset_trap(&self) {
        let _ = fs::remove_file(self.dir.join("fetcher-ran"));
    }

    fn eval_ok(&self, expr: &str) -> String {
        let output = self.eval(expr);
        assert!(
            output.status.success(),
            "{expr} failed:\n{}",
            stderr(&output)
        );
        stdout(&output)
    }

    fn eval_ok_with(&self, args: &[&str], expr: &str) -> String {
        let output = self.eval_with(args, expr);
        assert!(
            output.status.success(),
            "{expr} failed:\n{}",
            stderr(&output)
        );
        stdout(&output)
    }

    fn eval_err_with(&self, args: &[&str], expr: &str) -> String {
        let output = self.eval_with(args, expr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{expr}: expected an evaluation error\n{}{}",
            stdout(&output),
            stderr(&output)
        );
        stderr(&output)
    }

    fn eval_err(&self, expr: &str) -> String {
        let output = self.eval(expr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{expr}: expected an evaluation error\n{}{}",
            stdout(&output),
            stderr(&output)
        );
        stderr(&output)
    }

    fn import_a(&self) -> String {
        format!("builtins.atom.import {}", self.a.display())
    }

    fn fetcher_ran(&self) -> Option<String> {
        fs::read_to_string(self.dir.join("fetcher-ran")).ok()
    }
}

#[test]
fn a_locked_dependency_is_the_highest_matching_version_and_no_fetcher_runs() {
    let f = Fixture::new("deps-e2e");
    let lock = fs::read_to_string(f.a.join("atom.lock")).unwrap();
    assert!(
        lock.contains("label = \"b\"\nversion = \"1.2.0\""),
        "{lock}"
    );
    assert!(
        lock.contains(&format!("mirror = \"{}\"", f.url())),
        "{lock}"
    );
    assert_eq!(
        f.eval_ok(&f.import_a()),
        r#"{ bVersion = "1.2.0"; message = "hello a from b 1.2.0"; }"#
    );
    assert_eq!(f.fetcher_ran(), None, "a fetcher ran");
}

#[test]
fn the_fetcher_trap_catches_a_fetcher() {
    // The control for the test above: the same rigging makes a real fetcher fail and leave its
    // mark, so "no mark" above means no fetcher ran.
    let f = Fixture::new("deps-trap");
    let err = f.eval_err(&format!(
        "builtins.fetchGit {{ url = \"{}\"; rev = \"{}\"; }}",
        f.url(),
        git(&f.repo, &["rev-parse", "HEAD"])
    ));
    assert!(err.contains("git"), "{err}");
    let mark = f.fetcher_ran().expect("the trap saw fetchGit");
    if NIX_VERSION.starts_with("2.26.") {
        // libgit2 in-process: the mark is the fetcher cache.
        assert!(
            mark.starts_with("Nix's fetcher cache was written by builtins.fetchGit"),
            "{mark}"
        );
    } else {
        assert!(mark.starts_with("git "), "{mark}");
    }
}

#[test]
fn atom_lock_check_keeps_satisfied_entries_and_reports_out_of_date_locks() {
    let f = Fixture::new("deps-lock");
    atom_ok(&f.store, &f.a, &["lock", "--check"]);
    let before = fs::read_to_string(f.a.join("atom.lock")).unwrap();
    // A locked entry that still satisfies the manifest is kept, even when a newer one exists.
    atom_ok(&f.store, &f.a, &["lock"]);
    assert_eq!(fs::read_to_string(f.a.join("atom.lock")).unwrap(), before);

    // Raising the requirement makes the lock out of date: --check fails without writing...
    let url = f.url();
    write(
        &f.a,
        "atom.toml",
        &manifest("a", "0.1.0", &url, "b = \"^2\""),
    );
    let output = atom(&f.store, &f.a, &["lock", "--check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("atom.lock is out of date"),
        "{}",
        stderr(&output)
    );
    assert_eq!(fs::read_to_string(f.a.join("atom.lock")).unwrap(), before);
    // ... the evaluator refuses the stale lock ...
    let err = f.eval_err(&f.import_a());
    assert!(
        err.contains("it locks b 1.2.0, which the manifest's requirement ^2 no longer accepts; run `atom lock"),
        "{err}"
    );
    // ... and `atom lock` moves to 2.0.0.
    atom_ok(&f.store, &f.a, &["lock"]);
    assert!(f.eval_ok(&f.import_a()).contains("\"2.0.0\""));
}

#[test]
fn a_moved_ref_is_possible_tampering() {
    let f = Fixture::new("deps-ref");
    let store_repo = f.set_repo();
    let old = git(&store_repo, &["rev-parse", "refs/eka/atoms/b/1.0.0"]);
    // The store's own ref alone names another commit: a mirror's record still names the locked
    // one (as when another server gave the store its commit first), and that is what loads.
    git(&store_repo, &["update-ref", "refs/eka/atoms/b/1.2.0", &old]);
    assert!(f.eval_ok(&f.import_a()).contains("hello a from b 1.2.0"));
    // Nothing names the locked commit any more.
    let names = git(&store_repo, &["for-each-ref", "--format=%(refname)"]);
    for name in names.lines().filter(|n| n.ends_with("/b/1.2.0")) {
        git(&store_repo, &["update-ref", name, &old]);
    }
    let err = f.eval_err(&f.import_a());
    assert!(
        err.contains(&format!("b-1.2.0 (pinned by a-0.1.0): refs/eka/atoms/b/1.2.0 points at {old}, but the lock pins")),
        "{err}"
    );
    assert!(err.contains("(possible tampering)"), "{err}");
}

/// A loaded graph is remembered in the store (`graphs/`) and recalled by the next evaluation of
/// the same files, with the same value (a module's `cfg` included). A recall still looks at
/// each dependency's own ref: one moved after the graph was remembered is found as it is
/// without the record. A damaged record is loaded afresh and replaced; another lock text is
/// another record.
#[test]
fn a_remembered_graph_is_recalled_and_its_refs_looked_at_again() {
    use std::os::unix::fs::MetadataExt;

    let f = Fixture::new("deps-memo");
    let url = f.url();
    let c = f.consumer(
        "c",
        &[
            ("atom.toml", &manifest("c", "0.3.0", &url, "b = \"^1\"")),
            (
                "mod.nix",
                "{ Message = deps.from.bs.b.greet cfg.package.label; Version = cfg.package.version; }\n",
            ),
        ],
    );
    let import = format!("builtins.atom.import {}", c.display());
    let graph = format!("builtins.toJSON (builtins.atom.graph {})", c.display());
    let graphs = f.store.join("graphs");
    let records = || -> Vec<PathBuf> {
        fs::read_dir(&graphs)
            .map(|dir| dir.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };
    let loaded = f.eval_ok(&import);
    assert!(loaded.contains("hello c from b 1.2.0"), "{loaded}");
    assert!(loaded.contains("\"0.3.0\""), "{loaded}");
    let loaded_graph = f.eval_ok(&graph);
    let kept = records();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let inode = fs::metadata(&kept[0]).unwrap().ino();

    // Recalled: the same values, and the record was not written again.
    assert_eq!(f.eval_ok(&import), loaded);
    assert_eq!(f.eval_ok(&graph), loaded_graph);
    assert_eq!(fs::metadata(&kept[0]).unwrap().ino(), inode);

    // A damaged record is loaded afresh and replaced.
    fs::write(&kept[0], "{\"nodes\": [").unwrap();
    assert_eq!(f.eval_ok(&import), loaded);
    let record = fs::read(&kept[0]).unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&record).is_ok());

    // Another lock text is another record.
    let lock = c.join("atom.lock");
    let text = fs::read_to_string(&lock).unwrap();
    fs::write(&lock, format!("{text}\n# edited by hand\n")).unwrap();
    assert_eq!(f.eval_ok(&import), loaded);
    assert_eq!(records().len(), 2);
    fs::write(&lock, &text).unwrap();

    // The store's own ref, and every other name of the locked commit, moved after the graph was
    // remembered: the evaluation says so, as it would without the record.
    let store_repo = f.set_repo();
    let old = git(&store_repo, &["rev-parse", "refs/eka/atoms/b/1.0.0"]);
    let names = git(&store_repo, &["for-each-ref", "--format=%(refname)"]);
    for name in names.lines().filter(|n| n.ends_with("/b/1.2.0")) {
        git(&store_repo, &["update-ref", name, &old]);
    }
    let err = f.eval_err(&import);
    assert!(
        err.contains(&format!(
            "b-1.2.0 (pinned by c-0.3.0): refs/eka/atoms/b/1.2.0 points at {old}, but the lock pins"
        )),
        "{err}"
    );
    assert!(err.contains("(possible tampering)"), "{err}");
}

/// Plants, in the store repository, a loose object named `pinned` that holds the content of the
/// object `other` of type `kind`: same name, different content. The store keeps its objects in a
/// pack, but gix loads pack indexes lazily, so the first object an evaluation reads (the pinned
/// commit) is found among the loose objects.
fn plant(f: &Fixture, kind: &str, pinned: &str, other: &str) {
    let store_repo = f.set_repo();
    let scratch_git = f.dir.join(format!("scratch-{pinned}.git"));
    git(
        &f.dir,
        &["init", "-q", "--bare", scratch_git.to_str().unwrap()],
    );
    let content = Command::new("git")
        .current_dir(&store_repo)
        .args(["cat-file", kind, other])
        .output()
        .unwrap()
        .stdout;
    let file = f.dir.join(format!("content-{other}"));
    fs::write(&file, content).unwrap();
    let planted = git(
        &scratch_git,
        &["hash-object", "-t", kind, "-w", file.to_str().unwrap()],
    );
    assert_eq!(planted, other);
    let object = |repo: &Path, id: &str| repo.join("objects").join(&id[..2]).join(&id[2..]);
    let target = object(&store_repo, pinned);
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    fs::copy(object(&scratch_git, other), &target).unwrap();
}

#[test]
fn an_altered_commit_object_is_possible_tampering() {
    let f = Fixture::new("deps-object");
    let store_repo = f.set_repo();
    let id = |version: &str| {
        git(
            &store_repo,
            &["rev-parse", &format!("refs/eka/atoms/b/{version}")],
        )
    };
    let (pinned, other) = (id("1.2.0"), id("1.0.0"));
    plant(&f, "commit", &pinned, &other);
    let err = f.eval_err(&f.import_a());
    assert!(
        err.contains(&format!(
            "cannot read object {pinned}: its content hashes to {other}"
        )),
        "{err}"
    );
    assert!(err.contains("(possible tampering)"), "{err}");
}

#[test]
fn a_missing_store_names_the_fetch_command() {
    let f = Fixture::new("deps-missing");
    fs::remove_dir_all(&f.store).unwrap();
    let err = f.eval_err(&f.import_a());
    assert!(
        err.contains(&format!("get it with `atom fetch {}`", f.url())),
        "{err}"
    );
    assert_eq!(f.fetcher_ran(), None);
}

/// A version of which the store holds only what locking reads (online `atom lock` from a server
/// that filters: the mirror's record and a mark under `refs/atom/partial/`, no store refs) is not
/// loaded: the evaluator says to fetch it, and `atom fetch` in the atom's directory completes it.
#[test]
fn a_version_fetched_only_to_lock_it_is_fetched_before_it_loads() {
    let f = Fixture::new("deps-partial");
    let set = f.set_repo();
    let commit = git(&set, &["rev-parse", "refs/eka/atoms/b/1.2.0"]);
    let record = git(
        &set,
        &["for-each-ref", "--format=%(refname)", "refs/atom/mirrors/"],
    );
    let key = record
        .lines()
        .find(|r| r.ends_with("/b/1.2.0"))
        .and_then(|r| r.split('/').nth(3))
        .expect("the mirror's record of b 1.2.0")
        .to_owned();
    // What `atom lock` leaves: the mark first, no store refs.
    git(
        &set,
        &[
            "update-ref",
            &format!("refs/atom/partial/{key}/b/1.2.0"),
            &commit,
        ],
    );
    for name in [
        "refs/eka/atoms/b/1.2.0",
        "refs/eka/meta/b/1.2.0/manifest",
        "refs/eka/meta/b/1.2.0/origin",
    ] {
        git(&set, &["update-ref", "-d", name]);
    }
    let err = f.eval_err(&f.import_a());
    assert!(
        err.contains("b-1.2.0 (pinned by a-0.1.0) is not in the atom store: only its atom.toml and atom.lock are in")
            && err.contains(&format!("`atom fetch {}`", f.url())),
        "{err}"
    );
    assert_eq!(f.fetcher_ran(), None);
    let filled = atom_ok(&f.store, &f.a, &["fetch"]);
    assert!(filled.contains("fetched"), "{filled}");
    assert_eq!(git(&set, &["rev-parse", "refs/eka/atoms/b/1.2.0"]), commit);
    assert_eq!(
        git(&set, &["for-each-ref", "refs/atom/partial/"]),
        "",
        "the mark is gone"
    );
    assert!(f.eval_ok(&f.import_a()).contains("hello a from b 1.2.0"));
}

#[test]
fn the_fetch_hint_quotes_a_mirror_from_the_lock() {
    let f = Fixture::new("deps-hint");
    fs::remove_dir_all(&f.store).unwrap();
    // A valid URL that a shell would read as a command substitution.
    let lock = fs::read_to_string(f.a.join("atom.lock")).unwrap();
    let mirror = "https://example.com/x$(reboot)'s";
    fs::write(
        f.a.join("atom.lock"),
        lock.replace(
            &format!("mirror = \"{}\"", f.url()),
            &format!("mirror = \"{mirror}\""),
        ),
    )
    .unwrap();
    let err = f.eval_err(&f.import_a());
    assert!(
        err.contains("get it with `atom fetch 'https://example.com/x$(reboot)'\\''s'`"),
        "{err}"
    );
    // And one that is not a URL at all is refused where it is written.
    fs::write(
        f.a.join("atom.lock"),
        lock.replace(
            &format!("mirror = \"{}\"", f.url()),
            "mirror = \"x;rm${IFS}-rf${IFS}~\"",
        ),
    )
    .unwrap();
    let err = f.eval_err(&f.import_a());
    assert!(
        err.contains("atom.lock:") && err.contains("invalid mirror \"x;rm${IFS}-rf${IFS}~\": a path or user@host:path mirror cannot contain ';'"),
        "{err}"
    );
}

#[test]
fn resolve_and_versions_read_local_refs() {
    let f = Fixture::new("deps-resolve");
    let root = git(&f.repo, &["rev-parse", "refs/ekala/init"]);
    assert_eq!(
        f.eval_ok(&format!(
            "builtins.atom.versions {{ set = \"{root}\"; label = \"b\"; }}"
        )),
        r#"[ "2.0.0" "1.2.0" "1.0.0" ]"#
    );
    let rev = git(&f.repo, &["rev-parse", "refs/eka/atoms/b/1.2.0"]);
    let id = atom_ok(&f.store, &f.repo, &["id", "b"]);
    for source in [
        format!("repo = {}", f.repo.display()),
        format!("set = \"{root}\""),
    ] {
        let expr = format!(
            "let r = builtins.atom.resolve {{ {source}; label = \"b\"; version = \"^1\"; }}; in \
             [ r.label r.version r.rev r.id r.manifest.package.version (builtins.readFile (r.src + \"/mod.nix\")) ]"
        );
        assert_eq!(
            f.eval_ok(&expr),
            format!(
                r#"[ "b" "1.2.0" "{rev}" "{id}" "1.2.0" "{{ Version = \"1.2.0\"; Greet = name: \"hello \${{name}} from b 1.2.0\"; }}\n" ]"#
            )
        );
    }
    let err = f.eval_err(&format!(
        "builtins.atom.resolve {{ set = \"{root}\"; label = \"b\"; version = \"^3\"; }}"
    ));
    assert!(
        err.contains("no published version of b matches ^3 (published: 2.0.0, 1.2.0, 1.0.0); if it was published since the set was fetched, update the store"),
        "{err}"
    );
    let err = f.eval_err(&format!(
        "builtins.atom.resolve {{ set = \"{}\"; label = \"b\"; }}",
        "0".repeat(40)
    ));
    assert!(
        err.contains(
            "the atom store has no repository for the set 0000000000000000000000000000000000000000"
        ),
        "{err}"
    );
    let err = f.eval_err(&format!(
        "builtins.atom.versions {{ repo = {}; set = \"{root}\"; label = \"b\"; }}",
        f.repo.display()
    ));
    assert!(
        err.contains("give exactly one of `repo` and `set`"),
        "{err}"
    );
    assert_eq!(f.fetcher_ran(), None);
}

#[test]
fn an_atom_reached_along_two_paths_is_loaded_once_and_transitive_locks_are_followed() {
    let mut f = Fixture::new("deps-diamond");
    f.publish(
        "d",
        &[
            ("atom.toml", &manifest("d", "1.0.0", "::", "")),
            (
                "mod.nix",
                "{ Traced = builtins.trace \"d evaluated\" 1; }\n",
            ),
        ],
        false,
    );
    for (label, add) in [("left", 1), ("right", 2)] {
        f.publish(
            label,
            &[
                ("atom.toml", &manifest(label, "1.0.0", "::", "d = \"1\"")),
                (
                    "mod.nix",
                    &format!("{{ V = deps.from.bs.d.traced + {add}; }}\n"),
                ),
            ],
            true,
        );
    }
    let url = f.url();
    let top = f.consumer(
        "top",
        &[
            (
                "atom.toml",
                &manifest("top", "0.1.0", &url, "left = \"1\"\nright = \"1\""),
            ),
            (
                "mod.nix",
                "{ Sum = deps.from.bs.left.v + deps.from.bs.right.v; }\n",
            ),
        ],
    );
    let output = f.eval(&format!("builtins.atom.import {}", top.display()));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "{ sum = 5; }");
    assert_eq!(
        stderr(&output).matches("trace: d evaluated").count(),
        1,
        "{}",
        stderr(&output)
    );
    assert_eq!(f.fetcher_ran(), None);

    // Across several imports in one evaluation too.
    let other = f.consumer(
        "other",
        &[
            (
                "atom.toml",
                &manifest("other", "0.1.0", &url, "right = \"1\""),
            ),
            ("mod.nix", "{ V = deps.from.bs.right.v; }\n"),
        ],
    );
    let output = f.eval(&format!(
        "[ (builtins.atom.import {}).sum (builtins.atom.import {}).v ]",
        top.display(),
        other.display()
    ));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "[ 5 3 ]");
    assert_eq!(
        stderr(&output).matches("trace: d evaluated").count(),
        1,
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_dependency_cycle_is_an_error_naming_it() {
    let mut f = Fixture::new("deps-cycle");
    let root = git(&f.repo, &["rev-parse", "refs/ekala/init"]);
    let cycle_b_id = atom_ok(&f.store, &f.repo, &["id", &root, "cyc-b"]);
    // cyc-a pins cyc-b 1.0.0 by hand (a real lock cannot: the revs would have to contain each
    // other), then cyc-b is locked against the published cyc-a.
    let lock_a = format!(
        "version = 1\n\n[sets.{root}]\ntag = \"bs\"\nmirrors = [\"::\"]\n\n[compose]\nuse = \"nix\"\nentry = \".\"\n\n[[deps]]\ntype = \"atom\"\nlabel = \"cyc-b\"\nversion = \"1.0.0\"\nset = \"{root}\"\nrev = \"{}\"\nid = \"{cycle_b_id}\"\n",
        "1".repeat(40)
    );
    f.publish(
        "cyc-a",
        &[
            (
                "atom.toml",
                &manifest("cyc-a", "1.0.0", "::", "cyc-b = \"1\""),
            ),
            ("atom.lock", &lock_a),
            ("mod.nix", "{ V = 1; }\n"),
        ],
        false,
    );
    f.publish(
        "cyc-b",
        &[
            (
                "atom.toml",
                &manifest("cyc-b", "1.0.0", "::", "cyc-a = \"1\""),
            ),
            ("mod.nix", "{ V = 2; }\n"),
        ],
        true,
    );
    let url = f.url();
    let top = f.consumer(
        "top",
        &[
            (
                "atom.toml",
                &manifest("top", "0.1.0", &url, "cyc-b = \"1\""),
            ),
            ("mod.nix", "{ V = deps.from.bs.cyc-b.v; }\n"),
        ],
    );
    let err = f.eval_err(&format!("builtins.atom.import {}", top.display()));
    assert!(
        err.contains(
            "atoms depend on each other in a cycle: cyc-b-1.0.0 -> cyc-a-1.0.0 -> cyc-b-1.0.0"
        ),
        "{err}"
    );
}

#[test]
fn an_atom_composed_by_another_atom() {
    let mut f = Fixture::new("deps-composer");
    f.publish(
        "wrap",
        &[
            (
                "atom.toml",
                "[package]\nlabel = \"wrap\"\nversion = \"1.0.0\"\n\n[compose.as]\nnix = \"compose.nix\"\n",
            ),
            (
                "compose.nix",
                "entry: { config, extern }: { wrapped = config.package.label; entry = baseNameOf entry; deps = builtins.attrNames extern.deps.from.bs; }\n",
            ),
        ],
        true,
    );
    let url = f.url();
    let mut text = manifest("user", "0.1.0", &url, "b = \"^1\"");
    text = text.replace(
        "[compose.as]\nnix = \".\"\n",
        "[compose.with.wrap]\nfrom = \"bs\"\nentry = \"src\"\n",
    );
    let user = f.consumer("user", &[("atom.toml", &text), ("src/mod.nix", "{ }\n")]);
    let lock = fs::read_to_string(user.join("atom.lock")).unwrap();
    assert!(
        lock.contains("[compose]\nuse = \"atom\"\nlabel = \"wrap\"\nversion = \"1.0.0\""),
        "{lock}"
    );
    assert_eq!(
        f.eval_ok(&format!("builtins.atom.import {}", user.display())),
        r#"{ deps = [ "b" ]; entry = "src"; wrapped = "user"; }"#
    );
}

#[test]
fn direct_dependencies_are_lazy_and_a_local_git_revision_needs_no_fetcher() {
    let f = Fixture::new("deps-direct");
    let lib = f.dir.join("lib");
    fs::create_dir_all(&lib).unwrap();
    git(&lib, &["init", "-q", "-b", "main"]);
    write(&lib, "default.nix", "{ answer = 42; }\n");
    git(&lib, &["add", "."]);
    git(&lib, &["commit", "-q", "-m", "lib"]);
    let rev = git(&lib, &["rev-parse", "HEAD"]);
    let url = f.url();
    let mut text = manifest("pins", "0.1.0", &url, "");
    text.push_str(&format!(
        "\n[deps.direct.nix]\nlib.git = \"file://{}\"\n",
        lib.display()
    ));
    let dir = f.dir.join("pins");
    write(&dir, "atom.toml", &text);
    write(
        &dir,
        "mod.nix",
        "{ Answer = (deps.pins.lib.import \"default.nix\").answer; Remote = deps.pins.remote.src; Names = builtins.attrNames deps.pins; }\n",
    );
    atom_ok(&f.store, &dir, &["lock"]);
    let lock = fs::read_to_string(dir.join("atom.lock")).unwrap();
    assert!(
        lock.contains(&format!(
            "type = \"nix+git\"\nname = \"lib\"\nurl = \"file://{}\"\nrev = \"{rev}\"",
            lib.display()
        )),
        "{lock}"
    );
    // A second, remote dependency locked by hand (locking it needs the network): as long as no
    // module forces it, nothing fetches it.
    let remote = "[[deps]]\ntype = \"nix+tar\"\nname = \"remote\"\nurl = \"https://example.invalid/remote.tar.gz\"\nhash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"\n";
    fs::write(dir.join("atom.lock"), format!("{lock}\n{remote}")).unwrap();
    let import = format!("builtins.atom.import {}", dir.display());
    assert_eq!(f.eval_ok(&format!("({import}).answer")), "42");
    assert_eq!(
        f.eval_ok(&format!("({import}).names")),
        r#"[ "lib" "remote" ]"#
    );
    assert_eq!(f.fetcher_ran(), None, "the local git revision was fetched");
    // Forcing the remote one hands it to Nix's fetcher, which fails here.
    let err = f.eval_err(&format!("({import}).remote"));
    assert!(err.contains("example.invalid"), "{err}");
    f.reset_trap();

    // Mirrored into the store, the revision stays readable when its repository is gone.
    let lib_url = format!("file://{}", lib.display());
    atom_ok(&f.store, &f.dir, &["fetch", "--git", &lib_url]);
    fs::remove_dir_all(&lib).unwrap();
    assert_eq!(f.eval_ok(&format!("({import}).answer")), "42");
    assert_eq!(
        f.fetcher_ran(),
        None,
        "the mirrored git revision was fetched"
    );
}

#[test]
fn a_pinned_source_s_import_stays_inside_the_source() {
    let f = Fixture::new("deps-pin-escape");
    let lib = f.dir.join("lib");
    fs::create_dir_all(&lib).unwrap();
    git(&lib, &["init", "-q", "-b", "main"]);
    write(&lib, "default.nix", "{ answer = 42; }\n");
    write(&lib, "sub/default.nix", "{ sub = true; }\n");
    std::os::unix::fs::symlink("../outside.nix", lib.join("link.nix")).unwrap();
    std::os::unix::fs::symlink("/etc", lib.join("etc")).unwrap();
    git(&lib, &["add", "."]);
    git(&lib, &["commit", "-q", "-m", "lib"]);
    write(&f.dir, "outside.nix", "\"outside\"\n");
    let mut text = manifest("pinned", "0.1.0", &f.url(), "");
    text.push_str(&format!(
        "\n[deps.direct.nix]\nlib.git = \"file://{}\"\n",
        lib.display()
    ));
    let dir = f.dir.join("pinned");
    write(&dir, "atom.toml", &text);
    write(&dir, "mod.nix", "{ Import = p: deps.pins.lib.import p; }\n");
    atom_ok(&f.store, &dir, &["lock"]);
    let import = |path: &str| format!("(builtins.atom.import {}).import \"{path}\"", dir.display());
    assert_eq!(f.eval_ok(&import("default.nix")), "{ answer = 42; }");
    assert_eq!(f.eval_ok(&import(".")), "{ answer = 42; }");
    assert_eq!(f.eval_ok(&import("sub")), "{ sub = true; }");
    for (path, expected) in [
        ("../outside.nix", "it is outside the pinned source"),
        ("sub/../../outside.nix", "it is outside the pinned source"),
        ("link.nix", "it is outside the pinned source"),
        ("etc/hostname", "it is outside the pinned source"),
        (
            "/etc/hostname",
            "the path must be relative to the pinned source",
        ),
    ] {
        let err = f.eval_err(&import(path));
        assert!(
            err.contains(&format!("deps.pins.<name>.import: cannot import '{path}'"))
                && err.contains(expected),
            "{path}: {err}"
        );
    }
}

#[test]
fn atoms_compose_alike_from_a_directory_and_from_the_store() {
    // The same atoms, loaded from their directory in the repository and, published, from the
    // atom store (where modules are read from a copy of their Nix files). Shared subtrees
    // (`inherit (f ./x) a b;`) and path literals are the cases where the two differ most.
    let mut f = Fixture::new("deps-alike");
    let atoms: &[(&str, &[(&str, &str)])] = &[
        (
            "shared",
            &[
                (
                    "mod.nix",
                    "let f = p: { A = 1; B = builtins.readFile p; C = toString p == toString ./data.txt; }; in { inherit (f ./data.txt) A B C; inherit (mod) sub; Here = builtins.attrNames (builtins.readDir ./.); }\n",
                ),
                ("data.txt", "data\n"),
                ("sub/mod.nix", "{ Up = pre.a; Data = builtins.readFile ../data.txt; }\n"),
            ],
        ),
        (
            "members",
            &[
                ("mod.nix", "{ Sum = mod.one + mod.two; Top = atom.sum or null; }\n"),
                ("one.nix", "1\n"),
                ("two.nix", "mod.one + 1\n"),
                ("Pub.nix", "{ inherit (mod) one two; }\n"),
            ],
        ),
    ];
    let mut labels = Vec::new();
    for (label, files) in atoms {
        let mut all = vec![("atom.toml", manifest(label, "1.0.0", "::", ""))];
        all.extend(files.iter().map(|(n, t)| (*n, t.to_string())));
        let refs: Vec<(&str, &str)> = all.iter().map(|(n, t)| (*n, t.as_str())).collect();
        f.publish(label, &refs, false);
        labels.push(*label);
    }
    let url = f.url();
    let deps: Vec<String> = labels.iter().map(|l| format!("{l} = \"1\"")).collect();
    // Each dependency re-exported as a public member (`Shared = deps.from.bs.shared;`).
    let names: Vec<String> = labels
        .iter()
        .map(|l| format!("{}{} = deps.from.bs.{l};", l[..1].to_uppercase(), &l[1..]))
        .collect();
    let user = f.consumer(
        "alike",
        &[
            (
                "atom.toml",
                &manifest("alike", "0.1.0", &url, &deps.join("\n")),
            ),
            ("mod.nix", &format!("{{ {} }}\n", names.join(" "))),
        ],
    );
    for label in labels {
        let from_store = f.eval_ok(&format!(
            "(builtins.atom.import {}).{label}",
            user.display()
        ));
        let from_dir = f.eval_ok(&format!(
            "builtins.atom.import {}",
            f.repo.join(label).display()
        ));
        assert_eq!(from_store, from_dir, "{label}");
        assert!(from_store.len() > 10, "{from_store}");
    }
}

#[test]
fn a_dependency_s_data_files_are_written_only_when_a_path_into_it_is_used() {
    let mut f = Fixture::new("deps-lazy");
    f.publish(
        "data",
        &[
            ("atom.toml", &manifest("data", "1.0.0", "::", "")),
            (
                "mod.nix",
                "{ Plain = 1; Text = builtins.readFile ./files/hello.txt; ViaOutPath = builtins.readFile (mod.outPath + \"/files/hello.txt\"); Leak = builtins.readFile ./leak; \
                 Below = builtins.pathExists (./files/hello.txt + \"/x\"); Out = builtins.readFile (./. + \"/etc-link/hostname\"); }\n",
            ),
            ("files/hello.txt", "hello from data\n"),
        ],
        false,
    );
    // Symlinks inside the published atom that point outside it.
    std::os::unix::fs::symlink("/etc/hostname", f.repo.join("data/leak")).unwrap();
    std::os::unix::fs::symlink("/etc", f.repo.join("data/etc-link")).unwrap();
    git(&f.repo, &["add", "."]);
    git(&f.repo, &["commit", "-q", "-m", "leak"]);
    let url = f.url();
    write(
        &f.repo,
        "data/atom.toml",
        &manifest("data", "1.1.0", "::", ""),
    );
    git(&f.repo, &["commit", "-q", "-am", "data 1.1.0"]);
    atom_ok(&f.store, &f.repo, &["publish", "data"]);
    atom_ok(&f.store, &f.dir, &["fetch", &url]);
    let user = f.consumer(
        "user",
        &[
            ("atom.toml", &manifest("user", "0.1.0", &url, "data = \"=1.1.0\"")),
            (
                "mod.nix",
                "{ Plain = deps.from.bs.data.plain; Text = deps.from.bs.data.text; ViaOutPath = deps.from.bs.data.viaOutPath; Leak = deps.from.bs.data.leak; \
                 Below = deps.from.bs.data.below; Out = deps.from.bs.data.out; }\n",
            ),
        ],
    );
    let tree = git(&f.repo, &["rev-parse", "refs/eka/atoms/data/1.1.0^{tree}"]);
    let full = f.store.join("trees").join(&tree);
    let modules = f.store.join("trees/nix").join(&tree);
    let import = format!("(builtins.atom.import {})", user.display());

    assert_eq!(f.eval_ok(&format!("{import}.plain")), "1");
    assert!(modules.join("mod.nix").is_file());
    assert!(
        !modules.join("files").exists(),
        "only Nix files are written to compose"
    );
    assert!(!full.exists(), "nothing forced a path into the atom");

    assert_eq!(
        f.eval_ok(&format!("{import}.text")),
        r#""hello from data\n""#
    );
    assert!(full.join("files/hello.txt").is_file());
    assert_eq!(
        f.eval_ok(&format!("{import}.viaOutPath")),
        r#""hello from data\n""#
    );
    let err = f.eval_err(&format!("{import}.leak"));
    assert!(
        err.contains(&format!(
            "the path '{}/leak' is outside the atom",
            full.display()
        )),
        "{err}"
    );
    // Paths the tree does not have (below a file, out through a directory symlink) are no
    // change of the tree: they cost no check of all of it and no new stamp.
    let stamp = f.store.join("trees").join(format!("{tree}.stamp"));
    // (A stamp written again may get the inode just freed: its change time tells it apart.)
    let written = |path: &Path| {
        use std::os::unix::fs::MetadataExt;
        let metadata = fs::symlink_metadata(path).unwrap();
        (metadata.ino(), metadata.ctime(), metadata.ctime_nsec())
    };
    let stamped = written(&stamp);
    assert_eq!(f.eval_ok(&format!("{import}.below")), "false");
    assert_eq!(written(&stamp), stamped, "the stamp was written again");
    let err = f.eval_err(&format!("{import}.out"));
    assert!(
        err.contains(&format!(
            "the path '{}/etc-link/hostname' is outside the atom",
            full.display()
        )),
        "{err}"
    );
    assert_eq!(written(&stamp), stamped, "the stamp was written again");
    fs::remove_dir_all(&full).unwrap();
    assert_eq!(
        f.eval_ok(&format!("{import}.viaOutPath")),
        r#""hello from data\n""#
    );
}

/// Publishes the atom at `path` of the fixture's repository (committed) as `label` `version` the
/// way another tool could, without `atom publish`'s checks: the atom commit of the format, made
/// with git, and its three refs; then fetches the repository into the store.
fn publish_by_hand(f: &Fixture, path: &str, label: &str, version: &str) {
    let origin = git(&f.repo, &["rev-parse", "HEAD"]);
    let tree = git(&f.repo, &["rev-parse", &format!("HEAD:{path}")]);
    let body = format!(
        "tree {tree}\nauthor  <> 0 +0000\ncommitter  <> 0 +0000\norigin {origin}\nformat pre1\n\npublish({label}): {version}"
    );
    let commit = support::git_input(
        &f.repo,
        &["hash-object", "-t", "commit", "-w", "--stdin"],
        body.as_bytes(),
    );
    let manifest = git(&f.repo, &["rev-parse", &format!("HEAD:{path}/atom.toml")]);
    for (name, target) in [
        (format!("refs/eka/atoms/{label}/{version}"), &commit),
        (
            format!("refs/eka/meta/{label}/{version}/manifest"),
            &manifest,
        ),
        (format!("refs/eka/meta/{label}/{version}/origin"), &origin),
    ] {
        git(&f.repo, &["update-ref", &name, target]);
    }
    atom_ok(&f.store, &f.dir, &["fetch", &f.url()]);
}

#[test]
fn a_published_atom_without_a_lock_for_its_dependencies_is_an_error() {
    let f = Fixture::new("deps-unlocked");
    // `atom publish` refuses such an atom; another tool may not.
    write(
        &f.repo.join("unlocked"),
        "atom.toml",
        &manifest("unlocked", "1.0.0", "::", "b = \"^1\""),
    );
    write(
        &f.repo.join("unlocked"),
        "mod.nix",
        "{ V = deps.from.bs.b.version; }\n",
    );
    git(&f.repo, &["add", "."]);
    git(&f.repo, &["commit", "-q", "-m", "unlocked"]);
    let refused = atom(&f.store, &f.repo, &["publish", "unlocked"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stdout(&refused).contains(
            "it declares dependencies but has no atom.lock in the commit; run `atom lock unlocked`"
        ),
        "{}",
        stdout(&refused)
    );
    publish_by_hand(&f, "unlocked", "unlocked", "1.0.0");
    let url = f.url();
    let user = f.consumer(
        "user",
        &[
            (
                "atom.toml",
                &manifest("user", "0.1.0", &url, "unlocked = \"1\""),
            ),
            ("mod.nix", "{ V = deps.from.bs.unlocked.v; }\n"),
        ],
    );
    let err = f.eval_err(&format!("builtins.atom.import {}", user.display()));
    assert!(
        err.contains("unlocked-1.0.0 (pinned by user-0.1.0): its published atom.lock does not match its manifest: the atom declares dependencies but has no atom.lock; publish a version with an up-to-date lock"),
        "{err}"
    );
    // Nothing in the store is the user's to edit: no `atom lock` of a path there.
    assert!(
        !err.contains("atom lock") && !err.contains(&f.store.display().to_string()),
        "{err}"
    );
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// What a file outside the atoms holds: it must never appear in an error.
const SECRET: &str = "password = \"hunter2\"\n";

#[test]
fn an_atom_s_manifest_and_lock_on_disk_must_be_regular_files() {
    let f = Fixture::new("deps-regular");
    write(&f.dir, "secret.toml", SECRET);
    let linked = f.dir.join("linked");
    fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(f.dir.join("secret.toml"), linked.join("atom.toml")).unwrap();
    for builtin in ["manifest", "import"] {
        let err = f.eval_err(&format!("builtins.atom.{builtin} {}", linked.display()));
        assert!(
            err.contains(&format!("{}/atom.toml is a symlink: an atom's manifest must be a regular file inside the atom", linked.display())),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    // A valid lock, moved outside and linked back: still refused.
    let outside = f.dir.join("outside.lock");
    fs::rename(f.a.join("atom.lock"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, f.a.join("atom.lock")).unwrap();
    let err = f.eval_err(&f.import_a());
    assert!(
        err.contains(&format!(
            "{}/atom.lock is a symlink: an atom's lock must be a regular file inside the atom",
            f.a.display()
        )),
        "{err}"
    );
    fs::remove_file(f.a.join("atom.lock")).unwrap();

    // FIFOs are refused at once (`eval` kills nix-instantiate after 120 s, which fails here).
    mkfifo(&f.a.join("atom.lock"));
    let err = f.eval_err(&f.import_a());
    assert!(err.contains("atom.lock is a FIFO (named pipe)"), "{err}");
    let piped = f.dir.join("piped");
    fs::create_dir_all(&piped).unwrap();
    mkfifo(&piped.join("atom.toml"));
    for builtin in ["manifest", "import"] {
        let err = f.eval_err(&format!("builtins.atom.{builtin} {}", piped.display()));
        assert!(
            err.contains(&format!(
                "{}/atom.toml is a FIFO (named pipe): an atom's manifest must be a regular file",
                piped.display()
            )),
            "{err}"
        );
    }
}

#[test]
fn a_store_atom_whose_lock_is_a_symlink_in_git_is_possible_tampering() {
    let mut f = Fixture::new("deps-link-in-git");
    f.publish(
        "evil",
        &[
            ("atom.toml", &manifest("evil", "1.0.0", "::", "")),
            ("mod.nix", "{ V = 1; }\n"),
        ],
        true,
    );
    let url = f.url();
    let user = f.consumer(
        "user",
        &[
            (
                "atom.toml",
                &manifest("user", "0.1.0", &url, "evil = \"=1.0.0\""),
            ),
            ("mod.nix", "{ V = deps.from.bs.evil.v; }\n"),
        ],
    );
    assert_eq!(
        f.eval_ok(&format!("(builtins.atom.import {}).v", user.display())),
        "1"
    );

    // Rewrite the published commit in the store so that its atom.lock is a symlink to a file
    // outside the atom (publish refuses to make such an atom; a hostile repository need not).
    let store_repo = f.set_repo();
    let rev = git(&store_repo, &["rev-parse", "refs/eka/atoms/evil/1.0.0"]);
    let tree = git(&store_repo, &["rev-parse", &format!("{rev}^{{tree}}")]);
    let link = support::git_input(
        &store_repo,
        &["hash-object", "-w", "--stdin"],
        b"../../../../secret.toml",
    );
    let entries: String = git(&store_repo, &["ls-tree", &tree])
        .lines()
        .map(|line| {
            if line.ends_with("\tatom.lock") {
                format!("120000 blob {link}\tatom.lock\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert!(entries.contains("120000 blob"), "{entries}");
    let evil_tree = support::git_input(&store_repo, &["mktree"], entries.as_bytes());
    let evil = support::with_tree(&store_repo, &rev, &evil_tree);
    // Every ref naming the version: the store's own and its mirror's record.
    let names = git(&store_repo, &["for-each-ref", "--format=%(refname)"]);
    for name in names.lines().filter(|n| n.ends_with("/evil/1.0.0")) {
        git(&store_repo, &["update-ref", name, &evil]);
    }
    let lock = fs::read_to_string(user.join("atom.lock")).unwrap();
    fs::write(user.join("atom.lock"), lock.replace(&rev, &evil)).unwrap();

    let err = f.eval_err(&format!("builtins.atom.import {}", user.display()));
    assert!(
        err.contains("evil-1.0.0 (pinned by user-0.1.0): the atom's atom.lock is a symlink in its tree, not a regular file (possible tampering)"),
        "{err}"
    );
    assert_eq!(err.matches("possible tampering").count(), 1, "{err}");
    // `atom lock --offline` verifies what it pins from the store the same way (online, the
    // mirror's commit would not match the store's: "possible tampering" before any verification).
    fs::remove_file(user.join("atom.lock")).unwrap();
    let output = atom(&f.store, &user, &["lock", "--offline"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("the atom's atom.lock is a symlink in its tree, not a regular file (possible tampering)"),
        "{}",
        stderr(&output)
    );
}

/// `atom store verify [args]` on the fixture's store.
fn store_verify(f: &Fixture, args: &[&str]) -> Output {
    let mut all = vec!["store", "verify"];
    all.extend_from_slice(args);
    atom(&f.store, &f.dir, &all)
}

/// Makes `path` writable again and writes `text` to it (materialised files are read-only).
fn overwrite(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(path, text).unwrap();
}

/// A dependency's materialised files are checked as they are used, not all at once: a file its
/// code reads, a directory Nix copies to the store and a path literal each check what they
/// reach against the stamp; an edited file nothing reads costs nothing and is left to
/// `atom store verify`.
#[test]
fn a_materialised_tree_is_checked_where_it_is_used() {
    let mut f = Fixture::new("deps-on-read");
    f.publish(
        "files",
        &[
            ("atom.toml", &manifest("files", "1.0.0", "::", "")),
            (
                "mod.nix",
                "{ A = builtins.readFile ./data/a.txt; Names = builtins.attrNames (builtins.readDir ./data); \
                 Dir = \"${./dir}\"; Single = \"${./single.txt}\"; Deep = builtins.readFile ./deep/sub/c.txt; }\n",
            ),
            ("data/a.txt", "a\n"),
            ("deep/sub/c.txt", "c\n"),
            ("data/b.txt", "b\n"),
            ("dir/x.txt", "x\n"),
            ("single.txt", "single\n"),
        ],
        false,
    );
    let url = f.url();
    let user = f.consumer(
        "user",
        &[
            (
                "atom.toml",
                &manifest("user", "0.1.0", &url, "files = \"^1\""),
            ),
            ("mod.nix", "{ F = deps.from.bs.files; }\n"),
        ],
    );
    let get = |name: &str| format!("(builtins.atom.import {}).f.{name}", user.display());
    assert_eq!(f.eval_ok(&get("a")), "\"a\\n\"");
    assert_eq!(f.eval_ok(&get("names")), "[ \"a.txt\" \"b.txt\" ]");
    // Copied to the store (as paths: a dummy store computes them from the files).
    let copied = |name: &str, base: &str| {
        let path = f.eval_ok(&get(name));
        assert!(
            path.starts_with("\"/nix/store/") && path.ends_with(&format!("-{base}\"")),
            "{path}"
        );
        path
    };
    let dir = copied("dir", "dir");
    let single = copied("single", "single.txt");
    let tree = git(&f.repo, &["rev-parse", "refs/eka/atoms/files/1.0.0^{tree}"]);
    let root = f.store.join("trees").join(&tree);
    let repair = |f: &Fixture| {
        let output = store_verify(f, &["--repair"]);
        assert!(output.status.success(), "{}", stderr(&output));
    };
    let changed = |file: &str| {
        format!(
            "{}/{file} was changed (its content hashes to",
            root.display()
        )
    };

    // Edited in place (its directory's times stay): reading it is refused, naming it; reading
    // the directory's listing or another file is not.
    overwrite(&root.join("data/a.txt"), "pwned\n");
    let err = f.eval_err(&get("a"));
    assert!(err.contains(&changed("data/a.txt")), "{err}");
    assert!(err.contains("(possible tampering)"), "{err}");
    assert_eq!(f.eval_ok(&get("names")), "[ \"a.txt\" \"b.txt\" ]");
    assert_eq!(copied("single", "single.txt"), single);
    let output = store_verify(&f, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    repair(&f);
    assert_eq!(f.eval_ok(&get("a")), "\"a\\n\"");

    // A file inside a directory Nix copies to the store on its own (`"${./dir}"`).
    overwrite(&root.join("dir/x.txt"), "pwned\n");
    let err = f.eval_err(&get("dir"));
    assert!(err.contains(&changed("dir/x.txt")), "{err}");
    repair(&f);
    assert_eq!(copied("dir", "dir"), dir);

    // A file a path literal names, copied whole (`"${./single.txt}"`).
    overwrite(&root.join("single.txt"), "pwned\n");
    let err = f.eval_err(&get("single"));
    assert!(err.contains(&changed("single.txt")), "{err}");
    repair(&f);

    // An added file shows in its directory's times.
    write(&root.join("data"), "c.txt", "c\n");
    let err = f.eval_err(&get("names"));
    assert!(
        err.contains(&format!(
            "{}/data/c.txt is not in the git tree (it was added)",
            root.display()
        )),
        "{err}"
    );
    fs::remove_file(root.join("data/c.txt")).unwrap();

    // A directory of the tree moved out of it and a symlink put in its place: the file read
    // through it is the very one recorded (same inode, same times), but the path now leaves the
    // tree, and the directory holding the symlink shows the change.
    assert_eq!(f.eval_ok(&get("deep")), "\"c\\n\"");
    let moved = f.dir.join("moved-sub");
    fs::rename(root.join("deep/sub"), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, root.join("deep/sub")).unwrap();
    let err = f.eval_err(&get("deep"));
    assert!(err.contains("deep/sub"), "{err}");
    assert!(err.contains("(possible tampering)"), "{err}");
    fs::remove_file(root.join("deep/sub")).unwrap();
    fs::rename(&moved, root.join("deep/sub")).unwrap();
    repair(&f);
    assert_eq!(f.eval_ok(&get("deep")), "\"c\\n\"");

    // New times, same content: the deep check passes and the stamp is written again.
    let stamp = f.store.join("trees").join(format!("{tree}.stamp"));
    let before = fs::read(&stamp).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(Command::new("touch")
        .arg(root.join("data/a.txt"))
        .status()
        .unwrap()
        .success());
    assert_eq!(f.eval_ok(&get("a")), "\"a\\n\"");
    assert_ne!(fs::read(&stamp).unwrap(), before, "the stamp was rewritten");
    assert!(store_verify(&f, &[]).status.success());
}

#[test]
fn an_edited_materialised_tree_is_refused_until_repaired() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new("deps-trees");
    let good = r#"{ bVersion = "1.2.0"; message = "hello a from b 1.2.0"; }"#;
    assert_eq!(f.eval_ok(&f.import_a()), good);
    let tree = git(&f.repo, &["rev-parse", "refs/eka/atoms/b/1.2.0^{tree}"]);
    let modules = f.store.join("trees/nix").join(&tree);
    let stamp = f.store.join("trees/nix").join(format!("{tree}.stamp"));
    let mod_nix = modules.join("mod.nix");
    assert!(stamp.is_file(), "the stamp is beside the tree");
    assert!(!modules.join(format!("{tree}.stamp")).exists());
    let mode = fs::metadata(&mod_nix).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o222,
        0,
        "materialised files are read-only: {mode:o}"
    );
    assert_ne!(
        fs::metadata(&modules).unwrap().permissions().mode() & 0o200,
        0
    );
    assert!(store_verify(&f, &[]).status.success());

    // Same content, new times: the deep check passes and the stamp is rewritten.
    let before = fs::read(&stamp).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(Command::new("touch")
        .arg(&mod_nix)
        .status()
        .unwrap()
        .success());
    assert_eq!(f.eval_ok(&f.import_a()), good);
    assert_ne!(fs::read(&stamp).unwrap(), before, "the stamp was rewritten");

    // Other content: refused, naming the file, until `atom store verify --repair`.
    overwrite(
        &mod_nix,
        "{ Version = \"6.6.6\"; Greet = name: \"pwned ${name}\"; }\n",
    );
    let err = f.eval_err(&f.import_a());
    assert!(
        err.contains(&format!(
            "{}/mod.nix was changed (its content hashes to",
            modules.display()
        )) && err.contains("(possible tampering); run `atom store verify --repair` to rewrite it"),
        "{err}"
    );
    // A missing stamp does not hide it.
    fs::remove_file(&stamp).unwrap();
    assert!(f.eval_err(&f.import_a()).contains("mod.nix was changed"));

    let output = store_verify(&f, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains(&format!("bad: {}/mod.nix was changed", modules.display())),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains(": 1 problem, 0 repaired"),
        "{}",
        stdout(&output)
    );
    assert!(
        stderr(&output).contains("1 problem in the atom store"),
        "{}",
        stderr(&output)
    );
    let output = store_verify(&f, &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["unrepaired"], 1, "{report}");
    assert!(
        report["error"].as_str().unwrap().contains("1 problem"),
        "{report}"
    );

    let output = store_verify(&f, &["--repair"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(&format!("repaired: {}", modules.display())),
        "{}",
        stdout(&output)
    );
    assert_eq!(f.eval_ok(&f.import_a()), good);
    assert!(store_verify(&f, &[]).status.success());

    // An added file is noticed too (its directory's times change).
    write(&modules, "Extra.nix", "1\n");
    let err = f.eval_err(&f.import_a());
    assert!(
        err.contains(&format!(
            "{}/Extra.nix is not in the git tree (it was added)",
            modules.display()
        )),
        "{err}"
    );
    fs::remove_file(modules.join("Extra.nix")).unwrap();
    assert_eq!(f.eval_ok(&f.import_a()), good);

    // The full copy of a tree (`builtins.atom.resolve` writes one) is checked the same way.
    let root = git(&f.repo, &["rev-parse", "refs/ekala/init"]);
    let resolve = format!(
        "(builtins.atom.resolve {{ set = \"{root}\"; label = \"b\"; version = \"=1.2.0\"; }}).version"
    );
    assert_eq!(f.eval_ok(&resolve), "\"1.2.0\"");
    let full = f.store.join("trees").join(&tree);
    assert!(f
        .store
        .join("trees")
        .join(format!("{tree}.stamp"))
        .is_file());
    fs::remove_file(full.join("atom.toml")).unwrap();
    let err = f.eval_err(&resolve);
    assert!(
        err.contains(&format!("{}/atom.toml is missing", full.display())),
        "{err}"
    );
    let output = store_verify(&f, &["--repair"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(f.eval_ok(&resolve), "\"1.2.0\"");
}

// Nix's evaluation modes: restricted (`--option restrict-eval true`) and pure (`nix eval`, every
// flake). The paths given to the builtins are checked as Nix checks its own reads; what the plugin
// loads from the atom store after verifying it is readable by the atom's code in every mode.

/// Publishes `data` 1.0.0 (a module reading its own data file) and makes a consumer `name`
/// depending on it whose module also reads a data file of its own. Returns the consumer.
fn data_consumer(f: &mut Fixture, name: &str) -> PathBuf {
    f.publish(
        "data",
        &[
            ("atom.toml", &manifest("data", "1.0.0", "::", "")),
            (
                "mod.nix",
                "{ Text = builtins.readFile ./files/hello.txt; }\n",
            ),
            ("files/hello.txt", "hello from data\n"),
        ],
        false,
    );
    let url = f.url();
    f.consumer(
        name,
        &[
            (
                "atom.toml",
                &manifest("user", "0.1.0", &url, "data = \"^1\""),
            ),
            (
                "mod.nix",
                "{ Text = deps.from.bs.data.text; Own = builtins.readFile ./own.txt; }\n",
            ),
            ("own.txt", "my own\n"),
        ],
    )
}

const RESTRICTED: [&str; 3] = ["--option", "restrict-eval", "true"];

#[test]
fn restricted_evaluation_refuses_paths_nix_itself_would_not_read() {
    let f = Fixture::new("modes-restricted-refused");
    let a = f.a.display().to_string();
    let repo = f.repo.display().to_string();
    for (expr, path) in [
        (format!("builtins.atom.import {a}"), &a),
        (format!("builtins.atom.compose {a} {{}}"), &a),
        (format!("builtins.atom.manifest {a}"), &a),
        (
            format!("builtins.atom.resolve {{ repo = {repo}; label = \"b\"; }}"),
            &repo,
        ),
        (
            format!("builtins.atom.versions {{ repo = {repo}; label = \"b\"; }}"),
            &repo,
        ),
    ] {
        let err = f.eval_err_with(&RESTRICTED, &expr);
        assert!(
            err.contains(&format!(
                "access to absolute path '{path}' is forbidden in restricted mode"
            )),
            "{expr}:\n{err}"
        );
    }
    // The control: the same expressions work when evaluation is not restricted.
    assert_eq!(
        f.eval_ok(&format!("(builtins.atom.import {a}).bVersion")),
        "\"1.2.0\""
    );
}

#[test]
fn restricted_evaluation_with_the_atom_allowed_reads_it_and_its_dependencies_files() {
    let mut f = Fixture::new("modes-restricted-allowed");
    let user = data_consumer(&mut f, "user");
    let allow = format!("user={}", user.display());
    let args = [RESTRICTED[0], RESTRICTED[1], RESTRICTED[2], "-I", &allow];
    assert_eq!(
        f.eval_ok_with(&args, &format!("builtins.atom.import {}", user.display())),
        r#"{ own = "my own\n"; text = "hello from data\n"; }"#
    );
    // The same through the search path.
    assert_eq!(
        f.eval_ok_with(&args, "(builtins.atom.import <user>).text"),
        r#""hello from data\n""#
    );
    // `src` of an atom resolved from the store is readable too.
    let root = git(&f.repo, &["rev-parse", "refs/ekala/init"]);
    assert_eq!(
        f.eval_ok_with(
            &args,
            &format!(
                "builtins.readFile ((builtins.atom.resolve {{ set = \"{root}\"; label = \"data\"; }}).src + \"/files/hello.txt\")"
            )
        ),
        r#""hello from data\n""#
    );
    // Allowing the atom allows nothing else: Nix still refuses other files.
    let err = f.eval_err_with(
        &args,
        &format!("builtins.readFile {}/atom.toml", f.a.display()),
    );
    assert!(err.contains("is forbidden in restricted mode"), "{err}");
}

/// `nix` with the plugin, the fixture's atom store, and a local Nix store in `dir` whose store
/// directory is a real directory (`<dir>/store`), so store paths are where they say.
fn nix_pure(f: &Fixture, dir: &Path, args: &[&str]) -> Output {
    nix_pure_env(f, dir, args, &[])
}

/// [`nix_pure`] with `env` added to its environment.
fn nix_pure_env(f: &Fixture, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = scratch("pure-home");
    let registry = home.join("registry.json");
    fs::write(&registry, "{\"flakes\": [], \"version\": 2}").unwrap();
    let store = format!(
        "local?store={0}/store&state={0}/state&log={0}/log",
        dir.display()
    );
    nix_command("timeout", &home)
        .args(["-s", "KILL", "120", "nix"])
        .args(["--option", "plugin-files"])
        .arg(plugin())
        .args(["--option", "atom-store"])
        .arg(&f.store)
        .args(["--option", "flake-registry"])
        .arg(&registry)
        .args(["--option", "build-users-group", ""])
        .args(["--option", "connect-timeout", "1"])
        .args([
            "--extra-experimental-features",
            "nix-command flakes",
            "--store",
            &store,
        ])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("nix runs")
}

#[test]
fn a_flake_evaluates_an_atom_whose_locked_dependency_reads_its_data_in_pure_mode() {
    let mut f = Fixture::new("modes-pure-flake");
    let flake = f.dir.join("flake");
    data_consumer(&mut f, "flake/user");
    write(
        &flake,
        "flake.nix",
        "{ outputs = { self }: { value = builtins.atom.import \"${self}/user\"; }; }\n",
    );
    let nix = f.dir.join("nix");
    let output = nix_pure(
        &f,
        &nix,
        &["eval", "--json", &format!("path:{}#value", flake.display())],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        r#"{"own":"my own\n","text":"hello from data\n"}"#
    );
    // The flake's source was read from the Nix store, where pure evaluation found it.
    assert!(nix.join("store").read_dir().unwrap().next().is_some());
}

#[test]
fn pure_evaluation_refuses_an_atom_outside_what_it_may_read() {
    let f = Fixture::new("modes-pure-refused");
    let nix = f.dir.join("nix");
    let output = nix_pure(
        &f,
        &nix,
        &[
            "eval",
            "--expr",
            &format!("(builtins.atom.import {}).bVersion", f.a.display()),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!(
            "access to absolute path '{}' is forbidden in pure eval",
            f.a.display()
        )),
        "{}",
        stderr(&output)
    );
    // The control: `--impure` lifts it.
    let output = nix_pure(
        &f,
        &nix,
        &[
            "eval",
            "--impure",
            "--expr",
            &format!("(builtins.atom.import {}).bVersion", f.a.display()),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "\"1.2.0\"");
}

/// Publishes `base` 1.0.0 and `lib` 1.0.0, which depends on it through its own set (`::`).
fn publish_lib_on_base(f: &mut Fixture) {
    f.publish(
        "base",
        &[
            ("atom.toml", &manifest("base", "1.0.0", "::", "")),
            ("mod.nix", "{ Word = \"from base\"; }\n"),
        ],
        false,
    );
    f.publish(
        "lib",
        &[
            ("atom.toml", &manifest("lib", "1.0.0", "::", "base = \"1\"")),
            (
                "mod.nix",
                "{ Greet = name: \"${name} ${deps.from.bs.base.word}\"; }\n",
            ),
        ],
        true,
    );
}

/// `lib` depends on `base`, an atom of its own repository (`::`). A consumer elsewhere that only
/// adds `URL::lib` gets `base` too, from lib's set, when it locks (and `atom fetch URL lib` does
/// the same); it evaluates with no further step, from a repository with no commit yet and from a
/// shallow clone. What such repositories cannot do (lock an atom of their own) fails saying what
/// to do.
#[test]
fn an_atom_with_a_dependency_on_its_own_set_works_from_elsewhere() {
    let mut f = Fixture::new("deps-own-set");
    publish_lib_on_base(&mut f);
    let url = f.url();
    let root = git(&f.repo, &["rev-parse", "refs/ekala/init"]);

    // `atom fetch URL lib` brings what lib's lock pins in its own set.
    let fetched = f.dir.join("fetch-store");
    atom_ok(&fetched, &f.dir, &["fetch", &url, "lib"]);
    let set = fetched.join(format!("{root}.git"));
    git(
        &set,
        &["rev-parse", "--verify", "refs/eka/atoms/base/1.0.0"],
    );
    git(&set, &["rev-parse", "--verify", "refs/eka/atoms/lib/1.0.0"]);
    assert!(
        git(&set, &["for-each-ref", "refs/eka/atoms/b/"]).is_empty(),
        "only lib and what it pins"
    );

    // A consumer with no commit yet, locking into an empty store.
    f.store = f.dir.join("fresh-store");
    let consumer = f.dir.join("consumer");
    fs::create_dir_all(&consumer).unwrap();
    git(&consumer, &["init", "-q", "-b", "main"]);
    atom_ok(&f.store, &consumer, &["new", "app"]);
    atom_ok(&f.store, &consumer, &["new", "other"]);
    atom_ok(
        &f.store,
        &consumer,
        &["add", &format!("{url}::lib"), "--path", "app"],
    );
    write(
        &consumer,
        "app/default.nix",
        "{ message = atoms.deps.from.repo.lib.greet \"app\"; }\n",
    );
    let import = format!(
        "(builtins.atom.import {}).message",
        consumer.join("app").display()
    );
    assert_eq!(f.eval_ok(&import), "\"app from base\"");
    assert_eq!(f.fetcher_ran(), None);
    // An atom of its own needs the repository's identity: commit first.
    let output = atom(&f.store, &consumer, &["add", "::other", "--path", "app"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains(&consumer.display().to_string())
            && stderr(&output).contains(
                "has no commit yet, so it has no identity (its root commit): commit first (`git commit`), then run this again"
            ),
        "{}",
        stderr(&output)
    );

    // A shallow clone of it evaluates the same.
    git(&consumer, &["add", "-A"]);
    git(&consumer, &["commit", "-q", "-m", "app"]);
    write(&consumer, "README", "more history\n");
    git(&consumer, &["add", "-A"]);
    git(&consumer, &["commit", "-q", "-m", "readme"]);
    let shallow = f.dir.join("shallow");
    git(
        &f.dir,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &format!("file://{}", consumer.display()),
            "shallow",
        ],
    );
    assert_eq!(
        git(&shallow, &["rev-parse", "--is-shallow-repository"]),
        "true"
    );
    let import = format!(
        "(builtins.atom.import {}).message",
        shallow.join("app").display()
    );
    assert_eq!(f.eval_ok(&import), "\"app from base\"");
    // Its root commit is not there: locking an atom of its own says how to get the identity,
    // and works once it has it.
    let output = atom(&f.store, &shallow, &["add", "::other", "--path", "app"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is a shallow clone without refs/ekala/init")
            && stderr(&output).contains("git fetch origin refs/ekala/init:refs/ekala/init"),
        "{}",
        stderr(&output)
    );
    atom_ok(&f.store, &consumer, &["init"]);
    git(
        &shallow,
        &[
            "fetch",
            "-q",
            "--depth",
            "1",
            "origin",
            "refs/ekala/init:refs/ekala/init",
        ],
    );
    atom_ok(&f.store, &shallow, &["add", "::other", "--path", "app"]);
    assert_eq!(f.eval_ok(&import), "\"app from base\"");

    // A lock made in the full repository for an atom of its own evaluates in a fresh shallow
    // clone (without refs/ekala/init) too: `::` in a working-tree atom's lock is this repository.
    atom_ok(&f.store, &consumer, &["add", "::other", "--path", "app"]);
    write(
        &consumer,
        "app/default.nix",
        "{ message = atoms.deps.from.repo.lib.greet \"app\"; other = atoms.deps.from.local.other.hello; }\n",
    );
    git(&consumer, &["add", "-A"]);
    git(&consumer, &["commit", "-q", "-m", "other"]);
    git(
        &f.dir,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &format!("file://{}", consumer.display()),
            "shallow2",
        ],
    );
    let app = f.dir.join("shallow2/app");
    assert_eq!(
        f.eval_ok(&format!(
            "with builtins.atom.import {}; [ message other ]",
            app.display()
        )),
        "[ \"app from base\" \"hello from other\" ]"
    );
    assert_eq!(f.fetcher_ran(), None);
}

/// The evaluator refuses an atom store that other users can write, and does not trust a stamp
/// that someone else could have written.
#[test]
fn the_evaluator_refuses_a_store_other_users_can_write() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let f = Fixture::new("deps-exposed-store");
    let import = format!("(builtins.atom.import {}).message", f.a.display());
    let message = f.eval_ok(&import);
    let trees = f.store.join("trees");
    fs::set_permissions(&trees, fs::Permissions::from_mode(0o777)).unwrap();
    let err = f.eval_err(&import);
    assert!(
        err.contains(&format!(
            "refusing to use the atom store: {} can be changed by other users (everyone can write it (mode 0777)), who could then change the atoms it holds; run `chmod go-w {}`",
            trees.display(),
            trees.display()
        )),
        "{err}"
    );
    fs::set_permissions(&trees, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(f.eval_ok(&import), message);

    // A stamp owned by another user (only root can make one) sends its tree through the deep
    // check, which stamps it again as this user.
    let me = fs::metadata(&trees).unwrap().uid();
    if me == 0 {
        let stamps: Vec<PathBuf> = fs::read_dir(trees.join("nix"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "stamp"))
            .collect();
        assert!(!stamps.is_empty());
        for stamp in &stamps {
            std::os::unix::fs::chown(stamp, Some(65534), None).unwrap();
        }
        assert_eq!(f.eval_ok(&import), message);
        for stamp in &stamps {
            assert_eq!(
                fs::metadata(stamp).unwrap().uid(),
                me,
                "{}",
                stamp.display()
            );
            assert_eq!(fs::metadata(stamp).unwrap().mode() & 0o777, 0o444);
        }
    }
}

/// When a mirror of lib's set lacks what lib pins in its own set, the evaluator's error names
/// that mirror (where lib came from) as the place to fetch it from.
#[test]
fn a_missing_own_set_dependency_names_the_mirror_its_dependent_came_from() {
    let mut f = Fixture::new("deps-own-set-missing");
    publish_lib_on_base(&mut f);
    // A mirror that publishes lib but not base.
    git(
        &f.dir,
        &["clone", "-q", "--mirror", &f.url(), "partial.git"],
    );
    let partial = f.dir.join("partial.git");
    for name in [
        "refs/eka/atoms/base/1.0.0",
        "refs/eka/meta/base/1.0.0/manifest",
        "refs/eka/meta/base/1.0.0/origin",
    ] {
        git(&partial, &["update-ref", "-d", name]);
    }
    let url = format!("file://{}", partial.display());
    f.store = f.dir.join("partial-store");
    let app = f.dir.join("app");
    write(
        &app,
        "atom.toml",
        &manifest("app", "0.1.0", &url, "lib = \"1\""),
    );
    write(
        &app,
        "mod.nix",
        "{ Message = deps.from.bs.lib.greet \"app\"; }\n",
    );
    atom_ok(&f.store, &app, &["lock"]);
    let err = f.eval_err(&format!("(builtins.atom.import {}).message", app.display()));
    assert!(
        err.contains("base-1.0.0 (pinned by lib-1.0.0) is not in the atom store")
            && err.contains(&format!("update the store with `atom fetch {url}`")),
        "{err}"
    );
    assert_eq!(f.fetcher_ran(), None);
}

// Pinned code: the files of a direct Nix dependency that an atom imports (`deps.pins.<name>.import`)
// run in a closed scope confined to the pinned source, like atom code, at any depth of the graph.

/// What the files outside every atom and pinned source hold: it must never appear in an output.
const PIN_SECRET: &str = "PIN_SECRET-KEY-MATERIAL-7f3a";

/// A git repository `evil` in the fixture's directory, one commit, with the files a hostile pin
/// carries: ordinary code that must keep working, and one attack per file under `attacks/`. Also
/// writes `<dir>/secret/id_rsa` (the secret), which no attack may read. Returns the repository.
fn hostile_pin(f: &Fixture) -> PathBuf {
    let secret = f.dir.join("secret/id_rsa");
    write(&f.dir, "secret/id_rsa", PIN_SECRET);
    let secret = secret.display().to_string();
    let evil = f.dir.join("evil");
    fs::create_dir_all(&evil).unwrap();
    git(&evil, &["init", "-q", "-b", "main"]);
    let files: &[(&str, String)] = &[
        (
            "default.nix",
            "{ util = (import ./lib/util.nix).double 21; sub = import ./sub; data = builtins.readFile ./data.txt; \
             json = (builtins.fromJSON (builtins.readFile ./d.json)).k; names = with builtins; length (attrNames { a = 1; b = 2; }); \
             parent = baseNameOf (dirOf ./lib/util.nix); nested = import ./nested.nix; }\n"
                .to_owned(),
        ),
        ("lib/util.nix", "{ double = x: x * 2; }\n".to_owned()),
        ("sub/default.nix", "\"sub\"\n".to_owned()),
        ("data.txt", "pinned data".to_owned()),
        ("d.json", "{\"k\": [1, 2]}".to_owned()),
        ("nested.nix", "import ./lib/../sub\n".to_owned()),
        ("attacks/read-string.nix", format!("builtins.readFile \"{secret}\"\n")),
        ("attacks/read-literal.nix", format!("builtins.readFile {secret}\n")),
        ("attacks/import-passwd.nix", "import /etc/passwd\n".to_owned()),
        ("attacks/import-string.nix", "import \"/etc/passwd\"\n".to_owned()),
        ("attacks/import-up.nix", "import ../../outside.nix\n".to_owned()),
        ("attacks/import-link.nix", "import ../link-out.nix\n".to_owned()),
        ("attacks/read-link.nix", "builtins.readFile ../link-out.nix\n".to_owned()),
        ("attacks/read-root.nix", "builtins.readDir \"/\"\n".to_owned()),
        ("attacks/plus.nix", "builtins.readFile (./. + \"/../..\")\n".to_owned()),
        ("attacks/getenv.nix", "builtins.getEnv \"HOME\"\n".to_owned()),
        ("attacks/getenv-global.nix", "__getEnv \"HOME\"\n".to_owned()),
        (
            "attacks/fetchurl.nix",
            "builtins.fetchurl \"http://127.0.0.1:9/x\"\n".to_owned(),
        ),
        (
            "attacks/fetchgit.nix",
            "fetchGit { url = \"file:///root/.ssh\"; }\n".to_owned(),
        ),
        (
            "attacks/fetchtarball.nix",
            "fetchTarball \"http://127.0.0.1:9/x.tar.gz\"\n".to_owned(),
        ),
        ("attacks/system.nix", "builtins.currentSystem\n".to_owned()),
        ("attacks/system-global.nix", "__currentSystem\n".to_owned()),
        ("attacks/nixpkgs.nix", "import <nixpkgs>\n".to_owned()),
        ("attacks/findfile.nix", "__findFile [ ] \"x\"\n".to_owned()),
        ("attacks/nixpath.nix", "builtins.nixPath\n".to_owned()),
        ("attacks/scoped.nix", "scopedImport { } ../lib/util.nix\n".to_owned()),
        (
            "attacks/builtins-scoped.nix",
            "builtins.scopedImport { } ../lib/util.nix\n".to_owned(),
        ),
        ("attacks/atom.nix", "builtins.atom.version\n".to_owned()),
        (
            "attacks/store-path.nix",
            "builtins.storePath \"/nix/store/00000000000000000000000000000000-x\"\n".to_owned(),
        ),
        ("attacks/nested.nix", "import ./getenv.nix\n".to_owned()),
    ];
    for (path, text) in files {
        write(&evil, path, text);
    }
    std::os::unix::fs::symlink(&secret, evil.join("link-out.nix")).unwrap();
    git(&evil, &["add", "."]);
    git(&evil, &["commit", "-q", "-m", "evil"]);
    evil
}

/// Each attack of [`hostile_pin`] (the file under `attacks/`) and what its error says.
const PIN_ATTACKS: &[(&str, &str)] = &[
    (
        "read-string",
        "is forbidden: pinned code may only read files inside its own source",
    ),
    ("read-literal", "is outside the pinned source"),
    (
        "import-passwd",
        "the path '/etc/passwd' is outside the pinned source",
    ),
    (
        "import-string",
        "cannot import '/etc/passwd' in pin evil of ",
    ),
    ("import-up", "is outside the pinned source"),
    ("import-link", "is outside the pinned source"),
    ("read-link", "is outside the pinned source"),
    (
        "read-root",
        "access to '/' is forbidden: pinned code may only read files inside its own source",
    ),
    ("plus", "is outside the pinned source"),
    ("getenv", "attribute 'getEnv' missing"),
    ("getenv-global", "undefined variable '__getEnv'"),
    ("fetchurl", "attribute 'fetchurl' missing"),
    ("fetchgit", "undefined variable 'fetchGit'"),
    ("fetchtarball", "undefined variable 'fetchTarball'"),
    ("system", "attribute 'currentSystem' missing"),
    ("system-global", "undefined variable '__currentSystem'"),
    ("nixpkgs", "undefined variable '__findFile'"),
    ("findfile", "undefined variable '__findFile'"),
    ("nixpath", "attribute 'nixPath' missing"),
    ("scoped", "undefined variable 'scopedImport'"),
    ("builtins-scoped", "attribute 'scopedImport' missing"),
    ("atom", "attribute 'atom' missing"),
    ("store-path", "attribute 'storePath' missing"),
    ("nested", "attribute 'getEnv' missing"),
];

/// The files of the pinned source, as `default.nix` of [`hostile_pin`] returns them.
const PIN_VALUE: &str = r#"{ data = "pinned data"; json = [ 1 2 ]; names = 2; nested = "sub"; parent = "lib"; sub = "sub"; util = 42; }"#;

#[test]
fn pinned_code_runs_in_a_closed_scope_confined_to_its_source() {
    let f = Fixture::new("pins-confined");
    let evil = hostile_pin(&f);
    let mut text = manifest("pinned", "0.1.0", &f.url(), "");
    text.push_str(&format!(
        "\n[deps.direct.nix]\nevil.git = \"file://{}\"\n",
        evil.display()
    ));
    let dir = f.dir.join("pinned");
    write(&dir, "atom.toml", &text);
    write(
        &dir,
        "mod.nix",
        "{ Import = p: deps.pins.evil.import p; }\n",
    );
    atom_ok(&f.store, &dir, &["lock"]);
    let import = |path: &str| format!("(builtins.atom.import {}).import \"{path}\"", dir.display());
    // Ordinary pinned code keeps working: relative imports, a directory's default.nix, its own
    // data files, `with builtins`, `dirOf`.
    assert_eq!(f.eval_ok(&import("default.nix")), PIN_VALUE);
    pin_attacks_fail(&f, "pinned-0.1.0", &|attack| {
        import(&format!("attacks/{attack}.nix"))
    });
}

/// Every attack of [`PIN_ATTACKS`], evaluated with `expr`, fails with its error, naming the pin
/// (of the atom `by`), without the secret and without a fetcher.
fn pin_attacks_fail(f: &Fixture, by: &str, expr: &dyn Fn(&str) -> String) {
    for (attack, expected) in PIN_ATTACKS {
        let output = f.eval(&expr(attack));
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{attack}: {err}");
        assert!(
            err.contains(expected),
            "{attack}: expected {expected:?} in:\n{err}"
        );
        // The error names the pin and the file the attack is in.
        assert!(
            err.contains(&format!("(in pin evil of {by}, ")),
            "{attack}: the pin is not named:\n{err}"
        );
        assert!(
            !err.contains(PIN_SECRET),
            "{attack}: the secret leaked:\n{err}"
        );
    }
    assert_eq!(f.fetcher_ran(), None, "pinned code ran a fetcher");
}

#[test]
fn pinned_code_of_a_dependency_of_a_dependency_is_confined_too() {
    let mut f = Fixture::new("pins-depth");
    let evil = hostile_pin(&f);
    let mut low = manifest("low", "1.0.0", "::", "");
    low.push_str(&format!(
        "\n[deps.direct.nix]\nevil.git = \"file://{}\"\n",
        evil.display()
    ));
    f.publish(
        "low",
        &[
            ("atom.toml", &low),
            (
                "mod.nix",
                "{ Value = deps.pins.evil.import \"default.nix\"; Attack = p: deps.pins.evil.import \"attacks/${p}.nix\"; }\n",
            ),
        ],
        true,
    );
    f.publish(
        "mid",
        &[
            ("atom.toml", &manifest("mid", "1.0.0", "::", "low = \"1\"")),
            (
                "mod.nix",
                "{ Value = deps.from.bs.low.value; Attack = deps.from.bs.low.attack; }\n",
            ),
        ],
        true,
    );
    let url = f.url();
    let top = f.consumer(
        "top",
        &[
            ("atom.toml", &manifest("top", "0.1.0", &url, "mid = \"1\"")),
            (
                "mod.nix",
                "{ Value = deps.from.bs.mid.value; Attack = deps.from.bs.mid.attack; }\n",
            ),
        ],
    );
    let top = format!("(builtins.atom.import {})", top.display());
    assert_eq!(f.eval_ok(&format!("{top}.value")), PIN_VALUE);
    pin_attacks_fail(&f, "low-1.0.0", &|attack| {
        format!("{top}.attack \"{attack}\"")
    });
}

/// A git repository `lib` in the fixture's directory holding `default.nix` = `{ answer = 42; }`,
/// and an atom `name` (outside the set's repository) pinning it as a direct `nix+git`
/// dependency, locked (`name` may be a path below the fixture's directory; its last component is
/// the label). Returns the atom's directory, the repository and its revision.
fn local_git_pin(f: &Fixture, name: &str) -> (PathBuf, PathBuf, String) {
    let lib = f.dir.join("lib");
    fs::create_dir_all(&lib).unwrap();
    git(&lib, &["init", "-q", "-b", "main"]);
    write(&lib, "default.nix", "{ answer = 42; }\n");
    git(&lib, &["add", "."]);
    git(&lib, &["commit", "-q", "-m", "lib"]);
    let rev = git(&lib, &["rev-parse", "HEAD"]);
    let dir = f.dir.join(name);
    let label = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut text = manifest(&label, "0.1.0", &f.url(), "");
    text.push_str(&format!(
        "\n[deps.direct.nix]\nlib.git = \"file://{}\"\n",
        lib.display()
    ));
    write(&dir, "atom.toml", &text);
    write(
        &dir,
        "mod.nix",
        "{ Answer = (deps.pins.lib.import \"default.nix\").answer; Plain = 1; }\n",
    );
    atom_ok(&f.store, &dir, &["lock"]);
    (dir, lib, rev)
}

#[test]
fn restricted_evaluation_checks_a_local_git_pin_as_nix_checks_fetch_git() {
    let f = Fixture::new("modes-restricted-pin");
    let (dir, lib, rev) = local_git_pin(&f, "pins");
    let allow_atom = format!("pins={}", dir.display());
    let restricted = [
        RESTRICTED[0],
        RESTRICTED[1],
        RESTRICTED[2],
        "-I",
        &allow_atom,
    ];
    let import = format!("(builtins.atom.import {})", dir.display());
    // The atom is allowed and loads; its pin is read only when a module forces it.
    assert_eq!(f.eval_ok_with(&restricted, &format!("{import}.plain")), "1");
    // Forced, the pin's repository must pass the check Nix makes of `fetchGit` with its URL and
    // rev, whatever allows or refuses it on this Nix (2.8 checks the URL or path as given, 2.26
    // the URL of the git input it makes): the plugin refuses exactly when Nix's fetchGit does.
    let fetch_git = format!(
        "builtins.fetchGit {{ url = \"file://{}\"; rev = \"{rev}\"; }}",
        lib.display()
    );
    let allow_lib = format!("lib={}", lib.display());
    let file_uri = format!("file://{}", lib.display());
    let git_uri = format!("git+file://{}/", f.dir.display());
    let allowances: [&[&str]; 4] = [
        &[],
        &["-I", &allow_lib],
        &["--option", "allowed-uris", &file_uri],
        &["--option", "allowed-uris", &git_uri],
    ];
    let mut allowed_somehow = false;
    for allowance in allowances {
        let args = [&restricted[..], allowance].concat();
        let plugin = f.eval_with(&args, &format!("{import}.answer"));
        assert_eq!(
            f.fetcher_ran(),
            None,
            "{allowance:?}: the local revision was fetched"
        );
        let nix = f.eval_with(&args, &fetch_git);
        f.reset_trap();
        let refused = |output: &Output| stderr(output).contains("is forbidden in restricted mode");
        assert_eq!(
            refused(&plugin),
            refused(&nix),
            "{allowance:?}: the plugin and Nix's fetchGit disagree\nplugin: {}\nfetchGit: {}",
            stderr(&plugin),
            stderr(&nix)
        );
        if refused(&plugin) {
            assert_eq!(plugin.status.code(), Some(1), "{}", stderr(&plugin));
        } else {
            assert!(
                plugin.status.success(),
                "{allowance:?}: {}",
                stderr(&plugin)
            );
            assert_eq!(stdout(&plugin), "42");
            allowed_somehow = true;
        }
        if allowance.is_empty() {
            assert!(
                refused(&plugin),
                "nothing allows the pin: {}",
                stderr(&plugin)
            );
        }
    }
    assert!(allowed_somehow, "no allowance lifted Nix's refusal");
}

#[test]
fn restricted_evaluation_checks_working_copies_and_overrides_on_every_nix() {
    let f = Fixture::new("modes-restricted-dirs");
    let repo = f.repo.display().to_string();
    // `app`, in the set's repository, depends on `b` of this repository (`::`): `b` is loaded
    // from its working copy.
    write(
        &f.repo,
        "app/atom.toml",
        &manifest("app", "0.1.0", "::", "b = \"2\""),
    );
    write(
        &f.repo,
        "app/mod.nix",
        "{ V = deps.from.bs.b.version; Plain = 1; }\n",
    );
    atom_ok(&f.store, &f.repo, &["lock", "app"]);
    let app = format!("(builtins.atom.import {repo}/app).v");
    assert_eq!(f.eval_ok(&app), "\"2.0.0\"");
    let allow_app = format!("app={repo}/app");
    let args = [
        RESTRICTED[0],
        RESTRICTED[1],
        RESTRICTED[2],
        "-I",
        &allow_app,
    ];
    let err = f.eval_err_with(&args, &app);
    assert!(
        err.contains(&format!(
            "access to absolute path '{repo}/b' is forbidden in restricted mode"
        )),
        "{err}"
    );
    // Checked before anything in it is read, when the graph is planned: even a member that does
    // not use `b` is refused.
    let err = f.eval_err_with(&args, &format!("(builtins.atom.import {repo}/app).plain"));
    assert!(
        err.contains(&format!(
            "access to absolute path '{repo}/b' is forbidden in restricted mode"
        )),
        "{err}"
    );
    let allow_repo = format!("repo={repo}");
    let allowed = [
        RESTRICTED[0],
        RESTRICTED[1],
        RESTRICTED[2],
        "-I",
        &allow_repo,
    ];
    assert_eq!(f.eval_ok_with(&allowed, &app), "\"2.0.0\"");

    // An override: a working copy of `b` outside everything allowed.
    let copy = f.dir.join("b-copy");
    write(&copy, "atom.toml", &manifest("b", "1.2.0", "::", ""));
    write(&copy, "mod.nix", "{ Version = \"the copy\"; }\n");
    let over = format!("b={}", copy.display());
    let allow_a = format!("a={}", f.a.display());
    let a = format!("(builtins.atom.import {}).bVersion", f.a.display());
    let override_args = ["--option", "atom-override", &over];
    assert_eq!(f.eval_ok_with(&override_args, &a), "\"the copy\"");
    let args = [&RESTRICTED[..], &["-I", &allow_a], &override_args].concat();
    let err = f.eval_err_with(&args, &a);
    assert!(
        err.contains(&format!(
            "access to absolute path '{}' is forbidden in restricted mode",
            copy.display()
        )),
        "{err}"
    );
    let allow_copy = format!("copy={}", copy.display());
    let allowed = [&args[..], &["-I", &allow_copy]].concat();
    assert_eq!(f.eval_ok_with(&allowed, &a), "\"the copy\"");
}

#[test]
fn pure_evaluation_refuses_lookups_whose_answer_depends_on_what_is_published_now() {
    let f = Fixture::new("modes-pure-lookups");
    let nix = f.dir.join("nix");
    let root = git(&f.repo, &["rev-parse", "refs/ekala/init"]);
    let rev = git(&f.set_repo(), &["rev-parse", "refs/eka/atoms/b/1.2.0"]);
    let eval = |pure: bool, expr: &str| {
        let mut args = vec!["eval"];
        if !pure {
            args.push("--impure");
        }
        args.extend(["--expr", expr]);
        nix_pure(&f, &nix, &args)
    };
    for (expr, expected) in [
        (
            format!("builtins.atom.versions {{ set = \"{root}\"; label = \"b\"; }}"),
            "builtins.atom.versions is not available in pure evaluation mode",
        ),
        (
            format!("(builtins.atom.resolve {{ set = \"{root}\"; label = \"b\"; }}).version"),
            "builtins.atom.resolve: in pure evaluation mode `rev` is required",
        ),
        (
            format!("(builtins.atom.resolve {{ set = \"{root}\"; label = \"b\"; version = \"=1.2.0\"; }}).version"),
            "builtins.atom.resolve: in pure evaluation mode `rev` is required",
        ),
    ] {
        let output = eval(true, &expr);
        assert_eq!(output.status.code(), Some(1), "{expr}: {}", stderr(&output));
        assert!(stderr(&output).contains(expected), "{expr}: {}", stderr(&output));
        // The control: impure evaluation answers.
        let output = eval(false, &expr);
        assert!(output.status.success(), "{expr}: {}", stderr(&output));
    }
    // An exact revision is a pure answer, in both modes the same.
    let at_rev = format!(
        "(builtins.atom.resolve {{ set = \"{root}\"; label = \"b\"; rev = \"{rev}\"; }}).version"
    );
    for pure in [true, false] {
        let output = eval(pure, &at_rev);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stdout(&output), "\"1.2.0\"");
    }
    // A version published since changes the impure answer, never the pure one.
    let caret = format!(
        "(builtins.atom.resolve {{ set = \"{root}\"; label = \"b\"; version = \"^1\"; }}).version"
    );
    assert_eq!(stdout(&eval(false, &caret)), "\"1.2.0\"");
    write(&f.repo, "b/atom.toml", &manifest("b", "1.3.0", "::", ""));
    git(&f.repo, &["commit", "-q", "-am", "b 1.3.0"]);
    atom_ok(&f.store, &f.repo, &["publish"]);
    atom_ok(&f.store, &f.dir, &["fetch", &f.url()]);
    assert_eq!(stdout(&eval(false, &caret)), "\"1.3.0\"");
    let output = eval(true, &at_rev);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "\"1.2.0\"");
    // ... which must still match the requirement.
    let output = eval(
        true,
        &format!(
            "(builtins.atom.resolve {{ set = \"{root}\"; label = \"b\"; version = \"^2\"; rev = \"{rev}\"; }}).version"
        ),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!(
            "no published version of b matching ^2 is at the revision {rev}"
        )),
        "{}",
        stderr(&output)
    );
}

#[test]
fn pure_evaluation_refuses_overrides() {
    let mut f = Fixture::new("modes-pure-override");
    let flake = f.dir.join("flake");
    data_consumer(&mut f, "flake/user");
    write(
        &flake,
        "flake.nix",
        "{ outputs = { self }: { value = builtins.atom.import \"${self}/user\"; }; }\n",
    );
    let copy = f.dir.join("data-copy");
    write(&copy, "atom.toml", &manifest("data", "1.0.0", "::", ""));
    write(&copy, "mod.nix", "{ Text = \"the copy\"; }\n");
    let over = format!("data={}", copy.display());
    let nix = f.dir.join("nix");
    let target = format!("path:{}#value", flake.display());
    for (args, env) in [
        (vec!["--option", "atom-override", over.as_str()], vec![]),
        (vec![], vec![("ATOM_OVERRIDE", over.as_str())]),
    ] {
        let mut all = args.clone();
        all.extend(["eval", "--json", target.as_str()]);
        let output = nix_pure_env(&f, &nix, &all, &env);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("atom-override is not available in pure evaluation mode"),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn the_atom_override_setting_follows_nix_s_order_of_configuration_sources() {
    // As for atom-store: nix.conf, then NIX_CONFIG, then --option, the later winning (Nix alone
    // would keep the first value it saw of a setting the plugin defines).
    let f = Fixture::new("override-order");
    let copy = |name: &str| {
        let dir = f.dir.join(name);
        write(&dir, "atom.toml", &manifest("b", "1.2.0", "::", ""));
        write(&dir, "mod.nix", &format!("{{ Version = \"{name}\"; }}\n"));
        format!("atom-override = b={}\n", dir.display())
    };
    let (system, env, option) = (copy("system"), copy("env"), copy("option"));
    let etc = f.dir.join("etc");
    write(&etc, "nix.conf", &system);
    let etc = etc.display().to_string();
    let option = option.trim_start_matches("atom-override = ").trim_end();
    let a = format!("(builtins.atom.import {}).bVersion", f.a.display());
    for (args, vars, expected) in [
        (vec![], vec![("NIX_CONF_DIR", etc.as_str())], "system"),
        (
            vec![],
            vec![("NIX_CONF_DIR", etc.as_str()), ("NIX_CONFIG", env.as_str())],
            "env",
        ),
        (
            vec!["--option", "atom-override", option],
            vec![("NIX_CONF_DIR", etc.as_str()), ("NIX_CONFIG", env.as_str())],
            "option",
        ),
    ] {
        let output = f.eval_env(&args, &vars, &a);
        assert!(
            output.status.success(),
            "{vars:?} {args:?}: {}",
            stderr(&output)
        );
        assert_eq!(
            stdout(&output),
            format!("\"{expected}\""),
            "{vars:?} {args:?}"
        );
    }
}

#[test]
fn a_flake_s_atom_imports_its_pinned_code_in_pure_mode() {
    // Pure evaluation, with a Nix store in a scratch directory: the pinned revision is read from
    // its local repository (as `fetchGit` with a rev may be in pure mode) and its code runs
    // confined, reading its own files.
    let f = Fixture::new("modes-pure-pin");
    let (dir, _lib, _rev) = local_git_pin(&f, "flake/user");
    let flake = f.dir.join("flake");
    write(
        &flake,
        "flake.nix",
        "{ outputs = { self }: { value = (builtins.atom.import \"${self}/user\").answer; }; }\n",
    );
    assert!(dir.starts_with(&flake));
    let nix = f.dir.join("nix");
    let output = nix_pure(
        &f,
        &nix,
        &["eval", "--json", &format!("path:{}#value", flake.display())],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "42");
    assert_eq!(f.fetcher_ran(), None);
}

/// A fork that shares the set's root and got its `b 1.3.0` into the store first does not stand
/// in for the `b 1.3.0` the declared mirror publishes: `atom lock` pins the mirror's commit, and
/// the evaluator loads it (the store's own ref still names the fork's, which it keeps).
#[test]
fn a_version_another_server_gave_first_does_not_stand_in_for_the_mirror_s() {
    let f = Fixture::new("deps-diverged");
    let version = |repo: &Path, text: &str| {
        write(repo, "b/atom.toml", &manifest("b", "1.3.0", "::", ""));
        write(
            repo,
            "b/mod.nix",
            &format!("{{ Version = \"1.3.0\"; Greet = name: \"{text} ${{name}}\"; }}\n"),
        );
        git(repo, &["commit", "-q", "-am", "b 1.3.0"]);
        atom_ok(&f.store, repo, &["publish", "b"]);
    };
    let fork = f.dir.join("fork");
    git(
        &f.dir,
        &[
            "clone",
            "-q",
            f.repo.to_str().unwrap(),
            fork.to_str().unwrap(),
        ],
    );
    git(
        &fork,
        &["fetch", "-q", "origin", "refs/ekala/init:refs/ekala/init"],
    );
    version(&fork, "forged for");
    atom_ok(&f.store, &f.dir, &["fetch", fork.to_str().unwrap()]);
    version(&f.repo, "hello");
    let fork_rev = git(&fork, &["rev-parse", "refs/eka/atoms/b/1.3.0"]);
    let genuine = git(&f.repo, &["rev-parse", "refs/eka/atoms/b/1.3.0"]);
    assert_ne!(fork_rev, genuine);

    atom_ok(&f.store, &f.a, &["lock", "--update"]);
    let lock = fs::read_to_string(f.a.join("atom.lock")).unwrap();
    assert!(
        lock.contains(&genuine) && !lock.contains(&fork_rev),
        "{lock}"
    );
    assert_eq!(
        git(&f.set_repo(), &["rev-parse", "refs/eka/atoms/b/1.3.0"]),
        fork_rev
    );
    assert_eq!(
        f.eval_ok(&format!("({}).message", f.import_a())),
        "\"hello a\""
    );
    assert_eq!(f.fetcher_ran(), None);
}

/// After cloning a project, its lock checks but the evaluator finds no locked version in an empty
/// store; `atom fetch` with no URL, in the atom's directory, fills the store with what the lock
/// needs, after which the same evaluation works without a fetcher.
#[test]
fn a_fresh_store_filled_from_the_lock_evaluates() {
    let f = Fixture::new("deps-fill");
    let lib = f.dir.join("lib");
    fs::create_dir_all(&lib).unwrap();
    git(&lib, &["init", "-q", "-b", "main"]);
    write(&lib, "default.nix", "{ answer = 42; }\n");
    git(&lib, &["add", "."]);
    git(&lib, &["commit", "-q", "-m", "lib"]);
    let mut text = fs::read_to_string(f.a.join("atom.toml")).unwrap();
    text.push_str(&format!(
        "\n[deps.direct.nix]\nlib.git = \"file://{}\"\n",
        lib.display()
    ));
    write(&f.a, "atom.toml", &text);
    write(
        &f.a,
        "mod.nix",
        "{ Message = deps.from.bs.b.greet \"a\"; Answer = (deps.pins.lib.import \"default.nix\").answer; }\n",
    );
    atom_ok(&f.store, &f.a, &["lock"]);

    // The clone's store: empty.
    fs::remove_dir_all(&f.store).unwrap();
    atom_ok(&f.store, &f.a, &["lock", "--check", "--offline"]);
    let err = f.eval_err(&f.import_a());
    assert!(err.contains("atom fetch"), "{err}");

    let out = atom_ok(&f.store, &f.a, &["fetch"]);
    assert!(
        out.contains(&format!(
            "fetched b 1.2.0 at {}",
            git(&f.repo, &["rev-parse", "refs/eka/atoms/b/1.2.0"])
        )),
        "{out}"
    );
    // A local git repository is read in place: nothing to mirror.
    assert!(out.contains("present lib"), "{out}");
    // Only the locked version came.
    let refs = git(
        &f.set_repo(),
        &["for-each-ref", "--format=%(refname)", "refs/eka/atoms/"],
    );
    assert_eq!(refs, "refs/eka/atoms/b/1.2.0", "{refs}");
    atom_ok(&f.store, &f.a, &["lock", "--check", "--offline"]);
    assert_eq!(
        f.eval_ok(&f.import_a()),
        r#"{ answer = 42; message = "hello a from b 1.2.0"; }"#
    );
    assert_eq!(f.fetcher_ran(), None, "a fetcher ran");

    // Again: everything is present.
    let out = atom_ok(&f.store, &f.a, &["fetch"]);
    assert!(out.contains("present b 1.2.0"), "{out}");
}

/// Filling from a lock follows each dependency's published lock: `lib` pins `base` of its own set
/// (`::`), which comes from the mirror `lib` came from; then the consumer evaluates.
#[test]
fn a_fresh_store_filled_from_the_lock_gets_what_dependencies_pin() {
    let mut f = Fixture::new("deps-fill-own-set");
    publish_lib_on_base(&mut f);
    let url = f.url();
    let consumer = f.consumer(
        "uses-lib",
        &[
            ("atom.toml", &manifest("c", "0.1.0", &url, "lib = \"1\"")),
            ("mod.nix", "{ Message = deps.from.bs.lib.greet \"c\"; }\n"),
        ],
    );
    f.store = f.dir.join("fresh-store");
    let out = atom_ok(&f.store, &consumer, &["fetch"]);
    assert!(
        out.contains(&format!(
            "fetched lib 1.0.0 at {} from {url}",
            git(&f.repo, &["rev-parse", "refs/eka/atoms/lib/1.0.0"])
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "fetched base 1.0.0 at {} from {url}",
            git(&f.repo, &["rev-parse", "refs/eka/atoms/base/1.0.0"])
        )),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&atom_ok(&f.store, &consumer, &["fetch", "--json"])).unwrap();
    let by: Vec<(&str, &str, &str)> = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["label"].as_str().unwrap(),
                e["status"].as_str().unwrap(),
                e["by"].as_str().unwrap(),
            )
        })
        .collect();
    // The top lock as the command was given it (the atom's directory: `.`).
    assert_eq!(
        by,
        [
            ("lib", "present", "./atom.lock"),
            ("base", "present", "lib-1.0.0")
        ]
    );
    let import = format!("(builtins.atom.import {}).message", consumer.display());
    assert_eq!(f.eval_ok(&import), "\"c from base\"");
    assert_eq!(f.fetcher_ran(), None);
}

/// `atom store gc` keeps what a lock needs, transitively (here `d`, which only the published lock
/// of `left` pins): the kept atom still evaluates after the collection, with its materialised
/// trees or without them; an atom whose versions were collected is reported as missing from the
/// store, with the command that fetches it again.
#[test]
fn after_a_store_gc_the_kept_atom_evaluates_and_a_collected_one_says_how_to_fetch_it() {
    let mut f = Fixture::new("deps-store-gc");
    f.publish(
        "d",
        &[
            ("atom.toml", &manifest("d", "1.0.0", "::", "")),
            ("mod.nix", "{ V = 1; }\n"),
        ],
        false,
    );
    for (label, add) in [("left", 1), ("right", 2)] {
        f.publish(
            label,
            &[
                ("atom.toml", &manifest(label, "1.0.0", "::", "d = \"1\"")),
                ("mod.nix", &format!("{{ V = deps.from.bs.d.v + {add}; }}\n")),
            ],
            true,
        );
    }
    let url = f.url();
    let top = f.consumer(
        "top",
        &[
            ("atom.toml", &manifest("top", "0.1.0", &url, "left = \"1\"")),
            ("mod.nix", "{ V = deps.from.bs.left.v; }\n"),
        ],
    );
    let other = f.consumer(
        "other",
        &[
            (
                "atom.toml",
                &manifest("other", "0.1.0", &url, "right = \"1\""),
            ),
            ("mod.nix", "{ V = deps.from.bs.right.v; }\n"),
        ],
    );
    let import = |dir: &Path| format!("(builtins.atom.import {}).v", dir.display());
    assert_eq!(f.eval_ok(&import(&top)), "2");
    assert_eq!(f.eval_ok(&import(&other)), "3");
    let trees = |f: &Fixture| fs::read_dir(f.store.join("trees/nix")).unwrap().count();
    let trees_before = trees(&f);

    let out = atom_ok(&f.store, &f.dir, &["store", "gc", "top"]);
    assert!(out.contains("removed right 1.0.0"), "{out}");
    assert!(out.contains("removed b 2.0.0"), "{out}");
    assert!(!out.contains("removed d "), "{out}");
    assert!(!out.contains("removed left "), "{out}");
    assert!(out.contains("kept 2 versions for 1 root"), "{out}");
    assert!(out.contains("removed tree "), "{out}");
    assert!(trees(&f) < trees_before, "{out}");

    assert_eq!(f.eval_ok(&import(&top)), "2");
    assert_eq!(f.fetcher_ran(), None, "a fetcher ran");
    let err = f.eval_err(&import(&other));
    assert!(err.contains("right"), "{err}");
    assert!(err.contains(&format!("atom fetch {url}")), "{err}");

    // Fetching again brings it back.
    atom_ok(&f.store, &other, &["fetch"]);
    assert_eq!(f.eval_ok(&import(&other)), "3");
}
