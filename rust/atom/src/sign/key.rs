//! Signing keys. Signing runs `ssh-keygen -Y sign`, as git does for `gpg.format = ssh`: the key
//! may be a private key file, or a public key whose private half an agent (or a hardware key)
//! holds, and ssh-keygen asks for a passphrase itself. Only `atom publish` signs; nothing that
//! verifies starts a process.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::SignError;

/// A key to sign with, as `ssh-keygen -f` takes it.
#[derive(Debug)]
pub struct SigningKey {
    path: PathBuf,
    /// A literal public key from git's configuration, written to a private temporary file for
    /// ssh-keygen; removed when the key is dropped.
    temporary: bool,
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl SigningKey {
    /// The key in the file `path` (a private key, or a public key an agent holds the private
    /// half of).
    pub fn file(path: impl Into<PathBuf>) -> SigningKey {
        SigningKey {
            path: path.into(),
            temporary: false,
        }
    }

    /// The key git signs with in the repository at `dir`: `user.signingKey` when
    /// `gpg.format = ssh` (a file, `~/`-relative or not, or a literal `key::ssh-…`/`ssh-…`
    /// public key as git accepts). `None` when git is not set up to sign with SSH.
    pub fn from_git_config(dir: &Path) -> Result<Option<SigningKey>, SignError> {
        let format = git_config(dir, "gpg.format");
        let Some(key) = git_config(dir, "user.signingkey") else {
            return Ok(None);
        };
        if format.as_deref() != Some("ssh") {
            return Ok(None);
        }
        let literal = key
            .strip_prefix("key::")
            .or_else(|| key.starts_with("ssh-").then_some(key.as_str()));
        if let Some(literal) = literal {
            super::Signer::parse(literal)?;
            let path = std::env::temp_dir().join(crate::repo::temporary_name("signing-key"));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|mut f| f.write_all(format!("{literal}\n").as_bytes()).map(|_| f))
                .map_err(|e| SignError::Signing {
                    key: "user.signingKey".into(),
                    why: format!("cannot write it to {}: {e}", path.display()),
                })?;
            let _ = file.flush();
            return Ok(Some(SigningKey {
                path,
                temporary: true,
            }));
        }
        let path = match key.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(rest),
            None => PathBuf::from(&key),
        };
        Ok(Some(SigningKey::file(path)))
    }

    /// The key file, as ssh-keygen is given it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Signs `payload` (namespace `git`); returns the armored signature.
    pub fn sign(&self, payload: &[u8]) -> Result<String, SignError> {
        let failed = |why: String| SignError::Signing {
            key: self.path.display().to_string(),
            why,
        };
        let mut child = Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", super::NAMESPACE, "-f"])
            .arg(&self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(format!("cannot run ssh-keygen: {e}")))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // Written from another thread: ssh-keygen may write before it has read everything.
        let input = payload.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let output = child
            .wait_with_output()
            .map_err(|e| failed(format!("ssh-keygen failed: {e}")))?;
        let _ = writer.join();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() || !stdout.contains("-----BEGIN SSH SIGNATURE-----") {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr: String = stderr.trim().chars().take(2000).collect();
            return Err(failed(format!(
                "ssh-keygen -Y sign {}{}",
                output.status,
                if stderr.is_empty() {
                    String::new()
                } else {
                    format!(": {}", crate::diagnostic::escape_controls(&stderr))
                }
            )));
        }
        Ok(stdout)
    }
}

/// `git config --get NAME` in `dir`, when set.
fn git_config(dir: &Path, name: &str) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["config", "--get", name])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let value = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !value.is_empty()).then_some(value)
}

/// Who tags, as git names a tagger: `GIT_COMMITTER_NAME` and `GIT_COMMITTER_EMAIL`, else git's
/// configuration in `dir` (`user.name`, `user.email`), else `atom <atom@localhost>`.
pub fn tagger(dir: &Path) -> String {
    let clean = |text: String| {
        text.chars()
            .filter(|c| !matches!(c, '<' | '>' | '\n' | '\r' | '\0'))
            .collect::<String>()
            .trim()
            .to_owned()
    };
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let name = from_env("GIT_COMMITTER_NAME")
        .or_else(|| git_config(dir, "user.name"))
        .map(clean);
    let email = from_env("GIT_COMMITTER_EMAIL")
        .or_else(|| git_config(dir, "user.email"))
        .map(clean);
    match (name, email) {
        (Some(name), Some(email)) if !name.is_empty() => format!("{name} <{email}>"),
        _ => "atom <atom@localhost>".to_owned(),
    }
}

/// When a tag is made, in seconds since the epoch: `GIT_COMMITTER_DATE` when it is in git's
/// internal form (`<seconds> <zone>` or `@<seconds>`), as git honours it for reproducible tags;
/// else now.
pub fn tag_time() -> u64 {
    let given = std::env::var("GIT_COMMITTER_DATE").ok().and_then(|date| {
        let seconds = date.trim().trim_start_matches('@');
        let seconds = seconds.split_whitespace().next()?;
        seconds.parse::<u64>().ok()
    });
    given.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}
