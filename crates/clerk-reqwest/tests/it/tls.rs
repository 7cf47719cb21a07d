//! A one-purpose HTTPS server on loopback, with a self-signed certificate
//! for `localhost` and `127.0.0.1`: it answers every request with Clerk's
//! 404. Enough to see that certificates are verified, and that a caller's
//! own trust settings are used.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate (PEM), valid for `localhost` and `127.0.0.1` until 2125.
pub(crate) const CERT_PEM: &[u8] = include_bytes!("localhost.crt");
const KEY_PEM: &[u8] = include_bytes!("localhost.key");

const NOT_FOUND: &str = r#"{"errors":[{"message":"not found","long_message":"Resource not found","code":"resource_not_found"}],"clerk_trace_id":"tls0"}"#;

/// Starts the server; its thread lives as long as the test process.
pub(crate) fn start() -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = CertificateDer::from_pem_slice(CERT_PEM).unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY_PEM).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let Ok(connection) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(connection, stream);
                // A client that refuses the certificate ends here.
                let _ = serve_one(&mut tls);
            });
        }
    });
    addr
}

fn serve_one(stream: &mut impl ReadWrite) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut *stream);
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    drop(reader);
    write!(
        stream,
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{NOT_FOUND}",
        NOT_FOUND.len()
    )?;
    stream.flush()
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
