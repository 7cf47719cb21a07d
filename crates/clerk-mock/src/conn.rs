//! HTTP/1.1 on one connection: reading requests, applying faults, writing answers.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use crate::response::{ClerkError, Response, clerk_errors, reason_phrase, too_many_requests};
use crate::server::{MAX_BODY_BYTES, MAX_HEAD_BYTES, Shared};
use crate::util::format_http_date;
use crate::{Fault, RecordedRequest, clerk};

/// The most header fields a request may have.
const MAX_HEADERS: usize = 100;
/// The longest chunk-size line of a chunked body.
const MAX_CHUNK_LINE: usize = 1024;
/// How long, at most, to read and discard what a client still sends after the server has
/// decided to close, so that closing does not reset the connection under the last answer.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_READ: Duration = Duration::from_millis(100);
const LINGER_BYTES: usize = 1024 * 1024;

const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>edge-proxy</center>\r\n</body>\r\n</html>\r\n";

/// A request read off the wire, with what it asked of the connection.
struct Incoming {
    request: RecordedRequest,
    keep_alive: bool,
    head_only: bool,
}

/// Why reading a request stopped.
enum ReadError {
    /// The peer went away, timed out, or broke the framing beyond answering: just close.
    Gone,
    /// Answer this (a framing error), then close.
    Reject(Response),
}

