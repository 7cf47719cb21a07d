//! An agent that looks the host up only when it opens a new connection
//! (feature `unversioned-lazy-resolve`).
//!
//! ureq 3 resolves the host at the start of every call, before it looks in
//! its connection pool, and with a timeout set (this crate always sets one)
//! its resolver runs each lookup on a thread of its own. So every call, on
//! a kept-alive connection too, costs a `getaddrinfo` and a thread. The
//! agent [`agent`] builds (and [`Client::with_lazy_resolve`](crate::Client::with_lazy_resolve)
//! uses) has:
//!
//! - a resolver that looks nothing up: it answers every host with one
//!   placeholder address, `0.0.0.0:0` (port 0 is never connectable); when
//!   the pool has a connection for the host, ureq uses it and the
//!   placeholder goes no further;
//! - in front of ureq's own connector chain, a step that, only when ureq
//!   opens a new connection and the addresses are that placeholder, looks
//!   the host up with ureq's own resolver (on a thread, with the timeout,
//!   honouring `ip_family`, with the same errors), and then hands the real
//!   addresses to ureq's default connector (TCP, TLS, proxies: as with any
//!   other agent). Later steps that resolve (a proxy's host) use ureq's own
//!   resolver too.
//!
//! # What changes
//!
//! - A call on a pooled connection does no lookup and starts no thread.
//! - A new connection costs one lookup, then the connect, as before; but
//!   the two now share **one** connect timeout
//!   ([`Config::connect_timeout`](crate::Config::connect_timeout)): the
//!   lookup may take up to all of it, and the connect gets what the lookup
//!   left. With ureq's own resolver each had a connect timeout of its own
//!   (resolve ≤ connect timeout, then connect ≤ connect timeout, so up to
//!   twice it in all). The overall timeout bounds the whole attempt either
//!   way.
//! - A lookup that runs out of time is reported as ureq's
//!   `Timeout::Connect` instead of `Timeout::Resolve` (or `Timeout::Global`
//!   when the overall timeout is the nearer one, as before): still a
//!   [`Timeout`](clerk_core::TransportErrorKind::Timeout) transport error
//!   that was [`NotSent`](clerk_core::Delivery::NotSent) (or `MaybeSent`
//!   for `Global`, as with ureq's resolver). An unknown host is still a
//!   [`Connect`](clerk_core::TransportErrorKind::Connect) error, `NotSent`.
//! - Agent settings that apply to resolving apply at the connect:
//!   `timeout_resolve` no longer bounds anything; `timeout_connect` (and the
//!   overall timeouts) bound the lookup and the connect together.
//!
//! # Why it is a feature
//!
//! The resolver and connector traits are in ureq's `unversioned` module,
//! which ureq says does not follow semantic versioning: any minor release
//! of ureq may change them and break this module's build. This crate does
//! not cap ureq's minor version for everyone for its sake, so the module
//! is opt-in. If you turn the feature on, pin ureq's minor version in your
//! own `Cargo.toml` (`ureq = "~3.5"`); the feature is built and tested
//! against the ureq version in this repository's lock file (3.5.2).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use ureq::Agent;
use ureq::config::Config as UreqConfig;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::{Duration as UreqDuration, Instant as UreqInstant};
use ureq::unversioned::transport::{
    ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

/// What the placeholder resolver answers: port 0 is never connectable, so
/// resolving in its place never loses a connection that could have opened.
const PLACEHOLDER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));

/// An agent with `config` that looks the host up only when it opens a new
/// connection, for [`Client::with_agent`](crate::Client::with_agent) (or
/// any other use). Everything else (TLS, proxies, pool) is as
/// `Agent::new_with_config(config)` would do it; see the [module
/// docs](self) for what changes.
///
/// ```
/// use clerk_ureq::{Client, Config};
/// use clerk_ureq::ureq::Agent;
///
/// let config = Agent::config_builder().max_idle_connections_per_host(8).build();
/// let agent = clerk_ureq::lazy_resolve::agent(config);
/// let client = Client::with_agent(Config::new("sk_test_example")?, agent)?;
/// # let _ = client;
/// # Ok::<(), clerk_ureq::Error>(())
/// ```
pub fn agent(config: UreqConfig) -> Agent {
    Agent::with_parts(
        config,
        LazyConnector::new(DefaultResolver::default()),
        Placeholder,
    )
}

/// Answers every host with [`PLACEHOLDER`], looking nothing up.
#[derive(Debug)]
struct Placeholder;

impl Resolver for Placeholder {
    fn resolve(
        &self,
        _uri: &Uri,
        _config: &UreqConfig,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut addrs = self.empty();
        addrs.push(PLACEHOLDER);
        Ok(addrs)
    }
}

/// Resolves the placeholder with `resolver` when a connection is opened,
/// then connects with ureq's default connector.
#[derive(Debug)]
struct LazyConnector<R> {
    resolver: R,
    inner: DefaultConnector,
}

impl<R: Resolver> LazyConnector<R> {
    fn new(resolver: R) -> Self {
        Self {
            resolver,
            inner: DefaultConnector::default(),
        }
    }
}

impl<R: Resolver> Connector<()> for LazyConnector<R> {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let (addrs, now, timeout) = if details.addrs[..] == [PLACEHOLDER] {
            let addrs = self
                .resolver
                .resolve(details.uri, details.config, details.timeout)?;
            let now = (details.current_time)();
            (addrs, now, remaining(details.now, details.timeout, now)?)
        } else {
            // Real addresses, or none (a proxy resolves the host).
            (details.addrs.clone(), details.now, details.timeout)
        };
        // The real resolver goes on in every case: a proxy connector
        // resolves the proxy's host with it, and the placeholder would send
        // it to port 0.
        let details = ConnectionDetails {
            uri: details.uri,
            addrs,
            config: details.config,
            request_level: details.request_level,
            resolver: &self.resolver,
            now,
            timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        self.inner.connect(&details, chained)
    }
}

