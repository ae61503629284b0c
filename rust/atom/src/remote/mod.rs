//! Talking to a git remote over the network: `https://`/`http://` (curl), `git://`, `ssh://` and
//! scp-like `user@host:path` (through the `ssh` program).
//!
//! A [`Remote`] is one connection: the handshake asks for protocol v2, so that listing refs is
//! `ls-refs` with `ref-prefix` filters (the server sends only the refs asked for); a server that
//! speaks only v0 sends its whole advertisement, which is filtered here. [`Remote::receive`] asks
//! for exactly the objects wanted (and tells what this side has), and writes the pack it gets
//! into a repository's object store; it never writes refs.
//!
//! Every connection has a time-out ([`Options::timeout`]): a server that accepts a connection and
//! then stops answering fails with [`RemoteError::Timeout`] instead of hanging the caller. Over
//! ssh it is ssh's own `ConnectTimeout` and keep-alive settings that apply.
//!
//! An [`Endpoint`] is either such a connection or a repository on this machine (a path or
//! `file://`), which is read directly; [`list_refs`] lists the refs of either.

pub mod advertisement;
mod credentials;
mod endpoint;
mod error;
mod guard;
#[cfg(feature = "http")]
mod http;
pub mod push;
mod socket;
mod ssh;

use std::ffi::OsString;
use std::io::{BufRead, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gix::protocol::fetch::negotiate;
use gix::protocol::handshake::Ref;
use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::client::git as git_transport;
use gix::protocol::transport::{Protocol, Service};
use gix::ObjectId;

pub use crate::uri::{redact, url_account, without_credentials};
pub use endpoint::{list_refs, local_path, Endpoint, ListError};
pub use error::RemoteError;

use crate::repo::Repo;
use crate::uri::Aliases;

/// How a connection behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a connection attempt, or a server's silence, may last before the operation fails.
    pub timeout: Duration,
    /// The ssh command (as `GIT_SSH_COMMAND` or `core.sshCommand` give it); `ssh` when `None`.
    pub ssh_command: Option<OsString>,
    /// The most pack data one receive may bring; a server that sends more is cut off, and what
    /// it sent is discarded.
    pub max_pack_bytes: u64,
    /// The most a server may send for the handshake and one ref listing (an endless listing is
    /// cut off there).
    pub max_listing_bytes: u64,
    /// The most memory one object may take once inflated (a delta may claim any size); the
    /// limit applied is also at most 64 times [`Options::max_pack_bytes`].
    pub max_object_bytes: u64,
    /// How long a whole connection may last, from connecting to its last byte: a server that
    /// sends a byte now and then never meets [`Options::timeout`], and meets this.
    pub deadline: Duration,
    /// Certificates to trust for https:// besides the system's (`GIT_SSL_CAINFO`, as git).
    pub ssl_ca_info: Option<std::path::PathBuf>,
    /// Credentials a command line gave inside a URL that is recorded without them (see
    /// [`without_credentials`]), for connections to that URL.
    pub credentials: Credentials,
    /// Where HTTP(S) servers' capability advertisements are remembered between connections
    /// ([`advertisement`]); `None` asks every server every time.
    pub advertisements: Option<advertisement::Advertisements>,
}

/// HTTP(S) users and passwords by URL (without credentials), held in memory only; `Debug` shows
/// the URLs, never the secrets.
#[derive(Clone, Default)]
pub struct Credentials(std::collections::BTreeMap<String, (String, String)>);

impl Credentials {
    /// Remembers the user and password written in `url` (if it has both), for connections to
    /// `url` without them.
    pub fn remember(&mut self, url: &str) {
        if let Some(account) = url_account(url) {
            self.0.insert(without_credentials(url), account);
        }
    }

    #[cfg(feature = "http")]
    fn account(&self, url: &str) -> Option<gix::sec::identity::Account> {
        let (username, password) = self.0.get(&without_credentials(url))?.clone();
        Some(gix::sec::identity::Account {
            username,
            password,
            oauth_refresh_token: None,
        })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Default for Options {
    /// 30 s of silence, 15 minutes in all, `GIT_SSH_COMMAND` (else `GIT_SSH`) and
    /// `GIT_SSL_CAINFO` from the environment, 4 GiB of pack data, 128 MiB of ref listing, 1 GiB
    /// per inflated object.
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(30),
            ssh_command: std::env::var_os("GIT_SSH_COMMAND")
                .or_else(|| std::env::var_os("GIT_SSH")),
            max_pack_bytes: 4 << 30,
            max_listing_bytes: 128 << 20,
            max_object_bytes: 1 << 30,
            deadline: Duration::from_secs(15 * 60),
            ssl_ca_info: std::env::var_os("GIT_SSL_CAINFO")
                .filter(|v| !v.is_empty())
                .map(Into::into),
            credentials: Credentials::default(),
            advertisements: None,
        }
    }
}

