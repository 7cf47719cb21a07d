//! Latency as a user measures it: ONE process, the loopback server on its
//! own threads inside it (as a user's tests run clerk-mock), nothing pinned,
//! and a host name in the base URL. `benches/e2e.rs` measures the other way:
//! the server in its own process, each side pinned to a core, an IP literal.
//!
//! `cargo bench --manifest-path benches/Cargo.toml --bench latency [-- SECTION...]`,
//! SECTION among `sequential`, `after-burst`, `concurrency` (default: all
//! three). For clerk-async-std these are the three scenes its transport's
//! mechanisms are judged on, unpinned, on a `localhost` base URL:
//! sequential calls on a fresh client (`sequential`), sequential calls on a
//! client that has just served a burst of 64 in flight (`after-burst`:
//! the burst's connections were lent to tasks of their own), and 64 in
//! flight (`concurrency`). Each sets clerk-async-std beside bare hyper on
//! async-std's sockets with its connection driver spawned on async-std's
//! executor, awaited under async-std's `block_on` and under smol's.
//!
//! Environment:
//! - `BENCH_HOST` (default `localhost`): the host of the base URL
//!   `http://BENCH_HOST:PORT/v1`, e.g. `127.0.0.1` for the IP-literal
//!   comparison. It must resolve to a loopback address; the server listens
//!   on the first address it resolves to, port chosen by the system.
//! - `SERVER_WORKERS` (1): the server's tokio threads (1: current-thread).
//! - `SEQ_ROUNDS` (21) rounds of `SEQ_CALLS` (2000) sequential calls per
//!   contender, in `sequential` and `after-burst`; `CONC_ROUNDS` (21) rounds of `CONC_CALLS` (15000) calls with
//!   `IN_FLIGHT` (64) in flight. Each contender is first warmed up with a
//!   quarter of a round.
//! - `CONTENDERS` (names separated by commas, as the tables print them):
//!   only those run, and only the ratios between them print.
//!
//! The `clerk-ureq (lazy resolve)` contender needs the cargo feature
//! `lazy-resolve` (see `benches/Cargo.toml`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clerk_benches::bare::{ClerkRs, Hyper, Raw, RawAsync, Reqwest, Ureq};
use clerk_benches::run::{
    async_std_in_flight, base_url, bench_host, config, create, env_or, hyper_in_flight,
    print_ratios, print_throughput_ratios, smol_in_flight, tokio_in_flight, tokio_runtime,
};
use clerk_benches::{Contender, Rounds, interleave, server_connections, time_n};

/// Where the contenders go: the base URL's host and the server's port, and
/// the server's own address (for its connection count).
struct Target {
    host: String,
    port: u16,
    server: SocketAddr,
}

impl Target {
    fn url(&self) -> String {
        base_url(&self.host, self.port)
    }

    fn config(&self) -> clerk_core::Config {
        config(&self.url())
    }

    /// The probe `interleave` calls around each run: connections accepted
    /// so far. The server's CPU time is not told apart from the client's in
    /// one process, so it reads zero (and no table prints it).
    fn probe(&self) -> (Duration, u64) {
        (Duration::ZERO, server_connections(self.server))
    }
}

fn main() {
    // clerk-reqwest turns on reqwest's `rustls-no-provider`; with it, the
    // bare `reqwest::Client::new()` and clerk-rs's client need a process-wide
    // rustls provider, even for plain HTTP. The adapters don't use it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sections: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["sequential", "after-burst", "concurrency"].contains(a))
        .collect();
    if sections.is_empty() {
        sections = vec!["sequential", "after-burst", "concurrency"];
    }

    let host = bench_host("localhost");
    let resolved: Vec<SocketAddr> = (clerk_benches::bare::unbracket(&host), 0)
        .to_socket_addrs()
        .unwrap_or_else(|e| panic!("BENCH_HOST {host} does not resolve: {e}"))
        .collect();
    let first = *resolved
        .first()
        .unwrap_or_else(|| panic!("BENCH_HOST {host} resolves to no address"));
    assert!(
        first.ip().is_loopback(),
        "BENCH_HOST {host} resolves first to {}, not a loopback address",
        first.ip()
    );
    let workers = env_or("SERVER_WORKERS", 1usize);
    let server = spawn_server(first, workers);
    let target = Target {
        host,
        port: server.port(),
        server,
    };

    println!("# latency as a user runs it");
    println!(
        "one process, server on {workers} thread{} in-process, not pinned, base URL {}",
        if workers == 1 { "" } else { "s" },
        target.url()
    );
    println!(
        "{} resolves to {}; server listening on {server}",
        target.host,
        resolved
            .iter()
            .map(|a| a.ip().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "CPUs: {}; kernel: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel()
    );
    println!(
        "server's create reply: {} bytes\n",
        clerk_benches::server::create_reply_bytes().len()
    );

    for section in sections {
        match section {
            "sequential" => sequential(&target),
            "after-burst" => after_burst(&target),
            "concurrency" => concurrency(&target),
            _ => unreachable!(),
        }
    }
}

/// Starts the loopback server on `workers` threads of this process, on
/// `addr`'s IP and a port the system picks; returns where it listens.
fn spawn_server(addr: SocketAddr, workers: usize) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("loopback-server".into())
        .spawn(move || {
            let bind = SocketAddr::new(addr.ip(), 0);
            let served = clerk_benches::server::run(bind, workers, |bound| {
                tx.send(bound).expect("main waits");
            });
            if let Err(e) = served {
                panic!("the loopback server stopped: {e}");
            }
        })
        .expect("a server thread");
    rx.recv().expect("the loopback server starts")
}

