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
            CreateSignInToken::new("u").parse_response(&response),
            RevokeSignInToken::new("s").parse_response(&response),
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
        prop_assert_eq!(
            clerk_core::parse_retry_after(secs.to_string().as_bytes()),
            Some(RetryAfter::Delay(Duration::from_secs(secs)))
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
        if let Some(s) = lifetime { op = op.expires_in_seconds(s); }
        if let Some(o) = &org { op = op.org_id(o.clone()); }
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
                            // Never sooner than the server asked, never past the cap.
                            prop_assert!(wait >= Duration::from_secs(*ra));
                            prop_assert!(Duration::from_secs(*ra) <= policy.max_retry_after());
                        }
                        if *status == 429 && retry_after.is_some() {
                            // What the server asked, or the backoff when it
                            // asked for less: never longer than either cap.
                            prop_assert!(
                                wait <= policy.max_retry_after().max(policy.max_backoff())
                            );
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
