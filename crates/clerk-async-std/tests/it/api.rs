//! Clerk's answers, through the adapter: values, typed errors, retries.

use std::time::{Duration, Instant};

use clerk_async_std::{Client, Config, CreateSignInToken, ErrorKind, SignInTokenStatus};
use clerk_mock::{Fault, MockServer};

use crate::{client_for, config_for, on_both_runtimes};

#[test]
fn create_sends_exactly_what_the_core_built() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let user = server.create_user();
        let client = client_for(&server);

        let token = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap();
        assert_eq!(token.user_id, user);
        assert_eq!(token.status, SignInTokenStatus::Pending);
        assert!(token.id.starts_with("sit_"));
        assert!(token.token.is_some() && token.url.is_some());

        let sent = &server.requests()[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.path, "/v1/sign_in_tokens");
        assert_eq!(sent.body, format!(r#"{{"user_id":"{user}"}}"#).into_bytes());
        assert_eq!(
            sent.header_str("authorization"),
            Some(format!("Bearer {}", server.secret_key()).as_str())
        );
        assert_eq!(sent.header_str("content-type"), Some("application/json"));
        assert_eq!(sent.header_str("accept"), Some("application/json"));
        assert_eq!(sent.header_str("clerk-api-version"), Some("2026-05-12"));
        let agent = sent.header_str("user-agent").unwrap();
        assert!(agent.starts_with("clerk-core/"), "{agent}");
        assert!(
            agent.ends_with(concat!(" clerk-async-std/", env!("CARGO_PKG_VERSION"))),
            "{agent}"
        );
        assert!(sent.header("host").is_some());
        // Nothing that changes semantics is added: no compression, no redirects.
        assert!(sent.header("accept-encoding").is_none());
        let names: Vec<String> = sent
            .headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        for name in &names {
            assert!(
                [
                    "authorization",
                    "clerk-api-version",
                    "user-agent",
                    "accept",
                    "content-type",
                    "content-length",
                    "host"
                ]
                .contains(&name.as_str()),
                "unexpected header {name}"
            );
        }
    });
}

#[test]
fn create_with_optional_fields() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let user = server.create_user();
        server.add_organization("org_1", &[&user]);
        let client = client_for(&server);

        let token = client
            .create_sign_in_token(
                CreateSignInToken::new(&user)
                    .expires_in_seconds(600)
                    .org_id("org_1"),
            )
            .await
            .unwrap();
        let info = server.token(&token.id).unwrap();
        assert_eq!(info.org_id.as_deref(), Some("org_1"));
        assert_eq!(info.expires_at - info.created_at, 600_000);
        assert_eq!(
            server.requests()[0].json().unwrap(),
            clerk_mock::serde_json::json!({"user_id": user, "expires_in_seconds": 600, "org_id": "org_1"})
        );
    });
}

#[test]
fn revoke_lifecycle() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let user = server.create_user();
        let client = client_for(&server);

        let token = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap();
        let revoked = client.revoke_sign_in_token(&token.id).await.unwrap();
        assert_eq!(revoked.id, token.id);
        assert_eq!(revoked.status, SignInTokenStatus::Revoked);
        assert!(revoked.token.is_none());
        assert_eq!(server.token_status(&token.id).as_deref(), Some("revoked"));

        // Not pending any more: Clerk's 400, not retried.
        let err = client.revoke_sign_in_token(&token.id).await.unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
        assert!(err.has_code("sign_in_token_cannot_be_revoked_code"));
        assert_eq!(err.attempts(), 1);
        assert!(err.trace_id().is_some());
    });
}

#[test]
fn typed_errors_404_422_401() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let client = client_for(&server);

        let err = client
            .create_sign_in_token(CreateSignInToken::new("user_missing"))
            .await
            .unwrap_err();
        assert!(err.is_not_found());
        assert!(err.has_code("resource_not_found"));
        assert!(matches!(err.kind(), ErrorKind::Api(_)));
        assert!(err.trace_id().is_some());
        assert_eq!(err.attempts(), 1);

        let user = server.create_user();
        let err = client
            .create_sign_in_token(CreateSignInToken::new(&user).org_id("org_nope"))
            .await
            .unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(422));
        assert!(err.has_code("form_param_value_invalid"));
        assert_eq!(err.clerk_errors()[0].param_name(), Some("org_id"));

        let wrong_key = Config::new("sk_test_wrong")
            .unwrap()
            .with_base_url(&server.base_url())
            .unwrap();
        let err = Client::new(wrong_key)
            .unwrap()
            .revoke_sign_in_token("sit_1")
            .await
            .unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
        assert!(err.has_code("authentication_invalid"));
        assert_eq!(err.attempts(), 1);
        assert!(!format!("{err:?} {err}").contains("sk_test_wrong"));
    });
}

#[test]
fn invalid_request_sends_nothing() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let client = client_for(&server);
        let err = client
            .create_sign_in_token(CreateSignInToken::new(""))
            .await
            .unwrap_err();
        assert_eq!(err.invalid_argument(), Some("user_id"));
        assert_eq!(err.attempts(), 0);
        let err = client.revoke_sign_in_token("..").await.unwrap_err();
        assert_eq!(err.invalid_argument(), Some("sign_in_token_id"));
        assert!(server.requests().is_empty());
        assert_eq!(server.connections_accepted(), 0);
    });
}

