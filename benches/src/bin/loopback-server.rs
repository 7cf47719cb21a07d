//! The loopback server of the end-to-end benchmarks, as its own process so
//! it can be pinned to a core of its own (`taskset -c 0`).
//!
//! `loopback-server [ADDR] [WORKERS]`: ADDR defaults to `127.0.0.1:0`,
//! WORKERS (tokio threads) to 1. Prints `listening ADDR` once bound.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .expect("ADDR is host:port");
    let workers = args
        .next()
        .map_or(1, |w| w.parse().expect("WORKERS is a number"));
    clerk_benches::server::run(addr, workers, |bound| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening {bound}");
        let _ = out.flush();
    })
}
