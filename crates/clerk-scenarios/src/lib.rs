//! One table of scenarios, run by every adapter against `clerk-mock`.
//!
//! An adapter's test binary implements [`Driver`] (a few lines: build a
//! client, and one that trusts a test certificate; send any operation, send
//! with a deadline, send many at once, find users by email) and expands
//! [`scenario_tests!`], which turns every row of
//! the table into a `#[test]`. The same rows, the same assertions, for every
//! runtime: if an adapter differs from the others, a row fails. Rows against
//! HTTPS use [`tls::SelfSignedServer`] instead of `clerk-mock`.

mod lookup;
pub mod tls;

pub use lookup::{
    lookup_by_external_id, lookup_found_not_found_ambiguous,
    lookup_of_250_addresses_takes_3_requests, lookup_of_more_than_100_is_refused,
    lookup_reply_larger_than_a_default_page, lookup_reply_over_the_body_cap_is_split,
};

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clerk_core::{
    Config, CreateSignInToken, DecodeCategory, Delivery, EmailMatch, Error, ErrorKind, Operation,
    RetryAfter, RetryPolicy, RevokeSignInToken, SignInToken, SignInTokenStatus, TransportErrorKind,
};
use clerk_mock::{Fault, MockServer};

use crate::tls::SelfSignedServer;

/// A loopback address that never answers a SYN: a listener whose accept
/// queue is filled and never drained, so Linux drops further SYNs. What a
/// blackholed address (a broken IPv6 route, say) looks like to a client.
#[derive(Debug)]
pub struct Blackhole {
    addr: std::net::SocketAddr,
    listener: std::net::TcpListener,
    _queued: Vec<std::net::TcpStream>,
}

impl Blackhole {
    /// A silent address on `ip` (`127.0.0.1` or `::1`).
    pub fn at(ip: &str) -> Blackhole {
        let listener = std::net::TcpListener::bind((ip, 0)).expect("a loopback listener");
        let addr = listener.local_addr().expect("its address");
        let mut queued = Vec::new();
        // Fill the queue until a connection is no longer answered.
        while let Ok(conn) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100))
        {
            queued.push(conn);
            assert!(queued.len() < 10_000, "the accept queue never fills");
        }
        Blackhole {
            addr,
            listener,
            _queued: queued,
        }
    }

    /// The silent address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The listener, to drain its queue and let the address answer again.
    pub fn listener(&self) -> &std::net::TcpListener {
        &self.listener
    }
}

/// Everything a `tracing` subscriber writes, kept in memory for a test to
/// search: hand clones to `with_writer(move || captured.clone())`.
#[derive(Clone, Debug, Default)]
pub struct CapturedOutput(Arc<Mutex<Vec<u8>>>);

