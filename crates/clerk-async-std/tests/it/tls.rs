//! HTTPS: rustls over async-std sockets, against the shared self-signed
//! server (`clerk_scenarios::tls`). The table checks that an untrusted
//! certificate is refused and a trusted one accepted; here, what is this
//! adapter's own: the ALPN and SNI it sends with a caller's rustls config,
//! rustls' error kept whole, and a handshake that never ends.

use std::error::Error as _;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use clerk_async_std::clerk_core::{Delivery, TransportErrorKind};
use clerk_async_std::{Client, Config, CreateSignInToken, ErrorKind, RetryPolicy};
use clerk_scenarios::tls::{SelfSignedServer, client_config_trusting};

use crate::{fast_retries, on_both_runtimes};

fn config(base_url: &str) -> Config {
    Config::new("sk_test_tls")
        .unwrap()
        .with_base_url(base_url)
        .unwrap()
        .with_retry_policy(fast_retries())
        .with_connect_timeout(Duration::from_secs(3))
}

#[test]
fn alpn_and_sni_with_a_caller_trusted_certificate() {
    on_both_runtimes(|| async {
        for host in ["localhost", "127.0.0.1"] {
            let server = SelfSignedServer::start();
            let base_url = format!("https://{host}:{}/v1", server.addr().port());
            let tls = client_config_trusting(server.certificate_der());
            assert!(tls.alpn_protocols.is_empty());
            let client = Client::with_tls_config(config(&base_url), tls).unwrap();

            let token = client
                .create_sign_in_token(CreateSignInToken::new("user_tls"))
                .await
                .unwrap();
            assert_eq!(token.id, "sit_tls");

            let seen = server.wait_for(1).remove(0);
            // ALPN is forced to http/1.1 even though the caller's config had none.
            assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
            // SNI carries a DNS name, never an IP address.
            let want = (host == "localhost").then(|| host.to_owned());
            assert_eq!(seen.server_name, want);
        }
    });
}

#[test]
fn an_untrusted_certificate_keeps_rustls_error() {
    on_both_runtimes(|| async {
        let server = SelfSignedServer::start();
        // The default client trusts only webpki's roots.
        let config = config(&format!("https://localhost:{}/v1", server.addr().port()))
            .with_retry_policy(RetryPolicy::never());
        let err = Client::new(config)
            .unwrap()
            .create_sign_in_token(CreateSignInToken::new("user_tls"))
            .await
            .unwrap_err();
        let mut source = err.source();
        let mut rustls_error = None;
        while let Some(e) = source {
            rustls_error = e.downcast_ref::<rustls::Error>().or(rustls_error);
            source = e.source();
        }
        assert!(
            matches!(rustls_error, Some(rustls::Error::InvalidCertificate(_))),
            "{err:?}"
        );
    });
}

#[test]
fn a_stalled_handshake_hits_the_connect_timeout_not_sent() {
    on_both_runtimes(|| async {
        // The kernel completes the TCP handshake, but nobody ever answers
        // the TLS ClientHello.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = config(&format!("https://127.0.0.1:{port}/v1"))
            .with_connect_timeout(Duration::from_millis(200))
            .with_retry_policy(fast_retries().with_max_attempts(2));
        let client = Client::new(config).unwrap();

        let started = Instant::now();
        let err = client
            .create_sign_in_token(CreateSignInToken::new("user_tls"))
            .await
            .unwrap_err();
        let took = started.elapsed();
        let ErrorKind::Transport(t) = err.kind() else {
            panic!("{err:?}");
        };
        assert_eq!(
            (t.kind, t.delivery),
            (TransportErrorKind::Timeout, Delivery::NotSent)
        );
        assert!(err.is_timeout());
        assert_eq!(err.attempts(), 2);
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_secs(2),
            "took {took:?}"
        );
        drop(listener);
    });
}

#[test]
fn the_default_tls_config_is_built() {
    // The ring provider and webpki roots; nothing to fetch at run time.
    let client = Client::new(Config::new("sk_test_x").unwrap()).unwrap();
    assert_eq!(client.config().base_url(), "https://api.clerk.com/v1");
}
