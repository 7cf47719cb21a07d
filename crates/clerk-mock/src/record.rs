//! What the server received.

use std::fmt;

use crate::util::parse_query;

/// One request as the server received it.
///
/// Every complete request is recorded before it is answered, including the ones answered with
/// a [`Fault`](crate::Fault) or an error. Get them with
/// [`MockServer::requests`](crate::MockServer::requests).
///
/// `Debug` shows the headers but replaces the value of `Authorization` with `<redacted>`, so a
/// failing assertion does not print the secret key.
///
/// # Examples
///
/// ```
/// use clerk_mock::MockServer;
/// use std::io::{Read, Write};
/// use std::net::TcpStream;
///
/// let server = MockServer::start();
/// let body = r#"{"user_id":"user_missing"}"#;
/// let mut conn = TcpStream::connect(server.addr()).unwrap();
/// write!(
///     conn,
///     "POST /v1/sign_in_tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
///      Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
///     server.secret_key(),
///     body.len(),
///     body
/// )
/// .unwrap();
/// let mut answer = String::new();
/// conn.read_to_string(&mut answer).unwrap();
///
/// let recorded = &server.requests()[0];
/// assert_eq!(recorded.method, "POST");
/// assert_eq!(recorded.path, "/v1/sign_in_tokens");
/// assert_eq!(recorded.header("content-type"), Some(&b"application/json"[..]));
/// assert_eq!(recorded.json().unwrap()["user_id"], "user_missing");
/// assert!(!format!("{recorded:?}").contains(server.secret_key()));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target exactly as received, still percent-encoded and with any query, e.g.
    /// `/v1/sign_in_tokens/sit_abc/revoke`.
    pub path: String,
    /// The header fields in the order received, names as sent (case kept).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (de-chunked if it came with `Transfer-Encoding: chunked`).
    pub body: Vec<u8>,
    /// Whether the server's rate limit ([`MockServerBuilder::rate_limit`]) refused the
    /// request: it was answered 429 `too_many_requests` and had no effect. A 429 from a
    /// scripted [`Fault::RateLimited`](crate::Fault::RateLimited) leaves this `false`.
    ///
    /// [`MockServerBuilder::rate_limit`]: crate::MockServerBuilder::rate_limit
    pub rate_limited: bool,
}

impl RecordedRequest {
    /// The value of the first header field named `name` (compared case-insensitively).
    ///
    /// # Examples
    ///
    /// ```
    /// # use clerk_mock::MockServer;
    /// # use std::io::{Read, Write};
    /// # use std::net::TcpStream;
    /// let server = MockServer::start();
    /// let mut conn = TcpStream::connect(server.addr()).unwrap();
    /// conn.write_all(b"GET /v1/x HTTP/1.1\r\nClerk-API-Version: 2025-11-10\r\nConnection: close\r\n\r\n")
    ///     .unwrap();
    /// conn.read_to_end(&mut Vec::new()).unwrap();
    ///
    /// let request = &server.requests()[0];
    /// assert_eq!(request.header("clerk-api-version"), Some(&b"2025-11-10"[..]));
    /// assert_eq!(request.header("authorization"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Like [`header`](Self::header), but only if the value is UTF-8.
    ///
    /// # Examples
    ///
    /// ```
    /// # use clerk_mock::MockServer;
    /// # use std::io::{Read, Write};
    /// # use std::net::TcpStream;
    /// let server = MockServer::start();
    /// let mut conn = TcpStream::connect(server.addr()).unwrap();
    /// conn.write_all(b"GET /v1/x HTTP/1.1\r\nUser-Agent: my-client/1.0\r\nConnection: close\r\n\r\n")
    ///     .unwrap();
    /// conn.read_to_end(&mut Vec::new()).unwrap();
    ///
    /// assert_eq!(server.requests()[0].header_str("user-agent"), Some("my-client/1.0"));
    /// ```
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The values of the query parameter `name`, in order, decoded as
    /// `application/x-www-form-urlencoded` like the server does (`+` is a space, `%2B` a
    /// plus sign). Empty if the target has no query, the parameter is absent, or the query
    /// is malformed (a `%` without two hex digits, or bytes that are not UTF-8: the server
    /// answers such a `GET /v1/users` with 400).
    ///
    /// # Examples
    ///
    /// ```
    /// # use clerk_mock::MockServer;
    /// # use std::io::{Read, Write};
    /// # use std::net::TcpStream;
    /// let server = MockServer::start();
    /// let mut conn = TcpStream::connect(server.addr()).unwrap();
    /// conn.write_all(
    ///     b"GET /v1/users?email_address=a%2B1%40x.com&email_address=b+c&limit=2 HTTP/1.1\r\n\
    ///       Connection: close\r\n\r\n",
    /// )
    /// .unwrap();
    /// conn.read_to_end(&mut Vec::new()).unwrap();
    ///
    /// let request = &server.requests()[0];
    /// assert_eq!(request.query_values("email_address"), ["a+1@x.com", "b c"]);
    /// assert_eq!(request.query_values("limit"), ["2"]);
    /// assert!(request.query_values("offset").is_empty());
    /// ```
    pub fn query_values(&self, name: &str) -> Vec<String> {
        let Some((_, query)) = self.path.split_once('?') else {
            return Vec::new();
        };
        let query = query.split('#').next().unwrap_or_default();
        parse_query(query)
            .unwrap_or_default()
            .into_iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v)
            .collect()
    }

    /// The body parsed as JSON, or `None` if it is not JSON.
    ///
    /// # Examples
    ///
    /// ```
    /// # use clerk_mock::MockServer;
    /// # use std::io::{Read, Write};
    /// # use std::net::TcpStream;
    /// let server = MockServer::start();
    /// let mut conn = TcpStream::connect(server.addr()).unwrap();
    /// conn.write_all(b"POST /v1/x HTTP/1.1\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}")
    ///     .unwrap();
    /// conn.read_to_end(&mut Vec::new()).unwrap();
    ///
    /// assert_eq!(server.requests()[0].json(), Some(clerk_mock::serde_json::json!({"a": 1})));
    /// ```
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a [(String, Vec<u8>)]);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut list = f.debug_list();
                for (name, value) in self.0 {
                    if name.eq_ignore_ascii_case("authorization") {
                        list.entry(&(name, "<redacted>"));
                    } else {
                        list.entry(&(name, String::from_utf8_lossy(value)));
                    }
                }
                list.finish()
            }
        }
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &Headers(&self.headers))
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("rate_limited", &self.rate_limited)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_authorization_in_any_case() {
        let r = RecordedRequest {
            method: "POST".into(),
            path: "/v1/sign_in_tokens".into(),
            headers: vec![
                ("AUTHORIZATION".into(), b"Bearer sk_test_secret".to_vec()),
                ("Accept".into(), b"application/json".to_vec()),
            ],
            body: b"{}".to_vec(),
            rate_limited: false,
        };
        let shown = format!("{r:?}");
        assert!(!shown.contains("sk_test_secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains("application/json"));
        assert_eq!(
            r.header("authorization"),
            Some(&b"Bearer sk_test_secret"[..])
        );
        assert_eq!(r.header_str("ACCEPT"), Some("application/json"));
        assert_eq!(r.json(), Some(serde_json::json!({})));
    }
}
