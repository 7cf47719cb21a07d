//! A blocking client for Clerk's Backend API sign-in tokens, on [ureq] 3.
//!
//! [`clerk_core`] knows Clerk's API and decides retries; this crate only
//! sends its requests with ureq, reads each reply under a size cap, and
//! sleeps the thread between attempts. No async runtime is involved.
//!
//! ```no_run
//! use std::time::Duration;
//! use clerk_ureq::{Client, Config, CreateSignInToken};
//!
//! let client = Client::new(Config::new("sk_test_example")?)?;
//! let token = client.create_sign_in_token(
//!     CreateSignInToken::new("user_26Ect5GuCCeaFWwSDiiKcgAGtVk").with_expires_in(Duration::from_secs(600)),
//! )?;
//! // The ticket is a credential: it is read deliberately, never printed by `Debug`.
//! let ticket = token.token.as_ref().map(|t| t.expose());
//! # let _ = ticket;
//! client.revoke_sign_in_token(&token.id)?;
//! # Ok::<(), clerk_ureq::Error>(())
//! ```
//!
//! # What the client does on the wire
//!
//! - TLS is rustls with the *ring* provider and the webpki (Mozilla) roots,
//!   verification always on; no OpenSSL and no platform verifier. (ureq
//!   gives a process-wide default [`CryptoProvider`] precedence over *ring*
//!   when an application installs one.)
//! - Redirects are never followed: a 3xx comes back as an
//!   [`UnexpectedResponse`](clerk_core::ErrorKind::UnexpectedResponse), so
//!   the secret key never travels to another host and a create is never
//!   sent again to another location. This holds for a caller's agent too
//!   ([`Client::with_agent`]).
//! - ureq never sends a request again on its own; only the core's
//!   [`RetryPolicy`] decides.
//! - An HTTP error status is a reply, never a transport error: Clerk's body
//!   is decoded into an [`ApiError`](clerk_core::ApiError).
//! - Resolving the host, and then connecting (TCP and TLS), are each bounded
//!   by [`Config::connect_timeout`]; a whole attempt (resolving and
//!   connecting included, to the last body byte) by [`Config::timeout`].
//!   No other timeout applies. (With `Client::with_lazy_resolve`, feature
//!   `unversioned-lazy-resolve`, resolving and connecting share one
//!   connect timeout instead: see [Cost per call](#cost-per-call).)
//! - A host with several addresses is tried by ureq one address at a time,
//!   in the resolver's order, each with a share of the connect timeout that
//!   halves from one address to the next (ureq 3.5: 2/3 and 1/3 of it for
//!   two addresses; 8/15, 4/15, 2/15, 1/15 for four); a refused or
//!   unreachable address moves on at once. So an address that silently
//!   drops packets (a broken IPv6 route, typically) does not make calls
//!   fail, but costs every *new* connection its share: 3.3 s of the default
//!   5 s connect timeout when it is the first of two addresses (pooled
//!   connections are not affected). ureq does not try addresses in
//!   parallel ("Happy Eyeballs", RFC 8305), and changing how it connects
//!   takes a connector from its `unversioned` API, which this crate does
//!   not use for that. On a host without working IPv6, pass
//!   [`Client::with_agent`] an agent built with
//!   `ip_family(ureq::config::IpFamily::Ipv4Only)`; a shorter connect
//!   timeout also shortens the cost.
//! - A body longer than [`Config::max_body_bytes`] ends the attempt with a
//!   [`BodyTooLarge`](clerk_core::TransportErrorKind::BodyTooLarge) transport
//!   error; bytes are counted as they arrive, whatever `Content-Length` says.
//! - No compression is asked for, no proxy is read from the environment, and
//!   ureq adds no header of its own beyond `Host` and `Content-Length`.
//!
//! # Transport errors and retries
//!
//! A failure is reported as a [`TransportError`]
//! whose [`Delivery`] tells the retry policy whether
//! Clerk may have acted on the request. It is
//! [`NotSent`](clerk_core::Delivery::NotSent) only where the request surely
//! never left: an unknown host, a refused connection, a timeout while
//! resolving or connecting, a TLS handshake that failed on the certificate
//! or on negotiation, or a request ureq refused before connecting. Anything
//! else, including a timeout that struck the overall budget, is
//! [`MaybeSent`](clerk_core::Delivery::MaybeSent). The ureq error is kept as
//! the error's [`source`](std::error::Error::source).
//!
//! # Cost per call
//!
//! ureq looks the host up on every call, pooled connection or not, and once
//! any timeout applies (this client always sets them) it does so on a
//! thread of its own, started per call. On loopback that thread is most of
//! what a call costs over bare ureq without timeouts (BENCHMARKS.md at the
//! repository root, sections 2 and 3); against a remote Clerk it is lost in the
//! round trip. [`Client::new`] and any agent given to [`Client::with_agent`]
//! keep that behaviour.
//!
//! With the `unversioned-lazy-resolve` feature, `Client::with_lazy_resolve`
//! builds the same client with an agent that looks the host up only when
//! it opens a new connection (and `lazy_resolve::agent` builds such an
//! agent for [`Client::with_agent`]):
//!
//! - a call on a pooled connection does no lookup and starts no thread;
//! - a new connection costs one lookup (with ureq's own resolver: on a
//!   thread, honouring the agent's `ip_family`, with the same errors) and
//!   then the connect, and the two share **one**
//!   [`Config::connect_timeout`]: the connect gets what the lookup left.
//!   With [`Client::new`] each has a connect timeout of its own, so a new
//!   connection can take up to twice it before the connect fails. The
//!   overall [`Config::timeout`] bounds the attempt either way;
//! - a lookup that runs out of time is ureq's `Timeout::Connect` rather than
//!   `Timeout::Resolve`: still a [`Timeout`](clerk_core::TransportErrorKind::Timeout)
//!   error, [`NotSent`](clerk_core::Delivery::NotSent). An unknown host is
//!   still a [`Connect`](clerk_core::TransportErrorKind::Connect) error,
//!   `NotSent`.
//!
//! It is opt-in because it rests on ureq's `unversioned` resolver and
//! connector API, which ureq says does not follow semantic versioning and
//! may change in any minor release; this crate does not cap ureq's minor
//! version for everyone. Turn it on only with ureq's minor version pinned in
//! your own `Cargo.toml` (`ureq = "~3.5"`): the feature is built and tested
//! against the ureq version in this repository's lock file.
//!
//! # Features
//!
//! - `tracing`: a `clerk.call` span per call (field `operation`) and an
//!   event per attempt with the attempt number, the status, Clerk's trace id
//!   and the wait chosen. Never a URL, a key or a token.
//! - `unversioned-lazy-resolve`: `Client::with_lazy_resolve` and the
//!   `lazy_resolve` module: the host is looked up only when a new
//!   connection is opened, and resolving and connecting share the connect
//!   timeout (see [Cost per call](#cost-per-call)). Only adds API: what
//!   [`Client::new`] and [`Client::with_agent`] do is the same with it on.
//!   Built on ureq's `unversioned` API; pin ureq's minor version
//!   (`ureq = "~3.5"`) if you turn it on.
//!
//! [`CryptoProvider`]: https://docs.rs/rustls/latest/rustls/crypto/struct.CryptoProvider.html
//!
//! # Logging
//!
//! ureq-proto logs every byte ureq sends and receives at `TRACE` (the
//! `Authorization` header included), through the `log` crate; at `DEBUG`
//! ureq logs each request and reply with only harmless headers and the path
//! and `Location` masked, unless `TRACE` is on, which prints them in full.
//! There is no ureq setting to turn that off. Keep the `ureq` and
//! `ureq_proto` log targets at `INFO` or above in production.

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
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

