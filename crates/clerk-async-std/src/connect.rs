//! Opening connections: async-std sockets, rustls over futures-io, and the
//! bridge from futures-io to hyper's own I/O traits.

use std::cell::RefCell;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_std::io::{Read as AsyncRead, Write as AsyncWrite};
use async_std::net::TcpStream;
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

/// Opens connections: TCP with async-std, then TLS with rustls for
/// `https`, all within the connect timeout.
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
        match async_std::future::timeout(self.timeout, self.establish(origin)).await {
            Ok(result) => result,
            Err(elapsed) => Err(ConnectError::new(TransportErrorKind::Timeout, elapsed)),
        }
    }

    async fn establish(&self, origin: &Origin) -> Result<Stream, ConnectError> {
        let tcp = TcpStream::connect((origin.host(), origin.port()))
            .await
            .map_err(|e| ConnectError::new(TransportErrorKind::Connect, e))?;
        // Small requests go out at once; a failure here only costs latency.
        let _ = tcp.set_nodelay(true);
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
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
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
/// reply is a few hundred bytes. No `unsafe` involved.
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

    use super::*;

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
            let mut stream = Stream::Plain(TcpStream::connect(addr).await.unwrap());
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
