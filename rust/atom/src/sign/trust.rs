//! The keys a consumer trusts: `atom.signers` at the top of its repository, in the
//! allowed-signers format of `ssh-keygen -Y verify` and git's `gpg.ssh.allowedSignersFile`, one
//! key per line:
//!
//! ```text
//! # SET                          OPTIONS              KEY
//! company                        namespaces="git"     ssh-ed25519 AAAA… alice@laptop
//! https://example.org/lib.git    namespaces="git"     ssh-ed25519 AAAA…
//! ```
//!
//! The first field names whom the key is trusted for, as comma-separated names: a set's tag in
//! the atom's manifest, one of the set's mirror URLs, or the set's root (its commit id). The
//! only option honoured is `namespaces` (a line whose namespaces exclude `git` trusts nothing
//! here); certificate authorities and validity windows are refused rather than ignored.
//! The file is reviewed like any other in the repository, and `git verify-tag` can use it as it
//! is.

use std::ops::Range;
use std::path::Path;

use super::Signer;
use crate::diagnostic::{FileError, SourceError};

/// The trust file's name, at the top of the consumer's repository.
pub const TRUST_FILE: &str = "atom.signers";

/// One trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustEntry {
    /// The names it is trusted for (set tags, mirror URLs, roots).
    pub sets: Vec<String>,
    /// The key.
    pub signer: Signer,
    /// Whether its `namespaces` option admits `git` (no option admits every namespace).
    pub git: bool,
    /// Its line in the file (1-based).
    pub line: usize,
}

/// The trusted keys of a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustFile {
    /// The keys, in file order.
    pub entries: Vec<TrustEntry>,
}

/// Why the trust file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Reading it failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// A line is invalid.
    #[error("{0}")]
    Line(Box<SourceError>),
    /// Another user could have written it: whom it trusts is not the consumer's word.
    #[error("{}: {exposure}; a trust file is read only when no other user can write it (`chown` it to yourself and `chmod go-w` it)", path.display())]
    Exposed {
        /// The file.
        path: std::path::PathBuf,
        /// Who else can write it.
        exposure: crate::store::guard::Exposure,
    },
}

impl TrustFile {
    /// Reads `path`; a missing file trusts nothing.
    pub fn read(path: &Path) -> Result<TrustFile, TrustError> {
        TrustFile::of_text(path, TrustFile::read_text(path)?.as_deref())
    }

    /// The text of the trust file at `path` (`None`: there is none), refused when another user
    /// could have written it.
    pub fn read_text(path: &Path) -> Result<Option<String>, TrustError> {
        let Some(text) = crate::diagnostic::read_text_if_present(path)? else {
            return Ok(None);
        };
        // The file read above is regular (a symlink is refused); its owner and mode. (Whoever
        // could swap it for another between the two looks can write its directory, and so could
        // have written it in the first place.)
        let metadata = std::fs::symlink_metadata(path).map_err(|source| FileError::Read {
            path: path.to_owned(),
            source,
        })?;
        match crate::store::guard::exposure(&metadata) {
            Some(exposure) => Err(TrustError::Exposed {
                path: path.to_owned(),
                exposure,
            }),
            None => Ok(Some(text)),
        }
    }

    /// The trust file at `path` whose text is `text` (`None`: there is none, and it trusts
    /// nothing).
    pub fn of_text(path: &Path, text: Option<&str>) -> Result<TrustFile, TrustError> {
        match text {
            None => Ok(TrustFile::default()),
            Some(text) => TrustFile::parse(text, &path.display().to_string())
                .map_err(|e| TrustError::Line(Box::new(e))),
        }
    }

    /// Parses the text of a trust file read from `path`.
    pub fn parse(text: &str, path: &str) -> Result<TrustFile, SourceError> {
        let mut entries = Vec::new();
        let mut offset = 0;
        for (index, line) in text.split('\n').enumerate() {
            let start = offset;
            offset += line.len() + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let error = |span: Range<usize>, message: String| {
                SourceError::new(
                    path,
                    text,
                    Some(start + span.start..start + span.end),
                    message,
                )
            };
            let fields = fields(line)
                .map_err(|span| error(span, "a quoted option is not closed".to_owned()))?;
            let mut fields = fields.into_iter();
            let (sets_span, sets) = fields.next().expect("a non-blank line has a field");
            let sets: Vec<String> = sets.split(',').map(str::to_owned).collect();
            if sets.iter().any(String::is_empty) {
                return Err(error(
                    sets_span,
                    "an empty name of whom the key is trusted for".into(),
                ));
            }
            let mut git = true;
            let mut rest: Vec<(Range<usize>, &str)> = fields.collect();
            if rest.first().is_some_and(|(_, f)| !is_key_type(f)) {
                let (span, options) = rest.remove(0);
                for option in options.split(',') {
                    match option.split_once('=') {
                        Some(("namespaces", list)) => {
                            git = list
                                .trim_matches('"')
                                .split(',')
                                .any(|namespace| namespace == super::NAMESPACE);
                        }
                        _ => {
                            return Err(error(
                                span,
                                format!("the option {option:?} is not supported here"),
                            )
                            .with_help(
                                "a line is `SET [namespaces=\"git\"] KEYTYPE KEY [COMMENT]`; certificate authorities and validity windows are not supported",
                            ))
                        }
                    }
                }
            }
            let key_span = match (rest.first(), rest.get(1)) {
                (Some((a, _)), Some((b, _))) => a.start..b.end,
                (Some((a, _)), None) => a.clone(),
                (None, _) => sets_span.end..sets_span.end,
            };
            let key_text = &line[key_span.clone()];
            let signer = Signer::parse(key_text).map_err(|e| {
                error(key_span.clone(), e.to_string())
                    .with_help("a line is `SET [namespaces=\"git\"] KEYTYPE KEY [COMMENT]`")
            })?;
            entries.push(TrustEntry {
                sets,
                signer,
                git,
                line: index + 1,
            });
        }
        Ok(TrustFile { entries })
    }

