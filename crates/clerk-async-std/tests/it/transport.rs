//! Transport failures and limits: timeouts, body cap, broken replies, refused
//! connections, and the Delivery each one reports.

use std::error::Error as _;
use std::time::{Duration, Instant};

use clerk_async_std::clerk_core::{Delivery, TransportErrorKind};
use clerk_async_std::{Client, Config, CreateSignInToken, Error, ErrorKind, RetryPolicy};
use clerk_mock::{Fault, MockServer};

use crate::{client_for, config_for, fast_retries, on_both_runtimes};

fn transport(err: &Error) -> (TransportErrorKind, Delivery) {
    match err.kind() {
        ErrorKind::Transport(t) => (t.kind, t.delivery),
        other => panic!("not a transport error: {other:?}"),
    }
}

#[test]
fn a_delayed_reply_times_out_within_the_attempt_timeout() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let user = server.create_user();
        let client =
            Client::new(config_for(&server).with_timeout(Duration::from_millis(300))).unwrap();
        server.push_fault(Fault::Delay {
            delay: Duration::from_secs(3),
        });

        let started = Instant::now();
        let err = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(
            transport(&err),
            (TransportErrorKind::Timeout, Delivery::MaybeSent)
        );
        // The server did act on it: a create is not repeated after a timeout.
        assert_eq!(err.attempts(), 1);
        assert_eq!(server.requests().len(), 1);
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(1500),
            "took {took:?}"
        );
    });
}

#[test]
fn a_slow_drip_times_out_mid_body() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let config = config_for(&server)
            .with_timeout(Duration::from_millis(400))
            .with_retry_policy(RetryPolicy::never());
        let client = Client::new(config).unwrap();
        // The head comes at once, then a byte every 50 ms: a ~400-byte body
        // would take ~20 s.
        server.push_fault(Fault::SlowDrip {
            interval: Duration::from_millis(50),
        });

        let started = Instant::now();
        let err = client
            .revoke_sign_in_token("sit_whatever")
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(err.is_timeout(), "{err:?}");
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_millis(1500),
            "took {took:?}"
        );
    });
}

#[test]
fn timed_out_revoke_is_retried() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let user = server.create_user();
        let client = client_for(&server);
        let token = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap();

        let client =
            Client::new(config_for(&server).with_timeout(Duration::from_millis(300))).unwrap();
        server.push_fault(Fault::Delay {
            delay: Duration::from_secs(2),
        });
        // The first attempt revokes it but its reply is late; the retry finds
        // it revoked already.
        let err = client.revoke_sign_in_token(&token.id).await.unwrap_err();
        assert!(
            err.has_code("sign_in_token_cannot_be_revoked_code"),
            "{err:?}"
        );
        assert_eq!(err.attempts(), 2);
    });
}

#[test]
fn an_oversized_body_is_cut_off_at_the_cap() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let cap = 64 * 1024;
        let client = Client::new(config_for(&server).with_max_body_bytes(cap)).unwrap();

        server.push_fault(Fault::Oversized { bytes: 50 * cap });
        let started = Instant::now();
        let err = client
            .create_sign_in_token(CreateSignInToken::new("user_x"))
            .await
            .unwrap_err();
        assert_eq!(
            transport(&err),
            (TransportErrorKind::BodyTooLarge, Delivery::MaybeSent)
        );
        assert_eq!(err.attempts(), 1);
        assert!(started.elapsed() < Duration::from_secs(3));

        // Exactly at the cap is fine (and then not a sign-in token).
        server.push_fault(Fault::Oversized { bytes: cap });
        let err = client
            .create_sign_in_token(CreateSignInToken::new("user_x"))
            .await
            .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Decode(_)), "{err:?}");
        server.push_fault(Fault::Oversized { bytes: cap + 1 });
        let err = client
            .create_sign_in_token(CreateSignInToken::new("user_x"))
            .await
            .unwrap_err();
        assert_eq!(
            transport(&err),
            (TransportErrorKind::BodyTooLarge, Delivery::MaybeSent)
        );
        assert_eq!(err.attempts(), 1);
    });
}

#[test]
fn a_connection_cut_mid_body_is_an_io_error_maybe_sent() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let user = server.create_user();
        let client = client_for(&server);
        server.push_fault(Fault::ResetMidBody);

        let err = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap_err();
        assert_eq!(
            transport(&err),
            (TransportErrorKind::Io, Delivery::MaybeSent)
        );
        assert_eq!(err.attempts(), 1);
        // The token was created, and the client did not create a second one.
        assert_eq!(server.tokens().len(), 1);
        // The library's error is kept as the source.
        assert!(err.source().and_then(|t| t.source()).is_some());
    });
}

#[test]
fn a_reply_that_is_not_http_is_a_protocol_error() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let client = client_for(&server);
        server.push_fault(Fault::Raw {
            bytes: b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec(),
        });
        let err = client
            .create_sign_in_token(CreateSignInToken::new("user_x"))
            .await
            .unwrap_err();
        assert_eq!(
            transport(&err),
            (TransportErrorKind::Protocol, Delivery::MaybeSent)
        );
        assert_eq!(err.attempts(), 1);
    });
}

#[test]
fn a_refused_connection_is_not_sent_and_create_is_retried() {
    on_both_runtimes(|| async {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = Config::new("sk_test_x")
            .unwrap()
            .with_base_url(&format!("http://127.0.0.1:{port}/v1"))
            .unwrap()
            .with_retry_policy(fast_retries());
        let client = Client::new(config).unwrap();

        let started = Instant::now();
        let err = client
            .create_sign_in_token(CreateSignInToken::new("user_x"))
            .await
            .unwrap_err();
        assert_eq!(
            transport(&err),
            (TransportErrorKind::Connect, Delivery::NotSent)
        );
        assert_eq!(err.attempts(), 3);
        assert!(started.elapsed() < Duration::from_secs(2));
        // The socket's error is at the end of the chain.
        let mut source = err.source();
        let mut io = None;
        while let Some(e) = source {
            io = e.downcast_ref::<std::io::Error>().or(io);
            source = e.source();
        }
        assert_eq!(
            io.map(|e| e.kind()),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
    });
}
