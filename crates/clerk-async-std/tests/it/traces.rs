//! The `tracing` feature: a span per call, an event per attempt, and never
//! a credential or a URL.

use clerk_async_std::CreateSignInToken;
use clerk_mock::{Fault, MockServer};
use clerk_scenarios::CapturedOutput;

use crate::client_for;

#[test]
fn a_span_per_call_an_event_per_attempt_and_no_secrets() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client_for(&server);
    server.push_fault(Fault::ServiceUnavailable {
        retry_after: Some("0".into()),
    });

    // A global subscriber: a thread-local one (`with_default`) loses events
    // when other tests hit the same callsites at the same time. It also sees
    // every other test's events, which must be as clean.
    let captured = CapturedOutput::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let token = smol::block_on(async {
        let token = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap();
        client.revoke_sign_in_token(&token.id).await.unwrap();
        let _ = client.revoke_sign_in_token(&token.id).await.unwrap_err();
        token
    });
    let logs = captured.text();
    eprintln!("{logs}");

    assert!(
        logs.contains(r#"clerk.call{operation="create_sign_in_token"}"#),
        "{logs}"
    );
    assert!(
        logs.contains(r#"clerk.call{operation="revoke_sign_in_token"}"#),
        "{logs}"
    );
    assert!(
        logs.contains("attempt failed; retrying attempt=1 status=503"),
        "{logs}"
    );
    assert!(logs.contains("wait_ms="), "{logs}");
    assert!(
        logs.contains("call succeeded attempt=2 status=200"),
        "{logs}"
    );
    assert!(
        logs.contains("call failed attempt=1 status=400 trace_id="),
        "{logs}"
    );

    for secret in [
        server.secret_key(),
        token.token.as_ref().unwrap().expose(),
        token.url.as_ref().unwrap().expose(),
        &server.base_url(),
        "http://",
    ] {
        assert!(!logs.contains(secret), "{secret} in {logs}");
    }
}