pub use clerk_core;
pub use clerk_core::{
    Config, CreateSignInToken, EmailAddress, EmailMatch, Error, ErrorKind, ListUsers, Operation,
    RateLimit, RetryPolicy, RevokeSignInToken, SecretString, SignInToken, SignInTokenStatus,
    Timestamp, User,
};
/// The ureq version this crate is built on, for [`Client::with_agent`].
pub use ureq;

use clerk_core::http::{Request, Response};
use clerk_core::{
    Admit, Call, Delivery, Gate, Outcome, Step, Timing, TransportError, TransportErrorKind,
};
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
use ureq::{Agent, Timeout};

#[cfg(feature = "unversioned-lazy-resolve")]
pub mod lazy_resolve;

/// The product token appended to the `User-Agent`.
const USER_AGENT_SUFFIX: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// Idle keep-alive connections kept by the agent [`Client::new`] builds. Clerk
/// is one host, so the per-host and total limits are the same.
const MAX_IDLE_CONNECTIONS: usize = 32;

/// The largest reply head accepted: ureq's default, restored on every
/// request whatever a caller's agent says.
const MAX_RESPONSE_HEADER_BYTES: usize = 64 * 1024;

/// The settings every request needs, applied to an agent's config builder or
/// to a request's (two types, as ureq seals the trait they share).
///
/// Each one guards a reply: a followed redirect would send a create again
/// (ureq re-sends the body on 307/308) and answer with the new location's
/// reply; a phase timeout shorter than the overall one, or a small limit on
/// the reply head, would end an attempt whose token Clerk already created.
macro_rules! apply_call_settings {
    ($builder:expr, $config:expr) => {
        $builder
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .save_redirect_history(false)
            // Even if another crate turns on ureq's `gzip` or `brotli`
            // feature, ask for no compression: the cap counts what was sent.
            .accept_encoding("")
            .max_response_header_size(MAX_RESPONSE_HEADER_BYTES)
            .timeout_global(Some($config.timeout()))
            .timeout_resolve(Some($config.connect_timeout()))
            .timeout_connect(Some($config.connect_timeout()))
            // Only the two above bound an attempt.
            .timeout_per_call(None)
            .timeout_send_request(None)
            .timeout_send_body(None)
            .timeout_recv_response(None)
            .timeout_recv_body(None)
            .timeout_per_read(None)
            .timeout_per_write(None)
    };
}

