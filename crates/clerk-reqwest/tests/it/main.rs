//! clerk-reqwest against clerk-mock: every error class, the faults, timeouts,
//! retries, redirects, the body cap and connection reuse.

mod scenarios;
mod tls;

use std::error::Error as _;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clerk_mock::{Fault, MockServer};
use clerk_reqwest::clerk_core::{Delivery, TransportErrorKind};
use clerk_reqwest::{
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

#[tokio::test]
async fn create_sends_what_the_core_built() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
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
        Some(clerk_reqwest::clerk_core::DEFAULT_API_VERSION)
    );
    let agent = sent.header_str("user-agent").unwrap();
    assert!(
        agent.starts_with("clerk-core/") && agent.contains(" clerk-reqwest/"),
        "{agent}"
    );
    assert_eq!(sent.header("accept-encoding"), None);
    let auth: Vec<_> = sent
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .collect();
    assert_eq!(auth.len(), 1);
}

#[tokio::test]
async fn create_with_every_optional_field() {
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
        .await
        .unwrap();
    let info = server.token(&token.id).unwrap();
    assert_eq!(info.expires_at - info.created_at, 600_000);
    let body = server.requests()[0].json().unwrap();
    assert_eq!(body["expires_in_seconds"], 600);
    assert_eq!(body["org_id"], "org_1");
}

#[tokio::test]
async fn revoke_lifecycle() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap();
    let revoked = client.revoke_sign_in_token(&token.id).await.unwrap();
    assert_eq!(revoked.id, token.id);
    assert_eq!(revoked.status, SignInTokenStatus::Revoked);
    assert_eq!(server.token_status(&token.id).as_deref(), Some("revoked"));
    assert_eq!(
        server.requests()[1].path,
        format!("/v1/sign_in_tokens/{}/revoke", token.id)
    );
    assert_eq!(server.requests()[1].header_str("content-length"), Some("0"));

    let again = client.revoke_sign_in_token(&token.id).await.unwrap_err();
    assert_eq!(again.status().map(|s| s.as_u16()), Some(400));
    assert!(
        again.has_code("sign_in_token_cannot_be_revoked_code"),
        "{again}"
    );
    assert_eq!(again.attempts(), 1);
}

#[tokio::test]
async fn typed_api_errors() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

    let unknown_user = client
        .create_sign_in_token(CreateSignInToken::new("user_nobody"))
        .await
        .unwrap_err();
    assert!(unknown_user.is_not_found());
    assert!(unknown_user.has_code("resource_not_found"));
    assert!(unknown_user.trace_id().is_some());
    assert!(matches!(unknown_user.kind(), ErrorKind::Api(_)));

    let unknown_token = client
        .revoke_sign_in_token("sit_nothing")
        .await
        .unwrap_err();
    assert!(unknown_token.is_not_found());

    let bad_org = client
        .create_sign_in_token(CreateSignInToken::new(&user).org_id("org_unknown"))
        .await
        .unwrap_err();
    assert_eq!(bad_org.status().map(|s| s.as_u16()), Some(422));
    assert!(bad_org.has_code("form_param_value_invalid"));

    let wrong_key = Config::new("sk_test_wrong")
        .unwrap()
        .with_base_url(&server.base_url())
        .unwrap();
    let unauthorized = Client::new(wrong_key)
        .unwrap()
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert_eq!(unauthorized.status().map(|s| s.as_u16()), Some(401));
    assert!(unauthorized.has_code("authentication_invalid"));
    assert!(!format!("{unauthorized} {unauthorized:?}").contains("sk_test_wrong"));

    let before = server.requests().len();
    let invalid = client
        .create_sign_in_token(CreateSignInToken::new(""))
        .await
        .unwrap_err();
    assert_eq!(invalid.invalid_argument(), Some("user_id"));
    assert_eq!(invalid.attempts(), 0);
    assert_eq!(server.requests().len(), before);
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);
    server.push_fault(Fault::RateLimited {
        retry_after: "1".into(),
    });

    let started = Instant::now();
    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(token.user_id, user);
    assert_eq!(server.requests().len(), 2);
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn retry_after_beyond_the_cap_ends_the_call() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);
    server.push_fault(Fault::RateLimited {
        retry_after: "3600".into(),
    });

    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert!(error.is_rate_limited());
    assert_eq!(error.attempts(), 1);
    assert!(error.retry_after().is_some());
}

