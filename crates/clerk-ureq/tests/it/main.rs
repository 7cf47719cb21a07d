//! clerk-ureq against clerk-mock: every error class, the faults, timeouts,
//! retries, redirects, the body cap and connection reuse.

mod scenarios;
mod tls;

use std::error::Error as _;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clerk_mock::{Fault, MockServer};
use clerk_ureq::clerk_core::{Delivery, TransportErrorKind};
use clerk_ureq::{
    Client, Config, CreateSignInToken, Error, ErrorKind, RetryPolicy, SignInTokenStatus,
};

/// Short waits and timeouts, so every test is quick.
fn config(server: &MockServer) -> Config {
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

fn client(server: &MockServer) -> Client {
    Client::new(config(server)).unwrap()
}

fn transport(error: &Error) -> (TransportErrorKind, Delivery) {
    match error.kind() {
        ErrorKind::Transport(t) => (t.kind, t.delivery),
        other => panic!("not a transport error: {other:?}"),
    }
}

#[test]
fn create_sends_what_the_core_built() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap();
    assert_eq!(token.user_id, user);
    assert_eq!(token.status, SignInTokenStatus::Pending);
    assert!(token.token.is_some());
    assert!(token.id.starts_with("sit_"));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/sign_in_tokens");
    assert_eq!(sent.body, format!(r#"{{"user_id":"{user}"}}"#).into_bytes());
    assert_eq!(sent.header_str("content-type"), Some("application/json"));
    assert_eq!(sent.header_str("accept"), Some("application/json"));
    assert_eq!(
        sent.header_str("clerk-api-version"),
        Some(clerk_ureq::clerk_core::DEFAULT_API_VERSION)
    );
    let agent = sent.header_str("user-agent").unwrap();
    assert!(
        agent.starts_with("clerk-core/") && agent.contains(" clerk-ureq/"),
        "{agent}"
    );
    assert_eq!(sent.header("accept-encoding"), None);
    // Exactly one Authorization header, the key.
    let auth: Vec<_> = sent
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .collect();
    assert_eq!(auth.len(), 1);
}

#[test]
fn create_with_every_optional_field() {
    let server = MockServer::start();
    let user = server.create_user();
    server.add_organization("org_1", &[&user]);
    let client = client(&server);

    let token = client
        .create_sign_in_token(
            CreateSignInToken::new(&user)
                .expires_in_seconds(600)
                .org_id("org_1"),
        )
        .unwrap();
    let info = server.token(&token.id).unwrap();
    assert_eq!(info.expires_at - info.created_at, 600_000);
    let body = server.requests()[0].json().unwrap();
    assert_eq!(body["expires_in_seconds"], 600);
    assert_eq!(body["org_id"], "org_1");
}

#[test]
fn revoke_lifecycle() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap();
    let revoked = client.revoke_sign_in_token(&token.id).unwrap();
    assert_eq!(revoked.id, token.id);
    assert_eq!(revoked.status, SignInTokenStatus::Revoked);
    assert_eq!(server.token_status(&token.id).as_deref(), Some("revoked"));
    assert_eq!(
        server.requests()[1].path,
        format!("/v1/sign_in_tokens/{}/revoke", token.id)
    );

    // Revoking again: Clerk says the token is not pending.
    let again = client.revoke_sign_in_token(&token.id).unwrap_err();
    assert_eq!(again.status().map(|s| s.as_u16()), Some(400));
    assert!(
        again.has_code("sign_in_token_cannot_be_revoked_code"),
        "{again}"
    );
    assert_eq!(again.attempts(), 1);
}

#[test]
fn typed_api_errors() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

    let unknown_user = client
        .create_sign_in_token(CreateSignInToken::new("user_nobody"))
        .unwrap_err();
    assert!(unknown_user.is_not_found());
    assert!(unknown_user.has_code("resource_not_found"));
    assert!(unknown_user.trace_id().is_some());
    assert!(matches!(unknown_user.kind(), ErrorKind::Api(_)));

    let unknown_token = client.revoke_sign_in_token("sit_nothing").unwrap_err();
    assert!(unknown_token.is_not_found());

    let bad_org = client
        .create_sign_in_token(CreateSignInToken::new(&user).org_id("org_unknown"))
        .unwrap_err();
    assert_eq!(bad_org.status().map(|s| s.as_u16()), Some(422));
    assert!(bad_org.has_code("form_param_value_invalid"));

    let wrong_key = Client::new(config(&server).clone_with_key("sk_test_wrong")).unwrap();
    let unauthorized = wrong_key
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    assert_eq!(unauthorized.status().map(|s| s.as_u16()), Some(401));
    assert!(unauthorized.has_code("authentication_invalid"));
    assert!(!format!("{unauthorized} {unauthorized:?}").contains("sk_test_wrong"));

    // Refused before sending: nothing reaches the server.
    let before = server.requests().len();
    let invalid = client
        .create_sign_in_token(CreateSignInToken::new(""))
        .unwrap_err();
    assert_eq!(invalid.invalid_argument(), Some("user_id"));
    assert_eq!(invalid.attempts(), 0);
    assert_eq!(server.requests().len(), before);
}