/// A blocking Clerk client: cheap to clone (clones share the connection
/// pool), safe to use from many threads at once.
///
/// Clones also share one rate-limit [`Gate`]: after a
/// 429 every call of the client waits for the moment Clerk named, and with
/// [`Config::with_pacing`] the client starts no more than its share.
///
/// Its `Debug` never shows the secret key.
#[derive(Clone)]
pub struct Client {
    config: Config,
    agent: Agent,
    /// Whether every request must carry the settings the caller's agent
    /// lacks (redirects, status handling, timeouts, compression).
    configure_requests: bool,
    /// The rate-limit gate every call of this client and its clones shares.
    gate: Gate,
}

impl Client {
    /// A client with its own ureq agent, built from `config`'s timeouts.
    ///
    /// ureq looks the host up on every call, on a thread of its own; see
    /// [Cost per call](crate#cost-per-call) for the opt-in client that does
    /// not.
    ///
    /// Appends `clerk-ureq/<version>` to the `User-Agent`.
    ///
    /// # Errors
    /// An [invalid-request](ErrorKind::InvalidRequest) error if the
    /// `User-Agent` cannot take the suffix (it always can with the defaults).
    pub fn new(config: Config) -> Result<Self, Error> {
        Self::own_agent(config, Agent::new_with_config)
    }

    /// A client like [`Client::new`]'s (the same TLS, pool, redirect,
    /// status and timeout settings) whose agent looks the host up only when
    /// it opens a new connection: a call on a pooled connection costs no
    /// lookup and starts no thread. See [`lazy_resolve`] for what changes
    /// (resolving and connecting share one connect timeout) and why this
    /// needs the `unversioned-lazy-resolve` feature.
    ///
    /// Appends `clerk-ureq/<version>` to the `User-Agent`.
    ///
    /// # Errors
    /// As [`Client::new`].
    #[cfg(feature = "unversioned-lazy-resolve")]
    pub fn with_lazy_resolve(config: Config) -> Result<Self, Error> {
        Self::own_agent(config, lazy_resolve::agent)
    }

