//! End to end on loopback: every contender calls the same loopback server
//! (`src/bin/loopback-server.rs`, its own process), side by side in one run.
//!
//! `cargo bench --bench e2e [-- SECTION...]`, SECTION among `ceiling`,
//! `sequential`, `concurrency`, `rss` (default: all).
//!
//! Pinning: with `taskset` and at least two CPUs, the server runs on CPU
//! `BENCH_SERVER_CPU` (default 0) and this process, with every thread it
//! starts, on `BENCH_CLIENT_CPU` (default 1). `BENCH_PIN=0` turns it off.
//!
//! Sizes (environment): `SEQ_ROUNDS` (21) rounds of `SEQ_CALLS` (3000)
//! sequential calls per contender; `CONC_ROUNDS` (25) rounds of `CONC_CALLS`
//! (20000) calls with `IN_FLIGHT` (64) in flight; `RSS_CALLS` (100000) calls
//! per contender, 64 in flight, for resident memory, each contender in a
//! process of its own. `CONTENDERS` (names separated by commas, as the
//! tables print them) runs only those in the sequential and concurrency
//! sections, and prints only the ratios between them.
//!
//! `BENCH_HOST` (default: `127.0.0.1`, the server's IP literal) is the host
//! the contenders' base URL names, `http://BENCH_HOST:PORT/v1`: set it to
//! `localhost` to measure, pinned, what a host name costs each client. The
//! ceiling section connects to the IP literal whatever it is. The unpinned,
//! one-process measurement is `benches/latency.rs`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clerk_benches::bare::{ClerkRs, Hyper, Raw, Reqwest, Ureq};
use clerk_benches::run::{
    async_std_in_flight, bench_host, create, env_or, hyper_in_flight, print_ratios,
    print_throughput_ratios, tokio_in_flight, tokio_runtime,
};
use clerk_benches::{Contender, interleave, process_cpu, rss_kib, server_connections};

fn main() {
    // clerk-reqwest turns on reqwest's `rustls-no-provider`; with it, the
    // bare `reqwest::Client::new()` and clerk-rs's client need a process-wide
    // rustls provider, even for plain HTTP. The adapters don't use it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--rss-child") {
        let name = &args[i + 1];
        let addr: SocketAddr = args[i + 2].parse().expect("address");
        let calls: u64 = args[i + 3].parse().expect("calls");
        rss_child(name, addr, calls);
        return;
    }
    let mut sections: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["ceiling", "sequential", "concurrency", "rss"].contains(a))
        .collect();
    if sections.is_empty() {
        sections = vec!["ceiling", "sequential", "concurrency", "rss"];
    }

    let pinning = Pinning::decide();
    pinning.pin_self();
    let server = Server::spawn(&pinning);
    let addr = server.addr;
    println!("# end to end on loopback");
    println!(
        "server: {} (pid {}), {}; client threads: {}",
        addr,
        server.child.id(),
        pinning.server_note(),
        pinning.client_note()
    );
    if std::env::var_os("BENCH_HOST").is_some() {
        println!("base URL: {} (BENCH_HOST)", base_url(addr));
    }
    println!(
        "server's create reply: {} bytes\n",
        clerk_benches::server::create_reply_bytes().len()
    );

    for section in sections {
        match section {
            "ceiling" => ceiling(addr),
            "sequential" => sequential(addr, server.child.id()),
            "concurrency" => concurrency(addr, server.child.id()),
            "rss" => rss(addr),
            _ => unreachable!(),
        }
    }
}

// ---------------------------------------------------------------- pinning

struct Pinning {
    server_cpu: Option<String>,
    client_cpu: Option<String>,
}

impl Pinning {
    fn decide() -> Self {
        let none = Self {
            server_cpu: None,
            client_cpu: None,
        };
        if std::env::var("BENCH_PIN").as_deref() == Ok("0") {
            return none;
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let taskset = Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if cpus < 2 || !taskset {
            return none;
        }
        Self {
            server_cpu: Some(std::env::var("BENCH_SERVER_CPU").unwrap_or_else(|_| "0".into())),
            client_cpu: Some(std::env::var("BENCH_CLIENT_CPU").unwrap_or_else(|_| "1".into())),
        }
    }

    /// Pins this (so far single-threaded) process; threads started later
    /// inherit the mask.
    fn pin_self(&self) {
        if let Some(cpu) = &self.client_cpu {
            let ok = Command::new("taskset")
                .args(["-p", "-c", cpu, &std::process::id().to_string()])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "taskset could not pin the client to CPU {cpu}");
        }
    }

