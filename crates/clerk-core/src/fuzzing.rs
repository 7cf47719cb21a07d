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
    Call, Config, CreateSignInToken, Delivery, EmailMatch, ErrorKind, ListUsers, Operation,
    Outcome, RetryPolicy, RevokeSignInToken, Step, Timing, TransportError, TransportErrorKind,
    User,
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

/// What the fuzz harness knows of one operation. Fuzzing a new operation's
/// reply parser and request builder takes an impl of this trait and one
/// entry in [`OPERATIONS`]; the `reply` and `build_request` targets and the
/// corpus replay read that table.
pub trait FuzzOperation: Operation + Sized {
    /// A valid operation whose replies the `reply` target parses.
    fn sample() -> Self;

    /// Checks a successful parse beyond "no panic" (the default checks
    /// nothing more).
    fn check_output(&self, output: &Self::Output) {
        let _ = output;
    }

    /// Builds the operation from arbitrary arguments and checks the request
    /// it builds, or that the refusal names the right argument.
    fn check_build(args: [&str; 2], config: &Config);
}

/// One operation in the fuzz harness.
#[derive(Debug)]
pub struct Entry {
    /// The operation's [`Operation::NAME`].
    pub name: &'static str,
    /// Parses a reply with the operation's sample and checks the result.
    pub reply: fn(&Response<&[u8]>),
    /// [`FuzzOperation::check_build`].
    pub build: fn([&str; 2], &Config),
}

const fn entry<O: FuzzOperation>() -> Entry {
    Entry {
        name: O::NAME,
        reply: check_reply::<O>,
        build: O::check_build,
    }
}

/// Every operation of the crate. The `reply` target's first input byte
/// picks one (modulo the length, so inputs written for the first entries
/// keep their meaning when one is added at the end).
pub const OPERATIONS: &[Entry] = &[
    entry::<CreateSignInToken>(),
    entry::<RevokeSignInToken>(),
    entry::<ListUsers>(),
];

fn check_reply<O: FuzzOperation>(response: &Response<&[u8]>) {
    let operation = O::sample();
    match operation.parse_response(response) {
        Ok(output) => {
            assert!(response.status().is_success());
            operation.check_output(&output);
        }
        Err(e) => {
            assert_eq!(e.status(), Some(response.status()));
            assert_eq!(e.attempts(), 1);
            if let ErrorKind::UnexpectedResponse(u) = e.kind() {
                assert!(u.excerpt.len() <= crate::EXCERPT_BYTES * 3);
                if response.status().is_success() {
                    assert!(u.excerpt.is_empty());
                }
            }
            if let ErrorKind::Decode(d) = e.kind() {
                assert!(d.message.len() <= 512, "{}", d.message);
            }
            let _ = (e.to_string(), format!("{e:?}"));
        }
    }
}

