//! Atoms between machines: the `atom` binary against real git servers on 127.0.0.1 (`git
//! daemon`, `git http-backend` behind lighttpd, `sshd`), started per test on free ports and
//! stopped when the test ends.

use atom_test_support as support;
use atom_test_support::hostile;
use atom_test_support::servers;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use servers::{serve_bare, Kind, Server};
use support::{atom_repo, git, git_input, scratch, with_tree, write, Scratch};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `atom` in `dir` with the server's client environment.
fn atom(dir: &Path, server: Option<&Server>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_atom"));
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("ATOM_STORE")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com");
    if let Some(server) = server {
        for (key, value) in server.client_env() {
            command.env(key, value);
        }
    }
    command.output().unwrap()
}

/// Runs `atom`, which must succeed; returns stdout.
fn ok(dir: &Path, server: Option<&Server>, args: &[&str]) -> String {
    let output = atom(dir, server, args);
    assert!(
        output.status.success(),
        "atom {args:?} failed:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Runs `atom`, which must fail with exit status 1; returns stderr (one line).
fn fails(dir: &Path, server: Option<&Server>, args: &[&str]) -> String {
    let output = atom(dir, server, args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "atom {args:?}:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A source repository (alpha 1.0.0 at `pkgs/a`, beta 0.1.0 at `b`), initialised and published,
/// then alpha 1.1.0 published from a second commit.
fn source(dir: &Path) {
    atom_repo(dir);
    ok(dir, None, &["init"]);
    ok(dir, None, &["publish"]);
    write(
        dir,
        "pkgs/a/atom.toml",
        &support::manifest("alpha", "1.1.0"),
    );
    git(dir, &["commit", "-q", "-am", "alpha 1.1.0"]);
    ok(dir, None, &["publish", "pkgs/a"]);
}

/// `name.git` on the server, with everything `source` has (pushed as a fixture with git).
fn serve(server: &Server, source: &Path, name: &str) -> String {
    let path = server.root.join(name);
    serve_bare(&path);
    git(
        source,
        &["push", "-q", path.to_str().unwrap(), "refs/*:refs/*"],
    );
    server.url(name)
}

/// Publishes alpha `version` from the source repository `src` (see [`source`]) and pushes its
/// atom refs to the server's `set.git`.
fn publish_alpha(src: &Path, server: &Server, version: &str) {
    write(
        src,
        "pkgs/a/atom.toml",
        &support::manifest("alpha", version),
    );
    git(src, &["commit", "-q", "-am", &format!("alpha {version}")]);
    ok(src, None, &["publish", "pkgs/a"]);
    git(
        src,
        &[
            "push",
            "-q",
            server.root.join("set.git").to_str().unwrap(),
            "refs/eka/*:refs/eka/*",
        ],
    );
}

/// `len` bytes that do not compress (xorshift), so that they travel as they are.
fn incompressible(len: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(len + 8);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data
}

/// A scratch directory `name-<kind>` with a published source repository (see [`source`]) in
/// `src`, and a server of `kind` serving a copy of it as `set.git`; returns them and its URL.
fn published(kind: Kind, name: &str) -> (Scratch, PathBuf, Server, String) {
    let dir = scratch(&format!("{name}-{kind:?}"));
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    source(&src);
    let server = Server::start(kind, &dir);
    let url = serve(&server, &src, "set.git");
    (dir, src, server, url)
}

/// Clones `src` into `dest` with its identity (`refs/ekala/init`): another working copy of the
/// same set.
fn clone_set(src: &Path, dest: &Path) {
    git(
        src.parent().unwrap(),
        &["clone", "-q", src.to_str().unwrap(), dest.to_str().unwrap()],
    );
    git(
        dest,
        &["fetch", "-q", "origin", "refs/ekala/init:refs/ekala/init"],
    );
}

/// A repository in `src` with the identity of a set: `atom_repo`, whose atom beta carries
/// `len` incompressible bytes (`b/blob.bin`); nothing published yet.
fn big_source(src: &Path, len: usize) {
    fs::create_dir_all(src).unwrap();
    atom_repo(src);
    fs::write(src.join("b/blob.bin"), incompressible(len)).unwrap();
    git(src, &["add", "."]);
    git(src, &["commit", "-q", "-m", "big"]);
    ok(src, None, &["init"]);
}

fn kinds() -> [Kind; 3] {
    [Kind::Daemon, Kind::Http, Kind::Ssh]
}

/// `atom ls` and `atom resolve` read a remote's refs and nothing else: they work against a
/// repository whose objects are all gone.
#[test]
fn listing_and_resolving_read_refs_only() {
    for kind in kinds() {
        let (dir, src, server, url) = published(kind, "ls");
        // Remove every object: only refs remain on the server.
        let objects = server.root.join("set.git/objects");
        for entry in fs::read_dir(&objects).unwrap().flatten() {
            let path = entry.path();
            if path.file_name().unwrap() != "info" {
                fs::remove_dir_all(&path).unwrap();
            }
        }
        fs::create_dir_all(objects.join("pack")).unwrap();

        let all = ok(&dir, Some(&server), &["ls", &url]);
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(lines.len(), 3, "{kind:?}: {all}");
        assert!(lines[0].starts_with("alpha 1.1.0 ") && lines[1].starts_with("alpha 1.0.0 "));
        assert!(lines[2].starts_with("beta 0.1.0 "), "{all}");
        let alpha = ok(&dir, Some(&server), &["ls", &url, "alpha"]);
        assert_eq!(alpha.lines().count(), 2, "{alpha}");
        assert!(!alpha.contains("beta"));

        let resolved = ok(
            &dir,
            Some(&server),
            &["resolve", &format!("{url}::alpha@^1")],
        );
        let expected_id = ok(&src, None, &["id", "alpha"]);
        let fields: Vec<&str> = resolved.split_whitespace().collect();
        assert_eq!(fields[..2], ["alpha", "1.1.0"], "{resolved}");
        assert_eq!(fields[3], expected_id.trim());
        let json: serde_json::Value = serde_json::from_str(&ok(
            &dir,
            Some(&server),
            &["--json", "resolve", &format!("{url}::alpha@~1.0")],
        ))
        .unwrap();
        assert_eq!(json["version"], "1.0.0");

        // A user alias (the repository's .git/info/eka.toml) works where a URL does.
        if kind == Kind::Daemon {
            write(
                &src,
                ".git/info/eka.toml",
                &format!("[aliases]\nhere = \"git://127.0.0.1:{}\"\n", server.port),
            );
            let aliased = ok(&src, Some(&server), &["ls", "here:set.git", "alpha"]);
            assert_eq!(aliased, alpha);
            let resolved = ok(&src, Some(&server), &["resolve", "here:set.git::alpha@^1"]);
            assert!(resolved.starts_with("alpha 1.1.0 "), "{resolved}");
        }

        // Protocol v2, with the label's refs asked for by prefix (git:// and http:// log it).
        if kind != Kind::Ssh {
            let packets = server.packets();
            assert!(packets.contains("ls-refs"), "{kind:?}: {packets}");
            assert!(
                packets.contains("ref-prefix refs/eka/atoms/alpha/"),
                "{kind:?}: {packets}"
            );
        }
    }
}

/// A server that speaks only protocol v0 advertises everything; the listing is filtered here.
#[test]
fn a_v0_server_is_listed_from_its_advertisement() {
    let (dir, _, server, _) = published(Kind::Http, "v0");
    let url = server.v0_url("set.git");
    let alpha = ok(&dir, Some(&server), &["ls", &url, "alpha"]);
    assert_eq!(alpha.lines().count(), 2, "{alpha}");
    let store = dir.join("store");
    ok(
        &dir,
        Some(&server),
        &["fetch", &url, "beta", "--store", store.to_str().unwrap()],
    );
    assert!(
        !server.packets().contains("ls-refs"),
        "{}",
        server.packets()
    );
}

fn store_repo(store: &Path) -> PathBuf {
    let repos: Vec<PathBuf> = fs::read_dir(store)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "git"))
        .collect();
    assert_eq!(repos.len(), 1, "{repos:?}");
    repos[0].clone()
}

/// Fetch receives the atoms asked for and nothing of the source history, verifies them, and a
/// second fetch changes nothing.
#[test]
fn fetch_receives_atoms_not_history() {
    for kind in kinds() {
        let (dir, src, server, url) = published(kind, "fetch");
        let store = dir.join("store");
        let store_arg = store.to_str().unwrap();

        let out = ok(
            &dir,
            Some(&server),
            &["--json", "fetch", &url, "alpha@^1.1", "--store", store_arg],
        );
        let fetched: serde_json::Value = serde_json::from_str(&out).unwrap();
        let versions = fetched["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 1, "{kind:?}: {out}");
        assert_eq!(versions[0]["version"], "1.1.0");
        assert_eq!(versions[0]["status"], "fetched");
        let set = store_repo(&store);
        // The atom commit, its tree and its three blobs (atom.toml, atom.lock, mod.nix): nothing
        // else.
        assert_eq!(fetched["objects"], 5, "{kind:?}: {out}");
        let origin = git(&src, &["rev-parse", "HEAD"]);
        let has = Command::new("git")
            .arg("--git-dir")
            .arg(&set)
            .args(["cat-file", "-e", &origin])
            .status()
            .unwrap();
        assert!(!has.success(), "{kind:?}: the source commit was downloaded");
        assert_eq!(
            git(&set, &["rev-parse", "refs/eka/meta/alpha/1.1.0/origin"]),
            origin
        );
        support::fsck_store(&set);
        let verified = ok(&set, None, &["verify", "alpha@1.1.0"]);
        assert!(verified.starts_with("ok alpha 1.1.0"), "{verified}");

        // Everything else, then nothing more.
        let rest: serde_json::Value = serde_json::from_str(&ok(
            &dir,
            Some(&server),
            &["--json", "fetch", &url, "--store", store_arg],
        ))
        .unwrap();
        let statuses: Vec<String> = rest["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| format!("{} {} {}", v["label"], v["version"], v["status"]))
            .collect();
        assert_eq!(
            statuses,
            [
                "\"alpha\" \"1.0.0\" \"fetched\"",
                "\"alpha\" \"1.1.0\" \"unchanged\"",
                "\"beta\" \"0.1.0\" \"fetched\""
            ]
        );
        let again: serde_json::Value = serde_json::from_str(&ok(
            &dir,
            Some(&server),
            &["--json", "fetch", &url, "--store", store_arg],
        ))
        .unwrap();
        assert_eq!(again["created"].as_array().unwrap().len(), 0);
        assert_eq!(again["objects"], 0);
        support::fsck_store(&set);
    }
}

/// A remote that now advertises another commit for a version the store has: that version is
/// possible tampering and keeps the store's commit; other versions are still fetched.
#[test]
fn a_changed_version_on_the_remote_is_refused_alone() {
    for kind in [Kind::Daemon, Kind::Http] {
        let (dir, src, server, url) = published(kind, "tamper");
        let store = dir.join("store");
        let store_arg = store.to_str().unwrap();
        ok(&dir, Some(&server), &["fetch", &url, "--store", store_arg]);
        let set = store_repo(&store);
        let before = git(&set, &["rev-parse", "refs/eka/atoms/alpha/1.0.0"]);

        // On the server, alpha 1.0.0 now names beta's atom commit; beta 0.2.0 is new.
        let served = server.root.join("set.git");
        let beta = git(&served, &["rev-parse", "refs/eka/atoms/beta/0.1.0"]);
        git(
            &served,
            &["update-ref", "refs/eka/atoms/alpha/1.0.0", &beta],
        );
        write(&src, "b/atom.toml", &support::manifest("beta", "0.2.0"));
        git(&src, &["commit", "-q", "-am", "beta 0.2.0"]);
        ok(&src, None, &["publish", "b"]);
        git(
            &src,
            &[
                "push",
                "-q",
                served.to_str().unwrap(),
                "refs/eka/atoms/beta/*:refs/eka/atoms/beta/*",
                "refs/eka/meta/beta/*:refs/eka/meta/beta/*",
            ],
        );

        let output = atom(&dir, Some(&server), &["fetch", &url, "--store", store_arg]);
        assert_eq!(output.status.code(), Some(1));
        let stdout = text(&output.stdout);
        let stderr = text(&output.stderr);
        assert!(
            stdout.contains("rejected alpha 1.0.0") && stdout.contains("possible tampering"),
            "{stdout}"
        );
        assert!(stderr.contains("1 version not fetched"), "{stderr}");
        assert_eq!(
            git(&set, &["rev-parse", "refs/eka/atoms/alpha/1.0.0"]),
            before
        );
        assert!(!git(&set, &["rev-parse", "refs/eka/atoms/beta/0.2.0"]).is_empty());
    }
}

/// `atom publish --push`: first push, a no-op repeat, a refused different atom under a published
/// version, and two publishers racing on one version leave one winner.
#[test]
fn publish_push_has_must_not_exist_semantics() {
    for kind in kinds() {
        let dir = scratch(&format!("push-{kind:?}"));
        let server = Server::start(kind, &dir);
        let served = server.root.join("set.git");
        serve_bare(&served);
        let url = server.url("set.git");
        let src = dir.join("src");
        fs::create_dir_all(&src).unwrap();
        atom_repo(&src);
        git(&src, &["remote", "add", "origin", &url]);
        ok(&src, None, &["init"]);
        // The default remote is origin.
        let out = ok(&src, Some(&server), &["publish", "--push"]);
        assert!(
            out.contains("pushed alpha 1.0.0") && out.contains("pushed beta 0.1.0"),
            "{kind:?}: {out}"
        );
        let remote_refs = git(&served, &["for-each-ref", "--format=%(refname)"]);
        for name in [
            "refs/ekala/init",
            "refs/eka/atoms/alpha/1.0.0",
            "refs/eka/meta/alpha/1.0.0/manifest",
            "refs/eka/meta/alpha/1.0.0/origin",
            "refs/eka/atoms/beta/0.1.0",
        ] {
            assert!(
                remote_refs.lines().any(|l| l == name),
                "{name}: {remote_refs}"
            );
        }
        // Again: nothing to do.
        let again = ok(&src, Some(&server), &["publish", "--push", "origin"]);
        assert!(again.contains("already there alpha 1.0.0"), "{again}");
        // A git remote's name works wherever a URL does.
        let store = dir.join("store");
        let fetched = ok(
            &src,
            Some(&server),
            &["fetch", "origin", "--store", store.to_str().unwrap()],
        );
        assert!(fetched.contains(&format!("fetched {url}")), "{fetched}");
        let listed = ok(&src, Some(&server), &["ls", "origin", "beta"]);
        assert!(listed.starts_with("beta 0.1.0 "), "{listed}");
        let all = ok(&src, Some(&server), &["ls", "origin"]);
        assert_eq!(all.lines().count(), 2, "{all}");
        let resolved = ok(&src, Some(&server), &["resolve", "origin::alpha@^1"]);
        assert!(resolved.starts_with("alpha 1.0.0 "), "{resolved}");

        // Different content under alpha 1.0.0 from a clone of the same set: refused, unchanged.
        let before = git(&served, &["rev-parse", "refs/eka/atoms/alpha/1.0.0"]);
        let other = dir.join("other");
        clone_set(&src, &other);
        write(
            &other,
            "pkgs/a/mod.nix",
            "{ Value = 2; }
",
        );
        git(&other, &["commit", "-q", "-am", "changed without a bump"]);
        let refused = atom(
            &other,
            Some(&server),
            &["publish", "pkgs/a", "--push", &url],
        );
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
        let stdout = text(&refused.stdout);
        assert!(
            stdout.contains("refused alpha 1.0.0") && stdout.contains("bump the version"),
            "{stdout}"
        );
        assert_eq!(
            git(&served, &["rev-parse", "refs/eka/atoms/alpha/1.0.0"]),
            before
        );

        // Two publishers of different alpha 2.0.0 at once: exactly one wins.
        let racers: Vec<PathBuf> = (0..2)
            .map(|i| {
                let clone = dir.join(format!("racer{i}"));
                clone_set(&src, &clone);
                write(
                    &clone,
                    "pkgs/a/atom.toml",
                    &support::manifest("alpha", "2.0.0"),
                );
                write(
                    &clone,
                    "pkgs/a/mod.nix",
                    &format!("{{ Value = {}; }}\n", 10 + i),
                );
                git(&clone, &["commit", "-q", "-am", "alpha 2.0.0"]);
                ok(&clone, None, &["publish", "pkgs/a"]);
                clone
            })
            .collect();
        let children: Vec<_> = racers
            .iter()
            .map(|clone| {
                let mut command = Command::new(env!("CARGO_BIN_EXE_atom"));
                command
                    .arg("-C")
                    .arg(clone)
                    .args(["publish", "pkgs/a", "--push", &url])
                    .env("GIT_CONFIG_NOSYSTEM", "1")
                    .env("GIT_CONFIG_GLOBAL", "/dev/null")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                for (key, value) in server.client_env() {
                    command.env(key, value);
                }
                command.spawn().unwrap()
            })
            .collect();
        let results: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let winners: Vec<usize> = (0..2).filter(|&i| results[i].status.success()).collect();
        assert_eq!(
            winners.len(),
            1,
            "{kind:?}: {:?}",
            results
                .iter()
                .map(|r| (text(&r.stdout), text(&r.stderr)))
                .collect::<Vec<_>>()
        );
        let winner = winners[0];
        let loser = 1 - winner;
        assert!(text(&results[loser].stdout).contains("refused alpha 2.0.0"));
        assert_eq!(
            git(&served, &["rev-parse", "refs/eka/atoms/alpha/2.0.0"]),
            git(
                &racers[winner],
                &["rev-parse", "refs/eka/atoms/alpha/2.0.0"]
            )
        );
    }
}

/// A large atom (a 3 MB file) is pushed over HTTP (chunked request bodies) and fetched back.
#[test]
fn a_large_atom_travels_over_http() {
    let dir = scratch("large");
    let server = Server::start(Kind::Http, &dir);
    let served = server.root.join("set.git");
    serve_bare(&served);
    let url = server.url("set.git");
    let src = dir.join("src");
    big_source(&src, 3 << 20);
    let out = ok(&src, Some(&server), &["publish", "--push", &url]);
    assert!(out.contains("pushed beta 0.1.0"), "{out}");
    let store = dir.join("store");
    ok(
        &dir,
        Some(&server),
        &["fetch", &url, "beta", "--store", store.to_str().unwrap()],
    );
    let set = store_repo(&store);
    let blob = git(&set, &["rev-parse", "refs/eka/atoms/beta/0.1.0:blob.bin"]);
    assert_eq!(blob, git(&src, &["rev-parse", "HEAD:b/blob.bin"]));

    // The next version shares the 3 MB file. Atom commits are orphans, so history would not
    // spare it, but the store's version's top tree goes to the server as a `have`: the file
    // stays home.
    write(&src, "b/atom.toml", &support::manifest("beta", "0.2.0"));
    git(&src, &["commit", "-q", "-am", "beta 0.2.0"]);
    ok(&src, Some(&server), &["publish", "b", "--push", &url]);
    let next: serde_json::Value = serde_json::from_str(&ok(
        &dir,
        Some(&server),
        &[
            "--json",
            "fetch",
            &url,
            "beta",
            "--store",
            store.to_str().unwrap(),
        ],
    ))
    .unwrap();
    let bytes = next["bytes"].as_u64().unwrap();
    assert!(bytes < 64 << 10, "{next}");
    ok(&set, None, &["verify", "beta@0.2.0"]);
}

/// Failures are one line naming the URL and what to do, and leave no store behind.
#[test]
fn failures_are_clear_and_leave_nothing() {
    let dir = scratch("failures");
    let store = dir.join("store");
    let store_arg = store.to_str().unwrap();
    let fetch_fails = |url: &str| {
        let err = fails(
            &dir,
            None,
            &["--timeout", "2", "fetch", url, "--store", store_arg],
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains(url.trim_end_matches('/')) || err.contains("not a git URL"),
            "{err}"
        );
        assert!(
            !store.exists() || fs::read_dir(&store).unwrap().next().is_none(),
            "{err}"
        );
        err
    };

    // Nothing listens.
    let port = servers::free_port();
    for url in [
        format!("git://127.0.0.1:{port}/set.git"),
        format!("http://127.0.0.1:{port}/set.git"),
    ] {
        let err = fetch_fails(&url);
        assert!(err.contains("connection refused"), "{err}");
    }

    // A server that accepts and never answers: the time-out is named.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(2).flatten() {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(8));
        drop(held);
    });
    for url in [
        format!("git://127.0.0.1:{port}/set.git"),
        format!("http://127.0.0.1:{port}/set.git"),
    ] {
        let started = Instant::now();
        let err = fetch_fails(&url);
        assert!(err.contains("did not answer within 2 s"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(7),
            "{:?}",
            started.elapsed()
        );
    }
    held.join().unwrap();
    // Over ssh, the time-out reaches ssh as its ConnectTimeout, which covers the greeting.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let stream = silent.incoming().next();
        std::thread::sleep(Duration::from_secs(8));
        drop(stream);
    });
    let started = Instant::now();
    let err = fails(
        &dir,
        None,
        &[
            "--timeout",
            "2",
            "ls",
            &format!("ssh://127.0.0.1:{port}/set.git"),
            "alpha",
        ],
    );
    assert!(
        err.contains("ssh") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    holder.join().unwrap();

    // Real servers: no repository there, a repository that publishes no atoms, credentials.
    let server = Server::start(Kind::Http, &dir.join("http"));
    let daemon = Server::start(Kind::Daemon, &dir.join("daemon"));
    for s in [&server, &daemon] {
        let err = fetch_fails(&s.url("missing.git"));
        assert!(err.contains("no git repository there"), "{err}");
        let plain = s.root.join("plain.git");
        serve_bare(&plain);
        let work = dir.join(format!("plain-{:?}", s.kind));
        fs::create_dir_all(&work).unwrap();
        atom_repo(&work);
        git(&work, &["push", "-q", plain.to_str().unwrap(), "main"]);
        let err = fetch_fails(&s.url("plain.git"));
        assert!(err.contains("publishes no atoms"), "{err}");
    }
    let err = fetch_fails(&server.private_url("plain.git"));
    assert!(err.contains("authentication failed"), "{err}");

    // Not a URL at all.
    let err = fails(&dir, None, &["ls", "http://"]);
    assert!(err.contains("not a git URL"), "{err}");
    let err = fails(&dir, None, &["fetch", "ftp://host/x", "--store", store_arg]);
    assert!(err.contains("not supported"), "{err}");
}

/// A fetch killed while the pack arrives leaves the store as it was: no set repository on a first
/// fetch, the earlier refs on a later one; the next fetch completes.
#[test]
fn a_killed_fetch_leaves_the_store_as_it_was() {
    let dir = scratch("killed");
    let src = dir.join("src");
    // beta carries 2 MB of incompressible data: 8 s at the throttled 256 KiB/s.
    big_source(&src, 2 << 20);
    ok(&src, None, &["publish"]);
    // A throttling relay in front of the server (256 KiB/s) makes the transfer take 8 s.
    for kind in [Kind::Http, Kind::Daemon] {
        let dir = dir.join(format!("{kind:?}"));
        let server = Server::start(kind, &dir);
        serve(&server, &src, "set.git");
        let throttle = servers::Throttle::start(server.port, 256 << 10);
        let slow = server.url("set.git").replace(
            &format!(":{}/", server.port),
            &format!(":{}/", throttle.port),
        );
        killed_fetches(&dir, &server, &throttle, &slow);
    }
}

fn killed_fetches(dir: &Path, server: &Server, throttle: &servers::Throttle, slow: &str) {
    let store = dir.join("store");
    let store_arg = store.to_str().unwrap();

    let kill_midway = |args: &[&str]| {
        let start = throttle.sent();
        let mut child = Command::new(env!("CARGO_BIN_EXE_atom"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until an eighth of the pack has arrived, then kill.
        let deadline = Instant::now() + Duration::from_secs(30);
        while throttle.sent() < start + (256 << 10) {
            assert!(Instant::now() < deadline, "no pack data arrived");
            assert!(child.try_wait().unwrap().is_none(), "the fetch ended early");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    };

    // First fetch killed: no set repository appears.
    kill_midway(&["fetch", slow, "--store", store_arg]);
    let sets: Vec<_> = fs::read_dir(&store)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".git"))
        .collect();
    assert!(sets.is_empty(), "{sets:?}");

    // alpha arrives; then a fetch of beta is killed: the store's refs are as they were.
    ok(
        dir,
        Some(server),
        &[
            "fetch",
            &server.url("set.git"),
            "alpha",
            "--store",
            store_arg,
        ],
    );
    let set = store_repo(&store);
    let refs = || git(&set, &["for-each-ref", "--format=%(objectname) %(refname)"]);
    let before = refs();
    kill_midway(&["fetch", slow, "beta", "--store", store_arg]);
    assert_eq!(refs(), before);
    ok(&set, None, &["verify", "alpha"]);

    // The next fetch completes.
    ok(
        dir,
        Some(server),
        &["fetch", &server.url("set.git"), "--store", store_arg],
    );
    assert!(refs().contains("refs/eka/atoms/beta/0.1.0"));
    ok(&set, None, &["verify"]);
}

/// `atom lock` fetches a missing set from the first mirror that answers, naming every failure
/// when none does; `--offline` uses the store only.
#[test]
fn lock_fetches_from_mirrors() {
    for kind in [Kind::Daemon, Kind::Http] {
        let (dir, _, server, url) = published(kind, "lock");
        let dead = format!("git://127.0.0.1:{}/set.git", servers::free_port());
        let app = dir.join("app");
        fs::create_dir_all(&app).unwrap();
        let manifest = |mirrors: &str| {
            format!(
                "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nlib = [{mirrors}]\n\n[deps.from.lib]\nalpha = \"^1\"\n\n[compose.as]\nnix = \".\"\n"
            )
        };
        write(
            &app,
            "atom.toml",
            &manifest(&format!("\"{dead}\", \"{url}\"")),
        );
        let store = dir.join("store");
        let store_arg = store.to_str().unwrap();

        let app_arg = app.to_str().unwrap();
        let err = fails(
            &app,
            Some(&server),
            &["lock", app_arg, "--offline", "--store", store_arg],
        );
        assert!(err.contains("cannot tell the root of the set lib"), "{err}");
        assert!(!app.join("atom.lock").exists());

        ok(
            &app,
            Some(&server),
            &["--timeout", "5", "lock", app_arg, "--store", store_arg],
        );
        let lock = fs::read_to_string(app.join("atom.lock")).unwrap();
        assert!(lock.contains("version = \"1.1.0\""), "{lock}");
        // Now offline works: the lock records the set, the store has it.
        let again = ok(
            &app,
            Some(&server),
            &["lock", app_arg, "--offline", "--store", store_arg],
        );
        assert!(again.starts_with("unchanged:"), "{again}");

        // Every mirror failing: each is named.
        write(
            &app,
            "atom.toml",
            &manifest(&format!("\"{dead}\", \"{}\"", server.url("missing.git"))),
        );
        fs::remove_file(app.join("atom.lock")).unwrap();
        let err = fails(
            &app,
            Some(&server),
            &[
                "lock",
                app_arg,
                "--store",
                dir.join("store2").to_str().unwrap(),
            ],
        );
        assert!(
            err.contains(&dead) && err.contains("connection refused"),
            "{err}"
        );
        assert!(
            err.contains(&server.url("missing.git")) && err.contains("no git repository"),
            "{err}"
        );
    }
}

/// `atom fetch --git URL` mirrors a plain git repository (a direct `nix+git` dependency) over the
/// network: its branches' and tags' objects arrive in the store's mirror.
#[test]
fn a_plain_repository_is_mirrored_over_the_network() {
    for kind in [Kind::Daemon, Kind::Http] {
        let dir = scratch(&format!("mirror-{kind:?}"));
        let server = Server::start(kind, &dir);
        let work = dir.join("lib");
        fs::create_dir_all(&work).unwrap();
        atom_repo(&work);
        git(&work, &["tag", "v1"]);
        write(&work, "later.nix", "2\n");
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "later"]);
        let served = server.root.join("lib.git");
        serve_bare(&served);
        git(
            &work,
            &["push", "-q", served.to_str().unwrap(), "main", "v1"],
        );
        let store = dir.join("store");
        let out = ok(
            &dir,
            Some(&server),
            &[
                "--json",
                "fetch",
                "--git",
                &server.url("lib.git"),
                "--store",
                store.to_str().unwrap(),
            ],
        );
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mirror = PathBuf::from(json["repo"].as_str().unwrap());
        for rev in ["HEAD", "v1"] {
            let id = git(&work, &["rev-parse", rev]);
            let has = Command::new("git")
                .arg("--git-dir")
                .arg(&mirror)
                .args(["cat-file", "-e", &format!("{id}^{{tree}}")])
                .status()
                .unwrap();
            assert!(
                has.success(),
                "{kind:?}: {rev} missing from {}",
                mirror.display()
            );
        }
    }
}

/// A server that claims a set's root can put versions of it into the store, but they stay its
/// own: locking, online or offline, takes only what the set's declared mirror served, and the
/// genuine version that the declared mirror publishes later under the same number is fetched
/// beside the forgery (attributed to its mirror) rather than refused as tampering.
#[test]
fn versions_stay_attributed_to_the_mirror_they_came_from() {
    let (dir, src, server, url) = published(Kind::Daemon, "forged");
    // Another repository with the same root publishes alpha 1.2.0 (the set's mirror does not).
    let forger = dir.join("forger");
    clone_set(&src, &forger);
    write(
        &forger,
        "pkgs/a/atom.toml",
        &support::manifest("alpha", "1.2.0"),
    );
    write(&forger, "pkgs/a/mod.nix", "{ Value = \"forged\"; }\n");
    git(&forger, &["commit", "-q", "-am", "alpha 1.2.0"]);
    ok(&forger, None, &["publish", "pkgs/a"]);
    let forged = git(&forger, &["rev-parse", "refs/eka/atoms/alpha/1.2.0"]);
    let forge_url = serve(&server, &forger, "forge.git");
    let store = dir.join("store");
    let store_arg = store.to_str().unwrap();
    ok(
        &dir,
        Some(&server),
        &["fetch", &forge_url, "--store", store_arg],
    );

    let app = dir.join("app");
    write(
        &app,
        "atom.toml",
        &format!("[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nlib = \"{url}\"\n\n[deps.from.lib]\nalpha = \"^1\"\n\n[compose.as]\nnix = \".\"\n"),
    );
    let app_arg = app.to_str().unwrap();
    let lock_at = |args: &[&str]| {
        let mut all = vec!["lock", app_arg, "--store", store_arg];
        all.extend_from_slice(args);
        ok(&dir, Some(&server), &all);
        fs::read_to_string(app.join("atom.lock")).unwrap()
    };
    let lock = lock_at(&[]);
    let published = git(&src, &["rev-parse", "refs/eka/atoms/alpha/1.1.0"]);
    assert!(
        lock.contains("version = \"1.1.0\"") && lock.contains(&published),
        "{lock}"
    );
    assert!(lock.contains(&format!("mirror = \"{url}\"")), "{lock}");
    assert!(!lock.contains("1.2.0"), "{lock}");
    // Offline, from the store, which holds the forgery too: still the mirror's version.
    let lock = lock_at(&["--offline", "--update"]);
    assert!(
        lock.contains(&published) && !lock.contains(&forged),
        "{lock}"
    );

    // The genuine alpha 1.2.0, published later by the set's own repository.
    publish_alpha(&src, &server, "1.2.0");
    let genuine = git(&src, &["rev-parse", "refs/eka/atoms/alpha/1.2.0"]);
    assert_ne!(genuine, forged);
    let output = atom(&dir, Some(&server), &["fetch", &url, "--store", store_arg]);
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(
        text(&output.stderr).contains("both are kept"),
        "{}",
        text(&output.stderr)
    );
    for args in [&["--update"][..], &["--offline", "--update"]] {
        let lock = lock_at(args);
        assert!(
            lock.contains(&genuine) && !lock.contains(&forged),
            "{args:?}: {lock}"
        );
    }
}

/// Credentials for HTTPS come from the URL or from git's credential helpers, are never sent over
/// plain http://, and passwords never appear in messages.
#[test]
fn https_credentials_come_from_the_url_or_git() {
    let (dir, src, server, _) = published(Kind::Https, "credentials");
    let private = server.private_url("set.git");
    assert!(private.starts_with("https://"), "{private}");
    let with_password = private.replace("https://", "https://someone:secret@");
    let listed = ok(&dir, Some(&server), &["ls", &with_password, "alpha"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let public = ok(&dir, Some(&server), &["ls", &server.url("set.git"), "beta"]);
    assert!(public.starts_with("beta 0.1.0 "), "{public}");
    let wrong = private.replace("https://", "https://someone:wrong@");
    let err = fails(&dir, Some(&server), &["ls", &wrong, "alpha"]);
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!err.contains(":wrong@"), "the password leaked: {err}");
    let err = fails(&dir, Some(&server), &["ls", &private, "alpha"]);
    assert!(err.contains("authentication failed"), "{err}");

    // A credential helper configured for git (here: a `store` file in the global config).
    let creds = dir.join("credentials");
    let origin = with_password.trim_end_matches("/private/set.git");
    fs::write(&creds, format!("{origin}\n")).unwrap();
    let config = dir.join("gitconfig");
    fs::write(
        &config,
        format!(
            "[credential]\n\thelper = store --file={}\n",
            creds.display()
        ),
    )
    .unwrap();
    let with_helper = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_atom"))
            .args(args)
            .env("GIT_CONFIG_GLOBAL", &config)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_SSL_CAINFO", server.ca())
            .output()
            .unwrap()
    };
    let output = with_helper(&["ls", &private, "alpha"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).lines().count(), 2);

    // Pushing there goes through git with the same helper.
    let served = server.root.join("private.git");
    serve_bare(&served);
    let pushed = with_helper(&[
        "-C",
        src.to_str().unwrap(),
        "publish",
        "--push",
        &server.private_url("private.git"),
    ]);
    assert!(pushed.status.success(), "{}", text(&pushed.stderr));
    assert!(!git(&served, &["for-each-ref", "refs/eka/atoms"]).is_empty());

    // Over plain http://, credentials are refused before anything is sent.
    let plain = Server::start(Kind::Http, &dir.join("plain"));
    serve(&plain, &src, "set.git");
    let url = plain
        .private_url("set.git")
        .replace("http://", "http://someone:secret@");
    let err = fails(&dir, None, &["ls", &url, "alpha"]);
    assert!(err.contains("never in clear text over http://"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}

/// More pack data than `--max-fetch-mib` allows: the fetch stops, and keeps nothing.
#[test]
fn a_fetch_stops_at_its_size_limit() {
    let dir = scratch("limit");
    let src = dir.join("src");
    big_source(&src, 2 << 20);
    ok(&src, None, &["publish"]);
    for kind in [Kind::Daemon, Kind::Http] {
        let server = Server::start(kind, &dir.join(format!("{kind:?}")));
        let url = serve(&server, &src, "set.git");
        let store = dir.join(format!("store-{kind:?}"));
        let err = fails(
            &dir,
            Some(&server),
            &[
                "--max-fetch-mib",
                "1",
                "fetch",
                &url,
                "beta",
                "--store",
                store.to_str().unwrap(),
            ],
        );
        assert!(
            err.contains("more than 1 MiB of pack data"),
            "{kind:?}: {err}"
        );
        let left: Vec<_> = fs::read_dir(&store)
            .map(|d| d.flatten().count())
            .into_iter()
            .collect();
        assert!(left.iter().all(|&n| n == 0), "{kind:?}: {left:?}");
    }
}

/// Every file under `dir` whose content holds `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            pending.extend(fs::read_dir(&path).unwrap().flatten().map(|e| e.path()));
        } else if fs::read(&path)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
        {
            found.push(path);
        }
    }
    found
}