    fn server_note(&self) -> String {
        match &self.server_cpu {
            Some(cpu) => format!("pinned to CPU {cpu} (taskset)"),
            None => "not pinned".into(),
        }
    }

    fn client_note(&self) -> String {
        match &self.client_cpu {
            Some(cpu) => format!("pinned to CPU {cpu} (taskset)"),
            None => "not pinned".into(),
        }
    }
}

// ----------------------------------------------------------------- server

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn spawn(pinning: &Pinning) -> Self {
        let exe = env!("CARGO_BIN_EXE_loopback-server");
        let workers = env_or("SERVER_WORKERS", 1u32).to_string();
        let mut command = match &pinning.server_cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpu, exe]);
                c
            }
            None => Command::new(exe),
        };
        let mut child = command
            .args(["127.0.0.1:0", &workers])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the loopback server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server says where it listens");
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .expect("listening ADDR")
            .parse()
            .expect("an address");
        Self { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The host the contenders' base URL names: `BENCH_HOST`, by default the
/// server's IP literal. A name is resolved as each client resolves it.
fn host() -> String {
    bench_host("127.0.0.1")
}

fn base_url(addr: SocketAddr) -> String {
    clerk_benches::run::base_url(&host(), addr.port())
}

fn config(addr: SocketAddr) -> clerk_core::Config {
    clerk_benches::run::config(&base_url(addr))
}

// ---------------------------------------------------------------- ceiling

/// The server's own ceiling, with the cheapest possible clients: pipelined
/// raw requests, and 64 raw connections with one request in flight each.
fn ceiling(addr: SocketAddr) {
    let secs = env_or("CEILING_SECS", 3.0f64);
    println!("## server ceiling (raw clients, no HTTP library)\n");
    println!("| raw client | requests | seconds | requests/s |");
    println!("| --- | ---: | ---: | ---: |");

    // 4 connections on 4 threads, 64 requests per write.
    let depth = 64;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut raw = Raw::connect(addr);
                let batch = raw.request().repeat(depth);
                let mut done = 0u64;
                while Instant::now() < deadline {
                    raw.pipelined(&batch, depth);
                    done += depth as u64;
                }
                done
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let took = start.elapsed().as_secs_f64();
    println!(
        "| 4 connections, pipelined 64 deep | {total} | {took:.2} | {:.0} |",
        total as f64 / took
    );

    // 64 connections, one request in flight on each, on a current-thread
    // tokio runtime.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (total, took) = rt.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let request: Arc<[u8]> = Raw::connect(addr).request().into();
        let reply_len = clerk_benches::server::create_reply_bytes().len();
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let request = request.clone();
            tasks.spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.set_nodelay(true).unwrap();
                let mut buf = vec![0u8; 4096];
                let mut done = 0u64;
                while Instant::now() < deadline {
                    s.write_all(&request).await.unwrap();
                    let mut want = reply_len;
                    while want > 0 {
                        let n = s.read(&mut buf).await.unwrap();
                        assert!(n > 0);
                        want -= n;
                    }
                    done += 1;
                }
                done
            });
        }
        let mut total = 0;
        while let Some(done) = tasks.join_next().await {
            total += done.unwrap();
        }
        (total, start.elapsed().as_secs_f64())
    });
    println!(
        "| 64 connections, 1 in flight each | {total} | {took:.2} | {:.0} |\n",
        total as f64 / took
    );
}

// ------------------------------------------------------------- sequential

