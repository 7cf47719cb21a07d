//! One attempt: send the core's request, read the reply under the cap and
//! the timeout, and say what failed in the core's terms.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clerk_core::http::header::HOST;
use clerk_core::http::uri::{Parts, PathAndQuery};
use clerk_core::http::{HeaderValue, Request, Response, Uri, Version};
use clerk_core::{Config, Delivery, Outcome, TransportError, TransportErrorKind};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};

use crate::connect::{Connector, Origin};
use crate::pool::{CheckoutError, Closed, Conn, Pool, drive};

/// How long a pooled connection may sit idle before it is closed: as long
/// as ureq's default, shorter than the keep-alive of common servers and
/// proxies, so the client rather than the server usually ends an idle
/// connection and no request races a server's close. (A server that closes
/// sooner is noticed when the connection is next used, before the request
/// is written, unless its close is still on the way then.)
pub(crate) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// Pooled keep-alive HTTP/1.1 connections with the limits of one [`Config`].
#[derive(Clone)]
pub(crate) struct Http {
    pool: Pool,
    timeout: Duration,
    max_body_bytes: usize,
    /// The base URL's origin and its `Host` value, made once: every request
    /// the core builds goes there.
    home: Option<(Origin, HeaderValue)>,
}

impl Http {
    pub(crate) fn new(config: &Config, tls: rustls::ClientConfig, idle_timeout: Duration) -> Self {
        let connector = Connector::new(tls, config.connect_timeout());
        let home = Uri::try_from(config.base_url())
            .ok()
            .and_then(|uri| Origin::split(&uri).ok())
            .and_then(|(origin, _)| {
                let host = host_value(&origin).ok()?;
                Some((origin, host))
            });
        Self {
            pool: Pool::new(connector, idle_timeout),
            timeout: config.timeout(),
            max_body_bytes: config.max_body_bytes(),
            home,
        }
    }

    /// Sends `request` once; the whole exchange, connecting included, has
    /// `timeout` to finish.
    ///
    /// An attempt whose deadline passes before hyper was handed the request
    /// (while a connection was being taken from the pool, opened or
    /// handshaken) is [`Delivery::NotSent`]: nothing of it was written, and
    /// a create may be retried. Once hyper has the request, it is
    /// `MaybeSent`.
    pub(crate) async fn send_once(&self, request: &Request<Vec<u8>>) -> Outcome<Bytes> {
        let handed = AtomicBool::new(false);
        // Pinned here, so that the exchange's state is not copied into the
        // timeout's future.
        let exchange = pin!(self.exchange(request, &handed));
        // async-io's timer: its reactor thread (or a `block_on` waiting on
        // the reactor) fires it, with every executor thread busy too
        // (`the_timeout_fires_while_every_executor_thread_is_blocked`).
        match async_std::future::timeout(self.timeout, exchange).await {
            Ok(Ok(response)) => Outcome::Response(response),
            Ok(Err(error)) => Outcome::Transport(error),
            // Dropping the exchange drops its connection, never pooled.
            Err(_) => Outcome::Transport(TransportError::new(
                TransportErrorKind::Timeout,
                // Where the attempt stood once hyper had the request is
                // unknown: the server may have it.
                if handed.load(Ordering::Relaxed) {
                    Delivery::MaybeSent
                } else {
                    Delivery::NotSent
                },
                TimedOut {
                    after: self.timeout,
                },
            )),
        }
    }

