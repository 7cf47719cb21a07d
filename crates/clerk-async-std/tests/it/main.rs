//! Integration tests of clerk-async-std, one binary. Every scenario runs
//! under async-std's `block_on` and under smol's; no tokio runtime exists in
//! this process.

mod client;
mod runtimes;
mod scenarios;
mod tls;
#[cfg(feature = "tracing")]
mod traces;
mod transport;

use std::future::Future;
use std::time::Duration;

use clerk_async_std::{Client, Config, RetryPolicy};
use clerk_mock::MockServer;

/// Runs the same scenario under async-std's executor, then under smol's,
/// checking that no tokio runtime context surrounds it.
fn on_both_runtimes<F, Fut>(scenario: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    async_std::task::block_on(without_tokio(scenario()));
    smol::block_on(without_tokio(scenario()));
}

async fn without_tokio<T, Fut: Future<Output = T>>(scenario: Fut) -> T {
    assert_no_tokio_runtime();
    let output = scenario.await;
    assert_no_tokio_runtime();
    output
}

/// Any tokio API that needs a runtime (spawn, sleep, its sockets) would
/// panic here: there is none.
fn assert_no_tokio_runtime() {
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "a tokio runtime is entered"
    );
}

/// Quick retries, so tests that retry stay fast.
fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(40))
}

fn config_for(server: &MockServer) -> Config {
    Config::new(server.secret_key())
        .unwrap()
        .with_base_url(&server.base_url())
        .unwrap()
        .with_retry_policy(fast_retries())
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5))
}

fn client_for(server: &MockServer) -> Client {
    Client::new(config_for(server)).unwrap()
}

fn blackhole() -> clerk_scenarios::Blackhole {
    clerk_scenarios::Blackhole::at("127.0.0.1")
}