fn sequential(addr: SocketAddr, server_pid: u32) {
    let rounds = env_or("SEQ_ROUNDS", 21usize);
    let calls = env_or("SEQ_CALLS", 3000u64);
    let url = base_url(addr);

    let mut raw = Raw::connect_to(&host(), addr.port());
    let bare_ureq = Ureq::new(&url);
    let bare_ureq_timeouts = Ureq::with_timeouts(&url);
    let clerk_ureq = clerk_ureq::Client::new(config(addr)).unwrap();
    let clerk_ureq_proposed = clerk_ureq::Client::with_agent(
        config(addr),
        clerk_benches::proposed::ureq_agent_with_literal_resolver(&config(addr)),
    )
    .unwrap();

    let rt = tokio_runtime();
    let bare_reqwest = Reqwest::new(&url);
    let clerk_reqwest = rt.block_on(async { clerk_reqwest::Client::new(config(addr)).unwrap() });
    let clerk_rs = rt.block_on(async { ClerkRs::new(&url) });

    let mut bare_hyper = async_std::task::block_on(Hyper::connect_to(&host(), addr.port()));
    let mut bare_hyper_timeout = async_std::task::block_on(Hyper::connect_to(&host(), addr.port()));
    let clerk_async_std = clerk_async_std::Client::new(config(addr)).unwrap();

    let mut contenders = vec![
        Contender::new("raw socket", |n| {
            let start = Instant::now();
            for _ in 0..n {
                raw.call();
            }
            start.elapsed()
        }),
        Contender::new("ureq", |n| {
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(bare_ureq.call());
            }
            start.elapsed()
        }),
        Contender::new("clerk-ureq", |n| {
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(clerk_ureq.create_sign_in_token(create()).unwrap());
            }
            start.elapsed()
        }),
        Contender::new("ureq + clerk-ureq's timeouts", |n| {
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(bare_ureq_timeouts.call());
            }
            start.elapsed()
        }),
        Contender::new("clerk-ureq + IP-literal resolver (via with_agent)", |n| {
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(clerk_ureq_proposed.create_sign_in_token(create()).unwrap());
            }
            start.elapsed()
        }),
        Contender::new("reqwest", |n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(bare_reqwest.call().await);
                }
                start.elapsed()
            })
        }),
        Contender::new("clerk-reqwest", |n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(
                        clerk_reqwest.create_sign_in_token(create()).await.unwrap(),
                    );
                }
                start.elapsed()
            })
        }),
        Contender::new("clerk-rs", |n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(clerk_rs.call().await);
                }
                start.elapsed()
            })
        }),
        Contender::new("hyper on async-std", |n| {
            async_std::task::block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(bare_hyper.call().await);
                }
                start.elapsed()
            })
        }),
        Contender::new("clerk-async-std", |n| {
            async_std::task::block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(
                        clerk_async_std
                            .create_sign_in_token(create())
                            .await
                            .unwrap(),
                    );
                }
                start.elapsed()
            })
        }),
        Contender::new("hyper on async-std + 15 s timeout per call", |n| {
            async_std::task::block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let call = bare_hyper_timeout.call();
                    std::hint::black_box(
                        async_std::future::timeout(Duration::from_secs(15), call)
                            .await
                            .unwrap(),
                    );
                }
                start.elapsed()
            })
        }),
    ];
    let r = interleave(&mut contenders, calls / 4, rounds, calls, &|| {
        (process_cpu(server_pid), server_connections(addr))
    });
    drop(contenders);

    println!(
        "## sequential create calls, one at a time ({rounds} interleaved rounds of {calls} calls each; median round)\n"
    );
    println!("| contender | µs per call | calls/s | server core busy | connections opened |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for name in &r.names {
        println!(
            "| {name} | {:.1} | {:.0} | {:.0}% | {} |",
            r.per_call(name).as_secs_f64() * 1e6,
            r.calls_per_sec(name),
            r.server_busy(name) * 100.0,
            r.connections(name)
        );
    }
    println!();
    println!("| ratio of time per call (paired by round) | median | min | max | target |");
    println!("| --- | ---: | ---: | ---: | --- |");
    let pairs = [
        ("clerk-ureq", "ureq", "≤ 1.05"),
        (
            "ureq + clerk-ureq's timeouts",
            "ureq",
            "(where the time goes)",
        ),
        (
            "clerk-ureq",
            "ureq + clerk-ureq's timeouts",
            "(against ureq bounded alike)",
        ),
        (
            "clerk-ureq + IP-literal resolver (via with_agent)",
            "ureq",
            "(what ureq's resolver costs)",
        ),
        ("clerk-reqwest", "reqwest", "≤ 1.05"),
        ("clerk-async-std", "hyper on async-std", "≤ 1.05"),
        (
            "hyper on async-std + 15 s timeout per call",
            "hyper on async-std",
            "(where the time goes)",
        ),
        (
            "clerk-async-std",
            "hyper on async-std + 15 s timeout per call",
            "(against hyper bounded alike)",
        ),
        ("clerk-ureq", "clerk-rs", "≤ 1.00"),
        ("clerk-reqwest", "clerk-rs", "≤ 1.00"),
        ("clerk-async-std", "clerk-rs", "≤ 1.00"),
        ("clerk-rs", "reqwest", "(for reference)"),
    ];
    print_ratios(&r, &pairs);
}