impl CapturedOutput {
    /// What was written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for CapturedOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with every trace event of this thread, at every level, written
/// to memory, and returns what it returned and what was written.
///
/// tracing caches each callsite's interest for the whole process. With one
/// dispatcher registered, a callsite first reached by another test's
/// thread (which has no subscriber) is cached as "never", and a
/// thread-local capture would miss it. A second dispatcher, alive while
/// `f` runs, makes every registration ask all of them; the rebuild covers
/// callsites registered before.
pub fn capture_traces<R>(f: impl FnOnce() -> R) -> (R, String) {
    let captured = CapturedOutput::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _anchor = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(std::io::sink)
            .finish(),
    );
    let result = tracing::subscriber::with_default(subscriber, || {
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    (result, captured.text())
}

/// What a scenario needs from an adapter. Async adapters block on their
/// runtime inside each method.
pub trait Driver {
    /// The adapter's client.
    type Client;
    /// The adapter's crate name, which it appends to the `User-Agent`.
    const NAME: &'static str;
    /// A client for this configuration.
    fn client(config: Config) -> Self::Client;
    /// A client for this configuration that also trusts this certificate
    /// (DER), built the way a caller would: a ureq `Agent`, a reqwest
    /// `Client`, a rustls `ClientConfig` of the caller's own.
    fn client_trusting(config: Config, certificate_der: &[u8]) -> Self::Client;
    /// Sends any operation through the adapter's `send`. A new operation
    /// needs no change here.
    fn send<O>(client: &Self::Client, operation: O) -> Result<O::Output, Error>
    where
        O: Operation + Send + 'static,
        O::Output: Send + 'static;
    /// Whether a call can be cancelled (an async call's future dropped).
    /// A blocking call cannot: it runs to the end.
    const CANCELLABLE: bool;
    /// Sends, giving up after `patience`: the call's future is dropped
    /// then, and `None` returned. Called only when [`CANCELLABLE`](Self::CANCELLABLE).
    fn send_cancelled_after<O>(
        client: &Self::Client,
        operation: O,
        patience: Duration,
    ) -> Option<Result<O::Output, Error>>
    where
        O: Operation + Send + 'static,
        O::Output: Send + 'static;
    /// Sends all of these at once on the one client, all in flight together.
    fn send_concurrently<O>(
        client: &Self::Client,
        operations: Vec<O>,
    ) -> Vec<Result<O::Output, Error>>
    where
        O: Operation + Send + 'static,
        O::Output: Send + 'static;
    /// The client's `find_users_by_email` convenience (several requests,
    /// which no single `send` covers).
    fn find_users_by_email(
        client: &Self::Client,
        addresses: &[String],
    ) -> Result<Vec<EmailMatch>, Error>;

    /// Creates a sign-in token.
    fn create(client: &Self::Client, request: CreateSignInToken) -> Result<SignInToken, Error> {
        Self::send(client, request)
    }
    /// Revokes a sign-in token.
    fn revoke(client: &Self::Client, sign_in_token_id: &str) -> Result<SignInToken, Error> {
        Self::send(client, RevokeSignInToken::new(sign_in_token_id))
    }
    /// Creates, giving up after `patience`; see [`send_cancelled_after`](Self::send_cancelled_after).
    fn create_cancelled_after(
        client: &Self::Client,
        request: CreateSignInToken,
        patience: Duration,
    ) -> Option<Result<SignInToken, Error>> {
        Self::send_cancelled_after(client, request, patience)
    }
    /// Creates all of these at once on the one client, all in flight together.
    fn create_concurrently(
        client: &Self::Client,
        requests: Vec<CreateSignInToken>,
    ) -> Vec<Result<SignInToken, Error>> {
        Self::send_concurrently(client, requests)
    }
}

/// The mock's key and base URL, every other setting at its default: a
/// client as a user configures one.
pub fn default_config(mock: &MockServer) -> Config {
    Config::new(mock.secret_key())
        .and_then(|c| c.with_base_url(&mock.base_url()))
        .expect("a valid key and URL")
}

/// Timeouts and waits shrunk so the whole table runs in seconds.
pub fn fast_config(mock: &MockServer) -> Config {
    fast_config_for(mock.secret_key(), &mock.base_url())
}

fn fast_config_for(secret_key: &str, base_url: &str) -> Config {
    Config::new(secret_key)
        .and_then(|c| c.with_base_url(base_url))
        .expect("a valid key and URL")
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(2))
        .with_retry_policy(
            RetryPolicy::default()
                .with_initial_backoff(Duration::from_millis(20))
                .with_max_backoff(Duration::from_millis(100)),
        )
}

fn setup<D: Driver>() -> (MockServer, D::Client, String) {
    let mock = MockServer::start();
    let user = mock.create_user();
    let client = D::client(fast_config(&mock));
    (mock, client, user)
}

fn api_error(result: Result<SignInToken, Error>) -> Error {
    match result {
        Ok(token) => panic!("expected an error, got {token:?}"),
        Err(e) => e,
    }
}

fn transport(error: &Error) -> (TransportErrorKind, Delivery) {
    match error.kind() {
        ErrorKind::Transport(t) => (t.kind, t.delivery),
        _ => panic!("not a transport error: {error:?}"),
    }
}

/// The error's `source()` chain, the error itself first.
fn chain(error: &Error) -> Vec<&(dyn std::error::Error + 'static)> {
    std::iter::successors(
        Some(error as &(dyn std::error::Error + 'static)),
        |e: &&(dyn std::error::Error + 'static)| (*e).source(),
    )
    .collect()
}

/// The transport library's own error is kept as a source (not turned into a
/// string), says nothing of where the request went, and no link of the
/// chain only repeats the one before it (as anyhow and eyre print it).
fn assert_library_error_kept(error: &Error, mock: &MockServer) {
    let chain = chain(error);
    assert!(chain.len() >= 2, "no library error kept: {error:?}");
    for pair in chain.windows(2) {
        let (outer, inner) = (pair[0].to_string(), pair[1].to_string());
        assert!(
            !outer.contains(&inner),
            "the chain repeats itself: {outer:?} then {inner:?} in {:?}",
            chain.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
    }
    let address = mock.addr().to_string();
    for e in chain {
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(&address), "the URL leaked: {shown}");
    }
}

fn assert_no_secrets(error: &Error, mock: &MockServer) {
    let shown = format!("{error} {error:?}");
    assert!(
        !shown.contains(mock.secret_key()),
        "the key leaked: {shown}"
    );
    assert!(!shown.contains("eyJ"), "a token leaked: {shown}");
}

/// Create with only a user id: a pending token with its ticket and URL;
/// exactly the documented request went out, byte for byte, with no header
/// that changes its meaning (no compression asked for, one key).
pub fn create_minimal<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    let token = D::create(&client, CreateSignInToken::new(&user)).expect("create");
    assert_eq!(token.user_id, user);
    assert_eq!(token.status, SignInTokenStatus::Pending);
    assert!(token.id.starts_with("sit_"));
    assert!(
        token
            .token
            .as_ref()
            .is_some_and(|t| t.expose().split('.').count() == 3)
    );
    assert!(
        token
            .url
            .as_ref()
            .is_some_and(|u| u.expose().starts_with("https://"))
    );
    assert!(token.created_at.to_system_time().is_some());
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/sign_in_tokens");
    assert_eq!(r.body, format!(r#"{{"user_id":"{user}"}}"#).into_bytes());
    assert_eq!(r.header_str("content-type"), Some("application/json"));
    assert_eq!(r.header_str("accept"), Some("application/json"));
    assert_eq!(
        r.header_str("clerk-api-version"),
        Some(clerk_core::DEFAULT_API_VERSION)
    );
    let bearer = format!("Bearer {}", mock.secret_key());
    assert_eq!(r.header_str("authorization"), Some(bearer.as_str()));
    // `clerk-core/<version> … <adapter>/<version>`: the adapter's token last.
    let agent = r.header_str("user-agent").unwrap_or_default();
    let last = agent.rsplit(' ').next().unwrap_or_default();
    assert!(
        agent.starts_with("clerk-core/") && last.len() > D::NAME.len() && last.starts_with(D::NAME),
        "{agent}"
    );
    // These headers, each once, and no other.
    let allowed = [
        "authorization",
        "clerk-api-version",
        "user-agent",
        "accept",
        "content-type",
        "content-length",
        "host",
    ];
    let names: Vec<String> = r
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    for name in &names {
        assert!(allowed.contains(&name.as_str()), "unexpected header {name}");
    }
    let once = |name: &&str| names.iter().filter(|n| n == name).count() == 1;
    assert!(allowed.iter().all(once), "{names:?}");
    assert!(!format!("{token:?}").contains("eyJ"));
}

/// Create with a lifetime and an organization: both sent, nothing else.
pub fn create_with_options<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.add_organization("org_2Zt5XXqBhZ9YkUaCqGLuK3MnR4W", &[user.as_str()]);
    let request = CreateSignInToken::new(&user)
        .with_expires_in(Duration::from_secs(600))
        .with_org_id("org_2Zt5XXqBhZ9YkUaCqGLuK3MnR4W");
    let token = D::create(&client, request).expect("create");
    assert_eq!(token.status, SignInTokenStatus::Pending);
    let sent = mock.requests()[0].json().expect("a JSON body");
    assert_eq!(
        sent,
        serde_json::json!({ "user_id": user, "expires_in_seconds": 600, "org_id": "org_2Zt5XXqBhZ9YkUaCqGLuK3MnR4W" })
    );
    let info = mock.token(&token.id).expect("the mock knows the token");
    assert_eq!(
        info.org_id.as_deref(),
        Some("org_2Zt5XXqBhZ9YkUaCqGLuK3MnR4W")
    );
    assert_eq!(info.expires_at - info.created_at, 600_000);
}

/// Revoke a pending token, then try again: 200 revoked, then Clerk's 400.
pub fn revoke_lifecycle<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    let token = D::create(&client, CreateSignInToken::new(&user)).expect("create");
    let revoked = D::revoke(&client, &token.id).expect("revoke");
    assert_eq!(revoked.id, token.id);
    assert_eq!(revoked.status, SignInTokenStatus::Revoked);
    assert!(revoked.token.is_none());
    assert_eq!(mock.token_status(&token.id).as_deref(), Some("revoked"));
    let e = api_error(D::revoke(&client, &token.id));
    assert_eq!(e.status().map(|s| s.as_u16()), Some(400));
    assert!(e.has_code("sign_in_token_cannot_be_revoked_code"));
    assert!(e.trace_id().is_some());
    assert_eq!(e.attempts(), 1);
    let sent = &mock.requests()[1];
    assert_eq!(sent.path, format!("/v1/sign_in_tokens/{}/revoke", token.id));
    assert!(sent.body.is_empty());
    // A bodiless POST still says so, exactly once (RFC 9110 §8.6).
    let lengths: Vec<_> = sent
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.as_slice())
        .collect();
    assert_eq!(lengths, [b"0".as_slice()]);
}

/// A token the user already used cannot be revoked.
pub fn revoke_accepted_token<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    let token = D::create(&client, CreateSignInToken::new(&user)).expect("create");
    assert!(mock.accept_token(&token.id));
    let e = api_error(D::revoke(&client, &token.id));
    assert!(e.has_code("sign_in_token_cannot_be_revoked_code"));
    assert!(e.clerk_errors()[0].long_message.contains("accepted"));
}

/// An id full of reserved characters reaches the revoke route as one segment.
pub fn revoke_awkward_id<D: Driver>() {
    let (mock, client, _) = setup::<D>();
    let e = api_error(D::revoke(&client, "sit_1/../../users?x=#%2F é"));
    assert!(e.is_not_found());
    let path = &mock.requests()[0].path;
    assert_eq!(
        path,
        "/v1/sign_in_tokens/sit_1%2F..%2F..%2Fusers%3Fx%3D%23%252F%20%C3%A9/revoke"
    );
}

/// Unknown user on create, unknown token on revoke: 404 with Clerk's code.
pub fn not_found<D: Driver>() {
    let (mock, client, _) = setup::<D>();
    let e = api_error(D::create(
        &client,
        CreateSignInToken::new("user_doesnotexist"),
    ));
    assert!(e.is_not_found());
    assert!(e.has_code("resource_not_found"));
    assert!(e.trace_id().is_some());
    assert!(matches!(e.kind(), ErrorKind::Api(_)));
    assert_eq!(e.attempts(), 1);
    let e = api_error(D::revoke(&client, "sit_doesnotexist"));
    assert!(e.is_not_found());
    assert_eq!(e.attempts(), 1);
    assert_no_secrets(&e, &mock);
}

/// Clerk's 422 for a parameter it refuses, with the parameter named.
pub fn validation_422<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    let e = api_error(D::create(
        &client,
        CreateSignInToken::new(&user).with_org_id("org_unknown"),
    ));
    assert_eq!(e.status().map(|s| s.as_u16()), Some(422));
    assert!(e.has_code("form_param_value_invalid"));
    assert_eq!(e.clerk_errors()[0].param_name(), Some("org_id"));
    assert_eq!(e.attempts(), 1);
    assert_eq!(mock.requests().len(), 1);
}

