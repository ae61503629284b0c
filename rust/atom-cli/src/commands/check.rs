//! `atom check`: validate an atom's manifest and lock.

use std::path::{Path, PathBuf};

use atom::lock::{Lockfile, LOCK_FILE};
use atom::manifest::{Manifest, MANIFEST_FILE};
use serde_json::json;

use crate::cli::{err, in_repo, Result};
use crate::output::Output;
use crate::Cli;

/// Validate an atom's manifest (atom.toml) and, if present, its lock (atom.lock).
///
/// Errors point into the file (`atom.toml:2:9: ...`) and show the offending line. Also
/// reported, as by `atom lock --check`: a path the manifest names (`[compose.as] nix`, a
/// composer's entry) that does not exist, and a lock that is missing (when dependencies are
/// declared) or no longer satisfies the manifest.
#[derive(clap::Args)]
pub struct Args {
    /// The atom's directory, or its atom.toml.
    #[arg(default_value = ".")]
    path: PathBuf,
}

/// Runs `atom check`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    check(&in_repo(cli, &args.path), out)
}

/// `atom check`: parse and validate the manifest, then the lock beside it if there is one.
fn check(path: &Path, out: &mut Output) -> Result {
    let (dir, manifest_path) = if path.is_dir() {
        (path.to_owned(), path.join(MANIFEST_FILE))
    } else {
        (
            path.parent().unwrap_or(Path::new(".")).to_owned(),
            path.to_owned(),
        )
    };
    // Not in the middle of an `atom add` or `atom lock` of the atom.
    let _reading = match manifest_path.is_file() && dir.is_dir() {
        true => Some(atom::edit::EditLock::shared(&dir).map_err(err)?),
        false => None,
    };
    let manifest = Manifest::read(&manifest_path).map_err(err)?;
    let mut checked = vec![manifest_path.display().to_string()];
    let lock_path = dir.join(LOCK_FILE);
    let lock = Lockfile::read_if_present(&lock_path).map_err(err)?;
    if lock.is_some() {
        checked.push(lock_path.display().to_string());
    }
    atom::check::manifest_paths_exist(&dir, &manifest).map_err(err)?;
    if !matches!(
        manifest.compose,
        atom::manifest::Compose::As(atom::manifest::ComposeAs::Static(_))
    ) {
        atom::check::lock_covers(&dir, &manifest, lock.as_ref()).map_err(err)?;
    }
    out.json(json!({ "label": manifest.package.label.as_str(), "version": manifest.package.version.to_string(), "checked": checked }));
    out.line(format!(
        "ok: {} {}: {} {} valid",
        manifest.package.label,
        manifest.package.version,
        checked.join(" and "),
        if checked.len() == 1 { "is" } else { "are" }
    ));
    Ok(())
}
