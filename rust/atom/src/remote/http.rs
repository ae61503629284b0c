//! HTTP(S) through gix's curl client, with every response body read through this connection's
//! [`Guarded`] reader.

use gix::protocol::transport::client::blocking_io::http::{
    self, curl::Curl, GetResponse, Http, PostBodyDataKind, PostResponse,
};
use gix::protocol::transport::client::TransportWithoutIO;

use std::io::{BufRead, Read};

use super::guard::{Guard, Guarded};

/// OpenSSL (libcurl's TLS library), initialised before anything else in the process uses it, so
/// that it registers no clean-up at process exit.
///
/// That clean-up frees OpenSSL's global state as `exit` runs. gix's curl client runs each
/// connection on a thread of its own that is never joined: dropped, it ends by itself, and its
/// thread-local destructors free their OpenSSL state. When both happen at once, the process
/// dies with "double free or corruption" after its work is done (gitoxide#1013). Without the
/// clean-up, the exiting process simply takes the thread down. `openssl_sys::init` asks OpenSSL
/// (1.1.1b and later) for exactly that; it must come first, and the `curl` crate initialises
/// libcurl (and so OpenSSL) in a constructor of its own, before `main`. Hence a constructor, in
/// a prioritised section: the linker orders those before all unprioritised ones.
// SAFETY contract of `link_section`: the section holds one pointer to a function that takes
// nothing and returns nothing, as `.init_array` entries must; the function only calls
// `openssl_sys::init`, which is safe at any time and idempotent, and needs nothing set up.
#[used]
#[link_section = ".init_array.00101"]
static INIT_OPENSSL_WITHOUT_EXIT_CLEANUP: extern "C" fn() = {
    extern "C" fn init() {
        openssl_sys::init();
    }
    init
};

/// gix's curl client, its response bodies guarded. The upload-pack advertisement (the `GET` of
/// `info/refs`) is answered from `recalled` when the connection was given one, and otherwise
/// copied into `captured` as it is read (see [`super::advertisement`]).
pub(super) struct GuardedCurl {
    inner: Curl,
    guard: Guard,
    recalled: Option<Vec<u8>>,
    captures: Captures,
}

use super::advertisement::{Captured, Captures};

impl GuardedCurl {
    pub(super) fn new(guard: Guard, recalled: Option<Vec<u8>>) -> Self {
        GuardedCurl {
            inner: Curl::default(),
            guard,
            recalled,
            captures: Captures::new(),
        }
    }
}

/// Headers or a body: the network's, or a recalled advertisement's.
pub(super) enum Response<R> {
    /// From the server, copied into `capture` as it is consumed when there is one.
    Network { inner: R, capture: Option<Captured> },
    /// Remembered ([`super::advertisement`]).
    Recalled(std::io::Cursor<Vec<u8>>),
}

/// Appends `bytes` to `capture`, when there is one, up to [`super::advertisement::MAX_SIZE`].
fn keep(capture: &Option<Captured>, bytes: &[u8]) {
    let Some(capture) = capture else {
        return;
    };
    let mut kept = capture.lock().unwrap_or_else(|e| e.into_inner());
    let too_long = kept
        .as_ref()
        .is_some_and(|k| k.len() + bytes.len() > super::advertisement::MAX_SIZE);
    match kept.as_mut() {
        Some(_) if too_long => *kept = None,
        Some(kept) => kept.extend_from_slice(bytes),
        None => {}
    }
}

impl<R: BufRead> Read for Response<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Response::Network { inner, capture } => {
                let n = inner.read(buf)?;
                keep(capture, &buf[..n]);
                Ok(n)
            }
            Response::Recalled(cursor) => cursor.read(buf),
        }
    }
}

impl<R: BufRead> BufRead for Response<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        match self {
            Response::Network { inner, .. } => inner.fill_buf(),
            Response::Recalled(cursor) => cursor.fill_buf(),
        }
    }

    fn consume(&mut self, amt: usize) {
        match self {
            Response::Network { inner, capture } => {
                if capture.is_some() && amt > 0 {
                    // What is consumed was filled before: this returns it without reading.
                    if let Ok(buffered) = inner.fill_buf() {
                        let taken = amt.min(buffered.len());
                        keep(capture, &buffered[..taken]);
                    }
                }
                inner.consume(amt)
            }
            Response::Recalled(cursor) => cursor.consume(amt),
        }
    }
}

