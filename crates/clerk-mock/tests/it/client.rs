//! A tiny raw HTTP/1.1 client over `std::net::TcpStream`, and shape checks for Clerk bodies.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use clerk_mock::MockServer;
use serde_json::Value;

/// An answer as read off the wire.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One connection to the server.
pub(crate) struct Client {
    pub(crate) stream: TcpStream,
    buf: Vec<u8>,
    key: String,
}

impl Client {
    pub(crate) fn connect(server: &MockServer) -> Client {
        let stream = TcpStream::connect(server.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        Client {
            stream,
            buf: Vec::new(),
            key: server.secret_key().to_owned(),
        }
    }

    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Writes a request with the given extra header lines (each without CRLF).
    pub(crate) fn send(&mut self, method: &str, path: &str, headers: &[&str], body: &[u8]) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.send_raw(&out);
    }

    /// Sends an authenticated request and reads the answer.
    pub(crate) fn call(&mut self, method: &str, path: &str, body: &str) -> Reply {
        let auth = format!("Authorization: Bearer {}", self.key);
        self.send(
            method,
            path,
            &[&auth, "Content-Type: application/json"],
            body.as_bytes(),
        );
        self.read_reply().expect("reply")
    }

    pub(crate) fn create(&mut self, body: &str) -> Reply {
        self.call("POST", "/v1/sign_in_tokens", body)
    }

    pub(crate) fn revoke(&mut self, encoded_id: &str) -> Reply {
        self.call(
            "POST",
            &format!("/v1/sign_in_tokens/{encoded_id}/revoke"),
            "",
        )
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads a response head: status and headers.
    pub(crate) fn read_head(&mut self) -> io::Result<(u16, Vec<(String, String)>)> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut slots);
            if let httparse::Status::Complete(n) = parsed
                .parse(&self.buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                let status = parsed.code.unwrap_or(0);
                let headers = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                self.buf.drain(..n);
                return Ok((status, headers));
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads exactly `n` body bytes.
    pub(crate) fn read_body(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads a whole answer framed by Content-Length (0 if absent).
    pub(crate) fn read_reply(&mut self) -> io::Result<Reply> {
        let (status, headers) = self.read_head()?;
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse::<usize>().expect("numeric Content-Length"))
            .unwrap_or(0);
        let body = self.read_body(length)?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Reads until the server closes; returns what came (buffered bytes first).
    pub(crate) fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        let _ = self.stream.read_to_end(&mut out);
        out
    }

    /// Whether the server has closed the connection (EOF or reset within the timeout).
    pub(crate) fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
    }
}

/// One request on its own connection.
pub(crate) fn call(server: &MockServer, method: &str, path: &str, body: &str) -> Reply {
    Client::connect(server).call(method, path, body)
}

pub(crate) fn create(server: &MockServer, body: &str) -> Reply {
    Client::connect(server).create(body)
}

pub(crate) fn create_for(server: &MockServer, user: &str) -> Reply {
    create(server, &format!(r#"{{"user_id":"{user}"}}"#))
}

pub(crate) fn revoke(server: &MockServer, encoded_id: &str) -> Reply {
    Client::connect(server).revoke(encoded_id)
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_base64url(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks an id of the form `prefix_` + 27 base62 characters.
pub(crate) fn assert_clerk_id(id: &str, prefix: &str) {
    let rest = id
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .unwrap_or_else(|| panic!("{id} lacks prefix {prefix}_"));
    assert_eq!(rest.len(), 27, "{id}");
    assert!(is_base62(rest), "{id}");
}

/// Checks a JWT-looking string: three non-empty base64url parts.
pub(crate) fn assert_jwt_like(token: &str) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    assert!(parts.iter().all(|p| is_base64url(p)), "{token}");
    assert!(token.starts_with("eyJ"), "{token}");
}

/// Checks a 200 `SignInToken` answer against the OpenAPI schema (`additionalProperties:
/// false`, required fields, types, enum) and returns the body.
pub(crate) fn assert_sign_in_token(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    let object = body.as_object().expect("an object");
    let allowed = [
        "object",
        "id",
        "status",
        "user_id",
        "token",
        "url",
        "created_at",
        "updated_at",
    ];
    for key in object.keys() {
        assert!(allowed.contains(&key.as_str()), "unexpected field {key}");
    }
    for key in [
        "object",
        "id",
        "user_id",
        "status",
        "created_at",
        "updated_at",
    ] {
        assert!(object.contains_key(key), "missing {key}");
    }
    assert_eq!(body["object"], "sign_in_token");
    assert_clerk_id(body["id"].as_str().expect("id string"), "sit");
    assert!(body["user_id"].is_string());
    let status = body["status"].as_str().expect("status string");
    assert!(["pending", "accepted", "revoked"].contains(&status));
    if let Some(token) = object.get("token") {
        assert_jwt_like(token.as_str().expect("token string"));
    }
    if let Some(url) = object.get("url") {
        assert!(url.is_string() || url.is_null());
    }
    let created = body["created_at"].as_i64().expect("created_at int64");
    let updated = body["updated_at"].as_i64().expect("updated_at int64");
    // Milliseconds, not seconds: after 2020 in ms is > 1.5e12.
    assert!(created > 1_500_000_000_000, "{created}");
    assert!(updated >= created);
    body
}

/// Checks a `ClerkErrors` answer (schema, trace id in body and header) and returns the first
/// error.
pub(crate) fn assert_clerk_error(reply: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    let errors = body["errors"].as_array().expect("errors array");
    assert!(!errors.is_empty());
    for error in errors {
        for key in ["message", "long_message", "code"] {
            assert!(error[key].is_string(), "{key} in {error}");
        }
        if let Some(meta) = error.get("meta") {
            assert!(meta.is_object());
        }
    }
    let trace = body["clerk_trace_id"].as_str().expect("clerk_trace_id");
    assert_eq!(trace.len(), 32);
    assert!(trace.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(reply.header("clerk-trace-id"), Some(trace));
    assert_eq!(errors[0]["code"], code, "{body}");
    errors[0].clone()
}