/// Whether `text` names a repository on this machine rather than a network URL, by git's rule:
/// a `file://` URL, or text without a scheme whose first `:` (if any) comes after a `/`
/// (`./a:b`, `/srv/x`, `repo`). `host:path` and `alias:path` are network URLs, whatever exists
/// on disk: a directory named like a URL never stands in for the server.
pub fn is_local(text: &str) -> bool {
    if text.starts_with("file://") {
        return true;
    }
    if text.contains("://") {
        return false;
    }
    match text.find(':') {
        None => true,
        Some(colon) => text[..colon].contains('/'),
    }
}

/// The network URL `text` names, after expanding a leading alias (`gh:owner/repo`), validated;
/// an error for anything that is not a network URL (including local paths).
pub fn network_url(text: &str, aliases: &Aliases) -> Result<String, RemoteError> {
    let invalid = |e: crate::uri::UriError| RemoteError::InvalidUrl {
        url: redact(text),
        reason: e.to_string(),
    };
    check_characters(text)?;
    // An alias expands to a host and path without a scheme (`gh:o/r` → `github.com/o/r`), which
    // the URI rules complete (https for a host); scp-like and explicit URLs stay as written.
    let expanded = match crate::uri::GitUrl::parse(text, aliases) {
        Ok(url) if !text.contains("://") && url.host.is_some() && url.scheme == "https" => {
            url.to_string()
        }
        _ => aliases.expand_url(text).map_err(invalid)?,
    };
    // An alias's expansion is text from a configuration file: checked like the URL.
    check_characters(&expanded)?;
    let parsed = gix::url::parse(gix::bstr::BStr::new(expanded.as_str())).map_err(|e| {
        RemoteError::InvalidUrl {
            url: redact(text),
            reason: e.to_string(),
        }
    })?;
    match parsed.scheme {
        gix::url::Scheme::File => Err(RemoteError::InvalidUrl {
            url: redact(text),
            reason: "it names a file, not a server; use file:///path or a path for a repository on this machine".into(),
        }),
        gix::url::Scheme::Http
        | gix::url::Scheme::Https
        | gix::url::Scheme::Git
        | gix::url::Scheme::Ssh => {
            if parsed.host().is_none_or(str::is_empty) {
                return Err(RemoteError::InvalidUrl {
                    url: redact(text),
                    reason: "it has no host".into(),
                });
            }
            Ok(expanded)
        }
        other => Err(RemoteError::UnsupportedScheme {
            url: redact(text),
            scheme: other.to_string(),
        }),
    }
}

/// Refuses a URL that holds a control character, as written or percent-decoded in any part
/// ([`crate::uri::has_control_characters`]).
pub fn check_characters(url: &str) -> Result<(), RemoteError> {
    if crate::uri::has_control_characters(url) {
        return Err(RemoteError::InvalidUrl {
            url: redact(url),
            reason: "it holds a control character (a line break, NUL, escape…), written or percent-encoded; no URL needs one, and git's credential protocol would read it as another request".into(),
        });
    }
    if let Some(c) = crate::uri::ambiguous_character(url) {
        return Err(RemoteError::InvalidUrl {
            url: redact(url),
            reason: format!("it holds {c:?}; a git server's URL has no query or fragment, and around a user part the character makes one host look like another"),
        });
    }
    Ok(())
}

/// A ref the remote advertised: its full name and the object it points at (for an annotated tag,
/// the tag object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// `refs/eka/atoms/hello/1.0.0`.
    pub name: String,
    /// The object.
    pub id: ObjectId,
}

/// What [`Remote::receive`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Received {
    /// Bytes of pack data received.
    pub bytes: u64,
    /// Objects in the pack.
    pub objects: usize,
    /// Whether the server applied the filter asked for.
    pub filtered: bool,
}