/// What to do with the connection after an answer.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Read the next request.
    Continue,
    /// Close politely: stop writing, let the peer read what was sent.
    Close,
    /// Close at once (the socket is already shut down, or unusable).
    Abort,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Reads whatever is available into the buffer; `Ok(0)` at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Makes at least `n` bytes available in the buffer.
    fn want(&mut self, n: usize) -> Result<(), ReadError> {
        while self.buf.len() < n {
            match self.fill() {
                Ok(0) | Err(_) => return Err(ReadError::Gone),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Takes `n` bytes off the front of the stream.
    fn take(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        self.want(n)?;
        Ok(self.buf.drain(..n).collect())
    }

    /// Takes one line (without its CRLF or bare LF); `Err(too_long)` if it exceeds `max`.
    fn line(&mut self, max: usize, too_long: impl Fn() -> Response) -> Result<Vec<u8>, ReadError> {
        let mut searched = 0;
        loop {
            if let Some(i) = self.buf[searched..].iter().position(|&b| b == b'\n') {
                let end = searched + i;
                if end > max + 1 {
                    return Err(ReadError::Reject(too_long()));
                }
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop(); // '\n'
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            searched = self.buf.len();
            if searched > max + 1 {
                return Err(ReadError::Reject(too_long()));
            }
            match self.fill() {
                Ok(0) | Err(_) => return Err(ReadError::Gone),
                Ok(_) => {}
            }
        }
    }
}

/// Serves one connection until the peer leaves, asks to close, times out, or the server stops.
pub(crate) fn serve(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(shared.config.read_timeout));
    let _ = stream.set_write_timeout(Some(shared.config.write_timeout));
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
    };
    let next = loop {
        if shared.is_stopping() {
            break Next::Abort;
        }
        let incoming = match read_request(shared, &mut conn) {
            Ok(Some(incoming)) => incoming,
            Ok(None) | Err(ReadError::Gone) => break Next::Abort,
            Err(ReadError::Reject(response)) => {
                break write_response(&mut conn.stream, &response, false, false);
            }
        };
        match answer(shared, &mut conn.stream, incoming) {
            Next::Continue => {}
            other => break other,
        }
    };
    if next == Next::Close {
        close_gracefully(&mut conn.stream);
    }
    let _ = conn.stream.shutdown(Shutdown::Both);
}

/// Stops writing, then reads and discards what the peer still sends for a short while, so the
/// peer gets the last answer rather than a reset.
fn close_gracefully(stream: &mut TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let _ = stream.set_read_timeout(Some(LINGER_READ));
    let deadline = Instant::now() + LINGER;
    let mut drained = 0;
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline && drained < LINGER_BYTES {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

fn bad_request(shared: &Shared, why: &str) -> ReadError {
    ReadError::Reject(
        clerk_errors(
            &shared.ids,
            400,
            ClerkError::new(
                "bad_request",
                "bad request",
                format!("The request is not valid HTTP/1.1: {why}."),
            ),
        )
        .closing(),
    )
}

fn head_too_large(shared: &Shared) -> Response {
    clerk_errors(
        &shared.ids,
        431,
        ClerkError::new(
            "request_header_fields_too_large",
            "request header fields too large",
            format!(
                "The request head must not exceed {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} fields."
            ),
        ),
    )
    .closing()
}

/// The answer to a head over [`MAX_HEAD_BYTES`] (`buf` holds what was read of it): 414 if
/// its request line (the part before the first line feed, or all of it if none came yet)
/// is over half the cap, as when a client puts a very long query in the URL; 431 if the
/// header fields are to blame.
fn head_over_cap(shared: &Shared, buf: &[u8]) -> Response {
    let line = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    if line <= MAX_HEAD_BYTES / 2 {
        return head_too_large(shared);
    }
    clerk_errors(
        &shared.ids,
        414,
        ClerkError::new(
            "uri_too_long",
            "URI too long",
            format!(
                "The request line is {}{line} bytes long; the request head must not exceed \
                 {MAX_HEAD_BYTES} bytes. Send fewer query parameters per request.",
                if line == buf.len() { "over " } else { "" }
            ),
        ),
    )
    .closing()
}

fn body_too_large(shared: &Shared) -> ReadError {
    ReadError::Reject(
        clerk_errors(
            &shared.ids,
            413,
            ClerkError::new(
                "request_body_too_large",
                "request body too large",
                format!("The request body must not exceed {MAX_BODY_BYTES} bytes."),
            ),
        )
        .closing(),
    )
}

/// How the body of a request is framed.
enum Framing {
    Length(usize),
    Chunked,
}

/// Reads one request. `Ok(None)` if the connection ended (or idled out) between requests.
fn read_request(shared: &Shared, conn: &mut Conn) -> Result<Option<Incoming>, ReadError> {
    // The head.
    let (head_len, method, path, minor_version, headers) = loop {
        if !conn.buf.is_empty() {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Request::new(&mut slots);
            match parsed.parse(&conn.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    if n > MAX_HEAD_BYTES {
                        return Err(ReadError::Reject(head_over_cap(shared, &conn.buf[..n])));
                    }
                    let headers: Vec<(String, Vec<u8>)> = parsed
                        .headers
                        .iter()
                        .map(|h| (h.name.to_owned(), h.value.to_vec()))
                        .collect();
                    break (
                        n,
                        parsed.method.unwrap_or_default().to_owned(),
                        parsed.path.unwrap_or_default().to_owned(),
                        parsed.version.unwrap_or(1),
                        headers,
                    );
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(ReadError::Reject(head_too_large(shared)));
                }
                Err(e) => return Err(bad_request(shared, &e.to_string())),
            }
        }
        if conn.buf.len() >= MAX_HEAD_BYTES {
            return Err(ReadError::Reject(head_over_cap(shared, &conn.buf)));
        }
        match conn.fill() {
            Ok(0) | Err(_) if conn.buf.is_empty() => return Ok(None),
            Ok(0) | Err(_) => return Err(ReadError::Gone),
            Ok(_) => {}
        }
    };
    conn.buf.drain(..head_len);

    let framing = framing(shared, &headers)?;

    // Interim answer for clients that wait before sending a body.
    let has_body = !matches!(framing, Framing::Length(0));
    let expects_continue =
        values(&headers, "expect").any(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"));
    if has_body && expects_continue && minor_version >= 1 && conn.buf.is_empty() {
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        if conn.stream.write_all(interim).is_err() {
            return Err(ReadError::Gone);
        }
    }

    let body = match framing {
        Framing::Length(n) => conn.take(n)?,
        Framing::Chunked => read_chunked(shared, conn)?,
    };

    let connection_tokens: Vec<Vec<u8>> = values(&headers, "connection")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|t| t.trim_ascii().to_ascii_lowercase())
        .collect();
    let has_token = |token: &[u8]| connection_tokens.iter().any(|t| t == token);
    let keep_alive = if minor_version >= 1 {
        !has_token(b"close")
    } else {
        has_token(b"keep-alive") && !has_token(b"close")
    };
    let head_only = method == "HEAD";
    Ok(Some(Incoming {
        request: RecordedRequest {
            method,
            path,
            headers,
            body,
            rate_limited: false,
        },
        keep_alive,
        head_only,
    }))
}

/// The values of every header field named `name`.
fn values<'a>(
    headers: &'a [(String, Vec<u8>)],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// Decides how the body is framed (RFC 9112 §6), rejecting what is ambiguous.
fn framing(shared: &Shared, headers: &[(String, Vec<u8>)]) -> Result<Framing, ReadError> {
    let codings: Vec<Vec<u8>> = values(headers, "transfer-encoding")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|t| t.trim_ascii().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let has_length = values(headers, "content-length").next().is_some();
    let has_coding = values(headers, "transfer-encoding").next().is_some();
    if has_coding {
        if has_length {
            return Err(bad_request(
                shared,
                "Transfer-Encoding and Content-Length together",
            ));
        }
        if codings == [b"chunked".to_vec()] {
            return Ok(Framing::Chunked);
        }
        return Err(ReadError::Reject(
            clerk_errors(
                &shared.ids,
                501,
                ClerkError::new(
                    "not_implemented",
                    "not implemented",
                    "The only transfer coding supported for request bodies is `chunked`.",
                ),
            )
            .closing(),
        ));
    }
    let mut length: Option<u64> = None;
    for value in values(headers, "content-length") {
        for part in value.split(|&b| b == b',') {
            let n = parse_decimal(part.trim_ascii())
                .ok_or_else(|| bad_request(shared, "invalid Content-Length"))?;
            match length {
                Some(previous) if previous != n => {
                    return Err(bad_request(shared, "conflicting Content-Length values"));
                }
                _ => length = Some(n),
            }
        }
    }
    match length {
        None => Ok(Framing::Length(0)),
        Some(n) => match usize::try_from(n) {
            Ok(n) if n <= MAX_BODY_BYTES => Ok(Framing::Length(n)),
            _ => Err(body_too_large(shared)),
        },
    }
}

/// A non-empty run of ASCII digits; saturates rather than overflowing.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// A non-empty run of hex digits; saturates rather than overflowing.
fn parse_hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let v = char::from(d).to_digit(16)?;
        Some(n.saturating_mul(16).saturating_add(u64::from(v)))
    })
}

