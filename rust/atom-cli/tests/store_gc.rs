//! `atom store ls` and `atom store gc` as a user meets them: real stores filled by real fetches
//! from real repositories, collected with and without registered roots, and a collection racing
//! fetches in other processes.

use atom_test_support as support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::{atom_repo, fsck_store, git, scratch, write};

fn atom(dir: &Path, store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atom"))
        .current_dir(dir)
        .args(args)
        .env("ATOM_STORE", store)
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(output: Output) -> Value {
    serde_json::from_str(&ok(output)).unwrap()
}

/// A repository publishing alpha 1.0.0 and 2.0.0 and beta 0.1.0.
fn published(dir: &Path, store: &Path) -> String {
    atom_repo(dir);
    ok(atom(dir, store, &["init"]));
    ok(atom(dir, store, &["publish"]));
    write(
        dir,
        "pkgs/a/atom.toml",
        &support::manifest("alpha", "2.0.0"),
    );
    // 20 kB that do not compress.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: String = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    write(dir, "pkgs/a/big.nix", &format!("{{ v = \"{noise}\"; }}\n"));
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "2.0.0"]);
    ok(atom(dir, store, &["publish", "pkgs/a"]));
    format!("file://{}", dir.display())
}

/// An atom directory (its own repository) depending on `deps` of the set at `url`, locked and
/// filled (which registers it as a root).
fn consumer(dir: &Path, store: &Path, url: &str, deps: &str) {
    git(dir, &["init", "-q", "-b", "main"]);
    write(
        dir,
        "atom.toml",
        &format!("[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nlib = \"{url}\"\n\n[deps.from.lib]\n{deps}\n\n[compose.as]\nnix = \".\"\n"),
    );
    write(dir, "mod.nix", "{ X = 1; }\n");
    ok(atom(dir, store, &["lock"]));
    ok(atom(dir, store, &["fetch"]));
}

/// The `label version` pairs `atom store ls --json` lists.
fn versions(dir: &Path, store: &Path) -> Vec<String> {
    let listing = json(atom(dir, store, &["--json", "store", "ls"]));
    let mut found: Vec<String> = listing["sets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["versions"].as_array().unwrap().clone())
        .map(|v| {
            format!(
                "{} {}",
                v["label"].as_str().unwrap(),
                v["version"].as_str().unwrap()
            )
        })
        .collect();
    found.sort();
    found
}

fn set_dirs(store: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "git"))
        .collect()
}

#[test]
fn ls_names_sets_versions_mirrors_and_sizes() {
    let base = scratch("store-ls");
    let store = base.join("store");
    let url = published(&base.join("repo").tap_mkdir(), &store);
    ok(atom(&base, &store, &["fetch", &url]));
    let listing = json(atom(&base, &store, &["--json", "store", "ls"]));
    let set = &listing["sets"][0];
    assert_eq!(set["fetched"]["url"], url.as_str());
    assert!(set["bytes"].as_u64().unwrap() > 20_000, "{listing}");
    assert_eq!(
        versions(&base, &store),
        ["alpha 1.0.0", "alpha 2.0.0", "beta 0.1.0"]
    );
    for version in set["versions"].as_array().unwrap() {
        assert_eq!(version["mirrors"], serde_json::json!([url]), "{listing}");
        assert!(version["tree"].is_string());
    }
    let text = ok(atom(&base, &store, &["store", "ls"]));
    assert!(text.contains(&format!("last fetched from {url}")), "{text}");
    assert!(
        text.contains("1 set, 3 versions, 0 trees and 0 git mirrors"),
        "{text}"
    );
}