// ------------------------------------------------------------ concurrency

fn concurrency(addr: SocketAddr, server_pid: u32) {
    let rounds = env_or("CONC_ROUNDS", 25usize);
    let calls = env_or("CONC_CALLS", 20_000u64);
    let in_flight = env_or("IN_FLIGHT", 64u64);
    let url = base_url(addr);

    let rt = tokio_runtime();
    let bare_reqwest = Reqwest::new(&url);
    let clerk_reqwest = rt.block_on(async { clerk_reqwest::Client::new(config(addr)).unwrap() });
    let clerk_rs = ClerkRs::new(&url);
    let connect_all = || {
        async_std::task::block_on(async {
            let mut v = Vec::new();
            for _ in 0..in_flight {
                v.push(Hyper::connect_to(&host(), addr.port()).await);
            }
            v
        })
    };
    let mut hyper_conns: Vec<Hyper> = connect_all();
    let mut hyper_conns_timeout: Vec<Hyper> = connect_all();
    let clerk_async_std = clerk_async_std::Client::new(config(addr)).unwrap();

    let mut contenders = vec![
        Contender::new("reqwest", |n| {
            let c = bare_reqwest.clone();
            tokio_in_flight(&rt, in_flight, n, move || {
                let c = c.clone();
                async move {
                    std::hint::black_box(c.call().await);
                }
            })
        }),
        Contender::new("clerk-reqwest", |n| {
            let c = clerk_reqwest.clone();
            tokio_in_flight(&rt, in_flight, n, move || {
                let c = c.clone();
                async move {
                    std::hint::black_box(c.create_sign_in_token(create()).await.unwrap());
                }
            })
        }),
        Contender::new("reqwest + 15 s timeout per request", |n| {
            let c = bare_reqwest.clone();
            tokio_in_flight(&rt, in_flight, n, move || {
                let c = c.clone();
                async move {
                    std::hint::black_box(c.call_with_timeout(Duration::from_secs(15)).await);
                }
            })
        }),
        Contender::new("clerk-rs", |n| {
            let c = clerk_rs.clone();
            tokio_in_flight(&rt, in_flight, n, move || {
                let c = c.clone();
                async move {
                    std::hint::black_box(c.call().await);
                }
            })
        }),
        Contender::new("hyper on async-std", |n| {
            hyper_in_flight(&mut hyper_conns, n, None)
        }),
        Contender::new("hyper on async-std + 15 s timeout per call", |n| {
            hyper_in_flight(&mut hyper_conns_timeout, n, Some(Duration::from_secs(15)))
        }),
        Contender::new("clerk-async-std", |n| {
            let c = clerk_async_std.clone();
            async_std_in_flight(in_flight, n, move || {
                let c = c.clone();
                async move {
                    std::hint::black_box(c.create_sign_in_token(create()).await.unwrap());
                }
            })
        }),
    ];
    let r = interleave(&mut contenders, calls / 4, rounds, calls, &|| {
        (process_cpu(server_pid), server_connections(addr))
    });
    drop(contenders);

    println!(
        "## concurrency: {in_flight} calls in flight ({rounds} interleaved rounds of {calls} calls each; median round)\n"
    );
    println!("| contender | calls/s | server core busy | connections opened |");
    println!("| --- | ---: | ---: | ---: |");
    for name in &r.names {
        println!(
            "| {name} | {:.0} | {:.0}% | {} |",
            r.calls_per_sec(name),
            r.server_busy(name) * 100.0,
            r.connections(name)
        );
    }
    println!();
    print_throughput_ratios(
        &r,
        &[
            ("clerk-reqwest", "reqwest", "≥ 0.95"),
            ("clerk-async-std", "hyper on async-std", "≥ 0.95"),
            (
                "reqwest + 15 s timeout per request",
                "reqwest",
                "(where the time goes)",
            ),
            (
                "hyper on async-std + 15 s timeout per call",
                "hyper on async-std",
                "(where the time goes)",
            ),
            (
                "clerk-reqwest",
                "reqwest + 15 s timeout per request",
                "(against reqwest bounded alike)",
            ),
            (
                "clerk-async-std",
                "hyper on async-std + 15 s timeout per call",
                "(against hyper bounded alike)",
            ),
            ("clerk-reqwest", "clerk-rs", "(for reference)"),
            ("clerk-async-std", "clerk-rs", "(for reference)"),
        ],
    );
}

