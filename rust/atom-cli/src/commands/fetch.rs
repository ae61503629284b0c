//! `atom fetch`: fetch published atoms (or mirror a git repository) into the atom store, or fill
//! it with what an atom's lock needs.

use std::path::{Path, PathBuf};

use atom::diagnostic::shell_quote;
use atom::lock::{Lockfile, LOCK_FILE};
use atom::manifest::Requirement;
use atom::remote;
use atom::store::{FillStatus, Store, VersionStatus};
use serde_json::json;

use crate::cli::{
    atom_store, err, fetch_options, in_repo, location, register_root, split_at_version, Result,
};
use crate::output::Output;
use crate::Cli;

/// Fetch published atoms into the atom store.
///
/// The store holds one bare repository per set root. Only what atoms are made of is
/// received (atom commits, trees, manifests); the set's root and each version's source
/// commit are recorded, not downloaded. Each version is verified before it becomes visible.
///
/// With --git, mirrors a plain git repository instead (a direct `nix+git` dependency), so
/// that the evaluator reads its locked revision from the store rather than fetching it.
///
/// With no URL, fills the store from the lock of the atom in --atom DIR (default: -C DIR):
/// exactly the versions it pins, transitively through each dependency's own lock, each from
/// the mirror its lock entry records, else from the set's other mirrors, one listing per
/// mirror at each level of the dependency graph; and the pinned revisions of its direct git
/// dependencies. Prints one line per entry (present, fetched, local, failed and where it was
/// tried); exits 1 when anything the lock needs is still missing.
#[derive(clap::Args)]
pub struct Args {
    /// Where from: https://…, http://…, git://…, ssh://…, user@host:path, gh:owner/repo, a
    /// path, or a git remote of the repository (-C) [default: what the atom's lock needs].
    url: Option<String>,
    /// Only these atoms: `label` or `label@requirement` [default: every published atom].
    atoms: Vec<String>,
    /// The atom store [default: the `atom-store` setting of Nix's configuration (nix.conf,
    /// NIX_CONFIG), as the plugin reads it; else $ATOM_STORE; else
    /// $XDG_CACHE_HOME/atom/store; else ~/.cache/atom/store].
    #[arg(long)]
    store: Option<PathBuf>,
    /// Mirror a direct git dependency rather than fetch an atom set.
    #[arg(long)]
    git: bool,
    /// With no URL: the atom whose lock to fill (relative to -C DIR when given).
    #[arg(long, value_name = "DIR", default_value = ".", conflicts_with_all = ["url", "git"])]
    atom: PathBuf,
}

/// Runs `atom fetch`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    match (&args.url, args.git) {
        (Some(url), true) => fetch_git(cli, url, &atom_store(&args.store)?, out),
        (Some(url), false) => fetch(cli, url, &args.atoms, &atom_store(&args.store)?, out),
        (None, true) => Err("--git needs the URL to mirror".into()),
        (None, false) => {
            if !args.atoms.is_empty() {
                return Err("give the URL to fetch those atoms from".into());
            }
            fetch_lock(
                cli,
                &in_repo(cli, &args.atom),
                &atom_store(&args.store)?,
                out,
            )
        }
    }
}

/// `atom fetch --git`: mirror a plain git repository into the store.
fn fetch_git(cli: &Cli, url: &str, store: &Store, out: &mut Output) -> Result {
    let url = location(cli, url);
    let url = url.as_str();
    let shown = remote::redact(url);
    let mut progress = |n: usize| out.progress(&format!("mirroring {shown}: {n} objects"));
    let (mirror, objects) = store
        .fetch_git_with(url, &fetch_options(cli)?, &mut progress)
        .map_err(err)?;
    out.json(json!({ "repo": mirror, "objects": objects }));
    out.line(format!(
        "mirrored {shown} into {}: {objects} objects",
        mirror.display()
    ));
    Ok(())
}

