//! Errors of talking to a git remote: each one line that names the URL and says what to do.

use std::time::Duration;

/// Everything that can go wrong reaching a remote, listing its refs or receiving objects.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The text is neither a URL nor a path.
    #[error("{url:?} is not a git URL ({reason}); expected https://host/path, http://…, git://host/path, ssh://[user@]host/path, user@host:path, file:///path or a path")]
    InvalidUrl {
        /// What was given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A scheme this build does not speak.
    #[error("{url}: the {scheme} scheme is not supported; use https://, http://, git://, ssh:// or a path")]
    UnsupportedScheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// An `http(s)://` URL, in a build without the `http` feature (the Nix plugin's: it never
    /// touches the network).
    #[error(
        "{url}: this build of atom has no HTTP transport (it was built without the `http` feature)"
    )]
    NoHttp {
        /// The URL.
        url: String,
    },
    /// The host name does not resolve.
    #[error(
        "cannot reach {url}: unknown host {host:?}; check the URL (and your DNS or proxy settings)"
    )]
    UnknownHost {
        /// The URL.
        url: String,
        /// The host.
        host: String,
    },
    /// Nothing listens there.
    #[error(
        "cannot reach {url}: connection refused; is the server running, and is the port right?"
    )]
    Refused {
        /// The URL.
        url: String,
    },
    /// The server stopped answering.
    #[error("{url} did not answer within {} s; the server hangs or the network is down (raise the limit with --timeout)", timeout.as_secs())]
    Timeout {
        /// The URL.
        url: String,
        /// The limit that passed.
        timeout: Duration,
    },
    /// The server sent more than a limit allows.
    #[error("{url} sent more than {} MiB {what}, the limit; it was cut off and nothing it sent was kept (raise the limit with {flag})", limit >> 20)]
    TooMuch {
        /// The URL.
        url: String,
        /// What was too large: `of pack data`.
        what: &'static str,
        /// The limit, in bytes.
        limit: u64,
        /// The command-line option that raises it.
        flag: &'static str,
    },
    /// An object of the server's pack would take more memory once inflated than allowed (its
    /// delta may claim any size).
    #[error("{url} sent a pack with an object that would take more than {} MiB once inflated, the limit; nothing of it was kept (raise the limit with --max-object-mib, which is at most 64 times --max-fetch-mib)", limit >> 20)]
    Inflated {
        /// The URL.
        url: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The whole conversation took longer than its deadline.
    #[error("{url} did not finish within {} s in all (it sends too slowly, or without end), so it was cut off (raise the limit with --deadline)", deadline.as_secs())]
    Deadline {
        /// The URL.
        url: String,
        /// The deadline that passed.
        deadline: Duration,
    },
    /// The server wants credentials, or refused the ones given.
    #[error("{url} refused access (authentication failed): no credentials, or wrong ones, came from the URL (https://user:token@host/…) or from git's credential helpers; configure one for this host, or use an ssh:// URL with a key the server accepts")]
    Authentication {
        /// The URL.
        url: String,
    },
    /// The server says there is no repository there.
    #[error("{url}: no git repository there; check the path")]
    NoRepository {
        /// The URL.
        url: String,
    },
    /// Credentials are not sent in clear text.
    #[error("{url}: credentials are sent only over https://, never in clear text over http://; use the https:// URL")]
    ClearText {
        /// The URL.
        url: String,
    },
    /// The server closed the connection before the conversation was over.
    #[error("{url} closed the connection before answering; is it a git server, and is the path a repository?")]
    Closed {
        /// The URL.
        url: String,
    },
    /// The ssh program failed (could not connect, host key, permissions, …).
    #[error("ssh to {url} failed: {message}")]
    Ssh {
        /// The URL.
        url: String,
        /// What ssh said.
        message: String,
    },
    /// Anything else the transport or the protocol reported.
    #[error("{url}: {message}")]
    Protocol {
        /// The URL.
        url: String,
        /// The innermost cause.
        message: String,
    },
}

impl RemoteError {
    /// This error, or the limit `guard` says was passed (whatever gix made of the failed read),
    /// or the inflated-object limit when the pack's indexing ran out of its allowance.
    pub(super) fn or_limit(
        self,
        guard: &super::guard::Guard,
        options: &super::Options,
        url: &str,
    ) -> RemoteError {
        use super::guard::{Stage, Tripped};
        let url = url.to_owned();
        match guard.tripped() {
            Some(Tripped::Deadline) => RemoteError::Deadline {
                url,
                deadline: options.deadline,
            },
            Some(Tripped::Silence) => RemoteError::Timeout {
                url,
                timeout: options.timeout,
            },
            Some(Tripped::Bytes(Stage::Listing)) => RemoteError::TooMuch {
                url,
                what: "for the handshake and ref listing",
                limit: options.max_listing_bytes,
                flag: "--max-listing-mib",
            },
            Some(Tripped::Bytes(Stage::Pack)) => RemoteError::TooMuch {
                url,
                what: "of pack data",
                limit: options.max_pack_bytes,
                flag: "--max-fetch-mib",
            },
            None if self.to_string().contains("too large to fit in memory") => {
                RemoteError::Inflated {
                    url,
                    limit: options.inflated_limit() as u64,
                }
            }
            None => self,
        }
    }