/// Whether `url` asks for the upload-pack advertisement.
fn is_advertisement(url: &str) -> bool {
    url.ends_with("/info/refs?service=git-upload-pack")
}

impl Http for GuardedCurl {
    type Headers = Response<<Curl as Http>::Headers>;
    type ResponseBody = Guarded<Response<<Curl as Http>::ResponseBody>>;
    type PostBody = <Curl as Http>::PostBody;

    fn get(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix::error::Result<GetResponse<Self::Headers, Self::ResponseBody>> {
        if is_advertisement(url) {
            if let Some(list) = self.recalled.take() {
                let headers = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\n\r\n";
                return Ok(GetResponse {
                    headers: Response::Recalled(std::io::Cursor::new(headers.to_vec())),
                    body: Guarded::new(
                        Response::Recalled(std::io::Cursor::new(list)),
                        self.guard.clone(),
                    ),
                });
            }
        }
        let captures = is_advertisement(url).then(|| self.captures.clone());
        let response = self.inner.get(url, base_url, headers)?;
        Ok(GetResponse {
            headers: Response::Network {
                inner: response.headers,
                capture: captures.as_ref().map(|c| c.headers.clone()),
            },
            body: Guarded::new(
                Response::Network {
                    inner: response.body,
                    capture: captures.map(|c| c.body),
                },
                self.guard.clone(),
            ),
        })
    }

    fn post(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        body: PostBodyDataKind,
    ) -> gix::error::Result<PostResponse<Self::Headers, Self::ResponseBody, Self::PostBody>> {
        let response = self.inner.post(url, base_url, headers, body)?;
        Ok(PostResponse {
            post_body: response.post_body,
            headers: Response::Network {
                inner: response.headers,
                capture: None,
            },
            body: Guarded::new(
                Response::Network {
                    inner: response.body,
                    capture: None,
                },
                self.guard.clone(),
            ),
        })
    }

    fn configure(&mut self, config: &dyn std::any::Any) -> gix::error::Result<()> {
        self.inner.configure(config)
    }

    fn redirected_base_url(&self) -> Option<String> {
        self.inner.redirected_base_url()
    }
}

/// A transport over `url` with the guarded client, configured by `options`, that presents
/// `identity` when the server asks for one and takes the advertisement from `recalled` when
/// given one (then following no redirect: curl follows them on the first request only, which
/// would be a `POST`); and where the advertisement it receives is copied.
pub(super) fn connect(
    url: gix::url::Url,
    options: &super::Options,
    identity: Option<gix::sec::identity::Account>,
    recalled: Option<Vec<u8>>,
    guard: &Guard,
) -> Result<(http::Transport<GuardedCurl>, Captures), gix::protocol::transport::client::Error> {
    let follow_redirects = match recalled {
        Some(_) => http::options::FollowRedirects::None,
        None => http::options::FollowRedirects::Initial,
    };
    let client = GuardedCurl::new(guard.clone(), recalled);
    let captures = client.captures.clone();
    let mut transport =
        http::Transport::new_http(client, url, gix::protocol::transport::Protocol::V2, false);
    let config = http::Options {
        connect_timeout: Some(options.timeout),
        // Fail when less than a byte a second arrives for the whole time-out.
        low_speed_limit_bytes_per_second: 1,
        low_speed_time_seconds: options.timeout.as_secs().max(1),
        user_agent: Some(concat!("atom/", env!("CARGO_PKG_VERSION")).into()),
        ssl_ca_info: options.ssl_ca_info.clone(),
        follow_redirects,
        ..Default::default()
    };
    transport.configure(&config)?;
    if let Some(account) = identity {
        transport.set_identity(account)?;
    }
    Ok((transport, captures))
}
