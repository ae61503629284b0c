//! Pushing published atoms to a remote with "must not exist" semantics.
//!
//! gix cannot push yet, so the objects travel through `git push`, run as a subprocess in the
//! repository the atoms were published in (with the user's git configuration: credentials, ssh
//! command, `insteadOf`). What makes it safe is around it:
//!
//! 1. the remote's refs for these atoms are listed first (the same `ls-refs` as `atom ls`): a
//!    version already there at the same commit is left alone; one there at another commit is
//!    refused, and nothing of that atom is pushed;
//! 2. the rest go in one `git push --atomic` in which every ref carries
//!    `--force-with-lease=<ref>:` (it must not exist on the remote), so the server applies all of
//!    them or none, and of two publishers racing on one version exactly one wins;
//! 3. when that push is rejected (someone else pushed meanwhile), each atom is pushed on its own,
//!    and the remote is listed again to tell which of the losers hold the same content (nothing to
//!    do) and which differ (refused).
//!
//! `git push` runs with a time-out on silence: its progress output must keep coming.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{list_refs, network_url, ListError, Options, RemoteError};
use crate::id::{Label, Root};
use crate::manifest::Version;
use crate::repo::{
    atom_ref, manifest_ref, origin_ref, signature_ref, Repo, ATOMS_PREFIX, INIT_REF, META_PREFIX,
};
use crate::uri::Aliases;

/// What pushing one atom did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushStatus {
    /// Its refs were created on the remote.
    Pushed,
    /// The remote already had it at the same commit.
    Unchanged,
    /// Not pushed, and why.
    Refused(Refusal),
}

/// Why a remote did not take an atom.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The remote has the version at another commit.
    #[error("{url} already has {label} {version} at {there}, which differs from this repository's {ours}: published versions never change; bump the version")]
    Differs {
        /// The remote (without credentials).
        url: String,
        /// The label.
        label: Label,
        /// The version.
        version: Version,
        /// The commit the remote has.
        there: crate::repo::ObjectId,
        /// This repository's commit.
        ours: crate::repo::ObjectId,
    },
    /// `git push` was rejected.
    #[error("{url} rejected {}", .refs.iter().map(|r| format!("{}: {}", r.name, r.reason)).collect::<Vec<_>>().join(", "))]
    Rejected {
        /// The remote (without credentials).
        url: String,
        /// The refs rejected, each with git's reason.
        refs: Vec<RejectedRef>,
    },
}

/// A ref `git push` reported rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRef {
    /// The ref (`?` when git's report did not name it).
    pub name: String,
    /// Git's reason, as git reported it.
    pub reason: String,
}

/// One atom a push looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The label.
    pub label: Label,
    /// The version.
    pub version: Version,
    /// What happened.
    pub status: PushStatus,
}

/// Why a push could not even start.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// `git` is not installed.
    #[error(
        "publishing to a remote runs `git push`, and git is not installed (or not on PATH): {0}"
    )]
    NoGit(std::io::Error),
    /// A git command failed.
    #[error("{command} failed: {message}")]
    Git {
        /// The command.
        command: String,
        /// Its error output.
        message: String,
    },
    /// The remote's set has another root.
    #[error("{url} publishes the set with root {remote}, but this repository's root is {local}: it is another set; push to a repository of this set")]
    OtherSet {
        /// The URL.
        url: String,
        /// The remote's root.
        remote: Root,
        /// This repository's root.
        local: Root,
    },
    /// A published atom is missing locally.
    #[error("{label} {version} is not published in this repository")]
    NotPublished {
        /// The label.
        label: Label,
        /// The version.
        version: Version,
    },
    /// Listing the remote failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// Listing a local remote failed.
    #[error(transparent)]
    List(ListError),
    /// Reading the local repository failed.
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
}

