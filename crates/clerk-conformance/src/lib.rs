//! Conformance checks against Clerk's published OpenAPI description.
//!
//! This crate is the Rust half of `conformance/run.sh`; the other half is
//! `conformance/validate.py`, which runs a real OpenAPI validator
//! (`openapi-core`) over what this crate writes and generates the responses
//! this crate parses. Nothing here is published.
//!
//! - The `dump` binary writes, as JSON lines, every request the SDK builds for
//!   each operation (with and without each optional field, with awkward ids)
//!   and the request/response exchanges of a real HTTP conversation with
//!   `clerk-mock`. The validator checks them against the description.
//! - The `responses` integration test reads the responses the validator
//!   generated from the description (and checked against it), parses each
//!   with `clerk-core`, and compares the typed result with the JSON: the
//!   operation's output (a [`SignInToken`](clerk_core::SignInToken), …) whose
//!   fields equal the body, or an
//!   [`ErrorKind::Api`](clerk_core::ErrorKind::Api) with the body's codes and
//!   trace id. The operations it knows are one table in [`check`]. It is `#[ignore]`d, so a plain `cargo test` reports it as
//!   ignored; `run.sh` runs it with `--ignored` and `CLERK_CONFORMANCE_DIR`
//!   set, and fails unless it ran and passed. Run with `--ignored` but
//!   without `CLERK_CONFORMANCE_DIR`, it fails.
//!
//! The JSON-lines formats are described in `conformance/README.md`.

#![forbid(unsafe_code)]

pub mod check;
pub mod http1;

use clerk_core::http::Request;
use serde_json::{Value, json};

/// The environment variable naming the directory `run.sh` works in.
pub const DIR_ENV: &str = "CLERK_CONFORMANCE_DIR";

/// File names inside that directory.
pub mod files {
    /// Requests built by the SDK (`dump`).
    pub const SDK_REQUESTS: &str = "sdk_requests.jsonl";
    /// Exchanges with clerk-mock over HTTP (`dump`).
    pub const MOCK_EXCHANGES: &str = "mock_exchanges.jsonl";
    /// Responses generated from the description (`validate.py`).
    pub const RESPONSES: &str = "responses.jsonl";
    /// What the Rust side parsed (the `responses` test).
    pub const RUST_REPORT: &str = "rust_report.json";
}

/// A request as JSON: method, full URI, headers in order, body as text.
///
/// Header values are written as text (the SDK only sends visible ASCII);
/// anything else is written lossily and flagged with `"lossy": true`, which
/// the validator treats as a failure.
pub fn request_json(request: &Request<Vec<u8>>) -> Value {
    let headers: Vec<(String, Vec<u8>)> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    let (body, body_lossy) = text(request.body());
    let (headers, headers_lossy) = headers_json(&headers);
    json!({
        "method": request.method().as_str(),
        "uri": request.uri().to_string(),
        "headers": headers,
        "body": body,
        "lossy": body_lossy || headers_lossy,
    })
}

/// Header fields as a JSON array of `[name, value]` pairs, and whether any
/// value was not UTF-8.
pub fn headers_json(headers: &[(String, Vec<u8>)]) -> (Value, bool) {
    let mut lossy = false;
    let pairs = headers
        .iter()
        .map(|(name, value)| {
            let (value, l) = text(value);
            lossy |= l;
            json!([name, value])
        })
        .collect();
    (Value::Array(pairs), lossy)
}

/// Bytes as text, and whether the conversion lost anything.
pub fn text(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
    }
}
