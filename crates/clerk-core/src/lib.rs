//! The sans-IO core of a Rust client for Clerk's Backend API sign-in tokens.
//!
//! A sign-in token lets a backend mint a one-time credential with which a
//! given user signs in without a password: magic links, support
//! impersonation, onboarding. This crate knows Clerk's API for creating and
//! revoking them, and for finding the users they are for by email address;
//! it knows nothing of sockets, clocks or runtimes.
//!
//! **In scope:** building [`http::Request`] values ([`CreateSignInToken`],
//! [`RevokeSignInToken`], [`ListUsers`]), parsing [`http::Response`] values
//! into a [`SignInToken`], a list of [`User`]s or a typed [`Error`],
//! matching email addresses to users and batching them ([`users`]), and
//! deciding retries ([`Call`], [`RetryPolicy`]).
//!
//! **Out of scope:** sending anything. No sockets, files, clock, sleeping,
//! threads, random numbers or async runtime: time and randomness come in as
//! arguments, so every decision is deterministic and testable. The adapters
//! `clerk-ureq` (blocking), `clerk-reqwest` (tokio) and `clerk-async-std`
//! (async-std and smol) drive this crate over the network.
//!
//! # Driving a call
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use clerk_core::{Call, Config, CreateSignInToken, Outcome, Step, Timing};
//!
//! let config = Config::new("sk_test_example")?;
//! let mut call = Call::new(&config, CreateSignInToken::new("user_123").with_expires_in_seconds(600))?;
//! let result = loop {
//!     // An adapter sends `call.request()` here; this one pretends Clerk answered.
//!     assert!(!format!("{:?}", call.request()).contains("sk_test_example"));
//!     let reply = http::Response::builder()
//!         .status(200)
//!         .header("content-type", "application/json")
//!         .body(br#"{"object":"sign_in_token","id":"sit_1","status":"pending","user_id":"user_123",
//!                  "token":"a.b.c","url":null,"created_at":1700000000000,"updated_at":1700000000000}"#.to_vec())
//!         .unwrap();
//!     let timing = Timing { now: SystemTime::now(), elapsed: Duration::ZERO, jitter: 0.5 };
//!     match call.handle(Outcome::Response(reply), timing) {
//!         Step::Done(result) => break result,
//!         Step::Retry(wait) => { /* sleep `wait` with the runtime's timer */ }
//!     }
//! };
//! let token = result?;
//! assert_eq!(token.user_id, "user_123");
//! # Ok::<(), clerk_core::Error>(())
//! ```
//!
//! # Decisions where Clerk's description is silent
//!
//! - Replies: see [`response`] for what every status and body shape becomes.
//! - Retries: see [`retry`] for what is retried, when, and for how long.
//! - A lifetime is sent in whole seconds, rounded down; under 1 s is refused.
//! - An empty `user_id`, an empty `org_id` when one is given, an empty token
//!   id and the token ids `.` and `..` are refused before sending.
//! - A base URL carrying `user:pass@`, a query or a fragment is refused.
//! - A sign-in token's success body must say `"object": "sign_in_token"`;
//!   a user's may omit `object` but may not name another object.
//! - A GET sends no `Content-Length`; a POST without a body sends
//!   `Content-Length: 0`.
//! - A reply larger than the body cap is not retried: the same request
//!   would get the same reply.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod config;
mod conveniences;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod gate;
mod model;
mod operation;
mod redact;
pub mod response;
pub mod retry;
mod secret;
mod sign_in_tokens;
pub mod users;

pub use config::{
    Config, DEFAULT_API_VERSION, DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TIMEOUT, USER_AGENT,
};
pub use error::{
    ApiError, DecodeCategory, DecodeError, Delivery, EXCERPT_BYTES, Error, ErrorKind,
    InvalidRequest, MAX_RETRY_AFTER, RetryAfter, Throttled, TransportError, TransportErrorKind,
    UnexpectedResponse,
};
pub use gate::{Admission, Gate, HoldReason, RateLimit};
pub use http;
pub use model::{ClerkError, ClerkErrors, SignInToken, SignInTokenStatus, Timestamp};
pub use operation::{Idempotency, Operation};
pub use response::{
    CLERK_TRACE_ID, is_json_content_type, parse_clerk_errors, parse_json_response,
    parse_json_response_naming, parse_retry_after,
};
pub use retry::{Admit, Call, Outcome, RetryPolicy, Step, Timing, jitter_from_bits};
pub use secret::SecretString;
pub use sign_in_tokens::{CLERK_API_VERSION, CreateSignInToken, RevokeSignInToken};
pub use users::{
    EmailAddress, EmailLookup, EmailMatch, ListUsers, MAX_LIST_LIMIT, MAX_LOOKUP_QUERY_BYTES,
    MAX_LOOKUP_VALUES, User, UserFilter, email_lookup_batches, match_email_addresses,
};