/// A wrong key: 401 on both operations, not retried, and the key appears
/// nowhere in the error.
pub fn bad_key_401<D: Driver>() {
    let mock = MockServer::start();
    let user = mock.create_user();
    let config = fast_config(&mock);
    let config = Config::new("sk_test_wrong_key_0123456789")
        .and_then(|c| c.with_base_url(config.base_url()))
        .expect("valid");
    let client = D::client(config);
    for e in [
        api_error(D::create(&client, CreateSignInToken::new(user))),
        api_error(D::revoke(&client, "sit_1")),
    ] {
        assert_eq!(e.status().map(|s| s.as_u16()), Some(401));
        assert!(e.has_code("authentication_invalid"));
        assert_eq!(e.attempts(), 1);
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("wrong_key"), "{shown}");
    }
    assert_eq!(mock.requests().len(), 2);
}

/// Arguments refused before sending, each named: nothing reaches the
/// server, not even a connection.
pub fn invalid_request_not_sent<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    for (e, argument) in [
        (
            api_error(D::create(&client, CreateSignInToken::new(""))),
            "user_id",
        ),
        (
            api_error(D::create(
                &client,
                CreateSignInToken::new(&user).with_expires_in_seconds(0),
            )),
            "expires_in_seconds",
        ),
        (api_error(D::revoke(&client, "")), "sign_in_token_id"),
        (api_error(D::revoke(&client, "..")), "sign_in_token_id"),
    ] {
        assert!(matches!(e.kind(), ErrorKind::InvalidRequest(_)), "{e:?}");
        assert_eq!(e.invalid_argument(), Some(argument));
        assert_eq!(e.attempts(), 0);
    }
    assert!(mock.requests().is_empty());
    assert_eq!(mock.connections_accepted(), 0);
}

/// 429 with `Retry-After: 1`: waited out, then success, on both operations.
///
/// Checked to fail without what it pins: with `RetryPolicy::never()` the
/// create ends at its 429.
pub fn rate_limited_then_success<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.push_fault(Fault::RateLimited {
        retry_after: "1".into(),
    });
    let start = Instant::now();
    let token = D::create(&client, CreateSignInToken::new(&user)).expect("create after 429");
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(1), "Retry-After not honoured");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(token.user_id, user);
    assert_eq!(mock.requests().len(), 2);
    assert_eq!(mock.tokens().len(), 1, "exactly one live token");
    mock.push_fault(Fault::RateLimited {
        retry_after: clerk_mock::http_date(std::time::SystemTime::now()),
    });
    D::revoke(&client, &token.id).expect("revoke after 429 with a date");
    assert_eq!(mock.requests().len(), 4);
}