/// `uname -r`.
fn kernel() -> String {
    Command::new("uname")
        .arg("-r")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Per contender: µs per call, calls/s, connections opened.
fn print_contenders(r: &Rounds) {
    println!("| contender | µs per call | calls/s | connections opened |");
    println!("| --- | ---: | ---: | ---: |");
    for name in &r.names {
        println!(
            "| {name} | {:.1} | {:.0} | {} |",
            r.per_call(name).as_secs_f64() * 1e6,
            r.calls_per_sec(name),
            r.connections(name)
        );
    }
    println!();
}

// ------------------------------------------------------------- sequential

/// A future that makes `n` calls of `call` one after the other and tells
/// how long they took, for a `block_on`.
macro_rules! timed {
    ($n:expr, $call:expr) => {
        async {
            let start = Instant::now();
            for _ in 0..$n {
                std::hint::black_box($call);
            }
            start.elapsed()
        }
    };
}

fn sequential(target: &Target) {
    let rounds = env_or("SEQ_ROUNDS", 21usize);
    let calls = env_or("SEQ_CALLS", 2000u64);
    let (host, port, url) = (target.host.as_str(), target.port, target.url());

    // Each client is made once, with its defaults.
    let mut raw = Raw::connect_to(host, port);
    let mut raw_async_std = async_std::task::block_on(RawAsync::connect_async_std(host, port));
    let mut raw_smol = smol::block_on(RawAsync::connect_smol(host, port));
    let mut hyper_async_std = async_std::task::block_on(Hyper::connect_to(host, port));
    let mut hyper_smol = smol::block_on(Hyper::connect_smol(host, port));
    let mut hyper_async_std_smol = async_std::task::block_on(Hyper::connect_to(host, port));
    let clerk_async_std = clerk_async_std::Client::new(target.config()).unwrap();
    let clerk_async_std_smol = clerk_async_std::Client::new(target.config()).unwrap();

    let bare_ureq = Ureq::new(&url);
    let bare_ureq_timeouts = Ureq::with_timeouts(&url);
    let clerk_ureq = clerk_ureq::Client::new(target.config()).unwrap();
    let clerk_ureq_lazy = clerk_ureq::Client::with_lazy_resolve(target.config()).unwrap();

    let rt = tokio_runtime();
    let bare_reqwest = Reqwest::new(&url);
    let clerk_reqwest = rt.block_on(async { clerk_reqwest::Client::new(target.config()).unwrap() });
    let clerk_rs = rt.block_on(async { ClerkRs::new(&url) });

    let mut contenders = vec![
        Contender::new("raw socket", |n| time_n(n, || raw.call())),
        Contender::new("raw async-std TcpStream", |n| {
            async_std::task::block_on(timed!(n, raw_async_std.call().await))
        }),
        Contender::new("raw smol TcpStream", |n| {
            smol::block_on(timed!(n, raw_smol.call().await))
        }),
        Contender::new("hyper on async-std", |n| {
            async_std::task::block_on(timed!(n, hyper_async_std.call().await))
        }),
        Contender::new("hyper on smol", |n| {
            smol::block_on(timed!(n, hyper_smol.call().await))
        }),
        Contender::new(HYPER_ASYNC_STD_UNDER_SMOL, |n| {
            smol::block_on(timed!(n, hyper_async_std_smol.call().await))
        }),
        Contender::new("clerk-async-std", |n| {
            async_std::task::block_on(timed!(
                n,
                clerk_async_std
                    .create_sign_in_token(create())
                    .await
                    .unwrap()
            ))
        }),
        Contender::new("clerk-async-std on smol", |n| {
            smol::block_on(timed!(
                n,
                clerk_async_std_smol
                    .create_sign_in_token(create())
                    .await
                    .unwrap()
            ))
        }),
        Contender::new("ureq", |n| {
            time_n(n, || {
                std::hint::black_box(bare_ureq.call());
            })
        }),
        Contender::new("ureq + clerk-ureq's timeouts", |n| {
            time_n(n, || {
                std::hint::black_box(bare_ureq_timeouts.call());
            })
        }),
        Contender::new("clerk-ureq", |n| {
            time_n(n, || {
                std::hint::black_box(clerk_ureq.create_sign_in_token(create()).unwrap());
            })
        }),
        Contender::new("clerk-ureq (lazy resolve)", |n| {
            time_n(n, || {
                std::hint::black_box(clerk_ureq_lazy.create_sign_in_token(create()).unwrap());
            })
        }),
        Contender::new("reqwest", |n| {
            rt.block_on(timed!(n, bare_reqwest.call().await))
        }),
        Contender::new("clerk-reqwest", |n| {
            rt.block_on(timed!(
                n,
                clerk_reqwest.create_sign_in_token(create()).await.unwrap()
            ))
        }),
        Contender::new("clerk-rs", |n| {
            rt.block_on(timed!(n, clerk_rs.call().await))
        }),
    ];
    let r = interleave(&mut contenders, calls / 4, rounds, calls, &|| {
        target.probe()
    });
    drop(contenders);

    println!(
        "## sequential create calls, one at a time ({rounds} interleaved rounds of {calls} calls each; median round)\n"
    );
    print_contenders(&r);
    println!("| ratio of time per call (paired by round) | median | min | max | target |");
    println!("| --- | ---: | ---: | ---: | --- |");
    print_ratios(
        &r,
        &[
            ("clerk-async-std", "hyper on async-std", "≤ 1.05"),
            (
                "clerk-async-std on smol",
                HYPER_ASYNC_STD_UNDER_SMOL,
                "≤ 1.05",
            ),
            ("clerk-async-std", "raw async-std TcpStream", "(for reference)"),
            ("clerk-async-std on smol", "hyper on smol", "(for reference)"),
            ("clerk-async-std on smol", "raw smol TcpStream", "(for reference)"),
            ("clerk-ureq", "ureq", "≤ 1.10"),
            ("clerk-ureq (lazy resolve)", "ureq", "≤ 1.10"),
            (
                "ureq + clerk-ureq's timeouts",
                "ureq",
                "(where the time goes)",
            ),
            ("clerk-reqwest", "reqwest", "(no regression)"),
            ("clerk-ureq", "clerk-rs", "(for reference)"),
            ("clerk-reqwest", "clerk-rs", "(for reference)"),
            ("clerk-async-std", "clerk-rs", "(for reference)"),
        ],
    );
}

// ------------------------------------------------------------ after a burst

/// Bare hyper on async-std's sockets, its connection driver a task on
/// async-std's executor, awaited under `smol::block_on`.
const HYPER_ASYNC_STD_UNDER_SMOL: &str = "hyper on async-std (under smol)";

/// The calls of a burst, all in flight at once.
const BURST: u64 = 64;

/// Sequential calls on a clerk-async-std client that has just served a
/// burst of [`BURST`] calls in flight, so that the connection they take is
/// one that was lent to a task of its own, beside the same on a fresh
/// client (its connection driven by the caller from the start) and bare
/// hyper. The burst is made again
/// before every timed run and is not timed: between two runs of the same
/// contender the others run, long enough for its connections to idle out.
fn after_burst(target: &Target) {
    let rounds = env_or("SEQ_ROUNDS", 21usize);
    let calls = env_or("SEQ_CALLS", 2000u64);
    let (host, port) = (target.host.as_str(), target.port);

    let mut hyper_async_std = async_std::task::block_on(Hyper::connect_to(host, port));
    let mut hyper_async_std_smol = async_std::task::block_on(Hyper::connect_to(host, port));
    let fresh = clerk_async_std::Client::new(target.config()).unwrap();
    let fresh_smol = clerk_async_std::Client::new(target.config()).unwrap();
    let burst = clerk_async_std::Client::new(target.config()).unwrap();
    let burst_smol = clerk_async_std::Client::new(target.config()).unwrap();
    let create_on = |c: &clerk_async_std::Client| {
        let c = c.clone();
        move || {
            let c = c.clone();
            async move {
                std::hint::black_box(c.create_sign_in_token(create()).await.unwrap());
            }
        }
    };

    let mut contenders = vec![
        Contender::new("hyper on async-std", |n| {
            async_std::task::block_on(timed!(n, hyper_async_std.call().await))
        }),
        Contender::new(HYPER_ASYNC_STD_UNDER_SMOL, |n| {
            smol::block_on(timed!(n, hyper_async_std_smol.call().await))
        }),
        Contender::new("clerk-async-std (fresh)", |n| {
            async_std::task::block_on(timed!(
                n,
                fresh.create_sign_in_token(create()).await.unwrap()
            ))
        }),
        Contender::new("clerk-async-std on smol (fresh)", |n| {
            smol::block_on(timed!(
                n,
                fresh_smol.create_sign_in_token(create()).await.unwrap()
            ))
        }),
        Contender::new("clerk-async-std after a burst", |n| {
            async_std_in_flight(BURST, BURST, create_on(&burst));
            async_std::task::block_on(timed!(
                n,
                burst.create_sign_in_token(create()).await.unwrap()
            ))
        }),
        Contender::new("clerk-async-std on smol after a burst", |n| {
            smol_in_flight(BURST, BURST, create_on(&burst_smol));
            smol::block_on(timed!(
                n,
                burst_smol.create_sign_in_token(create()).await.unwrap()
            ))
        }),
    ];
    let r = interleave(&mut contenders, calls / 4, rounds, calls, &|| {
        target.probe()
    });
    drop(contenders);

    println!(
        "## sequential create calls after a burst of {BURST} in flight ({rounds} interleaved rounds of {calls} calls each; median round; the burst is not timed, its connections are counted)\n"
    );
    print_contenders(&r);
    println!("| ratio of time per call (paired by round) | median | min | max | target |");
    println!("| --- | ---: | ---: | ---: | --- |");
    print_ratios(
        &r,
        &[
            ("clerk-async-std after a burst", "hyper on async-std", "≤ 1.05"),
            (
                "clerk-async-std on smol after a burst",
                HYPER_ASYNC_STD_UNDER_SMOL,
                "≤ 1.05",
            ),
            ("clerk-async-std (fresh)", "hyper on async-std", "≤ 1.05"),
            (
                "clerk-async-std on smol (fresh)",
                HYPER_ASYNC_STD_UNDER_SMOL,
                "≤ 1.05",
            ),
            (
                "clerk-async-std after a burst",
                "clerk-async-std (fresh)",
                "(after a burst against fresh)",
            ),
            (
                "clerk-async-std on smol after a burst",
                "clerk-async-std on smol (fresh)",
                "(after a burst against fresh)",
            ),
        ],
    );
}

// ------------------------------------------------------------ concurrency

fn concurrency(target: &Target) {
    let rounds = env_or("CONC_ROUNDS", 21usize);
    let calls = env_or("CONC_CALLS", 15_000u64);
    let in_flight = env_or("IN_FLIGHT", 64u64);
    let (host, port, url) = (target.host.as_str(), target.port, target.url());

    let rt = tokio_runtime();
    let bare_reqwest = Reqwest::new(&url);
    let clerk_reqwest = rt.block_on(async { clerk_reqwest::Client::new(target.config()).unwrap() });
    let clerk_rs = ClerkRs::new(&url);
    let mut hyper_conns: Vec<Hyper> = async_std::task::block_on(async {
        let mut v = Vec::new();
        for _ in 0..in_flight {
            v.push(Hyper::connect_to(host, port).await);
        }
        v
    });
    let clerk_async_std = clerk_async_std::Client::new(target.config()).unwrap();
    let clerk_async_std_smol = clerk_async_std::Client::new(target.config()).unwrap();

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
        Contender::new("clerk-async-std", |n| {
            let c = clerk_async_std.clone();
            async_std_in_flight(in_flight, n, move || {
                let c = c.clone();
                async move {
                    std::hint::black_box(c.create_sign_in_token(create()).await.unwrap());
                }
            })
        }),
        Contender::new("clerk-async-std on smol", |n| {
            let c = clerk_async_std_smol.clone();
            smol_in_flight(in_flight, n, move || {
                let c = c.clone();
                async move {
                    std::hint::black_box(c.create_sign_in_token(create()).await.unwrap());
                }
            })
        }),
    ];
    let r = interleave(&mut contenders, calls / 4, rounds, calls, &|| {
        target.probe()
    });
    drop(contenders);

    println!(
        "## concurrency: {in_flight} calls in flight ({rounds} interleaved rounds of {calls} calls each; median round)\n"
    );
    print_contenders(&r);
    print_throughput_ratios(
        &r,
        &[
            ("clerk-reqwest", "reqwest", "≥ 0.95"),
            ("clerk-async-std", "hyper on async-std", "≥ 0.95"),
            ("clerk-async-std on smol", "hyper on async-std", "≥ 0.95"),
            ("clerk-reqwest", "clerk-rs", "(for reference)"),
            ("clerk-async-std", "clerk-rs", "(for reference)"),
        ],
    );
}
