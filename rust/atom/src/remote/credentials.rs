//! Credentials for HTTP(S): the user and password written in the URL, else, when the server asks,
//! what git's credential helpers know (`git credential fill`, with every prompt disabled).
//! Nothing is ever asked of the user, and nothing is stored.

use std::io::Write;
use std::process::{Command, Stdio};

use gix::sec::identity::Account;

/// The user and password written in `url`, if both are.
pub(super) fn from_url(url: &gix::url::Url) -> Option<Account> {
    Some(Account {
        username: url.user()?.to_owned(),
        password: url.password()?.to_owned(),
        oauth_refresh_token: None,
    })
}

/// `git credential fill` for `url`; `None` when git is missing, no helper knows the URL, or git
/// gives no password.
pub(super) fn from_git(url: &gix::url::Url) -> Option<Account> {
    let mut child = Command::new("git")
        .args(["credential", "fill"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("SSH_ASKPASS", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut input = format!(
        "protocol={}\nhost={}{}\npath={}\n",
        url.scheme.as_str(),
        url.host()?,
        url.port.map(|p| format!(":{p}")).unwrap_or_default(),
        url.path.to_string().trim_start_matches('/'),
    );
    if let Some(user) = url.user() {
        input.push_str(&format!("username={user}\n"));
    }
    input.push('\n');
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(input.as_bytes()).is_ok());
    let output = child.wait_with_output().ok()?;
    if written != Some(true) || !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    let password = field("password").filter(|p| !p.is_empty())?;
    Some(Account {
        username: field("username").unwrap_or_default(),
        password,
        oauth_refresh_token: None,
    })
}

/// `url` with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