/// Any operation's reply path: the first byte picks the operation in
/// [`OPERATIONS`], the rest is a reply as [`response_from_bytes`] reads it.
pub fn reply(data: &[u8]) {
    let [selector, rest @ ..] = data else {
        return;
    };
    let entry = &OPERATIONS[usize::from(*selector) % OPERATIONS.len()];
    (entry.reply)(&response_from_bytes(rest));
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

/// Request building with arbitrary arguments and base URLs, for every
/// operation in [`OPERATIONS`].
///
/// Input: text (lossy UTF-8) `arg0 \x01 arg1 \x01 base`; each operation
/// reads the two arguments its own way (revoke takes `arg0` as the token
/// id, create `arg1` as the user id, the user list the lines of both as
/// values).
pub fn build_request(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let first = parts.next().unwrap_or_default();
    let second = parts.next().unwrap_or_default();
    let base = parts.next();
    let mut config = Config::new("sk_test_fuzz").expect("a fixed key is valid");
    if let Some(base) = base {
        match config.clone().with_base_url(base) {
            Ok(c) => config = c,
            Err(e) => assert_eq!(e.invalid_argument(), Some("base_url")),
        }
    }
    for entry in OPERATIONS {
        (entry.build)([first, second], &config);
    }
}

/// The base URL's path, without a trailing `/`.
fn base_path(config: &Config) -> String {
    let base: http::Uri = config
        .base_url()
        .parse()
        .expect("a validated base URL parses");
    base.path().trim_end_matches('/').to_owned()
}

/// Nothing a request's `Debug` shows holds the key.
fn check_debug(request: &http::Request<Vec<u8>>) {
    assert!(!format!("{request:?}").contains("sk_test_fuzz"));
}

impl FuzzOperation for CreateSignInToken {
    fn sample() -> Self {
        Self::new("user_1")
    }

    fn check_build([_, user]: [&str; 2], config: &Config) {
        match Self::new(user).build_request(config) {
            Ok(request) => {
                check_debug(&request);
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
}

impl FuzzOperation for RevokeSignInToken {
    fn sample() -> Self {
        Self::new("sit_1")
    }

    fn check_build([id, _]: [&str; 2], config: &Config) {
        match Self::new(id).build_request(config) {
            Ok(request) => {
                check_debug(&request);
                let prefix = base_path(config);
                let path = request.uri().path();
                let rest = path.strip_prefix(&prefix).expect("the base path is kept");
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
    }
}

impl FuzzOperation for ListUsers {
    fn sample() -> Self {
        Self::by_email_addresses(["ann@example.com"])
    }

    /// Every address of every user matches that user, alone or among
    /// others; a decoded list re-encodes to itself.
    fn check_output(&self, users: &Vec<User>) {
        let json = serde_json::to_vec(users).expect("decoded users encode");
        let again: Vec<User> = serde_json::from_slice(&json).expect("encoded users decode");
        assert_eq!(&again, users);
        let addresses: Vec<&str> = users
            .iter()
            .flat_map(|u| u.email_addresses.iter().map(|e| e.email_address.as_str()))
            .collect();
        let matches = crate::match_email_addresses(&addresses, users);
        let owners = users
            .iter()
            .flat_map(|u| u.email_addresses.iter().map(move |_| u.id.as_str()));
        for (owner, found) in owners.zip(&matches) {
            match found {
                EmailMatch::Found(id) => assert_eq!(id, owner),
                EmailMatch::Ambiguous(ids) => {
                    assert!(ids.len() > 1 && ids.iter().any(|id| id == owner));
                }
                EmailMatch::NotFound => panic!("a user's own address was not found"),
            }
        }
    }

    fn check_build([a, b]: [&str; 2], config: &Config) {
        let values: Vec<&str> = a.split('\n').chain(b.split('\n')).collect();
        let sendable = values.len() <= crate::MAX_LOOKUP_VALUES && !values.contains(&"");
        for by_email in [true, false] {
            let operation = if by_email {
                Self::by_email_addresses(values.iter().copied())
            } else {
                Self::by_external_ids(values.iter().copied())
            };
            let param = operation.filter().param();
            match operation.build_request(config) {
                Ok(request) => {
                    check_debug(&request);
                    assert!(sendable);
                    assert!(
                        request
                            .headers()
                            .get(http::header::CONTENT_LENGTH)
                            .is_none()
                    );
                    assert_eq!(request.uri().path(), format!("{}/users", base_path(config)));
                    let query = request.uri().query().expect("a query");
                    assert!(query.len() <= crate::MAX_LOOKUP_QUERY_BYTES);
                    let sent: Vec<String> = query
                        .split('&')
                        .filter_map(|pair| pair.strip_prefix(param)?.strip_prefix('='))
                        .map(|v| {
                            let v = percent_encoding::percent_decode_str(v)
                                .decode_utf8()
                                .expect("the encoding of a str decodes");
                            if by_email {
                                v.into_owned()
                            } else {
                                // The `+` that makes a signed id literal.
                                let literal =
                                    v.strip_prefix('+').filter(|r| r.starts_with(['+', '-']));
                                literal.unwrap_or(&v).to_owned()
                            }
                        })
                        .collect();
                    assert_eq!(sent, values);
                    assert!(query.ends_with("&limit=500"));
                }
                Err(e) => {
                    let arg = e.invalid_argument();
                    assert!(arg == Some(param) || arg == Some("base_url"), "{arg:?}");
                    if sendable && arg == Some(param) {
                        // Refused only for its length.
                        let cost: usize = values
                            .iter()
                            .map(|v| {
                                let encoded = percent_encoding::utf8_percent_encode(
                                    v,
                                    crate::sign_in_tokens::SEGMENT,
                                );
                                param.len() + 2 + encoded.to_string().len() + 3
                            })
                            .sum();
                        assert!(cost > crate::MAX_LOOKUP_QUERY_BYTES - 32, "{cost}");
                    }
                }
            }
        }
    }
}

/// The retry driver fed an arbitrary policy, wall clock and sequence of
/// outcomes and timings.
///
/// Input: a flags byte, a policy byte, then one 4-byte chunk per attempt
/// (see `outcome_from`).
///
/// - flags: bits 0–2 the attempts (1–8), bit 3 opts in to retrying
///   non-idempotent calls, bit 4 picks create (else revoke), bits 5–7 the
///   wall clock at the start of the call (`NOWS`).
/// - policy: bits 0–2 `max_retry_after`, bits 3–4 `max_total_wait`, bits
///   5–6 `max_elapsed`, bit 7 a long backoff (see `policy_from`).
///
/// The checks hold for any safe policy, whatever it makes of an absurd
/// `Retry-After`: no panic; a retry only while an attempt is left, with the
/// waits added up within `max_total_wait`, the elapsed time (waits
/// included) plus the wait within `max_elapsed`, and the wait no longer than
/// the longer of `max_retry_after` and `max_backoff`; a non-idempotent call
/// retried only when the server surely did not act (or when opted in); the
/// final error counts every attempt, carries the last reply's status, and
/// reports its `Retry-After` as a delay, not a date.
pub fn retry_driver(data: &[u8]) {
    let [flags, policy_byte, script @ ..] = data else {
        return;
    };
    let policy = policy_from(*policy_byte)
        .with_max_attempts(u32::from(flags & 7) + 1)
        .with_retry_non_idempotent(flags & 8 != 0);
    let config = Config::new("sk_test_fuzz")
        .expect("a fixed key is valid")
        .with_retry_policy(policy);
    let start = NOWS[usize::from(flags >> 5)]();
    if flags & 16 != 0 {
        drive(&config, CreateSignInToken::new("u"), start, script);
    } else {
        drive(&config, RevokeSignInToken::new("s"), start, script);
    }
}

const SECOND: u64 = 1;
const HOUR: u64 = 3_600 * SECOND;
const DAY: u64 = 24 * HOUR;
const YEAR: u64 = 365 * DAY;
/// 2015-10-21 07:27:55 UTC: the dates below are written around it.
const ANCHOR: u64 = 1_445_412_475;
/// 9999-12-31 23:59:59 UTC, the last instant an HTTP-date can name.
const LAST_DATE: u64 = 253_402_300_799;

fn since_epoch(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The wall clock when the call starts; it then advances with the elapsed
/// time. Before, at and after every date in `DATES`.
const NOWS: [fn() -> SystemTime; 8] = [
    || since_epoch(ANCHOR),
    || SystemTime::UNIX_EPOCH,
    || {
        SystemTime::UNIX_EPOCH
            .checked_sub(Duration::from_secs(DAY))
            .unwrap_or(SystemTime::UNIX_EPOCH)
    },
    || since_epoch(ANCHOR + 6),
    || since_epoch(ANCHOR + DAY),
    || since_epoch(4_102_444_800),
    || since_epoch(LAST_DATE),
    || since_epoch(LAST_DATE + 10 * YEAR),
];

/// A policy from one byte: every cap from none at all to far past a day.
fn policy_from(byte: u8) -> RetryPolicy {
    const RETRY_AFTER: [u64; 8] = [10, 0, 1, 60, HOUR, DAY, 2 * DAY, YEAR];
    const TOTAL_WAIT: [u64; 4] = [15, 0, DAY, 30 * DAY];
    const ELAPSED: [u64; 4] = [60, 1, DAY, 400 * DAY];
    let at = |table: &[u64], bits: u8| Duration::from_secs(table[usize::from(bits)]);
    let policy = RetryPolicy::default()
        .with_max_retry_after(at(&RETRY_AFTER, byte & 7))
        .with_max_total_wait(at(&TOTAL_WAIT, (byte >> 3) & 3))
        .with_max_elapsed(at(&ELAPSED, (byte >> 5) & 3));
    if byte & 0x80 != 0 {
        policy
            .with_initial_backoff(Duration::from_secs(10 * 60))
            .with_max_backoff(Duration::from_secs(DAY))
    } else {
        policy
    }
}

/// Delta-seconds around the caps: zero, Clerk's window, a day, `u32::MAX`,
/// the largest `Duration` in whole seconds.
const DELTAS: [u64; 20] = [
    0,
    1,
    9,
    10,
    11,
    59,
    60,
    HOUR - 1,
    HOUR,
    DAY - 1,
    DAY,
    DAY + 1,
    7 * DAY,
    YEAR,
    u32::MAX as u64,
    1 << 32,
    i64::MAX as u64,
    u64::MAX / 1_000_000_000,
    u64::MAX - 1,
    u64::MAX,
];

/// Delta-seconds past what any integer type here holds.
const HUGE: [&str; 8] = [
    "18446744073709551615",                    // u64::MAX
    "18446744073709551616",                    // 2^64
    "36893488147419103232",                    // 2^65
    "99999999999999999999",                    // 20 nines
    "340282366920938463463374607431768211456", // 2^128
    "0000000000000000000000000000000000000007",
    "184467440737095516150",
    "99999999999999999999999999999999999999999999999999999999999999999999999999999999",
];

/// Seconds since the epoch of the HTTP-dates: the epoch, around `ANCHOR`
/// (past, near future, over and under a day ahead), 2023, 2100 and the last
/// second of 9999.
const DATES: [u64; 16] = [
    0,
    ANCHOR - YEAR,
    ANCHOR - DAY - 1,
    ANCHOR - 1,
    ANCHOR,
    ANCHOR + 1,
    ANCHOR + 5,
    ANCHOR + 10,
    ANCHOR + 11,
    ANCHOR + DAY,
    ANCHOR + DAY + 1,
    ANCHOR + YEAR,
    1_700_000_000,
    2_000_000_000,
    4_102_444_800,
    LAST_DATE,
];

/// Values that are not a `Retry-After`, or barely one.
const MALFORMED: [&[u8]; 24] = [
    b"",
    b" ",
    b"-1",
    b"+5",
    b"1.5",
    b"1e3",
    b"0x10",
    b" 7 ",
    b"\t3",
    b"5, 6",
    b"soon",
    b"\xd9\xa1\xd9\xa2",
    b"\xff\xfe",
    b"Wed, 31 Feb 2026 07:28:00 GMT",
    b"Wed, 21 Oct 2015 25:28:00 GMT",
    b"Wed, 21 Oct 2015 07:28:00 UTC",
    b"Thu, 21 Oct 2015 07:28:00 GMT",
    b"Wed, 21 Oct 10000 07:28:00 GMT",
    b"Wed, 21 Oct 1969 07:28:00 GMT",
    b"21 Oct 2015 07:28:00 GMT",
    b"Wed, 21 Oct 2015 07:28:00 GMT, 3",
    b"Wed, 21-Oct-2015 07:28:00 GMT",
    b"Wednesday, 21-Oct-15 07:28:00",
    b"Wed Oct 21 07:28:00 15",
];

/// An HTTP-date in one of the three forms RFC 9110 has recipients accept.
fn http_date(secs: u64, form: u8) -> String {
    // "Wed, 21 Oct 2015 07:28:00 GMT"
    let imf = httpdate::fmt_http_date(since_epoch(secs.min(LAST_DATE)));
    let (weekday, day, month, year, time) = (
        &imf[0..3],
        &imf[5..7],
        &imf[8..11],
        &imf[12..16],
        &imf[17..25],
    );
    match form % 3 {
        0 => imf,
        1 => {
            let long = match weekday {
                "Mon" => "Monday",
                "Tue" => "Tuesday",
                "Wed" => "Wednesday",
                "Thu" => "Thursday",
                "Fri" => "Friday",
                "Sat" => "Saturday",
                _ => "Sunday",
            };
            format!("{long}, {day}-{month}-{} {time} GMT", &year[2..])
        }
        _ => {
            let day = day.trim_start_matches('0');
            format!("{weekday} {month} {day:>2} {time} {year}")
        }
    }
}

/// A `Retry-After` value from a kind (0–7) and a parameter (0–127).
fn retry_after_value(kind: u8, param: u8) -> Vec<u8> {
    let pick = |len: usize| usize::from(param) % len;
    match kind % 8 {
        0 => (param / 8).to_string().into_bytes(),
        1 => param.to_string().into_bytes(),
        2 => DELTAS[pick(DELTAS.len())].to_string().into_bytes(),
        3 => HUGE[pick(HUGE.len())].as_bytes().to_vec(),
        4..=6 => http_date(DATES[pick(DATES.len())], kind - 4).into_bytes(),
        _ => MALFORMED[pick(MALFORMED.len())].to_vec(),
    }
}

/// One attempt's outcome from four fuzzer bytes, and whether it surely left
/// the server untouched (a transport failure before sending, a 429, or a 503
/// with a `Retry-After` that reads as one).
///
/// Byte 0: a multiple of 4 is a transport failure (byte 1's low bit: maybe
/// sent); otherwise bits 2–4 are the kind of `Retry-After`. Bytes 1–2: the
/// status. Byte 3: low bit, a `Retry-After` is sent; the rest, its
/// parameter. Byte 2 is also the jitter and byte 3 the attempt's duration.
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
    let mut hint = false;
    if b(3) & 1 == 1 {
        let value = retry_after_value(b(0) >> 2, b(3) >> 1);
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            hint = crate::parse_retry_after(value.as_bytes()).is_some();
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
    }
    let untouched = status == 429 || (status == 503 && hint);
    (Outcome::Response(response), untouched)
}

fn drive<O: Operation>(config: &Config, operation: O, start: SystemTime, script: &[u8]) {
    let policy = config.retry_policy().clone();
    let repeatable =
        operation.idempotency() == crate::Idempotency::Idempotent || policy.retry_non_idempotent();
    // A hinted wait is max(hint, backoff) + jitter × backoff/2, the hint
    // within max_retry_after.
    let longest_wait = policy
        .max_retry_after()
        .max(policy.max_backoff())
        .saturating_add(policy.max_backoff() / 2);
    let mut call = Call::new(config, operation).expect("a valid operation");
    let mut elapsed = Duration::ZERO;
    let mut waited = Duration::ZERO;
    for (handled, chunk) in (1u32..).zip(script.chunks(4)) {
        let (outcome, untouched) = outcome_from(chunk);
        let status = match &outcome {
            Outcome::Response(r) => Some(r.status()),
            Outcome::Transport(_) => None,
        };
        // The attempt's own duration; the waits are added below.
        elapsed += Duration::from_millis(u64::from(chunk.last().copied().unwrap_or(0)) * 10);
        let timing = Timing {
            now: start.checked_add(elapsed).unwrap_or(start),
            elapsed,
            jitter: f64::from(chunk.get(2).copied().unwrap_or(0)) / 255.0,
        };
        match call.handle(outcome, timing) {
            Step::Retry(wait) => {
                assert!(handled < policy.max_attempts(), "retried past the attempts");
                assert!(
                    repeatable || untouched,
                    "a non-idempotent call was retried after it may have acted"
                );
                assert!(wait <= longest_wait, "waited {wait:?}");
                assert!(
                    elapsed.saturating_add(wait) <= policy.max_elapsed(),
                    "waited {wait:?} at {elapsed:?}"
                );
                waited = waited.saturating_add(wait);
                assert!(
                    waited <= policy.max_total_wait(),
                    "waited {waited:?} in all"
                );
                assert_eq!(call.waited(), waited);
                elapsed = elapsed.saturating_add(wait);
            }
            Step::Done(Ok(_)) => return,
            Step::Done(Err(e)) => {
                assert_eq!(e.attempts(), handled);
                assert_eq!(e.status(), status);
                assert!(
                    !matches!(e.retry_after(), Some(crate::RetryAfter::At(_))),
                    "a final error's Retry-After is a delay"
                );
                let _ = (e.to_string(), format!("{e:?}"));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RetryAfter;

    /// 2015-10-21 07:27:55 UTC, the instant the date seeds are written around.
    const ANCHOR: u64 = 1_445_412_475;
    /// 9999-12-31 23:59:59 UTC, the last instant an HTTP-date can name.
    const LAST_DATE: u64 = 253_402_300_799;
    const DAY: u64 = 86_400;

    /// Every `Retry-After` value the retry driver's input decoding can put
    /// on a 429, as sent (bytes) and as read.
    fn retry_after_values() -> Vec<(Vec<u8>, Option<RetryAfter>)> {
        let mut values = Vec::new();
        for b0 in 0..=255u8 {
            for b3 in 0..=255u8 {
                // 100 + 0x0149 % 900 = 429
                let (outcome, _) = outcome_from(&[b0, 0x01, 0x49, b3]);
                let Outcome::Response(response) = outcome else {
                    continue;
                };
                assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
                if let Some(value) = response.headers().get(http::header::RETRY_AFTER) {
                    let bytes = value.as_bytes().to_vec();
                    values.push((bytes.clone(), crate::parse_retry_after(&bytes)));
                }
            }
        }
        values
    }

    #[test]
    fn retry_driver_inputs_reach_every_retry_after_form() {
        let values = retry_after_values();
        let delay = |f: &dyn Fn(Duration) -> bool| {
            values
                .iter()
                .any(|(_, ra)| matches!(ra, Some(RetryAfter::Delay(d)) if f(*d)))
        };
        let at = |f: &dyn Fn(u64) -> bool, shape: &dyn Fn(&str) -> bool| {
            values.iter().any(|(bytes, ra)| match ra {
                Some(RetryAfter::At(t)) => {
                    let secs = t
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    f(secs) && shape(std::str::from_utf8(bytes).unwrap_or_default())
                }
                _ => false,
            })
        };
        let imf = |s: &str| s.len() == 29 && s.as_bytes()[3] == b',' && s.ends_with(" GMT");
        let rfc850 = |s: &str| s.contains('-') && s.ends_with(" GMT");
        let asctime = |s: &str| !s.contains(',') && !s.ends_with(" GMT");
        let any_shape = |_: &str| true;

        assert!(delay(&|d| d.is_zero()), "a zero delay");
        assert!(delay(
            &|d| d > Duration::ZERO && d <= Duration::from_secs(10)
        ));
        // Past a day the parser clamps: the raw values must still be there.
        let raw_secs = |bytes: &[u8]| {
            std::str::from_utf8(bytes)
                .ok()
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|t| t.parse::<u128>().ok())
        };
        assert!(
            values
                .iter()
                .any(|(bytes, _)| raw_secs(bytes) == Some(u128::from(DAY + 1))),
            "just over a day"
        );
        assert!(
            values
                .iter()
                .any(|(bytes, _)| raw_secs(bytes) > Some(u128::from(u32::MAX))),
            "past u32"
        );
        assert!(delay(&|d| d == crate::MAX_RETRY_AFTER), "clamped to a day");
        assert!(!delay(&|d| d > crate::MAX_RETRY_AFTER), "never past a day");
        // u64::MAX itself, and values past it ("99999999999999999999", 2^64,
        // 2^128) that a parser must saturate or refuse, never wrap.
        let huge: Vec<&[u8]> = vec![
            b"18446744073709551615",
            b"18446744073709551616",
            b"99999999999999999999",
            b"340282366920938463463374607431768211456",
        ];
        for h in huge {
            assert!(
                values.iter().any(|(bytes, _)| bytes == h),
                "{}",
                String::from_utf8_lossy(h)
            );
        }

        for (name, shape) in [
            ("IMF-fixdate", &imf as &dyn Fn(&str) -> bool),
            ("RFC 850", &rfc850),
            ("asctime", &asctime),
        ] {
            assert!(at(&|s| s < ANCHOR, shape), "a past {name} date");
            assert!(
                at(&|s| s > ANCHOR && s <= ANCHOR + 10, shape),
                "a near {name} date"
            );
            assert!(at(&|s| s > ANCHOR + DAY, shape), "a far {name} date");
        }
        assert!(at(&|s| s == 0, &any_shape), "the epoch");
        assert!(at(&|s| s == LAST_DATE, &any_shape), "the last date");

        // Values that are there but do not read as a Retry-After.
        let malformed = values.iter().filter(|(_, ra)| ra.is_none()).count();
        assert!(malformed >= 10, "{malformed} malformed values");
        assert!(
            values
                .iter()
                .any(|(bytes, ra)| ra.is_none() && bytes.ends_with(b" GMT")),
            "a malformed date"
        );
    }
}