/// One connection to a remote repository, after the handshake.
pub struct Remote {
    url: String,
    host: Option<String>,
    options: Options,
    guard: guard::Guard,
    transport: Box<dyn Transport + Send>,
    handshake: gix::protocol::Handshake,
    /// The ssh program, when the conversation is with it.
    process: Option<ssh::Process>,
    /// The URL as given (with any credentials), to connect again.
    address: String,
    /// The remembered advertisement the handshake took ([`advertisement`]), if it took one: a
    /// request that fails is then made again after a fresh one, when that says otherwise.
    recalled: Option<Vec<u8>>,
    /// The server's advertisement (the list, where to keep it), kept when the conversation
    /// ends after it received objects without a failed request.
    to_remember: Option<(Vec<u8>, advertisement::Advertisements)>,
    /// Whether objects were received.
    received: bool,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url)
            .field("protocol", &self.handshake.server_protocol_version)
            .finish()
    }
}

/// Whether `error` may come from a server that no longer says what its remembered advertisement
/// said (not one that cannot be reached, is too slow, or sends too much).
fn may_be_stale(error: &RemoteError) -> bool {
    matches!(
        error,
        RemoteError::Protocol { .. }
            | RemoteError::Closed { .. }
            | RemoteError::Authentication { .. }
            | RemoteError::NoRepository { .. }
    )
}

fn agent() -> gix::protocol::command::Feature {
    (
        "agent",
        Some(gix::protocol::agent(concat!(
            "atom/",
            env!("CARGO_PKG_VERSION")
        ))),
    )
}

impl Remote {
    /// Connects to `url` (a network URL, aliases already expanded: see [`network_url`]) for
    /// reading, and performs the handshake.
    pub fn connect(url: &str, options: &Options) -> Result<Remote, RemoteError> {
        Remote::connect_with(url, options, true)
    }

    /// [`Remote::connect`], taking an HTTP(S) server's advertisement from
    /// [`Options::advertisements`] when `recall` and it is remembered there.
    fn connect_with(url: &str, options: &Options, recall: bool) -> Result<Remote, RemoteError> {
        let first = match Remote::connect_as(url, options, None, recall) {
            // What a remembered advertisement must be: protocol v2, which lists no refs in the
            // handshake (refs come from the server, never from a file). One that is not, or does
            // not parse, is forgotten and the server asked.
            Ok(remote) if remote.recalled.is_none() => Ok(remote),
            Ok(remote)
                if remote.handshake.server_protocol_version == Protocol::V2
                    && remote.handshake.refs.is_none() =>
            {
                Ok(remote)
            }
            Err(error)
                if !recall
                    || options
                        .advertisements
                        .as_ref()
                        .is_none_or(|m| m.recall(url).is_none()) =>
            {
                Err(error)
            }
            _ => {
                if let Some(memory) = &options.advertisements {
                    memory.forget(url);
                }
                Remote::connect_as(url, options, None, false)
            }
        };
        // Over HTTP(S), a server that wants credentials the URL does not carry gets those of
        // git's credential helpers, once.
        match first {
            Err(RemoteError::Authentication { .. }) if url.starts_with("http") => {
                let parsed = gix::url::parse(gix::bstr::BStr::new(url)).ok();
                match parsed.as_ref().and_then(credentials::from_git) {
                    Some(account) => Remote::connect_as(url, options, Some(account), recall),
                    None => first,
                }
            }
            other => other,
        }
    }

