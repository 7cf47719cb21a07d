//! clerk-reqwest's tests, one binary: the shared scenario table
//! (`scenarios`), and what only this adapter has: a caller's own reqwest
//! client, the errors of a connection that never opened and of a reply that
//! is not HTTP, the body cap's edge, a plain `fn` with its own runtime,
//! `Debug`, and the `tracing` output.

mod callers_client;
mod scenarios;

use std::error::Error as _;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use callers_client::following_client;
use clerk_mock::{Fault, MockServer};
use clerk_reqwest::clerk_core::{Delivery, TransportErrorKind};
use clerk_reqwest::{Client, Config, CreateSignInToken, Error, ErrorKind, RetryPolicy};

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

fn client(server: &MockServer) -> Client {
    Client::new(config(server)).unwrap()
}

pub(crate) fn transport(error: &Error) -> (TransportErrorKind, Delivery) {
    match error.kind() {
        ErrorKind::Transport(t) => (t.kind, t.delivery),
        other => panic!("not a transport error: {other:?}"),
    }
}

/// The cap's edge: a body of exactly the cap is read whole, one byte more
/// is not. (The table checks a body far over the cap.)
#[tokio::test]
async fn body_exactly_at_the_cap() {
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
}

/// A caller's client that follows redirects: a 307 to another host is not
/// followed (the body cannot be replayed); a 303 is, with a GET and without
/// the key, and what the other host says is not taken for Clerk's answer.
#[tokio::test]
async fn a_callers_client_that_follows_redirects_is_caught() {
    let server = MockServer::start();
    let elsewhere = MockServer::start();
    let user = server.create_user();
    let client = Client::with_http_client(config(&server), following_client()).unwrap();

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
    assert_eq!(error.status().map(|s| s.as_u16()), Some(307), "{error:?}");
    assert_eq!(error.attempts(), 1);
    assert!(elsewhere.requests().is_empty());

    server.push_fault(Fault::Redirect {
        status: 303,
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
    assert_eq!(followed[0].method, "GET");
    assert_eq!(followed[0].header("authorization"), None);
    assert!(server.tokens().is_empty());

    // The per-request timeout of the Config applies to the caller's client.
    let impatient = Client::with_http_client(
        config(&server).with_timeout(Duration::from_millis(200)),
        following_client(),
    )
    .unwrap();
    server.push_fault(Fault::Delay {
        delay: Duration::from_secs(2),
    });
    let started = Instant::now();
    let error = impatient
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // reqwest's own error is kept, stripped of its URL.
    let source = error.source().expect("reqwest's error is kept");
    assert!(
        source
            .downcast_ref::<clerk_reqwest::reqwest::Error>()
            .is_some()
    );
    assert!(
        !format!("{source} {source:?}").contains("127.0.0.1"),
        "{source:?}"
    );
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
async fn a_malformed_reply_is_a_protocol_error() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client(&server);

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
    assert_eq!(error.attempts(), 1);
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
    use super::*;

    #[test]
    fn events_name_attempts_and_never_credentials() {
        let server = MockServer::start();
        let user = server.create_user();
        let client = client(&server);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (token, text) = clerk_scenarios::capture_traces(|| {
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