    /// The keys trusted for a set known by any of `names` (its tag, mirror URLs and root).
    pub fn keys_for(&self, names: &[String]) -> Vec<&TrustEntry> {
        self.entries
            .iter()
            .filter(|e| e.git && e.sets.iter().any(|s| names.contains(s)))
            .collect()
    }
}

/// The whitespace-separated fields of `line`, with their spans; double quotes keep spaces
/// inside a field. `Err`: the span of an unclosed quote.
fn fields(line: &str) -> Result<Vec<(Range<usize>, &str)>, Range<usize>> {
    let mut fields = Vec::new();
    let mut start = None;
    let mut quoted = None;
    for (at, c) in line.char_indices() {
        match c {
            '"' => {
                quoted = match quoted {
                    Some(_) => None,
                    None => Some(at),
                };
                start.get_or_insert(at);
            }
            c if c.is_whitespace() && quoted.is_none() => {
                if let Some(s) = start.take() {
                    fields.push((s..at, &line[s..at]));
                }
            }
            _ => {
                start.get_or_insert(at);
            }
        }
    }
    if let Some(q) = quoted {
        return Err(q..line.len());
    }
    if let Some(s) = start {
        fields.push((s..line.len(), &line[s..]));
    }
    Ok(fields)
}

/// Whether `field` is an SSH key type.
fn is_key_type(field: &str) -> bool {
    ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"]
        .iter()
        .any(|p| field.starts_with(p))
}

/// `text` (a trust file's) with a line trusting `signer` for `set` added; `None` when that line
/// is there already.
pub fn add(text: &str, set: &str, signer: &Signer, comment: Option<&str>) -> Option<String> {
    let existing = TrustFile::parse(text, TRUST_FILE).ok()?;
    if existing
        .entries
        .iter()
        .any(|e| e.git && e.sets.iter().any(|s| s == set) && e.signer.key == signer.key)
    {
        return None;
    }
    let mut text = text.to_owned();
    if text.is_empty() {
        text.push_str("# Keys whose atom signatures this repository trusts (`atom trust`): SET [namespaces=\"git\"] KEY\n");
    } else if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("{set} namespaces=\"git\" {}", signer.key));
    if let Some(comment) = comment.filter(|c| !c.is_empty()) {
        text.push(' ');
        text.push_str(comment);
    }
    text.push('\n');
    Some(text)
}

/// `text` without the lines that trust a key for `set` (only the key whose fingerprint or
/// OpenSSH line is `key`, when given); and how many lines were removed. A line naming other
/// sets too keeps them.
pub fn remove(text: &str, set: &str, key: Option<&str>) -> Result<(String, usize), SourceError> {
    let parsed = TrustFile::parse(text, TRUST_FILE)?;
    let mut out = String::new();
    let mut removed = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let entry = parsed.entries.iter().find(|e| e.line == index + 1);
        let matches = entry.is_some_and(|e| {
            e.sets.iter().any(|s| s == set)
                && key.is_none_or(|k| {
                    k == e.signer.fingerprint
                        || Signer::parse(k).is_ok_and(|s| s.key == e.signer.key)
                })
        });
        if !matches {
            out.push_str(line);
            continue;
        }
        removed += 1;
        let entry = entry.expect("matched");
        let others: Vec<&str> = entry
            .sets
            .iter()
            .filter(|s| *s != set)
            .map(String::as_str)
            .collect();
        if !others.is_empty() {
            let first = line.split_whitespace().next().unwrap_or_default();
            out.push_str(&line.replacen(first, &others.join(","), 1));
        }
    }
    Ok((out, removed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A trust file others can write says nothing of the consumer's trust: it is refused, with
    /// the file and the fix; one only its owner can write is read; none trusts nothing.
    #[test]
    fn a_trust_file_others_can_write_is_refused() {
        let dir = atom_test_support::scratch("trust-exposed");
        let path = dir.join(TRUST_FILE);
        assert_eq!(TrustFile::read_text(&path).unwrap(), None);
        std::fs::write(&path, "# nobody\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            TrustFile::read_text(&path).unwrap().as_deref(),
            Some("# nobody\n")
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let refused = TrustFile::read(&path).unwrap_err().to_string();
        assert!(
            refused.starts_with(&path.display().to_string()),
            "{refused}"
        );
        assert!(
            refused.contains("everyone can write it (mode 0666)"),
            "{refused}"
        );
        assert!(refused.contains("chmod go-w"), "{refused}");
    }
}
