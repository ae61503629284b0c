//! Where refs are listed and objects received from: a repository on this machine (a path or a
//! `file://` URL), read directly, or a server, through a [`Remote`] connection.

use std::path::PathBuf;

use gix::ObjectId;

use super::{is_local, network_url, Options, Remote, RemoteError};
use crate::repo::{Repo, RepoError};
use crate::uri::Aliases;

/// Why the refs at a URL could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// A local URL whose path does not exist.
    #[error("cannot fetch {url}: {} does not exist", path.display())]
    NoSuchRepository {
        /// The URL.
        url: String,
        /// Its path.
        path: PathBuf,
    },
    /// The server could not be reached or read.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The repository on this machine could not be read.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Where `url` is on the file system, if it is a local path or a `file://` URL.
pub fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        // `file:///p` and `file://localhost/p` are `/p`; a `file://` URL naming another host is
        // not on this machine (and is refused as a network URL).
        return match rest.strip_prefix("localhost") {
            Some(path) if path.starts_with('/') => Some(PathBuf::from(path)),
            _ if rest.starts_with('/') => Some(PathBuf::from(rest)),
            _ => None,
        };
    }
    is_local(url).then(|| PathBuf::from(url))
}

/// Where atoms come from: a repository on this machine, or a connection to a remote.
pub enum Endpoint {
    /// A repository on this machine.
    Local(Box<Repo>),
    /// A connection to a server.
    Remote(Box<Remote>),
}

impl Endpoint {
    /// Opens the repository at `url` (a path, `file://`, or a network URL, with `aliases`
    /// expanded), connecting with `options` when it is on a server.
    pub fn open(url: &str, options: &Options, aliases: &Aliases) -> Result<Endpoint, ListError> {
        if let Some(path) = local_path(url) {
            if !path.exists() {
                return Err(ListError::NoSuchRepository {
                    url: url.to_owned(),
                    path,
                });
            }
            return Ok(Endpoint::Local(Box::new(Repo::open(&path)?)));
        }
        let url = network_url(url, aliases)?;
        Ok(Endpoint::Remote(Box::new(Remote::connect(&url, options)?)))
    }

    /// The refs under `prefixes` (full names), without objects.
    pub fn list(&mut self, prefixes: &[String]) -> Result<Vec<(String, ObjectId)>, ListError> {
        match self {
            Endpoint::Local(repo) => {
                let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
                Ok(repo.refs_under(&prefixes)?)
            }
            Endpoint::Remote(remote) => Ok(remote
                .list(prefixes)?
                .into_iter()
                .map(|r| (r.name, r.id))
                .collect()),
        }
    }
}

/// The refs under `prefixes` at `url` (a path, `file://`, or a network URL), by full name,
/// without receiving any object.
pub fn list_refs(
    url: &str,
    prefixes: &[String],
    options: &Options,
    aliases: &Aliases,
) -> Result<Vec<(String, ObjectId)>, ListError> {
    Endpoint::open(url, options, aliases)?.list(prefixes)
}
