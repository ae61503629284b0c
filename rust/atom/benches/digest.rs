//! Content digest benchmark: `cargo bench -p atom --bench digest` prints the table of
//! BENCHMARKS.md ("The content digest of a 1000-file atom").
//!
//! An atom of 1000 files (20 directories of 50 `.nix` files, about 1 KiB each, all distinct) is
//! committed; `Repo::tree_digest` of its tree is timed with loose objects and again after
//! `git gc` (one pack), side by side with `git archive` of the same tree to `/dev/null` (git
//! reading every object of it, in one process, without hashing anything). Median of 21 runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use atom::repo::{ObjectId, Repo};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("atom-bench-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(runs: usize, mut body: impl FnMut()) -> Duration {
    body();
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                body();
                start.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let dir = scratch("digest");
    git(&dir, &["init", "-q", "-b", "main"]);
    let mut bytes = 0;
    for d in 0..20 {
        for f in 0..50 {
            let text = format!("{{ lib, ... }}:\n# file {d}/{f}\n")
                + &format!(
                    "{{\n  value = {};\n  text = \"{}\";\n}}\n",
                    d * 50 + f,
                    "x".repeat(900 + f)
                );
            bytes += text.len();
            let path = dir.join(format!("dir{d:02}/file{f:02}.nix"));
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
    }
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "files"]);
    let tree_hex = git(&dir, &["rev-parse", "HEAD^{tree}"]);
    let tree = ObjectId::from_hex(tree_hex.as_bytes()).unwrap();
    let runs = 21;

    let atom = |dir: &Path| {
        let repo = Repo::open(dir).unwrap();
        time(runs, || {
            repo.tree_digest(tree).unwrap();
        })
    };
    let archive = |dir: &Path| {
        time(runs, || {
            let status = Command::new("git")
                .current_dir(dir)
                .args(["archive", "--format=tar", &tree_hex])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
        })
    };
    let loose = atom(&dir);
    let loose_git = archive(&dir);
    git(&dir, &["gc", "-q", "--aggressive"]);
    let packed = atom(&dir);
    let packed_git = archive(&dir);

    println!("1000 files, {bytes} bytes of content, 21 trees; median of {runs} runs");
    println!();
    println!("| objects | atom: Repo::tree_digest | git archive > /dev/null | git / atom |");
    println!("|---|---:|---:|---:|");
    for (what, a, g) in [
        ("loose", loose, loose_git),
        ("one pack", packed, packed_git),
    ] {
        println!(
            "| {what} | {} | {} | {:.1}x |",
            ms(a),
            ms(g),
            g.as_secs_f64() / a.as_secs_f64()
        );
    }
    let _ = fs::remove_dir_all(&dir);
}
