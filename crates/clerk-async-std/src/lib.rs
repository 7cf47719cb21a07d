//! An async client for Clerk's Backend API sign-in tokens, for async-std
//! and smol.
//!
//! It drives [`clerk_core`] over real async I/O: hyper 1's HTTP/1.1
//! connections, kept alive in a pool, over async-io sockets (the reactor
//! async-std runs on), with TLS by rustls (ring provider, webpki roots). No
//! tokio runtime is built, needed or started: hyper uses only tokio's
//! runtime-free channels (its `sync` feature;
//! `no_tokio_runtime_runs_in_this_process`). async-std is discontinued
//! upstream and names smol as its successor; this crate runs under either
//! executor, or under any plain `block_on` (`tests/it/runtimes.rs`).
//!
//! A call runs in its caller's task. While a client has at most four
//! calls under way, the connection a call takes is driven there, alongside
//! the wait for the reply, so a reply wakes one thread, the caller's; such
//! a connection has no task of its own, and an idle one has nothing to do.
//! With more calls under way than that, a connection a call takes is lent
//! to a task of its own on async-std's executor, as hyper's connections
//! usually run. Once at most four are under way again, a call that takes a
//! lent connection takes it back and drives it itself, and the task ends:
//! after a burst, calls one at a time run as on a fresh client
//! (`after_a_burst_a_call_needs_no_executor_thread`).
//!
//! # Threads
//!
//! Besides its caller's, a call needs these threads (`tests/threads.rs`
//! runs each case in a process of its own and names them):
//!
//! - `async-io`, async-io's reactor thread, once a socket or a timer
//!   exists (async-std's `block_on` starts it itself); its timers keep the
//!   attempts' deadlines;
//! - `clerk-idle` (from the first connection back in the pool), this
//!   crate's, one per process: it closes idle connections on time. Should
//!   it fail to start, a task on async-std's executor does that instead;
//! - for a base URL with a host name, not an IP literal, a thread of the
//!   `blocking` crate's pool while the system resolver looks it up
//!   (`blocking-N`; the pool ends it after a while without work);
//! - with more than four calls under way, async-std's executor threads
//!   (one per CPU, or `ASYNC_STD_THREAD_COUNT`), which run the connections
//!   lent then.
//!
//! So under smol or a plain `block_on`, calls a few at a time start no
//! thread of async-std's executor, and complete even while every such
//! thread is busy, after a burst too (`tests/blocked.rs`:
//! `a_call_needs_no_executor_thread`,
//! `after_a_burst_a_call_needs_no_executor_thread`). async-std's own
//! `block_on` starts its executor's threads whatever the client does. An
//! attempt ends on time in every case
//! (`the_timeout_fires_while_every_executor_thread_is_blocked`).
//!
//! **In scope:** sending each attempt, reading the reply under the body cap
//! and the timeouts, sleeping between retries. **Out of scope:** everything
//! Clerk-specific: requests, replies, errors and retry decisions come from
//! [`clerk_core`], unchanged.
//!
//! ```no_run
//! use clerk_async_std::{Client, Config, CreateSignInToken, RevokeSignInToken};
//!
//! # fn main() -> Result<(), clerk_async_std::Error> {
//! // The same code runs under async-std's executor or under smol's.
//! smol::block_on(async {
//!     let client = Client::new(Config::new("sk_test_example")?)?;
//!     let token = client
//!         .create_sign_in_token(CreateSignInToken::new("user_123").with_expires_in_seconds(600))
//!         .await?;
//!     // Hand `token.url` to the user; it is a credential, and never printed.
//!     let _link = token.url.as_ref().map(|url| url.expose().to_owned());
//!     client.revoke_sign_in_token(&token.id).await?;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # What each attempt does
//!
//! - Connects within [`Config::connect_timeout`] (TCP and TLS), and finishes
//!   the whole exchange, connecting included, within [`Config::timeout`]
//!   (`tests/it/transport.rs`, `tests/it/tls.rs`).
//! - Tries every address of the host, RFC 8305 style: the addresses in the
//!   system resolver's order, alternating IPv6 and IPv4; the next one starts
//!   when the one before is refused, or has not connected within 250 ms
//!   while that one goes on; the first to connect is used. An address that
//!   drops packets (a broken IPv6 route, typically) so costs 250 ms per new
//!   connection, not the whole connect timeout. All of it within the one
//!   connect timeout (the unit tests of `src/connect.rs`).
//! - Reads at most [`Config::max_body_bytes`] of the reply, counted as the
//!   bytes arrive (`body_exactly_at_the_cap`; the scenario
//!   `oversized_body`).
//! - Never follows a redirect, never compresses, sends no header but the
//!   core's, `Host`, and, for a body, hyper's `Content-Length`; keeps every
//!   response header (the scenarios `redirect_not_followed`,
//!   `create_minimal`, `html_502`).
//! - Reuses connections: one goes back to the pool as soon as its reply is
//!   read, so sequential calls share one connection and `n` concurrent calls
//!   use at most `n` (`sequential_calls_share_one_connection`,
//!   `connections_are_reused_by_concurrent_calls`). At most 64 stay idle per
//!   origin (one put back beyond that closes the one idle longest), and one
//!   left idle for 15 s is closed then, by the `clerk-idle` thread (the
//!   pool's unit tests).
//!
//! A failure before hyper was handed the request is reported as
//! [`Delivery::NotSent`]: a failure to connect (DNS, refused, connect
//! timeout, TLS handshake), the attempt's deadline passing while a
//! connection was being taken from the pool or opened, and a request hyper
//! hands back unwritten because the connection closed first. Every other
//! transport failure is `MaybeSent`, which is what keeps a create from
//! being retried when the server may have acted on it.
//!
//! # Features
//!
//! - `tracing`: a span `clerk.call` per call and an event per attempt
//!   (attempt number, status, trace id, wait). Never a key, a token or a URL.

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