/// What is left at `now` of `budget`, which started at `start`; the
/// budget's timeout error if nothing is.
fn remaining(
    start: UreqInstant,
    budget: NextTimeout,
    now: UreqInstant,
) -> Result<NextTimeout, ureq::Error> {
    let expired = Err(ureq::Error::Timeout(budget.reason));
    match (start + budget.after, now) {
        (UreqInstant::NotHappening, _) => Ok(budget),
        (UreqInstant::AlreadyHappened, _) => expired,
        (UreqInstant::Exact(deadline), UreqInstant::Exact(now)) => {
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return expired;
            }
            Ok(NextTimeout {
                after: UreqDuration::Exact(left),
                ..budget
            })
        }
        // ureq's clock reads exact instants; anything else is not
        // measurable, and the budget is left as it was.
        (UreqInstant::Exact(_), _) => Ok(budget),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{Client, Config, CreateSignInToken, RetryPolicy};
    use clerk_core::{Delivery, ErrorKind, TransportErrorKind};

    /// ureq's resolver, slowed down and counted.
    #[derive(Debug)]
    struct Slow {
        delay: Duration,
        calls: Arc<AtomicUsize>,
    }

    impl Resolver for Slow {
        fn resolve(
            &self,
            uri: &Uri,
            config: &UreqConfig,
            timeout: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            DefaultResolver::default().resolve(uri, config, timeout)
        }
    }

    fn client_over(base_url: &str, resolver: Slow, connect_timeout: Duration) -> Client {
        let config = Config::new("sk_test_x")
            .unwrap()
            .with_base_url(base_url)
            .unwrap()
            .with_retry_policy(RetryPolicy::never())
            .with_connect_timeout(connect_timeout)
            .with_timeout(Duration::from_secs(10));
        let agent = Agent::with_parts(
            UreqConfig::default(),
            LazyConnector::new(resolver),
            Placeholder,
        );
        Client::with_agent(config, agent).unwrap()
    }

    /// The lookup and the connect share one connect timeout: a lookup that
    /// takes 60% of it leaves the connect to a silent address only the
    /// rest, and the attempt ends at the connect timeout, not 1.6 times it.
    #[test]
    fn the_lookup_and_the_connect_share_the_connect_timeout() {
        let hole = clerk_scenarios::Blackhole::at("127.0.0.1");
        let connect_timeout = Duration::from_millis(1000);
        let calls = Arc::new(AtomicUsize::new(0));
        let slow = Slow {
            delay: Duration::from_millis(600),
            calls: calls.clone(),
        };
        let client = client_over(&format!("http://{}/v1", hole.addr()), slow, connect_timeout);
        let start = Instant::now();
        let error = client
            .create_sign_in_token(CreateSignInToken::new("user_1"))
            .unwrap_err();
        let took = start.elapsed();
        let ErrorKind::Transport(t) = error.kind() else {
            panic!("{error:?}")
        };
        assert_eq!(
            (t.kind, t.delivery),
            (TransportErrorKind::Timeout, Delivery::NotSent),
            "{error:?}"
        );
        assert!(took >= connect_timeout * 9 / 10, "{took:?}");
        assert!(took < connect_timeout * 13 / 10, "{took:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// A lookup that takes the whole connect timeout ends the attempt
    /// there, as a connect timeout, without trying to connect.
    #[test]
    fn a_lookup_past_the_connect_timeout_is_a_connect_timeout() {
        let server = clerk_mock::MockServer::start();
        let calls = Arc::new(AtomicUsize::new(0));
        let slow = Slow {
            delay: Duration::from_millis(400),
            calls: calls.clone(),
        };
        let client = client_over(&server.base_url(), slow, Duration::from_millis(300));
        let error = client
            .create_sign_in_token(CreateSignInToken::new("user_1"))
            .unwrap_err();
        let ErrorKind::Transport(t) = error.kind() else {
            panic!("{error:?}")
        };
        assert_eq!(
            (t.kind, t.delivery),
            (TransportErrorKind::Timeout, Delivery::NotSent),
            "{error:?}"
        );
        assert_eq!(server.connections_accepted(), 0);
    }

    #[test]
    fn remaining_deducts_the_time_taken() {
        let start = std::time::Instant::now();
        let budget = NextTimeout {
            after: UreqDuration::Exact(Duration::from_millis(1000)),
            reason: ureq::Timeout::Connect,
            ..NextTimeout::default()
        };
        let at = |ms| UreqInstant::Exact(start + Duration::from_millis(ms));
        let left = remaining(at(0), budget, at(400)).unwrap();
        assert_eq!(*left.after, Duration::from_millis(600));
        assert_eq!(left.reason, ureq::Timeout::Connect);
        assert!(matches!(
            remaining(at(0), budget, at(1000)),
            Err(ureq::Error::Timeout(ureq::Timeout::Connect))
        ));
        assert!(matches!(
            remaining(at(0), budget, at(5000)),
            Err(ureq::Error::Timeout(ureq::Timeout::Connect))
        ));
        let endless = NextTimeout {
            after: UreqDuration::NotHappening,
            ..budget
        };
        assert_eq!(remaining(at(0), endless, at(5000)).unwrap(), endless);
    }
}