    /// A client with an agent of this crate's settings, built by `build`.
    fn own_agent(
        config: Config,
        build: impl FnOnce(ureq::config::Config) -> Agent,
    ) -> Result<Self, Error> {
        let config = config.with_user_agent_suffix(USER_AGENT_SUFFIX)?;
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::WebPki)
            .disable_verification(false)
            .build();
        let agent_config = Agent::config_builder()
            .tls_config(tls)
            .https_only(false)
            .proxy(None)
            .max_idle_connections(MAX_IDLE_CONNECTIONS)
            .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS);
        let agent = build(apply_call_settings!(agent_config, config).build());
        Ok(Self {
            gate: config.new_gate(),
            config,
            agent,
            configure_requests: false,
        })
    }

    /// A client that sends through the caller's ureq agent: its connection
    /// pool, proxy, TLS settings (such as extra trusted roots), resolver and
    /// connectors.
    ///
    /// Whatever the agent is configured with, every request this client sends
    /// through it is configured (per request, as ureq allows) with:
    ///
    /// - HTTP statuses returned as replies (`http_status_as_error(false)`);
    /// - no redirect followed (`max_redirects(0)`, and the 3xx returned, not
    ///   an error): ureq would otherwise send a create again, body and key
    ///   included, on a same-origin 307 or 308, and the token it made there
    ///   would be the new location's reply;
    /// - `config`'s connect timeout (resolving, connecting) and overall
    ///   timeout, and no other: the agent's per-call, per-phase, per-read
    ///   and per-write timeouts are lifted, so none of them can end, earlier
    ///   than `config` says, an attempt whose token Clerk already created;
    /// - a reply head of up to 64 KiB accepted (ureq's default), whatever
    ///   the agent's `max_response_header_size`;
    /// - no compression asked for.
    ///
    /// ureq has no retry of its own: a request that fails (on a pooled
    /// connection the server had closed, say) is reported, never sent again
    /// by ureq; only the core's [`RetryPolicy`] decides. The agent's own
    /// settings are untouched for its other uses.
    ///
    /// What stays the agent's: its proxy, TLS settings, resolver,
    /// connectors, pool and buffer sizes, and its middleware. A middleware
    /// sees every request, `Authorization` header included (marked
    /// sensitive), and every reply, and can alter or drop either: what it
    /// does is the caller's responsibility.
    ///
    /// Appends `clerk-ureq/<version>` to the `User-Agent`.
    ///
    /// # Errors
    /// As [`Client::new`].
    pub fn with_agent(config: Config, agent: Agent) -> Result<Self, Error> {
        let config = config.with_user_agent_suffix(USER_AGENT_SUFFIX)?;
        Ok(Self {
            gate: config.new_gate(),
            config,
            agent,
            configure_requests: true,
        })
    }

    /// The configuration, with this crate's `User-Agent` suffix.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The ureq agent requests go through.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The rate-limit gate this client and its clones share: whether a 429
    /// holds them now ([`Gate::held_until`]), and the pacing.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    clerk_core::client_conveniences!(blocking);

    /// Sends any operation, retrying as the configuration's
    /// [`RetryPolicy`] and [`clerk_core::Call`] decide; blocks the thread
    /// while it waits.
    ///
    /// # Errors
    /// The operation's error after the last attempt, with
    /// [`Error::attempts`] telling how many were made.
    pub fn send<O: Operation>(&self, operation: O) -> Result<O::Output, Error> {
        #[cfg(feature = "tracing")]
        let span = tracing::info_span!("clerk.call", operation = O::NAME);
        #[cfg(feature = "tracing")]
        let _entered = span.enter();

        let start = Instant::now();
        let mut call = Call::new(&self.config, operation)?.with_gate(&self.gate, start);
        loop {
            match call.admit(|| start.elapsed()) {
                Admit::Send => {}
                Admit::Wait(wait) => {
                    std::thread::sleep(wait);
                    continue;
                }
                Admit::Done(error) => return Err(error),
            }
            let outcome = self.send_once(call.request());
            // The clock and the jitter are read only after a failure.
            let timing = || Timing {
                now: SystemTime::now(),
                elapsed: start.elapsed(),
                jitter: jitter(),
            };
            match call.handle_with(outcome, timing) {
                Step::Done(result) => return result,
                Step::Retry(wait) => std::thread::sleep(wait),
            }
        }
    }

    /// One attempt: the request as the core built it, the reply with its
    /// body read under the cap, or the transport failure.
    fn send_once(&self, request: &Request<Vec<u8>>) -> Outcome<Vec<u8>> {
        let mut builder = Request::builder()
            .method(request.method().clone())
            .uri(request.uri().clone())
            .version(request.version());
        if let Some(headers) = builder.headers_mut() {
            // Cloning keeps the `Authorization` value marked sensitive.
            headers.clone_from(request.headers());
        }
        // A request the core built without a body and without a framing
        // header (a GET) goes without a body: ureq would otherwise send
        // `Content-Length: 0` with it.
        let bodyless = request.body().is_empty()
            && !request
                .headers()
                .contains_key(clerk_core::http::header::CONTENT_LENGTH);
        if bodyless {
            self.run(builder.body(()))
        } else {
            self.run(builder.body(request.body().as_slice()))
        }
    }

    /// Sends the request ureq's way and reads the reply's body under the cap.
    fn run<B: ureq::AsSendBody>(
        &self,
        outgoing: Result<Request<B>, clerk_core::http::Error>,
    ) -> Outcome<Vec<u8>> {
        let outgoing = match outgoing {
            Ok(outgoing) => outgoing,
            // Unreachable with a request the core built; reported, not panicked.
            Err(e) => {
                return Outcome::Transport(TransportError::new(
                    TransportErrorKind::Other,
                    Delivery::NotSent,
                    e,
                ));
            }
        };
        let sent = if self.configure_requests {
            let configured =
                apply_call_settings!(self.agent.configure_request(outgoing), self.config).build();
            self.agent.run(configured)
        } else {
            self.agent.run(outgoing)
        };
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Outcome::Transport(transport_error(e)),
        };
        let (parts, mut body) = response.into_parts();
        match read_capped(body.as_reader(), self.config.max_body_bytes()) {
            Ok(bytes) => Outcome::Response(Response::from_parts(parts, bytes)),
            Err(e) => Outcome::Transport(e),
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("caller_agent", &self.configure_requests)
            .finish_non_exhaustive()
    }
}