/// 429 on every attempt: gives up at the attempt cap, and says so.
///
/// Checked to fail without what it pins: with `with_max_attempts(4)` the
/// call makes 4 requests.
pub fn rate_limited_until_cap<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.push_faults(
        Fault::RateLimited {
            retry_after: "0".into(),
        },
        5,
    );
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    assert!(e.is_rate_limited());
    assert!(e.has_code("too_many_requests"));
    assert_eq!(e.attempts(), 3);
    assert_eq!(mock.requests().len(), 3);
    assert!(e.to_string().contains("after 3 attempts"), "{e}");
}

/// A `Retry-After` past the cap ends the call at once, telling when to come
/// back: for a create, and for a revoke, which may otherwise be retried.
///
/// The client-wide gate is off here, so each call meets its own 429; with
/// it on, the second call would be held without sending (see
/// [`rate_limit_gate_past_the_policy_ends_calls_at_once`]).
///
/// Checked to fail without what it pins: with `with_max_retry_after`,
/// `with_max_total_wait` and `with_max_elapsed` raised past 120 s the
/// create waits its 120 s out.
pub fn retry_after_over_cap<D: Driver>() {
    let mock = MockServer::start();
    let user = mock.create_user();
    let client = D::client(fast_config(&mock).with_rate_limit_gate(false));
    for retry_after in ["120", "3600"] {
        mock.push_fault(Fault::RateLimited {
            retry_after: retry_after.into(),
        });
    }
    let start = Instant::now();
    let create = api_error(D::create(&client, CreateSignInToken::new(&user)));
    let revoke = api_error(D::revoke(&client, "sit_1"));
    assert!(start.elapsed() < Duration::from_secs(2));
    for (e, seconds) in [(create, 120), (revoke, 3600)] {
        assert!(e.is_rate_limited(), "{e:?}");
        assert_eq!(
            e.retry_after(),
            Some(RetryAfter::Delay(Duration::from_secs(seconds)))
        );
        assert_eq!(e.attempts(), 1);
        assert!(
            e.to_string()
                .ends_with(&format!("; retry after {seconds} s")),
            "{e}"
        );
    }
    assert_eq!(mock.requests().len(), 2);

    // An absurd value reaches the caller clamped to a day, safe to add to
    // an `Instant`.
    mock.push_fault(Fault::RateLimited {
        retry_after: "99999999999999999999".into(),
    });
    let e = api_error(D::revoke(&client, "sit_1"));
    let Some(RetryAfter::Delay(wait)) = e.retry_after() else {
        panic!("{e:?}")
    };
    assert_eq!(wait, clerk_core::MAX_RETRY_AFTER);
    assert!(Instant::now().checked_add(wait).is_some());
    assert!(e.to_string().ends_with("; retry after 86400 s"), "{e}");
}

/// One call's 429 holds the client's next calls, first attempts included,
/// until the moment the server named: they wait instead of each earning a
/// 429 of their own.
///
/// Checked to fail without what it pins: its second half runs the same
/// calls with `with_rate_limit_gate(false)` and sees the second call go at
/// once; the first half then fails ("the second call did not wait").
pub fn rate_limit_gate_holds_the_next_calls<D: Driver>() {
    let mock = MockServer::start();
    let user = mock.create_user();
    let client = D::client(fast_config(&mock).with_retry_policy(RetryPolicy::never()));
    mock.push_fault(Fault::RateLimited {
        retry_after: "1".into(),
    });
    let start = Instant::now();
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    assert!(e.is_rate_limited() && e.is_from_clerk(), "{e:?}");
    let token = D::create(&client, CreateSignInToken::new(&user)).expect("create after the hold");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(950),
        "the second call did not wait: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(token.user_id, user);
    assert_eq!(mock.requests().len(), 2, "no second 429 earned");
    assert_eq!(mock.tokens().len(), 1);

    // Turned off, each call learns on its own.
    let solo = D::client(
        fast_config(&mock)
            .with_retry_policy(RetryPolicy::never())
            .with_rate_limit_gate(false),
    );
    mock.push_fault(Fault::RateLimited {
        retry_after: "1".into(),
    });
    let start = Instant::now();
    assert!(api_error(D::create(&solo, CreateSignInToken::new(&user))).is_rate_limited());
    D::create(&solo, CreateSignInToken::new(&user)).expect("create at once");
    assert!(start.elapsed() < Duration::from_millis(900));
}

/// A `Retry-After` beyond the policy ends the call at once, and the
/// client's next call too, without sending: both say when to come back.
///
/// Checked to fail without what it pins: with `with_rate_limit_gate(false)`
/// the held calls are sent ("held calls sent nothing").
pub fn rate_limit_gate_past_the_policy_ends_calls_at_once<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.push_fault(Fault::RateLimited {
        retry_after: "30".into(),
    });
    let start = Instant::now();
    let first = api_error(D::create(&client, CreateSignInToken::new(&user)));
    let second = api_error(D::create(&client, CreateSignInToken::new(&user)));
    let revoke = api_error(D::revoke(&client, "sit_1"));
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(mock.requests().len(), 1, "held calls sent nothing");
    assert_eq!(first.attempts(), 1);
    assert_eq!(
        first.retry_after(),
        Some(RetryAfter::Delay(Duration::from_secs(30)))
    );
    for held in [second, revoke] {
        assert!(matches!(held.kind(), ErrorKind::Throttled(_)), "{held:?}");
        assert!(held.is_rate_limited(), "{held:?}");
        assert_eq!(held.attempts(), 0);
        let Some(RetryAfter::Delay(wait)) = held.retry_after() else {
            panic!("{held:?}")
        };
        assert!(
            wait > Duration::from_secs(27) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(held.to_string().contains("; retry after"), "{held}");
    }
}

