//! The garbage-collection stress tier: the composer, std and lock-driven imports run many times
//! in one evaluation under small initial heaps and frequent collections, and every result is
//! checked exactly. A `Value *` that the collector cannot see (held only in `malloc`'d memory
//! while something allocates) is freed and reused under these conditions, which shows up as a
//! crash (SIGABRT) or a wrong value.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::support::{self, git, write};
use common::{nix_command, plugin, scratch, stderr, stdout};

/// (GC_INITIAL_HEAP_SIZE, GC_FREE_SPACE_DIVISOR): tiny heaps collect constantly; a larger
/// divisor makes the collector run more often at every size.
const HEAPS: &[(&str, &str)] = &[
    ("100000", "3"),
    ("1000000", "3"),
    ("1000000", "100"),
    ("8000000", "3"),
    ("64000000", "3"),
];

/// Members of the generated atom.
const MEMBERS: u64 = 300;
/// How many times the atom is loaded in one evaluation.
const LOADS: u64 = 150;

/// An atom of `MEMBERS` member files, a `mod.nix` with its own attributes and std calls, and a
/// submodule using `pre`: `Total` sums every member's `v`, `Names` measures the strings.
fn big_atom(dir: &Path) {
    write(
        dir,
        "atom.toml",
        "[package]\nlabel = \"big\"\nversion = \"1.0.0\"\n\n[compose.as]\nnix = \"src\"\n",
    );
    let src = dir.join("src");
    for i in 0..MEMBERS {
        write(
            &src,
            &format!("P{i}.nix"),
            &format!("{{ v = {i}; s = \"m{i}\"; l = [ {i} ]; }}\n"),
        );
    }
    write(
        &src,
        "mod.nix",
        r#"let
  members = std.filter (n: std.substring 0 1 n == "p") (std.attrNames mod);
in
{
  Total = std.foldl' (acc: n: acc + mod.${n}.v) 0 members;
  Names = std.stringLength (std.concatStringsSep "" (std.map (n: mod.${n}.s) members));
  Combined = std.length (std.attrNames (std.set.merge (std.map (n: { ${n} = mod.${n}.l; }) members)));
  Fixed = (std.fix (self: { a = 1; b = self.a + 1; })).b;
  Sub = mod.sub;
}
"#,
    );
    write(
        &src.join("sub"),
        "mod.nix",
        "{ Seen = pre.p7.v + std.length (std.attrNames pre); }\n",
    );
}

/// The exact value of one load's checksum (see `checksum_expr`).
fn expected_per_load() -> u64 {
    let total: u64 = (0..MEMBERS).sum();
    let names: u64 = (0..MEMBERS).map(|i| format!("m{i}").len() as u64).sum();
    let merged = MEMBERS;
    // `Seen`: pre.p7.v plus the parent's members without `pre` and `outPath`.
    let seen = 7 + MEMBERS + 5;
    // The checksum adds `names` a second time, from the public set.
    total + names + merged + 2 + seen + names
}

/// A Nix expression that loads the atom at `dir` (an expression for it) `LOADS` times and sums
/// each load's checksum, forcing every member.
fn checksum_expr(load: &str) -> String {
    format!(
        "builtins.foldl' (acc: i: acc + (let a = {load}; in a.total + a.names + a.combined + a.fixed + a.sub.seen \
         + builtins.foldl' (s: n: s + (if builtins.substring 0 1 n == \"p\" then builtins.stringLength a.${{n}}.s else 0)) 0 (builtins.attrNames a))) \
         0 (builtins.genList (x: x) {LOADS})"
    )
}

