//! `atom new PATH [--label L]`: create an atom and list it in the repository's `ekala.toml`.

use std::path::{Path, PathBuf};

use atom::edit;
use atom::id::Label;
use atom::manifest::set::SET_MANIFEST_FILE;
use atom::manifest::MANIFEST_FILE;
use serde_json::json;

use crate::cli::{in_repo, Result};
use crate::output::Output;
use crate::Cli;

/// Create an atom: atom.toml, the default.nix its `[compose.as] nix = "."` imports (the same
/// value in this evaluator and the reference's loader), and its entry in the repository's
/// ekala.toml (created when missing).
#[derive(clap::Args)]
pub struct Args {
    /// The atom's directory (relative to -C DIR when given).
    path: PathBuf,
    /// Its label [default: the directory's name].
    #[arg(long)]
    label: Option<String>,
}

/// Runs `atom new`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    new(&in_repo(cli, &args.path), args.label.as_deref(), out)
}

/// Creates the atom at `path` (`atom.toml`, a `default.nix` unless there is one or a `mod.nix`,
/// and its `atom.lock` unless there is one) and lists it in
/// `ekala.toml` at the root of the git repository holding it (created when missing).
fn new(path: &Path, label: Option<&str>, out: &mut Output) -> Result {
    if path.join(MANIFEST_FILE).exists() {
        return Err(format!(
            "{} is already an atom (it has an {MANIFEST_FILE})",
            path.display()
        ));
    }
    let label_text = match label {
        Some(label) => label.to_owned(),
        None => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{}: give the atom's label with --label", path.display()))?,
    };
    let label = Label::parse(&label_text).map_err(|e| {
        if label.is_some() {
            e.to_string()
        } else {
            format!(
                "the directory name {label_text:?} is not a valid label ({e}); give one with --label"
            )
        }
    })?;
    let existed = path.exists();
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let result = create(path, &label, out);
    if result.is_err() && !existed {
        let _ = std::fs::remove_dir(path);
    }
    result
}

fn create(path: &Path, label: &Label, out: &mut Output) -> Result {
    let dir = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let top: PathBuf = dir
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "{} is not inside a git repository: atoms are published from one (run `git init` first)",
                path.display()
            )
        })?;
    // An atom inside another: publishing the outer one takes the inner one's files along.
    if let Some(outer) = dir
        .ancestors()
        .skip(1)
        .take_while(|d| d.starts_with(&top))
        .find(|d| d.join(MANIFEST_FILE).is_file())
    {
        out.warn(&format!(
            "{} is inside the atom at {}: its files become part of that atom's tree when it is published; atoms are usually side by side (e.g. pkgs/a, pkgs/b)",
            path.display(),
            outer.display()
        ));
    }
    let member = dir
        .strip_prefix(&top)
        .ok()
        .filter(|m| !m.as_os_str().is_empty())
        .ok_or("an atom cannot be the repository's root directory: give a subdirectory")?
        .to_string_lossy()
        .into_owned();
    let set_path = top.join(SET_MANIFEST_FILE);
    let set_text = atom::diagnostic::read_text_if_present(&set_path).map_err(|e| e.to_string())?;
    let mut files = vec![(path.join(MANIFEST_FILE), edit::new_manifest(label))];
    let entry = path.join(edit::NEW_ENTRY_FILE);
    let wrote_module = !entry.exists() && !path.join("mod.nix").exists();
    if wrote_module {
        files.push((entry, edit::new_entry(label)));
    }
    // Every evaluated atom is published with its lock (the reference's loader reads it).
    let lock = path.join(atom::lock::LOCK_FILE);
    if !lock.exists() {
        files.push((lock, edit::new_lock()));
    }
    let set =
        edit::add_set_member(set_text.as_deref(), &member, &set_path).map_err(|e| e.to_string())?;
    let listed = set.is_some();
    if let Some(text) = set {
        files.push((set_path.clone(), text));
    }
    edit::write_all(&files).map_err(|e| e.to_string())?;
    out.json(json!({
        "label": label.as_str(),
        "version": "0.1.0",
        "path": path,
        "files": files.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
    }));
    out.line(format!(
        "created atom {label} 0.1.0 in {} ({})",
        path.display(),
        files
            .iter()
            .filter(|(p, _)| p.parent() == Some(path))
            .filter_map(|(p, _)| p.file_name())
            .map(|n| n.to_string_lossy())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if listed {
        out.line(format!(
            "{} {member} in {}",
            if set_text.is_some() {
                "listed"
            } else {
                "created, listing"
            },
            set_path.display()
        ));
    }
    out.line(format!(
        "next: commit, then `atom publish {}`",
        atom::diagnostic::shell_quote(&member)
    ));
    Ok(())
}
