//! Entry points shared by the `fuzz/` targets and the corpus replay test.
//!
//! Not part of the supported API: each function turns raw fuzzer bytes into
//! an input of one parser, runs it, and checks the invariants that must hold
//! for every input. A violated invariant panics, which is what a fuzzer
//! reports.

#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::expect_used,
    missing_docs
)]

use std::time::{Duration, SystemTime};

use http::{HeaderValue, Response, StatusCode};

use crate::{
    Call, Config, CreateSignInToken, Delivery, ErrorKind, Operation, Outcome, RetryPolicy,
    RevokeSignInToken, Step, Timing, TransportError, TransportErrorKind,
};

const CONTENT_TYPES: [&str; 6] = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "text/html",
    "application/problem+json",
    "",
];

/// Reads a reply from fuzzer bytes: two bytes of status, one selector byte
/// for the content type and optional headers, then the body.
pub fn response_from_bytes(data: &[u8]) -> Response<&[u8]> {
    let (head, body) = data.split_at(data.len().min(3));
    let code = head
        .first()
        .zip(head.get(1))
        .map_or(200, |(&a, &b)| 100 + u16::from_be_bytes([a, b]) % 900);
    let selector = head.get(2).copied().unwrap_or(0);
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    let ct = CONTENT_TYPES[usize::from(selector & 7) % CONTENT_TYPES.len()];
    if !ct.is_empty() {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    if selector & 0x10 != 0 {
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("3"));
    }
    if selector & 0x20 != 0 {
        headers.insert(
            &crate::CLERK_TRACE_ID,
            HeaderValue::from_static("trace-from-header"),
        );
    }
    response
}

fn check_reply<O: Operation>(operation: &O, response: &Response<&[u8]>) {
    match operation.parse_response(response) {
        Ok(_) => assert!(response.status().is_success()),
        Err(e) => {
            assert_eq!(e.status(), Some(response.status()));
            assert_eq!(e.attempts(), 1);
            if let ErrorKind::UnexpectedResponse(u) = e.kind() {
                assert!(u.excerpt.len() <= crate::EXCERPT_BYTES * 3);
                if response.status().is_success() {
                    assert!(u.excerpt.is_empty());
                }
            }
            let _ = (e.to_string(), format!("{e:?}"));
        }
    }
}

/// The create operation's reply path.
pub fn create_response(data: &[u8]) {
    check_reply(
        &CreateSignInToken::new("user_1"),
        &response_from_bytes(data),
    );
}

/// The revoke operation's reply path.
pub fn revoke_response(data: &[u8]) {
    check_reply(&RevokeSignInToken::new("sit_1"), &response_from_bytes(data));
}

/// The error body decoder, alone and through a 4xx reply.
pub fn error_body(data: &[u8]) {
    let parsed = crate::parse_clerk_errors(data);
    let mut response = Response::new(data);
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    let error = match CreateSignInToken::new("u").parse_response(&response) {
        Ok(_) => panic!("a 422 decoded as success"),
        Err(e) => e,
    };
    assert_eq!(parsed.is_some(), matches!(error.kind(), ErrorKind::Api(_)));
    if let Some(body) = parsed {
        let json = serde_json::to_vec(&body).expect("a decoded body encodes");
        assert_eq!(crate::parse_clerk_errors(&json), Some(body));
    }
}

/// The `Retry-After` reader.
pub fn retry_after(data: &[u8]) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    if let Some(ra) = crate::parse_retry_after(data) {
        let _ = ra.delay_from(now);
    }
}

