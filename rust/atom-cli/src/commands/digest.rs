//! `atom digest`: the content digest of a published atom.

use atom::repo::Repo;

use crate::cli::{err, open, published, Result};
use crate::output::Output;
use crate::Cli;

/// Print the content digest (BLAKE3, docs/format.md#content-digest) of a published version
/// (`label@version`), or of the latest version of a label (`label`), verified first.
#[derive(clap::Args)]
pub struct Args {
    /// `label@version` or `label`.
    atom: String,
}

/// Runs `atom digest`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    digest(&open(cli)?, &args.atom, out)
}

/// `atom digest`: the content digest of a published atom's tree, the atom verified first.
fn digest(repo: &Repo, atom: &str, out: &mut Output) -> Result {
    let found = published(repo, atom)?;
    let verified = repo.verify(&found, None).map_err(err)?;
    let digest = repo.tree_digest(verified.tree).map_err(err)?;
    let mut json = found.to_json();
    json["tree"] = verified.tree.to_string().into();
    json["digest"] = digest.to_string().into();
    out.json(json);
    out.line(digest.to_string());
    Ok(())
}