/// A password typed in a URL serves the command and is written nowhere: not in the store (its
/// records, reflogs, config), not in `--json` output, not in `atom.toml` or `atom.lock`, and
/// not on a child process's command line (git push gets it through its environment).
#[test]
fn a_password_in_a_url_is_never_written() {
    let (dir, src, server, _) = published(Kind::Https, "password");
    let private = server
        .private_url("set.git")
        .replace("https://", "https://someone:secret@");
    let store = dir.join("store");
    let store_arg = store.to_str().unwrap();
    let out = ok(
        &dir,
        Some(&server),
        &["--json", "fetch", &private, "--store", store_arg],
    );
    assert!(!out.contains("secret") && !out.contains("someone"), "{out}");
    assert_eq!(files_holding(&store, "secret"), Vec::<PathBuf>::new());

    // `atom add` locks with the password and records the URL without it.
    let app = dir.join("app");
    write(
        &app,
        "atom.toml",
        "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[compose.as]\nnix = \".\"\n",
    );
    let added = ok(
        &app,
        Some(&server),
        &[
            "add",
            &format!("{private}::alpha"),
            "--store",
            dir.join("store2").to_str().unwrap(),
        ],
    );
    assert!(!added.contains("secret"), "{added}");
    for file in ["atom.toml", "atom.lock"] {
        let text = fs::read_to_string(app.join(file)).unwrap();
        assert!(
            !text.contains("secret") && !text.contains("someone@"),
            "{file}: {text}"
        );
        assert!(
            text.contains(&server.private_url("set.git")),
            "{file}: {text}"
        );
    }

    // `publish --push`: a `git` in front of the real one records its command line.
    let bin = dir.join("bin");
    let log = dir.join("git-argv.log");
    write(
        &bin,
        "git",
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec /usr/bin/git \"$@\"\n",
            log.display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(bin.join("git"), fs::Permissions::from_mode(0o755)).unwrap();
    serve_bare(&server.root.join("private2.git"));
    let target = server
        .private_url("private2.git")
        .replace("https://", "https://someone:secret@");
    let pushed = Command::new(env!("CARGO_BIN_EXE_atom"))
        .args(["-C", src.to_str().unwrap(), "publish", "--push", &target])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_SSL_CAINFO", server.ca())
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{}", text(&pushed.stderr));
    assert!(!text(&pushed.stdout).contains("secret"));
    let argv = fs::read_to_string(&log).unwrap();
    assert!(argv.contains("push"), "{argv}");
    assert!(
        !argv.contains("secret") && !argv.contains("someone"),
        "{argv}"
    );
    assert!(!git(
        &server.root.join("private2.git"),
        &["for-each-ref", "refs/eka/atoms"]
    )
    .is_empty());
}

/// A URL with a control character, written or percent-encoded in any part, is refused before git
/// or a credential helper hears of it (the class of git's CVE-2020-5260: a decoded line break
/// would ask the helper for another host's credentials); from the command line or from a
/// manifest's mirrors.
#[test]
fn urls_with_control_characters_reach_no_credential_helper() {
    let dir = scratch("crlf");
    let server = Server::start(Kind::Http, &dir.join("http"));
    let base = server.private_url("set.git");
    let log = dir.join("helper.log");
    write(
        &dir,
        "helper",
        &format!(
            "#!/bin/sh\ncat >> '{}'\nprintf 'username=stolen\\npassword=stolen\\n'\n",
            log.display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.join("helper"), fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.join("gitconfig");
    fs::write(
        &config,
        format!(
            "[credential]\n\thelper = {}\n",
            dir.join("helper").display()
        ),
    )
    .unwrap();
    let run = |cwd: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_atom"))
            .current_dir(cwd)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", &config)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap()
    };
    for url in [
        format!("{base}%0d%0ahost=victim.example%0d%0a"),
        format!("{base}%0ahost=victim.example"),
        base.replace("http://", "http://someone%0ahost=victim.example@"),
        format!("{base}%00"),
    ] {
        let output = run(&dir, &["ls", &url]);
        assert!(!output.status.success());
        let err = text(&output.stderr);
        assert!(err.contains("control character"), "{url}: {err}");
        assert!(!log.exists(), "{url}: the helper was asked");
    }
    // The same URL as a mirror in someone's manifest.
    let app = dir.join("app");
    write(
        &app,
        "atom.toml",
        &format!("[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nlib = \"{base}%0d%0ahost=victim.example\"\n\n[deps.from.lib]\nalpha = \"^1\"\n\n[compose.as]\nnix = \".\"\n"),
    );
    let output = run(
        &app,
        &[
            "lock",
            app.to_str().unwrap(),
            "--store",
            dir.join("store").to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(err.contains("control character"), "{err}");
    assert!(!log.exists(), "the helper was asked");
    // A clean URL does reach the helper (so the checks above could fail).
    let output = run(&dir, &["ls", &base]);
    assert!(log.exists(), "{}", text(&output.stderr));
}

/// Hostile servers get bounded work, on every transport: a listing that never ends is cut off at
/// `--max-listing-mib`, one that trickles a byte at a time meets `--deadline`, and a pack whose
/// delta claims gigabytes is refused before anything is allocated for it. Each failure is one
/// line naming the limit and the option that raises it, and the store keeps nothing.
#[test]
fn hostile_servers_get_bounded_work() {
    use hostile::{Behaviour, Hostile, Protocol};
    let dir = scratch("hostile");
    let store = dir.join("store");
    let store_arg = store.to_str().unwrap();
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_atom"))
            .args(args)
            .envs(env.iter().copied())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let err = text(&output.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        (err, started.elapsed())
    };

    for (behaviour, protocol) in [
        (Behaviour::EndlessAdvertisement, Protocol::Git),
        (Behaviour::EndlessListing, Protocol::Git),
        (Behaviour::EndlessAdvertisement, Protocol::Http),
    ] {
        let server = Hostile::start(behaviour, protocol);
        let (err, took) = run(
            &[],
            &["--max-listing-mib", "1", "ls", &server.url("set.git")],
        );
        assert!(
            err.contains("more than 1 MiB for the handshake and ref listing")
                && err.contains("--max-listing-mib"),
            "{behaviour:?} {protocol:?}: {err}"
        );
        assert!(took < Duration::from_secs(60), "{took:?}");
    }
    let ssh = hostile::endless_ssh_command(&dir);
    let (err, _) = run(
        &[("GIT_SSH_COMMAND", &ssh)],
        &["--max-listing-mib", "1", "ls", "ssh://127.0.0.1/set.git"],
    );
    assert!(err.contains("--max-listing-mib"), "ssh: {err}");
    // Over ssh a pipe has no time-out of its own: silence and the deadline are watched.
    let silent = hostile::silent_ssh_command(&dir);
    let (err, took) = run(
        &[("GIT_SSH_COMMAND", &silent)],
        &["--timeout", "2", "ls", "ssh://127.0.0.1/set.git"],
    );
    assert!(err.contains("did not answer within 2 s"), "ssh: {err}");
    assert!(took < Duration::from_secs(10), "ssh: {took:?}");
    let trickling = hostile::trickling_ssh_command(&dir);
    let (err, took) = run(
        &[("GIT_SSH_COMMAND", &trickling)],
        &[
            "--timeout",
            "2",
            "--deadline",
            "3",
            "ls",
            "ssh://127.0.0.1/set.git",
        ],
    );
    assert!(err.contains("did not finish within 3 s"), "ssh: {err}");
    assert!(took < Duration::from_secs(10), "ssh: {took:?}");
    // What ssh (or the server through it) writes on its standard error is shown escaped.
    let scribbling = hostile::scribbling_ssh_command(&dir);
    let (err, _) = run(
        &[("GIT_SSH_COMMAND", &scribbling)],
        &["ls", "ssh://127.0.0.1/set.git"],
    );
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    assert!(
        err.contains("\\u{1b}[2J") && err.contains("all atoms verified"),
        "{err}"
    );

    for protocol in [Protocol::Git, Protocol::Http] {
        let server = Hostile::start(Behaviour::Trickle, protocol);
        let (err, took) = run(
            &[],
            &[
                "--timeout",
                "2",
                "--deadline",
                "3",
                "ls",
                &server.url("set.git"),
            ],
        );
        assert!(
            err.contains("did not finish within 3 s") && err.contains("--deadline"),
            "{protocol:?}: {err}"
        );
        assert!(took < Duration::from_secs(15), "{protocol:?}: {took:?}");
    }

    let bomb = Hostile::start(Behaviour::DeltaBomb, Protocol::Git);
    let bomb_url = bomb.url("set.git");
    for limits in [&["--max-fetch-mib", "1"][..], &[]] {
        let mut args = limits.to_vec();
        args.extend(["fetch", &bomb_url, "--store", store_arg]);
        let (err, _) = run(&[], &args);
        assert!(
            err.contains("would take more than") && err.contains("--max-object-mib"),
            "{limits:?}: {err}"
        );
        let left = fs::read_dir(&store)
            .map(|d| d.flatten().count())
            .unwrap_or(0);
        assert_eq!(left, 0, "{limits:?}");
    }

    // A server's text cannot rewrite the terminal it is shown on.
    let scribble = Hostile::start(Behaviour::Scribble, Protocol::Git);
    let (err, _) = run(&[], &["ls", &scribble.url("set.git")]);
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    assert!(err.contains("\\u{1b}[2J"), "{err}");
}

/// A publisher's tree that holds git's own directory under any spelling a file system would
/// take for `.git` (case, trailing dots and spaces, NTFS short names, characters HFS+ ignores)
/// is refused at fetch and by `atom verify`; a ref whose label is a look-alike (not NFKC) of a
/// real one is no atom: not listed, reported by `verify`, refused by fetch, never resolved.
#[test]
fn hostile_trees_and_look_alike_refs_are_refused() {
    let dir = scratch("hostile-trees");
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    source(&src);
    let rev = git(&src, &["rev-parse", "refs/eka/atoms/alpha/1.1.0"]);
    let tree = git(&src, &["rev-parse", &format!("{rev}^{{tree}}")]);
    let config = git_input(
        &src,
        &["hash-object", "-w", "--stdin"],
        b"[core]\n\tfsmonitor = touch PWNED\n",
    );
    let dot_git = git_input(
        &src,
        &["mktree"],
        format!("100644 blob {config}\tconfig\n").as_bytes(),
    );
    let listed = git(&src, &["ls-tree", &tree]);
    let spellings = [".git", ".GIT", ".git.", ".Git ", "git~1", ".g\u{200c}it"];
    for (i, name) in spellings.iter().enumerate() {
        let entries = format!("{listed}\n040000 tree {dot_git}\t{name}\n");
        let evil_tree = git_input(&src, &["mktree"], entries.as_bytes());
        let evil = with_tree(&src, &rev, &evil_tree);
        // The same atom at a new version each time: its manifest says 1.1.0, so the label is
        // kept and the ref names a version of its own (verify reports the mismatch first
        // otherwise); a separate repository per spelling keeps it simple.
        let repo = dir.join(format!("evil-{i}"));
        clone_set(&src, &repo);
        git(
            &src,
            &[
                "push",
                "-q",
                repo.to_str().unwrap(),
                &format!("{evil}:refs/eka/atoms/alpha/1.1.0"),
                "--force",
            ],
        );
        let err = fails(&repo, None, &["verify", "alpha@1.1.0"]);
        assert!(
            err.contains("which is refused") && err.contains("git's own directory"),
            "{name:?}: {err}"
        );
        let store = dir.join(format!("store-{i}"));
        let out = atom(
            &dir,
            None,
            &[
                "fetch",
                repo.to_str().unwrap(),
                "--store",
                store.to_str().unwrap(),
            ],
        );
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("rejected alpha 1.1.0") && stdout.contains("git's own directory"),
            "{name:?}: {stdout}"
        );
        assert!(!out.status.success());
    }

    // A look-alike label: `ａlpha` (a fullwidth a) is `alpha` once NFKC-normalised.
    let forger = dir.join("forger");
    clone_set(&src, &forger);
    git(
        &src,
        &[
            "push",
            "-q",
            forger.to_str().unwrap(),
            "refs/eka/*:refs/eka/*",
        ],
    );
    write(
        &forger,
        "pkgs/a/atom.toml",
        &support::manifest("alpha", "1.2.0"),
    );
    git(&forger, &["commit", "-q", "-am", "alpha 1.2.0"]);
    ok(&forger, None, &["publish", "pkgs/a"]);
    let forged = git(&forger, &["rev-parse", "refs/eka/atoms/alpha/1.2.0"]);
    for name in [
        "refs/eka/atoms/alpha/1.2.0",
        "refs/eka/meta/alpha/1.2.0/manifest",
        "refs/eka/meta/alpha/1.2.0/origin",
    ] {
        let target = git(&forger, &["rev-parse", name]);
        git(
            &forger,
            &[
                "update-ref",
                &name.replace("alpha", "\u{ff41}lpha"),
                &target,
            ],
        );
        git(&forger, &["update-ref", "-d", name]);
    }
    let listed = ok(&forger, None, &["ls", "alpha"]);
    assert!(!listed.contains("1.2.0"), "{listed}");
    let err = fails(&forger, None, &["verify"]);
    assert!(err.contains("not in canonical (NFKC) form"), "{err}");
    let store = dir.join("store-nfkc");
    let out = atom(
        &dir,
        None,
        &[
            "fetch",
            forger.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("rejected alpha 1.2.0") && stdout.contains("look-alike"),
        "{stdout}"
    );
    let resolved = ok(
        &dir,
        None,
        &["resolve", &format!("{}::alpha", forger.display())],
    );
    assert!(
        resolved.starts_with("alpha 1.1.0 ") && !resolved.contains(&forged),
        "{resolved}"
    );
    assert!(fs::read_dir(&store).unwrap().flatten().all(|set| git(
        &set.path(),
        &["for-each-ref", "--format=%(refname)"]
    )
    .lines()
    .all(|r| !r.contains("1.2.0"))));
}

/// How many ref listings (`ls-refs` commands) `server` has answered (its packet trace).
fn listings(server: &Server) -> usize {
    server.packets().matches("< command=ls-refs").count()
}

/// `atom --json fetch` with no URL in `app`, into `store`: the exit status and the entries of the
/// JSON document by label.
fn fill(
    app: &Path,
    server: &Server,
    store: &Path,
) -> (Option<i32>, serde_json::Map<String, serde_json::Value>) {
    let output = atom(
        app,
        Some(server),
        &[
            "--json",
            "--timeout",
            "5",
            "fetch",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", text(&output.stdout)));
    let entries = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["label"].as_str().unwrap().to_owned(), e.clone()))
        .collect();
    (output.status.code(), entries)
}

/// `atom fetch` with no URL fills a fresh store with what an atom's lock needs, and nothing
/// else: the locked versions, transitively through a dependency's published lock, each mirror
/// listed once per level of the graph, from the set's other mirror when the recorded one is
/// gone, and a clear failure (with partial success) when no mirror has it.
#[test]
fn atom_fetch_fills_the_store_from_a_lock() {
    for kind in [Kind::Daemon, Kind::Http] {
        fills_the_store_from_a_lock(kind);
    }
}

fn fills_the_store_from_a_lock(kind: Kind) {
    // Set 1 (alpha 1.0.0 and 1.1.0, beta 0.1.0) on one server, as set.git and copy.git.
    let (dir, src, server, url) = published(kind, "fill");
    let copy = serve(&server, &src, "copy.git");
    // Set 2 on another server: gamma 1.0.0, which depends on alpha ^1 of set 1, published with
    // its lock.
    let dir2 = scratch(&format!("fill-lib-{kind:?}"));
    let lib = dir2.join("src");
    fs::create_dir_all(&lib).unwrap();
    git(&lib, &["init", "-q", "-b", "main"]);
    write(&lib, "ekala.toml", "[set]\npackages = [\"g\"]\n");
    write(
        &lib,
        "g/atom.toml",
        &format!("[package]\nlabel = \"gamma\"\nversion = \"1.0.0\"\n\n[package.sets]\nmain = \"{url}\"\n\n[deps.from.main]\nalpha = \"^1\"\n\n[compose.as]\nnix = \".\"\n"),
    );
    let lock_store = dir.join("lock-store");
    let lock_store = lock_store.to_str().unwrap();
    ok(&lib, Some(&server), &["lock", "g", "--store", lock_store]);
    git(&lib, &["add", "."]);
    git(&lib, &["commit", "-q", "-m", "gamma"]);
    ok(&lib, None, &["init"]);
    ok(&lib, None, &["publish"]);
    let server2 = Server::start(kind, &dir2);
    let url2 = serve(&server2, &lib, "lib.git");

    // The project: alpha and beta of set 1 (two mirrors), gamma of set 2; locked.
    let app = dir.join("app");
    let manifest = |deps: &str| {
        format!("[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nmain = [\"{url}\", \"{copy}\"]\nlibs = \"{url2}\"\n\n{deps}\n[compose.as]\nnix = \".\"\n")
    };
    write(
        &app,
        "atom.toml",
        &manifest("[deps.from.main]\nalpha = \"^1\"\nbeta = \"^0.1\"\n\n[deps.from.libs]\ngamma = \"^1\"\n"),
    );
    ok(&app, Some(&server), &["lock", "--store", lock_store]);
    let lock = fs::read_to_string(app.join("atom.lock")).unwrap();
    let recorded = if lock.contains(&format!("mirror = \"{url}\"")) {
        url.clone()
    } else {
        copy.clone()
    };
    let other = if recorded == url { &copy } else { &url };
    assert!(lock.contains(&format!("mirror = \"{recorded}\"")), "{lock}");

    // A fresh store ("after cloning the project"): `atom lock --check` alone cannot tell.
    let store = dir.join("store");
    let store_arg = store.to_str().unwrap();
    let before = (listings(&server), listings(&server2));
    let (code, entries) = fill(&app, &server, &store);
    assert_eq!(code, Some(0), "{entries:?}");
    for (label, version) in [("alpha", "1.1.0"), ("beta", "0.1.0"), ("gamma", "1.0.0")] {
        let entry = &entries[label];
        assert_eq!(entry["status"], "fetched", "{entry}");
        assert_eq!(entry["version"], version, "{entry}");
        assert!(lock.contains(entry["rev"].as_str().unwrap()), "{entry}");
    }
    assert_eq!(entries["beta"]["mirror"], recorded.as_str());
    assert_eq!(entries["gamma"]["mirror"], url2.as_str());
    assert_eq!(entries.len(), 3, "{entries:?}");
    // One listing per server: alpha and beta in one, gamma in the other; gamma's lock pins the
    // alpha already fetched, so no second level.
    assert_eq!(
        (listings(&server) - before.0, listings(&server2) - before.1),
        (1, 1)
    );
    ok(
        &app,
        None,
        &["lock", "--check", "--offline", "--store", store_arg],
    );
    // Again: everything is present, nothing is listed.
    let before = (listings(&server), listings(&server2));
    let (code, entries) = fill(&app, &server, &store);
    assert_eq!(code, Some(0));
    assert!(
        entries.values().all(|e| e["status"] == "present"),
        "{entries:?}"
    );
    assert_eq!((listings(&server), listings(&server2)), before);

    // Transitively: an atom depending on gamma alone gets alpha through gamma's own lock, at
    // the second level.
    // And its direct git dependency, on the server, is mirrored into the store at its pinned
    // revision.
    let plain = dir.join("plain");
    fs::create_dir_all(&plain).unwrap();
    git(&plain, &["init", "-q", "-b", "main"]);
    write(&plain, "default.nix", "{ answer = 42; }\n");
    git(&plain, &["add", "."]);
    git(&plain, &["commit", "-q", "-m", "plain"]);
    let plain_url = serve(&server2, &plain, "plain.git");
    let plain_rev = git(&plain, &["rev-parse", "HEAD"]);
    let app2 = dir.join("app2");
    write(
        &app2,
        "atom.toml",
        &manifest("[deps.from.libs]\ngamma = \"^1\"\n"),
    );
    ok(&app2, Some(&server), &["lock", "--store", lock_store]);
    // Locked by hand: `atom lock` resolves git revisions only on this machine.
    let lock2 = fs::read_to_string(app2.join("atom.lock")).unwrap();
    fs::write(
        app2.join("atom.lock"),
        format!("{lock2}\n[[deps]]\ntype = \"nix+git\"\nname = \"plain\"\nurl = \"{plain_url}\"\nrev = \"{plain_rev}\"\n"),
    )
    .unwrap();
    let (code, entries) = fill(&app2, &server, &dir.join("store2"));
    assert_eq!(code, Some(0), "{entries:?}");
    assert_eq!(entries["gamma"]["status"], "fetched");
    assert_eq!(entries["alpha"]["status"], "fetched");
    assert_eq!(entries["alpha"]["version"], "1.1.0");
    assert_eq!(entries["alpha"]["by"], "gamma-1.0.0");
    assert_eq!(entries["alpha"]["mirror"], url.as_str());
    assert_eq!(entries["plain"]["status"], "fetched", "{entries:?}");
    assert_eq!(entries["plain"]["rev"], plain_rev.as_str());
    let (code, entries) = fill(&app2, &server, &dir.join("store2"));
    assert_eq!(code, Some(0), "{entries:?}");
    assert!(
        entries.values().all(|e| e["status"] == "present"),
        "{entries:?}"
    );

    // The recorded mirror gone: the set's other mirror serves beta and alpha.
    let gone = server.root.join(recorded.rsplit('/').next().unwrap());
    let moved = server.root.join("moved.git");
    fs::rename(&gone, &moved).unwrap();
    let (code, entries) = fill(&app, &server, &dir.join("store3"));
    assert_eq!(code, Some(0), "{entries:?}");
    for label in ["alpha", "beta"] {
        assert_eq!(entries[label]["status"], "fetched", "{entries:?}");
        assert_eq!(entries[label]["mirror"], other.as_str(), "{entries:?}");
    }

    // Neither mirror has set 1: gamma is still fetched, alpha and beta are named with where
    // they were tried and why, and the command fails.
    fs::rename(
        server.root.join(other.rsplit('/').next().unwrap()),
        server.root.join("moved2.git"),
    )
    .unwrap();
    let store4 = dir.join("store4");
    let (code, entries) = fill(&app, &server, &store4);
    assert_eq!(code, Some(1), "{entries:?}");
    assert_eq!(entries["gamma"]["status"], "fetched");
    for label in ["alpha", "beta"] {
        let entry = &entries[label];
        assert_eq!(entry["status"], "failed", "{entry}");
        let tried: Vec<&str> = entry["tried"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["mirror"].as_str().unwrap())
            .collect();
        assert_eq!(tried, [recorded.as_str(), other.as_str()], "{entry}");
    }
    let output = atom(
        &app,
        Some(&server),
        &[
            "--timeout",
            "5",
            "fetch",
            "--store",
            store4.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("present gamma 1.0.0"), "{stdout}");
    assert!(stdout.contains("missing beta 0.1.0"), "{stdout}");
    assert!(stdout.contains(&format!("tried {recorded}: ")), "{stdout}");
    assert!(stdout.contains("no git repository"), "{stdout}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("2 of the entries") && stderr.contains("are still missing"),
        "{stderr}"
    );

    // A mirror serving another commit for the locked version does not satisfy the lock.
    let forged = dir.join("forged");
    clone_set(&src, &forged);
    write(&forged, "b/extra.nix", "{ }\n");
    write(&forged, "b/atom.toml", &support::manifest("beta", "0.1.0"));
    git(&forged, &["add", "."]);
    git(&forged, &["commit", "-q", "-m", "another beta 0.1.0"]);
    ok(&forged, None, &["publish", "b"]);
    let forged_url = serve(&server, &forged, recorded.rsplit('/').next().unwrap());
    assert_eq!(forged_url, recorded);
    let (code, entries) = fill(&app, &server, &dir.join("store5"));
    assert_eq!(code, Some(1), "{entries:?}");
    let beta = &entries["beta"];
    assert_eq!(beta["status"], "failed", "{beta}");
    assert!(
        beta["tried"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("but the lock pins"),
        "{beta}"
    );
}

/// `atom outdated` names the newest version a requirement accepts and the newest of all, from
/// the set's mirror (or, offline, from what the store holds of it); `atom lock --update` says
/// which newer versions its requirements keep out, as `cargo update` does.
#[test]
fn outdated_atoms_are_named_with_what_the_requirement_keeps_out() {
    let (dir, src, server, url) = published(Kind::Daemon, "outdated");
    let store = dir.join("store");
    let store_arg = store.to_str().unwrap();
    let app = dir.join("app");
    write(
        &app,
        "atom.toml",
        &format!("[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nlib = \"{url}\"\n\n[deps.from.lib]\nalpha = \"~1.0\"\n\n[compose.as]\nnix = \".\"\n"),
    );
    let app_arg = app.to_str().unwrap();
    let output = atom(
        &dir,
        Some(&server),
        &["lock", app_arg, "--update", "--store", store_arg],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr)
            .contains("alpha 1.1.0 is published, outside the requirement ~1.0 (locked: 1.0.0)"),
        "{}",
        text(&output.stderr)
    );
    // A compatible release appears on the mirror.
    publish_alpha(&src, &server, "1.0.1");
    let shown = ok(
        &dir,
        Some(&server),
        &["outdated", app_arg, "--store", store_arg],
    );
    assert!(
        shown.contains("alpha 1.0.0 -> compatible 1.0.1 (~1.0), latest 1.1.0"),
        "{shown}"
    );
    // Offline: what the store holds of the mirror (1.0.1 is not fetched yet).
    ok(
        &dir,
        Some(&server),
        &["fetch", &url, "alpha", "--store", store_arg],
    );
    let offline = ok(
        &dir,
        Some(&server),
        &["outdated", app_arg, "--offline", "--store", store_arg],
    );
    assert!(
        offline
            .contains("alpha 1.0.0 -> compatible 1.0.1 (~1.0), latest 1.1.0 (at the atom store)"),
        "{offline}"
    );
    ok(
        &dir,
        Some(&server),
        &["lock", app_arg, "--update", "--store", store_arg],
    );
    let current = ok(
        &dir,
        Some(&server),
        &["--json", "outdated", app_arg, "--store", store_arg],
    );
    let json: serde_json::Value = serde_json::from_str(&current).unwrap();
    assert_eq!(json[0]["locked"], "1.0.1", "{json}");
    assert_eq!(json[0]["compatible"], serde_json::Value::Null, "{json}");
    assert_eq!(json[0]["latest"], "1.1.0", "{json}");
}

/// A new version's fetch says the top trees of the versions the store has as `have`s, so any
/// git server, filtering or not, leaves out every tree and file reachable from them: the 2 MB
/// file the store already has does not travel again. The new version is verified whole before
/// its refs are written.
#[test]
fn an_update_sends_only_the_files_the_store_lacks() {
    for (kind, filters) in [
        (Kind::Daemon, true),
        (Kind::Http, true),
        (Kind::Daemon, false),
        (Kind::Http, false),
    ] {
        let dir = scratch(&format!("update-{kind:?}-{filters}"));
        let server = Server::start(kind, &dir);
        let served = server.root.join("set.git");
        serve_bare(&served);
        if filters {
            git(&served, &["config", "uploadpack.allowFilter", "true"]);
        }
        let url = server.url("set.git");
        let src = dir.join("src");
        big_source(&src, 2 << 20);
        ok(&src, Some(&server), &["publish", "--push", &url]);
        let store = dir.join("store");
        let store_arg = store.to_str().unwrap();
        let fetch = || -> serde_json::Value {
            serde_json::from_str(&ok(
                &dir,
                Some(&server),
                &["--json", "fetch", &url, "beta", "--store", store_arg],
            ))
            .unwrap()
        };
        let first = fetch();
        assert!(
            first["bytes"].as_u64().unwrap() > 2 << 20,
            "{kind:?}: {first}"
        );

        write(&src, "b/atom.toml", &support::manifest("beta", "0.2.0"));
        write(&src, "b/changed.nix", "{ Changed = true; }\n");
        git(&src, &["add", "."]);
        git(&src, &["commit", "-q", "-m", "beta 0.2.0"]);
        ok(&src, Some(&server), &["publish", "b", "--push", &url]);
        let next = fetch();
        let bytes = next["bytes"].as_u64().unwrap();
        assert!(bytes < 16 << 10, "{kind:?}: {bytes} bytes: {next}");
        // The commit, its top tree, the new atom.toml and changed.nix: without the trees as
        // `have`s, the whole version (2 MB) would travel again.
        assert_eq!(next["objects"].as_u64(), Some(4), "{kind:?}: {next}");
        let set = store_repo(&store);
        ok(&set, None, &["verify", "beta@0.2.0"]);
        assert_eq!(
            git(
                &set,
                &["rev-parse", "refs/eka/atoms/beta/0.2.0:changed.nix"]
            ),
            git(&src, &["rev-parse", "HEAD:b/changed.nix"])
        );
        support::fsck_store(&set);
    }
}

/// A mirror is told only of the trees it served the store or advertises itself: another mirror
/// of the same set (a stranger's) that does not have 0.1.0 learns nothing of the store holding
/// it from the first, so 0.2.0 from it costs the whole version.
#[test]
fn a_mirror_is_told_only_of_the_trees_it_served() {
    let dir = scratch("update-other-mirror");
    let server = Server::start(Kind::Daemon, &dir);
    let src = dir.join("src");
    big_source(&src, 2 << 20);
    ok(&src, None, &["publish"]);
    let first = serve(&server, &src, "first.git");
    let store = dir.join("store");
    let store_arg = store.to_str().unwrap();
    let fetch = |url: &str| -> serde_json::Value {
        serde_json::from_str(&ok(
            &dir,
            Some(&server),
            &["--json", "fetch", url, "beta", "--store", store_arg],
        ))
        .unwrap()
    };
    fetch(&first);
    write(&src, "b/atom.toml", &support::manifest("beta", "0.2.0"));
    git(&src, &["commit", "-q", "-am", "beta 0.2.0"]);
    ok(&src, None, &["publish", "b"]);
    let other_repo = server.root.join("other.git");
    serve_bare(&other_repo);
    git(
        &src,
        &[
            "push",
            "-q",
            other_repo.to_str().unwrap(),
            "refs/ekala/init:refs/ekala/init",
            "refs/eka/atoms/beta/0.2.0:refs/eka/atoms/beta/0.2.0",
            "refs/eka/meta/beta/0.2.0/*:refs/eka/meta/beta/0.2.0/*",
        ],
    );
    let other = server.url("other.git");
    let next = fetch(&other);
    assert!(
        next["bytes"].as_u64().unwrap() > 2 << 20,
        "the other mirror was told of the first one's trees: {next}"
    );
    // From the mirror that served 0.1.0, the shared file stays home.
    git(
        &src,
        &[
            "push",
            "-q",
            server.root.join("first.git").to_str().unwrap(),
            "refs/*:refs/*",
        ],
    );
    write(&src, "b/atom.toml", &support::manifest("beta", "0.3.0"));
    git(&src, &["commit", "-q", "-am", "beta 0.3.0"]);
    ok(&src, None, &["publish", "b"]);
    git(
        &src,
        &[
            "push",
            "-q",
            server.root.join("first.git").to_str().unwrap(),
            "refs/*:refs/*",
        ],
    );
    let last = fetch(&first);
    assert!(last["bytes"].as_u64().unwrap() < 16 << 10, "{last}");
}

/// Locking online lists the declared mirror once for all of the set's dependencies (and its
/// root): each version is chosen from that listing and fetched on the same connection.
#[test]
fn locking_lists_each_mirror_once_for_all_its_dependencies() {
    for kind in [Kind::Daemon, Kind::Http] {
        let (dir, _, server, url) = published(kind, "lock-listings");
        let app = dir.join("app");
        write(
            &app,
            "atom.toml",
            &format!("[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nlib = \"{url}\"\n\n[deps.from.lib]\nalpha = \"^1\"\nbeta = \"*\"\n\n[compose.as]\nnix = \".\"\n"),
        );
        let before = listings(&server);
        ok(
            &dir,
            Some(&server),
            &[
                "lock",
                app.to_str().unwrap(),
                "--store",
                dir.join("store").to_str().unwrap(),
            ],
        );
        // One for the set, its root and both dependencies: each version is chosen from it and
        // fetched on the same connection (earlier: one for the root, then one per dependency;
        // before that, two per dependency).
        assert_eq!(listings(&server) - before, 1, "{kind:?}");
    }
}

/// Locking reads manifests and locks, not files: from a server that filters, `atom lock`
/// receives the dependency's commit and top tree (`tree:1`; `blob:none` from a server that
/// allows only blob filters), then its `atom.toml` and `atom.lock`; the version is marked partial
/// (no store refs), and `atom fetch` in the atom's directory receives the rest (its trees, then
/// exactly the files still missing) and makes it whole. A server that does not filter sends the
/// whole version at once, as before. Bytes are counted through a relay.
#[test]
fn locking_receives_manifests_and_locks_and_filling_the_files() {
    const BIG: usize = 1 << 20;
    for (kind, filters, trees) in [
        (Kind::Daemon, true, true),
        (Kind::Http, true, true),
        (Kind::Daemon, true, false),
        (Kind::Daemon, false, false),
    ] {
        let dir = scratch(&format!("lock-manifests-{kind:?}-{filters}-{trees}"));
        let src = dir.join("src");
        big_source(&src, BIG);
        for i in 0..20 {
            write(
                &src,
                &format!("b/lib/f{i}.nix"),
                &format!("{{ N = {i}; }}\n"),
            );
        }
        git(&src, &["add", "."]);
        git(&src, &["commit", "-q", "-m", "files"]);
        ok(&src, None, &["publish"]);
        let server = Server::start(kind, &dir);
        serve(&server, &src, "set.git");
        if filters {
            git(
                &server.root.join("set.git"),
                &["config", "uploadpack.allowFilter", "true"],
            );
        }
        if filters && !trees {
            // Blob filters only, as some hosts have it: a tree filter ends the conversation.
            let served = server.root.join("set.git");
            git(&served, &["config", "uploadpackfilter.allow", "false"]);
            git(
                &served,
                &["config", "uploadpackfilter.blob:none.allow", "true"],
            );
        }
        // A relay that counts what the server sends (fast enough not to slow anything).
        let relay = servers::Throttle::start(server.port, 1 << 32);
        let url = server
            .url("set.git")
            .replace(&format!(":{}/", server.port), &format!(":{}/", relay.port));
        let app = dir.join("app");
        write(
            &app,
            "atom.toml",
            &format!("[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nlib = \"{url}\"\n\n[deps.from.lib]\nbeta = \"*\"\n\n[compose.as]\nnix = \".\"\n"),
        );
        let store = dir.join("store");
        let store_arg = store.to_str().unwrap();
        let app_arg = app.to_str().unwrap();
        ok(
            &dir,
            Some(&server),
            &["lock", app_arg, "--store", store_arg],
        );
        let locked = relay.sent();
        let set = store_repo(&store);
        let has = |rev: &str| {
            Command::new("git")
                .arg("--git-dir")
                .arg(&set)
                .args(["cat-file", "-e", rev])
                .status()
                .unwrap()
                .success()
        };
        let big = git(&src, &["rev-parse", "HEAD:b/blob.bin"]);
        let lock = git(&src, &["rev-parse", "HEAD:b/atom.lock"]);
        let subtree = git(&src, &["rev-parse", "HEAD:b/lib"]);
        let refs = || git(&set, &["for-each-ref", "--format=%(refname)"]);
        if filters {
            assert!(
                locked < 32 << 10,
                "{kind:?}: locking received {locked} bytes"
            );
            // Only what locking reads: the manifest and lock, not the files; no store refs yet.
            assert!(has(&lock) && !has(&big), "{kind:?}");
            // Only the top tree, when the server takes a tree filter.
            assert_eq!(has(&subtree), !trees, "{kind:?}");
            let listed = refs();
            assert!(
                !listed.contains("refs/eka/atoms/beta") && listed.contains("refs/atom/partial/"),
                "{kind:?}: {listed}"
            );
        } else {
            assert!(locked > BIG, "{kind:?}: locking received {locked} bytes");
            assert!(
                has(&big) && !refs().contains("refs/atom/partial/"),
                "{kind:?}"
            );
        }

        // Filling the store from the lock brings the rest (and only that), verified whole.
        let filled: serde_json::Value = serde_json::from_str(&ok(
            &app,
            Some(&server),
            &["--json", "fetch", "--store", store_arg],
        ))
        .unwrap();
        let fill_bytes = relay.sent() - locked;
        let entry = &filled["entries"][0];
        if filters {
            assert_eq!(entry["status"], "fetched", "{kind:?}: {filled}");
            assert!(
                fill_bytes > BIG && fill_bytes < BIG + (16 << 10),
                "{kind:?}: filling received {fill_bytes} bytes: {filled}"
            );
        } else {
            assert_eq!(entry["status"], "present", "{kind:?}: {filled}");
        }
        assert!(has(&big), "{kind:?}");
        let listed = refs();
        assert!(
            listed.contains("refs/eka/atoms/beta/0.1.0") && !listed.contains("refs/atom/partial/"),
            "{kind:?}: {listed}"
        );
        ok(&set, None, &["verify", "beta@0.1.0"]);
        support::fsck_store(&set);
        let again = ok(&app, Some(&server), &["fetch", "--store", store_arg]);
        assert!(
            again.contains("the store has everything"),
            "{kind:?}: {again}"
        );
    }
}

/// The bytes git packs `objects` into (`git pack-objects`, run in `repo`).
fn packed(repo: &Path, objects: &[String]) -> usize {
    let input = objects.join("\n") + "\n";
    let output = Command::new("git")
        .current_dir(repo)
        .args(["pack-objects", "--stdout", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(output.status.success());
    output.stdout.len()
}

/// The objects of the atom commits `revs` in `repo` (`git rev-list --objects`), without those
/// of `without` (subtracted here: git leaves nothing out for commits that share no history).
fn atom_objects(repo: &Path, revs: &[&str], without: &[&str]) -> Vec<String> {
    let list = |revs: &[&str]| -> Vec<String> {
        if revs.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["rev-list", "--objects"];
        args.extend(revs);
        git(repo, &args).lines().map(str::to_owned).collect()
    };
    let known: std::collections::HashSet<String> = list(without)
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    list(revs)
        .into_iter()
        .filter(|l| !known.contains(l.split(' ').next().unwrap()))
        .collect()
}

/// A relay counting what `server` sends, and `url` rewritten to go through it.
fn relayed(server: &Server, url: &str) -> (servers::Throttle, String) {
    let relay = servers::Throttle::start(server.port, 1 << 32);
    let through = url.replace(&format!(":{}/", server.port), &format!(":{}/", relay.port));
    (relay, through)
}

/// An update of a 1000-file atom that changes one file, into a store holding the earlier
/// version, from a server that filters or not: only what changed travels. Everything the server
/// sends (the listing, the framing and, over http://, the headers of each response) is at most
/// 1.5 times the new objects (commit, changed trees, changed files) as git packs them. Over
/// http:// that takes the advertisement remembered from the first fetch: the update is two
/// requests (`ls-refs`, `fetch`), not three. git's own fetch of the same ref re-sends the whole
/// atom.
#[test]
fn an_update_of_a_many_file_atom_costs_its_new_objects() {
    for (kind, filters) in [
        (Kind::Daemon, true),
        (Kind::Http, true),
        (Kind::Http, false),
    ] {
        let dir = scratch(&format!("update-many-{kind:?}-{filters}"));
        let server = Server::start(kind, &dir);
        let served = server.root.join("set.git");
        serve_bare(&served);
        if filters {
            git(&served, &["config", "uploadpack.allowFilter", "true"]);
        }
        let url = server.url("set.git");
        let src = dir.join("src");
        fs::create_dir_all(&src).unwrap();
        atom_repo(&src);
        for i in 0..1000 {
            write(
                &src,
                &format!("b/data/d{}/f{i}.txt", i % 20),
                &format!("atom file {i}\n").repeat(8),
            );
        }
        git(&src, &["add", "."]);
        git(&src, &["commit", "-q", "-m", "files"]);
        ok(&src, None, &["init"]);
        ok(&src, Some(&server), &["publish", "--push", &url]);
        let (relay, through) = relayed(&server, &url);
        let store = dir.join("store");
        let store_arg = store.to_str().unwrap();
        ok(
            &dir,
            Some(&server),
            &["fetch", &through, "beta", "--store", store_arg],
        );

        write(&src, "b/data/d7/f7.txt", "the changed file\n");
        write(&src, "b/atom.toml", &support::manifest("beta", "0.2.0"));
        git(&src, &["commit", "-q", "-am", "beta 0.2.0"]);
        ok(&src, Some(&server), &["publish", "b", "--push", &url]);
        let new = atom_objects(
            &src,
            &["refs/eka/atoms/beta/0.2.0"],
            &["refs/eka/atoms/beta/0.1.0"],
        );
        // The commit, the top tree, data/, data/d7/, atom.toml and f7.txt.
        assert_eq!(new.len(), 6, "{new:?}");
        let new_bytes = packed(&src, &new);
        let whole = packed(
            &src,
            &atom_objects(&src, &["refs/eka/atoms/beta/0.2.0"], &[]),
        );

        let before = relay.sent();
        let fetched: serde_json::Value = serde_json::from_str(&ok(
            &dir,
            Some(&server),
            &[
                "--json",
                "fetch",
                &through,
                "beta@=0.2.0",
                "--store",
                store_arg,
            ],
        ))
        .unwrap();
        let sent = relay.sent() - before;
        let pack = fetched["bytes"].as_u64().unwrap() as usize;
        assert_eq!(fetched["objects"], 6, "{kind:?}: {fetched}");
        assert!(
            pack * 2 <= new_bytes * 3,
            "{kind:?}: {pack} bytes of packs for {new_bytes} bytes of new objects"
        );
        // Everything the server sent (listing, framing, HTTP headers) is within 1.5 times the
        // new objects; git's own fetch would send the whole atom again. Over HTTP, the server's
        // advertisement is remembered from the first fetch: the update is two requests.
        let allowed = new_bytes * 3 / 2;
        assert!(
            sent <= allowed,
            "{kind:?}: the server sent {sent} bytes for {new_bytes} bytes of new objects (the whole atom is {whole})"
        );
        let set = store_repo(&store);
        ok(&set, None, &["verify", "beta@0.2.0"]);
        support::fsck_store(&set);
    }
}

/// Over HTTP a server's capability advertisement is asked for once per day and store: the next
/// connection (a second fetch) starts with its first command. When the server changed
/// meanwhile (it stopped filtering), the request it refuses is made again after a fresh
/// advertisement, which is remembered in place of the stale one.
#[test]
fn an_http_servers_advertisement_is_remembered_and_renewed_when_stale() {
    let dir = scratch("advertisement");
    let server = Server::start(Kind::Http, &dir);
    let served = server.root.join("set.git");
    serve_bare(&served);
    git(&served, &["config", "uploadpack.allowFilter", "true"]);
    let url = server.url("set.git");
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    atom_repo(&src);
    ok(&src, None, &["init"]);
    ok(&src, Some(&server), &["publish", "--push", &url]);
    let store = dir.join("store");
    let store_arg = store.to_str().unwrap();
    // The server's packet trace: each advertisement starts with `version 2`, each command
    // names itself.
    let asked = |server: &Server| server.packets().matches("upload-pack> version 2").count();
    let commands = |server: &Server| server.packets().matches("upload-pack< command=").count();
    let fetch = |label: &str| {
        ok(
            &dir,
            Some(&server),
            &["fetch", &url, label, "--store", store_arg],
        )
    };
    let before = asked(&server);
    fetch("beta");
    assert_eq!(asked(&server), before + 1);
    let commanded = commands(&server);
    fetch("alpha");
    assert_eq!(asked(&server), before + 1);
    assert!(commands(&server) > commanded);
    let records: Vec<_> = fs::read_dir(store.join("servers"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(records.len(), 1);
    let record = records[0].path();
    let remembered = fs::read_to_string(&record).unwrap();
    assert!(remembered.contains("filter"));
    let list_of = |text: &str| -> String { text.split_inclusive('\n').skip(3).collect() };

    // A record that is not a v2 advertisement is never taken: one listing refs (which would
    // then come from the file, not the server) or one that does not parse is replaced by what
    // the server says.
    let header: String = remembered.split_inclusive('\n').take(3).collect();
    let oid = "1".repeat(40);
    let listed = format!("{oid} refs/eka/atoms/beta/9.9.9\0multi_ack\n");
    let forged_v1 = format!(
        "001e# service=git-upload-pack\n0000{:04x}{listed}0000",
        listed.len() + 4
    );
    for forged in [forged_v1.as_str(), "garbage"] {
        fs::write(&record, format!("{header}{forged}")).unwrap();
        let asked_before = asked(&server);
        let out = fetch("beta");
        assert!(!out.contains("9.9.9"), "{out}");
        assert_eq!(asked(&server), asked_before + 1, "{forged}");
        // Forgotten (this fetch received nothing, so it keeps nothing in its place).
        assert!(!record.exists(), "{forged}");
    }
    // The next conversation that receives objects keeps the server's own answer again.
    write(
        &src,
        "pkgs/a/atom.toml",
        &support::manifest("alpha", "1.1.0"),
    );
    git(&src, &["commit", "-q", "-am", "alpha 1.1.0"]);
    ok(&src, Some(&server), &["publish", "pkgs/a", "--push", &url]);
    fetch("alpha");
    let renewed = fs::read_to_string(&record).unwrap();
    assert_eq!(list_of(&renewed), list_of(&remembered));

    // Credentials are never remembered with a server's answer, a user alone (a token) included.
    let token_store = dir.join("token-store");
    let with_token = url.replacen("http://", "http://token@", 1);
    ok(
        &dir,
        Some(&server),
        &[
            "fetch",
            &with_token,
            "beta",
            "--store",
            token_store.to_str().unwrap(),
        ],
    );
    assert!(token_store.exists());
    assert!(!token_store.join("servers").exists());

    // The server stops filtering; locking a new version asks for a filtered fetch first.
    git(&served, &["config", "uploadpack.allowFilter", "false"]);
    write(&src, "b/atom.toml", &support::manifest("beta", "0.2.0"));
    git(&src, &["commit", "-q", "-am", "beta 0.2.0"]);
    ok(&src, Some(&server), &["publish", "b", "--push", &url]);
    let published = asked(&server);
    let app = dir.join("app");
    write(
        &app,
        "atom.toml",
        &format!("[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\ns = \"{url}\"\n\n[compose.as]\nnix = \".\"\n\n[deps.from.s]\nbeta = \"^0.2\"\n"),
    );
    ok(
        &dir,
        Some(&server),
        &["lock", app.to_str().unwrap(), "--store", store_arg],
    );
    let lock = fs::read_to_string(app.join("atom.lock")).unwrap();
    assert!(lock.contains("0.2.0"), "{lock}");
    // The stale advertisement's filtered fetch was refused, and made again after one fresh
    // advertisement.
    assert_eq!(asked(&server), published + 1);
    assert!(
        server.log().contains("unexpected line: 'filter"),
        "{}",
        server.log()
    );
    assert!(!fs::read_to_string(&record).unwrap().contains("filter"));
}

/// `atom fetch` in the directory of an atom whose lock pins ten atoms of a set (a fresh clone:
/// the lock is there, the store is empty) receives at most 1.1 times the atoms' own objects as
/// git packs them, listing and all; `atom lock` of the same atom (from a server that filters)
/// receives a small part of that.
#[test]
fn filling_from_a_lock_costs_the_atoms_own_objects() {
    for kind in [Kind::Daemon, Kind::Http] {
        let dir = scratch(&format!("fill-many-{kind:?}"));
        let server = Server::start(kind, &dir);
        let served = server.root.join("set.git");
        serve_bare(&served);
        git(&served, &["config", "uploadpack.allowFilter", "true"]);
        let url = server.url("set.git");
        let src = dir.join("src");
        fs::create_dir_all(&src).unwrap();
        git(&src, &["init", "-q", "-b", "main"]);
        let labels: Vec<String> = (0..10).map(|i| format!("dep{i}")).collect();
        for label in &labels {
            support::trivial_atom(&src, label, label, "1.0.0");
            for f in 0..40 {
                let body: String = (0..24)
                    .map(|k| format!("  v{k} = \"{label}-{f}-{}\";\n", k * 7919 % 10007))
                    .collect();
                write(
                    &src,
                    &format!("{label}/m{}/f{f}.nix", f % 5),
                    &format!("{{\n{body}}}\n"),
                );
            }
        }
        let list: Vec<String> = labels.iter().map(|l| format!("\"{l}\"")).collect();
        write(
            &src,
            "ekala.toml",
            &format!("[set]\npackages = [{}]\n", list.join(", ")),
        );
        git(&src, &["add", "."]);
        git(&src, &["commit", "-q", "-m", "deps"]);
        ok(&src, None, &["init"]);
        ok(&src, Some(&server), &["publish", "--push", &url]);
        let (relay, through) = relayed(&server, &url);
        let app = dir.join("app");
        let deps: String = labels.iter().map(|l| format!("{l} = \"^1\"\n")).collect();
        write(
            &app,
            "atom.toml",
            &format!("[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\ns = \"{through}\"\n\n[compose.as]\nnix = \".\"\n\n[deps.from.s]\n{deps}"),
        );
        let app_arg = app.to_str().unwrap();
        let lock_store = dir.join("lock-store");
        ok(
            &dir,
            Some(&server),
            &["lock", app_arg, "--store", lock_store.to_str().unwrap()],
        );
        let locked = relay.sent();

        let refs: Vec<String> = labels
            .iter()
            .map(|l| format!("refs/eka/atoms/{l}/1.0.0"))
            .collect();
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        let own = packed(&src, &atom_objects(&src, &refs, &[]));
        let store = dir.join("store");
        let filled: serde_json::Value = serde_json::from_str(&ok(
            &app,
            Some(&server),
            &["--json", "fetch", "--store", store.to_str().unwrap()],
        ))
        .unwrap();
        let sent = relay.sent() - locked;
        assert!(
            filled["entries"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["status"] == "fetched"),
            "{kind:?}: {filled}"
        );
        assert!(
            sent * 10 <= own * 11,
            "{kind:?}: filling received {sent} bytes for {own} bytes of the atoms' own objects"
        );
        assert!(
            locked * 3 < own,
            "{kind:?}: locking received {locked} bytes; filling {sent}"
        );
        for set in fs::read_dir(&store).unwrap().flatten().map(|e| e.path()) {
            if set.extension().is_some_and(|e| e == "git") {
                support::fsck_store(&set);
            }
        }
    }
}

/// OpenSSL registers no clean-up at exit in `atom`: that clean-up races with the thread gix's
/// curl client leaves to end on its own after an HTTPS conversation, and the race crashed `atom`
/// after it had printed its answer ("double free or corruption"). A preloaded library
/// (tests/preload/atexit-watch.c) reports the registration; without the fix it does.
#[test]
fn an_https_conversation_leaves_openssl_no_exit_cleanup() {
    let (dir, _, server, _) = published(Kind::Https, "exit-cleanup");
    let watch = dir.join("atexit-watch.so");
    let source = support::repo_root().join("tests/preload/atexit-watch.c");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&watch)
        .arg(&source)
        .arg("-ldl")
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built.stderr));
    let mut command = Command::new(env!("CARGO_BIN_EXE_atom"));
    command
        .arg("-C")
        .arg(&dir)
        .args(["ls", &server.url("set.git"), "beta"])
        .env_remove("ATOM_STORE")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("LD_PRELOAD", &watch);
    for (key, value) in server.client_env() {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(text(&output.stdout).starts_with("beta 0.1.0 "));
    assert!(stderr.contains("atexit-watch: loaded"), "{stderr}");
    assert!(!stderr.contains("OPENSSL_cleanup registered"), "{stderr}");
}