/// Reads at most `max` bytes; one more means the body is too large.
fn read_capped(reader: impl Read, max: usize) -> Result<Vec<u8>, TransportError> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::new();
    if let Err(e) = reader.take(limit).read_to_end(&mut bytes) {
        return Err(transport_error(ureq::Error::from(e)));
    }
    if bytes.len() > max {
        return Err(TransportError::new(
            TransportErrorKind::BodyTooLarge,
            Delivery::MaybeSent,
            BodyTooLarge { max },
        ));
    }
    Ok(bytes)
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

/// Maps a ureq error to the core's transport error, keeping it as source.
fn transport_error(error: ureq::Error) -> TransportError {
    let (kind, delivery) = classify(&error);
    TransportError::new(kind, delivery, error)
}

/// What failed, and whether the request may have left. `NotSent` only where
/// ureq had surely not written a byte of the request.
fn classify(error: &ureq::Error) -> (TransportErrorKind, Delivery) {
    use Delivery::{MaybeSent, NotSent};
    use TransportErrorKind as K;
    match error {
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::ConnectProxyFailed(_) => (K::Connect, NotSent),
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => (K::Timeout, NotSent),
        // Global, PerCall, SendRequest, SendBody, RecvResponse, RecvBody,
        // PerRead, PerWrite: the request may be on its way or there.
        ureq::Error::Timeout(_) => (K::Timeout, MaybeSent),
        ureq::Error::Io(e) => classify_io(e),
        // Raised while setting up TLS, before the handshake sends anything
        // (a host that cannot be a TLS server name, an unusable config).
        ureq::Error::Tls(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::TlsRequired => (K::Tls, NotSent),
        ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..) => (K::Protocol, MaybeSent),
        // Refused before connecting.
        ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::RequireHttpsOnly(_)
        | ureq::Error::InvalidProxyUrl => (K::Other, NotSent),
        // StatusCode, RedirectFailed, TooManyRedirects cannot happen with
        // the settings above; BodyExceedsLimit, Other and anything newer
        // are not known to happen before sending.
        _ => (K::Other, MaybeSent),
    }
}

