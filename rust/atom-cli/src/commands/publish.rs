//! `atom publish [--push]`: publish atoms, one line per atom (published, unchanged, failed and
//! why) then a summary; then push them.

use std::path::{Path, PathBuf};

use atom::diagnostic::shell_quote;
use atom::id::Label;
use atom::manifest::{Version, MANIFEST_FILE};
use atom::publish::{self, Outcome};
use atom::remote;
use atom::remote::push::{self, PushStatus};
use atom::repo::Repo;
use serde_json::json;

use crate::cli::{err, fetch_options, in_repo, in_work_tree, open, Result};
use crate::output::Output;
use crate::Cli;

/// Publish atoms from a commit (default HEAD) as refs/eka/atoms/<label>/<version>.
///
/// With no PATH, publishes every atom listed in the commit's ekala.toml. Published versions
/// never change: an atom whose files are those of its published version is reported
/// "unchanged" and skipped (whatever commit it was published from); different content under a
/// published version is an error. Prints one line per atom (published, unchanged, failed and
/// why) and a summary; exits 1 when any atom failed.
///
/// Refused: an evaluated atom (any but `[compose.as] static`) without an atom.lock in the
/// commit that matches its manifest (run `atom lock PATH` and commit it). A repository without refs/ekala/init
/// is initialised first (as `atom init` does), and says so.
#[derive(clap::Args)]
pub struct Args {
    /// Atom directories, relative to the repository root.
    paths: Vec<String>,
    /// The commit to publish from.
    #[arg(long, default_value = "HEAD")]
    rev: String,
    /// Then push the atoms and refs/ekala/init to REMOTE (a git remote or a URL; default: the
    /// current branch's push remote, else `origin`), with must-not-exist semantics: a version
    /// already there at the same commit is left alone, one there at another commit is
    /// refused. Runs `git push`.
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "")]
    push: Option<String>,
    /// Sign each atom with this SSH key (a private key, or a public key an agent holds)
    /// [default: git's `user.signingKey` when `gpg.format = ssh`]. The signature is an
    /// annotated tag at refs/eka/meta/<label>/<version>/signature, made by `ssh-keygen -Y
    /// sign` as git signs tags, so `git verify-tag` checks it too.
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
    /// Do not sign, even when git is set up to sign with SSH.
    #[arg(long, conflicts_with = "sign_key")]
    no_sign: bool,
}

/// Runs `atom publish`.
pub fn exec(cli: &Cli, args: &Args, out: &mut Output) -> Result {
    let Args {
        paths,
        rev,
        push,
        sign_key,
        no_sign,
    } = args;
    // `--push lib` where lib is an atom directory: almost surely meant as the atom to
    // publish; refused before anything is published.
    if let Some(remote) = push.as_deref().filter(|r| !r.is_empty()) {
        let explicit = std::env::args().any(|a| a == format!("--push={remote}"));
        if !explicit
            && in_repo(cli, Path::new(remote))
                .join(MANIFEST_FILE)
                .is_file()
        {
            return Err(format!(
                "`--push {remote}` takes {remote} for the remote to push to, but it is an atom directory here; to publish it and push, write `atom publish {remote} --push`; to push to a remote named so, `--push={remote}`",
                remote = shell_quote(remote)
            ));
        }
    }
    let repo = open(cli)?;
    let paths = in_work_tree(cli, &repo, paths);
    let key = match (sign_key, no_sign) {
        (_, true) => None,
        (Some(file), _) => Some(atom::sign::SigningKey::file(in_repo(cli, file))),
        (None, false) => {
            let top = repo.work_tree().unwrap_or(repo.git_dir()).to_path_buf();
            atom::sign::SigningKey::from_git_config(&top).map_err(err)?
        }
    };
    let tagger = atom::sign::key::tagger(repo.work_tree().unwrap_or(repo.git_dir()));
    let signing = key.as_ref().map(|key| atom::publish::Signing {
        key,
        tagger,
        time: atom::sign::key::tag_time(),
    });
    let (published, failure) = publish_all(&repo, rev, &paths, signing.as_ref(), out)?;
    let pushed = match push {
        Some(remote) => push_published(cli, &repo, remote, &published, out),
        None => Ok(()),
    };
    match failure {
        Some(failure) => Err(failure),
        None => pushed,
    }
}

/// The atoms a publish left published (created or already there), and the failure to report when
/// any atom failed.
type Published = (Vec<(Label, Version)>, Option<String>);

