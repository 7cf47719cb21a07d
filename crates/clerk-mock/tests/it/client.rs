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

    /// `GET /v1/users?<query>` (no `?` if `query` is empty).
    pub(crate) fn list_users(&mut self, query: &str) -> Reply {
        if query.is_empty() {
            self.call("GET", "/v1/users", "")
        } else {
            self.call("GET", &format!("/v1/users?{query}"), "")
        }
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

pub(crate) fn list_users(server: &MockServer, query: &str) -> Reply {
    Client::connect(server).list_users(query)
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

/// Every property the description's `User` schema requires, and `image_url`, which Clerk
/// always sends.
const USER_FIELDS: [&str; 36] = [
    "id",
    "object",
    "username",
    "first_name",
    "last_name",
    "has_image",
    "primary_email_address_id",
    "primary_phone_number_id",
    "primary_web3_wallet_id",
    "password_enabled",
    "two_factor_enabled",
    "totp_enabled",
    "backup_code_enabled",
    "email_addresses",
    "phone_numbers",
    "web3_wallets",
    "passkeys",
    "external_accounts",
    "saml_accounts",
    "enterprise_accounts",
    "public_metadata",
    "external_id",
    "last_sign_in_at",
    "banned",
    "locked",
    "lockout_expires_in_seconds",
    "verification_attempts_remaining",
    "created_at",
    "updated_at",
    "delete_self_enabled",
    "create_organization_enabled",
    "last_active_at",
    "mfa_enabled_at",
    "mfa_disabled_at",
    "legal_accepted_at",
    "image_url",
];

/// Checks a 200 answer to `GET /v1/users`: a bare JSON array of `User` objects with the
/// fields the description requires, typed as it says, and consistent email address ids.
/// Returns the users.
pub(crate) fn assert_user_list(reply: &Reply) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    let users = body.as_array().expect("a bare JSON array").clone();
    for user in &users {
        let object = user.as_object().expect("a user object");
        for key in USER_FIELDS {
            assert!(object.contains_key(key), "missing {key} in {user}");
        }
        assert_eq!(user["object"], "user");
        // Ids chosen by a test may be anything; generated ones are `user_…`.
        assert!(!user["id"].as_str().expect("id").is_empty());
        let created = user["created_at"].as_i64().expect("created_at");
        assert!(created > 1_500_000_000_000, "milliseconds: {created}");
        assert!(user["updated_at"].as_i64().expect("updated_at") >= created);
        for key in ["first_name", "last_name", "external_id", "username"] {
            assert!(user[key].is_string() || user[key].is_null(), "{key}");
        }
        let emails = user["email_addresses"].as_array().expect("email_addresses");
        for email in emails {
            assert_eq!(email["object"], "email_address");
            assert_clerk_id(email["id"].as_str().expect("email id"), "idn");
            assert!(email["email_address"].is_string());
            assert_eq!(email["verification"]["status"], "verified");
            assert!(email["linked_to"].is_array());
        }
        match emails.first() {
            Some(first) => assert_eq!(user["primary_email_address_id"], first["id"]),
            None => assert!(user["primary_email_address_id"].is_null()),
        }
    }
    users
}

/// The `id`s of a list of users, in order.
pub(crate) fn ids(users: &[Value]) -> Vec<String> {
    users
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Percent-encodes every byte but unreserved ones (RFC 3986), as a client should for a query
/// value.
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