#[tokio::test]
async fn a_delayed_reply_times_out() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = Client::new(config(&server).with_timeout(Duration::from_millis(300))).unwrap();
    server.push_fault(Fault::Delay {
        delay: Duration::from_secs(3),
    });

    let started = Instant::now();
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(
        transport(&error),
        (TransportErrorKind::Timeout, Delivery::MaybeSent)
    );
    assert_eq!(error.attempts(), 1);
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let source = error
        .source()
        .and_then(|s| s.source())
        .expect("reqwest's error is kept");
    assert!(
        source
            .downcast_ref::<clerk_reqwest::reqwest::Error>()
            .is_some()
    );
    // The reqwest error was stripped of its URL.
    assert!(
        !format!("{source} {source:?}").contains("127.0.0.1"),
        "{source:?}"
    );
}

#[tokio::test]
async fn a_slow_drip_times_out() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = Client::new(config(&server).with_timeout(Duration::from_millis(400))).unwrap();
    server.push_fault(Fault::SlowDrip {
        interval: Duration::from_millis(50),
    });

    let started = Instant::now();
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(error.attempts(), 1);
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[tokio::test]
async fn revoke_is_retried_after_a_timeout() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);
    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap();

    let impatient = Client::new(config(&server).with_timeout(Duration::from_millis(200))).unwrap();
    server.push_fault(Fault::Delay {
        delay: Duration::from_millis(600),
    });
    let error = impatient.revoke_sign_in_token(&token.id).await.unwrap_err();
    assert_eq!(error.attempts(), 2);
    assert!(
        error.has_code("sign_in_token_cannot_be_revoked_code"),
        "{error}"
    );
}

