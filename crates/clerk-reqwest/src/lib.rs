//! An async client for Clerk's Backend API sign-in tokens, on [reqwest]
//! 0.13 and [tokio].
//!
//! [`clerk_core`] knows Clerk's API and decides retries; this crate only
//! sends its requests with reqwest, reads each reply under a size cap, and
//! waits between attempts with tokio's timer. Call it from inside a tokio
//! runtime with IO and time enabled (`#[tokio::main]` has both).
//!
//! ```no_run
//! use std::time::Duration;
//! use clerk_reqwest::{Client, Config, CreateSignInToken};
//!
//! # async fn run() -> Result<(), clerk_reqwest::Error> {
//! let client = Client::new(Config::new("sk_test_example")?)?;
//! let token = client
//!     .create_sign_in_token(
//!         CreateSignInToken::new("user_26Ect5GuCCeaFWwSDiiKcgAGtVk").with_expires_in(Duration::from_secs(600)),
//!     )
//!     .await?;
//! // The ticket is a credential: it is read deliberately, never printed by `Debug`.
//! let ticket = token.token.as_ref().map(|t| t.expose());
//! # let _ = ticket;
//! client.revoke_sign_in_token(&token.id).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # What the client does on the wire
//!
//! - TLS is rustls with the *ring* provider and the webpki (Mozilla) roots,
//!   verification always on, handed to reqwest as a ready
//!   `rustls::ClientConfig`: no OpenSSL, no aws-lc, and the platform
//!   verifier that reqwest's `rustls-no-provider` feature compiles in is
//!   never used.
//! - Redirects are never followed: a 3xx comes back as an
//!   [`UnexpectedResponse`](clerk_core::ErrorKind::UnexpectedResponse), so
//!   the secret key never travels to another host.
//! - reqwest never sends a request a second time on its own: its retries
//!   are off, and the body is handed over as a stream it cannot replay, so
//!   only the core's [`RetryPolicy`] decides. (hyper may still resend a
//!   request that a pooled connection closed on *before* it was written.)
//! - An HTTP error status is a reply, never a transport error.
//! - Connecting (DNS, TCP, TLS) is bounded by [`Config::connect_timeout`], a
//!   whole attempt (connecting included, to the last body byte) by
//!   [`Config::timeout`].
//! - A body longer than [`Config::max_body_bytes`] ends the attempt with a
//!   [`BodyTooLarge`](clerk_core::TransportErrorKind::BodyTooLarge) transport
//!   error; bytes are counted chunk by chunk as they arrive, whatever
//!   `Content-Length` says.
//! - HTTP/1.1 only, no compression, no proxy from the environment or the
//!   system, no extra default header.
//!
//! # Your own reqwest configuration
//!
//! [`Client::with_http_client_builder`] takes a `reqwest::ClientBuilder`, keeps
//! its TLS, proxy, pool and connectors, and forces redirects and reqwest's
//! retries off and this crate's timeouts on. [`Client::with_http_client`] takes a
//! built `reqwest::Client`, whose settings cannot be changed: it is safe
//! too (no create is sent twice; a token brought back by a redirect it
//! followed is returned, not dropped), but see its documentation for what
//! the client's redirect policy can still do.
//!
//! # Transport errors and retries
//!
//! A failure is reported as a [`TransportError`]
//! whose [`Delivery`] tells the retry policy whether
//! Clerk may have acted on the request. It is
//! [`NotSent`](clerk_core::Delivery::NotSent) only when reqwest reports a
//! connect error (DNS, refused, connect timeout, TLS handshake): the request
//! is written only on an established connection. Anything else, including
//! the overall timeout, is [`MaybeSent`](clerk_core::Delivery::MaybeSent).
//! The reqwest error, stripped of its URL, is kept as the error's
//! [`source`](std::error::Error::source).
//!
//! # Features
//!
//! - `tracing`: a `clerk.call` span per call (field `operation`) and an
//!   event per attempt with the attempt number, the status, Clerk's trace id
//!   and the wait chosen. Never a URL, a key or a token.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use std::error::Error as StdError;
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
pub use clerk_core;
pub use clerk_core::{
    Config, CreateSignInToken, EmailAddress, EmailMatch, Error, ErrorKind, ListUsers, Operation,
    RateLimit, RetryPolicy, RevokeSignInToken, SecretString, SignInToken, SignInTokenStatus,
    Timestamp, User,
};
/// The reqwest version this crate is built on, for
/// [`Client::with_http_client_builder`] and [`Client::with_http_client`].
pub use reqwest;