/// Reads a chunked body (RFC 9112 §7.1), discarding extensions and trailers.
fn read_chunked(shared: &Shared, conn: &mut Conn) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = conn.line(MAX_CHUNK_LINE, || {
            clerk_errors(
                &shared.ids,
                400,
                ClerkError::new("bad_request", "bad request", "Chunk size line too long."),
            )
            .closing()
        })?;
        let size_part = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = parse_hex(size_part.trim_ascii())
            .ok_or_else(|| bad_request(shared, "invalid chunk size"))?;
        if size == 0 {
            break;
        }
        let size = match usize::try_from(size) {
            Ok(size) if size <= MAX_BODY_BYTES.saturating_sub(body.len()) => size,
            _ => return Err(body_too_large(shared)),
        };
        body.extend_from_slice(&conn.take(size)?);
        let end = conn.line(0, || {
            clerk_errors(
                &shared.ids,
                400,
                ClerkError::new(
                    "bad_request",
                    "bad request",
                    "Chunk data is longer than its size.",
                ),
            )
            .closing()
        })?;
        if !end.is_empty() {
            return Err(bad_request(shared, "chunk data longer than its size"));
        }
    }
    // Trailer fields, up to an empty line.
    let mut trailer_bytes = 0usize;
    loop {
        let line = conn.line(MAX_HEAD_BYTES, || head_too_large(shared))?;
        if line.is_empty() {
            break;
        }
        trailer_bytes += line.len() + 2;
        if trailer_bytes > MAX_HEAD_BYTES {
            return Err(ReadError::Reject(head_too_large(shared)));
        }
    }
    Ok(body)
}