    /// [`Remote::connect_with`] with `identity` for HTTP(S) (else the URL's user and password).
    fn connect_as(
        url: &str,
        options: &Options,
        identity: Option<gix::sec::identity::Account>,
        recall: bool,
    ) -> Result<Remote, RemoteError> {
        check_characters(url)?;
        let parsed =
            gix::url::parse(gix::bstr::BStr::new(url)).map_err(|e| RemoteError::InvalidUrl {
                url: redact(url),
                reason: e.to_string(),
            })?;
        let host = parsed.host().map(str::to_owned);
        // Messages name the URL without its password.
        let shown = redact(url);
        // Whatever the server sends passes through one guard: the handshake and the listing
        // get the listing budget, and everything has the deadline.
        let guard = guard::Guard::new(options.max_listing_bytes, options.deadline);
        let fail = |e: &(dyn std::error::Error + 'static)| {
            RemoteError::from_gix(&shown, host.as_deref(), options.timeout, e)
                .or_limit(&guard, options, &shown)
        };
        let mut process = None;
        // For HTTP(S): where the advertisement the server sends is copied to be remembered, when
        // it is to be; and whether a remembered one stands in for it.
        #[cfg_attr(not(feature = "http"), allow(unused_mut))]
        let mut remembering: Option<(
            advertisement::Captures,
            &advertisement::Advertisements,
        )> = None;
        #[cfg_attr(not(feature = "http"), allow(unused_mut))]
        let mut recalled: Option<Vec<u8>> = None;
        let mut transport: Box<dyn Transport + Send> = match parsed.scheme {
            gix::url::Scheme::Git => Box::new(git_daemon(url, &parsed, options.timeout, &guard)?),
            #[cfg(feature = "http")]
            gix::url::Scheme::Http | gix::url::Scheme::Https => {
                let identity = identity
                    .or_else(|| credentials::from_url(&parsed))
                    .or_else(|| options.credentials.account(url));
                // Only what a server says to anyone is remembered: no credentials are sent (a
                // user alone in the URL is one: often a token).
                let anonymous =
                    identity.is_none() && parsed.user().is_none() && parsed.password().is_none();
                let memory = options.advertisements.as_ref().filter(|_| anonymous);
                recalled = memory.filter(|_| recall).and_then(|m| m.recall(url));
                let (transport, captured) =
                    http::connect(parsed.clone(), options, identity, recalled.clone(), &guard)
                        .map_err(|e| fail(&e))?;
                remembering = memory.filter(|_| recalled.is_none()).map(|m| (captured, m));
                Box::new(transport)
            }
            #[cfg(not(feature = "http"))]
            gix::url::Scheme::Http | gix::url::Scheme::Https => {
                let _ = (identity, recall);
                return Err(RemoteError::NoHttp { url: shown });
            }
            gix::url::Scheme::Ssh => {
                let (command, program) = ssh_command(options);
                let (connection, child) =
                    ssh::spawn(&parsed, &command, program, &guard, options.timeout)?;
                process = Some(child);
                Box::new(connection)
            }
            other => {
                return Err(RemoteError::UnsupportedScheme {
                    url: shown,
                    scheme: other.to_string(),
                })
            }
        };
        let asked = transport.to_url().into_owned();
        let handshake = gix::protocol::handshake(
            &mut transport,
            Service::UploadPack,
            // Never a prompt: credentials are set on the transport up front (see `connect`).
            |_| Ok(None),
            Vec::new(),
            &mut gix::progress::Discard,
        );
        let handshake = match handshake {
            Ok(handshake) => handshake,
            Err(e) => {
                let error = fail(&e);
                // What ssh said explains a failure better than the closed pipe gix saw.
                let said = process.as_ref().and_then(ssh::Process::message);
                return Err(match (error, said) {
                    (
                        RemoteError::Ssh { url, .. }
                        | RemoteError::Closed { url }
                        | RemoteError::Protocol { url, .. },
                        Some(message),
                    ) => RemoteError::Ssh { url, message },
                    (error, _) => error,
                });
            }
        };
        // Kept when the server speaks v2 (its advertisement is all the GET says) and did not
        // redirect (the next connection would not be told), once the conversation went well.
        let to_remember = remembering.and_then(|(captures, memory)| {
            let list = captures.single_response()?;
            (handshake.server_protocol_version == Protocol::V2
                && handshake.refs.is_none()
                && *transport.to_url() == *asked)
                .then(|| (list, memory.clone()))
        });
        Ok(Remote {
            url: shown,
            host,
            options: options.clone(),
            guard,
            transport,
            handshake,
            process,
            address: url.to_owned(),
            recalled,
            to_remember,
            received: false,
        })
    }

