//! A sanity check, not a race: the bulk CLI against clerk-mock (no rate
//! limit) on loopback must keep up with at least 10 000 records a second,
//! a hundred times Clerk's production limit, on every runtime.
//!
//! ```text
//! cargo build --release -p clerk-sign-in-tokens --example bulk_bench
//! target/release/examples/bulk_bench [IDS] [ROUNDS]
//! ```
//!
//! Defaults: 20 000 ids, 3 rounds; the median of the rounds is printed.
//! Exits 1 when a runtime's median is under 10 000 records a second. With
//! `/usr/bin/time` present it also prints the CLI's own CPU time per
//! record (user + system), which a busy machine disturbs less than the
//! wall-clock rate.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use clerk_mock::MockServer;

const IN_FLIGHT: usize = 64;
const FLOOR: f64 = 10_000.0;

fn main() {
    let mut args = std::env::args().skip(1);
    let ids: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    // target/release/examples/bulk_bench -> target/release/clerk-sign-in-tokens
    let exe = std::env::current_exe().expect("own path");
    let cli: PathBuf = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target/<profile>")
        .join("clerk-sign-in-tokens");
    assert!(
        cli.exists(),
        "build the CLI first: cargo build --release -p clerk-sign-in-tokens"
    );
    let dir = std::env::temp_dir().join(format!("clerk-bulk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let users: Vec<String> = (0..ids).map(|i| format!("user_bench{i:08}")).collect();
    let file = dir.join("users.txt");
    std::fs::write(&file, users.join("\n")).expect("write ids");
    println!(
        "{ids} ids, {rounds} rounds (median), {IN_FLIGHT} in flight, clerk-mock without a limit"
    );
    println!("| runtime | records/s | at least {FLOOR:.0}/s | CLI CPU per record |");
    println!("| --- | ---: | --- | ---: |");
    let time = std::path::Path::new("/usr/bin/time");
    let mut all_kept_up = true;
    for runtime in ["ureq", "reqwest", "async-std"] {
        let mut rates = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..rounds {
            // A fresh server each round, so none meets one full of tokens.
            let mock = MockServer::builder().max_connections(4 * IN_FLIGHT).start();
            for user in &users {
                mock.add_user(user);
            }
            let out = dir.join("minted.jsonl");
            let times = dir.join("time");
            let mut command = if time.exists() {
                let mut c = Command::new(time);
                c.args(["-f", "%U %S", "-o", times.to_str().expect("UTF-8 path")])
                    .arg(&cli);
                c
            } else {
                Command::new(&cli)
            };
            let start = Instant::now();
            let status = command
                .args(["--runtime", runtime, "--no-pacing", "--concurrency"])
                .arg(IN_FLIGHT.to_string())
                .args(["--output", out.to_str().expect("UTF-8 path")])
                .args(["create", "--user-ids", file.to_str().expect("UTF-8 path")])
                .env("CLERK_SECRET_KEY", mock.secret_key())
                .env("CLERK_API_URL", mock.base_url())
                .stderr(Stdio::null())
                .status()
                .expect("the CLI runs");
            let elapsed = start.elapsed().as_secs_f64();
            assert!(status.success(), "{runtime}: the CLI failed");
            let written = std::fs::read_to_string(&out)
                .expect("records")
                .lines()
                .count();
            assert_eq!(written, ids, "{runtime}: one record per id");
            let _ = std::fs::remove_file(&out);
            rates.push(ids as f64 / elapsed);
            if let Ok(text) = std::fs::read_to_string(&times) {
                let seconds: f64 = text
                    .split_whitespace()
                    .filter_map(|v| v.parse::<f64>().ok())
                    .sum();
                cpu.push(seconds / ids as f64);
            }
        }
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        let kept_up = median >= FLOOR;
        all_kept_up &= kept_up;
        cpu.sort_by(f64::total_cmp);
        let cpu = cpu
            .get(cpu.len() / 2)
            .map_or("–".into(), |c| format!("{:.1} µs", c * 1e6));
        let kept_up_text = if kept_up { "yes" } else { "NO" };
        println!("| {runtime} | {median:.0} | {kept_up_text} | {cpu} |");
    }
    let _ = std::fs::remove_dir_all(&dir);
    if !all_kept_up {
        std::process::exit(1);
    }
}