/// Request building with arbitrary ids, user ids and base URLs.
pub fn build_request(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let id = parts.next().unwrap_or_default();
    let user = parts.next().unwrap_or_default();
    let base = parts.next();
    let mut config = Config::new("sk_test_fuzz").expect("a fixed key is valid");
    if let Some(base) = base {
        match config.clone().with_base_url(base) {
            Ok(c) => config = c,
            Err(e) => assert_eq!(e.invalid_argument(), Some("base_url")),
        }
    }
    match RevokeSignInToken::new(id).build_request(&config) {
        Ok(request) => {
            let base: http::Uri = config
                .base_url()
                .parse()
                .expect("a validated base URL parses");
            let prefix = base.path().trim_end_matches('/');
            let path = request.uri().path();
            let rest = path.strip_prefix(prefix).expect("the base path is kept");
            let segment = rest
                .strip_prefix("/sign_in_tokens/")
                .and_then(|r| r.strip_suffix("/revoke"))
                .expect("the route is kept");
            assert!(!segment.contains('/'), "{path}");
            let decoded = percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .expect("the encoding of a str decodes");
            assert_eq!(decoded, id);
            assert_eq!(request.uri().query(), None);
        }
        Err(e) => {
            assert!(id.is_empty() || id == "." || id == "..");
            assert_eq!(e.invalid_argument(), Some("sign_in_token_id"));
        }
    }
    match CreateSignInToken::new(user).build_request(&config) {
        Ok(request) => {
            let body: serde_json::Value =
                serde_json::from_slice(request.body()).expect("the body is JSON");
            assert_eq!(body["user_id"], user);
        }
        Err(e) => {
            assert!(user.is_empty());
            assert_eq!(e.invalid_argument(), Some("user_id"));
        }
    }
}

/// The retry driver fed an arbitrary sequence of outcomes and timings.
pub fn retry_driver(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let policy = RetryPolicy::default()
        .with_max_attempts(u32::from(flags & 7) + 1)
        .with_retry_non_idempotent(flags & 8 != 0);
    let config = Config::new("sk_test_fuzz")
        .expect("a fixed key is valid")
        .with_retry_policy(policy);
    if flags & 16 != 0 {
        drive(&config, CreateSignInToken::new("u"), rest);
    } else {
        drive(&config, RevokeSignInToken::new("s"), rest);
    }
}

/// One attempt's outcome from four fuzzer bytes, and whether it surely left
/// the server untouched (a transport failure before sending, a 429, or a 503
/// with `Retry-After`).
fn outcome_from(chunk: &[u8]) -> (Outcome, bool) {
    let b = |i: usize| chunk.get(i).copied().unwrap_or(0);
    if b(0) % 4 == 0 {
        let delivery = if b(1) & 1 == 0 {
            Delivery::NotSent
        } else {
            Delivery::MaybeSent
        };
        let outcome = Outcome::Transport(TransportError::without_source(
            TransportErrorKind::Timeout,
            delivery,
        ));
        return (outcome, delivery == Delivery::NotSent);
    }
    let status = 100 + u16::from_be_bytes([b(1), b(2)]) % 900;
    let mut response = Response::new(Vec::new());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let has_retry_after = b(3) & 1 == 1;
    if has_retry_after {
        let value = HeaderValue::from(u32::from(b(3) >> 1) / 8);
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, value);
    }
    let untouched = status == 429 || (status == 503 && has_retry_after);
    (Outcome::Response(response), untouched)
}

fn drive<O: Operation>(config: &Config, operation: O, script: &[u8]) {
    let policy = config.retry_policy().clone();
    let repeatable =
        operation.idempotency() == crate::Idempotency::Idempotent || policy.retry_non_idempotent();
    let mut call = Call::new(config, operation).expect("a valid operation");
    let mut elapsed = Duration::ZERO;
    let mut waited = Duration::ZERO;
    for (handled, chunk) in (1u32..).zip(script.chunks(4)) {
        let (outcome, untouched) = outcome_from(chunk);
        elapsed += Duration::from_millis(u64::from(chunk.last().copied().unwrap_or(0)) * 10);
        let timing = Timing {
            now: SystemTime::UNIX_EPOCH,
            elapsed,
            jitter: f64::from(chunk.get(2).copied().unwrap_or(0)) / 255.0,
        };
        match call.handle(outcome, timing) {
            Step::Retry(wait) => {
                waited += wait;
                assert!(handled < policy.max_attempts());
                assert!(waited <= policy.max_total_wait());
                assert!(elapsed + wait <= policy.max_elapsed());
                assert!(
                    repeatable || untouched,
                    "a non-idempotent call was retried after it may have acted"
                );
            }
            Step::Done(Ok(_)) => return,
            Step::Done(Err(e)) => {
                assert_eq!(e.attempts(), handled);
                return;
            }
        }
    }
}