    /// Classifies an error of gix's transport or protocol layers into one of the errors above, by
    /// the I/O error or the message at its root.
    pub(super) fn from_gix(
        url: &str,
        host: Option<&str>,
        timeout: Duration,
        error: &(dyn std::error::Error + 'static),
    ) -> RemoteError {
        let classified = Self::classify(url, host, timeout, error);
        // Over ssh, what went wrong is ssh's to say: it has printed it on stderr already.
        let ssh = url.starts_with("ssh://") || !url.contains("://");
        match classified {
            RemoteError::Refused { url } | RemoteError::Closed { url } if ssh => RemoteError::Ssh {
                url,
                message: "ssh could not reach the server, or the server closed the connection"
                    .into(),
            },
            other => other,
        }
    }

    fn classify(
        url: &str,
        host: Option<&str>,
        timeout: Duration,
        error: &(dyn std::error::Error + 'static),
    ) -> RemoteError {
        let url = url.to_owned();
        let mut chain = Vec::new();
        let mut next = Some(error);
        while let Some(e) = next {
            chain.push(e);
            next = e.source();
        }
        let mut closed = false;
        for e in &chain {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                match io.kind() {
                    ConnectionRefused => return RemoteError::Refused { url },
                    TimedOut | WouldBlock => return RemoteError::Timeout { url, timeout },
                    PermissionDenied => return RemoteError::Authentication { url },
                    // Decided after the messages: curl reports a time-out inside an early EOF.
                    UnexpectedEof | BrokenPipe | ConnectionReset => closed = true,
                    _ => {}
                }
            }
        }
        let texts: Vec<String> = chain.iter().map(|e| e.to_string()).collect();
        let all = texts.join(": ").to_lowercase();
        let has = |needle: &str| all.contains(needle);
        if has("in clear text over http") {
            return RemoteError::ClearText { url };
        }
        if has("could not resolve host")
            || has("failed to lookup address")
            || has("could not resolve git server")
            || has("name or service not known")
            || has("could not resolve hostname")
        {
            return RemoteError::UnknownHost {
                url,
                host: host.unwrap_or_default().to_owned(),
            };
        }
        if has("connection refused") || has("couldn't connect") || has("could not connect") {
            return RemoteError::Refused { url };
        }
        if has("timed out") || has("timeout") || has("operation too slow") {
            return RemoteError::Timeout { url, timeout };
        }
        if has("401") || has("403") || has("authentication") || has("credentials") {
            return RemoteError::Authentication { url };
        }
        if has("permission denied (publickey") || has("host key verification failed") || has("ssh:")
        {
            return RemoteError::Ssh {
                url,
                message: last_line(texts.last()),
            };
        }
        if has("404")
            || has("not found: ")
            || has("does not appear to be a git repository")
            || has("no such repository")
            || has("repository not exported")
            || has("not a git repository")
        {
            return RemoteError::NoRepository { url };
        }
        if closed {
            return RemoteError::Closed { url };
        }
        // The innermost error says what happened; the outer ones only say where.
        RemoteError::Protocol {
            url,
            message: last_line(texts.last()),
        }
    }
}

/// The last non-empty line of a message (process output can span several), its control
/// characters escaped: the text is the server's (an `ERR` line) or a program's, and is shown on
/// the user's terminal.
fn last_line(text: Option<&String>) -> String {
    let line = text
        .and_then(|t| t.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("the connection failed")
        .trim();
    crate::diagnostic::escape_controls(line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(error: &(dyn std::error::Error + 'static)) -> RemoteError {
        RemoteError::from_gix(
            "https://h.example/r",
            Some("h.example"),
            Duration::from_secs(3),
            error,
        )
    }

    #[test]
    fn causes_are_classified_by_their_root() {
        // An I/O error anywhere in the chain decides.
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(classify(&refused), RemoteError::Refused { .. }));
        let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
        let message = classify(&timed_out).to_string();
        assert!(message.contains("did not answer within 3 s"), "{message}");
        // curl's and the resolver's words (no DNS query is made here).
        let unknown = std::io::Error::other("Could not resolve host: h.example");
        let message = classify(&unknown).to_string();
        assert_eq!(
            message,
            "cannot reach https://h.example/r: unknown host \"h.example\"; check the URL (and your DNS or proxy settings)"
        );
        let auth = std::io::Error::other("Received HTTP status 401");
        assert!(matches!(
            classify(&auth),
            RemoteError::Authentication { .. }
        ));
        // A server's text cannot rewrite the terminal it is shown on.
        let hostile = std::io::Error::other("ERR \x1b[2J\x1b[Hall good\r");
        assert_eq!(
            classify(&hostile).to_string(),
            "https://h.example/r: ERR \\u{1b}[2J\\u{1b}[Hall good"
        );
        let other = std::io::Error::other("first line\nthe server said no\n");
        assert_eq!(
            classify(&other).to_string(),
            "https://h.example/r: the server said no"
        );
    }
}
