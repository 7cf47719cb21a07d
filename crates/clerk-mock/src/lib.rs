//! A stand-in for the Clerk Backend API on `127.0.0.1`, for tests.
//!
//! [`MockServer`] is a real HTTP/1.1 server inside your test process: it listens on loopback
//! with a port the operating system chooses, keeps connections alive, serves many
//! connections at once (a thread each), and answers the two sign-in token operations the
//! way Clerk does. Point any Clerk client at [`MockServer::base_url`] instead of
//! `https://api.clerk.com/v1` and give it [`MockServer::secret_key`].
//!
//! It uses no async runtime (plain `std::net` and threads), so it works in tests of blocking,
//! tokio, async-std or smol code alike, and it never touches the network beyond loopback.
//!
//! # Starting it in your tests
//!
//! ```
//! use clerk_mock::MockServer;
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//!
//! // One server per test: each has its own port, users, tokens, faults and log.
//! let server = MockServer::start();
//! let user = server.create_user(); // "user_" + 27 letters and digits
//!
//! // Your client would be configured with these two values:
//! let base_url = server.base_url(); // "http://127.0.0.1:PORT/v1"
//! let secret_key = server.secret_key(); // "sk_test_clerk_mock_secret_key"
//! # let _ = base_url;
//!
//! // Here, a hand-written request stands in for the client.
//! let body = format!(r#"{{"user_id":"{user}","expires_in_seconds":3600}}"#);
//! let mut conn = TcpStream::connect(server.addr()).unwrap();
//! write!(
//!     conn,
//!     "POST /v1/sign_in_tokens HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {secret_key}\r\n\
//!      Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
//!     server.addr(),
//!     body.len(),
//! )
//! .unwrap();
//! let mut answer = String::new();
//! conn.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(answer.contains(r#""status":"pending""#));
//!
//! // The server remembers the token and every request.
//! let token = &server.tokens()[0];
//! assert_eq!(token.user_id, user);
//! assert_eq!(token.expires_at - token.created_at, 3_600_000);
//! assert_eq!(server.requests().len(), 1);
//!
//! // Simulate the user signing in with the ticket: a revoke would now get a 400.
//! assert!(server.accept_token(&token.id));
//! assert_eq!(server.token_status(&token.id).as_deref(), Some("accepted"));
//! // Dropping the server stops it and joins its threads.
//! ```
//!
//! # What it serves
//!
//! Every request must carry `Authorization: Bearer <secret key>`, exactly once; otherwise the
//! answer is 401 with code `authentication_invalid` (the key is checked before the path).
//!
//! **`POST /v1/sign_in_tokens`**, body a JSON object (the `Content-Type` is not checked; an
//! empty body counts as `{}`):
//!
//! | request | status | `code` | `meta` |
//! | --- | --- | --- | --- |
//! | body is not JSON, or not an object | 422 | `form_param_format_invalid` | – |
//! | `user_id` missing, `null` or `""` | 422 | `form_param_missing` | `{"param_name":"user_id"}` |
//! | `user_id` not a string | 422 | `form_param_value_invalid` | `{"param_name":"user_id"}` |
//! | `expires_in_seconds` not an integer ≥ 1 (nor `null`) | 422 | `form_param_value_invalid` | `{"param_name":"expires_in_seconds"}` |
//! | `org_id` not a string (nor `null`) | 422 | `form_param_value_invalid` | `{"param_name":"org_id"}` |
//! | no such user | 404 | `resource_not_found` | – |
//! | `org_id` unknown, or the user not a member | 422 | `form_param_value_invalid` | `{"param_name":"org_id"}` |
//! | otherwise | 200 | a pending `SignInToken` | |
//!
//! The checks run in that order. Clerk documents no error for a bad `org_id`; this server
//! treats it like any other invalid parameter. Unknown fields are ignored. The token lives
//! `expires_in_seconds` (default [`DEFAULT_EXPIRES_IN_SECONDS`], 30 days).
//!
//! A created `SignInToken` looks like Clerk's: `"object":"sign_in_token"`, an `id` of `sit_`
//! and 27 letters and digits, `"status":"pending"`, the `user_id`, a `token` that looks like a
//! JWT (three base64url parts; unique), a `url` of
//! `https://<instance host>/v1/tickets/accept?ticket=<token>`, and `created_at` and
//! `updated_at` in Unix **milliseconds**.
//!
//! **`POST /v1/sign_in_tokens/{id}/revoke`** (any body is ignored). The id is one path
//! segment, percent-decoded after the path is split on `/`, so `sit%2Fx` names the token
//! `sit/x`.
//!
//! | token | status | answer |
//! | --- | --- | --- |
//! | unknown | 404 | `resource_not_found` |
//! | not pending | 400 | `sign_in_token_cannot_be_revoked_code`; `long_message` names its status |
//! | pending | 200 | the `SignInToken`, now `revoked`, `updated_at` moved on, no `token` field, `"url":null` |
//!
//! Any other path gets 404 `resource_not_found`; another method on those two paths gets 405
//! `method_not_allowed` with `Allow: POST`. A query string is ignored.
//!
//! Every error body is a `ClerkErrors` object,
//! `{"errors":[{"message","long_message","code"(,"meta")}],"clerk_trace_id":"<32 hex>"}`,
//! sent as `application/json` with a `Clerk-Trace-Id` header carrying the same id. Bodies
//! are valid against Clerk's OpenAPI description (API version 2026-05-12).
//!
//! # HTTP
//!
//! Answers always carry `Content-Length` (never chunked) and `Connection: keep-alive`, or
//! `Connection: close` when the client asked for it (or spoke HTTP/1.0 without keep-alive)
//! or the server is about to close. Pipelined requests are answered in order. Request bodies
//! may use `Content-Length` or `Transfer-Encoding: chunked`; `Expect: 100-continue` gets its
//! interim answer. Limits, each answered with a Clerk-shaped error and a closed connection:
//! a request head over [`MAX_HEAD_BYTES`] or with over 100 fields (431), a body over
//! [`MAX_BODY_BYTES`] (413), malformed framing or both `Content-Length` and
//! `Transfer-Encoding` (400), a transfer coding other than `chunked` (501). Such rejected
//! requests are not recorded and take no fault. Sockets have read and write timeouts
//! ([`MockServerBuilder::read_timeout`], [`MockServerBuilder::write_timeout`]), so no
//! connection thread waits forever on a silent client.
//!
//! # Faults and the log
//!
//! [`MockServer::push_fault`] queues a [`Fault`] for the next request: a status with a Clerk
//! body, a 429 with `Retry-After`, an HTML 502, an empty body, a delay, a slow drip, a reset
//! mid-body, truncated JSON, an oversized body, a wrong content type, a redirect, or raw
//! bytes. [`MockServer::requests`] returns every request received, in order, faults
//! included, as [`RecordedRequest`]s.
//!
//! # Secrets
//!
//! The secret key defaults to the obviously fake [`DEFAULT_SECRET_KEY`]. `Debug` of
//! [`MockServer`] hides the key, `Debug` of [`RecordedRequest`] hides the `Authorization`
//! value, and `Debug` of [`TokenInfo`] hides the ticket and its URL.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod clerk;
mod conn;
mod fault;
mod record;
mod response;
mod server;
mod state;
mod util;

pub use fault::Fault;
pub use record::RecordedRequest;
pub use server::{
    DEFAULT_EXPIRES_IN_SECONDS, DEFAULT_INSTANCE_HOST, DEFAULT_SECRET_KEY, MAX_BODY_BYTES,
    MAX_HEAD_BYTES, MockServer, MockServerBuilder,
};
pub use state::TokenInfo;

/// The `serde_json` this crate uses, for [`RecordedRequest::json`]'s return type.
pub use serde_json;

use std::time::SystemTime;

/// Formats a time as an HTTP date (IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`), for a
/// [`Fault::RateLimited`] or [`Fault::ServiceUnavailable`] whose `Retry-After` is a date.
/// Times before 1970 give the Unix epoch.
///
/// # Examples
///
/// ```
/// use clerk_mock::{Fault, http_date};
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// assert_eq!(
///     http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
///     "Sun, 06 Nov 1994 08:49:37 GMT"
/// );
/// let fault = Fault::RateLimited {
///     retry_after: http_date(SystemTime::now() + Duration::from_secs(2)),
/// };
/// # let _ = fault;
/// ```
pub fn http_date(time: SystemTime) -> String {
    util::format_http_date(time)
}