fn classify_io(error: &io::Error) -> (TransportErrorKind, Delivery) {
    use Delivery::{MaybeSent, NotSent};
    use TransportErrorKind as K;
    if let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return (K::Tls, tls_delivery(tls));
    }
    if is_lookup_failure(error) {
        return (K::Connect, NotSent);
    }
    match error.kind() {
        // Only a connect is refused; ureq reports it once every address of
        // the host has refused.
        io::ErrorKind::ConnectionRefused | io::ErrorKind::AddrNotAvailable => (K::Connect, NotSent),
        // Usually raised by connect, but an established connection can
        // report them too: the request may have left.
        io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::NetworkDown => (K::Connect, MaybeSent),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => (K::Timeout, MaybeSent),
        io::ErrorKind::InvalidData => (K::Protocol, MaybeSent),
        _ => (K::Io, MaybeSent),
    }
}

/// Whether std's resolver failed: ureq passes `getaddrinfo`'s failure on as
/// a plain I/O error, which std words (on Unix) "failed to lookup address
/// information: …" and reports (on Windows) as a `WSAHOST_NOT_FOUND`-family
/// code. Resolving happens before connecting, so nothing was sent.
fn is_lookup_failure(error: &io::Error) -> bool {
    #[cfg(windows)]
    if matches!(error.raw_os_error(), Some(11001..=11004)) {
        return true;
    }
    error.raw_os_error().is_none()
        && error
            .to_string()
            .starts_with("failed to lookup address information")
}

/// Whether a rustls error can only come from the handshake, before any
/// request byte is written. Certificate checks and negotiation happen there
/// and nowhere else; other errors (a bad record, an alert) may come later.
fn tls_delivery(error: &rustls::Error) -> Delivery {
    use rustls::AlertDescription as A;
    match error {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType
        | rustls::Error::PeerIncompatible(_) => Delivery::NotSent,
        rustls::Error::AlertReceived(
            A::HandshakeFailure
            | A::ProtocolVersion
            | A::InsufficientSecurity
            | A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::UnrecognisedName
            | A::NoApplicationProtocol,
        ) => Delivery::NotSent,
        _ => Delivery::MaybeSent,
    }
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
    fn jitter_is_in_range_and_varies() {
        let values: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        assert!(values.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn delivery_is_conservative() {
        use ureq::Error as E;
        let not_sent = [
            E::HostNotFound,
            E::ConnectionFailed,
            E::Timeout(Timeout::Connect),
            E::Timeout(Timeout::Resolve),
            E::Io(io::Error::other(
                "failed to lookup address information: Name or service not known",
            )),
            E::Io(io::Error::from(io::ErrorKind::ConnectionRefused)),
            E::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            )),
        ];
        for e in not_sent {
            assert_eq!(classify(&e).1, Delivery::NotSent, "{e:?}");
        }
        let maybe_sent = [
            E::Timeout(Timeout::Global),
            E::Timeout(Timeout::RecvResponse),
            E::Timeout(Timeout::RecvBody),
            E::Timeout(Timeout::SendRequest),
            E::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
            E::Io(io::Error::from(io::ErrorKind::UnexpectedEof)),
            E::Io(io::Error::from(io::ErrorKind::HostUnreachable)),
            E::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::DecryptError,
            )),
            E::StatusCode(500),
            E::Other("x".into()),
        ];
        for e in maybe_sent {
            assert_eq!(classify(&e).1, Delivery::MaybeSent, "{e:?}");
        }
        assert_eq!(
            classify(&E::Timeout(Timeout::Global)).0,
            TransportErrorKind::Timeout
        );
        assert_eq!(
            classify(&E::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::DecryptError
            )))
            .0,
            TransportErrorKind::Tls
        );
    }

    #[test]
    fn body_cap_counts_bytes() {
        assert_eq!(read_capped(&b"abc"[..], 3).unwrap(), b"abc");
        let e = read_capped(&b"abcd"[..], 3).unwrap_err();
        assert_eq!(e.kind, TransportErrorKind::BodyTooLarge);
        assert_eq!(e.delivery, Delivery::MaybeSent);
        assert_eq!(read_capped(&b""[..], 0).unwrap(), b"");
        assert!(read_capped(&b"a"[..], 0).is_err());
    }
}