/// A call cancelled while it waits at the gate sends nothing and leaves
/// the gate as it was: the next call goes when the hold ends.
///
/// Checked to fail without what it pins: with `with_rate_limit_gate(false)`
/// the cancellable adapters' call is not held ("not held"), and on
/// clerk-ureq the next call goes early ("went early").
pub fn cancelled_while_waiting_at_the_gate<D: Driver>() {
    let mock = MockServer::start();
    let user = mock.create_user();
    let client = D::client(fast_config(&mock).with_retry_policy(RetryPolicy::never()));
    mock.push_fault(Fault::RateLimited {
        retry_after: "2".into(),
    });
    let start = Instant::now();
    assert!(api_error(D::create(&client, CreateSignInToken::new(&user))).is_rate_limited());
    if D::CANCELLABLE {
        let cancelled = D::create_cancelled_after(
            &client,
            CreateSignInToken::new(&user),
            Duration::from_millis(300),
        );
        assert!(cancelled.is_none(), "not held: {cancelled:?}");
        assert_eq!(mock.requests().len(), 1, "the cancelled call sent nothing");
    }
    let token = D::create(&client, CreateSignInToken::new(&user)).expect("create after the hold");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1900), "went early: {took:?}");
    assert!(
        took < Duration::from_millis(3500),
        "held too long: {took:?}"
    );
    assert_eq!(token.user_id, user);
    assert_eq!(mock.requests().len(), 2);
    assert_eq!(mock.tokens().len(), 1);
}

fn limited_mock(limit: u32) -> MockServer {
    MockServer::builder()
        .rate_limit(clerk_mock::RateLimit::new(limit, Duration::from_secs(1)))
        .start()
}

fn burst<D: Driver>(mock: &MockServer, client: &D::Client, n: usize) -> Duration {
    let users: Vec<String> = (0..n).map(|_| mock.create_user()).collect();
    let start = Instant::now();
    let results =
        D::create_concurrently(client, users.iter().map(CreateSignInToken::new).collect());
    let took = start.elapsed();
    for (result, user) in results.iter().zip(&users) {
        match result {
            Ok(token) => assert_eq!(&token.user_id, user),
            Err(e) => panic!("a call of the burst failed: {e}"),
        }
    }
    // One token per user: nothing minted twice.
    let mut minted: Vec<String> = mock.tokens().into_iter().map(|t| t.user_id).collect();
    minted.sort();
    minted.dedup();
    assert_eq!(minted.len(), n);
    assert_eq!(mock.tokens().len(), n);
    took
}

/// A burst four times the server's limit per window, all in flight at
/// once, completes with the default gate: no call fails, nothing is minted
/// twice, and after the first window's 429s (30: every call sent before
/// the first refusal came back) the release lets few more through.
///
/// Checked to fail without what it pins: with `with_rate_limit_gate(false)`
/// every call meets the limit on its own, 10 of the 40 are refused three
/// times and fail ("a call of the burst failed"). (At 30 creates, which
/// this row used before, three attempts happen to carry every call through
/// without the gate.)
pub fn burst_at_the_rate_limit_completes<D: Driver>() {
    let mock = limited_mock(10);
    let client = D::client(fast_config(&mock));
    let took = burst::<D>(&mock, &client, 40);
    assert!(took >= Duration::from_millis(2900), "took {took:?}");
    let refused = mock.rate_limited_count();
    assert!(refused <= 40, "{refused} 429s for 40 creates");
}

/// Another user of the key takes 8 of its 10 requests a second for the
/// first 2 s, then stops. A burst of 40 creates, all in flight, learns the
/// squeezed rate (2 a second), and once the other user stops the release
/// grows back to the whole limit: done within 1.5× the ideal (2 s at 2 a
/// second, then 36 at 10: 5.6 s), none failed.
///
/// Checked to fail without what it pins: with the release's growth taken
/// out of `Gate` (the rate learned at a hold kept until the next hold) the
/// burst crawls at 2 a second and took 19.7 s; with
/// `with_rate_limit_gate(false)` calls fail.
pub fn a_squeezed_burst_recovers<D: Driver>() {
    let mock = MockServer::builder()
        .rate_limit(
            clerk_mock::RateLimit::new(10, Duration::from_secs(1))
                .with_other_tenant(8, Duration::from_secs(2)),
        )
        .start();
    let client = D::client(fast_config(&mock));
    let took = burst::<D>(&mock, &client, 40);
    assert!(took >= Duration::from_millis(4500), "took {took:?}");
    assert!(took <= Duration::from_millis(8400), "took {took:?}");
}

/// A 429 that is not Clerk's (a proxy's HTML page) with `Retry-After: 86400`
/// holds the client no longer than the policy's `max_retry_after`, like a
/// 503: the call that met it ends at once, saying when the proxy asked to
/// come back; the next call waits out the capped hold and succeeds.
///
/// Checked to fail without what it pins: without the cap in
/// `Call::hold_gate` the next call ends at once with `Throttled` (a day's
/// hold); with `with_rate_limit_gate(false)` it goes at once ("did not
/// wait").
pub fn proxy_429_holds_no_longer_than_the_policy<D: Driver>() {
    let mock = MockServer::start();
    let user = mock.create_user();
    let page = "<html><body>Too many requests</body></html>";
    mock.push_fault(Fault::Raw {
        bytes: format!(
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 86400\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
            page.len()
        )
        .into_bytes(),
    });
    let client = D::client(
        fast_config(&mock)
            .with_retry_policy(RetryPolicy::default().with_max_retry_after(Duration::from_secs(1))),
    );
    let start = Instant::now();
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    assert!(e.is_rate_limited() && !e.is_from_clerk(), "{e:?}");
    assert_eq!(e.attempts(), 1);
    assert_eq!(
        e.retry_after(),
        Some(RetryAfter::Delay(Duration::from_secs(86400)))
    );
    let token = D::create(&client, CreateSignInToken::new(&user)).expect("create after the hold");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(950), "did not wait: {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(token.user_id, user);
    assert_eq!(mock.requests().len(), 2);
}

