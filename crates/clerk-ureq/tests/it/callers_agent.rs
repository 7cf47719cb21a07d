//! A caller's own ureq agent never makes a minted token go missing: no
//! redirect is followed (so no create goes out twice), ureq sends nothing
//! again on its own, and none of the agent's limits can end an attempt
//! whose token Clerk already created earlier than the Config says.
//!
//! Every check counts what clerk-mock received and what it holds.

use std::time::Duration;

use clerk_mock::{Fault, MockServer};
use clerk_ureq::ureq::Agent;
use clerk_ureq::{Client, CreateSignInToken, ErrorKind};

use crate::config;

/// The case, for ureq: a same-origin redirect that ureq's defaults
/// (10 redirects, 307/308 with the body) would follow, creating the token
/// at the new location. It is handed back as the 3xx: one create reached
/// the server and no token exists.
#[test]
fn a_callers_agent_never_follows_a_same_origin_redirect() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = Client::with_agent(config(&server), Agent::new_with_defaults()).unwrap();
    for status in [301, 302, 303, 307, 308] {
        let before = server.requests().len();
        server.push_fault(Fault::Redirect {
            status,
            location: format!("{}/sign_in_tokens", server.base_url()),
        });
        let result = client.create_sign_in_token(CreateSignInToken::new(&user));
        assert_eq!(
            server.requests().len(),
            before + 1,
            "{status}: the redirect was followed; the caller got {result:?}"
        );
        assert!(server.tokens().is_empty(), "{status}: {result:?}");
        let error = result.unwrap_err();
        let ErrorKind::UnexpectedResponse(reply) = error.kind() else {
            panic!("{status}: {error:?}")
        };
        assert_eq!(reply.status.as_u16(), status);
        assert_eq!(error.attempts(), 1);
    }
}

/// An agent's phase timeouts (receiving the reply head, the body, each
/// read) shorter than the Config's overall timeout would end an attempt
/// after Clerk created the token: they are replaced per request, and only
/// the Config's timeouts bound an attempt.
#[test]
fn a_callers_agent_phase_timeouts_never_cut_a_create_short() {
    let server = MockServer::start();
    let user = server.create_user();
    let short = Some(Duration::from_millis(50));
    let impatient_agents = [
        (
            "recv_response",
            Agent::config_builder().timeout_recv_response(short),
        ),
        ("per_read", Agent::config_builder().timeout_per_read(short)),
        ("per_call", Agent::config_builder().timeout_per_call(short)),
        (
            "recv_body",
            Agent::config_builder().timeout_recv_body(short),
        ),
    ];
    for (name, agent) in impatient_agents {
        let client = Client::with_agent(config(&server), agent.build().new_agent()).unwrap();
        // The reply after 100 ms, or (for a body timeout) its body at a
        // byte per millisecond; the token exists from the start.
        server.push_fault(if name == "recv_body" {
            Fault::SlowDrip {
                interval: Duration::from_millis(1),
            }
        } else {
            Fault::Delay {
                delay: Duration::from_millis(100),
            }
        });
        let token = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .unwrap_or_else(|e| panic!("{name}: a created token was lost: {e:?}"));
        assert!(server.tokens().iter().any(|t| t.id == token.id), "{name}");
    }
    assert_eq!(server.tokens().len(), 4);
    assert_eq!(server.requests().len(), 4);
}

/// An agent's limit on the reply head smaller than a Clerk reply would
/// refuse the head of a created token; each request gets ureq's default
/// limit (64 KiB) back.
#[test]
fn a_callers_agent_small_header_limit_never_loses_a_token() {
    let server = MockServer::start();
    let user = server.create_user();
    let agent = Agent::config_builder()
        .max_response_header_size(32)
        .build()
        .new_agent();
    let client = Client::with_agent(config(&server), agent).unwrap();
    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap();
    assert_eq!(server.tokens().len(), 1);
    assert_eq!(server.tokens()[0].id, token.id);
}

/// ureq has no retry of its own: when a pooled connection closes after
/// the create went out, with no byte of reply (where some clients send the
/// request again, taking the connection for stale), the create is not sent
/// again, by ureq or by the core.
#[test]
fn ureq_never_resends_a_create_when_a_pooled_connection_drops() {
    let server = MockServer::start();
    let user = server.create_user();
    for client in [
        Client::with_agent(config(&server), Agent::new_with_defaults()).unwrap(),
        Client::new(config(&server)).unwrap(),
    ] {
        let before = server.requests().len();
        let connections = server.connections_accepted();
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .unwrap();
        server.push_fault(Fault::Raw { bytes: Vec::new() });
        let error = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::Transport(_)), "{error:?}");
        assert_eq!(error.attempts(), 1, "{error:?}");
        // The second create went out on the pooled connection, once.
        assert_eq!(server.connections_accepted(), connections + 1);
        assert_eq!(server.requests().len(), before + 2);
    }
    assert_eq!(server.tokens().len(), 2);
}
