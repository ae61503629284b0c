//! `atom outdated`: which locked atoms have newer versions published.

use std::path::PathBuf;

use atom::manifest::Version;
use atom::remote;
use serde_json::json;

use crate::cli::{atom_store, err, fetch_options, in_repo, Result};
use crate::output::Output;
use crate::Cli;

/// Show which locked atoms have newer versions published: the newest the requirement
/// accepts (`atom lock --update` takes it) and the newest of all (taking it means changing
/// the requirement in atom.toml). Lists each set's mirrors (refs only), or with --offline
/// reads the atom store.
#[derive(clap::Args)]
pub struct Args {
    /// The atom's directory (relative to -C DIR when given).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Use only what the atom store has.
    #[arg(long)]
    offline: bool,
    /// The atom store [default: as for `fetch`].
    #[arg(long)]
    store: Option<PathBuf>,
}

/// Runs `atom outdated`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    let Args {
        path,
        offline,
        store,
    } = args;
    let options = fetch_options(cli)?;
    let found = atom::resolve::outdated::outdated(
        &in_repo(cli, path),
        &atom_store(store)?,
        (!*offline).then_some(&options),
    )
    .map_err(err)?;
    out.json(json!(found.iter().map(|o| o.to_json()).collect::<Vec<_>>()));
    if found.is_empty() {
        out.line("every locked atom is at its newest published version".into());
    }
    for o in &found {
        let show = |v: &Option<Version>| v.as_ref().map_or("-".to_owned(), ToString::to_string);
        out.line(format!(
            "{} {} -> compatible {} ({}), latest {} (at {})",
            o.label,
            o.locked,
            show(&o.compatible),
            o.requirement,
            show(&o.latest),
            remote::redact(&o.seen_at)
        ));
    }
    Ok(())
}
