//! Reaching a repository over ssh: the ssh program (`ssh`, or the configured command) runs
//! `git-upload-pack` on the server, and the conversation is its standard input and output, as
//! git does it. The program is started here rather than by gix so that its output passes
//! through this connection's [`Guarded`] reader like every other transport's.

use std::ffi::OsString;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use gix::protocol::transport::client::git as git_transport;
use gix::protocol::transport::Protocol;
use gix::url::ArgumentSafety;

use super::guard::{Guard, Guarded};
use super::{redact, RemoteError};

/// The conversation with `git-upload-pack` over ssh.
pub(super) type Connection =
    git_transport::blocking_io::Connection<Guarded<ChildStdout>, ChildStdin>;

/// How the ssh program takes its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Program {
    /// OpenSSH's `ssh`: `-p PORT` and `-o SendEnv=GIT_PROTOCOL` are understood.
    OpenSsh,
    /// Anything else: `[user@]host command`, nothing more.
    Simple,
}

/// Quotes `text` for the server's shell as git does: in single quotes, with `'` and `!` taken
/// out of them.
fn quote(text: &str) -> String {
    let mut quoted = String::from("'");
    for c in text.chars() {
        match c {
            '\'' => quoted.push_str("'\\''"),
            '!' => quoted.push_str("'\\!'"),
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

/// Starts `command` (a shell command line, as `GIT_SSH_COMMAND` is) for `url`, running
/// `git-upload-pack` there with protocol v2 asked for. The child's standard error is the user's
/// (ssh's prompts and messages are its own).
pub(super) fn spawn(
    url: &gix::url::Url,
    command: &OsString,
    program: Program,
    guard: &Guard,
) -> Result<(Connection, Child), RemoteError> {
    let shown = redact(&url.to_bstring().to_string());
    let invalid = |reason: &str| RemoteError::InvalidUrl {
        url: shown.clone(),
        reason: reason.to_owned(),
    };
    let host = match (url.user_as_argument(), url.host_as_argument()) {
        (ArgumentSafety::Dangerous(_), _) => {
            return Err(invalid(
                "its user starts with `-`, which ssh would read as an option",
            ))
        }
        (_, ArgumentSafety::Dangerous(_)) => {
            return Err(invalid(
                "its host starts with `-`, which ssh would read as an option",
            ))
        }
        (_, ArgumentSafety::Absent) => return Err(invalid("it has no host")),
        (ArgumentSafety::Usable(user), ArgumentSafety::Usable(host)) => format!("{user}@{host}"),
        (ArgumentSafety::Absent, ArgumentSafety::Usable(host)) => host.to_owned(),
    };
    let path = url.path.to_string();
    // `ssh://host/~/r` and `host:~/r` name a path in the home directory.
    let path = match path.strip_prefix('/') {
        Some(rest) if rest.starts_with('~') => rest.to_owned(),
        _ => path,
    };
    if path.trim_start().starts_with('-') {
        return Err(invalid("its path starts with `-`"));
    }
    let mut args: Vec<String> = Vec::new();
    match program {
        Program::OpenSsh => {
            args.extend(["-o".into(), "SendEnv=GIT_PROTOCOL".into()]);
            if let Some(port) = url.port {
                args.push(format!("-p{port}"));
            }
        }
        Program::Simple if url.port.is_some() => {
            return Err(RemoteError::Ssh {
                url: shown,
                message: format!(
                    "the ssh command {:?} is not OpenSSH's ssh, so it cannot be given a port",
                    command
                ),
            });
        }
        Program::Simple => {}
    }
    args.push(host);
    args.push(format!("git-upload-pack {}", quote(&path)));

    // As git runs GIT_SSH_COMMAND: through the shell, the arguments after it.
    let mut script = command.clone();
    script.push(" \"$@\"");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(command)
        .args(&args)
        .env("GIT_PROTOCOL", "version=2")
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| RemoteError::Ssh {
            url: shown.clone(),
            message: format!("cannot run {command:?}: {e}"),
        })?;
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(RemoteError::Ssh {
            url: shown,
            message: "the ssh program's pipes could not be set up".into(),
        });
    };
    let connection = git_transport::blocking_io::Connection::new(
        Guarded::new(stdout, guard.clone()),
        stdin,
        Protocol::V2,
        path,
        None::<(String, Option<u16>)>,
        git_transport::ConnectMode::Process,
        false,
    );
    Ok((connection, child))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_servers_shell() {
        assert_eq!(quote("/srv/r.git"), "'/srv/r.git'");
        assert_eq!(quote("it's!"), "'it'\\''s'\\!''");
    }
}