/// `atom fetch`: fetch published atoms into the store.
fn fetch(cli: &Cli, url: &str, atoms: &[String], store: &Store, out: &mut Output) -> Result {
    let url = location(cli, url);
    let url = url.as_str();
    let mut options = fetch_options(cli)?;
    for atom in atoms {
        let (label, requirement) = split_at_version(atom)?;
        let requirement = requirement
            .map(|r| Requirement::parse(r).map_err(err))
            .transpose()?;
        options.atoms.push((label, requirement));
    }
    let shown = remote::redact(url);
    let mut progress = |n: usize| out.progress(&format!("fetching {shown}: {n} objects"));
    // Held until the fetch is recorded: a collection does not remove the set in between.
    let lock = store.lock_shared().map_err(err)?;
    let fetched = store
        .fetch_with(url, &options, &mut progress)
        .map_err(err)?;
    store.record_fetch(&fetched.root, url).map_err(err)?;
    drop(lock);
    out.json(fetched.to_json());
    for version in &fetched.versions {
        match &version.status {
            VersionStatus::Rejected(reason) => out.line(format!(
                "rejected {} {}: {reason}",
                version.label, version.version
            )),
            VersionStatus::Diverged(reason) => out.warn(&reason.to_string()),
            _ => {}
        }
    }
    out.line(format!(
        "fetched {shown} into {}: {} new refs, {} unchanged, {} objects{}",
        fetched.repo.display(),
        fetched.created.len(),
        fetched.unchanged,
        fetched.objects,
        match fetched.bytes {
            0 => String::new(),
            bytes => format!(" ({bytes} bytes)"),
        }
    ));
    for (label, _) in &options.atoms {
        if !fetched.versions.iter().any(|v| &v.label == label) {
            return Err(format!("{shown} publishes no matching version of {label}"));
        }
    }
    let rejected = fetched.rejected().count();
    match (rejected, fetched.versions.len() - rejected) {
        (0, _) => Ok(()),
        (n, 0) => Err(format!(
            "{n} version{} not fetched from {shown} (see above)",
            if n == 1 { "" } else { "s" }
        )),
        (n, _) => Err(format!(
            "{n} version{} not fetched from {shown} (see above); the others were",
            if n == 1 { "" } else { "s" }
        )),
    }
}

/// `atom fetch` with no URL: fill the store with what the lock of the atom in `dir` needs.
fn fetch_lock(cli: &Cli, dir: &Path, store: &Store, out: &mut Output) -> Result {
    let lock_path = dir.join(LOCK_FILE);
    let Some(lock) = Lockfile::read_if_present(&lock_path).map_err(err)? else {
        return Err(format!(
            "{} does not exist: give the URL to fetch from, or run `atom lock {}` first",
            lock_path.display(),
            shell_quote(&dir.to_string_lossy())
        ));
    };
    let options = fetch_options(cli)?;
    // Before filling: a collection that starts meanwhile keeps what this lock needs.
    register_root(store, dir, true, out);
    let mut progress = |n: usize| out.progress(&format!("fetching: {n} objects"));
    let filled = store
        .fill_from_lock(&lock, &lock_path.to_string_lossy(), &options, &mut progress)
        .map_err(err)?;
    out.json(filled.to_json());
    for entry in &filled.entries {
        let what = match (&entry.version, &entry.kind) {
            (Some(version), _) => format!("{} {version}", entry.label),
            (None, _) => entry.label.to_string(),
        };
        let rev = entry.rev.map(|r| format!(" at {r}")).unwrap_or_default();
        let line = match &entry.status {
            FillStatus::Present => format!("present {what}{rev}"),
            FillStatus::Fetched => format!(
                "fetched {what}{rev} from {}",
                entry
                    .mirror
                    .as_deref()
                    .map(remote::redact)
                    .unwrap_or_default()
            ),
            FillStatus::Local => format!("local {what}: read from the working tree"),
            FillStatus::Failed(tried) => {
                let mut text = format!("missing {what}{rev} (locked by {})", entry.by);
                if tried.is_empty() {
                    text.push_str(": the lock names no mirror for its set");
                }
                for attempt in tried {
                    text.push_str(&format!("\n  tried {}: {}", attempt.mirror, attempt.reason));
                }
                text
            }
        };
        out.line(line);
    }
    let failed = filled.failed().count();
    let fetched = filled
        .entries
        .iter()
        .filter(|e| e.status == FillStatus::Fetched)
        .count();
    let bytes = if filled.bytes > 0 {
        format!(" ({} bytes)", filled.bytes)
    } else {
        String::new()
    };
    match failed {
        0 => {
            out.line(format!(
                "the store has everything {} needs: {fetched} fetched, {} objects{bytes}",
                lock_path.display(),
                filled.objects
            ));
            Ok(())
        }
        n => Err(format!(
            "{n} of the entries {} needs {} still missing (see above); {fetched} fetched",
            lock_path.display(),
            if n == 1 { "is" } else { "are" }
        )),
    }
}
