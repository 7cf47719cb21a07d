//! What clerk-ureq does with a host of several addresses whose first one
//! never answers (a broken IPv6 route, typically): ureq tries the addresses
//! one at a time, giving each a share of the connect timeout that halves
//! from one address to the next (2/3 and 1/3 for two addresses), and moves
//! on at once from a refused one. The addresses come from a resolver of the
//! test's own, on an agent passed to `Client::with_agent` (ureq's resolver
//! trait is in its `unversioned` module: fine in a test, not in the
//! library); the silent address is a loopback listener whose accept queue
//! is full, which drops SYNs.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use clerk_mock::MockServer;
use clerk_scenarios::Blackhole;
use clerk_ureq::ureq::Agent;
use clerk_ureq::ureq::config::Config as UreqConfig;
use clerk_ureq::ureq::http::Uri;
use clerk_ureq::ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use clerk_ureq::ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use clerk_ureq::{Client, CreateSignInToken, RetryPolicy};

use crate::config;

/// Resolves every host to the same addresses, in this order.
#[derive(Debug)]
struct Fixed(Vec<SocketAddr>);

impl Resolver for Fixed {
    fn resolve(
        &self,
        _uri: &Uri,
        _config: &UreqConfig,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, clerk_ureq::ureq::Error> {
        let mut addrs = self.empty();
        for addr in &self.0 {
            addrs.push(*addr);
        }
        Ok(addrs)
    }
}

fn client_over(server: &MockServer, addrs: Vec<SocketAddr>, connect_timeout: Duration) -> Client {
    let agent = Agent::with_parts(
        Agent::config_builder().build(),
        DefaultConnector::default(),
        Fixed(addrs),
    );
    let config = config(server)
        .with_connect_timeout(connect_timeout)
        .with_timeout(Duration::from_secs(10))
        .with_retry_policy(RetryPolicy::never());
    Client::with_agent(config, agent).unwrap()
}

/// A silent first address costs each new connection 2/3 of the connect
/// timeout, then the second address connects: the call succeeds, late.
/// Pooled connections are not affected.
#[test]
fn a_silent_first_address_costs_two_thirds_of_the_connect_timeout() {
    let server = MockServer::start();
    let user = server.create_user();
    let hole = Blackhole::at("::1");
    let connect_timeout = Duration::from_millis(1500);
    let client = client_over(&server, vec![hole.addr(), server.addr()], connect_timeout);

    let start = Instant::now();
    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap();
    let took = start.elapsed();
    assert!(took >= connect_timeout * 2 / 3, "{took:?}");
    assert!(took < connect_timeout, "{took:?}");

    // The connection is pooled: the next call does not connect.
    let start = Instant::now();
    client.revoke_sign_in_token(&token.id).unwrap();
    assert!(start.elapsed() < Duration::from_millis(500));
}

/// A refused first address costs nothing: ureq moves on at once.
#[test]
fn a_refused_first_address_moves_on_at_once() {
    let server = MockServer::start();
    let user = server.create_user();
    let refused = TcpListener::bind("[::1]:0").unwrap().local_addr().unwrap();
    let client = client_over(
        &server,
        vec![refused, server.addr()],
        Duration::from_secs(3),
    );
    let start = Instant::now();
    client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .unwrap();
    assert!(start.elapsed() < Duration::from_millis(500));
}
