//! Opening connections: async-io sockets (the reactor async-std runs on),
//! rustls over futures-io, and the bridge from futures-io to hyper's own
//! I/O traits.

use std::cell::RefCell;
use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Async;
use async_std::io::{Read as AsyncRead, Write as AsyncWrite};
use clerk_core::TransportErrorKind;
use clerk_core::http::Uri;
use clerk_core::http::uri::{Authority, PathAndQuery, Scheme};
use futures_rustls::TlsConnector;
use futures_rustls::client::TlsStream;
use rustls::pki_types::ServerName;

/// Where a request goes: what a connection is opened to and pooled by.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    https: bool,
    authority: Authority,
}

/// The same scheme and the authority byte for byte: a comparison of a few
/// bytes where `Authority`'s own ignores ASCII case one byte at a time. (A
/// host spelled in another case is another origin to the pool, which costs
/// a connection at most; every request of a client uses its one base URL.)
impl PartialEq for Origin {
    fn eq(&self, other: &Self) -> bool {
        self.https == other.https && self.authority.as_str() == other.authority.as_str()
    }
}

impl Eq for Origin {}

impl Origin {
    /// The origin of an absolute `http` or `https` URI, and its origin-form
    /// request target (`/path?query`).
    pub(crate) fn split(uri: &Uri) -> Result<(Self, PathAndQuery), ConnectError> {
        let https = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => {
                return Err(ConnectError::new(
                    TransportErrorKind::Other,
                    Unsupported("URL scheme"),
                ));
            }
        };
        let Some(authority) = uri.authority().cloned() else {
            return Err(ConnectError::new(
                TransportErrorKind::Other,
                Unsupported("URL without a host"),
            ));
        };
        let target = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        Ok((Self { https, authority }, target))
    }

    /// The `Host` header value: the URL's host and port as written.
    pub(crate) fn authority(&self) -> &Authority {
        &self.authority
    }

    fn host(&self) -> &str {
        // An IPv6 literal comes bracketed in a URL, bare everywhere else.
        self.authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
    }

    fn port(&self) -> u16 {
        self.authority
            .port_u16()
            .unwrap_or(if self.https { 443 } else { 80 })
    }
}

/// How long an address has to connect before the next one is tried
/// alongside it: RFC 8305's "Connection Attempt Delay" (250 ms recommended;
/// hyper-util and reqwest use 300 ms).
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Opens connections: TCP on async-io (async-std's reactor), then TLS with
/// rustls for `https`, all within the connect timeout.
#[derive(Clone)]
pub(crate) struct Connector {
    tls: TlsConnector,
    timeout: Duration,
}

impl Connector {
    pub(crate) fn new(tls: rustls::ClientConfig, timeout: Duration) -> Self {
        Self {
            tls: TlsConnector::from(Arc::new(tls)),
            timeout,
        }
    }

    /// A connection to `origin`. Nothing has been written on it but the TLS
    /// handshake.
    pub(crate) async fn connect(&self, origin: &Origin) -> Result<Stream, ConnectError> {
        self.within_timeout(async {
            let addrs = resolve(origin).await?;
            self.establish(origin, addrs).await
        })
        .await
    }

    /// A connection to `origin` at one of `addrs`, resolved by the caller.
    #[cfg(test)]
    pub(crate) async fn connect_to(
        &self,
        origin: &Origin,
        addrs: Vec<SocketAddr>,
    ) -> Result<Stream, ConnectError> {
        self.within_timeout(self.establish(origin, addrs)).await
    }

    async fn within_timeout(
        &self,
        connecting: impl Future<Output = Result<Stream, ConnectError>>,
    ) -> Result<Stream, ConnectError> {
        match async_std::future::timeout(self.timeout, connecting).await {
            Ok(result) => result,
            Err(elapsed) => Err(ConnectError::new(TransportErrorKind::Timeout, elapsed)),
        }
    }

    async fn establish(
        &self,
        origin: &Origin,
        addrs: Vec<SocketAddr>,
    ) -> Result<Stream, ConnectError> {
        let tcp = connect_any(addrs, ATTEMPT_DELAY)
            .await
            .map_err(|e| ConnectError::new(TransportErrorKind::Connect, e))?;
        // Small requests go out at once; a failure here only costs latency.
        let _ = tcp.get_ref().set_nodelay(true);
        if !origin.https {
            return Ok(Stream::Plain(tcp));
        }
        let name = ServerName::try_from(origin.host().to_owned())
            .map_err(|e| ConnectError::new(TransportErrorKind::Tls, e))?;
        let tls =
            self.tls
                .connect(name, tcp)
                .await
                .map_err(|e| match e.downcast::<rustls::Error>() {
                    // Put rustls' own error in the chain: io::Error's `source` would skip it.
                    Ok(tls) => ConnectError::new(TransportErrorKind::Tls, tls),
                    Err(e) => ConnectError::new(TransportErrorKind::Tls, e),
                })?;
        Ok(Stream::Tls(Box::new(tls)))
    }
}

/// The host's addresses, in the resolver's order: the address itself for
/// an IP literal, else the system's resolver (`getaddrinfo`), which blocks,
/// run on a thread of the `blocking` crate's pool (`blocking-N`, started
/// for the lookup and ended after a while without work).
///
/// Not async-std's `ToSocketAddrs`: it runs the lookup in a task on
/// async-std's executor, so a host name started that executor's threads
/// under smol or a plain `block_on`, and waited for a free one of them
/// (`tests/threads.rs`; `tests/blocked.rs`,
/// `a_call_to_a_host_name_needs_no_executor_thread`).
async fn resolve(origin: &Origin) -> Result<Vec<SocketAddr>, ConnectError> {
    let (host, port) = (origin.host(), origin.port());
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let host = host.to_owned();
    blocking::unblock(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(Iterator::collect)
    })
    .await
    .map_err(|e| ConnectError::new(TransportErrorKind::Connect, e))
}

