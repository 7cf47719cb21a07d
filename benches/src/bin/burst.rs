//! A burst of creates against clerk-mock's rate limiter: how many succeed,
//! how many fail, how many 429s the server served, and the wall time
//! against the ideal (the burst's size over the limit, in windows).
//!
//! ```sh
//! cargo run --release --manifest-path benches/Cargo.toml --bin burst -- \
//!     [N] [K] [LIMIT] [WINDOW_MS] [contender …]
//! ```
//!
//! N creates (default 300) with K in flight (default 32), the mock limiting
//! its key to LIMIT requests (default 20) per WINDOW_MS (default 1000).
//! Contenders: `ureq`, `reqwest`, `async-std` (each `alone`, `gate`,
//! `paced`) and `clerk-rs`; by default all of them. Prints one Markdown row
//! per run.
//!
//! `squeeze=TAKEN:MS` adds another user of the key: it takes TAKEN requests
//! of every window that begins in the first MS milliseconds, then stops
//! (clerk-mock's `RateLimit::with_other_tenant`). The ideal is then the
//! time the burst needs with what is left: `LIMIT - TAKEN` per window while
//! the other user lasts, LIMIT after. The squeeze in BENCHMARKS.md:
//!
//! ```sh
//! cargo run --release --manifest-path benches/Cargo.toml --bin burst -- \
//!     200 32 20 1000 squeeze=18:4000 reqwest-gate async-std-gate
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clerk_core::{Config, CreateSignInToken, Error, RateLimit, SignInToken};
use clerk_mock::MockServer;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Each call learns of the limit on its own: the gate off.
    Alone,
    /// The default: the client-wide gate on, no pacing.
    Gate,
    /// The gate and pacing set to the mock's limit.
    Paced,
}

struct Run {
    ok: usize,
    failed: usize,
    wall: Duration,
}

