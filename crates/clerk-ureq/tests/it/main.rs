//! clerk-ureq's tests, one binary: the shared scenario table
//! (`scenarios`), and what only this adapter has: a caller's own agent, the
//! errors of a connection that never opened, the body cap's edge, `Debug`,
//! and the `tracing` output.

mod addresses;
mod callers_agent;
#[cfg(feature = "unversioned-lazy-resolve")]
mod lazy_resolve;
mod scenarios;

use std::net::TcpListener;
use std::time::Duration;

use clerk_mock::{Fault, MockServer};
use clerk_ureq::clerk_core::{Delivery, TransportErrorKind};
use clerk_ureq::{Client, Config, CreateSignInToken, Error, ErrorKind, RetryPolicy};

/// Short waits and timeouts, so every test is quick.
pub(crate) fn config(server: &MockServer) -> Config {
    Config::new(server.secret_key())
        .unwrap()
        .with_base_url(&server.base_url())
        .unwrap()
        .with_retry_policy(
            RetryPolicy::default()
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(40)),
        )
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5))
}

fn transport(error: &Error) -> (TransportErrorKind, Delivery) {
    match error.kind() {
        ErrorKind::Transport(t) => (t.kind, t.delivery),
        other => panic!("not a transport error: {other:?}"),
    }
}

/// The cap's edge: a body of exactly the cap is read whole, one byte more
/// is not. (The table checks a body far over the cap.)
#[test]
fn body_exactly_at_the_cap() {
    let server = MockServer::start();
    let client = Client::new(config(&server).with_max_body_bytes(1024)).unwrap();
    let user = server.create_user();

    // Exactly at the cap: read whole (and then it is not a token).
    server.push_fault(Fault::Oversized { bytes: 1024 });
    let at_cap = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    assert!(matches!(at_cap.kind(), ErrorKind::Decode(_)), "{at_cap:?}");

    // One byte over.
    server.push_fault(Fault::Oversized { bytes: 1025 });
    let over = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    assert_eq!(
        transport(&over),
        (TransportErrorKind::BodyTooLarge, Delivery::MaybeSent)
    );
    assert_eq!(over.attempts(), 1);
}

#[test]
fn a_callers_default_agent_is_made_safe_per_request() {
    let server = MockServer::start();
    let elsewhere = MockServer::start();
    let user = server.create_user();
    // ureq's defaults: statuses as errors, 10 redirects.
    let agent = clerk_ureq::ureq::Agent::new_with_defaults();
    let client = Client::with_agent(config(&server), agent).unwrap();

    let not_found = client
        .create_sign_in_token(CreateSignInToken::new("user_nobody"))
        .unwrap_err();
    assert!(not_found.is_not_found(), "{not_found:?}");

    server.push_fault(Fault::Redirect {
        status: 308,
        location: format!("{}/sign_in_tokens", elsewhere.base_url()),
    });
    let redirect = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    assert_eq!(redirect.status().map(|s| s.as_u16()), Some(308));
    assert_eq!(elsewhere.requests().len(), 0);

    let impatient = Client::with_agent(
        config(&server).with_timeout(Duration::from_millis(200)),
        clerk_ureq::ureq::Agent::new_with_defaults(),
    )
    .unwrap();
    server.push_fault(Fault::Delay {
        delay: Duration::from_secs(2),
    });
    assert!(
        impatient
            .create_sign_in_token(CreateSignInToken::new(&user))
            .unwrap_err()
            .is_timeout()
    );

    assert!(
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .is_ok()
    );
}

#[test]
fn connection_refused_is_not_sent_and_retried() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = Config::new("sk_test_x")
        .unwrap()
        .with_base_url(&format!("http://127.0.0.1:{port}/v1"))
        .unwrap()
        .with_retry_policy(RetryPolicy::default().with_initial_backoff(Duration::from_millis(5)));
    let error = Client::new(config)
        .unwrap()
        .create_sign_in_token(CreateSignInToken::new("user_1"))
        .unwrap_err();
    assert_eq!(
        transport(&error),
        (TransportErrorKind::Connect, Delivery::NotSent)
    );
    // Safe to repeat even a create.
    assert_eq!(error.attempts(), 3);
}

#[test]
fn unknown_host_is_not_sent() {
    let config = Config::new("sk_test_x")
        .unwrap()
        .with_base_url("http://clerk-ureq-test.invalid/v1")
        .unwrap()
        .with_retry_policy(RetryPolicy::never());
    let error = Client::new(config)
        .unwrap()
        .create_sign_in_token(CreateSignInToken::new("user_1"))
        .unwrap_err();
    let (kind, delivery) = transport(&error);
    assert_eq!(delivery, Delivery::NotSent, "{error:?}");
    assert!(
        matches!(
            kind,
            TransportErrorKind::Connect | TransportErrorKind::Timeout
        ),
        "{error:?}"
    );
}

#[test]
fn debug_shows_no_key() {
    let client = Client::new(Config::new("sk_test_very_secret").unwrap()).unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains("very_secret"), "{shown}");
    assert!(shown.contains("clerk-ureq/"));
}

#[cfg(feature = "tracing")]
mod tracing_output {
    use super::*;

    /// A call held at the rate-limit gate says so once, with how long and
    /// why, not once per check.
    #[test]
    fn a_wait_at_the_gate_is_one_event_with_how_long_and_why() {
        let server = MockServer::start();
        let user = server.create_user();
        let client = Client::new(config(&server).with_retry_policy(RetryPolicy::never())).unwrap();
        let ((), text) = clerk_scenarios::capture_traces(|| {
            server.push_fault(Fault::RateLimited {
                retry_after: "1".into(),
            });
            assert!(
                client
                    .create_sign_in_token(CreateSignInToken::new(&user))
                    .unwrap_err()
                    .is_rate_limited()
            );
            client
                .create_sign_in_token(CreateSignInToken::new(&user))
                .unwrap();
        });
        let waits: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("waits at the client's rate-limit gate"))
            .collect();
        assert_eq!(waits.len(), 1, "{text}");
        assert!(waits[0].contains("wait_ms="), "{text}");
        assert!(
            waits[0].contains("reason=the server asked this client to wait"),
            "{text}"
        );
        assert!(!text.contains(server.secret_key()), "{text}");
    }

    #[test]
    fn events_name_attempts_and_never_credentials() {
        let server = MockServer::start();
        let user = server.create_user();
        let client = Client::new(config(&server)).unwrap();
        let (token, text) = clerk_scenarios::capture_traces(|| {
            server.push_fault(Fault::RateLimited {
                retry_after: "0".into(),
            });
            let token = client
                .create_sign_in_token(CreateSignInToken::new(&user))
                .unwrap();
            client.revoke_sign_in_token(&token.id).unwrap();
            let _ = client.revoke_sign_in_token(&token.id);
            token
        });
        assert!(text.contains("clerk.call"), "{text}");
        assert!(
            text.contains("operation=\"create_sign_in_token\""),
            "{text}"
        );
        assert!(
            text.contains("operation=\"revoke_sign_in_token\""),
            "{text}"
        );
        assert!(text.contains("status=429"), "{text}");
        assert!(text.contains("wait_ms="), "{text}");
        assert!(text.contains("trace_id="), "{text}");
        assert!(!text.contains(server.secret_key()), "{text}");
        assert!(
            !text.contains(token.token.as_ref().unwrap().expose()),
            "{text}"
        );
        assert!(!text.contains("http://"), "{text}");
        assert!(!text.contains("/sign_in_tokens"), "{text}");
    }
}
