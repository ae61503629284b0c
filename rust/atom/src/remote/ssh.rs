//! Reaching a repository over ssh: the ssh program (`ssh`, or the configured command) runs
//! `git-upload-pack` on the server, and the conversation is its standard input and output, as
//! git does it. The program is started here rather than by gix so that its output passes
//! through this connection's [`Guarded`] reader like every other transport's.
//!
//! A pipe has no time-out of its own, so a watchdog thread ends the program when a read waits
//! longer than the time-out or past the deadline. What the program writes on its standard error
//! (ssh's messages, and whatever the server sends there) is kept, the last few kilobytes, and
//! shown escaped in the error it explains; nothing of it reaches the terminal as it is. (ssh's
//! prompts go to the terminal itself, not to standard error.)

use std::ffi::OsString;
use std::io::Read;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// The most of the program's standard error that is kept.
const STDERR_KEPT: usize = 8 << 10;

/// The running ssh program: ended (killed if need be) when dropped.
pub(super) struct Process {
    child: Arc<Mutex<Child>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_done: std::sync::mpsc::Receiver<()>,
    done: Arc<AtomicBool>,
}

impl Process {
    /// Ends the program and returns the last line it wrote on its standard error, escaped (to
    /// explain a failure).
    pub(super) fn message(&self) -> Option<String> {
        self.end();
        // Its standard error closes with it; a background process it left (a ControlMaster)
        // may hold it open, so the wait is short.
        let _ = self.stderr_done.recv_timeout(Duration::from_millis(500));
        let kept = self.stderr.lock().ok()?;
        let text = String::from_utf8_lossy(&kept);
        let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
        Some(crate::diagnostic::escape_controls(line).into_owned())
    }

    fn end(&self) {
        self.done.store(true, Ordering::Relaxed);
        if let Ok(mut child) = self.child.lock() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.end();
    }
}

/// Starts `command` (a shell command line, as `GIT_SSH_COMMAND` is) for `url`, running
/// `git-upload-pack` there with protocol v2 asked for, watched by a thread that ends it when a
/// read waits longer than `timeout` or past the guard's deadline.
pub(super) fn spawn(
    url: &gix::url::Url,
    command: &OsString,
    program: Program,
    guard: &Guard,
    timeout: Duration,
) -> Result<(Connection, Process), RemoteError> {
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

    // As git runs GIT_SSH_COMMAND: through the shell, the arguments after it. A simple command
    // replaces the shell (`exec`), so that ending the child ends the program that holds the
    // pipes, not only a shell waiting for it.
    let simple = !command
        .to_string_lossy()
        .contains([';', '&', '|', '(', ')', '<', '>', '\n', '`', '$']);
    let mut script = OsString::from(if simple { "exec " } else { "" });
    script.push(command);
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
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RemoteError::Ssh {
            url: shown.clone(),
            message: format!("cannot run {command:?}: {e}"),
        })?;
    let (Some(stdout), Some(stdin), Some(stderr)) =
        (child.stdout.take(), child.stdin.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(RemoteError::Ssh {
            url: shown,
            message: "the ssh program's pipes could not be set up".into(),
        });
    };
    let kept = Arc::new(Mutex::new(Vec::new()));
    let process = Process {
        child: Arc::new(Mutex::new(child)),
        stderr: kept.clone(),
        stderr_done: keep_stderr_into(stderr, kept),
        done: Arc::new(AtomicBool::new(false)),
    };
    watch(&process, guard, timeout);
    let connection = git_transport::blocking_io::Connection::new(
        Guarded::new(stdout, guard.clone()),
        stdin,
        Protocol::V2,
        path,
        None::<(String, Option<u16>)>,
        git_transport::ConnectMode::Process,
        false,
    );
    Ok((connection, process))
}

/// Keeps the last [`STDERR_KEPT`] bytes of `stderr` in `kept`, in a thread; the receiver hears
/// when it is closed.
fn keep_stderr_into(
    mut stderr: std::process::ChildStderr,
    kept: Arc<Mutex<Vec<u8>>>,
) -> std::sync::mpsc::Receiver<()> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut kept) = kept.lock() {
                kept.extend_from_slice(&buf[..n]);
                let excess = kept.len().saturating_sub(STDERR_KEPT);
                kept.drain(..excess);
            }
        }
        let _ = sender.send(());
    });
    receiver
}

/// Ends the program when a read of its output waits longer than `timeout` or past the deadline
/// (the guard records which), checking ten times a second until the connection is done.
fn watch(process: &Process, guard: &Guard, timeout: Duration) {
    let (child, done, guard) = (process.child.clone(), process.done.clone(), guard.clone());
    std::thread::spawn(move || {
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if guard.stalled(timeout).is_some() {
                if let Ok(mut child) = child.lock() {
                    let _ = child.kill();
                }
                return;
            }
        }
    });
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