/// One TCP attempt in flight.
type Attempt = Pin<Box<dyn Future<Output = io::Result<Async<TcpStream>>> + Send>>;

/// A TCP connection to the first of `addrs` to connect, RFC 8305 style
/// ("Happy Eyeballs"): the addresses are tried in turn, alternating address
/// families; each one starts when the one before has failed or has not
/// connected within `delay`, while the earlier attempts go on. The first
/// attempt to connect wins and the others are dropped. A host whose first
/// address drops packets (a broken IPv6 route, typically) so costs `delay`,
/// not the whole connect timeout, which the caller keeps over all of it.
/// With every attempt failed, the last error.
async fn connect_any(addrs: Vec<SocketAddr>, delay: Duration) -> io::Result<Async<TcpStream>> {
    let mut addrs = interleave_families(addrs).into_iter().peekable();
    let mut attempts: Vec<Attempt> = Vec::new();
    // When the newest attempt's head start is over, if there is a next one.
    let mut head_start: Option<Pin<Box<dyn Future<Output = ()> + Send>>> = None;
    let mut last_error = None;
    poll_fn(|cx| {
        loop {
            let mut start_next = attempts.is_empty();
            let mut i = 0;
            while let Some(attempt) = attempts.get_mut(i) {
                match attempt.as_mut().poll(cx) {
                    Poll::Ready(Ok(tcp)) => return Poll::Ready(Ok(tcp)),
                    Poll::Ready(Err(e)) => {
                        // Dropped at once: its socket is closed.
                        drop(attempts.swap_remove(i));
                        last_error = Some(e);
                        start_next = true;
                    }
                    Poll::Pending => i += 1,
                }
            }
            if let Some(timer) = head_start.as_mut()
                && timer.as_mut().poll(cx).is_ready()
            {
                start_next = true;
            }
            if !start_next {
                return Poll::Pending;
            }
            head_start = None;
            match addrs.next() {
                Some(addr) => {
                    attempts.push(Box::pin(Async::<TcpStream>::connect(addr)));
                    if addrs.peek().is_some() {
                        head_start = Some(Box::pin(async_std::task::sleep(delay)));
                    }
                    // Poll the new attempt and its timer.
                }
                None if attempts.is_empty() => {
                    return Poll::Ready(Err(last_error.take().unwrap_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, "the host has no address")
                    })));
                }
                // Nothing left to start: wait for those in flight.
                None => return Poll::Pending,
            }
        }
    })
    .await
}

/// The addresses in the resolver's order, but alternating between IPv6
/// and IPv4 from the first address's family on (RFC 8305, section 4).
fn interleave_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first_v6) = addrs.first().map(SocketAddr::is_ipv6) else {
        return addrs;
    };
    let (first, other): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(first.len() + other.len());
    let (mut first, mut other) = (first.into_iter(), other.into_iter());
    loop {
        match (first.next(), other.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// Why a connection could not be opened. Nothing was written on it, so the
/// request was surely not sent.
#[derive(Debug)]
pub(crate) struct ConnectError {
    pub(crate) kind: TransportErrorKind,
    source: Box<dyn StdError + Send + Sync>,
}

impl ConnectError {
    fn new(kind: TransportErrorKind, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            kind,
            source: source.into(),
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            TransportErrorKind::Connect => "TCP connection failed",
            TransportErrorKind::Tls => "TLS handshake failed",
            TransportErrorKind::Timeout => "connecting timed out",
            _ => "cannot connect to this URL",
        })
    }
}

