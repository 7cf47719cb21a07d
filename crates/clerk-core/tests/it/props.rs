//! Property tests: models round-trip, parsers are total, ids stay one path
//! segment, and retries stay within their bounds.

use std::time::{Duration, SystemTime};

use clerk_core::http::{HeaderName, HeaderValue, Response, StatusCode};
use clerk_core::{
    Call, ClerkError, ClerkErrors, Config, CreateSignInToken, Delivery, ErrorKind, Operation,
    Outcome, RetryAfter, RetryPolicy, RevokeSignInToken, SecretString, SignInToken,
    SignInTokenStatus, Step, Timestamp, Timing, TransportError, TransportErrorKind,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(512)
}

fn status() -> impl Strategy<Value = SignInTokenStatus> {
    prop_oneof![
        Just(SignInTokenStatus::Pending),
        Just(SignInTokenStatus::Accepted),
        Just(SignInTokenStatus::Revoked),
        "\\PC*"
            .prop_filter("known names decode to known variants", |s| {
                !matches!(s.as_str(), "pending" | "accepted" | "revoked")
            })
            .prop_map(SignInTokenStatus::Other),
    ]
}

fn sign_in_token() -> impl Strategy<Value = SignInToken> {
    (
        "\\PC*",
        status(),
        "\\PC*",
        proptest::option::of("\\PC*"),
        proptest::option::of("\\PC*"),
        any::<i64>(),
        any::<i64>(),
    )
        .prop_map(|(id, status, user, token, url, created, updated)| {
            let mut t = SignInToken::new(id, status, user, Timestamp::from_millis(created));
            t.token = token.map(SecretString::new);
            t.url = url.map(SecretString::new);
            t.updated_at = Timestamp::from_millis(updated);
            t
        })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC*".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("\\PC*", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn meta() -> impl Strategy<Value = Option<Map<String, Value>>> {
    proptest::option::of(
        proptest::collection::btree_map("\\PC*", json_value(), 0..4)
            .prop_map(|m| m.into_iter().collect()),
    )
}

fn clerk_errors() -> impl Strategy<Value = ClerkErrors> {
    let error = ("\\PC*", "\\PC*", "\\PC*", meta()).prop_map(|(code, message, long, meta)| {
        let mut e = ClerkError::new(code, message, long);
        e.meta = meta;
        e
    });
    (
        proptest::collection::vec(error, 0..4),
        meta(),
        proptest::option::of("\\PC*"),
    )
        .prop_map(|(errors, meta, trace)| {
            let mut body = ClerkErrors::new(errors);
            body.meta = meta;
            body.clerk_trace_id = trace;
            body
        })
}

fn header_pairs() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let name = prop_oneof![
        Just("content-type"),
        Just("retry-after"),
        Just("clerk-trace-id"),
        Just("x-other"),
    ];
    let value = prop_oneof![
        Just(b"application/json".to_vec()),
        Just(b"text/plain".to_vec()),
        Just(b"3".to_vec()),
        Just(b"Wed, 21 Oct 2015 07:28:00 GMT".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec((name, value), 0..5)
}

fn build_response(
    status: u16,
    headers: &[(&'static str, Vec<u8>)],
    body: Vec<u8>,
) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            r.headers_mut().append(HeaderName::from_static(name), v);
        }
    }
    r
}

