//! What the end-to-end benchmarks (`benches/e2e.rs`, `benches/latency.rs`)
//! share around [`interleave`](crate::interleave): their settings from the
//! environment, the SDK's configuration for a base URL, the loops that keep
//! calls in flight on each runtime, and the ratio tables.

use std::time::{Duration, Instant};

use crate::bare::{Hyper, authority};
use crate::{EXPIRES_IN_SECONDS, Rounds, SECRET_KEY, USER_ID};

/// The environment variable `name` parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The host every contender's base URL names: `BENCH_HOST`, or `default`.
pub fn bench_host(default: &str) -> String {
    std::env::var("BENCH_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `http://HOST:PORT/v1`.
pub fn base_url(host: &str, port: u16) -> String {
    format!("http://{}/v1", authority(host, port))
}

/// The SDK's configuration with the benchmark's key and `base_url`.
pub fn config(base_url: &str) -> clerk_core::Config {
    clerk_core::Config::new(SECRET_KEY)
        .unwrap()
        .with_base_url(base_url)
        .unwrap()
}

/// The create call every SDK contender makes.
pub fn create() -> clerk_core::CreateSignInToken {
    clerk_core::CreateSignInToken::new(USER_ID).with_expires_in_seconds(EXPIRES_IN_SECONDS)
}

/// What `#[tokio::main]` builds: the multi-thread runtime, one worker per
/// CPU this process may use.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The table of time-per-call ratios `a / b`, paired by round, for the pairs
/// whose contenders both ran.
pub fn print_ratios(r: &Rounds, pairs: &[(&str, &str, &str)]) {
    for (a, b, target) in pairs {
        if !(r.has(a) && r.has(b)) {
            continue;
        }
        let (median, min, max) = r.ratio(a, b);
        println!("| {a} / {b} | {median:.3} | {min:.3} | {max:.3} | {target} |");
    }
    println!();
}

/// The table of throughput ratios `a / b` (`b`'s time over `a`'s, paired by
/// round), with its heading, for the pairs whose contenders both ran.
pub fn print_throughput_ratios(r: &Rounds, pairs: &[(&str, &str, &str)]) {
    println!(
        "| throughput ratio (bare time / adapter time, paired by round) | median | min | max | target |"
    );
    println!("| --- | ---: | ---: | ---: | --- |");
    for (a, b, target) in pairs {
        if !(r.has(a) && r.has(b)) {
            continue;
        }
        // Throughput ratio = 1 / time ratio; min and max swap.
        let (median, min, max) = r.ratio(a, b);
        println!(
            "| {a} / {b} | {:.3} | {:.3} | {:.3} | {target} |",
            1.0 / median,
            1.0 / max,
            1.0 / min
        );
    }
    println!();
}

/// The share of `calls` that task `t` of `in_flight` makes.
fn share(t: u64, in_flight: u64, calls: u64) -> u64 {
    calls / in_flight + u64::from(t < calls % in_flight)
}

/// Runs `calls` calls with `in_flight` tasks on a tokio runtime, each task
/// making its share one after the other.
pub fn tokio_in_flight<F, Fut>(
    rt: &tokio::runtime::Runtime,
    in_flight: u64,
    calls: u64,
    call: F,
) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    rt.block_on(async {
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..in_flight {
            let share = share(t, in_flight, calls);
            let call = call.clone();
            tasks.spawn(async move {
                for _ in 0..share {
                    call().await;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        start.elapsed()
    })
}

/// The same on async-std's executor, under `async_std::task::block_on`.
pub fn async_std_in_flight<F, Fut>(in_flight: u64, calls: u64, call: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    async_std::task::block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|t| {
                let share = share(t, in_flight, calls);
                let call = call.clone();
                async_std::task::spawn(async move {
                    for _ in 0..share {
                        call().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        start.elapsed()
    })
}

/// The same on smol's executor (`smol::spawn`), under `smol::block_on`.
pub fn smol_in_flight<F, Fut>(in_flight: u64, calls: u64, call: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    smol::block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|t| {
                let share = share(t, in_flight, calls);
                let call = call.clone();
                smol::spawn(async move {
                    for _ in 0..share {
                        call().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        start.elapsed()
    })
}

/// Bare hyper on async-std: one connection per task, kept across rounds.
pub fn hyper_in_flight(conns: &mut Vec<Hyper>, calls: u64, timeout: Option<Duration>) -> Duration {
    let in_flight = conns.len() as u64;
    async_std::task::block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = conns
            .drain(..)
            .enumerate()
            .map(|(t, mut conn)| {
                let share = share(t as u64, in_flight, calls);
                async_std::task::spawn(async move {
                    for _ in 0..share {
                        match timeout {
                            None => std::hint::black_box(conn.call().await),
                            Some(t) => std::hint::black_box(
                                async_std::future::timeout(t, conn.call()).await.unwrap(),
                            ),
                        };
                    }
                    conn
                })
            })
            .collect();
        for task in tasks {
            conns.push(task.await);
        }
        start.elapsed()
    })
}
