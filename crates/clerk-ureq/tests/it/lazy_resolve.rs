//! `Client::with_lazy_resolve` (feature `unversioned-lazy-resolve`): a call
//! on a pooled connection does no lookup and starts no thread; a new
//! connection still resolves, with the same errors, within the connect
//! timeout.
//!
//! Lookups are counted through the `log` records of ureq's own resolver,
//! which logs every address it resolves (`Resolved: [...]`, DEBUG) and
//! every lookup it runs on a thread of its own (`Resolve with timeout`,
//! TRACE). Records are told apart by the port of the test's own server, so
//! the other tests of this binary running at the same time do not count.

use std::error::Error as _;
use std::sync::{Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use clerk_mock::MockServer;
use clerk_scenarios::Blackhole;
use clerk_ureq::clerk_core::{Delivery, TransportErrorKind};
use clerk_ureq::{Client, Config, CreateSignInToken, Error, RetryPolicy};

use crate::{config, transport};

/// The target of ureq's resolver's records.
const RESOLVER_TARGET: &str = "ureq::unversioned::resolver";

/// Every record of ureq's resolver since the logger was installed.
static RESOLVER_RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct ResolverRecords;

impl log::Log for ResolverRecords {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == RESOLVER_TARGET
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            RESOLVER_RECORDS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

fn install_logger() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&ResolverRecords).expect("no other logger in this binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Lookups of `port` so far: (resolved, of which on a thread of their own).
fn lookups_of(port: u16) -> (usize, usize) {
    let records = RESOLVER_RECORDS
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let resolved = records
        .iter()
        .filter(|r| r.starts_with("Resolved: "))
        .filter(|r| r.contains(&format!(":{port}]")) || r.contains(&format!(":{port},")))
        .count();
    let threaded = records
        .iter()
        .filter(|r| r.starts_with("Resolve with timeout"))
        .filter(|r| r.trim_end().ends_with(&format!(":{port}")))
        .count();
    (resolved, threaded)
}

/// `config(server)`, with the server named `localhost`: a name to look up.
fn by_name(server: &MockServer) -> Config {
    let url = format!("http://localhost:{}/v1", server.addr().port());
    config(server).with_base_url(&url).unwrap()
}

/// The ureq error an error came from.
fn ureq_source(error: &Error) -> &clerk_ureq::ureq::Error {
    let mut source = error.source();
    while let Some(e) = source {
        if let Some(ureq) = e.downcast_ref::<clerk_ureq::ureq::Error>() {
            return ureq;
        }
        source = e.source();
    }
    panic!("no ureq error in {error:?}")
}

/// Twenty calls, one connection: ureq's resolver runs once, for the
/// connection, where `Client::new`'s agent runs it (on a new thread) for
/// every call.
#[test]
fn calls_on_a_kept_alive_connection_do_no_lookup_and_start_no_thread() {
    install_logger();
    const CALLS: usize = 20;
    let calls = |client: &Client, server: &MockServer| {
        let user = server.create_user();
        for _ in 0..CALLS / 2 {
            let token = client
                .create_sign_in_token(CreateSignInToken::new(&user))
                .unwrap();
            client.revoke_sign_in_token(&token.id).unwrap();
        }
    };

    // The counter works: ureq's own resolver, once a call, each on a thread.
    let server = MockServer::start();
    calls(&Client::new(by_name(&server)).unwrap(), &server);
    assert_eq!(server.connections_accepted(), 1);
    assert_eq!(lookups_of(server.addr().port()), (CALLS, CALLS));

    let server = MockServer::start();
    calls(
        &Client::with_lazy_resolve(by_name(&server)).unwrap(),
        &server,
    );
    assert_eq!(server.connections_accepted(), 1);
    assert_eq!(
        lookups_of(server.addr().port()),
        (1, 1),
        "one lookup (on a thread, with the timeout) for the one connection"
    );
}

/// A new connection after the pooled one was dropped looks the host up
/// again; so does each of several connections opened at once.
#[test]
fn each_new_connection_looks_the_host_up() {
    install_logger();
    let server = MockServer::start();
    let user = server.create_user();
    let client = Client::with_lazy_resolve(by_name(&server)).unwrap();
    client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                client
                    .create_sign_in_token(CreateSignInToken::new(&user))
                    .unwrap()
            });
        }
    });
    let connections = server.connections_accepted();
    assert!(connections >= 1);
    assert_eq!(lookups_of(server.addr().port()).0, connections);
}

/// An unknown host is found unknown by ureq's resolver, when the
/// connection is opened: a `Connect` error, not sent (and not a connect to
/// the placeholder address).
#[test]
fn an_unknown_host_is_a_connect_error_not_sent() {
    let config = Config::new("sk_test_x")
        .unwrap()
        .with_base_url("http://nonexistent.invalid/v1")
        .unwrap()
        .with_retry_policy(RetryPolicy::never());
    let error = Client::with_lazy_resolve(config)
        .unwrap()
        .create_sign_in_token(CreateSignInToken::new("user_1"))
        .unwrap_err();
    assert_eq!(
        transport(&error),
        (TransportErrorKind::Connect, Delivery::NotSent),
        "{error:?}"
    );
    let looked_up = match ureq_source(&error) {
        clerk_ureq::ureq::Error::HostNotFound => true,
        clerk_ureq::ureq::Error::Io(e) => e
            .to_string()
            .starts_with("failed to lookup address information"),
        _ => false,
    };
    assert!(looked_up, "{error:?}");
}

/// A silent address still ends the attempt within the connect timeout,
/// as a connect timeout, not sent.
#[test]
fn a_silent_address_times_out_within_the_connect_timeout() {
    let hole = Blackhole::at("127.0.0.1");
    let connect_timeout = Duration::from_millis(1000);
    let config = Config::new("sk_test_x")
        .unwrap()
        .with_base_url(&format!("http://{}/v1", hole.addr()))
        .unwrap()
        .with_retry_policy(RetryPolicy::never())
        .with_connect_timeout(connect_timeout)
        .with_timeout(Duration::from_secs(10));
    let client = Client::with_lazy_resolve(config).unwrap();
    let start = Instant::now();
    let error = client
        .create_sign_in_token(CreateSignInToken::new("user_1"))
        .unwrap_err();
    let took = start.elapsed();
    assert_eq!(
        transport(&error),
        (TransportErrorKind::Timeout, Delivery::NotSent),
        "{error:?}"
    );
    assert!(
        matches!(
            ureq_source(&error),
            clerk_ureq::ureq::Error::Timeout(clerk_ureq::ureq::Timeout::Connect)
        ),
        "{error:?}"
    );
    assert!(took >= connect_timeout * 9 / 10, "{took:?}");
    assert!(took < connect_timeout * 13 / 10, "{took:?}");
}

/// A caller's agent built with `lazy_resolve::agent` gets the same: one
/// lookup for the connection, none per call.
#[test]
fn a_callers_lazy_agent_does_no_lookup_per_call() {
    install_logger();
    let server = MockServer::start();
    let user = server.create_user();
    let agent = clerk_ureq::lazy_resolve::agent(
        clerk_ureq::ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build(),
    );
    let client = Client::with_agent(by_name(&server), agent).unwrap();
    for _ in 0..5 {
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .unwrap();
    }
    assert_eq!(server.connections_accepted(), 1);
    assert_eq!(lookups_of(server.addr().port()), (1, 1));
}
