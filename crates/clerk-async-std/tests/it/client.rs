//! The client itself: its pool of keep-alive connections (counted exactly,
//! which the shared table does not), and what its `Debug` shows.

use std::time::Duration;

use clerk_async_std::CreateSignInToken;
use clerk_mock::MockServer;

use crate::{client_for, config_for, on_both_runtimes};

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

/// Calls in flight on async-std's executor, whose threads pass tasks
/// between them: not one of them waits for its timeout. Four at a time the
/// callers drive their connections; six at a time the count crosses four
/// back and forth, so connections are lent to tasks of their own and taken
/// back again, mid-run; 64 at a time they are lent. (A read that had just blocked was once
/// skipped for the rest of a connection's poll, by a poll number: numbered
/// per thread, a task polled on another thread could take the number of
/// the poll in which its read had blocked, skip the read it had been woken
/// for, and wait for the deadline.)
#[test]
fn calls_moving_between_executor_threads_never_stall() {
    const CALLS: usize = 500;
    let server = MockServer::start();
    let user = server.create_user();
    let config = config_for(&server)
        .with_retry_policy(clerk_async_std::RetryPolicy::never())
        .with_timeout(Duration::from_secs(2));
    for tasks in [4, 6, 64] {
        // A client of its own each time, starting with no connection.
        let client = clerk_async_std::Client::new(config.clone()).unwrap();
        let before = server.connections_accepted();
        async_std::task::block_on(async {
            let running: Vec<_> = (0..tasks)
                .map(|_| {
                    let client = client.clone();
                    let user = user.clone();
                    async_std::task::spawn(async move {
                        let mut slowest = Duration::ZERO;
                        for _ in 0..CALLS {
                            let start = std::time::Instant::now();
                            let token = client
                                .create_sign_in_token(CreateSignInToken::new(&user))
                                .await;
                            if let Err(e) = token {
                                panic!("{e}");
                            }
                            slowest = slowest.max(start.elapsed());
                        }
                        slowest
                    })
                })
                .collect();
            for task in running {
                let slowest = task.await;
                assert!(
                    slowest < Duration::from_secs(1),
                    "{tasks} in flight: a call took {slowest:?}"
                );
            }
        });
        assert!(server.connections_accepted() - before <= tasks);
    }
}
