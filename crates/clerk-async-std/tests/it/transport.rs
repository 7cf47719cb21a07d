//! Transport failures the shared table does not cover: the body cap's edge,
//! a reply that is not HTTP, a refused connection, a connection that never
//! opens, and the Delivery each one reports. (One closed before the
//! request was written: `tests/blocked.rs`.)

use std::error::Error as _;
use std::time::{Duration, Instant};

use clerk_async_std::clerk_core::{Delivery, TransportErrorKind};
use clerk_async_std::{Client, Config, CreateSignInToken, Error, ErrorKind};
use clerk_mock::{Fault, MockServer};

use crate::{blackhole, client_for, config_for, fast_retries, on_both_runtimes};

fn transport(err: &Error) -> (TransportErrorKind, Delivery) {
    match err.kind() {
        ErrorKind::Transport(t) => (t.kind, t.delivery),
        other => panic!("not a transport error: {other:?}"),
    }
}

/// The cap's edge: a body of exactly the cap is read whole, one byte more
/// is not. (The table checks a body far over the cap.)
#[test]
fn body_exactly_at_the_cap() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let cap = 64 * 1024;
        let client = Client::new(config_for(&server).with_max_body_bytes(cap)).unwrap();

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

/// The attempt's deadline passes while the connection is still being
/// opened (the server never answers the SYN): nothing was written, so the
/// attempt is `NotSent` and a create is retried.
#[test]
fn a_deadline_while_connecting_is_not_sent_and_create_is_retried() {
    on_both_runtimes(|| async {
        let hole = blackhole();
        let config = Config::new("sk_test_x")
            .unwrap()
            .with_base_url(&format!("http://{}/v1", hole.addr()))
            .unwrap()
            .with_retry_policy(fast_retries())
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_millis(200));
        let client = Client::new(config).unwrap();
        let err = client
            .create_sign_in_token(CreateSignInToken::new("user_x"))
            .await
            .unwrap_err();
        assert_eq!(
            transport(&err),
            (TransportErrorKind::Timeout, Delivery::NotSent)
        );
        assert_eq!(err.attempts(), 3);
    });
}
