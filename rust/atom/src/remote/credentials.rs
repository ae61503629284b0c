//! Credentials for HTTP(S): the user and password written in the URL, else, when the server asks,
//! what git's credential helpers know (`git credential fill`, with every prompt disabled).
//! Nothing is ever asked of the user, and nothing is stored.

use std::io::Write;
use std::process::{Command, Stdio};

use gix::sec::identity::Account;

/// The user and password written in `url`, if both are.
#[cfg(feature = "http")]
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
    let mut fields = vec![
        ("protocol", url.scheme.as_str().to_owned()),
        (
            "host",
            format!(
                "{}{}",
                url.host()?,
                url.port.map(|p| format!(":{p}")).unwrap_or_default()
            ),
        ),
        (
            "path",
            url.path.to_string().trim_start_matches('/').to_owned(),
        ),
    ];
    if let Some(user) = url.user() {
        fields.push(("username", user.to_owned()));
    }
    // Each value is one line of git's protocol. `network_url` refuses URLs that could break
    // one; this is the last guard before the helper: one more line, and the request would be
    // for someone else's credentials.
    if fields.iter().any(|(_, v)| v.chars().any(char::is_control)) {
        return None;
    }
    let mut input: String = fields.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    input.push('\n');
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
