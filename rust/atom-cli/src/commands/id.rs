//! `atom id`: the AtomId of a label.

use atom::id::{AtomId, Root};
use serde_json::json;

use crate::cli::{err, open, parse_label, Result};
use crate::output::Output;
use crate::Cli;

/// Print an AtomId: of LABEL in this repository, or of LABEL under ROOT.
#[derive(clap::Args)]
pub struct Args {
    /// The repository's root commit (40 hexadecimal digits), or the label when only one
    /// argument is given.
    first: String,
    /// The atom's label.
    label: Option<String>,
}

/// Runs `atom id`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    id(cli, &args.first, args.label.as_deref(), out)
}

/// `atom id`: the AtomId of a label, in a given root or in the repository's.
fn id(cli: &Cli, first: &str, label: Option<&str>, out: &mut Output) -> Result {
    let (root, label) = match label {
        Some(label) => (Root::parse(first).map_err(err)?, label),
        None => (open(cli)?.genesis().map_err(err)?, first),
    };
    let id = AtomId::new(root, parse_label(label)?);
    out.json(json!({ "root": root.to_hex(), "label": id.label().as_str(), "id": id.to_string() }));
    out.line(id.to_string());
    Ok(())
}
