//! A stand-in for the Clerk Backend API on `127.0.0.1`, for tests.
//!
//! [`MockServer`] is a real HTTP/1.1 server inside your test process: it listens on loopback
//! with a port the operating system chooses, keeps connections alive, serves many
//! connections at once (a thread each), and answers the two sign-in token operations and the
//! user lookup (`GET /v1/users`) the way Clerk does. Point any Clerk client at [`MockServer::base_url`] instead of
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
//! answer is 401 with code `authentication_invalid` (the key is checked before the path, and
//! before the [rate limit](#rate-limit), if one is on).
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
//! **`GET /v1/users`** lists users: the users a test registered with
//! [`MockServer::insert_user`] (with email addresses, an external id, names),
//! [`MockServer::create_user`] or [`MockServer::add_user`] (these two have no email address
//! and no external id), as a bare JSON array of `User` objects, newest first (each user's
//! `created_at` is later than the one registered before it). Query parameters, as Clerk
//! documents them:
//!
//! * `email_address`, repeated: only users with one of these addresses, compared
//!   case-insensitively. Addresses no user has are ignored; a user is listed once however
//!   many of its addresses were asked for. With the parameter present, a user must match
//!   (an empty value matches no one).
//! * `external_id`, repeated: `x` or `+x` includes the users whose external id is `x`; `-x`
//!   excludes them. With only exclusions, every other user is listed, those without an
//!   external id too. So an external id that starts with `-` or `+` is asked for as `+-…` or
//!   `++…`.
//! * Different filters must all match. `limit` (1 to 500, default **10**) and `offset` (0 or
//!   more, default 0) page through the matches. A repeated `limit`, `offset` or `order_by`
//!   counts once, the first. `order_by` may be `-created_at` (the default), `created_at` or
//!   `+created_at` (oldest first).
//! * The query is `application/x-www-form-urlencoded`, strictly: `+` is a space and `%2B` a
//!   plus sign (so `test+1@example.com` must be sent as `test%2B1%40example.com`: a raw `+`
//!   looks up `test 1@example.com`, as at Clerk), names are decoded too, and a `%` without
//!   two hex digits, or bytes that are not UTF-8, make the request a 400.
//!
//! | request | status | `code` | `meta` |
//! | --- | --- | --- | --- |
//! | a malformed query | 400 | `malformed_query` | – |
//! | a parameter Clerk documents that this server does not implement (`username`, `query`, `starting_after`, `order_by=email_address`, …) | 400 | `clerk_mock_unsupported_parameter` | `{"param_name":"<name>"}` |
//! | over 100 `email_address` values | 422 | `form_param_value_invalid` | `{"param_name":"email_address"}` |
//! | over 100 `external_id` values | 422 | `form_param_value_invalid` | `{"param_name":"external_id"}` |
//! | `limit` not an integer from 1 to 500 | 422 | `form_param_value_invalid` | `{"param_name":"limit"}` |
//! | `offset` not an integer ≥ 0 | 422 | `form_param_value_invalid` | `{"param_name":"offset"}` |
//! | otherwise | 200 | the page of users (`[]` if none) | |
//!
//! The checks run in that order. Parameters Clerk does not document are ignored. Error
//! messages name parameters, never the values (email addresses are personal data). `HEAD`
//! is answered like `GET`, without the body.
//!
//! A `User` carries every field Clerk's description requires, with the values of a user
//! created through the Backend API who never signed in: `"object":"user"`, `email_addresses`
//! (each `{"id":"idn_…","object":"email_address","email_address",…}` with an admin
//! verification, the first one named by `primary_email_address_id`), `external_id`,
//! `first_name`, `last_name` (or `null`), empty lists of phone numbers, wallets and accounts,
//! `created_at` and `updated_at` in Unix milliseconds, and so on.
//!
//! ```
//! use clerk_mock::{MockServer, UserSpec};
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//!
//! let server = MockServer::start();
//! let ann = server.insert_user(UserSpec::new().email("ann+test@example.com"));
//!
//! let mut conn = TcpStream::connect(server.addr()).unwrap();
//! write!(
//!     conn,
//!     "GET /v1/users?email_address=ANN%2Btest%40example.com&limit=100 HTTP/1.1\r\n\
//!      Host: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
//!     server.secret_key(),
//! )
//! .unwrap();
//! let mut answer = String::new();
//! conn.read_to_string(&mut answer).unwrap();
//! let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
//! let users: clerk_mock::serde_json::Value = clerk_mock::serde_json::from_str(body).unwrap();
//! assert_eq!(users[0]["id"], ann.as_str());
//! assert_eq!(users[0]["email_addresses"][0]["email_address"], "ann+test@example.com");
//! ```
//!
//! Any other path gets 404 `resource_not_found`. Another method on a known path gets 405
//! `method_not_allowed` with an `Allow` header naming the path's methods (`POST` for the
//! sign-in token paths, `GET, HEAD` for `/v1/users`). The query string is split off before
//! routing; the sign-in token operations ignore it.
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
//! a request head over [`MAX_HEAD_BYTES`] because of its request line (414 `uri_too_long`,
//! when the request line alone is over half the cap, as with a lookup of 100 long email
//! addresses), a head over the cap otherwise or with over 100 fields (431), a body over
//! [`MAX_BODY_BYTES`] (413), malformed framing or both `Content-Length` and
//! `Transfer-Encoding` (400), a transfer coding other than `chunked` (501). Such rejected
//! requests are not recorded and take no fault. Sockets have read and write timeouts
//! ([`MockServerBuilder::read_timeout`], [`MockServerBuilder::write_timeout`]), so no
//! connection thread waits forever on a silent client.
//!
//! # Rate limit
//!
//! Clerk limits the Backend API per instance, that is per secret key: 100 requests per 10 s
//! on development instances, 1000 per 10 s on production ones, and a request over the limit
//! gets a 429 with `Retry-After` in seconds. The server does the same when
//! [`MockServerBuilder::rate_limit`] asks for it; it is **off by default**.
//!
//! * **Fixed windows.** A window starts at the first counted request (not at server start,
//!   so a test's first requests never straddle a boundary) and lasts [`RateLimit::window`].
//!   Within it, the first [`RateLimit::limit`] requests are let through; the next counted
//!   request after it ends starts a new window.
//! * **What counts.** Every complete request that carries the server's secret key, whatever
//!   its method or path (a 404 or 422 counts too). A request without the key, or with
//!   another one, belongs to no instance: it gets its 401, even over the limit, and does
//!   not count. The server has one secret key, so it has one window; each server has its
//!   own.
//! * **Over the limit**: 429 with a `ClerkErrors` body, code `too_many_requests`, a
//!   `clerk_trace_id` and `Clerk-Trace-Id`, and `Retry-After` = the seconds left until the
//!   window ends, rounded **up** to a whole second (never 0), so a client that waits that
//!   long is let through. The connection stays open. The request has **no effect**: no
//!   token is created or revoked.
//! * **Refused requests use up nothing.** In a fixed window that changes nothing about what
//!   is admitted: the window ends at the same moment however often a client is refused (the
//!   `Retry-After` it was given stays true), and the next window starts with the full
//!   limit. A client that hammers is not locked out beyond the window; one that honours
//!   `Retry-After` gets through.
//! * **Exact under concurrency.** The decision, the count and the log entry are taken under
//!   one lock, so however many connections send at once no window admits more than the
//!   limit, and [`MockServer::requests`] lists requests in the order they were decided.
//! * **Observable.** [`MockServer::rate_limited_count`] counts the refusals, and each
//!   refused request is in [`MockServer::requests`] with [`RecordedRequest::rate_limited`]
//!   set.
//! * **Faults first.** A request first takes the next queued [`Fault`]. A *replacing* fault
//!   answers in front of the API: the request is neither counted nor refused. An *altering*
//!   fault lets the request reach the API, where it is counted (and refused if over the
//!   limit) before the fault spoils the answer. So the order is: fault queue, secret key,
//!   rate limit, route.
//!
//! ```
//! use clerk_mock::{MockServer, RateLimit};
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use std::time::Duration;
//!
//! // Two requests per 10 s (`RateLimit::DEVELOPMENT` is Clerk's 100 per 10 s).
//! let server = MockServer::builder()
//!     .rate_limit(RateLimit::new(2, Duration::from_secs(10)))
//!     .start();
//! let user = server.create_user();
//! let body = format!(r#"{{"user_id":"{user}"}}"#);
//! let call = || {
//!     let mut conn = TcpStream::connect(server.addr()).unwrap();
//!     write!(
//!         conn,
//!         "POST /v1/sign_in_tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
//!          Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
//!         server.secret_key(),
//!         body.len(),
//!     )
//!     .unwrap();
//!     let mut answer = String::new();
//!     conn.read_to_string(&mut answer).unwrap();
//!     answer
//! };
//!
//! assert!(call().starts_with("HTTP/1.1 200 "));
//! assert!(call().starts_with("HTTP/1.1 200 "));
//! let refused = call();
//! assert!(refused.starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
//! // The seconds left of the window, rounded up: 10 unless the machine is very slow.
//! let retry_after = refused.split("\r\nRetry-After: ").nth(1).unwrap();
//! let seconds: u64 = retry_after[..retry_after.find('\r').unwrap()].parse().unwrap();
//! assert!((1..=10).contains(&seconds));
//! assert!(refused.contains(r#""code":"too_many_requests""#));
//!
//! assert_eq!(server.tokens().len(), 2); // the refused create had no effect
//! assert_eq!(server.rate_limited_count(), 1);
//! assert!(server.requests()[2].rate_limited);
//! ```
//!
//! # Faults and the log
//!
//! [`MockServer::push_fault`] queues a [`Fault`] for the next request: a status with a Clerk
//! body, a 429 with `Retry-After`, an HTML 502, an empty body, a delay, a slow drip, a reset
//! mid-body, truncated JSON, an oversized body, a wrong content type, a redirect, or raw
//! bytes. Faults come before the [rate limit](#rate-limit). [`MockServer::requests`] returns
//! every request received, in order, faults included, as [`RecordedRequest`]s.
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
mod limit;
mod record;
mod response;
mod server;
mod state;
mod users;
mod util;

pub use fault::Fault;
pub use limit::RateLimit;
pub use record::RecordedRequest;
pub use server::{
    DEFAULT_EXPIRES_IN_SECONDS, DEFAULT_INSTANCE_HOST, DEFAULT_SECRET_KEY, MAX_BODY_BYTES,
    MAX_HEAD_BYTES, MockServer, MockServerBuilder,
};
pub use state::TokenInfo;
pub use users::UserSpec;

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
