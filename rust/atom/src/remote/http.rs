//! HTTP(S) through gix's curl client, with every response body read through this connection's
//! [`Guarded`] reader.

use gix::protocol::transport::client::blocking_io::http::{
    self, curl::Curl, GetResponse, Http, PostBodyDataKind, PostResponse,
};
use gix::protocol::transport::client::TransportWithoutIO;

use super::guard::{Guard, Guarded};

/// gix's curl client, its response bodies guarded.
pub(super) struct GuardedCurl {
    inner: Curl,
    guard: Guard,
}

impl GuardedCurl {
    pub(super) fn new(guard: Guard) -> Self {
        GuardedCurl {
            inner: Curl::default(),
            guard,
        }
    }
}

impl Http for GuardedCurl {
    type Headers = <Curl as Http>::Headers;
    type ResponseBody = Guarded<<Curl as Http>::ResponseBody>;
    type PostBody = <Curl as Http>::PostBody;

    fn get(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix::error::Result<GetResponse<Self::Headers, Self::ResponseBody>> {
        let response = self.inner.get(url, base_url, headers)?;
        Ok(GetResponse {
            headers: response.headers,
            body: Guarded::new(response.body, self.guard.clone()),
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
            headers: response.headers,
            body: Guarded::new(response.body, self.guard.clone()),
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
/// `identity` when the server asks for one.
pub(super) fn connect(
    url: gix::url::Url,
    options: &super::Options,
    identity: Option<gix::sec::identity::Account>,
    guard: &Guard,
) -> Result<http::Transport<GuardedCurl>, gix::protocol::transport::client::Error> {
    let mut transport = http::Transport::new_http(
        GuardedCurl::new(guard.clone()),
        url,
        gix::protocol::transport::Protocol::V2,
        false,
    );
    let config = http::Options {
        connect_timeout: Some(options.timeout),
        // Fail when less than a byte a second arrives for the whole time-out.
        low_speed_limit_bytes_per_second: 1,
        low_speed_time_seconds: options.timeout.as_secs().max(1),
        user_agent: Some(concat!("atom/", env!("CARGO_PKG_VERSION")).into()),
        ssl_ca_info: options.ssl_ca_info.clone(),
        ..Default::default()
    };
    transport.configure(&config)?;
    if let Some(account) = identity {
        transport.set_identity(account)?;
    }
    Ok(transport)
}
