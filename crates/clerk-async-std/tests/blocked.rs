//! Tests that hold every thread of async-std's executor for a while: a
//! binary of their own, so that no other test's timing waits on those
//! threads. (Nothing of the client's runs there while it has at most four
//! calls under way: not the calls, their connections, the host name
//! lookups, the sockets, the timers (the attempts' deadlines) or the pool's
//! sweeper.)

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use clerk_async_std::{Client, Config, CreateSignInToken, RetryPolicy};

/// Holds every thread of async-std's executor for `time` (blocked in a
/// plain sleep), once all of them are held; await the result to join them.
fn block_every_async_std_worker(time: Duration) -> impl Future<Output = ()> {
    let workers = std::env::var("ASYNC_STD_THREAD_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()));
    let held = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let held = held.clone();
            async_std::task::spawn(async move {
                held.fetch_add(1, Ordering::SeqCst);
                thread::sleep(time);
            })
        })
        .collect();
    let start = Instant::now();
    while held.load(Ordering::SeqCst) < workers {
        assert!(start.elapsed() < Duration::from_secs(10), "workers busy");
        thread::sleep(Duration::from_millis(2));
    }
    async move {
        for task in tasks {
            task.await;
        }
    }
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

/// The attempt's timeout ends a call while every thread of async-std's
/// executor is blocked and the server never answers, under async-std's,
/// smol's and a bare `block_on`.
#[test]
fn the_timeout_fires_while_every_executor_thread_is_blocked() {
    // Accepts connections and never reads or answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept() {
            held.push(conn);
        }
    });
    let timeout = Duration::from_millis(200);
    let config = Config::new("sk_test_x")
        .unwrap()
        .with_base_url(&format!("http://{addr}/v1"))
        .unwrap()
        .with_retry_policy(RetryPolicy::never())
        .with_timeout(timeout);
    let client = Client::new(config).unwrap();
    let call = || client.create_sign_in_token(CreateSignInToken::new("user_x"));
    let block_ons: [(&str, &dyn Fn() -> Duration); 3] = [
        ("async-std", &|| timed(|| async_std::task::block_on(call()))),
        ("smol", &|| timed(|| smol::block_on(call()))),
        ("bare", &|| timed(|| bare_block_on(call()))),
    ];
    for (name, run) in block_ons {
        let held = block_every_async_std_worker(Duration::from_millis(1200));
        let took = run();
        assert!(took >= timeout, "{name}: {took:?}");
        assert!(took < Duration::from_millis(800), "{name}: {took:?}");
        smol::block_on(held);
    }
}

/// How long `call` took to fail with a timeout.
fn timed<T: std::fmt::Debug>(call: impl FnOnce() -> Result<T, clerk_async_std::Error>) -> Duration {
    let start = Instant::now();
    let err = call().unwrap_err();
    let took = start.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    took
}

/// Makes one call with a client under some `block_on`: how long it took.
type CallOn<'a> = dyn Fn(&Client) -> Duration + 'a;

/// A call runs in its caller's task: one call at a time, the connection is
/// driven there, and a host name is resolved on a thread of the `blocking`
/// crate's pool, so a call completes while every thread of async-std's
/// executor is held, under async-std's, smol's and a bare `block_on`, with
/// a host name as with an IP literal. (With the connection driven by a task
/// on that executor, each of these waited for the threads; so did a host
/// name resolved through async-std's `ToSocketAddrs`, which runs the lookup
/// in a task there.)
#[test]
fn a_call_needs_no_executor_thread() {
    let server = clerk_mock::MockServer::start();
    let user = server.create_user();
    let hold = Duration::from_millis(1500);
    for host in ["127.0.0.1", "localhost"] {
        let base_url = format!("http://{host}:{}/v1", server.addr().port());
        let block_ons: [(&str, &CallOn<'_>); 3] = [
            ("async-std", &|c| {
                took(|| async_std::task::block_on(create(c, &user)))
            }),
            ("smol", &|c| took(|| smol::block_on(create(c, &user)))),
            ("bare", &|c| took(|| bare_block_on(create(c, &user)))),
        ];
        for (name, run) in block_ons {
            // A client of its own: its first call resolves the host and
            // opens a connection, the second takes it from the pool.
            let config = clerk_scenarios::default_config(&server)
                .with_base_url(&base_url)
                .unwrap();
            let client = Client::new(config).unwrap();
            for call in ["new connection", "pooled"] {
                let held = block_every_async_std_worker(hold);
                let took = run(&client);
                assert!(took < hold / 2, "{name}, {host}, {call}: {took:?}");
                smol::block_on(held);
            }
        }
    }
    assert_eq!(server.connections_accepted(), 6);
}

/// Above four calls under way, a connection a call takes is lent to a
/// task of its own on async-std's executor; a call made on its own takes it
/// back. After a burst, a call made on its own runs on one of the burst's
/// connections and still completes while every executor thread is held,
/// under smol's and a bare `block_on`. (Before the lent connections were
/// taken back, it waited for an executor thread.)
#[test]
fn after_a_burst_a_call_needs_no_executor_thread() {
    let server = clerk_mock::MockServer::start();
    let user = server.create_user();
    let client = Client::new(clerk_scenarios::default_config(&server)).unwrap();
    // Eight at once, on one thread: each has entered before any connects,
    // so each connection is lent.
    let executor = smol::LocalExecutor::new();
    smol::block_on(executor.run(async {
        let calls: Vec<_> = (0..8)
            .map(|_| executor.spawn(create(&client, &user)))
            .collect();
        for call in calls {
            call.await.unwrap();
        }
    }));
    let opened = server.connections_accepted();
    assert!(opened > 4, "{opened} connections");
    let hold = Duration::from_millis(1500);
    let block_ons: [(&str, &dyn Fn() -> Duration); 2] = [
        ("smol", &|| took(|| smol::block_on(create(&client, &user)))),
        ("bare", &|| took(|| bare_block_on(create(&client, &user)))),
    ];
    for (name, run) in block_ons {
        for call in ["first", "second"] {
            let held = block_every_async_std_worker(hold);
            let took = run();
            assert!(took < hold / 2, "{name}, {call}: {took:?}");
            smol::block_on(held);
        }
    }
    assert_eq!(server.connections_accepted(), opened);
}

async fn create(
    client: &Client,
    user: &str,
) -> Result<clerk_async_std::SignInToken, clerk_async_std::Error> {
    client
        .create_sign_in_token(CreateSignInToken::new(user))
        .await
}

/// How long `call` took to succeed.
fn took<T>(call: impl FnOnce() -> Result<T, clerk_async_std::Error>) -> Duration {
    let start = Instant::now();
    if let Err(e) = call() {
        panic!("{e}");
    }
    start.elapsed()
}