/// Pacing set to the server's limit keeps a burst under it.
///
/// Checked to fail without what it pins: with `with_pacing(None)` the
/// burst meets the limit (20 429s).
pub fn pacing_keeps_a_burst_under_the_limit<D: Driver>() {
    let mock = limited_mock(10);
    let client = D::client(
        fast_config(&mock).with_pacing(clerk_core::RateLimit::new(10, Duration::from_secs(1))),
    );
    let took = burst::<D>(&mock, &client, 30);
    assert!(took >= Duration::from_millis(1900), "took {took:?}");
    let refused = mock.rate_limited_count();
    assert!(refused <= 1, "{refused} 429s under pacing");
}

/// `Retry-After: 0` (and a date already past) must not make a hot loop:
/// each retry waits at least the longest backoff a 5xx would get.
///
/// Checked to fail without what it pins: with `with_initial_backoff(ZERO)`
/// the retries go at once ("retried after").
pub fn zero_retry_after_is_not_a_hot_loop<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.push_fault(Fault::RateLimited {
        retry_after: "0".into(),
    });
    mock.push_fault(Fault::RateLimited {
        retry_after: clerk_mock::http_date(std::time::SystemTime::now() - Duration::from_secs(60)),
    });
    let start = Instant::now();
    let token = D::create(&client, CreateSignInToken::new(&user)).expect("create after 429s");
    let took = start.elapsed();
    // fast_config: backoff 20 ms, then 40 ms, before jitter.
    assert!(took >= Duration::from_millis(60), "retried after {took:?}");
    assert_eq!(token.user_id, user);
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(mock.tokens().len(), 1, "exactly one live token");
}

/// A 404 that is not Clerk's (a proxy's page, a base URL missing `/v1`) is
/// not "not found": the token it was about may well be live.
pub fn proxy_404_is_not_clerks_not_found<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    let token = D::create(&client, CreateSignInToken::new(&user)).expect("create");
    let body = "<html><body><h1>404 Not Found</h1></body></html>";
    mock.push_fault(Fault::Raw {
        bytes: format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    });
    let e = api_error(D::revoke(&client, &token.id));
    assert_eq!(e.status().map(|s| s.as_u16()), Some(404));
    assert!(!e.is_not_found(), "{e:?}");
    assert!(!e.is_from_clerk(), "{e:?}");
    assert!(
        matches!(e.kind(), ErrorKind::UnexpectedResponse(_)),
        "{e:?}"
    );
    assert_eq!(mock.tokens()[0].status, "pending", "still live");

    // Clerk's own 404 is.
    let e = api_error(D::revoke(&client, "sit_no_such_token"));
    assert!(e.is_not_found() && e.is_from_clerk(), "{e:?}");
}

/// Text in a reply cannot write a line break, a terminal escape or a
/// direction override into a log line through the error's `Display`.
pub fn server_text_cannot_forge_log_lines<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    let forged = "x\r\n2026-01-01T00:00:00Z INFO forged \u{1b}[2K\u{202e}";
    mock.push_fault(Fault::status(400, forged, forged));
    let body = serde_json::json!({
        "errors": [{"code": forged, "message": forged, "long_message": forged,
                    "meta": {forged: forged}}],
        "meta": {forged: forged},
        "clerk_trace_id": forged,
    })
    .to_string();
    mock.push_fault(Fault::Raw {
        bytes: format!(
            "HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    });
    for _ in 0..2 {
        let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
        assert!(e.is_from_clerk(), "{e:?}");
        assert!(e.codes().any(|c| c == forged), "the field keeps the text");
        for shown in [e.to_string(), format!("{e:?}"), format!("{e:#?}")] {
            assert!(
                !shown
                    .chars()
                    .any(|c| c == '\r' || c == '\u{1b}' || c == '\u{202e}'),
                "{shown:?}"
            );
        }
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}

/// Revoke is idempotent: a 503, then a 500 with a Clerk body, are retried,
/// then it succeeds.
pub fn revoke_503_then_success<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    let token = D::create(&client, CreateSignInToken::new(&user)).expect("create");
    mock.push_fault(Fault::ServiceUnavailable { retry_after: None });
    mock.push_fault(Fault::status(500, "internal_clerk_error", "Oops"));
    let revoked = D::revoke(&client, &token.id).expect("revoke after 503 and 500");
    assert_eq!(revoked.status, SignInTokenStatus::Revoked);
    assert_eq!(mock.requests().len(), 4);
}

/// Create is not idempotent: a bare 503 (the server may have acted) is not retried.
pub fn create_503_not_retried<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.push_fault(Fault::ServiceUnavailable { retry_after: None });
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    assert_eq!(e.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(e.attempts(), 1);
    assert_eq!(mock.requests().len(), 1);
}

/// A 503 with `Retry-After` says the server did not act: create is retried.
pub fn create_503_with_retry_after_retried<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.push_fault(Fault::ServiceUnavailable {
        retry_after: Some("0".into()),
    });
    D::create(&client, CreateSignInToken::new(&user)).expect("create after 503 + Retry-After");
    assert_eq!(mock.requests().len(), 2);
}

/// Opting in retries create after a 5xx too.
pub fn create_retried_when_opted_in<D: Driver>() {
    let mock = MockServer::start();
    let user = mock.create_user();
    let policy = fast_config(&mock)
        .retry_policy()
        .clone()
        .with_retry_non_idempotent(true);
    let client = D::client(fast_config(&mock).with_retry_policy(policy));
    mock.push_fault(Fault::Html502);
    D::create(&client, CreateSignInToken::new(&user)).expect("create after an opted-in retry");
    assert_eq!(mock.requests().len(), 2);
}

/// An edge proxy's HTML 502 is reported as not Clerk, with an excerpt; every
/// response header reaches the core (trace id, `Retry-After`).
pub fn html_502<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.push_fault(Fault::Html502);
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    let ErrorKind::UnexpectedResponse(u) = e.kind() else {
        panic!("{e:?}")
    };
    assert_eq!(u.status.as_u16(), 502);
    assert!(
        u.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("text/html"))
    );
    assert!(u.excerpt.contains("502"));
    assert_eq!(e.attempts(), 1);

    let body = "<h1>bad gateway</h1>";
    mock.push_fault(Fault::Raw {
        bytes: format!(
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nClerk-Trace-Id: trace-from-header\r\n\
             Retry-After: 7\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    });
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    let ErrorKind::UnexpectedResponse(u) = e.kind() else {
        panic!("{e:?}")
    };
    assert_eq!(u.trace_id.as_deref(), Some("trace-from-header"));
    assert_eq!(u.content_type.as_deref(), Some("text/html"));
    assert_eq!((u.body_len, u.excerpt.as_str()), (body.len(), body));
    assert_eq!(
        e.retry_after(),
        Some(RetryAfter::Delay(Duration::from_secs(7)))
    );
    assert_eq!(e.attempts(), 1);
}

