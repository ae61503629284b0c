//! Many `atom fetch` processes filling one fresh atom store at the same moment: every one must
//! succeed, and the store must be a sound git repository afterwards.

use atom_test_support as support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::{atom_repo, git, scratch, write};

const PROCESSES: usize = 12;
const ROUNDS: usize = 5;

fn atom(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_atom"))
        .current_dir(dir)
        .args(args)
        .env_remove("ATOM_STORE")
        .output()
        .unwrap()
}

/// A repository with a few published versions of two atoms (enough objects for the fetches to
/// overlap).
fn published_repo(dir: &Path) {
    atom_repo(dir);
    assert!(atom(dir, &["init"]).status.success());
    assert!(atom(dir, &["publish"]).status.success());
    for version in ["1.1.0", "1.2.0", "2.0.0"] {
        write(
            dir,
            "pkgs/a/atom.toml",
            &support::manifest("alpha", version),
        );
        for i in 0..20 {
            write(
                dir,
                &format!("pkgs/a/f{i}.nix"),
                &format!("{{ v = \"{version}-{i}\"; }}\n"),
            );
        }
        git(dir, &["add", "."]);
        git(dir, &["commit", "-q", "-m", version]);
        let output = atom(dir, &["publish", "pkgs/a"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn fetch_all_at_once(dir: &Path, store: &Path, extra: &[&str]) {
    let url = format!("file://{}", dir.join("repo").display());
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_atom"))
                .current_dir(dir)
                .args(["fetch", &url, "--store"])
                .arg(store)
                .args(extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a concurrent `atom fetch {}` failed: {}",
            extra.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn twelve_concurrent_fetches_into_one_fresh_store_all_succeed() {
    let dir = scratch("concurrent-fetch");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    published_repo(&repo);
    let root = git(&repo, &["rev-parse", "refs/ekala/init"]);
    let expected = git(&repo, &["for-each-ref", "refs/eka/atoms"]);
    for round in 0..ROUNDS {
        let store = dir.join(format!("store-{round}"));
        fetch_all_at_once(&dir, &store, &[]);
        let set = store.join(format!("{root}.git"));
        support::fsck_store(&set);
        assert_eq!(git(&set, &["for-each-ref", "refs/eka/atoms"]), expected);
        // Nothing temporary is left behind.
        let leftovers: Vec<_> = walk(&store)
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".tmp-")
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        // Mirrors of plain git repositories are created the same way.
        fetch_all_at_once(&dir, &store, &["--git"]);
        let mirrors: Vec<_> = std::fs::read_dir(store.join("git")).unwrap().collect();
        assert_eq!(mirrors.len(), 1);
        let mirror = mirrors.into_iter().next().unwrap().unwrap().path();
        git(&mirror, &["fsck", "--strict", "--no-dangling"]);
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}
