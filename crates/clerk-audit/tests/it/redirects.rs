//! Point 2: the `Authorization` header is sensitive, and no adapter follows
//! a redirect, so the key never reaches another host.
//!
//! The other host is a second clerk-mock: if anything followed a redirect
//! to it, it would have accepted a connection and recorded a request.

use clerk_core::{Call, Config, CreateSignInToken, ErrorKind, Operation, RevokeSignInToken};
use clerk_mock::{Fault, MockServer};

use crate::redaction::{KEY, reqwest_client};
use crate::{Adapter, AnyClient, client_for};

#[test]
fn authorization_is_sensitive_in_every_built_request() {
    let config = Config::new(KEY)
        .unwrap()
        .with_base_url("https://proxy.internal/clerk/v1")
        .unwrap();
    assert!(config.authorization().is_sensitive());
    let requests = [
        CreateSignInToken::new("user_1")
            .build_request(&config)
            .unwrap(),
        CreateSignInToken::new("user_1")
            .with_expires_in_seconds(60)
            .with_org_id("org_1")
            .build_request(&config)
            .unwrap(),
        RevokeSignInToken::new("sit_1")
            .build_request(&config)
            .unwrap(),
        Call::new(&config, CreateSignInToken::new("user_1"))
            .unwrap()
            .request()
            .clone(),
        Call::new(&config, RevokeSignInToken::new("sit_1"))
            .unwrap()
            .request()
            .clone(),
    ];
    for request in &requests {
        let values: Vec<_> = request.headers().get_all("authorization").iter().collect();
        assert_eq!(values.len(), 1, "{request:?}");
        assert_eq!(values[0].as_bytes(), format!("Bearer {KEY}").as_bytes());
        assert!(values[0].is_sensitive(), "{request:?}");
        // Only that one header is sensitive: nothing else is hidden.
        for (name, value) in request.headers() {
            assert_eq!(value.is_sensitive(), name == "authorization", "{name}");
        }
        let shown = format!("{request:?} {request:#?} {:?}", request.headers());
        assert!(!shown.contains(KEY), "{shown}");
        assert!(shown.contains("Sensitive"), "{shown}");
    }
}

const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

/// Each adapter, each redirect status, both operations: the reply is an
/// `UnexpectedResponse` with that status, one request reached the first
/// host, and the other host saw no connection at all.
#[test]
fn no_adapter_follows_a_redirect_to_another_host() {
    for adapter in Adapter::ALL {
        let mock = MockServer::start();
        let other = MockServer::start();
        let user = mock.create_user();
        let client = client_for(adapter, &mock);
        let token = client.create(CreateSignInToken::new(&user)).unwrap();
        for status in REDIRECTS {
            for (op, location) in [
                ("create", format!("{}/sign_in_tokens", other.base_url())),
                (
                    "revoke",
                    format!("{}/sign_in_tokens/{}/revoke", other.base_url(), token.id),
                ),
            ] {
                let before = mock.requests().len();
                mock.push_fault(Fault::Redirect {
                    status,
                    location: location.clone(),
                });
                let result = match op {
                    "create" => client.create(CreateSignInToken::new(&user)),
                    _ => client.revoke(&token.id),
                };
                let error = result.unwrap_err();
                let ErrorKind::UnexpectedResponse(reply) = error.kind() else {
                    panic!("{adapter} {op} {status}: {error:?}")
                };
                assert_eq!(reply.status.as_u16(), status, "{adapter} {op}");
                assert_eq!(error.attempts(), 1, "{adapter} {op} {status}");
                assert_eq!(mock.requests().len(), before + 1, "{adapter} {op} {status}");
                assert_eq!(mock.pending_faults(), 0);
                assert!(
                    other.requests().is_empty(),
                    "{adapter} {op} {status}: the other host got {:?}",
                    other.requests()
                );
                assert_eq!(
                    other.connections_accepted(),
                    0,
                    "{adapter} {op} {status}: the other host was connected to"
                );
            }
        }
        // A relative Location is not followed either.
        mock.push_fault(Fault::Redirect {
            status: 307,
            location: "/v1/elsewhere".to_owned(),
        });
        let before = mock.requests().len();
        let error = client.create(CreateSignInToken::new(&user)).unwrap_err();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(307), "{adapter}");
        assert_eq!(mock.requests().len(), before + 1, "{adapter}");
    }
}