fn run_under_heaps(what: &str, expr: &str, expected: u64, extra: &[&str]) {
    let mut failures = Vec::new();
    for (heap, divisor) in HEAPS {
        let home = scratch("gc-home");
        let output = nix_command("nix-instantiate", &home)
            .env("GC_INITIAL_HEAP_SIZE", heap)
            .env("GC_FREE_SPACE_DIVISOR", divisor)
            .args(["--store", "dummy://", "--option", "plugin-files"])
            .arg(plugin())
            .args(extra)
            .args(["--eval", "--strict", "--expr", expr])
            .output()
            .expect("nix-instantiate runs");
        let got = stdout(&output);
        if !output.status.success() || got != expected.to_string() {
            failures.push(format!(
                "{what} with GC_INITIAL_HEAP_SIZE={heap} GC_FREE_SPACE_DIVISOR={divisor}: {:?}, printed {got:?}, expected {expected}\n{}",
                output.status,
                stderr(&output).lines().take(8).collect::<Vec<_>>().join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_composer_and_std_survive_collections() {
    let dir = scratch("gc-compose").nest("big");
    big_atom(&dir);
    let per_load = expected_per_load();
    // Every member is public (`P<i>` is `p<i>`), so the sum over attrNames reads each one.
    let import = format!("builtins.atom.import {}", dir.display());
    run_under_heaps(
        "builtins.atom.import",
        &checksum_expr(&import),
        per_load * LOADS,
        &[],
    );
    // The bare composer, with a `cfg` and an `extern` built by the caller.
    let compose = format!(
        "builtins.atom.compose {}/src {{ config = {{ n = i; }}; extern = {{ x = [ i ]; }}; }}",
        dir.display()
    );
    run_under_heaps(
        "builtins.atom.compose",
        &checksum_expr(&compose),
        per_load * LOADS,
        &[],
    );
}

/// The `atom` CLI, checked to be built from the current sources.
fn atom_cli() -> PathBuf {
    support::artifact("atom", &["rust/atom/src", "rust/atom-cli/src"])
}

fn atom_ok(store: &Path, dir: &Path, args: &[&str]) {
    let output = Command::new(atom_cli())
        .current_dir(dir)
        .env("ATOM_STORE", store)
        .args(args)
        .output()
        .expect("atom runs");
    assert!(
        output.status.success(),
        "atom {args:?}: {}",
        stderr(&output)
    );
}

#[test]
fn lock_driven_imports_survive_collections() {
    // `lib` (100 members) published and fetched into a store; `app` depends on it and on a local
    // `nix+git` pin, and is imported many times in one evaluation.
    let base = scratch("gc-deps");
    let repo = base.join("repo");
    let store = base.join("store");
    fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    write(&repo, "ekala.toml", "[set]\npackages = [\"lib\"]\n");
    write(
        &repo,
        "lib/atom.toml",
        "[package]\nlabel = \"lib\"\nversion = \"1.0.0\"\n\n[package.sets]\nbs = \"::\"\n\n[compose.as]\nnix = \".\"\n",
    );
    write(&repo, "lib/atom.lock", support::TRIVIAL_LOCK);
    let mut members = String::new();
    for i in 0..100 {
        write(
            &repo,
            &format!("lib/F{i}.nix"),
            &format!("{{ v = {i}; }}\n"),
        );
        members.push_str(&format!("mod.f{i}.v + "));
    }
    write(
        &repo,
        "lib/mod.nix",
        &format!("{{ Sum = {members}0; Names = std.attrNames mod; }}\n"),
    );
    write(&repo, "data/value.nix", "{ n = 5; }\n");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "lib"]);
    atom_ok(&store, &repo, &["init"]);
    atom_ok(&store, &repo, &["publish"]);
    let url = format!("file://{}", repo.display());
    atom_ok(&store, &base, &["fetch", &url]);
    let app = base.join("app");
    write(
        &app,
        "atom.toml",
        &format!(
            "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nbs = \"{url}\"\n\n[compose.as]\nnix = \".\"\n\n[deps.from.bs]\nlib = \"^1\"\n\n[deps.direct.nix]\ndata.git = \"file://{}\"\n",
            repo.display()
        ),
    );
    write(
        &app,
        "mod.nix",
        "{ Total = deps.from.bs.lib.sum + std.length deps.from.bs.lib.names + (deps.pins.data.import \"data/value.nix\").n; }\n",
    );
    atom_ok(&store, &app, &["lock"]);
    let expected_one: u64 = (0..100).sum::<u64>() + 103 + 5;
    let expr = format!(
        "builtins.foldl' (acc: i: acc + (builtins.atom.import {}).total) 0 (builtins.genList (x: x) {LOADS})",
        app.display()
    );
    let store_arg = store.display().to_string();
    run_under_heaps(
        "lock-driven builtins.atom.import",
        &expr,
        expected_one * LOADS,
        &["--option", "atom-store", &store_arg],
    );
}
