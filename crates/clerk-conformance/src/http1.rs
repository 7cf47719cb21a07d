//! Just enough HTTP/1.1 to send one request and keep the answer byte for byte.
//!
//! The conformance checks want the response exactly as clerk-mock wrote it
//! (status, every header, the raw body), which an HTTP client library would
//! interpret on the way. So this sends one request on a fresh connection with
//! `Connection: close` and reads until the server closes.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use clerk_core::http::Request;
use clerk_core::http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};

/// A response as it came off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The header fields in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (the server always sends `Content-Length`, never chunks).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The same response as an `http::Response`, for clerk-core to parse.
    ///
    /// # Errors
    /// When the status or a header cannot be represented.
    pub fn to_http(&self) -> Result<clerk_core::http::Response<Vec<u8>>, String> {
        let mut builder = clerk_core::http::Response::builder().status(self.status);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_slice());
        }
        builder
            .body(self.body.clone())
            .map_err(|e| format!("cannot rebuild response: {e}"))
    }
}

/// Sends `request` to `addr` on a new connection and reads the whole answer.
///
/// The request goes out as built: its method, the URI's path and query as
/// the target, every header it carries, then `Host`, `Content-Length` (if the
/// request has a body or a `Content-Length` of its own) and
/// `Connection: close` (in place of any framing headers it carries).
///
/// # Errors
/// On any I/O failure, or when the answer is not a complete HTTP/1.1 response.
pub fn send(addr: SocketAddr, request: &Request<Vec<u8>>) -> io::Result<RawResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(request.method().as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    head.extend_from_slice(addr.to_string().as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in request.headers() {
        // Framing is this function's: written once, below.
        if [CONTENT_LENGTH, CONNECTION, HOST, TRANSFER_ENCODING].contains(name) {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    // A length only where the request has a body or says it has none: a GET
    // the SDK builds without `Content-Length` goes out without one.
    if !request.body().is_empty() || request.headers().contains_key(CONTENT_LENGTH) {
        head.extend_from_slice(format!("Content-Length: {}\r\n", request.body().len()).as_bytes());
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    stream.write_all(&head)?;
    stream.write_all(request.body())?;
    stream.flush()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    parse(&answer).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Parses a complete HTTP/1.1 response with a `Content-Length` body.
///
/// # Errors
/// When the head is malformed, `Content-Length` is missing or wrong, or the
/// body is shorter or longer than it says.
pub fn parse(bytes: &[u8]) -> Result<RawResponse, String> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of head")?;
    let head = std::str::from_utf8(&bytes[..end]).map_err(|_| "head is not UTF-8")?;
    let body = &bytes[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty head")?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if version != "HTTP/1.1" {
        return Err(format!("unexpected version in {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let reason = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.to_owned(), value.trim().as_bytes().to_vec()));
    }
    let response = RawResponse {
        status,
        reason,
        headers,
        body: body.to_vec(),
    };
    let length: usize = response
        .header("content-length")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
        .ok_or("no valid Content-Length")?;
    if length != body.len() {
        return Err(format!(
            "Content-Length {length} but {} body bytes",
            body.len()
        ));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_response() {
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        let r = parse(raw).unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.reason, "Not Found");
        assert_eq!(r.header("content-type"), Some(&b"application/json"[..]));
        assert_eq!(r.body, b"{}");
        assert_eq!(r.to_http().unwrap().status(), 404);
    }

    #[test]
    fn refuses_broken_framing() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\n\r\n{}").is_err());
        assert!(parse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK").is_err());
    }
}