    fn error(&self, e: &(dyn std::error::Error + 'static)) -> RemoteError {
        RemoteError::from_gix(&self.url, self.host.as_deref(), self.options.timeout, e).or_limit(
            &self.guard,
            &self.options,
            &self.url,
        )
    }

    /// The refs whose names start with one of `prefixes`, without receiving any object. With
    /// protocol v2 the prefixes go to the server (`ls-refs` with `ref-prefix`); a v0/v1 server's
    /// advertisement is filtered here. Symbolic refs count as the ref they point to; refs
    /// listed twice once.
    pub fn list(&mut self, prefixes: &[String]) -> Result<Vec<RemoteRef>, RemoteError> {
        let listed = match self.list_once(prefixes) {
            Err(e) if self.recalled.is_some() && may_be_stale(&e) => {
                self.renew(e)?;
                self.list_once(prefixes)
            }
            listed => listed,
        };
        self.settle(listed)
    }

    /// Passes `result` on; a failure means the server's advertisement is not to be remembered.
    fn settle<T>(&mut self, result: Result<T, RemoteError>) -> Result<T, RemoteError> {
        if result.is_err() {
            self.to_remember = None;
        }
        result
    }

    /// After a request failed (`error`) on a connection whose handshake was a remembered
    /// advertisement: connects afresh, within what is left of the deadline. `Ok` when the
    /// server's advertisement changed (the stale one is forgotten), so that the request is worth
    /// making again; otherwise (the same advertisement, no time left, or no answer) the request
    /// failed for another reason, and `error` stands.
    fn renew(&mut self, error: RemoteError) -> Result<(), RemoteError> {
        let Some(recalled) = self.recalled.take() else {
            return Err(error);
        };
        let left = self.guard.remaining();
        if left.is_zero() {
            return Err(error);
        }
        let options = Options {
            deadline: left,
            ..self.options.clone()
        };
        let Ok(mut fresh) = Remote::connect_with(&self.address, &options, false) else {
            return Err(error);
        };
        let same = fresh
            .to_remember
            .as_ref()
            .is_some_and(|(list, _)| *list == recalled);
        fresh.options = self.options.clone();
        *self = fresh;
        if same {
            return Err(error);
        }
        // The fresh advertisement takes the old one's place when this conversation goes well.
        if let Some(memory) = &self.options.advertisements {
            memory.forget(&self.address);
        }
        Ok(())
    }

    /// [`Remote::list`], once.
    fn list_once(&mut self, prefixes: &[String]) -> Result<Vec<RemoteRef>, RemoteError> {
        self.guard
            .allow(guard::Stage::Listing, self.options.max_listing_bytes);
        let refs = match self.handshake.refs.take() {
            Some(refs) => refs,
            None => {
                let mut ref_prefixes = gix::protocol::ls_refs::RefPrefixes::new();
                ref_prefixes.extend(prefixes.iter().map(|p| p.as_str().into()));
                gix::protocol::LsRefsCommand::new(
                    Some(ref_prefixes),
                    &self.handshake.capabilities,
                    agent(),
                )
                .invoke_blocking(&mut self.transport, &mut gix::progress::Discard, false)
                .map_err(|e| self.error(&e))?
            }
        };
        let mut listed: Vec<RemoteRef> = refs
            .into_iter()
            .filter_map(|r| {
                let (name, id) = match r {
                    Ref::Direct {
                        full_ref_name,
                        object,
                    } => (full_ref_name, object),
                    Ref::Peeled {
                        full_ref_name, tag, ..
                    } => (full_ref_name, tag),
                    Ref::Symbolic { .. } | Ref::Unborn { .. } => return None,
                };
                let name = String::from_utf8(name.into()).ok()?;
                prefixes
                    .iter()
                    .any(|p| name.starts_with(p.as_str()))
                    .then_some(RemoteRef { name, id })
            })
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        listed.dedup_by(|a, b| a.name == b.name);
        Ok(listed)
    }

    /// Receives the objects reachable from `wants` that are not reachable from `haves` (objects
    /// `dest` already has and the remote advertises), as one pack written into `dest`'s object
    /// store. No ref is written. The pack is written under a temporary name and renamed into
    /// place complete, so an interrupted receive leaves at most a stray temporary file.
    pub fn receive(
        &mut self,
        dest: &Repo,
        wants: &[ObjectId],
        haves: &[ObjectId],
    ) -> Result<Received, RemoteError> {
        self.receive_filtered(dest, wants, haves, None)
    }

    /// A new conversation with the same server, in place of this one (after a request the
    /// server refused, which ends a conversation).
    pub fn reconnect(&mut self) -> Result<(), RemoteError> {
        *self = Remote::connect(&self.address, &self.options)?;
        Ok(())
    }

    /// Whether the server speaks protocol v2, so that one connection serves several requests.
    pub fn speaks_v2(&self) -> bool {
        self.handshake.server_protocol_version == Protocol::V2
    }

    /// Whether the server accepts a second request on this connection and object filters in
    /// it (protocol v2 with `filter` among its `fetch` features): what a fetch in two rounds
    /// (trees first, then exactly the missing blobs) needs.
    pub fn can_filter(&self) -> bool {
        self.handshake.server_protocol_version == Protocol::V2
            && self
                .handshake
                .capabilities
                .capability("fetch")
                .and_then(|c| c.values().map(|mut v| v.any(|f| f == "filter")))
                .unwrap_or(false)
    }

    /// [`Remote::receive`] with the object `filter` (`blob:none`: commits and trees only) when
    /// the server accepts one; [`Received::filtered`] says whether it did.
    pub fn receive_filtered(
        &mut self,
        dest: &Repo,
        wants: &[ObjectId],
        haves: &[ObjectId],
        filter: Option<&str>,
    ) -> Result<Received, RemoteError> {
        let received = match self.receive_once(dest, wants, haves, filter) {
            Err(e) if self.recalled.is_some() && may_be_stale(&e) => {
                self.renew(e)?;
                self.receive_once(dest, wants, haves, filter)
            }
            received => received,
        };
        self.received |= received.as_ref().is_ok_and(|r| r.objects > 0);
        self.settle(received)
    }

    /// [`Remote::receive_filtered`], once.
    fn receive_once(
        &mut self,
        dest: &Repo,
        wants: &[ObjectId],
        haves: &[ObjectId],
        filter: Option<&str>,
    ) -> Result<Received, RemoteError> {
        if wants.is_empty() {
            return Ok(Received::default());
        }
        // Progress messages are several kilobytes of text nobody reads here.
        let no_progress = match self.handshake.server_protocol_version {
            Protocol::V2 => true,
            _ => self.handshake.capabilities.contains("no-progress"),
        };
        let mut negotiate = Exact {
            wants: wants.to_vec(),
            haves: haves.to_vec(),
            no_progress,
            filter: filter.map(str::to_owned),
            filtered: false,
        };
        let repo = dest.gix();
        let pack_dir = repo.objects.store_ref().path().join("pack");
        let shallow_file = repo.git_dir().join("shallow");
        let mut received = Received::default();
        let max_pack_bytes = self.options.max_pack_bytes;
        // The pack, and what the server says around it (acknowledgements, a little more).
        self.guard
            .allow(guard::Stage::Pack, max_pack_bytes.saturating_add(1 << 20));
        let guard = self.guard.clone();
        let alloc_limit = self.options.inflated_limit();
        let interrupt = AtomicBool::new(false);
        let outcome = gix::protocol::fetch(
            &mut negotiate,
            |reader, progress, should_interrupt| {
                let mut counted = Counted {
                    inner: reader,
                    bytes: 0,
                    limit: max_pack_bytes,
                    guard: &guard,
                };
                let written = gix::odb::pack::Bundle::write_to_directory(
                    &mut counted,
                    Some(&pack_dir),
                    progress,
                    should_interrupt,
                    Some(repo.objects.clone()),
                    gix::hash::Kind::Sha1,
                    gix::odb::pack::bundle::write::Options {
                        thread_limit: Some(1),
                        // A delta claims the size of what it makes: no object gets more memory
                        // than this, whatever it claims.
                        alloc_limit_bytes: Some(alloc_limit),
                        ..Default::default()
                    },
                )?;
                received.bytes = counted.bytes;
                received.objects = written.index.num_objects as usize;
                // The .keep file guards the pack until refs point into it; the caller writes
                // those refs right after verifying, and nothing here collects garbage.
                if let Some(keep) = written.keep_path {
                    let _ = std::fs::remove_file(keep);
                }
                Ok(true)
            },
            gix::progress::Discard,
            &interrupt,
            gix::protocol::fetch::Context {
                handshake: &mut self.handshake,
                transport: &mut self.transport,
                user_agent: agent(),
                trace_packetlines: false,
            },
            gix::protocol::fetch::Options {
                shallow_file,
                shallow: &gix::protocol::fetch::Shallow::NoChange,
                tags: gix::protocol::fetch::Tags::None,
                reject_shallow_remote: false,
            },
        );
        outcome.map_err(|e| self.error(&e))?;
        received.filtered = negotiate.filtered;
        Ok(received)
    }
}

impl Drop for Remote {
    /// Ends the conversation politely (stateful transports expect a flush packet), then the
    /// ssh program, if any, whatever state it is in.
    fn drop(&mut self) {
        if self.guard.tripped().is_none() {
            let _ = gix::protocol::indicate_end_of_interaction(&mut self.transport, false);
        }
        // Dropping the ssh program's handle ends it.
        self.process.take();
        if let Some((list, memory)) = self.to_remember.take().filter(|_| self.received) {
            memory.remember(&self.address, &list);
        }
    }
}

impl Options {
    /// The most memory one object may take once inflated: [`Options::max_object_bytes`], and at
    /// most 64 times [`Options::max_pack_bytes`] (whichever is less).
    pub fn inflated_limit(&self) -> usize {
        let limit = self
            .max_object_bytes
            .min(self.max_pack_bytes.saturating_mul(64));
        usize::try_from(limit).unwrap_or(usize::MAX)
    }
}

/// The ssh command and its kind: `GIT_SSH_COMMAND`/`core.sshCommand` as given, else `ssh`; when
/// the program is OpenSSH's `ssh`, with a connect time-out (which covers the protocol greeting)
/// and keep-alives, so that an unreachable or vanished server fails within about the time-out.
fn ssh_command(options: &Options) -> (OsString, ssh::Program) {
    let secs = options.timeout.as_secs().max(1);
    let limits = format!(
        " -o ConnectTimeout={secs} -o ServerAliveInterval={} -o ServerAliveCountMax=3",
        secs.div_ceil(3)
    );
    match &options.ssh_command {
        None => (
            OsString::from(format!("ssh{limits}")),
            ssh::Program::OpenSsh,
        ),
        Some(command) => {
            let text = command.to_string_lossy();
            let program = text.split_whitespace().next().unwrap_or_default();
            if std::path::Path::new(program).file_name() == Some(std::ffi::OsStr::new("ssh")) {
                (
                    OsString::from(format!("{text}{limits}")),
                    ssh::Program::OpenSsh,
                )
            } else {
                (command.clone(), ssh::Program::Simple)
            }
        }
    }
}

/// A `git://` connection with time-outs: a bounded connect, and reads and writes that fail after
/// `timeout` of silence.
fn git_daemon(
    url: &str,
    parsed: &gix::url::Url,
    timeout: Duration,
    guard: &guard::Guard,
) -> Result<
    git_transport::blocking_io::Connection<guard::Guarded<socket::Reader>, TcpStream>,
    RemoteError,
> {
    let host = parsed.host().unwrap_or_default().to_owned();
    let port = parsed.port.unwrap_or(9418);
    let unknown = || RemoteError::UnknownHost {
        url: url.to_owned(),
        host: host.clone(),
    };
    let addresses: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|_| unknown())?
        .collect();
    let mut last = None;
    let mut stream = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let io = |e: std::io::Error| RemoteError::from_gix(url, Some(&host), timeout, &e);
    let read = match (stream, last) {
        (Some(stream), _) => stream,
        (None, Some(e)) => return Err(io(e)),
        (None, None) => return Err(unknown()),
    };
    // Requests are small writes followed by a read: without this, Nagle's algorithm and delayed
    // acknowledgements hold each one back for tens of milliseconds.
    read.set_nodelay(true).map_err(io)?;
    read.set_read_timeout(Some(timeout)).map_err(io)?;
    read.set_write_timeout(Some(timeout)).map_err(io)?;
    let write = read.try_clone().map_err(io)?;
    Ok(git_transport::blocking_io::Connection::new(
        guard::Guarded::new(socket::reader(read), guard.clone()),
        write,
        Protocol::V2,
        parsed.path.clone(),
        Some((host.clone(), parsed.port)),
        git_transport::ConnectMode::Daemon,
        false,
    ))
}

