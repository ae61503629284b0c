//! `atom resolve`: the highest published version an atom URI accepts.

use std::path::Path;

use atom::id::{AtomId, Label, Root};
use atom::manifest::Requirement;
use atom::remote;
use atom::repo::{AtomRef, Repo};
use atom::store::local_path;
use atom::uri::AtomUri;
use serde_json::json;

use crate::cli::{aliases, err, fetch_options, in_repo, open, remote_name_url, Result};
use crate::output::Output;
use crate::Cli;

/// Resolve `[url]::label[@requirement]` or `label[@requirement]` to the highest matching
/// published version.
#[derive(clap::Args)]
pub struct Args {
    /// What to resolve.
    uri: String,
}

/// Runs `atom resolve`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    resolve(cli, &args.uri, out)
}

/// `atom resolve`: the highest published version an atom URI accepts.
fn resolve(cli: &Cli, uri: &str, out: &mut Output) -> Result {
    let aliases = aliases(cli)?;
    let parsed = AtomUri::parse(uri, &aliases).map_err(err)?;
    let requirement = parsed
        .version
        .clone()
        .unwrap_or(Requirement::parse("*").map_err(err)?);
    let repo = match &parsed.url {
        Some(url) => {
            // The URL as written (an ssh port survives), a git remote's name, or with aliases
            // expanded.
            let written = uri.split_once("::").map(|(u, _)| u).unwrap_or_default();
            let text = match remote_name_url(cli, written) {
                Some(remote) => remote,
                None => match remote::network_url(written, &aliases) {
                    Ok(network) => network,
                    Err(_) => url.to_string(),
                },
            };
            // A bare word (`alice::lib`) that is no remote, alias or existing path: say so,
            // rather than report it as a malformed file URL.
            let missing = !written.is_empty()
                && remote::is_local(written)
                && !written.starts_with("file://")
                && !in_repo(cli, Path::new(written)).exists();
            if missing && text == url.to_string() {
                return Err(if written.contains(['/', '.']) {
                    format!("no repository at {written:?} (in {uri:?}): it does not exist")
                } else {
                    format!(
                        "{written:?} in {uri:?} is not a git remote of this repository, a URL alias, or a directory here; write a URL (https://host/path, user@host:path), a path, or define the alias in $XDG_CONFIG_HOME/eka.toml"
                    )
                });
            }
            match local_path(&text).filter(|p| p.exists()) {
                Some(path) => Repo::open(&path).map_err(err)?,
                None => return resolve_remote(cli, &text, &parsed.label, &requirement, out),
            }
        }
        None => open(cli)?,
    };
    let atom = repo.resolve(&parsed.label, &requirement).map_err(err)?;
    resolved(&atom, repo.genesis().map_err(err)?, out);
    Ok(())
}

/// Reports a resolved atom: `label version rev id`, or the atom's JSON with its `id`.
fn resolved(atom: &AtomRef, root: Root, out: &mut Output) {
    let id = AtomId::new(root, atom.label.clone()).digest();
    let mut value = atom.to_json();
    value["id"] = json!(id.to_string());
    out.json(value);
    out.line(format!(
        "{} {} {} {id}",
        atom.label, atom.version, atom.commit
    ));
}

/// `atom resolve URL::label@req` for a network URL: from the remote's refs, no object.
fn resolve_remote(
    cli: &Cli,
    url: &str,
    label: &Label,
    requirement: &Requirement,
    out: &mut Output,
) -> Result {
    let listing = atom::store::list(url, Some(label), &fetch_options(cli)?).map_err(err)?;
    let root = listing.root.ok_or_else(|| {
        format!(
            "{} has no refs/ekala/init: it publishes no atoms (run `atom init` there first)",
            remote::redact(url)
        )
    })?;
    let atom = atom::repo::select(&listing.atoms, requirement).ok_or_else(|| {
        let versions: Vec<String> = listing
            .atoms
            .iter()
            .map(|a| a.version.to_string())
            .collect();
        if versions.is_empty() {
            format!("{} publishes no version of {label}", remote::redact(url))
        } else {
            format!(
                "{} publishes no version of {label} matching {requirement}; it has {}",
                remote::redact(url),
                versions.join(", ")
            )
        }
    })?;
    resolved(atom, root, out);
    Ok(())
}
