//! `atom add`: add a dependency to an atom's `atom.toml` (keeping its formatting) and lock it;
//! both files change, or neither does.

use std::path::{Path, PathBuf};

use atom::edit::{self, DirectSource};
use atom::id::Label;
use atom::lock::integrity::INTEGRITY_FILE;
use atom::lock::{LockedDep, LOCK_FILE};
use atom::manifest::{Manifest, Mirror, Requirement, MANIFEST_FILE};
use atom::remote;
use atom::resolve::locking::{self, Update};
use atom::store::{FetchOptions, Store};
use atom::uri::AtomUri;
use serde_json::json;

use crate::cli::{atom_store, edit_lock, fetch_options, in_repo, test_pause, Result};
use crate::output::Output;
use crate::Cli;

/// Add a dependency to an atom's atom.toml and lock it: both files change, or neither.
///
/// atom.toml keeps its formatting and comments. An atom from a set not yet declared gets a
/// `[package.sets]` entry.
#[derive(clap::Args)]
pub struct Args {
    /// The atom to add: `[url]::label[@requirement]` (e.g. `::lib`, `file:///srv/repo::lib@^1`,
    /// `gh:owner/repo::lib`); without a requirement, `^` the version it locks.
    #[arg(required_unless_present_any = ["git", "tar"], conflicts_with_all = ["git", "tar"])]
    uri: Option<String>,
    /// A direct Nix dependency: a git repository (at HEAD, or at --ref).
    #[arg(long, value_name = "URL", conflicts_with = "tar")]
    git: Option<String>,
    /// The ref of --git to lock (a branch, a tag).
    #[arg(long = "ref", value_name = "REF", requires = "git")]
    reference: Option<String>,
    /// A direct Nix dependency: a tarball.
    #[arg(long, value_name = "URL")]
    tar: Option<String>,
    /// The name of a direct dependency [default: from its URL].
    #[arg(long, conflicts_with = "uri")]
    name: Option<String>,
    /// The atom's directory (relative to -C DIR when given).
    #[arg(long, default_value = ".")]
    path: PathBuf,
    /// The atom store [default: as for `fetch`].
    #[arg(long)]
    store: Option<PathBuf>,
}

/// Runs `atom add`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    // A password typed in a URL serves this command and is never written down.
    let mut options = fetch_options(cli)?;
    let mut recorded = |url: &String| {
        options.remote.credentials.remember(url);
        remote::without_credentials(url)
    };
    let dependency = match (&args.uri, &args.git, &args.tar) {
        (Some(uri), ..) => Dependency::Atom(uri),
        (None, Some(url), _) => Dependency::Direct {
            name: args.name.as_deref(),
            source: DirectSource::Git {
                url: recorded(url),
                reference: args.reference.clone(),
            },
        },
        (None, None, Some(url)) => Dependency::Direct {
            name: args.name.as_deref(),
            source: DirectSource::Tar(recorded(url)),
        },
        (None, None, None) => return Err("give an atom URI, --git URL or --tar URL".into()),
    };
    add(
        &in_repo(cli, &args.path),
        dependency,
        &atom_store(&args.store)?,
        &options,
        out,
    )
}

/// What to add.
enum Dependency<'a> {
    /// An atom: `[url]::label[@requirement]`.
    Atom(&'a str),
    /// A direct Nix dependency.
    Direct {
        /// Its name (derived from the URL when absent).
        name: Option<&'a str>,
        /// Where it is.
        source: DirectSource,
    },
}