mod connect;
mod exchange;
mod pool;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use clerk_core;
pub use clerk_core::{
    Config, CreateSignInToken, EmailAddress, EmailMatch, Error, ErrorKind, ListUsers, Operation,
    RateLimit, RetryPolicy, RevokeSignInToken, SecretString, SignInToken, SignInTokenStatus,
    Timestamp, User,
};
/// The rustls this crate is built with, for [`Client::with_tls_config`].
pub use rustls;

use clerk_core::{Admit, Call, Delivery, Gate, Step, Timing, TransportError, TransportErrorKind};

use crate::exchange::Http;

/// A Clerk client. Cloning it is cheap, and clones share one connection pool.
///
/// Clones also share one rate-limit [`Gate`]: after a
/// 429 every call of the client waits for the moment Clerk named, and with
/// [`Config::with_pacing`] the client starts no more than its share.
///
/// Its futures are `Send` and need no particular executor: await them under
/// async-std, smol, or any `block_on`.
#[derive(Clone)]
pub struct Client {
    config: Config,
    http: Http,
    /// The rate-limit gate every call of this client and its clones shares.
    gate: Gate,
}

impl Client {
    /// A client for `config`, trusting the webpki roots (Mozilla's list).
    ///
    /// `clerk-async-std/<version>` is appended to the `User-Agent`.
    ///
    /// # Errors
    /// An invalid-request error if the `User-Agent` cannot take the suffix,
    /// a TLS error if rustls' ring provider cannot be set up (neither is
    /// expected).
    pub fn new(config: Config) -> Result<Self, Error> {
        Self::with_tls_config(config, default_tls_config()?)
    }

    /// A client for `config` that uses the caller's rustls configuration: its
    /// roots, verifier and provider (to trust a private CA or a test
    /// certificate, say). Its ALPN list is replaced by `http/1.1`, the only
    /// protocol this client speaks.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use clerk_async_std::{Client, Config, rustls};
    ///
    /// let mut roots = rustls::RootCertStore::empty();
    /// // roots.add(my_ca_certificate)?;
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let tls = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let client = Client::with_tls_config(Config::new("sk_test_example")?, tls)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// An invalid-request error if the `User-Agent` cannot take the suffix.
    pub fn with_tls_config(config: Config, mut tls: rustls::ClientConfig) -> Result<Self, Error> {
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::build(config, tls, exchange::POOL_IDLE_TIMEOUT)
    }

    fn build(
        config: Config,
        tls: rustls::ClientConfig,
        idle_timeout: Duration,
    ) -> Result<Self, Error> {
        let config = config.with_user_agent_suffix(concat!(
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION")
        ))?;
        let http = Http::new(&config, tls, idle_timeout);
        Ok(Self {
            gate: config.new_gate(),
            config,
            http,
        })
    }

