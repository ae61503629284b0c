//! What the commands share: the error type, the repository and the atom store the global
//! options name, paths given on the command line, the connection settings, and editing an atom.

use std::path::{Path, PathBuf};
use std::time::Duration;

use atom::diagnostic::shell_quote;
use atom::id::Label;
use atom::lock::LOCK_FILE;
use atom::manifest::{Requirement, Version};
use atom::remote;
use atom::repo::{AtomRef, Repo};
use atom::store::{FetchOptions, Store};
use atom::uri::Aliases;

use crate::output::Output;
use crate::Cli;

/// A command's result: its failure is the message to report.
pub(crate) type Result<T = ()> = std::result::Result<T, String>;

/// A core error as the message the command fails with.
pub(crate) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The repository `-C DIR` (default: the current directory) is in, found upwards as git does.
pub(crate) fn open(cli: &Cli) -> Result<Repo> {
    Repo::discover(&cli.repo).map_err(err)
}

/// Atom paths given on the command line (relative to the current directory, or to `-C DIR`),
/// made relative to the work tree of `repo`, as publishing names them; a path outside it is
/// passed on as given (and refused there).
pub(crate) fn in_work_tree(cli: &Cli, repo: &Repo, paths: &[String]) -> Vec<String> {
    let Some(top) = repo.work_tree().and_then(|t| std::fs::canonicalize(t).ok()) else {
        return paths.to_vec();
    };
    paths
        .iter()
        .map(|path| {
            std::fs::canonicalize(in_repo(cli, Path::new(path)))
                .ok()
                .and_then(|full| {
                    full.strip_prefix(&top)
                        .ok()
                        .map(|p| p.to_string_lossy().into_owned())
                })
                .map(|p| if p.is_empty() { ".".to_owned() } else { p })
                .unwrap_or_else(|| path.clone())
        })
        .collect()
}

/// A path given on the command line, relative to `-C DIR` when one is given.
pub(crate) fn in_repo(cli: &Cli, path: &Path) -> PathBuf {
    if cli.repo == Path::new(".") {
        path.to_owned()
    } else {
        cli.repo.join(path)
    }
}

pub(crate) fn parse_label(text: &str) -> Result<Label> {
    Label::parse(text).map_err(err)
}

/// `label@version` or `label`.
pub(crate) fn split_at_version(text: &str) -> Result<(Label, Option<&str>)> {
    match text.split_once('@') {
        Some((label, version)) => Ok((parse_label(label)?, Some(version))),
        None => Ok((parse_label(text)?, None)),
    }
}

/// URL aliases: the defaults, then the user's `[aliases]` of `$XDG_CONFIG_HOME/eka.toml` (else
/// `~/.config/eka.toml`), then the repository's `.git/info/eka.toml`. A configuration file that
/// does not parse is an error naming it.
pub(crate) fn aliases(cli: &Cli) -> Result<Aliases> {
    let mut aliases = Aliases::default();
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    let files = [
        config_home.map(|d| d.join("eka.toml")),
        // Not in a worktree or a submodule, whose `.git` is a file.
        Some(cli.repo.join(".git/info/eka.toml")).filter(|_| cli.repo.join(".git").is_dir()),
    ];
    for file in files.into_iter().flatten() {
        if let Some(text) = atom::diagnostic::read_text_if_present(&file).map_err(err)? {
            aliases
                .merge_toml(&text)
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
    }
    Ok(aliases)
}

/// The connection settings: `--timeout`, `--deadline`, the size limits, the URL aliases, and
/// the ssh command of `GIT_SSH_COMMAND`, `GIT_SSH` or the repository's `core.sshCommand`.
pub(crate) fn fetch_options(cli: &Cli) -> Result<FetchOptions> {
    let mut remote = remote::Options {
        // From 1 s to a day: curl and sockets take the value in narrower types.
        timeout: Duration::from_secs(cli.timeout.clamp(1, 86_400)),
        max_pack_bytes: cli.max_fetch_mib.saturating_mul(1 << 20),
        max_listing_bytes: cli.max_listing_mib.saturating_mul(1 << 20),
        max_object_bytes: cli.max_object_mib.saturating_mul(1 << 20),
        deadline: Duration::from_secs(cli.deadline.clamp(1, 7 * 86_400)),
        ..Default::default()
    };
    if remote.ssh_command.is_none() {
        remote.ssh_command = git_config(&cli.repo, "core.sshCommand").map(Into::into);
    }
    Ok(FetchOptions {
        remote,
        aliases: aliases(cli)?,
        ..Default::default()
    })
}

/// A value of the git configuration seen from `dir` (system, global and the repository's), when
/// git is installed and the key is set.
fn git_config(dir: &Path, key: &str) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["config", "--get", key])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let value = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !value.is_empty()).then_some(value)
}