impl StdError for ConnectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

#[derive(Debug)]
struct Unsupported(&'static str);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unsupported {}", self.0)
    }
}

impl StdError for Unsupported {}

/// A plain or TLS socket: futures-io's traits, and hyper's below.
pub(crate) enum Stream {
    Plain(Async<TcpStream>),
    Tls(Box<TlsStream<Async<TcpStream>>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s).poll_close(cx),
        }
    }
}

/// The size of the buffer each thread reads into before handing the bytes to
/// hyper: hyper's own initial read buffer size.
const SCRATCH_BYTES: usize = 8 * 1024;

thread_local! {
    /// Zeroed once per thread, then reused by every read on that thread.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice());
}

/// hyper reads into memory it has not initialised, and futures-io reads only
/// into initialised memory. Instead of zeroing hyper's whole free buffer
/// (8 KiB or more) before every read, as the generic adapters do, read into
/// a per-thread buffer zeroed once, then copy the bytes that came: a Clerk
/// reply is a few hundred bytes. No `unsafe` involved. With a zeroed buffer
/// per read instead, a sequential call on a fresh client took 13 % and
/// 19 % longer relative to bare hyper under async-std, in two runs
/// (two-core VM, unpinned: `cargo bench --manifest-path benches/Cargo.toml
/// --bench latency -- after-burst concurrency`, beside the unchanged
/// build); more than the 10 % a mechanism must earn here.
impl hyper::rt::Read for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(SCRATCH_BYTES);
        let shared = SCRATCH.try_with(|cell| {
            // Borrowed already only if a read on this thread re-entered this
            // one (a waker that polls in place); then `None`.
            let mut scratch = cell.try_borrow_mut().ok()?;
            let into = scratch.get_mut(..want)?;
            Some(read_into(self.as_mut(), cx, into, &mut buf))
        });
        match shared {
            Ok(Some(polled)) => polled,
            // The thread's buffer is gone or busy: one of this read's own.
            _ => read_into(self, cx, &mut vec![0; want], &mut buf),
        }
    }
}

