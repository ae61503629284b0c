//! Atom URIs (docs/format.md#uris-and-aliases): `[scheme://][user[:pass]@][alias:][url-fragment]::label[@version]`,
//! and the URL aliases they may start with (`gh:owner/repo` is `https://github.com/owner/repo`).

mod credentials;

use std::collections::BTreeMap;
use std::fmt;

pub use credentials::{
    ambiguous_character, has_control_characters, redact, url_account, without_credentials,
};

use crate::id::{Label, NameError};
use crate::manifest::{Requirement, RequirementError};

/// The aliases every user has (docs/format.md#uris-and-aliases).
pub const DEFAULT_ALIASES: &[(&str, &str)] = &[
    ("gh", "github.com"),
    ("gl", "gitlab.com"),
    ("bb", "bitbucket.org"),
    ("cb", "codeberg.org"),
    ("sh", "sr.ht"),
    ("ekl", "gh:ekala-project"),
    ("atom", "ekl:atom"),
    ("eka", "ekl:eka"),
    ("cogs", "ekl:corepkgs"),
    ("nxs", "gh:nixos"),
    ("pkgs", "nxs:nixpkgs"),
];

/// How deep alias expansion may nest before it is taken for a cycle.
const MAX_ALIAS_DEPTH: usize = 16;

/// Why an alias configuration (`[aliases]` of a configuration file) is invalid
/// ([`UriError::Config`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasConfigError {
    /// The file is not TOML.
    #[error("{}", .0.message())]
    Toml(toml::de::Error),
    /// `aliases` is not a table.
    #[error("`aliases` must be a table of name = \"value\"")]
    NotATable,
    /// An alias's value is not a string.
    #[error("alias {name:?} must be a string")]
    NotAString {
        /// The alias, as the file names it.
        name: String,
    },
}

/// Why a URI or URL could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No label after `::`.
    #[error("{0:?} names no atom: expected <url>::<label>[@<version requirement>]")]
    NoAtom(String),
    /// The label is invalid.
    #[error("invalid label {label:?} in {uri:?}: {error}")]
    Label {
        /// The URI.
        uri: String,
        /// The label part.
        label: String,
        /// Why.
        error: NameError,
    },
    /// The version requirement is invalid.
    #[error("{0}")]
    Requirement(RequirementError),
    /// Aliases expand into each other forever.
    #[error("the alias {0:?} expands into itself")]
    AliasCycle(String),
    /// An alias file is malformed.
    #[error("invalid alias configuration: {0}")]
    Config(AliasConfigError),
}

/// URL aliases: the defaults, plus the user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aliases(BTreeMap<String, String>);

impl Default for Aliases {
    fn default() -> Self {
        Aliases(
            DEFAULT_ALIASES
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl Aliases {
    /// Adds or replaces an alias.
    pub fn insert(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_owned(), value.to_owned());
    }

    /// Adds the aliases of a configuration file's `[aliases]` table (`name = "value"`), the shape
    /// of `~/.config/eka.toml` and `.git/info/eka.toml`. Other tables are ignored.
    pub fn merge_toml(&mut self, text: &str) -> Result<(), UriError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| UriError::Config(AliasConfigError::Toml(e)))?;
        let Some(aliases) = table.get("aliases") else {
            return Ok(());
        };
        let aliases = aliases
            .as_table()
            .ok_or(UriError::Config(AliasConfigError::NotATable))?;
        for (name, value) in aliases {
            let value = value.as_str().ok_or_else(|| {
                UriError::Config(AliasConfigError::NotAString { name: name.clone() })
            })?;
            self.insert(name, value);
        }
        Ok(())
    }

    /// The value of an alias.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `text` with a leading alias expanded (`gh:owner/repo` → `https://github.com/owner/repo`);
    /// text that does not start with an alias, including every URL with a scheme, unchanged.
    pub fn expand_url(&self, text: &str) -> Result<String, UriError> {
        if text.contains("://") {
            return Ok(text.to_owned());
        }
        self.expand(text, 0)
    }

