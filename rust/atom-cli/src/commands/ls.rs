//! `atom ls [URL] [LABEL]`: the published atoms of the repository or of a URL.

use atom::remote;
use atom::repo::AtomRef;
use serde_json::json;

use crate::cli::{
    digest_and_signer, err, fetch_options, location, open, parse_label, remote_name_url, Result,
};
use crate::output::Output;
use crate::Cli;

/// List published atoms and their versions, newest first: of the repository (-C), or of
/// URL (a network URL, a path, or a git remote), without downloading any object.
#[derive(clap::Args)]
#[command(override_usage = "atom ls [URL] [LABEL]")]
pub struct Args {
    /// `[URL] [LABEL]`: one argument is a label unless it contains `/` or `:` or names a git
    /// remote of the repository.
    #[arg(num_args = 0..=2, value_name = "URL|LABEL")]
    args: Vec<String>,
}

/// Runs `atom ls`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    ls(cli, &args.args, out)
}

/// `atom ls [URL] [LABEL]`: the published atoms, or the versions of one label, of the repository
/// or of URL.
fn ls(cli: &Cli, args: &[String], out: &mut Output) -> Result {
    let looks_like_url = |a: &str| a.contains('/') || a.contains(':');
    let (url, label) = match args {
        [] => (None, None),
        [one] if looks_like_url(one) || remote_name_url(cli, one).is_some() => {
            (Some(one.as_str()), None)
        }
        [one] => (None, Some(one.as_str())),
        [url, label, ..] => (Some(url.as_str()), Some(label.as_str())),
    };
    let label = label.map(parse_label).transpose()?;
    let mut listed = Vec::new();
    let atoms = match url {
        Some(url) => {
            let url = location(cli, url);
            let atoms = atom::store::list(&url, label.as_ref(), &fetch_options(cli)?)
                .map_err(err)?
                .atoms;
            listed.extend(atoms.iter().map(AtomRef::to_json));
            atoms
        }
        None => {
            let repo = open(cli)?;
            let atoms = match &label {
                Some(label) => repo.versions(label).map_err(err)?,
                None => repo.atoms().map_err(err)?,
            };
            // Here the objects are at hand: each atom's digest and signer too (JSON only).
            if out.is_json() {
                for atom in &atoms {
                    let mut json = atom.to_json();
                    if let Ok((digest, signer)) = digest_and_signer(&repo, atom) {
                        json["digest"] = digest.into();
                        json["signer"] = signer.into();
                    }
                    listed.push(json);
                }
            }
            atoms
        }
    };
    out.json(json!(listed));
    if atoms.is_empty() {
        let place = match url {
            Some(url) => format!("at {}", remote::redact(url)),
            None => "in this repository".to_owned(),
        };
        out.line(match label {
            Some(label) => format!("no version of {label} is published {place}"),
            None if url.is_some() => format!("no atom is published {place}"),
            None => format!("no atom is published {place} (publish with `atom publish`)"),
        });
    }
    for atom in &atoms {
        out.line(format!("{} {} {}", atom.label, atom.version, atom.commit));
    }
    Ok(())
}
