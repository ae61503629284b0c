//! Content digest benchmark: `cargo bench -p atom --bench digest` prints the table of
//! BENCHMARKS.md ("The content digest of a 1000-file atom").
//!
//! An atom of 1000 files (20 directories of 50 `.nix` files, about 1 KiB each, all distinct) is
//! committed; `Repo::tree_digest` of its tree is timed with loose objects and again after
//! `git gc` (one pack), side by side with `git archive` of the same tree to `/dev/null` (git
//! reading every object of it, in one process, without hashing anything). Median of 21 runs.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use atom::repo::{ObjectId, Repo};
use common::{git, ms, scratch, time};

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