// -------------------------------------------------------------------- rss

const RSS_CONTENDERS: &[&str] = &[
    "clerk-reqwest",
    "reqwest",
    "clerk-async-std",
    "hyper on async-std",
];

fn rss(addr: SocketAddr) {
    let calls = env_or("RSS_CALLS", 100_000u64);
    let exe = std::env::current_exe().expect("this benchmark's path");
    println!(
        "## resident memory over {calls} calls, 64 in flight (each contender in its own process; KiB)\n"
    );
    println!(
        "| contender | before the first call | after 10% of the calls | after all | growth 10% → 100% | peak (VmHWM) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for name in RSS_CONTENDERS {
        let out = Command::new(&exe)
            .args(["--rss-child", name, &addr.to_string(), &calls.to_string()])
            .stderr(Stdio::inherit())
            .output()
            .expect("the child runs");
        assert!(out.status.success(), "{name}: child failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let nums: Vec<u64> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        // before, after each tenth (10 values), peak
        let (before, tenths, peak) = (nums[0], &nums[1..11], nums[11]);
        println!(
            "| {name} | {before} | {} | {} | {:+} | {peak} |",
            tenths[0],
            tenths[9],
            tenths[9] as i64 - tenths[0] as i64
        );
        println!("<!-- {name} RSS at each tenth: {tenths:?} -->");
    }
    println!();
}

/// In a process of its own: `calls` calls by one contender, 64 in flight,
/// in ten chunks; prints RSS before, after each chunk, and the peak.
fn rss_child(name: &str, addr: SocketAddr, calls: u64) {
    let in_flight = 64;
    let chunk = calls / 10;
    let url = base_url(addr);
    let mut samples = vec![rss_kib().0];
    match name {
        "clerk-reqwest" | "reqwest" => {
            let rt = tokio_runtime();
            let sdk = rt.block_on(async { clerk_reqwest::Client::new(config(addr)).unwrap() });
            let bare = Reqwest::new(&url);
            for _ in 0..10 {
                if name == "reqwest" {
                    let c = bare.clone();
                    tokio_in_flight(&rt, in_flight, chunk, move || {
                        let c = c.clone();
                        async move {
                            std::hint::black_box(c.call().await);
                        }
                    });
                } else {
                    let c = sdk.clone();
                    tokio_in_flight(&rt, in_flight, chunk, move || {
                        let c = c.clone();
                        async move {
                            std::hint::black_box(c.create_sign_in_token(create()).await.unwrap());
                        }
                    });
                }
                samples.push(rss_kib().0);
            }
        }
        "clerk-async-std" => {
            let c = clerk_async_std::Client::new(config(addr)).unwrap();
            for _ in 0..10 {
                let c = c.clone();
                async_std_in_flight(in_flight, chunk, move || {
                    let c = c.clone();
                    async move {
                        std::hint::black_box(c.create_sign_in_token(create()).await.unwrap());
                    }
                });
                samples.push(rss_kib().0);
            }
        }
        "hyper on async-std" => {
            let mut conns: Vec<Hyper> = async_std::task::block_on(async {
                let mut v = Vec::new();
                for _ in 0..in_flight {
                    v.push(Hyper::connect_to(&host(), addr.port()).await);
                }
                v
            });
            for _ in 0..10 {
                hyper_in_flight(&mut conns, chunk, None);
                samples.push(rss_kib().0);
            }
        }
        other => panic!("unknown contender {other}"),
    }
    let peak = rss_kib().1.max(samples.iter().copied().max().unwrap_or(0));
    let line: Vec<String> = samples.iter().map(u64::to_string).collect();
    println!("{} {peak}", line.join(" "));
}
