//! `atom lock`: resolve an atom's dependencies against the atom store and write its lock.

use std::path::{Path, PathBuf};

use atom::diagnostic::shell_quote;
use atom::lock::integrity::INTEGRITY_FILE;
use atom::lock::{Lockfile, LOCK_FILE};
use atom::resolve::locking;
use atom::store::{FetchOptions, Store};
use serde_json::json;

use crate::cli::{
    atom_store, edit_lock, err, fetch_options, in_repo, parse_label, register_root, test_pause,
    Result,
};
use crate::output::Output;
use crate::Cli;

/// Write atom.lock for an atom: resolve its dependencies against the atom store.
///
/// Entries that still satisfy the manifest are kept; dependencies the manifest no longer
/// declares are dropped. A static atom has no lock. A lock that is already in sync is not
/// written at all; otherwise only the entries that change are rewritten, and the rest of the
/// file (order of sections, comments) is kept.
#[derive(clap::Args)]
pub struct Args {
    /// The atom's directory (relative to -C DIR when given).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Fail if atom.lock is out of date, without writing it.
    #[arg(long)]
    check: bool,
    /// Use only what the atom store has; never fetch from the sets' mirrors.
    #[arg(long)]
    offline: bool,
    /// Re-resolve every dependency, or only the NAMEs given (labels of atoms, names of
    /// direct dependencies), to the highest version its requirement allows. Give PATH
    /// before it: `atom lock app --update lib`.
    #[arg(long, value_name = "NAME", num_args = 0..)]
    update: Option<Vec<String>>,
    /// The atom store [default: as for `fetch`].
    #[arg(long)]
    store: Option<PathBuf>,
}

/// Runs `atom lock`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    let Args {
        path,
        check,
        offline,
        update,
        store,
    } = args;
    let update = match update {
        None => locking::Update::Nothing,
        Some(names) if names.is_empty() => locking::Update::All,
        Some(names) => locking::Update::Only(
            names
                .iter()
                .map(|n| parse_label(n))
                .collect::<Result<_>>()?,
        ),
    };
    let options = fetch_options(cli)?;
    let (dir, store) = (in_repo(cli, path), atom_store(store)?);
    let fetch = (!*offline).then_some(&options);
    lock(&dir, *check, &update, fetch, &store, out)?;
    register_root(&store, &dir, false, out);
    // As `cargo update` does: the newer versions the requirements keep out.
    if !matches!(update, locking::Update::Nothing) {
        if let Ok(found) = atom::resolve::outdated::outdated(&dir, &store, fetch) {
            for o in found.iter().filter(|o| o.compatible.is_none()) {
                if let Some(latest) = &o.latest {
                    out.warn(&format!(
                        "{} {latest} is published, outside the requirement {} (locked: {}); change it in atom.toml to use it (see `atom outdated`)",
                        o.label, o.requirement, o.locked
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `atom lock`: compute the lock (fetching what the store lacks from the mirrors unless `fetch`
/// is `None`); write it when it differs (through a temporary file, renamed into place, changing
/// only the entries that change), or with `--check` only compare it with the file.
fn lock(
    path: &Path,
    check: bool,
    update: &locking::Update,
    fetch: Option<&FetchOptions>,
    store: &Store,
    out: &mut Output,
) -> Result {
    let lock_path = path.join(LOCK_FILE);
    // Another `atom lock` or `atom add` of this atom finishes first; the files are read after.
    let editing = match check {
        true if path.is_dir() => Some(atom::edit::EditLock::shared(path).map_err(err)?),
        false if path.is_dir() => Some(edit_lock(path, out)?),
        _ => None,
    };
    let Some(locked) = locking::lock_with(path, store, update, fetch).map_err(err)? else {
        out.json(json!({ "lock": null, "changed": false }));
        out.line(format!(
            "{} is a static atom: it has no lock",
            path.display()
        ));
        return Ok(());
    };
    let lock = locked.lock;
    atom::check::entries_exist(path).map_err(err)?;
    let current = atom::diagnostic::read_text_if_present(&lock_path).map_err(err)?;
    let previous = current
        .as_deref()
        .and_then(|text| Lockfile::parse(text, &lock_path.to_string_lossy()).ok());
    let changed = !previous
        .as_ref()
        .is_some_and(|p| atom::lock::edit::same(p, &lock));
    // The integrity record: written beside a lock that pins atoms, or one that had it.
    let integrity_path = path.join(INTEGRITY_FILE);
    let integrity_now = atom::diagnostic::read_text_if_present(&integrity_path).map_err(err)?;
    let integrity_text = locked.integrity.render();
    let integrity_changed = (integrity_now.is_some() || !locked.integrity.atoms.is_empty())
        && integrity_now.as_deref() != Some(integrity_text.as_str())
        && locked.unrecorded.is_empty();
    if !locked.unrecorded.is_empty() && !check {
        out.warn(&format!(
            "{INTEGRITY_FILE} not written: {} {} not in the atom store, so {} digest and signer cannot be recorded; run `atom fetch`, then `atom lock`",
            locked.unrecorded.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            if locked.unrecorded.len() == 1 { "is" } else { "are" },
            if locked.unrecorded.len() == 1 { "its" } else { "their" },
        ));
    }
    for skipped in &locked.skipped {
        out.warn(&skipped.to_string());
    }
    if check {
        if changed || (integrity_changed && integrity_now.is_some()) {
            let (file, missing) = match changed {
                true => (&lock_path, current.is_none()),
                false => (&integrity_path, false),
            };
            return Err(format!(
                "{} is out of date{}; run `atom lock {}`",
                file.display(),
                if missing { " (it does not exist)" } else { "" },
                shell_quote(&path.to_string_lossy())
            ));
        }
        out.json(json!({ "lock": lock_path, "changed": false }));
        out.line(format!("{} is up to date", lock_path.display()));
        return Ok(());
    }
    let updates: Vec<String> = previous
        .as_ref()
        .map(|previous| atom::lock::edit::version_changes(previous, &lock))
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut files: Vec<(&str, String)> = Vec::new();
    if changed {
        let text = match &current {
            Some(current) => atom::lock::edit::rewrite(current, &lock),
            None => lock.render(),
        };
        files.push((LOCK_FILE, text));
    }
    if integrity_changed {
        files.push((INTEGRITY_FILE, integrity_text));
    }
    if !files.is_empty() {
        let named: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        match &editing {
            Some(editing) => editing.replace(&named, &mut test_pause).map_err(err)?,
            None => atom::edit::write_all(
                &files
                    .iter()
                    .map(|(n, t)| (path.join(n), t.clone()))
                    .collect::<Vec<_>>(),
            )
            .map_err(err)?,
        }
    }
    for update in &updates {
        out.line(format!("updated {update}"));
    }
    out.json(json!({
        "lock": lock_path,
        "changed": changed,
        "integrity_changed": integrity_changed,
        "updated": updates,
        "skipped": locked.skipped.iter().map(ToString::to_string).collect::<Vec<_>>(),
    }));
    out.line(format!(
        "{} {}",
        if changed { "wrote" } else { "unchanged:" },
        lock_path.display()
    ));
    if integrity_changed {
        out.line(format!("wrote {}", integrity_path.display()));
    }
    Ok(())
}
