//! `atom store verify|ls|gc`: manage the atom store.

use std::path::PathBuf;

use atom::store::Store;

use crate::cli::{atom_store, counted, err, in_repo, Result};
use crate::output::Output;
use crate::Cli;

/// Manage the atom store.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Check the atom store, like `nix store verify`: deep-check every materialised tree
    /// (trees/<tree> and trees/nix/<tree>: every file's content hash, modes, symlink targets, no
    /// extra or missing entry) against the git tree it was written from, and verify every
    /// published atom of every set repository.
    ///
    /// Reports each problem; exits 1 if any is found (and, with --repair, not repaired).
    Verify {
        /// Delete each tree that differs and write it again from git.
        #[arg(long)]
        repair: bool,
        /// The atom store [default: as for `fetch`].
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// List what the atom store holds: each set (its root, where it was last fetched from, its
    /// versions and the mirrors that served each), the materialised trees and the git mirrors,
    /// with their sizes.
    Ls {
        /// The atom store [default: as for `fetch`].
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Remove what no lock needs from the atom store, and say what was freed.
    ///
    /// Keeps what the locks of the given atom directories need, transitively (through the
    /// published lock of each locked atom); with none, what the locks of the registered roots
    /// need (`atom lock` and `atom fetch` register the atom directory they run in, in
    /// <store>/roots/; entries whose directory or lock is gone are dropped). Removes the other
    /// versions, the sets left with none, and the git mirrors and materialised trees no lock
    /// needs. Waits for running fetches; fetches started meanwhile wait for it.
    Gc {
        /// The atom directories whose locks to keep [default: the registered roots].
        atom_dirs: Vec<PathBuf>,
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// The atom store [default: as for `fetch`].
        #[arg(long)]
        store: Option<PathBuf>,
    },
}

/// Runs `atom store`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    match &args.command {
        Command::Verify { repair, store } => store_verify(&atom_store(store)?, *repair, out),
        Command::Ls { store } => store_ls(&atom_store(store)?, out),
        Command::Gc {
            atom_dirs,
            dry_run,
            store,
        } => {
            let dirs: Vec<PathBuf> = atom_dirs.iter().map(|d| in_repo(cli, d)).collect();
            store_gc(&atom_store(store)?, &dirs, *dry_run, out)
        }
    }
}

/// `atom store ls`: what the store holds.
fn store_ls(store: &Store, out: &mut Output) -> Result {
    let inventory = store.inventory().map_err(err)?;
    out.json(inventory.to_json());
    for set in &inventory.sets {
        let from = set
            .fetched
            .as_ref()
            .map(|r| format!(", last fetched from {} on {}", r.url, r.date()))
            .unwrap_or_default();
        out.line(format!("set {} ({} bytes{from})", set.root, set.bytes));
        for v in &set.versions {
            let mirrors = if v.mirrors.is_empty() {
                String::new()
            } else {
                format!(" from {}", v.mirrors.join(", "))
            };
            out.line(format!(
                "  {} {} at {}{mirrors}",
                v.label, v.version, v.commit
            ));
        }
    }
    for tree in &inventory.trees {
        let kind = if tree.nix_only {
            "nix files of tree"
        } else {
            "tree"
        };
        let atoms = if tree.atoms.is_empty() {
            String::new()
        } else {
            format!(" ({})", tree.atoms.join(", "))
        };
        out.line(format!("{kind} {} {} bytes{atoms}", tree.tree, tree.bytes));
    }
    for git in &inventory.git {
        out.line(format!(
            "git mirror {} {} bytes{}",
            git.path.display(),
            git.bytes,
            git.url
                .as_ref()
                .map(|u| format!(" of {u}"))
                .unwrap_or_default()
        ));
    }
    let total: u64 = inventory.sets.iter().map(|s| s.bytes).sum::<u64>()
        + inventory.trees.iter().map(|t| t.bytes).sum::<u64>()
        + inventory.git.iter().map(|g| g.bytes).sum::<u64>();
    out.line(format!(
        "{}, {}, {} and {}: {total} bytes in {}",
        counted(inventory.sets.len(), "set"),
        counted(
            inventory.sets.iter().map(|s| s.versions.len()).sum(),
            "version"
        ),
        counted(inventory.trees.len(), "tree"),
        counted(inventory.git.len(), "git mirror"),
        store.dir().display()
    ));
    Ok(())
}

/// `atom store gc`: remove what no lock needs.
fn store_gc(store: &Store, dirs: &[PathBuf], dry_run: bool, out: &mut Output) -> Result {
    let collected = store.gc(dirs, dry_run).map_err(err)?;
    out.json(collected.to_json());
    let verb = if dry_run { "would remove" } else { "removed" };
    for (root, label, version) in &collected.removed_versions {
        out.line(format!("{verb} {label} {version} (set {root})"));
    }
    for path in &collected.removed_sets {
        out.line(format!("{verb} set {}", path.display()));
    }
    for path in &collected.removed_mirrors {
        out.line(format!("{verb} git mirror {}", path.display()));
    }
    for path in &collected.removed_trees {
        out.line(format!("{verb} tree {}", path.display()));
    }
    if collected.missing > 0 {
        out.warn(&format!(
            "{} the locks need {} not in the store (`atom fetch` in the atom's directory brings them)",
            counted(collected.missing, "entry"),
            if collected.missing == 1 { "is" } else { "are" }
        ));
    }
    out.line(format!(
        "kept {} for {}; {verb} {}, {}, {} and {}: {} bytes {}",
        counted(collected.kept.len(), "version"),
        counted(collected.roots.len(), "root"),
        counted(collected.removed_versions.len(), "version"),
        counted(collected.removed_sets.len(), "set"),
        counted(collected.removed_trees.len(), "tree"),
        counted(collected.removed_mirrors.len(), "git mirror"),
        collected.freed,
        if dry_run {
            "to free (repacking not counted)"
        } else {
            "freed"
        }
    ));
    Ok(())
}

/// `atom store verify`: report every problem of the store; fail if any is left.
fn store_verify(store: &Store, repair: bool, out: &mut Output) -> Result {
    let report = store.verify(repair).map_err(err)?;
    for tree in &report.trees {
        if let Some(problem) = &tree.problem {
            out.line(format!("bad: {problem}"));
            if tree.repaired {
                out.line(format!("repaired: {}", tree.dir.display()));
            }
        }
    }
    for atom in report.atoms.iter().filter(|a| a.problem.is_some()) {
        out.line(format!(
            "bad: {} in {}: {}",
            atom.atom,
            atom.repo.display(),
            atom.problem
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        ));
    }
    let problems = report.trees.iter().filter(|t| t.problem.is_some()).count()
        + report.atoms.iter().filter(|a| a.problem.is_some()).count();
    let repaired = report.trees.iter().filter(|t| t.repaired).count();
    out.json(report.to_json());
    out.line(format!(
        "checked {} and {} in {}: {}, {repaired} repaired",
        counted(report.trees.len(), "tree"),
        counted(report.atoms.len(), "atom"),
        store.dir().display(),
        counted(problems, "problem"),
    ));
    match report.unrepaired() {
        0 => Ok(()),
        n => Err(format!(
            "{n} problem{} in the atom store {}{}",
            if n == 1 { "" } else { "s" },
            store.dir().display(),
            if repair {
                ""
            } else {
                "; run `atom store verify --repair` to rewrite altered trees from git"
            }
        )),
    }
}
