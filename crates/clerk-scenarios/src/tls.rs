//! A small HTTPS server on loopback with a self-signed certificate, for the
//! adapters' TLS tests: does a client refuse a certificate it was not told to
//! trust, and does a caller's own trust setting reach the handshake?
//!
//! The certificate and key (`fixtures/`, valid until 2126, for `127.0.0.1`
//! and `localhost`) were made with:
//!
//! ```text
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
//!   -subj "/CN=clerk-async-std test" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
//!   -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
//!   -addext "keyUsage=critical,digitalSignature" -keyout key.pem -out cert.pem
//! openssl x509 -in cert.pem -outform DER -out cert.der
//! openssl pkcs8 -topk8 -nocrypt -in key.pem -outform DER -out key.der
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const CERT_DER: &[u8] = include_bytes!("../fixtures/cert.der");
const KEY_DER: &[u8] = include_bytes!("../fixtures/key.der");

/// The trace id of the server's 404.
pub const TRACE_ID: &str = "tls0";

/// The sign-in token a create gets.
pub const TOKEN_JSON: &str = r#"{"object":"sign_in_token","id":"sit_tls","status":"pending","user_id":"user_tls","token":"a.b.c","url":"https://example.invalid/v1/tickets/accept?ticket=a.b.c","created_at":1700000000000,"updated_at":1700000000000}"#;

const NOT_FOUND_JSON: &str = r#"{"errors":[{"message":"not found","long_message":"Resource not found","code":"resource_not_found"}],"clerk_trace_id":"tls0"}"#;

/// How long the server waits for a client, and [`SelfSignedServer::wait_for`]
/// for the server.
const PATIENCE: Duration = Duration::from_secs(5);

/// What the server saw on one connection.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The name the client sent in SNI (none for an IP address).
    pub server_name: Option<String>,
    /// The ALPN protocol agreed on, if any.
    pub alpn: Option<Vec<u8>>,
    /// The request head (request line and headers), or why none was read:
    /// a client that refuses the certificate ends the connection here.
    pub request: Result<String, String>,
}

/// An HTTPS server on `127.0.0.1`, port chosen by the OS, with the
/// self-signed certificate. One request a connection, then it closes: a
/// `POST …/sign_in_tokens` gets a sign-in token ([`TOKEN_JSON`]), anything
/// else Clerk's 404 with trace id [`TRACE_ID`]. Stops when dropped.
#[derive(Debug)]
pub struct SelfSignedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    seen: Mutex<Vec<Connection>>,
    changed: Condvar,
    stop: AtomicBool,
}

impl SelfSignedServer {
    /// Starts the server on a thread of its own.
    pub fn start() -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(CERT_DER)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(KEY_DER)),
            )
            .expect("the fixture's certificate and key match");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port on loopback");
        let addr = listener.local_addr().expect("a bound address");
        let shared = Arc::new(Shared::default());
        let server = Arc::clone(&shared);
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                if server.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(tcp) = tcp else { continue };
                let config = Arc::clone(&config);
                let server = Arc::clone(&server);
                std::thread::spawn(move || {
                    let seen = serve(config, tcp);
                    server.seen.lock().expect("not poisoned").push(seen);
                    server.changed.notify_all();
                });
            }
        });
        Self { addr, shared }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}/v1", self.addr.port())
    }

    /// The self-signed certificate, DER-encoded: what a client must trust.
    pub fn certificate_der(&self) -> &'static [u8] {
        CERT_DER
    }

    /// The connections served so far, in the order they ended.
    pub fn connections(&self) -> Vec<Connection> {
        self.shared.seen.lock().expect("not poisoned").clone()
    }

    /// Waits (up to 5 s) until `count` connections have ended, and returns
    /// them; a client may return before the server has finished.
    pub fn wait_for(&self, count: usize) -> Vec<Connection> {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = self.shared.seen.lock().expect("not poisoned");
        while seen.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{count} connections expected: {seen:?}");
            seen = self
                .shared
                .changed
                .wait_timeout(seen, left)
                .expect("not poisoned")
                .0;
        }
        seen.clone()
    }
}

impl Drop for SelfSignedServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, PATIENCE);
    }
}

/// A `rustls` client configuration (ring, the defaults) that trusts only
/// `certificate_der`.
pub fn client_config_trusting(certificate_der: &[u8]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(certificate_der.to_vec()))
        .expect("a certificate rustls can read");
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn serve(config: Arc<rustls::ServerConfig>, tcp: TcpStream) -> Connection {
    let _ = tcp.set_read_timeout(Some(PATIENCE));
    let _ = tcp.set_write_timeout(Some(PATIENCE));
    let connection = match rustls::ServerConnection::new(config) {
        Ok(connection) => connection,
        Err(e) => {
            return Connection {
                server_name: None,
                alpn: None,
                request: Err(e.to_string()),
            };
        }
    };
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let request = read_request(&mut stream);
    if let Ok(head) = &request {
        let creates = head
            .split_whitespace()
            .take(2)
            .eq(["POST", "/v1/sign_in_tokens"]);
        let (status, body) = if creates {
            ("200 OK", TOKEN_JSON)
        } else {
            ("404 Not Found", NOT_FOUND_JSON)
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes());
        stream.conn.send_close_notify();
        let _ = stream.flush();
    }
    Connection {
        server_name: stream.conn.server_name().map(str::to_owned),
        alpn: stream.conn.alpn_protocol().map(<[u8]>::to_vec),
        request,
    }
}

/// Reads a request head, then its body (by `Content-Length`).
fn read_request(stream: &mut impl Read) -> Result<String, String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let mut fill = |data: &mut Vec<u8>| match stream.read(&mut buf) {
        Ok(0) => Err("closed".to_owned()),
        Ok(n) => {
            data.extend_from_slice(&buf[..n]);
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    };
    let end = loop {
        fill(&mut data)?;
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
    };
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while data.len() < end + 4 + length {
        fill(&mut data)?;
    }
    Ok(head)
}