/// What a URL argument names: a URL or path as given, or the URL of a git remote of the
/// repository (-C) when the argument is a remote's name.
pub(crate) fn location(cli: &Cli, text: &str) -> String {
    remote_name_url(cli, text).unwrap_or_else(|| text.to_owned())
}

/// The URL of the git remote named `text` in the repository (-C), as `git remote get-url` gives
/// it (`insteadOf` applied), when `text` is such a name and not an existing path.
pub(crate) fn remote_name_url(cli: &Cli, text: &str) -> Option<String> {
    let is_name = !text.is_empty()
        && !text.starts_with('-')
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !Path::new(text).exists();
    if !is_name {
        return None;
    }
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(&cli.repo)
        .args(["remote", "get-url", "--", text])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let url = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !url.is_empty()).then_some(url)
}

/// `n thing` or `n things`.
pub(crate) fn counted(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// The atom store: `--store`, else the `atom-store` setting of Nix's configuration (as the
/// plugin reads it), else `$ATOM_STORE`, else `$XDG_CACHE_HOME/atom/store`, else
/// `~/.cache/atom/store`.
pub(crate) fn atom_store(given: &Option<PathBuf>) -> Result<Store> {
    match given {
        Some(dir) => Ok(Store::new(dir)),
        None => atom::nix_config::store_from_env().map_err(err),
    }
}

/// Registers the atom directory `dir` (when it has a lock) as a root of `store`, so that `atom
/// store gc` keeps what its lock needs; a failure only warns. Unless `create`, a store that does
/// not exist yet is not created for this (`atom lock` of an atom that needed nothing from it).
pub(crate) fn register_root(store: &Store, dir: &Path, create: bool, out: &mut Output) {
    if !dir.join(LOCK_FILE).is_file() || !(create || store.dir().is_dir()) {
        return;
    }
    if let Err(error) = store.register_root(dir) {
        out.warn(&format!(
            "cannot register {} as a root of the atom store, so `atom store gc` without arguments will not keep what it needs: {error}",
            dir.display()
        ));
    }
}

/// Locks the atom in `dir` for editing (waiting for other edits of it to finish), saying on
/// stderr what an interrupted edit left that was completed.
pub(crate) fn edit_lock(dir: &Path, out: &mut Output) -> Result<atom::edit::EditLock> {
    let (lock, recovery) = atom::edit::EditLock::exclusive(dir).map_err(err)?;
    if !recovery.completed.is_empty() {
        let files: Vec<String> = recovery
            .completed
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        out.warn(&format!(
            "completed an edit that was interrupted (renamed into place: {})",
            files.join(", ")
        ));
    }
    Ok(lock)
}

/// A test hook, inert unless `ATOM_TEST_PAUSE_BETWEEN_RENAMES` names a file: between the renames
/// of an edit, that file is created and the process waits (a minute) for the test to kill it.
pub(crate) fn test_pause() {
    if let Some(marker) = std::env::var_os("ATOM_TEST_PAUSE_BETWEEN_RENAMES") {
        if std::fs::write(&marker, std::process::id().to_string()).is_ok() {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
}

/// The published atom `label@version`, or the newest version of `label`.
pub(crate) fn published(repo: &Repo, atom: &str) -> Result<AtomRef> {
    if let Some((url, rest)) = atom.rsplit_once("::") {
        return Err(format!(
            "this command takes an atom published in this repository (LABEL[@VERSION]), and {atom:?} names one at {}; `atom resolve {}` tells its version there, `atom fetch {} {rest}` brings it into the atom store",
            remote::redact(url),
            shell_quote(atom),
            shell_quote(url),
        ));
    }
    let (label, version) = split_at_version(atom)?;
    Ok(match version {
        Some(version) => repo
            .find(&label, &Version::parse(version).map_err(err)?)
            .map_err(err)?,
        // The newest version, pre-releases included; none is the resolve error (which lists
        // the labels there are).
        None => match repo.versions(&label).map_err(err)?.into_iter().next() {
            Some(newest) => newest,
            None => repo
                .resolve(&label, &Requirement::parse("*").map_err(err)?)
                .map_err(err)?,
        },
    })
}

/// The content digest of a published atom and the fingerprint of the first key whose signature
/// of it verifies (`None`: unsigned).
pub(crate) fn digest_and_signer(repo: &Repo, atom: &AtomRef) -> Result<(String, Option<String>)> {
    let root = repo.genesis().map_err(err)?;
    let assessment =
        atom::resolve::trust::Assessment::of(repo, &root, &atom.label, &atom.version, atom.commit)
            .map_err(err)?;
    Ok((
        assessment.digest.map(|d| d.to_string()).unwrap_or_default(),
        assessment
            .signed
            .first()
            .map(|s| s.signer.fingerprint.clone()),
    ))
}