    /// Expands a leading `alias:` (or a bare `alias`) of `fragment`, recursively.
    fn expand(&self, fragment: &str, depth: usize) -> Result<String, UriError> {
        let (word, rest) = match fragment.split_once(':') {
            Some((word, rest)) if !rest.starts_with(|c: char| c.is_ascii_digit()) => {
                (word, Some(rest))
            }
            Some(_) => return Ok(fragment.to_owned()),
            None => (fragment, None),
        };
        if word.is_empty() || word.contains(['/', '.', ':']) {
            return Ok(fragment.to_owned());
        }
        let Some(value) = self.get(word) else {
            return Ok(fragment.to_owned());
        };
        if depth >= MAX_ALIAS_DEPTH {
            return Err(UriError::AliasCycle(word.to_owned()));
        }
        let mut expanded = self.expand(value, depth + 1)?;
        if let Some(rest) = rest.filter(|r| !r.is_empty()) {
            expanded.push('/');
            expanded.push_str(rest);
        }
        Ok(expanded)
    }
}

/// A git URL after alias expansion.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GitUrl {
    /// `https`, `ssh`, `file`, ...
    pub scheme: String,
    /// User name, if any.
    pub user: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// Host, absent for local paths.
    pub host: Option<String>,
    /// Port (never kept for ssh).
    pub port: Option<u16>,
    /// Path, starting with `/` when there is a host.
    pub path: String,
}

impl GitUrl {
    /// Parses a URL that may start with an alias (`gh:owner/repo`).
    pub fn parse(text: &str, aliases: &Aliases) -> Result<GitUrl, UriError> {
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, text),
        };
        let (userinfo, fragment) = match rest.split_once('@') {
            Some((info, fragment)) => (Some(info), fragment),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned())),
                None => (Some(info.to_owned()), None),
            },
            None => (None, None),
        };
        let expanded = aliases.expand(fragment, 0)?;

        // The host ends at the first `/` or `:`.
        let end = expanded.find(['/', ':']).unwrap_or(expanded.len());
        let candidate = &expanded[..end];
        // With an explicit network scheme the first component is the host, whatever it looks
        // like (`127.0.0.1`, `localhost`); without one, a host is told apart from a path.
        let explicit = scheme.as_deref().is_some_and(|s| s != "file");
        let is_host =
            !candidate.is_empty() && (explicit || has_public_suffix(candidate) || user.is_some());
        let (host, port, scp, path) = if is_host {
            let after = &expanded[end..];
            match after.strip_prefix(':') {
                Some(rest) => {
                    let digits = rest.find('/').unwrap_or(rest.len());
                    match rest[..digits].parse::<u16>() {
                        Ok(port) if digits > 0 => {
                            (Some(candidate), Some(port), false, &rest[digits..])
                        }
                        _ => (Some(candidate), None, true, rest),
                    }
                }
                None => (Some(candidate), None, false, after),
            }
        } else {
            (None, None, false, expanded.as_str())
        };
        let scheme = scheme.unwrap_or_else(|| {
            if host.is_none() {
                "file".into()
            } else if scp || (user.is_some() && password.is_none()) {
                "ssh".into()
            } else {
                "https".into()
            }
        });
        let mut path = path.to_owned();
        if host.is_some() && !path.starts_with('/') {
            path.insert(0, '/');
        }
        Ok(GitUrl {
            // As the reference renders them (docs/format.md#atom-uris).
            port: if scheme == "ssh" { None } else { port },
            scheme,
            user,
            password,
            host: host.map(str::to_owned),
            path,
        })
    }
}

/// Whether `host` looks like a public domain: it contains a `.` and ends in an alphabetic label
/// of two or more letters (a stand-in for the public suffix list).
fn has_public_suffix(host: &str) -> bool {
    match host.rsplit_once('.') {
        Some((name, tld)) => {
            !name.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        }
        None => false,
    }
}