/// Publishes the atoms at `paths` (every atom of `ekala.toml` when empty) from `rev` and reports
/// each one. Returns the atoms now published (created or already there), and the failure to
/// report when any atom failed (after reporting all of them).
fn publish_all(
    repo: &Repo,
    rev: &str,
    paths: &[String],
    signing: Option<&publish::Signing<'_>>,
    out: &mut Output,
) -> Result<Published> {
    out.progress(&format!("publishing from {rev}"));
    let report = publish::publish_signed(repo, rev, paths, signing).map_err(|e| e.to_string())?;
    if let Some(root) = report.initialized {
        out.line(format!(
            "initialized: refs/ekala/init -> {root} (the repository had no identity yet; `atom fetch` needs it)"
        ));
    }
    let mut failures = Vec::new();
    for atom in &report.atoms {
        for note in &atom.notes {
            out.warn(&format!("{}: {note}", atom.path));
        }
        if !atom.worktree_changes.is_empty() {
            out.warn(&format!(
                "{}: publishing commit {}, whose {} differs from the working tree ({}); publish reads the commit: commit your changes to publish them",
                atom.path,
                report.origin,
                atom.path,
                atom.worktree_changes.join(", ")
            ));
        }
        let line = match &atom.result {
            Ok(Outcome::Created(a)) => format!(
                "published {} {} ({}) -> {}",
                a.label,
                a.version,
                a.path.display(),
                a.commit
            ),
            Ok(Outcome::Unchanged(a)) => format!(
                "unchanged {} {} ({}) -> {} (published from {})",
                a.label,
                a.version,
                a.path.display(),
                a.commit,
                a.origin
            ),
            Err(error) => {
                let what = match &atom.package {
                    Some((label, version)) => format!("{label} {version} ({})", atom.path),
                    None => atom.path.clone(),
                };
                failures.push(format!("{what}: {error}"));
                format!("failed {what}: {error}")
            }
        };
        out.line(line);
    }
    let (published, unchanged, failed) = report.counts();
    out.line(format!(
        "{published} published, {unchanged} unchanged, {failed} failed"
    ));
    out.json(json!(report
        .atoms
        .iter()
        .map(publish::AtomReport::to_json)
        .collect::<Vec<_>>()));
    let published = report
        .atoms
        .iter()
        .filter_map(|atom| atom.result.as_ref().ok())
        .map(|outcome| (outcome.atom().label.clone(), outcome.atom().version.clone()))
        .collect();
    let failure = (!failures.is_empty()).then(|| {
        format!(
            "{failed} of {} atoms failed to publish:\n  {}",
            report.atoms.len(),
            failures.join("\n  ")
        )
    });
    Ok((published, failure))
}

/// `atom publish --push`: push the atoms just published.
fn push_published(
    cli: &Cli,
    repo: &Repo,
    remote: &str,
    atoms: &[(Label, Version)],
    out: &mut Output,
) -> Result {
    let work_tree = &cli.repo;
    let options = fetch_options(cli)?;
    let aliases = options.aliases;
    let remote = if remote.is_empty() {
        push::default_remote(work_tree).map_err(err)?
    } else {
        remote.to_owned()
    };
    let url = push::remote_url(work_tree, &remote, &aliases).map_err(err)?;
    let shown = remote::redact(&url);
    out.progress(&format!("pushing to {shown}"));
    let pushed =
        push::push(repo, work_tree, &url, atoms, &options.remote, &aliases).map_err(err)?;
    let mut refused = 0;
    let mut items = Vec::new();
    for p in &pushed {
        let (word, reason) = match &p.status {
            PushStatus::Pushed => ("pushed", None),
            PushStatus::Unchanged => ("already there", None),
            PushStatus::Refused(reason) => {
                refused += 1;
                ("refused", Some(reason.to_string()))
            }
        };
        items.push(json!({ "label": p.label.as_str(), "version": p.version.to_string(), "push": word, "reason": reason }));
        out.line(match reason {
            Some(reason) => format!("{word} {} {}: {reason}", p.label, p.version),
            None => format!("{word} {} {} -> {shown}", p.label, p.version),
        });
    }
    let published = out.take_json();
    out.json(json!({ "published": published, "push": { "remote": remote::without_credentials(&url), "atoms": items } }));
    match refused {
        0 => Ok(()),
        n => Err(format!(
            "{n} of {} atoms not pushed to {shown} (see above)",
            pushed.len()
        )),
    }
}