    /// The configuration, with this crate's `User-Agent` suffix.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The rate-limit gate this client and its clones share: whether a 429
    /// holds them now ([`Gate::held_until`]), and the pacing.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    clerk_core::client_conveniences!(async);

    /// Sends any operation, retrying as the config's [`RetryPolicy`] and
    /// [`clerk_core::Call`] decide, sleeping on async-std's timer (async-io's,
    /// which works under smol too).
    ///
    /// # Errors
    /// An invalid request (nothing sent), Clerk's refusal, a reply that is not
    /// Clerk's, or a transport failure; [`Error::attempts`] says how many
    /// attempts were made.
    pub async fn send<O: Operation>(&self, operation: O) -> Result<O::Output, Error> {
        #[cfg(feature = "tracing")]
        {
            use tracing::Instrument as _;
            let span = tracing::info_span!("clerk.call", operation = O::NAME);
            return self.drive(operation).instrument(span).await;
        }
        #[cfg(not(feature = "tracing"))]
        self.drive(operation).await
    }

    async fn drive<O: Operation>(&self, operation: O) -> Result<O::Output, Error> {
        let start = Instant::now();
        let mut call = Call::new(&self.config, operation)?.with_gate(&self.gate, start);
        loop {
            match call.admit(|| start.elapsed()) {
                Admit::Send => {}
                Admit::Wait(wait) => {
                    async_std::task::sleep(wait).await;
                    continue;
                }
                Admit::Done(error) => return Err(error),
            }
            let outcome = self.http.send_once(call.request()).await;
            // The clock and the jitter are read only after a failure.
            let timing = || Timing {
                now: SystemTime::now(),
                elapsed: start.elapsed(),
                jitter: jitter(),
            };
            match call.handle_with(outcome, timing) {
                Step::Done(result) => return result,
                Step::Retry(wait) => async_std::task::sleep(wait).await,
            }
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Config's Debug redacts the key.
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// rustls with the ring provider, the safe default protocol versions and
/// Mozilla's roots from webpki-roots.
fn default_tls_config() -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            Error::transport(TransportError::new(
                TransportErrorKind::Tls,
                Delivery::NotSent,
                e,
            ))
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tls)
}

/// 64 random bits from std's per-process random hasher keys, fed a counter
/// and the time, turned into a jitter value by the core.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(since) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    clerk_core::jitter_from_bits(hasher.finish())
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind as IoKind, Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;