/// A 200 with an empty body is not a token.
pub fn empty_200<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.push_fault(Fault::EmptyBody { status: 200 });
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    let ErrorKind::UnexpectedResponse(u) = e.kind() else {
        panic!("{e:?}")
    };
    assert_eq!((u.status.as_u16(), u.body_len), (200, 0));
}

/// The connection dies mid-body: a transport error; create is not repeated,
/// revoke is.
pub fn reset_mid_body<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.push_fault(Fault::ResetMidBody);
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    assert_eq!(
        transport(&e),
        (TransportErrorKind::Io, Delivery::MaybeSent),
        "{e:?}"
    );
    assert_library_error_kept(&e, &mock);
    assert_eq!(e.attempts(), 1);
    assert_eq!(mock.tokens().len(), 1, "the server acted; no second token");
    let token = mock.tokens()[0].id.clone();
    mock.push_fault(Fault::ResetMidBody);
    let e = api_error(D::revoke(&client, &token));
    // The first revoke took effect; its retry finds the token revoked.
    assert!(e.has_code("sign_in_token_cannot_be_revoked_code"), "{e:?}");
    assert_eq!(e.attempts(), 2);
}

/// A success whose JSON stops halfway: a decode error, nothing leaked.
pub fn truncated_json<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.push_fault(Fault::TruncatedJson);
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    let ErrorKind::Decode(d) = e.kind() else {
        panic!("{e:?}")
    };
    assert_eq!(d.category, DecodeCategory::Eof);
    assert_no_secrets(&e, &mock);
}

/// A body past the cap ends the read: no unbounded buffering, no waiting
/// for the rest of half a gigabyte.
pub fn oversized_body<D: Driver>() {
    let mock = MockServer::start();
    let user = mock.create_user();
    let client = D::client(fast_config(&mock).with_max_body_bytes(16 * 1024));
    mock.push_fault(Fault::Oversized {
        bytes: 512 * 1024 * 1024,
    });
    let start = Instant::now();
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    assert!(start.elapsed() < Duration::from_secs(2), "read it all?");
    assert_eq!(
        transport(&e),
        (TransportErrorKind::BodyTooLarge, Delivery::MaybeSent)
    );
    assert_eq!(e.attempts(), 1);
}

/// A token labelled `text/plain` is refused, and no excerpt of it is kept.
pub fn wrong_content_type<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    mock.push_fault(Fault::WrongContentType);
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    let ErrorKind::UnexpectedResponse(u) = e.kind() else {
        panic!("{e:?}")
    };
    assert_eq!(u.status.as_u16(), 200);
    assert!(u.excerpt.is_empty());
    assert_no_secrets(&e, &mock);
}

/// A server that answers too late: a timeout when the attempt's time is up,
/// not before and not much after. The create took effect, so it is not
/// repeated; a revoke is, and finds its first attempt did the work.
pub fn slow_server_times_out<D: Driver>() {
    let mock = MockServer::start();
    let user = mock.create_user();
    let timeout = Duration::from_millis(300);
    let client = D::client(fast_config(&mock).with_timeout(timeout));
    mock.push_fault(Fault::Delay {
        delay: Duration::from_secs(5),
    });
    let start = Instant::now();
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    let took = start.elapsed();
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(
        transport(&e),
        (TransportErrorKind::Timeout, Delivery::MaybeSent)
    );
    assert!(
        took >= timeout && took < Duration::from_millis(1500),
        "took {took:?}"
    );
    assert_library_error_kept(&e, &mock);
    assert_eq!(e.attempts(), 1);
    assert_eq!(mock.requests().len(), 1);

    let token = mock.tokens()[0].id.clone();
    mock.push_fault(Fault::Delay {
        delay: Duration::from_secs(2),
    });
    let e = api_error(D::revoke(&client, &token));
    assert!(e.has_code("sign_in_token_cannot_be_revoked_code"), "{e:?}");
    assert_eq!(e.attempts(), 2);
}

/// A body that drips one byte at a time: the attempt's timeout covers the
/// whole body, not each read.
pub fn slow_drip_times_out<D: Driver>() {
    let mock = MockServer::start();
    let user = mock.create_user();
    let timeout = Duration::from_millis(500);
    let config = fast_config(&mock)
        .with_timeout(timeout)
        .with_retry_policy(RetryPolicy::never());
    let client = D::client(config);
    // The head comes at once, then a byte every 50 ms: the ~400-byte body
    // would take ~20 s.
    mock.push_fault(Fault::SlowDrip {
        interval: Duration::from_millis(50),
    });
    let start = Instant::now();
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    let took = start.elapsed();
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(e.attempts(), 1);
    assert!(
        took >= timeout && took < Duration::from_secs(2),
        "took {took:?}"
    );
}

/// A body that comes a byte at a time, well within the timeout, is read
/// whole: the pieces are joined in order.
pub fn slow_drip_arrives_whole<D: Driver>() {
    let mock = MockServer::start();
    let user = mock.create_user();
    // ~400 bytes at a millisecond each: time to spare on a loaded machine.
    let client = D::client(fast_config(&mock).with_timeout(Duration::from_secs(10)));
    mock.push_fault(Fault::SlowDrip {
        interval: Duration::from_millis(1),
    });
    let token = D::create(&client, CreateSignInToken::new(&user)).expect("a token");
    assert_eq!(token.user_id, user);
    assert_eq!(mock.tokens()[0].id, token.id);
}

