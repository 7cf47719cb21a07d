//! Measures the bulk CLI against clerk-mock (no rate limit) on loopback:
//! calls per second per runtime, beside the library itself driving the same
//! adapter with 64 calls in flight against the same server, and the CLI's
//! peak resident memory for two input sizes.
//!
//! ```text
//! cargo build --release -p clerk-sign-in-tokens
//! cargo run --release -p clerk-sign-in-tokens --example bulk_bench -- [IDS] [ROUNDS]
//! ```
//!
//! Defaults: 10 000 ids, 4 rounds, library and CLI taking turns to go first
//! (the median is printed). Peak memory is
//! read from `/usr/bin/time -v` when present, else not shown.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clerk_core::{Config, CreateSignInToken};
use clerk_mock::MockServer;

const IN_FLIGHT: usize = 64;

fn main() {
    let mut args = std::env::args().skip(1);
    if let Some("--library") = std::env::args().nth(1).as_deref() {
        // The baseline, in a process of its own like the CLI:
        // `--library RUNTIME FILE`, with the CLI's environment.
        let runtime = std::env::args().nth(2).expect("runtime");
        let file = std::env::args().nth(3).expect("ids file");
        let users: Vec<String> = std::fs::read_to_string(file)
            .expect("ids")
            .lines()
            .map(str::to_owned)
            .collect();
        let config = Config::new(std::env::var("CLERK_SECRET_KEY").expect("key"))
            .and_then(|c| c.with_base_url(&std::env::var("CLERK_API_URL").expect("url")))
            .expect("config");
        library_calls(&runtime, &config, &users);
        return;
    }
    if let Some("--serve") = std::env::args().nth(1).as_deref() {
        // For profiling one side alone: `--serve IDS` starts the server
        // these runs use, prints its base URL and key, and serves until
        // stdin closes.
        let ids: usize = std::env::args()
            .nth(2)
            .and_then(|a| a.parse().ok())
            .unwrap_or(10_000);
        let mock = MockServer::builder().max_connections(4 * IN_FLIGHT).start();
        for i in 0..ids {
            mock.add_user(&format!("user_bench{i:08}"));
        }
        println!("CLERK_API_URL={}", mock.base_url());
        println!("CLERK_SECRET_KEY={}", mock.secret_key());
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        return;
    }
    let ids: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let cli = cli_path();
    assert!(
        cli.exists(),
        "build the CLI first: cargo build --release -p clerk-sign-in-tokens"
    );
    // The same ids on every server; a fresh server for every run, so that
    // no run meets one full of the tokens and requests of the runs before.
    let users: Vec<String> = (0..ids.max(1_000))
        .map(|i| format!("user_bench{i:08}"))
        .collect();
    let fresh = || {
        let mock = MockServer::builder().max_connections(4 * IN_FLIGHT).start();
        for user in &users {
            mock.add_user(user);
        }
        mock
    };
    let dir = std::env::temp_dir().join(format!("clerk-bulk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let file_n = dir.join("users-n.txt");
    std::fs::write(&file_n, users[..ids].join("\n")).expect("write ids");
    let file_1k = dir.join("users-1000.txt");
    std::fs::write(&file_1k, users[..1_000].join("\n")).expect("write ids");

    println!(
        "{ids} ids, {rounds} rounds, median; clerk-mock without a limit, {IN_FLIGHT} in flight"
    );
    println!(
        "| runtime | library, calls/s | CLI, calls/s | CLI / library | library CPU per call | CLI CPU per call | CLI peak RSS, 1 000 ids | CLI, {ids} ids | library, 1 000 ids | library, {ids} ids |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for runtime in ["ureq", "reqwest", "async-std"] {
        let mut lib = Vec::new();
        let mut cli_rates = Vec::new();
        let mut rss_n = Vec::new();
        let mut rss_1k = Vec::new();
        let mut lib_rss_n = Vec::new();
        let mut lib_rss_1k = Vec::new();
        let mut lib_cpu = Vec::new();
        let mut cli_cpu = Vec::new();
        for round in 0..rounds {
            // Alternate which goes first.
            let mut measure_library = || {
                let (rate, rss) = library_run(&fresh(), runtime, &file_n, ids);
                lib.push(rate);
                lib_cpu.extend(take_cpu());
                lib_rss_n.extend(rss);
                let (_, rss) = library_run(&fresh(), runtime, &file_1k, 1_000);
                lib_rss_1k.extend(rss);
            };
            let mut measure_cli = || {
                let (rate, rss) = cli_run(&cli, &fresh(), runtime, &file_n, ids, &dir);
                cli_rates.push(rate);
                cli_cpu.extend(take_cpu());
                rss_n.extend(rss);
                let (_, rss) = cli_run(&cli, &fresh(), runtime, &file_1k, 1_000, &dir);
                rss_1k.extend(rss);
            };
            if round % 2 == 0 {
                measure_library();
                measure_cli();
            } else {
                measure_cli();
                measure_library();
            }
        }
        let (lib, cli_rate) = (median(&mut lib), median(&mut cli_rates));
        let kib = |v: &mut Vec<f64>| {
            if v.is_empty() {
                "–".to_owned()
            } else {
                format!("{:.0} KiB", median(v))
            }
        };
        let cpu = |v: &mut Vec<f64>| {
            if v.is_empty() {
                "–".to_owned()
            } else {
                format!("{:.1} µs", median(v) * 1e6 / ids as f64)
            }
        };
        println!(
            "| {runtime} | {lib:.0} | {cli_rate:.0} | {:.3} | {} | {} | {} | {} | {} | {} |",
            cli_rate / lib,
            cpu(&mut lib_cpu),
            cpu(&mut cli_cpu),
            kib(&mut rss_1k),
            kib(&mut rss_n),
            kib(&mut lib_rss_1k),
            kib(&mut lib_rss_n)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn cli_path() -> PathBuf {
    // target/release/examples/bulk_bench -> target/release/clerk-sign-in-tokens
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join(format!(
            "clerk-sign-in-tokens{}",
            std::env::consts::EXE_SUFFIX
        ))
}

/// One CLI run: calls per second, and peak RSS in KiB when measurable.
fn cli_run(
    cli: &Path,
    mock: &MockServer,
    runtime: &str,
    file: &Path,
    ids: usize,
    dir: &Path,
) -> (f64, Option<f64>) {
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-v").arg(cli);
        c
    } else {
        Command::new(cli)
    };
    let out_file = std::fs::File::create(dir.join("out.jsonl")).expect("output file");
    cmd.args(["--runtime", runtime, "--no-pacing", "--concurrency"])
        .arg(IN_FLIGHT.to_string())
        .args(["create", "--user-ids"])
        .arg(file)
        .env("CLERK_SECRET_KEY", mock.secret_key())
        .env("CLERK_API_URL", mock.base_url())
        .stdin(Stdio::null())
        .stdout(out_file);
    let start = Instant::now();
    let out = cmd.output().expect("the CLI runs");
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let written = std::fs::read_to_string(dir.join("out.jsonl")).expect("output");
    assert_eq!(written.lines().count(), ids, "every record written");
    let rss = peak_rss(&stderr);
    CPU.with(|c| c.borrow_mut().extend(cpu_seconds(&stderr)));
    (ids as f64 / elapsed.as_secs_f64(), rss)
}

/// The library alone, in a child process: calls per second (wall time of
/// the whole process, as for the CLI), and peak RSS in KiB when measurable.
fn library_run(mock: &MockServer, runtime: &str, file: &Path, ids: usize) -> (f64, Option<f64>) {
    let time = Path::new("/usr/bin/time");
    let me = std::env::current_exe().expect("own path");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-v").arg(me);
        c
    } else {
        Command::new(me)
    };
    let start = Instant::now();
    let out = cmd
        .args(["--library", runtime])
        .arg(file)
        .env("CLERK_SECRET_KEY", mock.secret_key())
        .env("CLERK_API_URL", mock.base_url())
        .output()
        .expect("the baseline runs");
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    CPU.with(|c| c.borrow_mut().extend(cpu_seconds(&stderr)));
    (ids as f64 / elapsed.as_secs_f64(), peak_rss(&stderr))
}

thread_local! {
    /// CPU seconds of the last run measured, taken by the caller.
    static CPU: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn take_cpu() -> Option<f64> {
    CPU.with(|c| c.borrow_mut().pop())
}

/// User plus system CPU seconds, from `/usr/bin/time -v`.
fn cpu_seconds(time_output: &str) -> Option<f64> {
    let field = |name: &str| {
        time_output
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    Some(field("User time (seconds):")? + field("System time (seconds):")?)
}

fn peak_rss(time_output: &str) -> Option<f64> {
    time_output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
}

/// The library alone: `IN_FLIGHT` workers sharing one client, each taking
/// the next id until none is left.
fn library_calls(runtime: &str, config: &Config, users: &[String]) {
    let users: Arc<Vec<String>> = Arc::new(users.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    match runtime {
        "ureq" => {
            // Built as the CLI builds its ureq client, so the two compare
            // like for like.
            let client = clerk_ureq::Client::with_lazy_resolve(config.clone()).expect("client");
            std::thread::scope(|s| {
                for _ in 0..IN_FLIGHT {
                    let (client, users, next) = (client.clone(), &users, &next);
                    s.spawn(move || {
                        while let Some(u) = users.get(next.fetch_add(1, Ordering::Relaxed)) {
                            client
                                .create_sign_in_token(CreateSignInToken::new(u.as_str()))
                                .expect("create");
                        }
                    });
                }
            });
        }
        "reqwest" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio");
            rt.block_on(async {
                let client = clerk_reqwest::Client::new(config.clone()).expect("client");
                let tasks: Vec<_> = (0..IN_FLIGHT)
                    .map(|_| {
                        let (client, users, next) =
                            (client.clone(), Arc::clone(&users), Arc::clone(&next));
                        tokio::spawn(async move {
                            while let Some(u) = users.get(next.fetch_add(1, Ordering::Relaxed)) {
                                client
                                    .create_sign_in_token(CreateSignInToken::new(u.as_str()))
                                    .await
                                    .expect("create");
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
            });
        }
        _ => async_std::task::block_on(async {
            let client = clerk_async_std::Client::new(config.clone()).expect("client");
            let tasks: Vec<_> = (0..IN_FLIGHT)
                .map(|_| {
                    let (client, users, next) =
                        (client.clone(), Arc::clone(&users), Arc::clone(&next));
                    async_std::task::spawn(async move {
                        while let Some(u) = users.get(next.fetch_add(1, Ordering::Relaxed)) {
                            client
                                .create_sign_in_token(CreateSignInToken::new(u.as_str()))
                                .await
                                .expect("create");
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
        }),
    }
}
