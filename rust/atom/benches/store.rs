//! Store benchmarks: `cargo bench -p atom --bench store` prints the tables of BENCHMARKS.md.
//!
//! 1. Resolving one label's requirement in repositories whose packed refs hold 1k, 10k and 100k
//!    atom versions (the resolved label always has 20 versions), side by side with the `git`
//!    pipeline a script would use: `git for-each-ref refs/eka/atoms/<label>/` and picking the
//!    highest matching version with `sort -V`.
//! 2. Publishing 1000 atoms from one commit.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use atom::id::Label;
use atom::manifest::Requirement;
use atom::publish;
use atom::repo::Repo;
use common::{git, ms, scratch, time};

/// A repository with one published atom commit and `total` atom refs in packed-refs: the label
/// `target` with 20 versions, the rest spread over other labels with 100 versions each.
fn repo_with_refs(total: usize) -> PathBuf {
    let dir = scratch(&format!("refs-{total}"));
    git(&dir, &["init", "-q", "-b", "main"]);
    fs::create_dir_all(dir.join("a")).unwrap();
    fs::write(
        dir.join("a/atom.toml"),
        "[package]\nlabel = \"target\"\nversion = \"0.0.1\"\n\n[compose.as]\nnix = \".\"\n",
    )
    .unwrap();
    // Publishing needs the lock of an evaluated atom.
    fs::write(dir.join("a/atom.lock"), atom::edit::new_lock()).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "init"]);
    publish::publish(&Repo::open(&dir).unwrap(), "HEAD", &["a".into()]).unwrap();
    let commit = git(&dir, &["rev-parse", "refs/eka/atoms/target/0.0.1"]);
    let mut names = Vec::with_capacity(total);
    for v in 0..20 {
        names.push(format!("refs/eka/atoms/target/1.{v}.0"));
    }
    let mut n = 0;
    while names.len() < total {
        names.push(format!(
            "refs/eka/atoms/label-{:05}/{}.{}.0",
            n / 100,
            (n % 100) / 10,
            n % 10
        ));
        n += 1;
    }
    names.sort();
    let mut packed = String::from("# pack-refs with: peeled fully-peeled sorted \n");
    for name in &names {
        let _ = writeln!(packed, "{commit} {name}");
    }
    fs::write(dir.join(".git/packed-refs"), packed).unwrap();
    // The published ref was loose; keep only the packed ones.
    let _ = fs::remove_dir_all(dir.join(".git/refs/eka"));
    dir
}

fn main() {
    let label = Label::new("target").unwrap();
    let requirement = Requirement::parse("^1.5").unwrap();
    println!("Resolve `target@^1.5` (20 versions of the label), median of 21 runs");
    println!();
    println!("| atom refs (packed) | atom: open + resolve | atom: resolve (open repo) | git for-each-ref + sort -V | git / atom (open + resolve) |");
    println!("|---:|---:|---:|---:|---:|");
    for total in [1_000, 10_000, 100_000] {
        let dir = repo_with_refs(total);
        let store = Repo::open(&dir).unwrap();
        assert_eq!(
            store
                .resolve(&label, &requirement)
                .unwrap()
                .version
                .to_string(),
            "1.19.0"
        );
        let open_resolve = time(21, || {
            let store = Repo::open(&dir).unwrap();
            std::hint::black_box(store.resolve(&label, &requirement).unwrap());
        });
        let resolve = time(21, || {
            std::hint::black_box(store.resolve(&label, &requirement).unwrap());
        });
        let pipeline = "git for-each-ref --format='%(refname:lstrip=4)' refs/eka/atoms/target/ | grep -E '^1\\.([5-9]|[1-9][0-9]+)\\.' | sort -V | tail -n 1";
        let git_time = time(21, || {
            let out = Command::new("sh")
                .arg("-c")
                .arg(pipeline)
                .current_dir(&dir)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.19.0");
        });
        println!(
            "| {total} | {} | {} | {} | {:.1}x |",
            ms(open_resolve),
            ms(resolve),
            ms(git_time),
            git_time.as_secs_f64() / open_resolve.as_secs_f64()
        );
        let _ = fs::remove_dir_all(&dir);
    }

    println!();
    println!("Publish 1000 atoms from one commit (one process, `publish` with every path)");
    println!();
    let dir = scratch("publish");
    git(&dir, &["init", "-q", "-b", "main"]);
    let mut paths = Vec::new();
    for i in 0..1000 {
        let path = format!("atoms/a{i:04}");
        fs::create_dir_all(dir.join(&path)).unwrap();
        fs::write(
            dir.join(&path).join("atom.toml"),
            format!("[package]\nlabel = \"a{i:04}\"\nversion = \"1.0.0\"\n\n[compose.as]\nnix = \".\"\n"),
        )
        .unwrap();
        fs::write(
            dir.join(&path).join("mod.nix"),
            format!("{{ Value = {i}; }}\n"),
        )
        .unwrap();
        fs::write(dir.join(&path).join("atom.lock"), atom::edit::new_lock()).unwrap();
        paths.push(path);
    }
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "atoms"]);
    let store = Repo::open(&dir).unwrap();
    let start = Instant::now();
    let outcomes = publish::publish(&store, "HEAD", &paths).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(outcomes.len(), 1000);
    let start = Instant::now();
    publish::publish(&store, "HEAD", &paths).unwrap();
    let again = start.elapsed();
    println!("| atoms | first publish | atoms/s | republish (no-op) |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| 1000 | {} | {:.0} | {} |",
        ms(elapsed),
        1000.0 / elapsed.as_secs_f64(),
        ms(again)
    );
    let _ = fs::remove_dir_all(&dir);
}
