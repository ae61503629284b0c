//! `atom show`: the manifest of a published atom.

use std::path::Path;

use atom::manifest::{Manifest, MANIFEST_FILE};
use atom::repo::{Repo, RepoError};

use crate::cli::{digest_and_signer, err, open, published, Result};
use crate::output::Output;
use crate::Cli;

/// Print the manifest of a published version (`label@version`), or of the latest version
/// of a label (`label`).
#[derive(clap::Args)]
pub struct Args {
    /// `label@version` or `label`.
    atom: String,
}

/// Runs `atom show`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    show(&open(cli)?, &args.atom, out)
}

/// `atom show`: the manifest of a published atom, verified first.
fn show(repo: &Repo, atom: &str, out: &mut Output) -> Result {
    let found = published(repo, atom)?;
    let verified = repo.verify(&found, None).map_err(err)?;
    let entry = repo
        .entry(verified.tree, Path::new(MANIFEST_FILE))
        .map_err(err)?
        .ok_or("the atom has no atom.toml")?;
    let text = repo.read_text(entry.id).map_err(|e| match e {
        RepoError::NotText(_) => "atom.toml is not UTF-8".to_owned(),
        other => other.to_string(),
    })?;
    let manifest =
        Manifest::parse(&text, &format!("{}:{MANIFEST_FILE}", found.ref_name())).map_err(err)?;
    let mut json = manifest.to_json();
    let (digest, signer) = digest_and_signer(repo, &found)?;
    json["digest"] = digest.into();
    json["signer"] = signer.into();
    out.json(json);
    out.raw(text);
    Ok(())
}
