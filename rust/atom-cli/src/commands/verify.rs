//! `atom verify`: verify published atoms, or the locked closure of an atom.

use std::path::{Path, PathBuf};

use atom::id::AtomDigest;
use atom::manifest::Version;
use atom::repo::Repo;
use atom::store::Store;
use serde_json::json;

use crate::cli::{atom_store, err, in_repo, open, split_at_version, Result};
use crate::output::Output;
use crate::Cli;

/// Verify published atoms: commit format, manifest, metadata refs, origin and id.
///
/// With --recursive, verify the locked closure of the atom in PATH instead: every atom its
/// atom.lock pins, transitively through each dependency's own lock, as the evaluator checks
/// it (AtomId, content digest and signer against atom.integrity, the keys atom.signers
/// trusts) and, where its source commit is on this machine, that the atom is that commit's
/// subtree. One line per atom and a summary; exits 1 when any fails.
#[derive(clap::Args)]
pub struct Args {
    /// Only this atom: `label` (every version) or `label@version`; with --recursive, the
    /// atom's directory [default: .].
    atom: Option<String>,
    /// The id the atom must have (e.g. from a lock).
    #[arg(long, conflicts_with = "recursive")]
    id: Option<String>,
    /// Verify the locked closure of the atom in PATH.
    #[arg(long)]
    recursive: bool,
    /// The atom store [default: as for `fetch`].
    #[arg(long, requires = "recursive")]
    store: Option<PathBuf>,
}

/// Runs `atom verify`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    if args.recursive {
        verify_recursive(
            &in_repo(cli, Path::new(args.atom.as_deref().unwrap_or("."))),
            &atom_store(&args.store)?,
            out,
        )
    } else {
        verify(&open(cli)?, args.atom.as_deref(), args.id.as_deref(), out)
    }
}

/// `atom verify`: verify published atoms (all, a label's versions, or one version).
fn verify(repo: &Repo, atom: Option<&str>, id: Option<&str>, out: &mut Output) -> Result {
    let expected = id
        .map(|text| AtomDigest::parse(text).map_err(err))
        .transpose()?;
    let atoms = match atom {
        None => repo.atoms().map_err(err)?,
        Some(text) => {
            let (label, version) = split_at_version(text)?;
            match version {
                Some(v) => vec![repo
                    .find(&label, &Version::parse(v).map_err(err)?)
                    .map_err(err)?],
                None => repo.versions(&label).map_err(err)?,
            }
        }
    };
    // A ref whose label is spelled differently from its canonical form (not NFKC) is no atom:
    // every reader skips it, and here it is reported, so that a look-alike never passes.
    let look_alikes = match atom {
        None => repo.non_canonical_refs().map_err(err)?,
        Some(_) => Vec::new(),
    };
    if atoms.is_empty() && look_alikes.is_empty() {
        return Err("no published atom to verify".into());
    }
    let mut items = Vec::new();
    let mut bad = Vec::new();
    for atom in &atoms {
        let legacy = repo
            .atom_format(atom)
            .filter(|f| f.is_legacy())
            .map(|f| f.name());
        let legacy = legacy.or((atom.layout == atom::repo::RefLayout::Legacy).then_some("1"));
        let mut item = atom.to_json();
        match repo.verify(atom, expected.as_ref()) {
            Ok(verified) => {
                item = verified.to_json(atom);
                item["status"] = "ok".into();
                out.line(format!(
                    "ok {} {} {} {}{}",
                    atom.label,
                    atom.version,
                    atom.commit,
                    verified.id,
                    legacy
                        .map(|f| format!(" (legacy format {f})"))
                        .unwrap_or_default()
                ));
            }
            // A legacy atom is verified as far as its format allows; what it lacks is reported,
            // not a failure.
            Err(error) if legacy.is_some() && expected.is_none() => {
                item["status"] = "legacy".into();
                item["problem"] = error.to_string().into();
                out.line(format!(
                    "legacy {} {} {} (format {}, {}): {error}",
                    atom.label,
                    atom.version,
                    atom.commit,
                    legacy.unwrap_or_default(),
                    atom.ref_name()
                ));
            }
            Err(error) => {
                item["status"] = "bad".into();
                item["error"] = error.to_string().into();
                out.line(format!(
                    "bad {} {} {}: {error}",
                    atom.label, atom.version, atom.commit
                ));
                bad.push(error.to_string());
            }
        }
        if let Some(format) = legacy {
            item["format"] = format.into();
        }
        items.push(item);
    }
    for name in look_alikes {
        let error = format!(
            "{name}: its label or version is not in canonical (NFKC) form, so it is not an atom ref (a look-alike of another label)"
        );
        out.line(format!("bad {error}"));
        items.push(json!({ "ref": name, "status": "bad", "error": error }));
        bad.push(error);
    }
    out.json(json!(items));
    match bad.len() {
        0 => Ok(()),
        1 => Err(bad.remove(0)),
        n => Err(format!(
            "{n} of {} atoms failed verification:\n  {}",
            items.len(),
            bad.join("\n  ")
        )),
    }
}

/// `atom verify --recursive`: the locked closure of the atom in `dir`, one line per atom.
fn verify_recursive(dir: &Path, store: &Store, out: &mut Output) -> Result {
    let entries = atom::resolve::closure::verify_closure(dir, store).map_err(err)?;
    let failed = entries.iter().filter(|e| e.problem.is_some()).count();
    out.json(json!({
        "atoms": entries.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        "failed": failed,
    }));
    for entry in &entries {
        let rev = entry
            .rev
            .map(|r| r.to_string())
            .unwrap_or_else(|| "local".into());
        match &entry.problem {
            None => out.line(format!(
                "ok      {} {rev} {} {}{}",
                entry.atom,
                entry
                    .digest
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                entry
                    .signer
                    .as_deref()
                    .map(|s| format!("signed by {s}"))
                    .unwrap_or_else(|| "unsigned".into()),
                match entry.source {
                    Some(true) => ", source verified",
                    _ => "",
                }
            )),
            Some(problem) => out.line(format!("FAILED  {} {rev}: {problem}", entry.atom)),
        }
    }
    let n = entries.len();
    match failed {
        0 => {
            out.line(format!(
                "{n} atom{} verified",
                if n == 1 { "" } else { "s" }
            ));
            Ok(())
        }
        _ => Err(format!("{failed} of {n} atoms failed verification")),
    }
}
