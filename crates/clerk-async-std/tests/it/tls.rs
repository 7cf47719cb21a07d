//! HTTPS: rustls over async-std sockets, against a small blocking rustls
//! server on loopback with a self-signed certificate (tests/it/fixtures,
//! valid until 2126, for 127.0.0.1 and localhost), made with:
//!
//! ```text
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
//!   -subj "/CN=clerk-async-std test" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
//!   -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
//!   -addext "keyUsage=critical,digitalSignature" -keyout key.pem -out cert.pem
//! openssl x509 -in cert.pem -outform DER -out cert.der
//! openssl pkcs8 -topk8 -nocrypt -in key.pem -outform DER -out key.der
//! ```

use std::error::Error as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use clerk_async_std::clerk_core::{Delivery, TransportErrorKind};
use clerk_async_std::{Client, Config, CreateSignInToken, ErrorKind, RetryPolicy};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{fast_retries, on_both_runtimes};

const CERT: &[u8] = include_bytes!("fixtures/cert.der");
const KEY: &[u8] = include_bytes!("fixtures/key.der");

const TOKEN_JSON: &str = r#"{"object":"sign_in_token","id":"sit_tls","status":"pending","user_id":"user_tls","token":"a.b.c","url":"https://example.invalid/v1/tickets/accept?ticket=a.b.c","created_at":1700000000000,"updated_at":1700000000000}"#;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What the server saw on one connection.
#[derive(Debug)]
struct Seen {
    sni: Option<String>,
    alpn: Option<Vec<u8>>,
    head: Result<String, String>,
}

/// Serves `connections` TLS connections, one request each, with a canned
/// sign-in token, and reports each on the channel.
fn tls_server(connections: usize) -> (SocketAddr, Receiver<Seen>) {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(CERT.to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(KEY.to_vec())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..connections {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            tcp.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            let head = read_head(&mut stream);
            if head.is_ok() {
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{TOKEN_JSON}",
                    TOKEN_JSON.len()
                );
                let _ = stream.write_all(reply.as_bytes());
                stream.conn.send_close_notify();
                let _ = stream.flush();
            }
            let seen = Seen {
                sni: stream.conn.server_name().map(str::to_owned),
                alpn: stream.conn.alpn_protocol().map(<[u8]>::to_vec),
                head,
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

/// Reads a request head and its body (by Content-Length).
fn read_head(stream: &mut impl Read) -> Result<String, String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed".into());
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("closed mid-body".into());
                }
                data.extend_from_slice(&buf[..n]);
            }
            return Ok(head);
        }
    }
}

fn trusting_the_test_certificate() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(CERT.to_vec())).unwrap();
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn config(base_url: &str) -> Config {
    Config::new("sk_test_tls")
        .unwrap()
        .with_base_url(base_url)
        .unwrap()
        .with_retry_policy(fast_retries())
        .with_connect_timeout(Duration::from_secs(3))
}

#[test]
fn https_with_a_caller_trusted_certificate() {
    on_both_runtimes(|| async {
        for host in ["localhost", "127.0.0.1"] {
            let (addr, seen) = tls_server(1);
            let base_url = format!("https://{host}:{}/v1", addr.port());
            let client =
                Client::with_tls_config(config(&base_url), trusting_the_test_certificate())
                    .unwrap();

            let token = client
                .create_sign_in_token(CreateSignInToken::new("user_tls"))
                .await
                .unwrap();
            assert_eq!(token.id, "sit_tls");

            let seen = seen.recv_timeout(Duration::from_secs(5)).unwrap();
            let head = seen.head.unwrap();
            assert!(
                head.starts_with("POST /v1/sign_in_tokens HTTP/1.1\r\n"),
                "{head}"
            );
            assert!(head.contains("authorization: Bearer sk_test_tls"), "{head}");
            // ALPN is forced to http/1.1 even though the caller's config had none.
            assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
            // SNI carries a DNS name, never an IP address.
            let want = (host == "localhost").then(|| host.to_owned());
            assert_eq!(seen.sni, want);
        }
    });
}

#[test]
fn an_untrusted_certificate_fails_the_handshake_not_sent() {
    on_both_runtimes(|| async {
        let (addr, seen) = tls_server(3);
        // The default client trusts only webpki's roots.
        let client = Client::new(config(&format!("https://localhost:{}/v1", addr.port()))).unwrap();
        let err = client
            .create_sign_in_token(CreateSignInToken::new("user_tls"))
            .await
            .unwrap_err();
        let ErrorKind::Transport(t) = err.kind() else {
            panic!("{err:?}");
        };
        assert_eq!(
            (t.kind, t.delivery),
            (TransportErrorKind::Tls, Delivery::NotSent)
        );
        // Nothing was sent, so even a create is tried again.
        assert_eq!(err.attempts(), 3);
        let mut source = err.source();
        let mut rustls_error = None;
        while let Some(e) = source {
            rustls_error = e.downcast_ref::<rustls::Error>().or(rustls_error);
            source = e.source();
        }
        assert!(
            matches!(rustls_error, Some(rustls::Error::InvalidCertificate(_))),
            "{rustls_error:?}"
        );
        for _ in 0..3 {
            let seen = seen.recv_timeout(Duration::from_secs(5)).unwrap();
            assert!(seen.head.is_err(), "a request got through: {seen:?}");
        }
    });
}

#[test]
fn a_stalled_handshake_hits_the_connect_timeout_not_sent() {
    on_both_runtimes(|| async {
        // The kernel completes the TCP handshake, but nobody ever answers
        // the TLS ClientHello.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = config(&format!("https://127.0.0.1:{port}/v1"))
            .with_connect_timeout(Duration::from_millis(200))
            .with_retry_policy(fast_retries().with_max_attempts(2));
        let client = Client::new(config).unwrap();

        let started = Instant::now();
        let err = client
            .create_sign_in_token(CreateSignInToken::new("user_tls"))
            .await
            .unwrap_err();
        let took = started.elapsed();
        let ErrorKind::Transport(t) = err.kind() else {
            panic!("{err:?}");
        };
        assert_eq!(
            (t.kind, t.delivery),
            (TransportErrorKind::Timeout, Delivery::NotSent)
        );
        assert!(err.is_timeout());
        assert_eq!(err.attempts(), 2);
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_secs(2),
            "took {took:?}"
        );
        drop(listener);
    });
}

#[test]
fn the_default_tls_config_is_built() {
    // The ring provider and webpki roots; nothing to fetch at run time.
    let client = Client::new(Config::new("sk_test_x").unwrap()).unwrap();
    assert_eq!(client.config().base_url(), "https://api.clerk.com/v1");
    let _ = RetryPolicy::never();
}
