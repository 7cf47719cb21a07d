//! Makes N sequential create calls with one contender against a running
//! loopback server, for instruction and system-call counts per call
//! (`e2e-icount.sh` runs it under callgrind and strace, twice, and takes the
//! difference, so start-up cancels out).
//!
//! `client-icount CONTENDER N ADDR`; CONTENDER is one of `ureq`,
//! `clerk-ureq`, `ureq-timeouts`, `clerk-ureq-proposed`, `reqwest`, `clerk-reqwest`, `clerk-rs`, `hyper`, `hyper-timeout`,
//! `clerk-async-std`; with `@64` appended (`reqwest`, `clerk-reqwest`,
//! `hyper`, `clerk-async-std`), 64 calls in flight instead.

use std::hint::black_box;
use std::net::SocketAddr;

use clerk_benches::bare::{ClerkRs, Hyper, Reqwest, Ureq};
use clerk_benches::{EXPIRES_IN_SECONDS, SECRET_KEY, USER_ID};

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (name, n, addr): (&str, u64, SocketAddr) = match &args[..] {
        [name, n, addr] => (name, n.parse().expect("N"), addr.parse().expect("ADDR")),
        _ => {
            eprintln!("usage: client-icount CONTENDER N ADDR");
            std::process::exit(2);
        }
    };
    let url = format!("http://{addr}/v1");
    let config = clerk_core::Config::new(SECRET_KEY)
        .unwrap()
        .with_base_url(&url)
        .unwrap();
    let create =
        || clerk_core::CreateSignInToken::new(USER_ID).with_expires_in_seconds(EXPIRES_IN_SECONDS);
    if let Some(name) = name.strip_suffix("@64") {
        in_flight(name, n, addr, &url, config);
        return;
    }
    // One call before counting starts in earnest: connections are open and
    // pools warm for both N.
    match name {
        "ureq" => {
            let c = Ureq::new(&url);
            for _ in 0..=n {
                black_box(c.call());
            }
        }
        "ureq-timeouts" => {
            let c = Ureq::with_timeouts(&url);
            for _ in 0..=n {
                black_box(c.call());
            }
        }
        "clerk-ureq-proposed" => {
            let agent = clerk_benches::proposed::ureq_agent_with_literal_resolver(&config);
            let c = clerk_ureq::Client::with_agent(config, agent).unwrap();
            for _ in 0..=n {
                black_box(c.create_sign_in_token(create()).unwrap());
            }
        }
        "clerk-ureq" => {
            let c = clerk_ureq::Client::new(config).unwrap();
            for _ in 0..=n {
                black_box(c.create_sign_in_token(create()).unwrap());
            }
        }
        "reqwest" | "clerk-reqwest" | "clerk-rs" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                match name {
                    "reqwest" => {
                        let c = Reqwest::new(&url);
                        for _ in 0..=n {
                            black_box(c.call().await);
                        }
                    }
                    "clerk-reqwest" => {
                        let c = clerk_reqwest::Client::new(config).unwrap();
                        for _ in 0..=n {
                            black_box(c.create_sign_in_token(create()).await.unwrap());
                        }
                    }
                    _ => {
                        let c = ClerkRs::new(&url);
                        for _ in 0..=n {
                            black_box(c.call().await);
                        }
                    }
                }
            });
        }
        "hyper" => async_std::task::block_on(async {
            let mut c = Hyper::connect(addr).await;
            for _ in 0..=n {
                black_box(c.call().await);
            }
        }),
        "hyper-timeout" => async_std::task::block_on(async {
            let mut c = Hyper::connect(addr).await;
            for _ in 0..=n {
                let call = c.call();
                black_box(
                    async_std::future::timeout(std::time::Duration::from_secs(15), call)
                        .await
                        .unwrap(),
                );
            }
        }),
        "clerk-async-std" => async_std::task::block_on(async {
            let c = clerk_async_std::Client::new(config).unwrap();
            for _ in 0..=n {
                black_box(c.create_sign_in_token(create()).await.unwrap());
            }
        }),
        other => panic!("unknown contender {other}"),
    }
}

/// N calls with 64 in flight (a task each, N/64 calls per task).
fn in_flight(name: &str, n: u64, addr: SocketAddr, url: &str, config: clerk_core::Config) {
    let tasks = 64;
    let share = n.div_ceil(tasks);
    let create =
        || clerk_core::CreateSignInToken::new(USER_ID).with_expires_in_seconds(EXPIRES_IN_SECONDS);
    match name {
        "reqwest" | "reqwest-timeout" | "clerk-reqwest" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap();
            let bare = Reqwest::new(url);
            let sdk = rt.block_on(async { clerk_reqwest::Client::new(config).unwrap() });
            let name = name.to_owned();
            rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..tasks {
                    let (bare, sdk, name) = (bare.clone(), sdk.clone(), name.clone());
                    set.spawn(async move {
                        for _ in 0..share {
                            match name.as_str() {
                                "reqwest" => {
                                    black_box(bare.call().await);
                                }
                                "reqwest-timeout" => {
                                    black_box(
                                        bare.call_with_timeout(std::time::Duration::from_secs(15))
                                            .await,
                                    );
                                }
                                _ => {
                                    black_box(sdk.create_sign_in_token(create()).await.unwrap());
                                }
                            }
                        }
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
            });
        }
        "hyper" => async_std::task::block_on(async {
            // Every connection first, then every task at once, as the
            // clerk-async-std contender starts them.
            let mut conns = Vec::new();
            for _ in 0..tasks {
                conns.push(Hyper::connect(addr).await);
            }
            let mut handles = Vec::new();
            for mut c in conns {
                handles.push(async_std::task::spawn(async move {
                    for _ in 0..share {
                        black_box(c.call().await);
                    }
                }));
            }
            for h in handles {
                h.await;
            }
        }),
        "clerk-async-std" => async_std::task::block_on(async {
            let c = clerk_async_std::Client::new(config).unwrap();
            let mut handles = Vec::new();
            for _ in 0..tasks {
                let c = c.clone();
                handles.push(async_std::task::spawn(async move {
                    for _ in 0..share {
                        black_box(c.create_sign_in_token(create()).await.unwrap());
                    }
                }));
            }
            for h in handles {
                h.await;
            }
        }),
        other => panic!("unknown contender {other}@64"),
    }
}