/// A 307 to another host is not followed: the key never leaves.
pub fn redirect_not_followed<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    let elsewhere = MockServer::start();
    mock.push_fault(Fault::Redirect {
        status: 307,
        location: format!("{}/sign_in_tokens", elsewhere.base_url()),
    });
    let e = api_error(D::create(&client, CreateSignInToken::new(&user)));
    assert_eq!(e.status().map(|s| s.as_u16()), Some(307));
    assert!(matches!(e.kind(), ErrorKind::UnexpectedResponse(_)));
    assert!(
        elsewhere.requests().is_empty(),
        "the request followed the redirect"
    );
    assert_eq!(elsewhere.connections_accepted(), 0);
    assert_eq!(mock.requests().len(), 1);
}

/// 32 calls in flight on one client, twice: all succeed over reused connections.
pub fn concurrent_calls<D: Driver>() {
    let (mock, client, user) = setup::<D>();
    for round in 0..2 {
        let requests = (0..32).map(|_| CreateSignInToken::new(&user)).collect();
        let results = D::create_concurrently(&client, requests);
        assert_eq!(results.len(), 32);
        for r in results {
            r.unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
    assert_eq!(mock.tokens().len(), 64);
    assert_eq!(mock.requests().len(), 64, "one request a call");
    let connections = mock.connections_accepted();
    assert!(
        connections <= 32,
        "{connections} connections for 64 calls: not reused"
    );
}

/// The self-signed server's URL, with the table's quick retries.
fn tls_config(server: &SelfSignedServer) -> Config {
    fast_config_for("sk_test_tls", &server.base_url())
}

/// A certificate nobody said to trust fails the handshake: a TLS error,
/// nothing sent, nothing decoded. As nothing was sent, even a create is
/// tried again, up to the policy's attempts.
pub fn tls_untrusted_certificate_refused<D: Driver>() {
    let server = SelfSignedServer::start();
    let config = tls_config(&server);
    let attempts = config.retry_policy().max_attempts();
    assert_eq!(attempts, 3, "the default policy's attempts");
    let client = D::client(config);
    let e = api_error(D::create(&client, CreateSignInToken::new("user_tls")));
    assert_eq!(
        transport(&e),
        (TransportErrorKind::Tls, Delivery::NotSent),
        "{e:?}"
    );
    assert_eq!((e.status(), e.trace_id()), (None, None));
    assert_eq!(e.attempts(), attempts);
    let seen = server.wait_for(attempts as usize);
    assert_eq!(seen.len(), attempts as usize);
    for connection in seen {
        assert!(
            connection.request.is_err(),
            "a request got through: {connection:?}"
        );
    }
}

/// A client told to trust the certificate gets Clerk's replies over HTTPS:
/// a token from a create, Clerk's 404 from a revoke.
pub fn tls_trusted_certificate_accepted<D: Driver>() {
    let server = SelfSignedServer::start();
    let client = D::client_trusting(tls_config(&server), server.certificate_der());
    let token = D::create(&client, CreateSignInToken::new("user_tls")).expect("create over TLS");
    assert_eq!(token.id, "sit_tls");
    assert_eq!(token.status, SignInTokenStatus::Pending);
    let e = api_error(D::revoke(&client, "sit_tls"));
    assert!(e.is_not_found(), "{e:?}");
    assert_eq!(e.trace_id(), Some(tls::TRACE_ID));
    assert_eq!(e.attempts(), 1);
    let mut heads: Vec<String> = server
        .wait_for(2)
        .into_iter()
        .map(|c| c.request.expect("a request").to_ascii_lowercase())
        .collect();
    heads.sort();
    assert!(
        heads[0].starts_with("post /v1/sign_in_tokens http/1.1\r\n")
            && heads[1].starts_with("post /v1/sign_in_tokens/sit_tls/revoke http/1.1\r\n"),
        "{heads:?}"
    );
    for head in heads {
        assert!(
            head.contains("\r\nauthorization: bearer sk_test_tls"),
            "{head}"
        );
    }
}

/// Expands to one `#[test]` per scenario for a [`Driver`].
#[macro_export]
macro_rules! scenario_tests {
    ($driver:ty) => {
        $crate::scenario_tests!(@each $driver;
            create_minimal, create_with_options, revoke_lifecycle, revoke_accepted_token,
            revoke_awkward_id, not_found, validation_422, bad_key_401, invalid_request_not_sent,
            rate_limited_then_success, rate_limited_until_cap, retry_after_over_cap,
            zero_retry_after_is_not_a_hot_loop, proxy_404_is_not_clerks_not_found,
            server_text_cannot_forge_log_lines, rate_limit_gate_holds_the_next_calls,
            rate_limit_gate_past_the_policy_ends_calls_at_once, cancelled_while_waiting_at_the_gate,
            burst_at_the_rate_limit_completes, a_squeezed_burst_recovers,
            proxy_429_holds_no_longer_than_the_policy, pacing_keeps_a_burst_under_the_limit,
            revoke_503_then_success, create_503_not_retried, create_503_with_retry_after_retried,
            create_retried_when_opted_in, html_502, empty_200, reset_mid_body, truncated_json,
            oversized_body, wrong_content_type, slow_server_times_out, slow_drip_times_out,
            slow_drip_arrives_whole,
            redirect_not_followed, concurrent_calls, tls_untrusted_certificate_refused,
            tls_trusted_certificate_accepted);
        $crate::scenario_tests!(@each $driver;
            lookup_found_not_found_ambiguous, lookup_reply_larger_than_a_default_page,
            lookup_of_more_than_100_is_refused, lookup_of_250_addresses_takes_3_requests,
            lookup_by_external_id, lookup_reply_over_the_body_cap_is_split);
    };
    (@each $driver:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::$name::<$driver>();
            }
        )*
    };
}

/// The names of this process's threads (Linux: `/proc/self/task/*/comm`),
/// for tests that check which runtimes' threads a client starts.
#[cfg(target_os = "linux")]
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}
