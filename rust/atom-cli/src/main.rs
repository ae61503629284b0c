//! The `atom` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use atom::id::{AtomId, Label, Root};
use atom::lock::{Lockfile, LOCK_FILE};
use atom::manifest::{Manifest, MANIFEST_FILE};
use clap::{Parser, Subcommand};

/// Publish, fetch, list, resolve, lock and verify atoms.
///
/// Exit status: 0 on success, 1 when the command fails (the message says why), 2 on a usage
/// error.
#[derive(Parser)]
#[command(name = "atom", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the AtomId of LABEL in the repository whose root commit is ROOT.
    Id {
        /// The repository's root commit (40 hexadecimal digits).
        root: String,
        /// The atom's label.
        label: String,
    },
    /// Validate an atom's manifest (atom.toml) and, if present, its lock (atom.lock).
    ///
    /// Errors point into the file (`atom.toml:2:9: ...`) and show the offending line.
    Check {
        /// The atom's directory, or its atom.toml.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Id { root, label } => {
            let root = Root::from_hex(&root).map_err(|e| format!("invalid root {root:?}: {e}"))?;
            let label = Label::new(&label).map_err(|e| format!("invalid label {label:?}: {e}"))?;
            println!("{}", AtomId::new(root, label));
            Ok(())
        }
        Command::Check { path } => check(&path),
    }
}

/// `atom check`: parse and validate the manifest, then the lock beside it if there is one.
fn check(path: &Path) -> Result<(), String> {
    let (dir, manifest_path) = if path.is_dir() {
        (path.to_owned(), path.join(MANIFEST_FILE))
    } else {
        (
            path.parent().unwrap_or(Path::new(".")).to_owned(),
            path.to_owned(),
        )
    };
    let manifest = Manifest::read(&manifest_path).map_err(|e| e.to_string())?;
    let mut checked = vec![manifest_path.display().to_string()];
    let lock_path = dir.join(LOCK_FILE);
    if lock_path.exists() {
        Lockfile::read(&lock_path).map_err(|e| e.to_string())?;
        checked.push(lock_path.display().to_string());
    }
    println!(
        "ok: {} {}: {} {} valid",
        manifest.package.label,
        manifest.package.version,
        checked.join(" and "),
        if checked.len() == 1 { "is" } else { "are" }
    );
    Ok(())
}