/// Adds `dependency` to the atom in `dir` and locks it (fetching what the store lacks from the
/// set's mirrors with `options`).
fn add(
    dir: &Path,
    dependency: Dependency,
    store: &Store,
    options: &FetchOptions,
    out: &mut Output,
) -> Result {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let manifest_path = dir.join(MANIFEST_FILE);
    // Read and validated as `atom check` does (a regular file, a valid manifest); then again
    // once no other edit of the atom runs, which is what is edited.
    Manifest::read_atom(dir).map_err(|e| err(&e))?;
    let editing = edit_lock(dir, out)?;
    let manifest = Manifest::read_atom(dir).map_err(|e| err(&e))?;
    let text = atom::diagnostic::read_text(&manifest_path).map_err(|e| err(&e))?;
    let shown = manifest_path.display().to_string();
    let reparse = |text: &str| Manifest::parse(text, &shown).map_err(|e| err(&e));
    let lock_path = dir.join(LOCK_FILE);
    // A password typed in a URL is used for this command's connections and never written: the
    // manifest and the lock get the URL without it.
    let mut options = options.clone();

    let (text, lock, what) =
        match dependency {
            Dependency::Atom(uri) => {
                let uri = AtomUri::parse(uri, &options.aliases).map_err(|e| err(&e))?;
                let (mirror, proposed) = match &uri.url {
                    None => (Mirror::Local, "local".to_owned()),
                    Some(url) => {
                        let typed = url.to_string();
                        options.remote.credentials.remember(&typed);
                        let url = remote::without_credentials(&typed);
                        let tag = edit::tag_for_url(&url);
                        (Mirror::Url(url), tag)
                    }
                };
                let (tag, new_set) = edit::set_for_mirror(&manifest, &mirror, &proposed);
                let new_set = new_set.then_some(&mirror);
                let any = Requirement::parse("*").map_err(|e| err(&e))?;
                let requirement = uri.version.clone().unwrap_or(any);
                let edited = edit::add_atom_dep(
                    &text,
                    &manifest_path,
                    &tag,
                    new_set,
                    &uri.label,
                    &requirement,
                )
                .map_err(|e| err(&e))?;
                let lock = lock(dir, &reparse(&edited)?, store, &options, &uri.label)?;
                let version = lock
                    .lock
                    .deps
                    .iter()
                    .find_map(|d| match d {
                        LockedDep::Atom(a) if a.label == uri.label => Some(a.version.clone()),
                        _ => None,
                    })
                    .ok_or("the lock does not pin the added atom")?;
                // Like `cargo add`: no requirement given means "this version or a compatible one".
                let (edited, requirement) = match &uri.version {
                    Some(given) => (edited, given.to_string()),
                    None => {
                        let caret =
                            Requirement::parse(&format!("^{version}")).map_err(|e| err(&e))?;
                        let text = edit::add_atom_dep(
                            &text,
                            &manifest_path,
                            &tag,
                            new_set,
                            &uri.label,
                            &caret,
                        )
                        .map_err(|e| err(&e))?;
                        reparse(&text)?;
                        (text, caret.to_string())
                    }
                };
                let set = match new_set {
                    Some(m) => format!(" (new set {tag} = {m:?})", m = mirror_text(m)),
                    None => format!(" (set {tag})"),
                };
                (
                    edited,
                    lock,
                    format!("{} {requirement}{set}, locked at {version}", uri.label),
                )
            }
            Dependency::Direct { name, source } => {
                let url = match &source {
                    DirectSource::Git { url, .. } | DirectSource::Tar(url) => url.clone(),
                };
                let name = match name {
                Some(name) => Label::parse(name).map_err(|e| err(&e))?,
                None => Label::parse(&edit::tag_for_url(&url).replace("set-", "")).map_err(|e| {
                    format!("cannot name the dependency after {url} ({e}); give a name with --name")
                })?,
            };
                let edited = edit::add_direct_dep(&text, &manifest_path, &name, &source)
                    .map_err(|e| err(&e))?;
                let lock = lock(dir, &reparse(&edited)?, store, &options, &name)?;
                (edited, lock, format!("{name} ({url})"))
            }
        };
    for skipped in &lock.skipped {
        out.warn(&skipped.to_string());
    }
    let complete = lock.unrecorded.is_empty();
    let (lock, integrity) = (lock.lock, lock.integrity);
    let lock_text = match atom::diagnostic::read_text_if_present(&lock_path).map_err(|e| err(&e))? {
        Some(current) => atom::lock::edit::rewrite(&current, &lock),
        None => lock.render(),
    };
    let integrity_text = integrity.render();
    let mut files = vec![
        (MANIFEST_FILE, text.as_str()),
        (LOCK_FILE, lock_text.as_str()),
    ];
    if complete && (!integrity.atoms.is_empty() || dir.join(INTEGRITY_FILE).exists()) {
        files.push((INTEGRITY_FILE, integrity_text.as_str()));
    }
    editing
        .replace(&files, &mut test_pause)
        .map_err(|e| err(&e))?;
    out.json(json!({ "added": what, "manifest": manifest_path, "lock": lock_path }));
    out.line(format!("added {what} to {}", manifest_path.display()));
    Ok(())
}

fn mirror_text(mirror: &Mirror) -> String {
    match mirror {
        Mirror::Local => "::".to_owned(),
        Mirror::Url(url) => url.clone(),
    }
}

/// The lock of `manifest` (the atom in `dir`), re-resolving `name`.
fn lock(
    dir: &Path,
    manifest: &Manifest,
    store: &Store,
    options: &FetchOptions,
    name: &Label,
) -> Result<locking::Locked> {
    let update = Update::Only(vec![name.clone()]);
    locking::lock_manifest(dir, manifest, store, &update, Some(options))
        .map_err(|e| format!("cannot lock the new dependency, so nothing was changed: {e}"))?
        .ok_or_else(|| "a static atom has no dependencies".to_owned())
}