trait WithKey {
    fn clone_with_key(&self, key: &str) -> Config;
}

impl WithKey for Config {
    fn clone_with_key(&self, key: &str) -> Config {
        Config::new(key)
            .unwrap()
            .with_base_url(self.base_url())
            .unwrap()
            .with_retry_policy(self.retry_policy().clone())
    }
}

#[test]
fn rate_limit_waits_for_retry_after() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);
    server.push_fault(Fault::RateLimited {
        retry_after: "1".into(),
    });

    let started = Instant::now();
    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap();
    let took = started.elapsed();
    assert_eq!(token.user_id, user);
    assert_eq!(server.requests().len(), 2);
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn retry_after_beyond_the_cap_ends_the_call() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);
    server.push_fault(Fault::RateLimited {
        retry_after: "3600".into(),
    });

    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    assert!(error.is_rate_limited());
    assert_eq!(error.attempts(), 1);
    assert!(error.retry_after().is_some());
}

#[test]
fn a_delayed_reply_times_out() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = Client::new(config(&server).with_timeout(Duration::from_millis(300))).unwrap();
    server.push_fault(Fault::Delay {
        delay: Duration::from_secs(3),
    });

    let started = Instant::now();
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    let took = started.elapsed();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(
        transport(&error),
        (TransportErrorKind::Timeout, Delivery::MaybeSent)
    );
    // A create that may have happened is not repeated.
    assert_eq!(error.attempts(), 1);
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert!(
        error.source().and_then(|s| s.source()).is_some(),
        "ureq's error is kept"
    );
}

#[test]
fn a_slow_drip_times_out() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = Client::new(config(&server).with_timeout(Duration::from_millis(400))).unwrap();
    server.push_fault(Fault::SlowDrip {
        interval: Duration::from_millis(50),
    });

    let started = Instant::now();
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    let took = started.elapsed();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(error.attempts(), 1);
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn revoke_is_retried_after_a_timeout() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);
    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap();

    let impatient = Client::new(config(&server).with_timeout(Duration::from_millis(200))).unwrap();
    server.push_fault(Fault::Delay {
        delay: Duration::from_millis(600),
    });
    // The first attempt revoked the token but its reply came too late; the
    // retry finds it revoked already.
    let error = impatient.revoke_sign_in_token(&token.id).unwrap_err();
    assert_eq!(error.attempts(), 2);
    assert!(
        error.has_code("sign_in_token_cannot_be_revoked_code"),
        "{error}"
    );
}