/// Bodies near the valid ones, where the interesting bugs live.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let token = || sign_in_token().prop_map(|t| serde_json::to_vec(&t).unwrap());
    let errors = || clerk_errors().prop_map(|e| serde_json::to_vec(&e).unwrap());
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        token(),
        errors(),
        (token(), any::<prop::sample::Index>())
            .prop_map(|(b, i)| b[..i.index(b.len() + 1)].to_vec()),
        (errors(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut b, i, x)| {
            if !b.is_empty() {
                let at = i.index(b.len());
                b[at] = x;
            }
            b
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sign_in_token_round_trips(token in sign_in_token()) {
        let json = serde_json::to_vec(&token).unwrap();
        let back: SignInToken = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(back, token);
    }

    #[test]
    fn clerk_errors_round_trip(body in clerk_errors()) {
        let json = serde_json::to_vec(&body).unwrap();
        prop_assert_eq!(clerk_core::parse_clerk_errors(&json), Some(body));
    }

    #[test]
    fn status_round_trips(status in status()) {
        let json = serde_json::to_string(&status).unwrap();
        prop_assert_eq!(serde_json::from_str::<SignInTokenStatus>(&json).unwrap(), status);
    }

    #[test]
    fn reply_parsing_is_total(status in 100u16..1000, headers in header_pairs(), body in body()) {
        let response = build_response(status, &headers, body);
        for result in [
            CreateSignInToken::new("u").parse_response(&response).map(drop),
            RevokeSignInToken::new("s").parse_response(&response).map(drop),
            clerk_core::ListUsers::by_email_addresses(["a@x.io"]).parse_response(&response).map(drop),
        ] {
            match result {
                Ok(_) => prop_assert!(response.status().is_success()),
                Err(e) => {
                    prop_assert_eq!(e.status(), Some(response.status()));
                    if matches!(e.kind(), ErrorKind::Api(_)) {
                        prop_assert!(response.status().is_client_error() || response.status().is_server_error());
                    }
                    let _ = (e.to_string(), format!("{e:?}"));
                }
            }
        }
    }

    #[test]
    fn error_body_parsing_is_total(body in body()) {
        let _ = clerk_core::parse_clerk_errors(&body);
    }

    #[test]
    fn retry_after_parsing_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = clerk_core::parse_retry_after(&bytes);
    }

    #[test]
    fn retry_after_seconds_round_trip(secs in any::<u64>()) {
        // Up to a day the value is kept; beyond, it is clamped to a day.
        prop_assert_eq!(
            clerk_core::parse_retry_after(secs.to_string().as_bytes()),
            Some(RetryAfter::Delay(Duration::from_secs(secs).min(clerk_core::MAX_RETRY_AFTER)))
        );
    }

    #[test]
    fn retry_after_dates_round_trip(secs in 0u64..253_402_300_799) {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let text = httpdate::fmt_http_date(at);
        prop_assert_eq!(clerk_core::parse_retry_after(text.as_bytes()), Some(RetryAfter::At(at)));
    }

    #[test]
    fn ids_are_one_path_segment(id in "\\PC*|[/?#%. \\\\]{0,6}|.*", prefix in "(/[a-z0-9]{1,6}){0,3}") {
        let cfg = Config::new("sk_test_x").unwrap().with_base_url(&format!("https://h.example{prefix}")).unwrap();
        match RevokeSignInToken::new(id.clone()).build_request(&cfg) {
            Ok(request) => {
                let path = request.uri().path();
                let rest = path.strip_prefix(prefix.as_str()).unwrap();
                let segment = rest.strip_prefix("/sign_in_tokens/").and_then(|r| r.strip_suffix("/revoke")).unwrap();
                prop_assert!(!segment.contains('/'));
                prop_assert!(segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
                let decoded = percent_encoding::percent_decode_str(segment).decode_utf8().unwrap();
                prop_assert_eq!(decoded, id.as_str());
                prop_assert_eq!(request.uri().query(), None);
                prop_assert_eq!(request.uri().host(), Some("h.example"));
            }
            Err(e) => {
                prop_assert!(id.is_empty() || id == "." || id == "..");
                prop_assert_eq!(e.invalid_argument(), Some("sign_in_token_id"));
            }
        }
    }

    #[test]
    fn create_bodies_carry_only_what_was_set(
        user in "\\PC+",
        lifetime in proptest::option::of(1u64..=i64::MAX as u64),
        org in proptest::option::of("\\PC+"),
    ) {
        let mut op = CreateSignInToken::new(user.clone());
        if let Some(s) = lifetime { op = op.with_expires_in_seconds(s); }
        if let Some(o) = &org { op = op.with_org_id(o.clone()); }
        let request = op.build_request(&Config::new("sk_test_x").unwrap()).unwrap();
        let body: Map<String, Value> = serde_json::from_slice(request.body()).unwrap();
        prop_assert_eq!(body.len(), 1 + usize::from(lifetime.is_some()) + usize::from(org.is_some()));
        prop_assert_eq!(body["user_id"].as_str(), Some(user.as_str()));
        prop_assert_eq!(body.get("expires_in_seconds").and_then(Value::as_u64), lifetime);
        prop_assert_eq!(body.get("org_id").and_then(Value::as_str), org.as_deref());
    }

    #[test]
    fn base_url_parsing_is_total(url in ".*") {
        if let Ok(cfg) = Config::new("sk_test_x").unwrap().with_base_url(&url) {
            let request = CreateSignInToken::new("u").build_request(&cfg).unwrap();
            prop_assert!(request.uri().to_string().starts_with(cfg.base_url()));
        }
    }
}

#[derive(Clone, Debug)]
enum Attempt {
    Transport(Delivery),
    Reply {
        status: u16,
        retry_after: Option<u64>,
    },
}

fn attempt() -> impl Strategy<Value = Attempt> {
    prop_oneof![
        prop_oneof![Just(Delivery::NotSent), Just(Delivery::MaybeSent)]
            .prop_map(Attempt::Transport),
        (
            prop_oneof![
                Just(200u16),
                Just(400),
                Just(404),
                Just(408),
                Just(429),
                Just(500),
                Just(502),
                Just(503),
                Just(504),
                100u16..1000
            ],
            proptest::option::of(0u64..30),
        )
            .prop_map(|(status, retry_after)| Attempt::Reply {
                status,
                retry_after
            }),
    ]
}

fn policy() -> impl Strategy<Value = RetryPolicy> {
    (
        1u32..8,
        0u64..2_000,
        0u64..10_000,
        0u64..20,
        0u64..40,
        0u64..120,
        any::<bool>(),
    )
        .prop_map(
            |(attempts, initial, max_backoff, max_ra, total, elapsed, unsafe_ok)| {
                RetryPolicy::default()
                    .with_max_attempts(attempts)
                    .with_initial_backoff(Duration::from_millis(initial))
                    .with_max_backoff(Duration::from_millis(max_backoff))
                    .with_max_retry_after(Duration::from_secs(max_ra))
                    .with_max_total_wait(Duration::from_secs(total))
                    .with_max_elapsed(Duration::from_secs(elapsed))
                    .with_retry_non_idempotent(unsafe_ok)
            },
        )
}

fn outcome(a: &Attempt) -> Outcome {
    match a {
        Attempt::Transport(d) => {
            Outcome::Transport(TransportError::without_source(TransportErrorKind::Io, *d))
        }
        Attempt::Reply {
            status,
            retry_after,
        } => {
            let mut r = Response::new(br#"{"errors":[]}"#.to_vec());
            *r.status_mut() = StatusCode::from_u16(*status).unwrap();
            if let Some(s) = retry_after {
                r.headers_mut().insert("retry-after", HeaderValue::from(*s));
            }
            Outcome::Response(r)
        }
    }
}

/// Drives a call through a script of attempts and checks every decision.
fn drive<O: Operation>(
    policy: &RetryPolicy,
    op: O,
    script: &[Attempt],
    jitters: &[f64],
    step_ms: u64,
) -> Result<(), TestCaseError> {
    let repeatable =
        op.idempotency() == clerk_core::Idempotency::Idempotent || policy.retry_non_idempotent();
    let cfg = Config::new("sk_test_x")
        .unwrap()
        .with_retry_policy(policy.clone());
    let mut call = Call::new(&cfg, op).unwrap();
    let mut waited = Duration::ZERO;
    let mut elapsed = Duration::ZERO;
    for (i, a) in script.iter().enumerate() {
        let handled = u32::try_from(i + 1).unwrap();
        elapsed += Duration::from_millis(step_ms);
        let timing = Timing {
            now: SystemTime::UNIX_EPOCH,
            elapsed,
            jitter: jitters[i % jitters.len()],
        };
        match call.handle(outcome(a), timing) {
            Step::Retry(wait) => {
                waited += wait;
                elapsed += wait;
                prop_assert!(handled < policy.max_attempts());
                prop_assert!(waited <= policy.max_total_wait());
                prop_assert!(elapsed <= policy.max_elapsed());
                match a {
                    Attempt::Transport(Delivery::MaybeSent) => prop_assert!(repeatable),
                    Attempt::Transport(Delivery::NotSent) => {}
                    Attempt::Reply {
                        status,
                        retry_after,
                    } => {
                        let surely_untouched =
                            *status == 429 || (*status == 503 && retry_after.is_some());
                        prop_assert!(
                            repeatable || surely_untouched,
                            "retried {status} {retry_after:?}"
                        );
                        prop_assert!(
                            *status == 429 || *status == 408 || (500..600).contains(status)
                        );
                        if let Some(ra) = retry_after {
                            // Never sooner than the server asked, never past the cap,
                            // never shorter than the longest backoff (no hot loop), and
                            // past the hint by at most the jitter's half backoff.
                            let hint = Duration::from_secs(*ra);
                            let base = policy.backoff(handled, 1.0);
                            prop_assert!(wait >= hint);
                            prop_assert!(hint <= policy.max_retry_after());
                            prop_assert!(wait >= base);
                            prop_assert!(wait <= hint.max(base) + base / 2);
                        }
                    }
                }
            }
            Step::Done(result) => {
                if let Err(e) = result {
                    prop_assert_eq!(e.attempts(), handled);
                }
                return Ok(());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn retries_stay_bounded_and_safe(
        policy in policy(),
        script in proptest::collection::vec(attempt(), 1..12),
        jitters in proptest::collection::vec(prop_oneof![0.0f64..=1.0, Just(f64::NAN), Just(-1.0), Just(2.0)], 1..4),
        step_ms in 0u64..5_000,
    ) {
        drive(&policy, CreateSignInToken::new("u"), &script, &jitters, step_ms)?;
        drive(&policy, RevokeSignInToken::new("s"), &script, &jitters, step_ms)?;
    }

    #[test]
    fn backoff_stays_within_its_cap(policy in policy(), retry in 0u32..100, jitter in 0.0f64..=1.0) {
        let wait = policy.backoff(retry, jitter);
        prop_assert!(wait <= policy.max_backoff());
        prop_assert!(wait >= policy.initial_backoff().min(policy.max_backoff()) / 2);
    }
}

// ---- Finding users by email address --------------------------------------

use clerk_core::{
    EmailAddress, EmailMatch, ListUsers, MAX_LOOKUP_QUERY_BYTES, MAX_LOOKUP_VALUES, User,
    email_lookup_batches, match_email_addresses,
};

/// Addresses as operators type them: ordinary ones, `+` tags, characters
/// that mean something in a query (`&`, `=`, `#`, `%`, `;`, space), quotes,
/// controls, non-ASCII, and whatever else a string can hold.
fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._%+-]{1,24}@[a-zA-Z0-9.-]{1,16}\\.[a-z]{2,4}",
        "[a-z]{1,8}\\+[a-z0-9+]{0,8}@example\\.com",
        "[ &=#%;?/+\"'<>\\\\a-zé漢😀]{1,16}@[a-zA-Zß]{1,8}\\.io",
        "[\\x00-\\x1f\\x7f]{1,3}[a-z]{0,4}",
        "\\PC{1,30}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

/// The values a request's query carries for `param`, decoded.
fn query_values(request: &clerk_core::http::Request<Vec<u8>>, param: &str) -> Vec<String> {
    let query = request.uri().query().unwrap_or_default();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| *name == param)
        .map(|(_, value)| {
            assert!(!value.contains(['+', ' ', '&', '#']), "{value}");
            percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .expect("the encoding of a str decodes")
                .into_owned()
        })
        .collect()
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// A pool of addresses differing in case and in `+` tags, so that
/// duplicates and near-duplicates are common.
fn pooled_address() -> impl Strategy<Value = String> {
    (0usize..6, any::<u8>()).prop_map(|(i, case)| {
        let base = [
            "ann@example.com",
            "ann+1@example.com",
            "bo@example.com",
            "cé@exämple.io",
            "d&e=f@x.io",
            "ß@x.io",
        ][i];
        base.chars()
            .enumerate()
            .map(|(n, c)| {
                if case >> (n % 8) & 1 == 1 {
                    c.to_uppercase().collect::<String>()
                } else {
                    c.to_string()
                }
            })
            .collect()
    })
}

fn users_from(owners: &[(u8, Vec<String>)]) -> Vec<User> {
    owners
        .iter()
        .map(|(id, addresses)| {
            addresses
                .iter()
                .enumerate()
                .fold(User::new(format!("user_{id}")), |user, (n, a)| {
                    user.with_email_address(EmailAddress::new(format!("idn_{id}_{n}"), a.clone()))
                })
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn addresses_round_trip_through_the_query(
        addresses in proptest::collection::vec(address(), 1..12),
        offset in prop_oneof![Just(0u32), any::<u32>()],
    ) {
        let config = Config::new("sk_test_x").unwrap();
        let request = ListUsers::by_email_addresses(addresses.clone())
            .with_offset(offset)
            .build_request(&config)
            .unwrap();
        prop_assert_eq!(request.method(), "GET");
        prop_assert_eq!(request.uri().path(), "/v1/users");
        prop_assert_eq!(query_values(&request, "email_address"), addresses.clone());
        prop_assert_eq!(query_values(&request, "limit"), ["500"]);
        let offsets = query_values(&request, "offset");
        if offset == 0 {
            prop_assert!(offsets.is_empty());
        } else {
            prop_assert_eq!(offsets, [offset.to_string()]);
        }
        prop_assert!(request.headers().get("content-length").is_none());
        let shown = format!("{request:?} {:?}", ListUsers::by_email_addresses(addresses.clone()));
        prop_assert!(!shown.contains("sk_test_x"));
    }

    #[test]
    fn external_ids_round_trip_as_written(ids in proptest::collection::vec(address(), 1..12)) {
        let config = Config::new("sk_test_x").unwrap();
        let request = ListUsers::by_external_ids(ids.clone()).build_request(&config).unwrap();
        let sent = query_values(&request, "external_id");
        prop_assert_eq!(sent.len(), ids.len());
        for (sent, id) in sent.iter().zip(&ids) {
            // A leading sign is Clerk's include/exclude marker: the id is
            // sent behind a `+` so it is looked up literally.
            if id.starts_with(['+', '-']) {
                prop_assert_eq!(sent.strip_prefix('+'), Some(id.as_str()));
            } else {
                prop_assert_eq!(sent, id);
            }
        }
    }

    #[test]
    fn batches_fit_and_lose_or_repeat_nothing(
        addresses in proptest::collection::vec(
            prop_oneof![4 => pooled_address(), 4 => address(), 1 => "[a-z%é]{50,400}@x\\.io"],
            0..400,
        ),
    ) {
        let config = Config::new("sk_test_x").unwrap();
        let batches = email_lookup_batches(&addresses);
        let mut sent = Vec::new();
        for batch in &batches {
            prop_assert!(!batch.values().is_empty());
            prop_assert!(batch.values().len() <= MAX_LOOKUP_VALUES);
            let request = batch.build_request(&config).unwrap();
            let query = request.uri().query().unwrap_or_default();
            prop_assert!(query.len() <= MAX_LOOKUP_QUERY_BYTES, "{} bytes", query.len());
            prop_assert!(request.uri().to_string().len() < 8 * 1024);
            let values = query_values(&request, "email_address");
            prop_assert_eq!(&values, batch.values());
            sent.extend(values);
        }
        // Exactly the addresses given, first spelling of each case-folded
        // address, in order.
        let mut seen = std::collections::HashSet::new();
        let want: Vec<String> = addresses
            .iter()
            .filter(|a| seen.insert(fold(a)))
            .cloned()
            .collect();
        prop_assert_eq!(&sent, &want);
        // As few requests as the count allows, unless the bytes force more.
        let total: usize = sent.iter().map(|a| a.len() * 3 + 15).sum();
        if total <= MAX_LOOKUP_QUERY_BYTES - 32 {
            prop_assert_eq!(batches.len(), want.len().div_ceil(MAX_LOOKUP_VALUES));
        }
    }

    #[test]
    fn matching_is_case_insensitive_and_exact_about_ambiguity(
        owners in proptest::collection::vec(
            (any::<u8>(), proptest::collection::vec(pooled_address(), 0..3)),
            0..8,
        ),
        asked in proptest::collection::vec(prop_oneof![pooled_address(), address()], 0..12),
    ) {
        let users = users_from(&owners);
        let matches = match_email_addresses(&asked, &users);
        prop_assert_eq!(matches.len(), asked.len());
        for (address, got) in asked.iter().zip(&matches) {
            // The model: every distinct user id with the address, in reply order.
            let mut ids: Vec<String> = Vec::new();
            for user in &users {
                let has = user.email_addresses.iter().any(|e| fold(&e.email_address) == fold(address));
                if has && !ids.contains(&user.id) {
                    ids.push(user.id.clone());
                }
            }
            let want = match ids.len() {
                0 => EmailMatch::NotFound,
                1 => EmailMatch::Found(ids.remove(0)),
                _ => EmailMatch::Ambiguous(ids),
            };
            prop_assert_eq!(got, &want, "{:?}", address);
        }
    }

    #[test]
    fn user_lists_round_trip_through_the_reply_parser(
        owners in proptest::collection::vec(
            (any::<u8>(), proptest::collection::vec(address(), 0..3)),
            0..6,
        ),
        external in proptest::option::of("\\PC*"),
        created in any::<i64>(),
    ) {
        let mut users = users_from(&owners);
        for user in &mut users {
            user.external_id = external.clone();
            user.created_at = created;
        }
        let body = serde_json::to_vec(&users).unwrap();
        let reply = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        let parsed = ListUsers::by_email_addresses(["a@x.io"]).parse_response(&reply).unwrap();
        prop_assert_eq!(parsed, users);
    }
}
