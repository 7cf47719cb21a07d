//! Which executors the client runs on: async-std's, smol's (one thread,
//! many tasks), and a bare `block_on` that knows nothing of either. And no
//! tokio anywhere.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use clerk_async_std::{CreateSignInToken, SignInTokenStatus};
use clerk_mock::{Fault, MockServer};

use crate::{assert_no_tokio_runtime, client_for};

#[test]
fn many_tasks_on_one_smol_executor_thread_wait_together() {
    const TASKS: usize = 8;
    let server = MockServer::start();
    let user = server.create_user();
    let client = client_for(&server);
    // Every task's first attempt meets a 503 asking for a 1 s wait.
    server.push_faults(
        Fault::ServiceUnavailable {
            retry_after: Some("1".into()),
        },
        TASKS,
    );

    let executor = smol::LocalExecutor::new();
    let started = Instant::now();
    let ids: Vec<String> = smol::block_on(executor.run(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let client = client.clone();
                let user = user.clone();
                executor.spawn(async move {
                    assert_no_tokio_runtime();
                    let token = client
                        .create_sign_in_token(CreateSignInToken::new(&user))
                        .await
                        .unwrap();
                    let revoked = client.revoke_sign_in_token(&token.id).await.unwrap();
                    assert_eq!(revoked.status, SignInTokenStatus::Revoked);
                    token.id
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await);
        }
        ids
    }));
    let took = started.elapsed();

    assert_eq!(ids.len(), TASKS);
    assert_eq!(server.tokens().len(), TASKS);
    // Eight 1 s waits on one thread overlap: the sleeps and the sockets are
    // async, nothing blocks the executor's thread.
    assert!(took >= Duration::from_secs(1), "took {took:?}");
    assert!(
        took < Duration::from_secs(3),
        "took {took:?}: the waits did not overlap"
    );
}

#[test]
fn a_multi_threaded_smol_executor() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client_for(&server);
    let executor = Arc::new(smol::Executor::new());
    let (stop, stopped) = smol::channel::unbounded::<()>();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let executor = executor.clone();
            let stopped = stopped.clone();
            thread::spawn(move || smol::block_on(executor.run(stopped.recv())))
        })
        .collect();

    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let client = client.clone();
            let user = user.clone();
            executor.spawn(async move {
                assert_no_tokio_runtime();
                client
                    .create_sign_in_token(CreateSignInToken::new(&user))
                    .await
            })
        })
        .collect();
    for task in tasks {
        smol::block_on(task).unwrap();
    }
    drop(stop);
    for worker in workers {
        let _ = worker.join().unwrap();
    }
    assert_eq!(server.tokens().len(), 16);
}

/// The smallest executor: polls on the calling thread, parks in between.
fn bare_block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

#[test]
fn a_bare_block_on_with_a_retry_wait() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client_for(&server);
    server.push_fault(Fault::RateLimited {
        retry_after: "1".into(),
    });
    let token = bare_block_on(async {
        assert_no_tokio_runtime();
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
    })
    .unwrap();
    assert_eq!(token.user_id, user);
    assert_eq!(server.requests().len(), 2);
}

#[cfg(target_os = "linux")]
#[test]
fn no_tokio_runtime_runs_in_this_process() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = client_for(&server);
    async_std::task::block_on(async {
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap();
    });
    smol::block_on(async {
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap();
    });
    // hyper's connection tasks are alive now (the pool holds a connection):
    // they run on async-std's executor threads, the sockets on async-io's
    // reactor. A tokio runtime would show its worker or blocking threads.
    let names = clerk_scenarios::thread_names();
    assert!(!names.is_empty());
    for name in &names {
        assert!(!name.starts_with("tokio"), "a tokio thread runs: {names:?}");
    }
}