    /// One exchange; `handed` is set while hyper holds the request.
    async fn exchange(
        &self,
        request: &Request<Vec<u8>>,
        handed: &AtomicBool,
    ) -> Result<Response<Bytes>, TransportError> {
        let (origin, target) = Origin::split(request.uri())
            .map_err(|e| TransportError::new(e.kind, Delivery::NotSent, e))?;
        let host = match &self.home {
            Some((home, host)) if *home == origin => host.clone(),
            _ => host_value(&origin).map_err(|e| {
                TransportError::new(TransportErrorKind::Other, Delivery::NotSent, e)
            })?,
        };
        // Taken by the attempt, and given back with the request if hyper
        // hands it back unwritten. (By reference: as an argument of each
        // attempt's future, the request would be held there once more.)
        let mut outgoing = Some(to_hyper(request, host, target)?);
        let _in_flight = self.pool.enter();
        loop {
            let checkout = self.pool.checkout(&origin).await.map_err(|e| match e {
                CheckoutError::Connect(e) => TransportError::new(e.kind, Delivery::NotSent, e),
                CheckoutError::Handshake(e) => {
                    TransportError::new(TransportErrorKind::Other, Delivery::NotSent, e)
                }
            })?;
            handed.store(true, Ordering::Relaxed);
            match self
                .exchange_on(checkout.conn, &mut outgoing, &origin)
                .await
            {
                Attempt::Done(result) => return result,
                // hyper gave the request back unwritten: a pooled
                // connection that had just closed. Try the next one.
                Attempt::HandedBack(_) if checkout.reused => {
                    handed.store(false, Ordering::Relaxed);
                }
                // Given back unwritten on a new connection (closed by the
                // server before hyper wrote anything): not sent, so the core
                // may retry even a create.
                Attempt::HandedBack(error) => {
                    return Err(TransportError::new(
                        classify(&error),
                        Delivery::NotSent,
                        error,
                    ));
                }
            }
        }
    }

    /// The request on one connection, which this call drives: written, its
    /// reply read to the end, and the connection put back.
    async fn exchange_on(
        &self,
        mut conn: Conn,
        outgoing: &mut Option<Request<Full<Bytes>>>,
        origin: &Origin,
    ) -> Attempt {
        let Some(request) = outgoing.take() else {
            // Never: every attempt is given the request, and only a
            // request handed back unwritten leads to another attempt.
            return Attempt::Done(Err(closed_error(Closed)));
        };
        // Lent or not, it stays so for this exchange (see `Pool::checkout`).
        let lent = conn.is_lent();
        let sending = pin!(conn.sender.try_send_request(request));
        let response = match drive(&mut conn.driver, lent, sending).await {
            Ok(Ok(response)) => response,
            Ok(Err(mut refused)) => {
                let unsent = refused.take_message();
                let error = refused.into_error();
                return match unsent {
                    Some(request) => {
                        *outgoing = Some(request);
                        Attempt::HandedBack(error)
                    }
                    None => Attempt::Done(Err(TransportError::new(
                        classify(&error),
                        Delivery::MaybeSent,
                        error,
                    ))),
                };
            }
            Err(closed) => return Attempt::Done(Err(closed_error(closed))),
        };
        let (parts, body) = response.into_parts();
        let reading = pin!(read_capped(body, self.max_body_bytes));
        let body = match drive(&mut conn.driver, lent, reading).await {
            Ok(Ok(body)) => body,
            Ok(Err(error)) => return Attempt::Done(Err(error)),
            Err(closed) => return Attempt::Done(Err(closed_error(closed))),
        };
        // Read to the end: once hyper has seen to that, the connection is
        // free for the next request.
        conn.settle().await;
        self.pool.put(origin.clone(), conn);
        Attempt::Done(Ok(Response::from_parts(parts, body)))
    }
}

/// How an exchange on one connection ended.
enum Attempt {
    Done(Result<Response<Bytes>, TransportError>),
    /// hyper gave the request back unwritten (it is in `outgoing` again),
    /// with the error that closed the connection.
    HandedBack(hyper::Error),
}

/// The connection ended while the exchange waited: the request may have
/// been written.
fn closed_error(closed: Closed) -> TransportError {
    TransportError::new(TransportErrorKind::Io, Delivery::MaybeSent, closed)
}