#[tokio::test]
async fn body_cap() {
    let server = MockServer::start();
    let client = Client::new(config(&server).with_max_body_bytes(1024)).unwrap();
    let user = server.create_user();

    server.push_fault(Fault::Oversized { bytes: 1024 });
    let at_cap = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert!(matches!(at_cap.kind(), ErrorKind::Decode(_)), "{at_cap:?}");

    server.push_fault(Fault::Oversized { bytes: 1025 });
    let over = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert_eq!(
        transport(&over),
        (TransportErrorKind::BodyTooLarge, Delivery::MaybeSent)
    );
    assert_eq!(over.attempts(), 1);

    server.push_fault(Fault::Oversized {
        bytes: 512 * 1024 * 1024,
    });
    let started = Instant::now();
    let huge = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert_eq!(transport(&huge).0, TransportErrorKind::BodyTooLarge);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn redirects_are_not_followed() {
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
        .await
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

/// A caller's client with reqwest's default redirect policy.
fn following_client() -> clerk_reqwest::reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    clerk_reqwest::reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_callers_client_that_follows_redirects_is_caught() {
    let server = MockServer::start();
    let elsewhere = MockServer::start();
    let user = server.create_user();
    let client = Client::with_client(config(&server), following_client()).unwrap();

    let not_found = client
        .create_sign_in_token(CreateSignInToken::new("user_nobody"))
        .await
        .unwrap_err();
    assert!(not_found.is_not_found(), "{not_found:?}");

    server.push_fault(Fault::Redirect {
        status: 307,
        location: format!("{}/sign_in_tokens", elsewhere.base_url()),
    });
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert_eq!(
        transport(&error),
        (TransportErrorKind::Other, Delivery::MaybeSent),
        "{error:?}"
    );
    assert_eq!(error.attempts(), 1);
    // reqwest followed it, but dropped the key on the way to another host.
    let followed = elsewhere.requests();
    assert_eq!(followed.len(), 1);
    assert_eq!(followed[0].header("authorization"), None);

    // The per-request timeout of the Config applies to the caller's client.
    let impatient = Client::with_client(
        config(&server).with_timeout(Duration::from_millis(200)),
        following_client(),
    )
    .unwrap();
    server.push_fault(Fault::Delay {
        delay: Duration::from_secs(2),
    });
    let started = Instant::now();
    assert!(
        impatient
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap_err()
            .is_timeout()
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn connection_refused_is_not_sent_and_retried() {
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
        .await
        .unwrap_err();
    assert_eq!(
        transport(&error),
        (TransportErrorKind::Connect, Delivery::NotSent)
    );
    assert_eq!(error.attempts(), 3);
}

#[tokio::test]
async fn unknown_host_is_not_sent() {
    let config = Config::new("sk_test_x")
        .unwrap()
        .with_base_url("http://clerk-reqwest-test.invalid/v1")
        .unwrap()
        .with_retry_policy(RetryPolicy::never());
    let error = Client::new(config)
        .unwrap()
        .create_sign_in_token(CreateSignInToken::new("user_1"))
        .await
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

#[tokio::test]
async fn reset_mid_body_is_maybe_sent() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

    server.push_fault(Fault::ResetMidBody);
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert_eq!(transport(&error).1, Delivery::MaybeSent, "{error:?}");
    assert_eq!(error.attempts(), 1);
    assert_eq!(server.tokens().len(), 1);

    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap();
    server.push_fault(Fault::ResetMidBody);
    let error = client.revoke_sign_in_token(&token.id).await.unwrap_err();
    assert_eq!(error.attempts(), 2);
}

#[tokio::test]
async fn unexpected_replies() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

    server.push_fault(Fault::Html502);
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::UnexpectedResponse(_)));
    assert_eq!(error.attempts(), 1);

    server.push_fault(Fault::TruncatedJson);
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Decode(_)), "{error:?}");

    server.push_fault(Fault::Raw {
        bytes: b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n".to_vec(),
    });
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert_eq!(
        transport(&error),
        (TransportErrorKind::Protocol, Delivery::MaybeSent),
        "{error:?}"
    );

    server.push_fault(Fault::ServiceUnavailable {
        retry_after: Some("0".into()),
    });
    assert!(
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_share_connections() {
    const TASKS: usize = 32;
    const CALLS: usize = 4;
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let client = client.clone();
            let user = user.clone();
            tokio::spawn(async move {
                for _ in 0..CALLS {
                    let token = client
                        .create_sign_in_token(CreateSignInToken::new(&user))
                        .await
                        .unwrap();
                    client.revoke_sign_in_token(&token.id).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let calls = TASKS * CALLS * 2;
    let connections = server.connections_accepted();
    assert_eq!(server.requests().len(), calls);
    eprintln!("{calls} calls from {TASKS} tasks over {connections} connections");
    assert!(
        connections <= 2 * TASKS,
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

#[tokio::test]
async fn certificates_are_verified() {
    let addr = tls::start();
    let error = Client::new(tls_config(addr))
        .unwrap()
        .create_sign_in_token(CreateSignInToken::new("user_1"))
        .await
        .unwrap_err();
    assert_eq!(
        transport(&error),
        (TransportErrorKind::Tls, Delivery::NotSent),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_callers_client_may_trust_another_root() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let addr = tls::start();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(tls::CERT_PEM).unwrap())
        .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let http = clerk_reqwest::reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(clerk_reqwest::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let error = Client::with_client(tls_config(addr), http)
        .unwrap()
        .create_sign_in_token(CreateSignInToken::new("user_1"))
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error:?}");
    assert_eq!(error.trace_id(), Some("tls0"));
}

#[test]
fn usable_from_a_plain_fn() {
    let server = MockServer::start();
    let user = server.create_user();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = client(&server);
    let token = runtime
        .block_on(client.create_sign_in_token(CreateSignInToken::new(&user)))
        .unwrap();
    assert_eq!(token.user_id, user);
}

#[test]
fn debug_shows_no_key() {
    let client = Client::new(Config::new("sk_test_very_secret").unwrap()).unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains("very_secret"), "{shown}");
    assert!(shown.contains("clerk-reqwest/"));
}

#[cfg(feature = "tracing")]
mod tracing_output {
    use std::io::Write;
    use std::sync::Mutex;

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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let token = tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                server.push_fault(Fault::RateLimited {
                    retry_after: "0".into(),
                });
                let token = client
                    .create_sign_in_token(CreateSignInToken::new(&user))
                    .await
                    .unwrap();
                client.revoke_sign_in_token(&token.id).await.unwrap();
                let _ = client.revoke_sign_in_token(&token.id).await;
                token
            })
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
