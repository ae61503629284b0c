//! `atom trust add|ls|rm`: the keys whose atom signatures this repository trusts, kept in
//! `atom.signers` at its top (allowed-signers lines, reviewed like any other file).

use std::path::{Path, PathBuf};

use atom::sign::trust::{self, TrustFile};
use atom::sign::{Signer, TRUST_FILE};
use serde_json::json;

use crate::cli::{in_repo, Result};
use crate::output::Output;
use crate::Cli;

/// The keys whose atom signatures this repository trusts (atom.signers at its top, in
/// git's allowed-signers format).
///
/// A set with trusted keys accepts only versions one of them signed: `atom lock`, `add`
/// and `--update` skip the others and say why, and the evaluator refuses them. A set
/// without trusted keys is trusted on first use: the lock records the signer it saw, and a
/// later version signed otherwise is refused until a key is trusted here.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Trust KEY for SET: a set tag of the atom's manifest, one of the set's mirror URLs, or
    /// its root (the commit id).
    Add {
        /// Whom the key is trusted for.
        set: String,
        /// A public key file, or an OpenSSH public key line (`ssh-ed25519 AAAA…`).
        key: String,
    },
    /// List the trusted keys: the sets each is trusted for and its fingerprint.
    Ls,
    /// Stop trusting the keys of SET (only KEY, when given: a fingerprint, key line or file).
    Rm {
        /// The set.
        set: String,
        /// The key [default: every key trusted for SET].
        key: Option<String>,
    },
}

/// Runs `atom trust`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    let dir = in_repo(cli, Path::new("."));
    match &args.command {
        Command::Add { set, key } => add(&dir, set, key, out),
        Command::Ls => ls(&dir, out),
        Command::Rm { set, key } => rm(&dir, set, key.as_deref(), out),
    }
}

/// The trust file of the working tree `dir` is in: the one loading and locking read
/// ([`atom::resolve::trust::trust_file_for`]).
fn file(dir: &Path) -> Result<PathBuf> {
    atom::resolve::trust::trust_file_for(dir).ok_or_else(|| {
        format!(
            "{} is not in a git working tree: trusted keys live in a working tree's {TRUST_FILE}",
            dir.display()
        )
    })
}

/// The key `key` names: an OpenSSH public key line, or a file holding one (a private key's
/// `.pub` beside it is taken for the private key).
fn read_key(key: &str) -> Result<(Signer, Option<String>)> {
    if let Ok(signer) = Signer::parse(key) {
        return Ok((signer, comment(key)));
    }
    let path = Path::new(key);
    let mut candidates = vec![path.to_path_buf()];
    if path.extension().is_none_or(|e| e != "pub") {
        let mut public = path.as_os_str().to_owned();
        public.push(".pub");
        candidates.push(PathBuf::from(public));
    }
    for candidate in &candidates {
        if let Ok(text) = std::fs::read_to_string(candidate) {
            let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if let Ok(signer) = Signer::parse(line) {
                return Ok((signer, comment(line)));
            }
        }
    }
    Err(format!(
        "{key:?} is neither an SSH public key (`ssh-ed25519 AAAA…`) nor a file holding one"
    ))
}

/// The comment of an OpenSSH public key line (what follows the key).
fn comment(line: &str) -> Option<String> {
    let rest: Vec<&str> = line.split_whitespace().skip(2).collect();
    (!rest.is_empty()).then(|| rest.join(" "))
}

/// `atom trust add SET KEY`.
fn add(dir: &Path, set: &str, key: &str, out: &mut Output) -> Result {
    check_set(set)?;
    let path = file(dir)?;
    let (signer, comment) = read_key(key)?;
    let text = atom::diagnostic::read_text_if_present(&path)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    TrustFile::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    let changed = match trust::add(&text, set, &signer, comment.as_deref()) {
        Some(new) => {
            atom::edit::write_all(&[(path.clone(), new)]).map_err(|e| e.to_string())?;
            true
        }
        None => false,
    };
    out.json(json!({ "file": path, "set": set, "key": signer.key, "fingerprint": signer.fingerprint, "changed": changed }));
    out.line(format!(
        "{} {} for {set} in {}",
        if changed {
            "trusted"
        } else {
            "already trusted:"
        },
        signer.fingerprint,
        path.display()
    ));
    Ok(())
}

/// `atom trust ls`.
fn ls(dir: &Path, out: &mut Output) -> Result {
    let path = file(dir)?;
    let trusted = TrustFile::read(&path).map_err(|e| e.to_string())?;
    out.json(json!({
        "file": path,
        "keys": trusted.entries.iter().map(|e| json!({
            "sets": e.sets,
            "key": e.signer.key,
            "fingerprint": e.signer.fingerprint,
            "git": e.git,
            "line": e.line,
        })).collect::<Vec<_>>(),
    }));
    if trusted.entries.is_empty() {
        out.line(format!(
            "no trusted keys ({} does not exist or lists none): every set is trusted on first use",
            path.display()
        ));
    }
    for entry in &trusted.entries {
        out.line(format!(
            "{}  {}{}",
            entry.sets.join(","),
            entry.signer.fingerprint,
            if entry.git {
                ""
            } else {
                "  (not for namespace git: ignored)"
            }
        ));
    }
    Ok(())
}

/// `atom trust rm SET [KEY]`.
fn rm(dir: &Path, set: &str, key: Option<&str>, out: &mut Output) -> Result {
    let path = file(dir)?;
    let text = atom::diagnostic::read_text_if_present(&path)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let key = match key {
        // A fingerprint is matched as it is; a key or key file by its key.
        Some(k) if k.starts_with("SHA256:") => Some(k.to_owned()),
        Some(k) => Some(read_key(k)?.0.key),
        None => None,
    };
    let (new, removed) = trust::remove(&text, set, key.as_deref()).map_err(|e| e.to_string())?;
    if removed == 0 {
        return Err(format!(
            "{} trusts no {} for {set}; `atom trust ls` lists what it trusts",
            path.display(),
            if key.is_some() { "such key" } else { "key" }
        ));
    }
    atom::edit::write_all(&[(path.clone(), new)]).map_err(|e| e.to_string())?;
    out.json(json!({ "file": path, "set": set, "removed": removed }));
    out.line(format!(
        "removed {removed} trusted key{} for {set} from {}",
        if removed == 1 { "" } else { "s" },
        path.display()
    ));
    Ok(())
}

/// A SET is written into a line of the file: no whitespace, comma or quote, nothing empty.
fn check_set(set: &str) -> Result {
    if set.is_empty()
        || set.starts_with('#')
        || set
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '"'))
    {
        return Err(format!(
            "{:?} cannot name a set: give a set tag of the manifest, a mirror URL or a root, without spaces, commas or quotes",
            atom::diagnostic::escape_controls(set)
        ));
    }
    Ok(())
}