/// The remote `git push` uses by default in `work_tree`: the current branch's push remote
/// (`branch.<b>.pushRemote`, then `remote.pushDefault`, then `branch.<b>.remote`), else `origin`.
pub fn default_remote(work_tree: &Path) -> Result<String, PushError> {
    let branch = git_output(work_tree, &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok();
    let mut keys = Vec::new();
    if let Some(b) = &branch {
        keys.push(format!("branch.{b}.pushRemote"));
    }
    keys.push("remote.pushDefault".into());
    if let Some(b) = &branch {
        keys.push(format!("branch.{b}.remote"));
    }
    for key in keys {
        if let Ok(value) = git_output(work_tree, &["config", "--get", &key]) {
            if !value.is_empty() {
                return Ok(value);
            }
        }
    }
    Ok("origin".into())
}

/// The URL `remote` stands for in `work_tree`: a git remote's push URL, or `remote` itself when
/// it is a URL or a path.
pub fn remote_url(work_tree: &Path, remote: &str, aliases: &Aliases) -> Result<String, PushError> {
    if remote.starts_with('-') {
        return Err(PushError::Git {
            command: "git push".into(),
            message: format!("{remote:?} is neither a URL nor a git remote (it starts with `-`)"),
        });
    }
    if network_url(remote, aliases).is_ok() || remote.contains('/') || remote.starts_with('.') {
        return Ok(aliases
            .expand_url(remote)
            .unwrap_or_else(|_| remote.to_owned()));
    }
    git_output(work_tree, &["remote", "get-url", "--push", remote]).map_err(|_| PushError::Git {
        command: format!("git remote get-url --push {remote}"),
        message: format!("{remote:?} is neither a URL nor a git remote of this repository"),
    })
}

/// Pushes the published atoms `atoms` of `repo` (whose work tree is `work_tree`) to `url`, with
/// `refs/ekala/init`: see the module documentation.
pub fn push(
    repo: &Repo,
    work_tree: &Path,
    url: &str,
    atoms: &[(Label, Version)],
    options: &Options,
    aliases: &Aliases,
) -> Result<Vec<Pushed>, PushError> {
    let root = repo.genesis()?;
    let list = |labels: &[&Label]| -> Result<Vec<(String, crate::repo::ObjectId)>, PushError> {
        let mut prefixes = vec![INIT_REF.to_owned()];
        for label in labels {
            prefixes.push(format!("{ATOMS_PREFIX}{label}/"));
            prefixes.push(format!("{META_PREFIX}{label}/"));
        }
        list_refs(url, &prefixes, options, aliases).map_err(|e| match e {
            ListError::Remote(e) => PushError::Remote(e),
            other => PushError::List(other),
        })
    };
    let mut labels: Vec<&Label> = atoms.iter().map(|(l, _)| l).collect();
    labels.sort();
    labels.dedup();
    let remote_refs = list(&labels)?;
    let remote_target = |refs: &[(String, crate::repo::ObjectId)], name: &str| {
        refs.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
    };
    match remote_target(&remote_refs, INIT_REF).map(|id| crate::repo::root_of_id(&id)) {
        Some(Ok(remote)) if remote != root => {
            return Err(PushError::OtherSet {
                url: super::redact(url),
                remote,
                local: root,
            })
        }
        _ => {}
    }

    // Each atom's refs, and what the remote has.
    let mut outcomes = Vec::new();
    let mut to_push: Vec<(usize, Vec<(String, crate::repo::ObjectId)>)> = Vec::new();
    for (label, version) in atoms {
        let name = atom_ref(label, version);
        let commit = repo
            .ref_target(&name)?
            .ok_or_else(|| PushError::NotPublished {
                label: label.clone(),
                version: version.clone(),
            })?;
        let status = match remote_target(&remote_refs, &name) {
            Some(there) if there == commit => {
                // Signed after it was pushed: the signature goes now, the atom is unchanged.
                let signature = signature_ref(label, version);
                if let Some(id) = repo.ref_target(&signature)? {
                    if remote_target(&remote_refs, &signature).is_none() {
                        to_push.push((outcomes.len(), vec![(signature, id)]));
                    }
                }
                PushStatus::Unchanged
            }
            Some(there) => PushStatus::Refused(differs(url, label, version, there, commit)),
            None => {
                let mut refs = Vec::new();
                for meta in [
                    manifest_ref(label, version),
                    origin_ref(label, version),
                    signature_ref(label, version),
                ] {
                    if let Some(id) = repo.ref_target(&meta)? {
                        if remote_target(&remote_refs, &meta).is_none() {
                            refs.push((meta, id));
                        }
                    }
                }
                refs.push((name, commit));
                to_push.push((outcomes.len(), refs));
                PushStatus::Pushed
            }
        };
        outcomes.push(Pushed {
            label: label.clone(),
            version: version.clone(),
            status,
        });
    }
    let mut init = Vec::new();
    if remote_target(&remote_refs, INIT_REF).is_none() {
        init.push((INIT_REF.to_owned(), crate::repo::id_of_root(&root)));
    }
    if to_push.is_empty() && init.is_empty() {
        return Ok(outcomes);
    }

    // Everything at once; on a rejection, atom by atom.
    let all: Vec<_> = init
        .iter()
        .cloned()
        .chain(to_push.iter().flat_map(|(_, refs)| refs.iter().cloned()))
        .collect();
    if git_push(work_tree, url, &all, options.timeout)?.is_ok() {
        return Ok(outcomes);
    }
    if !init.is_empty() {
        // Another publisher may have created it meanwhile: fine when it is the same root.
        let _ = git_push(work_tree, url, &init, options.timeout)?;
    }
    for (index, refs) in &to_push {
        if let Err(message) = git_push(work_tree, url, refs, options.timeout)? {
            outcomes[*index].status = PushStatus::Refused(message);
        }
    }
    // Tell the losers of a race apart: same content (nothing to do) or different (refused).
    let after = list(&labels)?;
    for outcome in outcomes
        .iter_mut()
        .filter(|o| matches!(o.status, PushStatus::Refused(_)))
    {
        let name = atom_ref(&outcome.label, &outcome.version);
        let ours = repo.ref_target(&name)?;
        match (remote_target(&after, &name), ours) {
            (Some(there), Some(ours)) if there == ours => outcome.status = PushStatus::Unchanged,
            (Some(there), Some(ours)) => {
                outcome.status =
                    PushStatus::Refused(differs(url, &outcome.label, &outcome.version, there, ours))
            }
            _ => {}
        }
    }
    Ok(outcomes)
}

fn differs(
    url: &str,
    label: &Label,
    version: &Version,
    there: crate::repo::ObjectId,
    ours: crate::repo::ObjectId,
) -> Refusal {
    Refusal::Differs {
        url: super::redact(url),
        label: label.clone(),
        version: version.clone(),
        there,
        ours,
    }
}

/// Runs `git push --atomic` of `refs` (each must not exist on the remote) to `url`. The outer
/// error: git could not run or timed out; the inner: the push was rejected, with git's reasons.
fn git_push(
    work_tree: &Path,
    url: &str,
    refs: &[(String, crate::repo::ObjectId)],
    timeout: Duration,
) -> Result<Result<(), Refusal>, PushError> {
    // A "URL" that git would read as an option is refused, whoever wrote it.
    if url.starts_with('-') {
        return Err(PushError::Git {
            command: "git push".into(),
            message: format!("{url:?} is not a repository (it starts with `-`)"),
        });
    }
    let mut command = Command::new("git");
    command.arg("-C").arg(work_tree).args([
        "push",
        "--atomic",
        "--porcelain",
        "--progress",
        "--no-verify",
    ]);
    for (name, _) in refs {
        command.arg(format!("--force-with-lease={name}:"));
    }
    // `--` ends the options: what follows is the repository and the refspecs, always. The
    // command line is readable by every user of the machine (/proc/*/cmdline): credentials in
    // the URL go to git through its environment instead, which only this user can read.
    command.arg("--").arg(super::without_credentials(url));
    if let Some((user, password)) = super::url_account(url) {
        let parsed = gix::url::parse(gix::bstr::BStr::new(url)).ok();
        let host = parsed.as_ref().and_then(|u| {
            let host = u.host()?;
            Some(match u.port {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
        });
        if let Some(host) = host {
            pass_credentials(&mut command, &host, &user, &password);
        }
    }
    for (name, id) in refs {
        command.arg(format!("{id}:{name}"));
    }
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(PushError::NoGit)?;

    // Both pipes are drained by threads; stderr (progress) also tells that git is alive.
    let started = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let drain = |mut pipe: Box<dyn Read + Send>, last: Arc<AtomicU64>| {
        std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
                last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
            String::from_utf8_lossy(&all).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")), last.clone());
    let stderr = drain(Box::new(child.stderr.take().expect("piped")), last.clone());
    let status = loop {
        if let Some(status) = child.try_wait().map_err(PushError::NoGit)? {
            break status;
        }
        let silent = started.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
        if silent > timeout.as_millis() as u64 {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PushError::Remote(RemoteError::Timeout {
                url: super::redact(url),
                timeout,
            }));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if status.success() {
        return Ok(Ok(()));
    }
    // Rejected refs are reported on stdout (`!\t<src>:<dst>\t[rejected] (reason)`); anything
    // else (unreachable server, authentication) only on stderr.
    let all_rejected: Vec<&str> = stdout.lines().filter(|l| l.starts_with('!')).collect();
    let mut rejected: Vec<&str> = all_rejected
        .iter()
        .copied()
        .filter(|l| !l.contains("atomic push failed"))
        .collect();
    if rejected.is_empty() {
        rejected = all_rejected;
    }
    if !rejected.is_empty() {
        let refs = rejected
            .iter()
            .map(|l| {
                let fields: Vec<&str> = l.split('\t').collect();
                let name = fields
                    .get(1)
                    .and_then(|f| f.split(':').nth(1))
                    .unwrap_or("?");
                RejectedRef {
                    name: name.to_owned(),
                    reason: fields.get(2).copied().unwrap_or("rejected").to_owned(),
                }
            })
            .collect();
        return Ok(Err(Refusal::Rejected {
            url: super::redact(url),
            refs,
        }));
    }
    let message = stderr
        .lines()
        .filter(|l| {
            let l = l.trim();
            !l.is_empty()
                && !l.starts_with("Enumerating")
                && !l.starts_with("Counting")
                && !l.starts_with("Compressing")
                && !l.starts_with("Writing")
                && !l.starts_with("Total")
                && !l.starts_with("Delta")
                && !l.starts_with("To ")
        })
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    Err(PushError::Git {
        command: format!("git push {}", super::redact(url)),
        message: if message.is_empty() {
            format!("exit status {status}")
        } else {
            message
        },
    })
}

/// Has the git `command` answer credential requests for `host` (`name[:port]`, as git's
/// credential protocol gives it) with `user` and `password` alone: a credential helper (a shell
/// function) added through git's environment configuration (`GIT_CONFIG_COUNT`, after any the
/// caller set), reading both from environment variables, and answering no other host. An empty
/// `credential.helper` first clears the helpers configured elsewhere for this command, so that
/// the credentials written in the URL are the ones used, as git does with a URL's own; and
/// redirects are not followed, so the request stays with the host the URL names.
fn pass_credentials(command: &mut Command, host: &str, user: &str, password: &str) {
    let base: usize = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let helper = r#"!f() { test "$1" = get || return 0; h=; while read -r l && test -n "$l"; do case "$l" in host=*) h=${l#host=};; esac; done; test "$h" = "$ATOM_GIT_HOST" && printf 'username=%s\npassword=%s\n' "$ATOM_GIT_USERNAME" "$ATOM_GIT_PASSWORD"; }; f"#;
    let settings = [
        ("credential.helper", ""),
        ("credential.helper", helper),
        ("http.followRedirects", "false"),
    ];
    for (i, (key, value)) in settings.iter().enumerate() {
        command
            .env(format!("GIT_CONFIG_KEY_{}", base + i), key)
            .env(format!("GIT_CONFIG_VALUE_{}", base + i), value);
    }
    command
        .env("GIT_CONFIG_COUNT", (base + settings.len()).to_string())
        .env("ATOM_GIT_HOST", host)
        .env("ATOM_GIT_USERNAME", user)
        .env("ATOM_GIT_PASSWORD", password);
}

/// The trimmed standard output of `git -C work_tree args…`, or its error output.
fn git_output(work_tree: &Path, args: &[&str]) -> Result<String, PushError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(work_tree)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(PushError::NoGit)?;
    if !output.status.success() {
        return Err(PushError::Git {
            command: format!("git {}", args.join(" ")),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