impl fmt::Display for GitUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(password) = &self.password {
                write!(f, ":{password}")?;
            }
            f.write_str("@")?;
        }
        if let Some(host) = &self.host {
            f.write_str(host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        f.write_str(&self.path)
    }
}

/// `[url]::label[@requirement]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomUri {
    /// Where the atom's set is; absent for `::label` (this repository).
    pub url: Option<GitUrl>,
    /// The atom's label.
    pub label: Label,
    /// Which versions; any when absent.
    pub version: Option<Requirement>,
}

impl AtomUri {
    /// Parses an atom URI, expanding aliases.
    pub fn parse(text: &str, aliases: &Aliases) -> Result<AtomUri, UriError> {
        let (url, atom) = match text.split_once("::") {
            Some((url, atom)) => ((!url.is_empty()).then_some(url), atom),
            None => (None, text),
        };
        let (label, version) = match atom.split_once('@') {
            Some((label, version)) => (label, (!version.is_empty()).then_some(version)),
            None => (atom, None),
        };
        if label.is_empty() {
            return Err(UriError::NoAtom(text.to_owned()));
        }
        let label = Label::new(label).map_err(|error| UriError::Label {
            uri: text.to_owned(),
            label: label.to_owned(),
            error,
        })?;
        let version = version
            .map(|v| Requirement::parse(v).map_err(UriError::Requirement))
            .transpose()?;
        let url = url.map(|u| GitUrl::parse(u, aliases)).transpose()?;
        Ok(AtomUri {
            url,
            label,
            version,
        })
    }
}