/// Reads into `into`, then hands hyper the bytes that came.
fn read_into(
    stream: Pin<&mut Stream>,
    cx: &mut Context<'_>,
    into: &mut [u8],
    buf: &mut hyper::rt::ReadBufCursor<'_>,
) -> Poll<io::Result<()>> {
    match AsyncRead::poll_read(stream, cx, into) {
        Poll::Ready(Ok(n)) => match into.get(..n) {
            Some(read) => {
                buf.put_slice(read);
                Poll::Ready(Ok(()))
            }
            None => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the socket reported more bytes than it was given room for",
            ))),
        },
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(self, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write_vectored(self, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        // Let hyper copy a request's head and body into one buffer and send
        // it with one `send`: for a body of a few dozen bytes that is
        // cheaper than a `writev` of two slices.
        false
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(self, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(self, cx)
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::Instant;

    use clerk_scenarios::Blackhole;

    use super::*;

    /// A port on `ip` where nothing listens: connecting is refused.
    fn refused(ip: &str) -> SocketAddr {
        TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap()
    }

    fn plain(timeout: Duration) -> (Connector, Origin) {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let uri: Uri = "http://clerk.test/v1".parse().unwrap();
        (Connector::new(tls, timeout), Origin::split(&uri).unwrap().0)
    }

    fn connect_to(
        timeout: Duration,
        addrs: Vec<SocketAddr>,
    ) -> (Result<Stream, ConnectError>, Duration) {
        let (connector, origin) = plain(timeout);
        let start = Instant::now();
        let result = smol::block_on(connector.connect_to(&origin, addrs));
        (result, start.elapsed())
    }

    fn peer(stream: &Stream) -> SocketAddr {
        match stream {
            Stream::Plain(tcp) => tcp.get_ref().peer_addr().unwrap(),
            Stream::Tls(_) => unreachable!("plain http"),
        }
    }

    /// A host whose first address does not answer (an IPv6 route that
    /// drops packets, say) is reached at its next address a moment later,
    /// not after the whole connect timeout, and not never.
    #[test]
    fn a_silent_first_address_does_not_use_up_the_connect_timeout() {
        let hole = Blackhole::at("::1");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = listener.local_addr().unwrap();
        let (result, took) = connect_to(Duration::from_secs(3), vec![hole.addr(), good]);
        let stream = result.unwrap();
        assert_eq!(peer(&stream), good);
        assert!(took >= ATTEMPT_DELAY, "{took:?}");
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    /// The earlier attempt keeps going while the next one starts: the
    /// first to connect wins, even if it is the first address.
    #[test]
    fn a_slow_first_address_may_still_win() {
        let slow = Blackhole::at("127.0.0.1");
        let also_silent = Blackhole::at("::1");
        let target = slow.addr();
        // Drain the slow listener's queue after a while: the first
        // attempt's SYN, retransmitted after a second, then gets through.
        let listener = slow.listener().try_clone().unwrap();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connected = done.clone();
        let drain = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let mut accepted = Vec::new();
            listener.set_nonblocking(true).unwrap();
            let start = Instant::now();
            while !done.load(std::sync::atomic::Ordering::SeqCst)
                && start.elapsed() < Duration::from_secs(4)
            {
                match listener.accept() {
                    Ok((conn, _)) => accepted.push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            accepted.len()
        });
        let (result, took) = connect_to(Duration::from_secs(5), vec![target, also_silent.addr()]);
        connected.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(peer(&result.unwrap()), target, "after {took:?}");
        assert!(drain.join().unwrap() > 0);
    }

    #[test]
    fn address_families_alternate_from_the_first() {
        let v6 = |n: u16| SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, n], 443));
        let v4 = |n: u8| SocketAddr::from(([10, 0, 0, n], 443));
        assert_eq!(
            interleave_families(vec![v6(1), v6(2), v6(3), v4(1), v4(2)]),
            vec![v6(1), v4(1), v6(2), v4(2), v6(3)]
        );
        assert_eq!(
            interleave_families(vec![v4(1), v4(2), v6(1)]),
            vec![v4(1), v6(1), v4(2)]
        );
        assert_eq!(interleave_families(vec![v4(1)]), vec![v4(1)]);
        assert_eq!(interleave_families(Vec::new()), Vec::new());
    }

    /// A refused address moves on to the next at once.
    #[test]
    fn a_refused_address_moves_on_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = listener.local_addr().unwrap();
        let (result, took) = connect_to(
            Duration::from_secs(3),
            vec![refused("::1"), refused("127.0.0.1"), good],
        );
        assert_eq!(peer(&result.unwrap()), good);
        assert!(took < ATTEMPT_DELAY, "{took:?}");
    }

    /// When every address refuses, the socket's error comes back at once.
    #[test]
    fn every_address_refused_is_a_connect_error() {
        let (result, took) = connect_to(
            Duration::from_secs(3),
            vec![refused("::1"), refused("127.0.0.1")],
        );
        let err = result.err().unwrap();
        assert_eq!(err.kind, TransportErrorKind::Connect);
        let io = err.source().unwrap().downcast_ref::<io::Error>().unwrap();
        assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    /// Silent addresses all share the one connect timeout.
    #[test]
    fn silent_addresses_share_the_connect_timeout() {
        let (a, b, c) = (
            Blackhole::at("::1"),
            Blackhole::at("127.0.0.1"),
            Blackhole::at("::1"),
        );
        let (result, took) = connect_to(
            Duration::from_millis(700),
            vec![a.addr(), b.addr(), c.addr()],
        );
        assert_eq!(result.err().unwrap().kind, TransportErrorKind::Timeout);
        assert!(took >= Duration::from_millis(700), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
    }

    /// Bytes sent in pieces larger and smaller than the scratch buffer come
    /// through hyper's read trait whole and in order, whatever room hyper
    /// offers.
    #[test]
    fn reads_through_the_scratch_buffer_keep_every_byte() {
        use std::io::Write as _;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sent: Vec<u8> = (0..3 * SCRATCH_BYTES + 123)
            .map(|i| (i % 251) as u8)
            .collect();
        let to_send = sent.clone();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            for piece in to_send.chunks(5000) {
                conn.write_all(piece).unwrap();
            }
        });
        let got = async_std::task::block_on(async {
            let mut stream = Stream::Plain(Async::<TcpStream>::connect(addr).await.unwrap());
            let mut got = Vec::new();
            // Room of every size: 1 byte, odd sizes, and more than the scratch.
            let rooms = [1usize, 7, 4096, SCRATCH_BYTES + 1000, 300];
            for room in rooms.iter().cycle() {
                let mut raw = vec![std::mem::MaybeUninit::<u8>::uninit(); *room];
                let mut buf = hyper::rt::ReadBuf::uninit(&mut raw);
                std::future::poll_fn(|cx| {
                    hyper::rt::Read::poll_read(Pin::new(&mut stream), cx, buf.unfilled())
                })
                .await
                .unwrap();
                if buf.filled().is_empty() {
                    break;
                }
                assert!(buf.filled().len() <= (*room).min(SCRATCH_BYTES));
                got.extend_from_slice(buf.filled());
            }
            got
        });
        server.join().unwrap();
        assert_eq!(got, sent);
    }
}