/// Takes the next fault, puts the request through the rate limiter if it reaches the API,
/// records it, and answers.
///
/// All of that but the answer happens under the state lock, so the log's order is the order
/// of the limiter's decisions.
fn answer(shared: &Shared, stream: &mut TcpStream, incoming: Incoming) -> Next {
    let Incoming {
        mut request,
        keep_alive,
        head_only,
    } = incoming;
    let (fault, refused) = {
        let mut state = shared.state();
        let fault = state.faults.pop_front();
        // A replacing fault answers in front of the API: the request never reaches Clerk.
        let refused = if fault.as_ref().is_none_or(Fault::takes_effect) {
            clerk::rate_limit(shared, &mut state, &request)
        } else {
            None
        };
        request.rate_limited = refused.is_some();
        state.requests.push(request.clone());
        (fault, refused)
    };
    let keep = keep_alive && !shared.is_stopping();
    let Some(fault) = fault else {
        let response = clerk::handle(shared, &request, refused);
        return write_response(stream, &response, keep, head_only);
    };
    apply_fault(shared, stream, &request, refused, fault, keep, head_only)
}

/// Answers with `fault`; an altering fault spoils the API's answer, which is a 429 if the
/// limiter `refused` the request.
fn apply_fault(
    shared: &Shared,
    stream: &mut TcpStream,
    request: &RecordedRequest,
    refused: Option<u64>,
    fault: Fault,
    keep: bool,
    head_only: bool,
) -> Next {
    let ids = &shared.ids;
    match fault {
        Fault::Status {
            status,
            code,
            message,
        } => {
            let error = ClerkError::new(&code, &message, message.clone());
            write_response(stream, &clerk_errors(ids, status, error), keep, head_only)
        }
        Fault::RateLimited { retry_after } => {
            let response = too_many_requests(ids, &retry_after);
            write_response(stream, &response, keep, head_only)
        }
        Fault::ServiceUnavailable { retry_after } => {
            let error = ClerkError::new(
                "service_unavailable",
                "Service unavailable",
                "The service is temporarily unavailable, retry later.",
            );
            let mut response = clerk_errors(ids, 503, error);
            if let Some(retry_after) = retry_after {
                response = response.header("Retry-After", &retry_after);
            }
            write_response(stream, &response, keep, head_only)
        }
        Fault::Html502 => {
            let response = Response::new(502)
                .header("Content-Type", "text/html")
                .body(HTML_502.as_bytes().to_vec());
            write_response(stream, &response, keep, head_only)
        }
        Fault::EmptyBody { status } => {
            write_response(stream, &Response::new(status), keep, head_only)
        }
        Fault::Delay { delay } => {
            let response = clerk::handle(shared, request, refused);
            if !shared.sleep(delay) {
                return Next::Abort;
            }
            write_response(stream, &response, keep, head_only)
        }
        Fault::SlowDrip { interval } => {
            let response = clerk::handle(shared, request, refused);
            let keep = keep && !response.close;
            let head = head_bytes(&response, keep);
            if write_all(stream, &head).is_err() {
                return Next::Abort;
            }
            if !head_only && has_body(response.status) {
                for byte in &response.body {
                    if !shared.sleep(interval) || write_all(stream, &[*byte]).is_err() {
                        return Next::Abort;
                    }
                }
            }
            if keep { Next::Continue } else { Next::Close }
        }
        Fault::ResetMidBody => {
            let response = clerk::handle(shared, request, refused);
            let mut out = head_bytes(&response, keep);
            out.extend_from_slice(&response.body[..response.body.len() / 2]);
            let _ = write_all(stream, &out);
            let _ = stream.shutdown(Shutdown::Both);
            Next::Abort
        }
        Fault::TruncatedJson => {
            let mut response = clerk::handle(shared, request, refused);
            let half = response.body.len() / 2;
            response.body.truncate(half);
            write_response(stream, &response, keep, head_only)
        }
        Fault::WrongContentType => {
            let mut response = clerk::handle(shared, request, refused);
            response.set_content_type("text/plain; charset=utf-8");
            write_response(stream, &response, keep, head_only)
        }
        Fault::Oversized { bytes } => write_oversized(stream, bytes, keep, head_only),
        Fault::Redirect { status, location } => {
            let response = Response::new(status).header("Location", &location);
            write_response(stream, &response, keep, head_only)
        }
        Fault::Raw { bytes } => {
            if write_all(stream, &bytes).is_err() {
                return Next::Abort;
            }
            Next::Close
        }
    }
}