#[test]
fn rate_limit_waits_for_retry_after_then_succeeds() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let user = server.create_user();
        let client = client_for(&server);
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
        assert!(took >= Duration::from_secs(1), "waited only {took:?}");
        assert!(took < Duration::from_secs(4), "took {took:?}");
        assert_eq!(server.requests().len(), 2);
        assert_eq!(server.tokens().len(), 1);
    });
}

#[test]
fn retry_after_beyond_the_cap_ends_the_call_at_once() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let client = client_for(&server);
        server.push_fault(Fault::RateLimited {
            retry_after: "3600".into(),
        });
        let started = Instant::now();
        let err = client.revoke_sign_in_token("sit_1").await.unwrap_err();
        assert!(err.is_rate_limited());
        assert_eq!(
            err.retry_after(),
            Some(clerk_async_std::clerk_core::RetryAfter::Delay(
                Duration::from_secs(3600)
            ))
        );
        assert_eq!(err.attempts(), 1);
        assert!(started.elapsed() < Duration::from_secs(2));
    });
}

#[test]
fn server_errors_retry_revoke_but_not_create() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let user = server.create_user();
        let client = client_for(&server);

        server.push_fault(Fault::Html502);
        let err = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::UnexpectedResponse(_)));
        assert_eq!(err.attempts(), 1);

        let token = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap();
        server.push_faults(Fault::status(500, "internal_clerk_error", "Oops"), 2);
        let revoked = client.revoke_sign_in_token(&token.id).await.unwrap();
        assert_eq!(revoked.status, SignInTokenStatus::Revoked);
        assert_eq!(server.requests().len(), 5);
    });
}

#[test]
fn redirect_is_not_followed() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let elsewhere = MockServer::start();
        let user = server.create_user();
        let client = client_for(&server);
        server.push_fault(Fault::Redirect {
            status: 307,
            location: format!("{}/sign_in_tokens", elsewhere.base_url()),
        });

        let err = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::UnexpectedResponse(_)),
            "{err:?}"
        );
        assert_eq!(err.status().map(|s| s.as_u16()), Some(307));
        assert_eq!(server.requests().len(), 1);
        assert!(elsewhere.requests().is_empty());
        assert_eq!(elsewhere.connections_accepted(), 0);
    });
}

#[test]
fn all_response_headers_reach_the_core() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let client = client_for(&server);
        let body = "<h1>bad gateway</h1>";
        server.push_fault(Fault::Raw {
            bytes: format!(
                "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nClerk-Trace-Id: trace-from-header\r\n\
                 Retry-After: 7\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        });
        let err = client
            .create_sign_in_token(CreateSignInToken::new("user_x"))
            .await
            .unwrap_err();
        let ErrorKind::UnexpectedResponse(reply) = err.kind() else {
            panic!("{err:?}");
        };
        assert_eq!(reply.trace_id.as_deref(), Some("trace-from-header"));
        assert_eq!(reply.content_type.as_deref(), Some("text/html"));
        assert_eq!(reply.body_len, body.len());
        assert_eq!(reply.excerpt, body);
        assert_eq!(
            err.retry_after(),
            Some(clerk_async_std::clerk_core::RetryAfter::Delay(
                Duration::from_secs(7)
            ))
        );
    });
}

#[test]
fn connections_are_reused_by_concurrent_calls() {
    const TASKS: usize = 32;
    const CALLS: usize = 8;
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let user = server.create_user();
        let client = client_for(&server);

        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let client = client.clone();
                let user = user.clone();
                async_std::task::spawn(async move {
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
            task.await;
        }
        let requests = TASKS * CALLS * 2;
        assert_eq!(server.requests().len(), requests);
        let connections = server.connections_accepted();
        // A connection is back in the pool before its caller sees the reply,
        // so 32 tasks never need more than 32 connections.
        assert!(
            connections <= TASKS,
            "{connections} connections for {requests} requests"
        );

        // A second round finds the pool warm.
        for _ in 0..8 {
            client
                .create_sign_in_token(CreateSignInToken::new(&user))
                .await
                .unwrap();
        }
        assert_eq!(server.connections_accepted(), connections);
    });
}

#[test]
fn config_and_debug() {
    let server = MockServer::start();
    let client = client_for(&server);
    let debug = format!("{client:?}");
    assert!(!debug.contains(server.secret_key()), "{debug}");
    assert!(debug.contains("Client"));
    assert_eq!(client.config().base_url(), server.base_url());
    assert!(
        client
            .config()
            .user_agent()
            .to_str()
            .unwrap()
            .contains("clerk-async-std/")
    );
    let _ = config_for(&server);
}

#[test]
fn sequential_calls_share_one_connection() {
    on_both_runtimes(|| async {
        let server = MockServer::start();
        let user = server.create_user();
        let client = client_for(&server);
        for _ in 0..20 {
            let token = client
                .create_sign_in_token(CreateSignInToken::new(&user))
                .await
                .unwrap();
            client.revoke_sign_in_token(&token.id).await.unwrap();
        }
        assert_eq!(server.connections_accepted(), 1);
    });
}

#[test]
fn a_connection_the_server_closed_while_idle_is_replaced() {
    on_both_runtimes(|| async {
        // The server closes connections idle for 100 ms.
        let server = MockServer::builder()
            .read_timeout(Duration::from_millis(100))
            .start();
        let user = server.create_user();
        let client = client_for(&server);
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap();
        async_std::task::sleep(Duration::from_millis(400)).await;
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap();
        assert_eq!(server.requests().len(), 2);
        assert_eq!(server.connections_accepted(), 2);
    });
}