    /// Serves one request on one connection, then reports how long after
    /// the reply the client closed that connection (`None`: still open
    /// after `wait`).
    fn one_reply_then_watch(wait: Duration) -> (String, mpsc::Receiver<Option<Duration>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            let replied = Instant::now();
            conn.set_read_timeout(Some(wait)).unwrap();
            let closed = match conn.read(&mut buf) {
                Ok(0) => Some(replied.elapsed()),
                Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => None,
                other => panic!("unexpected {other:?}"),
            };
            tx.send(closed).unwrap();
        });
        (base, rx)
    }

    /// Reads one request head, and its body if it says it has one.
    fn read_request(conn: &mut std::net::TcpStream) {
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        let head_end = loop {
            if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "closed mid-request");
            got.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while got.len() < head_end + length {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "closed mid-body");
            got.extend_from_slice(&buf[..n]);
        }
    }

    /// Waits up to `wait` for the client to close `conn`: how long after
    /// `since` it did.
    fn closed_within(
        conn: &mut std::net::TcpStream,
        since: Instant,
        wait: Duration,
    ) -> Option<Duration> {
        let mut buf = [0u8; 64];
        conn.set_read_timeout(Some(wait)).unwrap();
        match conn.read(&mut buf) {
            Ok(0) => Some(since.elapsed()),
            Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => None,
            other => panic!("unexpected {other:?}"),
        }
    }

    const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

    fn client(base: &str, idle: Duration) -> Client {
        let config = Config::new("sk_test_x")
            .unwrap()
            .with_base_url(base)
            .unwrap()
            .with_retry_policy(RetryPolicy::never());
        Client::build(config, default_tls_config().unwrap(), idle).unwrap()
    }

    #[test]
    fn the_pool_closes_idle_connections_on_its_timer() {
        let (base, closed) = one_reply_then_watch(Duration::from_secs(5));
        let client = client(&base, Duration::from_millis(100));
        async_std::task::block_on(async {
            let err = client.revoke_sign_in_token("sit_1").await.unwrap_err();
            assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
        });
        // No further request: the pool's sweeper (the `clerk-idle` thread)
        // closes the connection by itself while the client lives on.
        let after = closed
            .recv()
            .unwrap()
            .expect("the idle connection was never closed");
        assert!(after < Duration::from_secs(2), "closed after {after:?}");
        drop(client);
    }

    #[test]
    fn the_pool_keeps_connections_within_the_idle_timeout() {
        let (base, closed) = one_reply_then_watch(Duration::from_millis(600));
        let client = client(&base, Duration::from_secs(15));
        smol::block_on(async {
            let _ = client.revoke_sign_in_token("sit_1").await.unwrap_err();
        });
        assert_eq!(
            closed.recv().unwrap(),
            None,
            "closed before its idle timeout"
        );
        drop(client);
    }

    /// The sweeper wakes when the oldest idle connection's time is up, not
    /// on a period of its own: a connection put back between two sweeps is
    /// closed on time, not up to half an idle timeout late.
    #[test]
    fn the_pool_closes_an_idle_connection_on_time() {
        let idle = Duration::from_millis(600);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            for _ in 0..2 {
                read_request(&mut conn);
                conn.write_all(NOT_FOUND).unwrap();
            }
            closed_within(&mut conn, Instant::now(), Duration::from_secs(5))
        });
        let client = client(&base, idle);
        async_std::task::block_on(async {
            let _ = client.revoke_sign_in_token("sit_1").await.unwrap_err();
            // The sweeper has started; the connection goes back again later.
            async_std::task::sleep(Duration::from_millis(350)).await;
            let _ = client.revoke_sign_in_token("sit_2").await.unwrap_err();
        });
        let after = server.join().unwrap().expect("never closed");
        assert!(after >= idle - Duration::from_millis(20), "{after:?}");
        assert!(after < idle + Duration::from_millis(100), "{after:?}");
        drop(client);
    }

    /// After a burst, at most `MAX_IDLE_PER_ORIGIN` connections stay idle:
    /// the rest are closed as they come back, not kept for the idle timeout.
    #[test]
    fn the_pool_keeps_at_most_its_cap_of_idle_connections() {
        let burst = pool::MAX_IDLE_PER_ORIGIN + 8;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        // Every request waits for all the others, so each has a connection
        // of its own.
        let all_in = std::sync::Arc::new(std::sync::Barrier::new(burst));
        let server = std::thread::spawn(move || {
            let handlers: Vec<_> = (0..burst)
                .map(|_| {
                    let (mut conn, _) = listener.accept().unwrap();
                    let all_in = all_in.clone();
                    std::thread::spawn(move || {
                        read_request(&mut conn);
                        all_in.wait();
                        conn.write_all(NOT_FOUND).unwrap();
                        closed_within(&mut conn, Instant::now(), Duration::from_millis(1500))
                    })
                })
                .collect();
            handlers
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .count()
        });
        let client = client(&base, Duration::from_secs(15));
        async_std::task::block_on(async {
            let calls: Vec<_> = (0..burst)
                .map(|i| {
                    let client = client.clone();
                    async_std::task::spawn(async move {
                        client.revoke_sign_in_token(&format!("sit_{i}")).await
                    })
                })
                .collect();
            for call in calls {
                assert_eq!(
                    call.await.unwrap_err().status().map(|s| s.as_u16()),
                    Some(404)
                );
            }
        });
        assert_eq!(server.join().unwrap(), burst - pool::MAX_IDLE_PER_ORIGIN);
        drop(client);
    }

    /// A call's future is moved as it is built, once per layer: keep the
    /// rarely used state (opening a connection) boxed, out of it. It was
    /// 6 KiB before that.
    #[test]
    fn a_call_future_stays_small() {
        let client = client("http://127.0.0.1:9/v1", Duration::from_secs(1));
        let call = client.create_sign_in_token(CreateSignInToken::new("user_1"));
        let size = std::mem::size_of_val(&call);
        assert!(size <= 2048, "{size} bytes");
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let values: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(values.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(values.windows(2).any(|w| w[0] != w[1]));
    }
}