/// Negotiation that asks for exactly `wants`, says it has `haves`, and is done in one round;
/// with `filter` when the server takes one (then `filtered`).
struct Exact {
    wants: Vec<ObjectId>,
    haves: Vec<ObjectId>,
    no_progress: bool,
    filter: Option<String>,
    filtered: bool,
}

impl gix::protocol::fetch::Negotiate for Exact {
    fn mark_complete_and_common_ref(&mut self) -> gix::Result<negotiate::Action> {
        Ok(negotiate::Action::MustNegotiate {
            remote_ref_target_known: Vec::new(),
        })
    }

    fn add_wants(
        &mut self,
        arguments: &mut gix::protocol::fetch::Arguments,
        _remote_ref_target_known: &[bool],
    ) -> bool {
        if self.no_progress {
            arguments.add_feature("no-progress");
        }
        if let Some(filter) = &self.filter {
            if arguments.can_use_filter() {
                arguments.filter(filter);
                self.filtered = true;
            }
        }
        for id in &self.wants {
            arguments.want(id);
        }
        !self.wants.is_empty()
    }

    fn one_round(
        &mut self,
        _state: &mut negotiate::one_round::State,
        arguments: &mut gix::protocol::fetch::Arguments,
        _previous_response: Option<&gix::protocol::fetch::Response>,
    ) -> gix::Result<(negotiate::Round, bool)> {
        for id in &self.haves {
            arguments.have(id);
        }
        Ok((
            negotiate::Round {
                haves_sent: self.haves.len(),
                in_vain: 0,
                haves_to_send: 0,
                previous_response_had_at_least_one_in_common: false,
            },
            true,
        ))
    }
}