use clerk_core::http::{Request, Response, Uri};
use clerk_core::{
    Admit, Call, Delivery, Gate, Outcome, Step, Timing, TransportError, TransportErrorKind,
};

/// The product token appended to the `User-Agent`.
const USER_AGENT_SUFFIX: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// How long an idle connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// An async Clerk client: cheap to clone (clones share the connection pool),
/// usable from many tasks at once.
///
/// Clones also share one rate-limit [`Gate`]: after a
/// 429 every call of the client waits for the moment Clerk named, and with
/// [`Config::with_pacing`] the client starts no more than its share.
///
/// Its `Debug` never shows the secret key.
#[derive(Clone)]
pub struct Client {
    config: Config,
    http: reqwest::Client,
    last_url: LastUrl,
    /// The rate-limit gate every call of this client and its clones shares.
    gate: Gate,
}

impl Client {
    /// A client with its own reqwest client, built from `config`'s timeouts.
    ///
    /// Appends `clerk-reqwest/<version>` to the `User-Agent`.
    ///
    /// # Errors
    /// An [invalid-request](ErrorKind::InvalidRequest) error if the
    /// `User-Agent` cannot take the suffix (it always can with the
    /// defaults); a [transport](ErrorKind::Transport) error of kind
    /// [`Other`](TransportErrorKind::Other) if reqwest or rustls refuses to
    /// build (not expected: nothing is read from the system).
    pub fn new(config: Config) -> Result<Self, Error> {
        let builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config().map_err(setup_error)?)
            .no_proxy()
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .no_zstd()
            .http1_only()
            .pool_idle_timeout(POOL_IDLE_TIMEOUT);
        // A fresh builder has no read timeout to override, and reqwest wraps
        // a failing body once more under one, which would repeat a link of
        // the error's source chain.
        Self::build(config, builder, false)
    }

    /// A client built from the caller's reqwest builder: its TLS settings
    /// (such as extra trusted roots), proxy, connection pool, connectors,
    /// compression and default headers are kept. This is the way to bring
    /// your own reqwest configuration.
    ///
    /// Whatever the builder says, this sets on it, before building:
    ///
    /// - `redirect(Policy::none())`: a 3xx comes back as an
    ///   [`UnexpectedResponse`](ErrorKind::UnexpectedResponse); no request
    ///   is sent again to another location;
    /// - `retry(reqwest::retry::never())`: reqwest's own retries (its
    ///   `ClientBuilder::retry`) are off, so only the core's
    ///   [`RetryPolicy`] decides whether a request is sent again (a create is
    ///   never sent twice behind its back);
    /// - `config`'s [connect timeout](Config::connect_timeout) and overall
    ///   [timeout](Config::timeout), and the overall timeout as the read
    ///   timeout too, so a shorter read timeout of the builder cannot end an
    ///   attempt whose token Clerk has already created (under a read
    ///   timeout reqwest wraps a failing body's error once more, so its
    ///   error chain shows "request or response body error" twice;
    ///   [`Client::new`] sets no read timeout and has no such link);
    /// - `referer(false)` and `connection_verbose(false)` (reqwest's verbose
    ///   connection log writes every byte, the `Authorization` header
    ///   included, at `TRACE`).
    ///
    /// TLS stays the builder's to set: with reqwest's `rustls-no-provider`
    /// feature (the only one this crate turns on), hand it a ready
    /// `rustls::ClientConfig` with `tls_backend_preconfigured`.
    ///
    /// Appends `clerk-reqwest/<version>` to the `User-Agent`.
    ///
    /// # Errors
    /// An [invalid-request](ErrorKind::InvalidRequest) error if the
    /// `User-Agent` cannot take the suffix; a [transport](ErrorKind::Transport)
    /// error of kind [`Other`](TransportErrorKind::Other) if reqwest refuses
    /// to build the client.
    pub fn with_http_client_builder(
        config: Config,
        builder: reqwest::ClientBuilder,
    ) -> Result<Self, Error> {
        Self::build(config, builder, true)
    }

    /// Forces what [`with_http_client_builder`](Self::with_http_client_builder)
    /// promises, the read timeout only when the builder may have one.
    fn build(
        config: Config,
        builder: reqwest::ClientBuilder,
        override_read_timeout: bool,
    ) -> Result<Self, Error> {
        let config = config.with_user_agent_suffix(USER_AGENT_SUFFIX)?;
        let mut builder = builder
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .referer(false)
            .connection_verbose(false)
            .connect_timeout(config.connect_timeout())
            .timeout(config.timeout());
        if override_read_timeout {
            builder = builder.read_timeout(config.timeout());
        }
        let http = builder.build().map_err(setup_error)?;
        Ok(Self {
            gate: config.new_gate(),
            config,
            http,
            last_url: LastUrl::default(),
        })
    }

    /// A client that sends through the caller's already built reqwest
    /// client: its connection pool, TLS settings, proxy, connect timeout,
    /// compression and default headers. Prefer
    /// [`with_http_client_builder`](Self::with_http_client_builder), which also turns
    /// off reqwest's redirects and retries.
    ///
    /// A built client's settings cannot be changed, but none of them can
    /// make a create go out twice:
    ///
    /// - Every request carries `config`'s overall timeout, which replaces
    ///   the client's. A read timeout set on the client, however, still
    ///   applies, and can end an attempt whose token Clerk has created (a
    ///   [`Timeout`](TransportErrorKind::Timeout), delivery
    ///   [`MaybeSent`](Delivery::MaybeSent)): leave it unset, or longer than
    ///   [`Config::timeout`].
    /// - The request body is handed to reqwest as a stream it cannot replay,
    ///   so neither reqwest's retries (`ClientBuilder::retry`, whatever its
    ///   policy) nor a 307/308 redirect can send a create again: reqwest
    ///   returns the 3xx, an [`UnexpectedResponse`](ErrorKind::UnexpectedResponse).
    /// - A 301, 302 or 303 may still be followed by the client's redirect
    ///   policy (reqwest's default follows up to 10), as a `GET` without a
    ///   body, which creates nothing. A revoke, whose body is empty, may be
    ///   followed on any redirect. reqwest sends the secret key along when
    ///   the new location has the same scheme, host and port, and drops it
    ///   otherwise. If the reply from the new location is a success (2xx),
    ///   it is read and decoded like Clerk's, so a token Clerk created and
    ///   then pointed to reaches the caller. Any other status from a
    ///   followed redirect is reported as a transport error of kind
    ///   [`Other`](TransportErrorKind::Other), delivery
    ///   [`MaybeSent`](Delivery::MaybeSent) (a create is then not retried).
    ///   A redirect back to the very URL requested cannot be told apart from
    ///   a direct reply.
    ///
    /// Appends `clerk-reqwest/<version>` to the `User-Agent`.
    ///
    /// # Errors
    /// An [invalid-request](ErrorKind::InvalidRequest) error if the
    /// `User-Agent` cannot take the suffix.
    pub fn with_http_client(config: Config, http: reqwest::Client) -> Result<Self, Error> {
        let config = config.with_user_agent_suffix(USER_AGENT_SUFFIX)?;
        Ok(Self {
            gate: config.new_gate(),
            config,
            http,
            last_url: LastUrl::default(),
        })
    }

    /// The configuration, with this crate's `User-Agent` suffix.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The reqwest client requests go through.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http
    }

    /// The rate-limit gate this client and its clones share: whether a 429
    /// holds them now ([`Gate::held_until`]), and the pacing.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    clerk_core::client_conveniences!(async);

    /// Sends any operation, retrying as the configuration's
    /// [`RetryPolicy`] and [`clerk_core::Call`] decide; waits with tokio's
    /// timer.
    ///
    /// # Errors
    /// The operation's error after the last attempt, with
    /// [`Error::attempts`] telling how many were made.
    pub async fn send<O: Operation>(&self, operation: O) -> Result<O::Output, Error> {
        #[cfg(feature = "tracing")]
        {
            use tracing::Instrument;
            let span = tracing::info_span!("clerk.call", operation = O::NAME);
            self.drive(operation).instrument(span).await
        }
        #[cfg(not(feature = "tracing"))]
        {
            self.drive(operation).await
        }
    }

    /// The loop: send, let the core decide, wait, again.
    async fn drive<O: Operation>(&self, operation: O) -> Result<O::Output, Error> {
        let start = Instant::now();
        let mut call = Call::new(&self.config, operation)?.with_gate(&self.gate, start);
        loop {
            match call.admit(|| start.elapsed()) {
                Admit::Send => {}
                Admit::Wait(wait) => {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Admit::Done(error) => return Err(error),
            }
            let outcome = self.send_once(call.request()).await;
            // The clock and the jitter are read only after a failure.
            let timing = || Timing {
                now: SystemTime::now(),
                elapsed: start.elapsed(),
                jitter: jitter(),
            };
            match call.handle_with(outcome, timing) {
                Step::Done(result) => return result,
                Step::Retry(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// One attempt: the request as the core built it, the reply with its
    /// body read under the cap, or the transport failure.
    async fn send_once(&self, request: &Request<Vec<u8>>) -> Outcome<Bytes> {
        let url = match self.last_url.get(request.uri()) {
            Ok(url) => url,
            // Unreachable with a request the core built; reported, not panicked.
            Err(e) => {
                return Outcome::Transport(TransportError::new(
                    TransportErrorKind::Other,
                    Delivery::NotSent,
                    e,
                ));
            }
        };
        let mut outgoing = reqwest::Request::new(request.method().clone(), url.1.clone());
        // Cloning keeps the `Authorization` value marked sensitive.
        *outgoing.headers_mut() = request.headers().clone();
        // A body reqwest cannot replay: no retry or redirect of its own can
        // send the request again.
        *outgoing.body_mut() = Some(reqwest::Body::wrap(OnceBody::new(request.body())));
        *outgoing.timeout_mut() = Some(self.config.timeout());

        let mut response = match self.http.execute(outgoing).await {
            Ok(response) => response,
            Err(e) => return Outcome::Transport(transport_error(e)),
        };
        // A caller's client followed a redirect. A success is decoded like
        // Clerk's reply: it may carry a token that now exists.
        if *response.url() != url.1 && !response.status().is_success() {
            return Outcome::Transport(TransportError::new(
                TransportErrorKind::Other,
                Delivery::MaybeSent,
                RedirectFollowed {
                    status: response.status().as_u16(),
                },
            ));
        }
        let mut reply = Response::new(Bytes::new());
        *reply.status_mut() = response.status();
        *reply.version_mut() = response.version();
        *reply.headers_mut() = std::mem::take(response.headers_mut());
        match read_capped(&mut response, self.config.max_body_bytes()).await {
            Ok(body) => {
                *reply.body_mut() = body;
                Outcome::Response(reply)
            }
            Err(e) => Outcome::Transport(e),
        }
    }
}

/// The last request URL and its parse as reqwest's `Url`, shared by the
/// clones of a client: creates all go to one URL, so most calls clone the
/// parsed URL instead of formatting and parsing it again.
#[derive(Clone, Default)]
struct LastUrl(Arc<Mutex<Option<ParsedUrl>>>);

/// A request URL and the same as reqwest's `Url`.
type ParsedUrl = Arc<(Uri, reqwest::Url)>;

impl LastUrl {
    fn get(&self, uri: &Uri) -> Result<ParsedUrl, impl StdError + Send + Sync + 'static> {
        let cached = self
            .lock()
            .as_ref()
            .filter(|last| same_bytes(&last.0, uri))
            .cloned();
        match cached {
            Some(last) => Ok(last),
            None => reqwest::Url::parse(&uri.to_string()).map(|url| {
                let parsed = Arc::new((uri.clone(), url));
                *self.lock() = Some(Arc::clone(&parsed));
                parsed
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<ParsedUrl>> {
        // Nothing panics while holding the lock; a poisoned value is still
        // whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The same URI, byte for byte. (`Uri`'s own `==` ignores ASCII case in the
/// whole authority, user information included, so two URIs it calls equal
/// can parse to different URLs.)
fn same_bytes(a: &Uri, b: &Uri) -> bool {
    a.scheme_str() == b.scheme_str()
        && a.authority().map(|x| x.as_str()) == b.authority().map(|x| x.as_str())
        && a.path_and_query().map(|x| x.as_str()) == b.path_and_query().map(|x| x.as_str())
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// rustls with *ring* and the webpki roots, HTTP/1.1 by ALPN.
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// A failure to build the HTTP client: nothing was tried.
fn setup_error(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Error {
    Error::client_setup(TransportError::new(
        TransportErrorKind::Other,
        Delivery::NotSent,
        error,
    ))
}

/// Reads the body chunk by chunk, failing as soon as it passes `max` bytes.
/// A body that arrives in one chunk is kept without copying.
async fn read_capped(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Bytes, TransportError> {
    let mut first: Option<Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    let mut len = 0usize;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => return Err(transport_error(e)),
        };
        len = len.saturating_add(chunk.len());
        if len > max {
            return Err(TransportError::new(
                TransportErrorKind::BodyTooLarge,
                Delivery::MaybeSent,
                BodyTooLarge { max },
            ));
        }
        match (&mut first, &mut rest) {
            (None, _) => first = Some(chunk),
            (Some(head), None) => {
                let mut joined = BytesMut::with_capacity(len);
                joined.extend_from_slice(head);
                joined.extend_from_slice(&chunk);
                rest = Some(joined);
            }
            (Some(_), Some(joined)) => joined.extend_from_slice(&chunk),
        }
    }
    Ok(match (rest, first) {
        (Some(joined), _) => joined.freeze(),
        (None, Some(only)) => only,
        (None, None) => Bytes::new(),
    })
}

/// The source of a [`TransportErrorKind::BodyTooLarge`] error.
#[derive(Debug)]
struct BodyTooLarge {
    max: usize,
}

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the reply body exceeds the cap of {} bytes", self.max)
    }
}

impl StdError for BodyTooLarge {}

/// The source of the error reported when a caller's client followed a
/// redirect and the new location did not answer with a success. (Neither
/// location is kept: a URL can carry a token.)
#[derive(Debug)]
struct RedirectFollowed {
    status: u16,
}

impl fmt::Display for RedirectFollowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the reqwest client followed a redirect and the new location answered {}; \
             use Client::with_http_client_builder, which turns redirects off",
            self.status
        )
    }
}

impl StdError for RedirectFollowed {}

/// A request body sent once: unlike a `reqwest::Body` made from bytes,
/// reqwest cannot clone it, so neither its retry layer nor its redirect
/// layer (for a 307 or 308) can send it a second time. Its exact length is
/// known, so it still goes out with `Content-Length`.
struct OnceBody(Option<Bytes>);

impl OnceBody {
    fn new(body: &[u8]) -> Self {
        Self(Some(Bytes::copy_from_slice(body)))
    }
}

impl hyper::body::Body for OnceBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let chunk = self.get_mut().0.take().filter(|b| !b.is_empty());
        std::task::Poll::Ready(chunk.map(|b| Ok(hyper::body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        let len = self.0.as_ref().map_or(0, Bytes::len);
        hyper::body::SizeHint::with_exact(u64::try_from(len).unwrap_or(u64::MAX))
    }
}

/// Maps a reqwest error to the core's transport error, keeping it (without
/// its URL) as source.
fn transport_error(error: reqwest::Error) -> TransportError {
    let (kind, delivery) = classify(&error);
    TransportError::new(kind, delivery, error.without_url())
}

/// What failed, and whether the request may have left.
fn classify(error: &reqwest::Error) -> (TransportErrorKind, Delivery) {
    use Delivery::{MaybeSent, NotSent};
    use TransportErrorKind as K;
    if error.is_builder() {
        // Refused while building the request, before connecting.
        return (K::Other, NotSent);
    }
    let tls = find_in_chain::<rustls::Error>(error).is_some();
    if error.is_connect() {
        // hyper writes a request only on an established connection, and
        // the connector (DNS, TCP, TLS handshake) failed to give one.
        let kind = if error.is_timeout() {
            K::Timeout
        } else if tls {
            K::Tls
        } else {
            K::Connect
        };
        return (kind, NotSent);
    }
    if error.is_timeout() {
        return (K::Timeout, MaybeSent);
    }
    if tls {
        return (K::Tls, MaybeSent);
    }
    if let Some(hyper_error) = find_in_chain::<hyper::Error>(error)
        && hyper_error.is_parse()
    {
        return (K::Protocol, MaybeSent);
    }
    if error.is_request()
        || error.is_body()
        || error.is_decode()
        || find_in_chain::<io::Error>(error).is_some()
    {
        return (K::Io, MaybeSent);
    }
    (K::Other, MaybeSent)
}

/// The first error of type `T` in `error`'s source chain, looking inside
/// `io::Error`s too (their `source` skips the error they wrap).
fn find_in_chain<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next: Option<&'a (dyn StdError + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            if let Some(found) = inner.downcast_ref::<T>() {
                return Some(found);
            }
            if let Some(found) = find_in_chain::<T>(inner) {
                return Some(found);
            }
        }
        next = current.source();
    }
    None
}

/// A jitter value in `[0, 1)` from std's randomly keyed hasher.
fn jitter() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(since_epoch) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(since_epoch.as_nanos());
    }
    clerk_core::jitter_from_bits(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_url_is_parsed_once_and_replaced_when_another_comes() {
        let cache = LastUrl::default();
        let create: Uri = "https://api.clerk.com/v1/sign_in_tokens".parse().unwrap();
        let revoke: Uri = "https://api.clerk.com/v1/sign_in_tokens/sit_%2F1/revoke"
            .parse()
            .unwrap();
        let first = cache.get(&create).unwrap();
        assert_eq!(first.1.as_str(), "https://api.clerk.com/v1/sign_in_tokens");
        assert!(Arc::ptr_eq(&first, &cache.get(&create).unwrap()));
        let other = cache.get(&revoke).unwrap();
        assert_eq!(
            other.1.as_str(),
            "https://api.clerk.com/v1/sign_in_tokens/sit_%2F1/revoke"
        );
        // A URI that differs only in case is another URL.
        let upper: Uri = "https://API.clerk.com/v1/sign_in_tokens".parse().unwrap();
        assert_eq!(upper, create, "http's own == ignores the case");
        let parsed = cache.get(&upper).unwrap();
        assert!(!Arc::ptr_eq(&parsed, &other));
        let with_user: Uri = "https://Alice:pw@api.clerk.com/v1/x".parse().unwrap();
        let other_user: Uri = "https://alice:PW@api.clerk.com/v1/x".parse().unwrap();
        assert_eq!(cache.get(&with_user).unwrap().1.username(), "Alice");
        assert_eq!(cache.get(&other_user).unwrap().1.password(), Some("PW"));
        let other = cache.get(&revoke).unwrap();
        // A clone of the client shares the cache.
        let clone = cache.clone();
        assert!(Arc::ptr_eq(&other, &clone.get(&revoke).unwrap()));
        assert!(!Arc::ptr_eq(&first, &clone.get(&create).unwrap()));
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let values: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        assert!(values.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn tls_config_is_ring_with_webpki_roots() {
        let tls = tls_config().unwrap();
        assert_eq!(tls.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(tls.enable_sni);
    }

    #[test]
    fn chain_search_looks_inside_io_errors() {
        let io = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert!(find_in_chain::<rustls::Error>(&io).is_some());
        let outer = TransportError::new(TransportErrorKind::Io, Delivery::MaybeSent, io);
        assert!(find_in_chain::<rustls::Error>(&outer).is_some());
        assert!(find_in_chain::<hyper::Error>(&outer).is_none());
    }

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn futures_are_send() {
        let client = Client::new(Config::new("sk_test_x").unwrap()).unwrap();
        assert_send(&client.create_sign_in_token(CreateSignInToken::new("u")));
        assert_send(&client.revoke_sign_in_token("sit_1"));
    }
}