impl fmt::Display for AtomUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(url) = &self.url {
            f.write_str(url.to_string().trim_end_matches('/'))?;
        }
        write!(f, "::{}", self.label)?;
        if let Some(version) = &self.version {
            write!(f, "@{version}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_uri_vectors() {
        let aliases = Aliases::default();
        let vectors: &[(&str, &str, &str, Option<&str>)] = &[
            (
                "gl:repo::atom@^2.0",
                "https://gitlab.com/repo",
                "atom",
                Some("^2.0"),
            ),
            ("gl::atom@^2.1", "https://gitlab.com/", "atom", Some("^2.1")),
            (
                "gl:path.with/dot::my-atom@^2",
                "https://gitlab.com/path.with/dot",
                "my-atom",
                Some("^2"),
            ),
            (
                "git@github.com:owner/repo::this-atom@^1",
                "ssh://git@github.com/owner/repo",
                "this-atom",
                Some("^1"),
            ),
            (
                "git@gh:owner/repo::this-atom@^1",
                "ssh://git@github.com/owner/repo",
                "this-atom",
                Some("^1"),
            ),
            (
                "https://example.com:8080/owner/repo::foo@^1",
                "https://example.com:8080/owner/repo",
                "foo",
                Some("^1"),
            ),
            (
                "https://foo.com/owner/repo::bar@^1",
                "https://foo.com/owner/repo",
                "bar",
                Some("^1"),
            ),
            (
                "https://gh:owner/repo::λ@^1",
                "https://github.com/owner/repo",
                "λ",
                Some("^1"),
            ),
            (
                "gh:owner/repo::λ@^1",
                "https://github.com/owner/repo",
                "λ",
                Some("^1"),
            ),
            (
                "git@gh:owner/repo::λ@^1",
                "ssh://git@github.com/owner/repo",
                "λ",
                Some("^1"),
            ),
            (
                "pkgs::zlib@^1",
                "https://github.com/nixos/nixpkgs",
                "zlib",
                Some("^1"),
            ),
            (
                "pkgs:foo/bar::baz",
                "https://github.com/nixos/nixpkgs/foo/bar",
                "baz",
                None,
            ),
        ];
        for (input, url, label, req) in vectors {
            let uri = AtomUri::parse(input, &aliases).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(uri.url.as_ref().unwrap().to_string(), *url, "{input}");
            assert_eq!(uri.label.as_str(), *label, "{input}");
            assert_eq!(
                uri.version.as_ref().map(|v| v.to_string()),
                req.map(str::to_owned),
                "{input}"
            );
        }
    }

    #[test]
    fn spec_aliased_url_vectors() {
        let aliases = Aliases::default();
        for (input, output) in [
            ("gh:foo/bar", "https://github.com/foo/bar"),
            ("bb", "https://bitbucket.org/"),
            ("https://gl:bar/baz", "https://gitlab.com/bar/baz"),
            ("pkgs", "https://github.com/nixos/nixpkgs"),
            ("git@gh:owner/repo", "ssh://git@github.com/owner/repo"),
        ] {
            assert_eq!(
                GitUrl::parse(input, &aliases).unwrap().to_string(),
                output,
                "{input}"
            );
        }
    }

    #[test]
    fn display_drops_the_trailing_slash() {
        let aliases = Aliases::default();
        let uri = AtomUri::parse("gl::atom@^2.1", &aliases).unwrap();
        assert_eq!(uri.to_string(), "https://gitlab.com::atom@^2.1");
        let uri = AtomUri::parse("::local", &aliases).unwrap();
        assert_eq!(uri.url, None);
        assert_eq!(uri.to_string(), "::local");
        // A bare version means `^`, as in Cargo.
        let uri = AtomUri::parse("gh:a/b::x@1.2.3", &aliases).unwrap();
        assert_eq!(uri.to_string(), "https://github.com/a/b::x@^1.2.3");
    }

    #[test]
    fn ssh_drops_ports_and_paths_have_no_host() {
        let aliases = Aliases::default();
        assert_eq!(
            GitUrl::parse("ssh://git@example.com:2222/a/b", &aliases)
                .unwrap()
                .to_string(),
            "ssh://git@example.com/a/b"
        );
        let local = GitUrl::parse("/srv/git/repo", &aliases).unwrap();
        assert_eq!(
            (local.scheme.as_str(), local.host.as_deref()),
            ("file", None)
        );
        assert_eq!(local.to_string(), "file:///srv/git/repo");
        let unknown = GitUrl::parse("nope:owner/repo", &aliases).unwrap();
        assert_eq!(unknown.to_string(), "file://nope:owner/repo");
    }

    #[test]
    fn errors() {
        let aliases = Aliases::default();
        assert_eq!(
            AtomUri::parse("gh:a/b::", &aliases),
            Err(UriError::NoAtom("gh:a/b::".into()))
        );
        assert_eq!(
            AtomUri::parse("gh:a/b::@^1", &aliases),
            Err(UriError::NoAtom("gh:a/b::@^1".into()))
        );
        assert_eq!(
            AtomUri::parse("gh:a/b::9x", &aliases)
                .unwrap_err()
                .to_string(),
            "invalid label \"9x\" in \"gh:a/b::9x\": cannot start with: '9'"
        );
        assert!(AtomUri::parse("gh:a/b::x@^one", &aliases)
            .unwrap_err()
            .to_string()
            .starts_with("invalid version requirement \"^one\""));
        let mut cyclic = Aliases::default();
        cyclic.insert("a", "b:x");
        cyclic.insert("b", "a:y");
        assert_eq!(
            GitUrl::parse("a:z", &cyclic),
            Err(UriError::AliasCycle("a".into()))
        );
    }

    #[test]
    fn user_aliases_from_toml() {
        let mut aliases = Aliases::default();
        aliases
            .merge_toml("[aliases]\nwork = \"git.example.org:team\"\ngh = \"github.example.com\"\n")
            .unwrap();
        assert_eq!(
            GitUrl::parse("work/repo", &aliases).unwrap().to_string(),
            "file://work/repo",
            "an alias needs its colon"
        );
        assert_eq!(
            GitUrl::parse("gh:o/r", &aliases).unwrap().to_string(),
            "https://github.example.com/o/r"
        );
        assert!(aliases.merge_toml("aliases = 1").is_err());
    }
}