/// A reader of pack data that counts the bytes read through it, and fails once they pass
/// `limit` (tripping the connection's guard, so that the error names the limit).
struct Counted<'a> {
    inner: &'a mut dyn BufRead,
    bytes: u64,
    limit: u64,
    guard: &'a guard::Guard,
}

impl Counted<'_> {
    fn check(&self) -> std::io::Result<()> {
        if self.bytes > self.limit {
            return Err(self.guard.exceeded());
        }
        Ok(())
    }
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.check()?;
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

impl BufRead for Counted<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.check()?;
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.bytes += amount as u64;
        self.inner.consume(amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_urls_are_told_from_paths() {
        let aliases = Aliases::default();
        assert_eq!(
            network_url("gh:owner/repo", &aliases).unwrap(),
            "https://github.com/owner/repo"
        );
        for url in [
            "https://h.example/r.git",
            "git://127.0.0.1:9418/r",
            "ssh://git@h.example:2222/r",
            "git@h.example:owner/r.git",
        ] {
            assert_eq!(network_url(url, &aliases).unwrap(), url);
            assert!(!is_local(url), "{url}");
        }
        for path in ["/srv/r", "./r", "file:///srv/r", "r", "./a:b"] {
            assert!(is_local(path), "{path}");
        }
        // By git's rule the text alone decides: a directory named like a URL never stands in
        // for the server.
        assert!(!is_local("h.example:r"));
        assert!(!is_local("git://h.example/r"));
        // Over HTTP(S) the whole user info is secret (a token is often the user); over ssh the
        // user stays.
        assert_eq!(redact("https://u@h.example/r"), "https://***@h.example/r");
        assert_eq!(
            redact("https://u:pw@h.example/r"),
            "https://***@h.example/r"
        );
        assert_eq!(
            redact("ssh://git:pw@h.example/r"),
            "ssh://git:***@h.example/r"
        );
        assert_eq!(redact("ssh://git@h.example/r"), "ssh://git@h.example/r");
        assert_eq!(
            without_credentials("https://u:p%40ss@h.example/a@b"),
            "https://h.example/a@b"
        );
        assert_eq!(
            without_credentials("ssh://git:pw@h.example/r"),
            "ssh://git@h.example/r"
        );
        assert_eq!(without_credentials("git@h.example:r"), "git@h.example:r");
        assert_eq!(
            url_account("https://u%3A1:p%40ss@h.example/r"),
            Some(("u:1".to_owned(), "p@ss".to_owned()))
        );
        // Control characters, written or percent-encoded in any part, are refused before git
        // or a credential helper hears of the URL (git's CVE-2020-5260 class).
        for url in [
            "https://h.example/r%0d%0ahost=other.example",
            "https://u%0a@h.example/r",
            "https://h.example/r%00",
            "https://h.example/r\n",
            "git://h.example/%1b[2J",
            "ssh://h.example/r%7f",
        ] {
            let err = network_url(url, &aliases).unwrap_err();
            assert!(
                err.to_string().contains("control character"),
                "{url}: {err}"
            );
        }
        // A user part that parsers end differently never names another host than the one
        // reached: refused, and never credited to the host after the `@`.
        for url in [
            "https://evil.example?@good.example/r",
            "https://evil.example#@good.example/r",
            "https://evil.example\\@good.example/r",
        ] {
            let err = network_url(url, &aliases).unwrap_err().to_string();
            assert!(err.contains("no query or fragment"), "{url}: {err}");
            assert!(err.contains("evil.example"), "{url}: {err}");
            assert!(
                !without_credentials(url).starts_with("https://good"),
                "{url}"
            );
        }
        let err = network_url("ftp://h.example/r", &aliases).unwrap_err();
        assert!(
            err.to_string().contains("the ftp scheme is not supported"),
            "{err}"
        );
        let err = network_url("http://", &aliases).unwrap_err();
        assert!(err.to_string().contains("is not a git URL"), "{err}");
    }
}