fn main() {
    // clerk-rs builds its reqwest client without choosing a TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| {
        args.get(i)
            .and_then(|a| a.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let n = num(0, 300) as usize;
    let k = num(1, 32) as usize;
    let limit = num(2, 20) as u32;
    let window = Duration::from_millis(num(3, 1000));
    let squeeze: Option<(u32, Duration)> = args
        .iter()
        .find_map(|a| a.strip_prefix("squeeze="))
        .map(|s| {
            let (taken, ms) = s.split_once(':').expect("squeeze=TAKEN:MS");
            let taken = taken.parse().expect("squeeze=TAKEN:MS");
            let ms = ms.parse().expect("squeeze=TAKEN:MS");
            (taken, Duration::from_millis(ms))
        });
    let named: Vec<&str> = args
        .iter()
        .skip(4)
        .map(String::as_str)
        .filter(|a| a.parse::<u64>().is_err() && !a.starts_with("squeeze="))
        .collect();
    let wanted = |name: &str| named.is_empty() || named.iter().any(|w| name.starts_with(w));
    let ideal = ideal_time(n, limit, window, squeeze);
    println!(
        "N = {n}, K = {k} in flight, limit {limit} per {} ms{}; ideal {:.1} s",
        window.as_millis(),
        squeeze.map_or(String::new(), |(taken, lasting)| format!(
            ", another user taking {taken} per window for the first {} ms",
            lasting.as_millis()
        )),
        ideal.as_secs_f64()
    );
    println!("| contender | succeeded | failed | 429s served | wall | wall / ideal |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let runs: Vec<(&str, Mode)> = vec![
        ("clerk-ureq", Mode::Alone),
        ("clerk-ureq", Mode::Gate),
        ("clerk-ureq", Mode::Paced),
        ("clerk-reqwest", Mode::Alone),
        ("clerk-reqwest", Mode::Gate),
        ("clerk-reqwest", Mode::Paced),
        ("clerk-async-std", Mode::Alone),
        ("clerk-async-std", Mode::Gate),
        ("clerk-async-std", Mode::Paced),
    ];
    for (adapter, mode) in runs {
        let label = format!(
            "{adapter} ({})",
            match mode {
                Mode::Alone => "gate off",
                Mode::Gate => "default: gate",
                Mode::Paced => "gate + pacing",
            }
        );
        let short = adapter.trim_start_matches("clerk-");
        if !wanted(&format!("{short}-{mode:?}").to_lowercase()) && !wanted(short) {
            continue;
        }
        let mock = limited_mock(limit, window, squeeze);
        let users: Vec<String> = (0..n).map(|_| mock.create_user()).collect();
        let mut config = Config::new(mock.secret_key())
            .and_then(|c| c.with_base_url(&mock.base_url()))
            .expect("a config");
        match mode {
            Mode::Alone => config = config.with_rate_limit_gate(false),
            Mode::Gate => {}
            Mode::Paced => config = config.with_pacing(RateLimit::new(limit, window)),
        }
        let run = match adapter {
            "clerk-ureq" => run_ureq(config, users, k),
            "clerk-reqwest" => run_reqwest(config, users, k),
            _ => run_async_std(config, users, k),
        };
        report(&label, &mock, &run, ideal, n);
    }
    if wanted("clerk-rs") {
        let mock = limited_mock(limit, window, squeeze);
        let users: Vec<String> = (0..n).map(|_| mock.create_user()).collect();
        let run = run_clerk_rs(&mock, users, k);
        report("clerk-rs", &mock, &run, ideal, n);
    }
}

fn limited_mock(limit: u32, window: Duration, squeeze: Option<(u32, Duration)>) -> MockServer {
    let mut rate = clerk_mock::RateLimit::new(limit, window);
    if let Some((taken, lasting)) = squeeze {
        rate = rate.with_other_tenant(taken, lasting);
    }
    MockServer::builder()
        .rate_limit(rate)
        .max_connections(4096)
        .start()
}

/// The time N creates need at the most the server lets this client have:
/// whole windows at `limit - taken` while the other user lasts, then
/// `limit` per window.
fn ideal_time(n: usize, limit: u32, window: Duration, squeeze: Option<(u32, Duration)>) -> Duration {
    let mut left = n as f64;
    let mut windows = 0.0;
    if let Some((taken, lasting)) = squeeze {
        let squeezed = f64::from(limit.saturating_sub(taken));
        let count = (lasting.as_secs_f64() / window.as_secs_f64()).ceil();
        let served = (squeezed * count).min(left);
        left -= served;
        windows += if left > 0.0 { count } else { served / squeezed.max(1.0) };
    }
    windows += left / f64::from(limit);
    window.mul_f64(windows)
}

fn report(label: &str, mock: &MockServer, run: &Run, ideal: Duration, n: usize) {
    // Every create the server took is one token: none may be minted twice.
    let minted = mock.tokens().len();
    assert_eq!(
        minted, run.ok,
        "{label}: {minted} tokens for {} successes",
        run.ok
    );
    assert_eq!(run.ok + run.failed, n);
    println!(
        "| {label} | {} | {} | {} | {:.2} s | {:.2} |",
        run.ok,
        run.failed,
        mock.rate_limited_count(),
        run.wall.as_secs_f64(),
        run.wall.as_secs_f64() / ideal.as_secs_f64()
    );
}

fn tally(results: impl IntoIterator<Item = Result<SignInToken, Error>>, wall: Duration) -> Run {
    let (mut ok, mut failed) = (0, 0);
    for r in results {
        match r {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    Run { ok, failed, wall }
}

fn run_ureq(config: Config, users: Vec<String>, k: usize) -> Run {
    let client = clerk_ureq::Client::new(config).expect("a client");
    let users = Arc::new(users);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let results: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..k)
            .map(|_| {
                let (client, users, next) = (client.clone(), Arc::clone(&users), Arc::clone(&next));
                s.spawn(move || {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(user) = users.get(i) else { break };
                        out.push(client.create_sign_in_token(CreateSignInToken::new(user)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("no panic"))
            .collect()
    });
    tally(results, start.elapsed())
}

fn run_reqwest(config: Config, users: Vec<String>, k: usize) -> Run {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let client = clerk_reqwest::Client::new(config).expect("a client");
        let users = Arc::new(users);
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..k {
            let (client, users, next) = (client.clone(), Arc::clone(&users), Arc::clone(&next));
            tasks.spawn(async move {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(user) = users.get(i) else { break };
                    out.push(
                        client
                            .create_sign_in_token(CreateSignInToken::new(user))
                            .await,
                    );
                }
                out
            });
        }
        let mut results = Vec::new();
        while let Some(done) = tasks.join_next().await {
            results.extend(done.expect("no panic"));
        }
        tally(results, start.elapsed())
    })
}

fn run_async_std(config: Config, users: Vec<String>, k: usize) -> Run {
    async_std::task::block_on(async {
        let client = clerk_async_std::Client::new(config).expect("a client");
        let users = Arc::new(users);
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..k)
            .map(|_| {
                let (client, users, next) = (client.clone(), Arc::clone(&users), Arc::clone(&next));
                async_std::task::spawn(async move {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(user) = users.get(i) else { break };
                        out.push(
                            client
                                .create_sign_in_token(CreateSignInToken::new(user))
                                .await,
                        );
                    }
                    out
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.extend(t.await);
        }
        tally(results, start.elapsed())
    })
}

fn run_clerk_rs(mock: &MockServer, users: Vec<String>, k: usize) -> Run {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let configuration =
        clerk_rs::ClerkConfiguration::new(mock.secret_key()).with_base_path(mock.base_url());
    rt.block_on(async {
        let users = Arc::new(users);
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..k {
            let (configuration, users, next) =
                (configuration.clone(), Arc::clone(&users), Arc::clone(&next));
            tasks.spawn(async move {
                let (mut ok, mut failed) = (0, 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(user) = users.get(i) else { break };
                    let request = clerk_rs::models::CreateSignInTokenRequest::new(user.clone());
                    match clerk_rs::apis::sign_in_tokens_api::create_sign_in_token(
                        &configuration,
                        Some(request),
                    )
                    .await
                    {
                        Ok(_) => ok += 1,
                        Err(_) => failed += 1,
                    }
                }
                (ok, failed)
            });
        }
        let (mut ok, mut failed) = (0, 0);
        while let Some(done) = tasks.join_next().await {
            let (o, f) = done.expect("no panic");
            ok += o;
            failed += f;
        }
        Run {
            ok,
            failed,
            wall: start.elapsed(),
        }
    })
}