/// The same method, headers (the sensitive flag travels with each value)
/// and body, as HTTP/1.1 with an origin-form target and a `Host` header.
fn to_hyper(
    request: &Request<Vec<u8>>,
    host: HeaderValue,
    target: PathAndQuery,
) -> Result<Request<Full<Bytes>>, TransportError> {
    let mut parts = Parts::default();
    parts.path_and_query = Some(target);
    let uri = Uri::from_parts(parts)
        .map_err(|e| TransportError::new(TransportErrorKind::Other, Delivery::NotSent, e))?;
    let mut out = Request::new(Full::new(Bytes::from(request.body().clone())));
    *out.method_mut() = request.method().clone();
    *out.uri_mut() = uri;
    // Made to size: a clone of the core's map is full, and adding `Host`
    // to it would grow it (a reallocation and a rehash per call).
    let headers = out.headers_mut();
    headers.reserve(request.headers().len() + 1);
    for (name, value) in request.headers() {
        headers.append(name, value.clone());
    }
    headers.insert(HOST, host);
    *out.version_mut() = Version::HTTP_11;
    Ok(out)
}

/// The `Host` header value of an origin: its host and port as written.
fn host_value(origin: &Origin) -> Result<HeaderValue, impl StdError + Send + Sync + 'static> {
    HeaderValue::from_str(origin.authority().as_str())
}

/// Reads the body frame by frame, counting the bytes as they come: a body
/// over `max` ends the read, whatever its `Content-Length` said.
async fn read_capped(mut body: Incoming, max: usize) -> Result<Bytes, TransportError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| TransportError::new(classify(&e), Delivery::MaybeSent, e))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len());
        if total > max {
            return Err(TransportError::new(
                TransportErrorKind::BodyTooLarge,
                Delivery::MaybeSent,
                BodyTooLarge { max },
            ));
        }
        if !data.is_empty() {
            chunks.push(data);
        }
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut joined = Vec::with_capacity(total);
            for chunk in &chunks {
                joined.extend_from_slice(chunk);
            }
            Bytes::from(joined)
        }
    })
}

/// What failed, from hyper's and the socket's errors down the chain.
fn classify(error: &(dyn StdError + 'static)) -> TransportErrorKind {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_parse() || h.is_parse_status() {
                return TransportErrorKind::Protocol;
            }
            if h.is_timeout() {
                return TransportErrorKind::Timeout;
            }
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return TransportErrorKind::Io;
            }
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::TimedOut => TransportErrorKind::Timeout,
                _ => TransportErrorKind::Io,
            };
        }
        next = e.source();
    }
    TransportErrorKind::Other
}

/// The source of a timed-out attempt's transport error.
#[derive(Debug)]
struct TimedOut {
    after: Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the attempt did not finish within {:?}", self.after)
    }
}

impl StdError for TimedOut {}

/// The source of a [`TransportErrorKind::BodyTooLarge`] error.
#[derive(Debug)]
struct BodyTooLarge {
    max: usize,
}

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the reply body is longer than {} bytes", self.max)
    }
}

impl StdError for BodyTooLarge {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn http_for(base: &str) -> Http {
        let config = Config::new("sk_test_x")
            .unwrap()
            .with_base_url(base)
            .unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        Http::new(&config, tls, POOL_IDLE_TIMEOUT)
    }

    /// A new connection the server closed before hyper wrote anything: the
    /// request comes back unwritten (which `exchange` reports as `NotSent`,
    /// so the core may retry even a create). The connection is opened, the
    /// server closes it, and only then is the request handed to hyper.
    #[test]
    fn a_connection_closed_before_the_request_hands_it_back() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let http = http_for(&base);
        let request = Request::post(format!("{base}/sign_in_tokens"))
            .body(b"{}".to_vec())
            .unwrap();
        let (origin, target) = Origin::split(request.uri()).unwrap();
        let host = host_value(&origin).unwrap();
        let (closed_tx, closed_rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            drop(listener.accept().unwrap());
            closed_tx.send(()).unwrap();
        });
        async_std::task::block_on(async {
            let conn = http.pool.open(&origin).await.ok().unwrap();
            closed_rx.recv().unwrap();
            // Time for the close to reach this side.
            async_std::task::sleep(Duration::from_millis(50)).await;
            let mut outgoing = Some(to_hyper(&request, host, target).unwrap());
            let attempt = http.exchange_on(conn, &mut outgoing, &origin).await;
            assert!(matches!(attempt, Attempt::HandedBack(_)));
            assert!(outgoing.is_some(), "the request is given back");
        });
        server.join().unwrap();
    }
}