#[test]
fn gc_keeps_what_the_given_atoms_need_and_frees_the_rest() {
    let base = scratch("store-gc-dirs");
    let store = base.join("store");
    let url = published(&base.join("repo").tap_mkdir(), &store);
    let app = base.join("app").tap_mkdir();
    consumer(&app, &store, &url, "alpha = \"^1\"");
    ok(atom(&base, &store, &["fetch", &url]));
    assert_eq!(versions(&base, &store).len(), 3);
    // Another set, which app needs nothing of.
    let second = base.join("second").tap_mkdir();
    git(&second, &["init", "-q", "-b", "main"]);
    write(&second, "ekala.toml", "[set]\npackages = [\"g\"]\n");
    support::trivial_atom(&second, "g", "gamma", "1.0.0");
    git(&second, &["add", "."]);
    git(&second, &["commit", "-q", "-m", "second"]);
    ok(atom(&second, &store, &["init"]));
    ok(atom(&second, &store, &["publish"]));
    ok(atom(
        &base,
        &store,
        &["fetch", &format!("file://{}", second.display())],
    ));
    assert_eq!(set_dirs(&store).len(), 2);

    // A dry run removes nothing.
    let dry = json(atom(
        &base,
        &store,
        &["--json", "store", "gc", "--dry-run", "app"],
    ));
    assert_eq!(
        dry["removed_versions"].as_array().unwrap().len(),
        3,
        "{dry}"
    );
    assert_eq!(versions(&base, &store).len(), 4);

    let url_set = store.join(format!(
        "{}.git",
        json(atom(&base, &store, &["--json", "store", "ls"]))["sets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["fetched"]["url"] == url.as_str())
            .unwrap()["root"]
            .as_str()
            .unwrap()
    ));
    let before = dir_bytes(&url_set);
    let text = ok(atom(&base, &store, &["store", "gc", "app"]));
    assert!(text.contains("removed alpha 2.0.0"), "{text}");
    assert!(text.contains("removed beta 0.1.0"), "{text}");
    assert!(text.contains("kept 1 version for 1 root"), "{text}");
    assert!(text.contains("removed gamma 1.0.0"), "{text}");
    // The set app needs nothing of is gone whole.
    assert_eq!(set_dirs(&store).len(), 1, "{text}");
    assert_eq!(versions(&base, &store), ["alpha 1.0.0"]);
    let after = dir_bytes(&url_set);
    assert!(
        after + 15_000 < before,
        "the 20 kB file of alpha 2.0.0 is gone: {before} -> {after}"
    );
    for set in set_dirs(&store) {
        fsck_store(&set);
    }
    // What the lock needs is all there: filling fetches nothing.
    let filled = json(atom(&app, &store, &["--json", "fetch"]));
    assert_eq!(filled["objects"], 0, "{filled}");
    assert!(filled["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["status"] == "present"));

    // A directory without a lock is refused, saying why.
    let refused = atom(&base, &store, &["store", "gc", "repo"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("has no atom.lock"));
}

#[test]
fn gc_without_arguments_keeps_what_the_registered_roots_need() {
    let base = scratch("store-gc-roots");
    let store = base.join("store");
    let url = published(&base.join("repo").tap_mkdir(), &store);
    let app = base.join("app").tap_mkdir();
    let other = base.join("other").tap_mkdir();
    consumer(&app, &store, &url, "alpha = \"^1\"");
    consumer(&other, &store, &url, "beta = \"^0.1\"");
    ok(atom(&base, &store, &["fetch", &url]));

    let out = ok(atom(&base, &store, &["store", "gc"]));
    assert!(out.contains("kept 2 versions for 2 roots"), "{out}");
    assert_eq!(versions(&base, &store), ["alpha 1.0.0", "beta 0.1.0"]);

    // A root whose lock is gone is dropped, and what only it needed goes.
    std::fs::remove_file(other.join("atom.lock")).unwrap();
    let out = ok(atom(&base, &store, &["store", "gc"]));
    assert!(out.contains("kept 1 version for 1 root"), "{out}");
    assert_eq!(versions(&base, &store), ["alpha 1.0.0"]);
    assert_eq!(std::fs::read_dir(store.join("roots")).unwrap().count(), 1);
}

/// Collections racing fetches of the whole set in other processes: every command succeeds, and
/// what the root needs is never lost.
#[test]
fn gc_racing_fetches_loses_nothing_needed() {
    let base = scratch("store-gc-race");
    let store = base.join("store");
    let url = published(&base.join("repo").tap_mkdir(), &store);
    let app = base.join("app").tap_mkdir();
    consumer(&app, &store, &url, "alpha = \"^1\"");
    for _ in 0..4 {
        let spawn = |dir: &Path, args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_atom"))
                .current_dir(dir)
                .args(args)
                .env("ATOM_STORE", &store)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let children = vec![
            spawn(&base, &["fetch", &url]),
            spawn(&base, &["store", "gc"]),
            spawn(&app, &["fetch"]),
            spawn(&base, &["fetch", &url]),
            spawn(&base, &["store", "gc", "app"]),
            spawn(&base, &["fetch", &url]),
        ];
        for child in children {
            ok(child.wait_with_output().unwrap());
        }
        let filled = json(atom(&app, &store, &["--json", "fetch"]));
        assert_eq!(filled["objects"], 0, "{filled}");
        for set in set_dirs(&store) {
            fsck_store(&set);
        }
    }
    ok(atom(&base, &store, &["store", "gc"]));
    assert_eq!(versions(&base, &store), ["alpha 1.0.0"]);
}

fn dir_bytes(path: &Path) -> u64 {
    let metadata = std::fs::symlink_metadata(path).unwrap();
    if !metadata.is_dir() {
        return metadata.len();
    }
    std::fs::read_dir(path)
        .unwrap()
        .map(|e| dir_bytes(&e.unwrap().path()))
        .sum()
}

trait TapMkdir {
    fn tap_mkdir(self) -> PathBuf;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> PathBuf {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

/// Git mirrors (direct `nix+git` dependencies): listed with their URL, kept while a lock pins a
/// revision of theirs, removed otherwise.
#[test]
fn gc_keeps_the_git_mirrors_a_lock_pins() {
    let base = scratch("store-gc-git");
    let store = base.join("store");
    let url = published(&base.join("repo").tap_mkdir(), &store);
    let mut sources = Vec::new();
    for name in ["used", "unused"] {
        let src = base.join(name).tap_mkdir();
        git(&src, &["init", "-q", "-b", "main"]);
        write(&src, "default.nix", &format!("{{ name = \"{name}\"; }}\n"));
        git(&src, &["add", "."]);
        git(&src, &["commit", "-q", "-m", name]);
        let src_url = format!("file://{}", src.display());
        ok(atom(&base, &store, &["fetch", "--git", &src_url]));
        sources.push(src_url);
    }
    let app = base.join("app").tap_mkdir();
    consumer(&app, &store, &url, "alpha = \"^1\"");
    ok(atom(
        &app,
        &store,
        &[
            "add",
            "--git",
            &sources[0],
            "--ref",
            "main",
            "--name",
            "src",
        ],
    ));

    let listing = json(atom(&base, &store, &["--json", "store", "ls"]));
    let mut urls: Vec<&str> = listing["git"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["url"].as_str().unwrap())
        .collect();
    urls.sort();
    let mut expected: Vec<&str> = sources.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(urls, expected, "{listing}");

    let collected = json(atom(&base, &store, &["--json", "store", "gc", "app"]));
    assert_eq!(
        collected["removed_mirrors"].as_array().unwrap().len(),
        1,
        "{collected}"
    );
    let listing = json(atom(&base, &store, &["--json", "store", "ls"]));
    assert_eq!(listing["git"][0]["url"], sources[0].as_str(), "{listing}");
    assert_eq!(listing["git"].as_array().unwrap().len(), 1, "{listing}");
}

/// A version of which the store holds only what locking read (the mirror's record and a mark
/// under `refs/atom/partial/`, no store refs: online `atom lock` from a filtering server) is not
/// kept by a collection, even when a lock pins it: it is not what the lock needs, and a set written
/// anew holds whole versions only. A mark left beside the store's own ref (a fetch cut short
/// between its refs and removing the mark) does not make a whole version partial.
#[test]
fn gc_drops_versions_fetched_only_to_lock_them() {
    let base = scratch("store-gc-partial");
    let store = base.join("store");
    let url = published(&base.join("repo").tap_mkdir(), &store);
    let app = base.join("app").tap_mkdir();
    consumer(&app, &store, &url, "alpha = \"^1\"\nbeta = \"*\"");
    let set = set_dirs(&store).remove(0);
    let record = |label: &str, version: &str| {
        let name = git(
            &set,
            &["for-each-ref", "--format=%(refname)", "refs/atom/mirrors/"],
        )
        .lines()
        .find(|r| r.ends_with(&format!("/{label}/{version}")))
        .unwrap()
        .to_owned();
        let key = name.split('/').nth(3).unwrap().to_owned();
        (key, git(&set, &["rev-parse", &name]))
    };
    let (key, beta) = record("beta", "0.1.0");
    git(
        &set,
        &[
            "update-ref",
            &format!("refs/atom/partial/{key}/beta/0.1.0"),
            &beta,
        ],
    );
    for name in [
        "refs/eka/atoms/beta/0.1.0",
        "refs/eka/meta/beta/0.1.0/manifest",
        "refs/eka/meta/beta/0.1.0/origin",
    ] {
        git(&set, &["update-ref", "-d", name]);
    }
    let (key, alpha) = record("alpha", "1.0.0");
    git(
        &set,
        &[
            "update-ref",
            &format!("refs/atom/partial/{key}/alpha/1.0.0"),
            &alpha,
        ],
    );
    ok(atom(&base, &store, &["store", "gc", app.to_str().unwrap()]));
    assert_eq!(versions(&base, &store), ["alpha 1.0.0"]);
    let left = git(&set, &["for-each-ref", "--format=%(refname)"]);
    assert!(
        !left.contains("beta") && !left.contains("refs/atom/partial/"),
        "{left}"
    );
    fsck_store(&set);
    // The lock's beta comes back whole; alpha was whole all along.
    let filled = json(atom(&app, &store, &["--json", "fetch"]));
    let status = |label: &str| {
        filled["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["label"] == label)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("alpha"), "present", "{filled}");
    assert_eq!(status("beta"), "fetched", "{filled}");
}