/// Streams `{"padding":"xxx…"}` of exactly `bytes` bytes (or `bytes` spaces if that is too
/// short for the object) without holding it in memory.
fn write_oversized(stream: &mut TcpStream, bytes: usize, keep: bool, head_only: bool) -> Next {
    const OPEN: &[u8] = b"{\"padding\":\"";
    const CLOSE: &[u8] = b"\"}";
    // Only the length matters for the head; the body is streamed below.
    let response = Response::new(200).header("Content-Type", "application/json");
    let head = head_bytes_with_length(&response, bytes, keep);
    if write_all(stream, &head).is_err() {
        return Next::Abort;
    }
    if !head_only {
        let (open, fill_byte, close): (&[u8], u8, &[u8]) = if bytes >= OPEN.len() + CLOSE.len() {
            (OPEN, b'x', CLOSE)
        } else {
            (b"", b' ', b"")
        };
        let mut remaining = bytes - open.len() - close.len();
        let block = [fill_byte; 16 * 1024];
        if write_all(stream, open).is_err() {
            return Next::Abort;
        }
        while remaining > 0 {
            let n = remaining.min(block.len());
            if write_all(stream, &block[..n]).is_err() {
                return Next::Abort;
            }
            remaining -= n;
        }
        if write_all(stream, close).is_err() {
            return Next::Abort;
        }
    }
    if keep { Next::Continue } else { Next::Close }
}

/// Whether a response with this status carries a body at all (RFC 9110 §6.4.1).
fn has_body(status: u16) -> bool {
    !matches!(status, 100..=199 | 204 | 304)
}

fn head_bytes(response: &Response, keep: bool) -> Vec<u8> {
    head_bytes_with_length(response, response.body.len(), keep)
}

/// The status line and header fields, with `Date`, `Content-Length` (unless the status
/// forbids it) and `Connection` added.
fn head_bytes_with_length(response: &Response, content_length: usize, keep: bool) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nDate: {}\r\n",
        response.status,
        reason_phrase(response.status),
        format_http_date(SystemTime::now()),
    );
    for (name, value) in &response.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    if !matches!(response.status, 100..=199 | 204) {
        head.push_str(&format!("Content-Length: {content_length}\r\n"));
    }
    head.push_str(if keep {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    head.into_bytes()
}

fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes)?;
    stream.flush()
}

/// Writes a whole answer in one go (head and body together, so no small-packet delay).
fn write_response(
    stream: &mut TcpStream,
    response: &Response,
    keep: bool,
    head_only: bool,
) -> Next {
    let keep = keep && !response.close;
    let mut out = head_bytes(response, keep);
    if !head_only && has_body(response.status) {
        out.extend_from_slice(&response.body);
    }
    match write_all(stream, &out) {
        Err(_) => Next::Abort,
        Ok(()) if keep => Next::Continue,
        Ok(()) => Next::Close,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_strictly_and_saturate() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"0042"), Some(42));
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"+1"), None);
        assert_eq!(parse_decimal(b"1 2"), None);
        assert_eq!(parse_decimal(b"99999999999999999999999999"), Some(u64::MAX));
        assert_eq!(parse_hex(b"fF"), Some(255));
        assert_eq!(parse_hex(b"0"), Some(0));
        assert_eq!(parse_hex(b""), None);
        assert_eq!(parse_hex(b"0x1"), None);
        assert_eq!(parse_hex(b"ffffffffffffffffffffffff"), Some(u64::MAX));
    }

    #[test]
    fn heads_carry_length_and_connection() {
        let response = Response::new(404)
            .header("Content-Type", "application/json")
            .body(b"{}".to_vec());
        let head = String::from_utf8(head_bytes(&response, true)).unwrap();
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\nDate: "));
        assert!(head.contains("\r\nContent-Type: application/json\r\n"));
        assert!(head.contains("\r\nContent-Length: 2\r\n"));
        assert!(head.ends_with("\r\nConnection: keep-alive\r\n\r\n"));
        let empty = String::from_utf8(head_bytes(&Response::new(204), false)).unwrap();
        assert!(!empty.contains("Content-Length"));
        assert!(empty.ends_with("Connection: close\r\n\r\n"));
    }
}