#[test]
fn body_cap() {
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

    // Far over: stops reading at the cap instead of taking it all in.
    server.push_fault(Fault::Oversized {
        bytes: 512 * 1024 * 1024,
    });
    let started = Instant::now();
    let huge = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    assert_eq!(transport(&huge).0, TransportErrorKind::BodyTooLarge);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn redirects_are_not_followed() {
    let server = MockServer::start();
    let elsewhere = MockServer::start();
    let user = server.create_user();
    let client = client(&server);
    server.push_fault(Fault::Redirect {
        status: 307,
        location: format!("{}/sign_in_tokens", elsewhere.base_url()),
    });

    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::UnexpectedResponse(_)),
        "{error:?}"
    );
    assert_eq!(error.status().map(|s| s.as_u16()), Some(307));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(elsewhere.requests().len(), 0);
    assert_eq!(elsewhere.connections_accepted(), 0);
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
fn reset_mid_body_is_maybe_sent() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

    server.push_fault(Fault::ResetMidBody);
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    assert_eq!(transport(&error).1, Delivery::MaybeSent, "{error:?}");
    assert_eq!(error.attempts(), 1);
    // The create happened although the reply was lost.
    assert_eq!(server.tokens().len(), 1);

    // A revoke is repeated after the same failure.
    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap();
    server.push_fault(Fault::ResetMidBody);
    let error = client.revoke_sign_in_token(&token.id).unwrap_err();
    assert_eq!(error.attempts(), 2);
}

#[test]
fn unexpected_replies() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

    server.push_fault(Fault::Html502);
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::UnexpectedResponse(_)));
    assert_eq!(error.attempts(), 1);

    server.push_fault(Fault::TruncatedJson);
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Decode(_)), "{error:?}");

    server.push_fault(Fault::ServiceUnavailable {
        retry_after: Some("0".into()),
    });
    assert!(
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .is_ok()
    );
}

#[test]
fn concurrent_calls_share_connections() {
    const THREADS: usize = 32;
    const CALLS: usize = 4;
    let server = MockServer::start();
    let user = server.create_user();
    let client = Arc::new(client(&server));

    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let client = Arc::clone(&client);
            let user = user.clone();
            std::thread::spawn(move || {
                for _ in 0..CALLS {
                    let token = client
                        .create_sign_in_token(CreateSignInToken::new(&user))
                        .unwrap();
                    client.revoke_sign_in_token(&token.id).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let calls = THREADS * CALLS * 2;
    let connections = server.connections_accepted();
    assert_eq!(server.requests().len(), calls);
    eprintln!("{calls} calls from {THREADS} threads over {connections} connections");
    assert!(
        connections <= 2 * THREADS,
        "{connections} connections for {calls} calls"
    );
}

fn tls_config(addr: std::net::SocketAddr) -> Config {
    Config::new("sk_test_x")
        .unwrap()
        .with_base_url(&format!("https://127.0.0.1:{}/v1", addr.port()))
        .unwrap()
        .with_retry_policy(RetryPolicy::never())
}

#[test]
fn certificates_are_verified() {
    let addr = tls::start();
    let error = Client::new(tls_config(addr))
        .unwrap()
        .create_sign_in_token(CreateSignInToken::new("user_1"))
        .unwrap_err();
    assert_eq!(
        transport(&error),
        (TransportErrorKind::Tls, Delivery::NotSent),
        "{error:?}"
    );
}

#[test]
fn a_callers_agent_may_trust_another_root() {
    use clerk_ureq::ureq::tls::{Certificate, RootCerts, TlsConfig};
    let addr = tls::start();
    let root = Certificate::from_pem(tls::CERT_PEM).unwrap();
    let agent = clerk_ureq::ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&[root]))
                .build(),
        )
        .build()
        .new_agent();
    let error = Client::with_agent(tls_config(addr), agent)
        .unwrap()
        .create_sign_in_token(CreateSignInToken::new("user_1"))
        .unwrap_err();
    assert!(error.is_not_found(), "{error:?}");
    assert_eq!(error.trace_id(), Some("tls0"));
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
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_name_attempts_and_never_credentials() {
        let server = MockServer::start();
        let user = server.create_user();
        let client = client(&server);
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let token = tracing::subscriber::with_default(subscriber, || {
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
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
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