/// The clients built on a caller's HTTP client: ureq's agent follows
/// redirects by default, but clerk-ureq sets `max_redirects(0)` on each
/// request; reqwest's default policy cannot be changed per request, but
/// clerk-reqwest's request body cannot be replayed, so a 307/308 is not
/// followed, a 301/302/303 is followed only as a bodiless `GET` (which
/// creates nothing), reqwest drops `Authorization` when the host changes,
/// and a non-success from elsewhere is not taken for Clerk's answer. Either
/// way the key never reaches the other host and no create is sent twice.
#[test]
fn clients_on_a_callers_http_client_never_send_the_key_elsewhere() {
    let mock = MockServer::start();
    // One other host for each client: reqwest's follows must not be
    // counted against ureq.
    let other_for_ureq = MockServer::start();
    let other = MockServer::start();
    let user = mock.create_user();
    let config = crate::config(&mock.base_url(), mock.secret_key());
    let ureq = AnyClient::Ureq(
        clerk_ureq::Client::with_agent(
            config.clone(),
            clerk_ureq::ureq::Agent::new_with_defaults(),
        )
        .unwrap(),
    );
    let reqwest = AnyClient::Reqwest(
        clerk_reqwest::Client::with_http_client(config, reqwest_client(true)).unwrap(),
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
    for status in REDIRECTS {
        mock.push_fault(Fault::Redirect {
            status,
            location: format!("{}/sign_in_tokens", other_for_ureq.base_url()),
        });
        let error = ureq.create(CreateSignInToken::new(&user)).unwrap_err();
        assert_eq!(
            error.status().map(|s| s.as_u16()),
            Some(status),
            "{error:?}"
        );
        assert!(
            other_for_ureq.requests().is_empty(),
            "ureq with_agent {status}"
        );
        assert_eq!(
            other_for_ureq.connections_accepted(),
            0,
            "ureq with_agent {status}"
        );

        mock.push_fault(Fault::Redirect {
            status,
            location: format!("{}/sign_in_tokens", other.base_url()),
        });
        let before = other.requests().len();
        let error = reqwest.create(CreateSignInToken::new(&user)).unwrap_err();
        let followed = &other.requests()[before..];
        if status == 307 || status == 308 {
            // The body cannot be replayed: reqwest hands the 3xx back.
            assert_eq!(
                error.status().map(|s| s.as_u16()),
                Some(status),
                "reqwest with_http_client {status}: {error:?}"
            );
            assert!(followed.is_empty(), "reqwest with_http_client {status}");
        } else {
            assert!(
                matches!(error.kind(), ErrorKind::Transport(_)),
                "reqwest with_http_client {status}: {error:?}"
            );
            assert_eq!(followed.len(), 1, "reqwest with_http_client {status}");
            assert_eq!(
                followed[0].method, "GET",
                "reqwest with_http_client {status}"
            );
        }
        for request in other.requests() {
            assert_eq!(
                request.header("authorization"),
                None,
                "reqwest with_http_client {status}: the key reached the other host"
            );
            assert!(
                !String::from_utf8_lossy(&request.body).contains(mock.secret_key()),
                "reqwest with_http_client {status}"
            );
        }
    }
    // reqwest did follow (the caller's policy), so the check above was not
    // vacuous: the other host saw the followed requests, without the key.
    assert!(!other.requests().is_empty());
    // One POST per create reached the first host; no token exists anywhere.
    let posts = mock
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 2 * REDIRECTS.len());
    assert!(mock.tokens().is_empty());
    assert!(other.tokens().is_empty());
}

/// The harness itself: a client that does follow redirects reaches the
/// other mock, so "the other host saw nothing" above means something.
#[test]
fn the_other_host_would_see_a_client_that_follows() {
    let mock = MockServer::start();
    let other = MockServer::start();
    mock.push_fault(Fault::Redirect {
        status: 302,
        location: format!("{}/sign_in_tokens", other.base_url()),
    });
    let agent = clerk_ureq::ureq::Agent::new_with_defaults();
    let _ = agent
        .get(format!("{}/sign_in_tokens", mock.base_url()))
        .call();
    assert_eq!(other.connections_accepted(), 1);
    assert_eq!(other.requests().len(), 1);
}
