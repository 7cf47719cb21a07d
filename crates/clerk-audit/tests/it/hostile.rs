//! Point 4: a hostile server cannot exhaust a client's memory or time.
//!
//! Each case × adapter runs in a child process (this test binary again,
//! `--exact` this test, with [`CHILD_ENV`] naming the case), so that the
//! child's peak resident set (`VmHWM` in `/proc/self/status`, reset at the
//! start of the case through `/proc/self/clear_refs`) measures that case
//! alone. The child reports peak RSS, time and the error; the parent prints
//! the table and asserts: the right typed error, within the timeout plus
//! slack, and under [`RSS_BOUND_MIB`] over the child's baseline.
//!
//! Every case uses the defaults but for the timeouts: the 256 KiB body cap,
//! the default retry policy (a create, which none of these replies makes it
//! retry), a 1 s connect timeout and a 2 s timeout per attempt. The time is
//! the call's alone; the RSS includes starting the client (and, for the
//! async adapters, their runtimes) and the server threads in the child, so
//! a first row, an ordinary create, shows what that costs without any
//! hostility.
//!
//! Reproduce the table with
//! `cargo test -p clerk-audit --test it hostile -- --nocapture`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clerk_core::{Config, CreateSignInToken, DEFAULT_MAX_BODY_BYTES, Error};
use clerk_mock::{Fault, MockServer};

use crate::hostile_server::{HostileServer, Script};
use crate::{Adapter, kind_of};

/// Set in a child: `<case>|<adapter>`.
const CHILD_ENV: &str = "CLERK_AUDIT_HOSTILE_CHILD";
/// What a child prints before its measurement, as JSON.
const REPORT: &str = "CLERK_AUDIT_MEASUREMENT ";

const TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Time allowed past the timeout: the timer's and the scheduler's latency.
const SLACK: Duration = Duration::from_secs(1);
/// The bound on a case's peak RSS over the child's baseline.
const RSS_BOUND_MIB: f64 = 64.0;
/// A child still running this long after it started has hung.
const CHILD_DEADLINE: Duration = Duration::from_secs(20);

const GIB: u64 = 1 << 30;
const NESTING: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    /// Not hostile: what one ordinary create costs, for comparison.
    Control,
    Body1GibLength,
    Body1GibChunked,
    BodyEndlessDrip,
    HeadEndlessDrip,
    HeaderFlood,
    HeaderBlock1Mib,
    NestedArrays200,
    NestedUnknownField200,
    NestedArrays422,
    NestedClerkMeta422,
}

impl Case {
    const ALL: [Case; 11] = [
        Case::Control,
        Case::Body1GibLength,
        Case::Body1GibChunked,
        Case::BodyEndlessDrip,
        Case::HeadEndlessDrip,
        Case::HeaderFlood,
        Case::HeaderBlock1Mib,
        Case::NestedArrays200,
        Case::NestedUnknownField200,
        Case::NestedArrays422,
        Case::NestedClerkMeta422,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::Control => "control: an ordinary create",
            Case::Body1GibLength => "1 GiB body, Content-Length (clerk-mock Oversized)",
            Case::Body1GibChunked => "1 GiB body, chunked",
            Case::BodyEndlessDrip => "endless body, 1 byte / 10 ms",
            Case::HeadEndlessDrip => "endless head, 1 byte / 10 ms",
            Case::HeaderFlood => "header flood, 10,000 fields",
            Case::HeaderBlock1Mib => "one 1 MiB header field",
            Case::NestedArrays200 => "100k nested [ in a 200 JSON",
            Case::NestedUnknownField200 => "200 token, unknown field of 100k unclosed [",
            Case::NestedArrays422 => "100k nested [ in a 422 JSON",
            Case::NestedClerkMeta422 => "Clerk 422, 100k nested [ in its meta",
        }
    }

    fn from_debug(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| format!("{c:?}") == name)
    }

    /// The error each adapter must end with (the control: success).
    fn expected(self) -> &'static str {
        match self {
            Case::Control => "Ok",
            Case::Body1GibLength | Case::Body1GibChunked => "Transport(BodyTooLarge)",
            Case::BodyEndlessDrip | Case::HeadEndlessDrip => "Transport(Timeout)",
            Case::HeaderFlood | Case::HeaderBlock1Mib => "Transport(Protocol)",
            // A sequence where an object belongs: refused at the first `[`.
            Case::NestedArrays200 => "Decode(Data)",
            // Skipped as an unknown field, iteratively, to the end of the body.
            Case::NestedUnknownField200 => "Decode(Eof)",
            Case::NestedArrays422 | Case::NestedClerkMeta422 => "UnexpectedResponse(422)",
        }
    }

    /// Whether only the timeout can end this case.
    fn ends_by_timeout(self) -> bool {
        matches!(self, Case::BodyEndlessDrip | Case::HeadEndlessDrip)
    }

    /// Runs the case once: the call's result, the time the call took (the
    /// client's own construction and the servers' shutdown left out), and
    /// what the hostile server wrote (when it is ours and counts).
    fn run(self, adapter: Adapter) -> (Result<(), Error>, Duration, Option<u64>) {
        let config = |base_url: &str, key: &str| {
            Config::new(key)
                .unwrap()
                .with_base_url(base_url)
                .unwrap()
                .with_connect_timeout(CONNECT_TIMEOUT)
                .with_timeout(TIMEOUT)
        };
        let call = |base_url: &str, key: &str| {
            let client = adapter.client(config(base_url, key));
            let start = Instant::now();
            let result = client.create(CreateSignInToken::new("user_hostile"));
            (result.map(|_| ()), start.elapsed())
        };
        let hostile = |script: Script| {
            let server = HostileServer::start(script);
            let (result, elapsed) = call(&server.base_url(), "sk_test_hostile");
            (result, elapsed, Some(server.bytes_written()))
        };
        let mock = |fault: Fault| {
            let mock = MockServer::start();
            mock.push_fault(fault);
            let (result, elapsed) = call(&mock.base_url(), mock.secret_key());
            (result, elapsed, None)
        };
        let drip = Duration::from_millis(10);
        match self {
            Case::Control => {
                let mock = MockServer::start();
                mock.add_user("user_hostile");
                let (result, elapsed) = call(&mock.base_url(), mock.secret_key());
                (result, elapsed, None)
            }
            Case::Body1GibLength => mock(Fault::Oversized {
                bytes: GIB as usize,
            }),
            Case::Body1GibChunked => hostile(Script::ChunkedBody { total: GIB }),
            Case::BodyEndlessDrip => hostile(Script::DripBody { interval: drip }),
            Case::HeadEndlessDrip => hostile(Script::DripHead { interval: drip }),
            Case::HeaderFlood => hostile(Script::HeaderFlood { count: 10_000 }),
            Case::HeaderBlock1Mib => hostile(Script::HugeHeader { bytes: 1 << 20 }),
            Case::NestedArrays200 => mock(raw_json("200 OK", &"[".repeat(NESTING))),
            Case::NestedUnknownField200 => {
                let body = format!(
                    r#"{{"object":"sign_in_token","id":"sit_1","status":"pending","user_id":"u","created_at":1,"updated_at":1,"later":{}"#,
                    "[".repeat(NESTING)
                );
                mock(raw_json("200 OK", &body))
            }
            Case::NestedArrays422 => {
                mock(raw_json("422 Unprocessable Content", &"[".repeat(NESTING)))
            }
            Case::NestedClerkMeta422 => {
                let body = format!(
                    r#"{{"errors":[{{"code":"c","message":"m","long_message":"l","meta":{{"a":{}"#,
                    "[".repeat(NESTING)
                );
                mock(raw_json("422 Unprocessable Content", &body))
            }
        }
    }
}

fn raw_json(status_line: &str, body: &str) -> Fault {
    crate::redaction::raw(
        status_line,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// A field of `/proc/self/status`, in KiB (Linux only).
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One row of the table.
#[derive(Debug)]
struct Measurement {
    case: Case,
    adapter: Adapter,
    kind: String,
    attempts: u32,
    elapsed: Duration,
    baseline_kib: Option<u64>,
    peak_kib: Option<u64>,
    server_bytes: Option<u64>,
    problem: Option<String>,
}

impl Measurement {
    fn rss_over_baseline_mib(&self) -> Option<f64> {
        Some(self.peak_kib?.saturating_sub(self.baseline_kib?) as f64 / 1024.0)
    }
}

/// In the child: run one case, print the measurement.
fn child(spec: &str) {
    let (case, adapter) = spec.split_once('|').unwrap();
    let case = Case::from_debug(case).unwrap();
    let adapter = Adapter::from_name(adapter).unwrap();
    // Reset the peak to the current RSS (Linux ≥ 4.0): the peak read at the
    // end is then this case's alone. Where that is refused, the peak since
    // the process started is reported, which only overstates.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let baseline_kib = proc_status_kib("VmRSS:");
    let (result, elapsed, server_bytes) = case.run(adapter);
    let peak_kib = proc_status_kib("VmHWM:");
    let (kind, attempts) = match &result {
        Ok(()) => ("Ok".to_owned(), 1),
        Err(e) => (kind_of(e), e.attempts()),
    };
    let report = clerk_mock::serde_json::json!({
        "kind": kind,
        "attempts": attempts,
        "elapsed_us": elapsed.as_micros() as u64,
        "baseline_kib": baseline_kib,
        "peak_kib": peak_kib,
        "server_bytes": server_bytes,
    });
    println!("\n{REPORT}{report}");
}

/// The name the test harness knows this test by, for `--exact`.
fn this_test() -> String {
    let module = module_path!();
    let module = module.split_once("::").map_or(module, |(_, rest)| rest);
    format!("{module}::hostile_servers_end_in_typed_errors_within_bounds")
}

/// In the parent: run one case in a child and read its report.
fn run_in_child(case: Case, adapter: Adapter) -> Measurement {
    let mut row = Measurement {
        case,
        adapter,
        kind: "-".to_owned(),
        attempts: 0,
        elapsed: Duration::ZERO,
        baseline_kib: None,
        peak_kib: None,
        server_bytes: None,
        problem: None,
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &this_test(), "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{case:?}|{adapter}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > CHILD_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let Some(status) = status else {
        row.problem = Some(format!("hung: killed after {CHILD_DEADLINE:?}"));
        return row;
    };
    let Some(report) = stdout
        .lines()
        .find_map(|l| l.split_once(REPORT).map(|(_, r)| r))
    else {
        row.problem = Some(format!(
            "the child reported nothing ({status}): {stdout}\n{stderr}"
        ));
        return row;
    };
    let report: clerk_mock::serde_json::Value = clerk_mock::serde_json::from_str(report).unwrap();
    row.kind = report["kind"].as_str().unwrap().to_owned();
    row.attempts = report["attempts"].as_u64().unwrap() as u32;
    row.elapsed = Duration::from_micros(report["elapsed_us"].as_u64().unwrap());
    row.baseline_kib = report["baseline_kib"].as_u64();
    row.peak_kib = report["peak_kib"].as_u64();
    row.server_bytes = report["server_bytes"].as_u64();
    row
}

fn mib(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    }
}

fn table(rows: &[Measurement]) -> String {
    let mut out = String::from(
        "| case | adapter | error | attempts | time | peak RSS over baseline | peak RSS | server wrote |\n\
         | --- | --- | --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for row in rows {
        let kib = |k: Option<u64>| k.map_or("n/a".to_owned(), |k| mib(k * 1024));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} ms | {} | {} | {} |\n",
            row.case.name(),
            row.adapter,
            row.kind,
            row.attempts,
            row.elapsed.as_millis(),
            row.rss_over_baseline_mib()
                .map_or("n/a".to_owned(), |m| format!("{m:.1} MiB")),
            kib(row.peak_kib),
            row.server_bytes.map_or("-".to_owned(), mib),
        ));
    }
    out
}

/// The same rows, one line per case: time and peak RSS over baseline for
/// each adapter (the form SECURITY.md shows).
fn compact_table(rows: &[Measurement]) -> String {
    let mut out = String::from(
        "| case | error | clerk-ureq | clerk-reqwest | clerk-async-std |\n| --- | --- | ---: | ---: | ---: |\n",
    );
    for case in Case::ALL {
        let of_case: Vec<&Measurement> = rows.iter().filter(|r| r.case == case).collect();
        let mut kinds: Vec<&str> = of_case.iter().map(|r| r.kind.as_str()).collect();
        kinds.dedup();
        let cells: Vec<String> = of_case
            .iter()
            .map(|r| {
                let rss = r
                    .rss_over_baseline_mib()
                    .map_or("n/a".to_owned(), |m| format!("+{m:.1} MiB"));
                let kind = if kinds.len() > 1 {
                    format!("{}, ", r.kind)
                } else {
                    String::new()
                };
                format!("{kind}{} ms, {rss}", r.elapsed.as_millis())
            })
            .collect();
        let kind = if kinds.len() == 1 { kinds[0] } else { "differ" };
        out.push_str(&format!(
            "| {} | {kind} | {} |\n",
            case.name(),
            cells.join(" | ")
        ));
    }
    out
}

#[test]
fn hostile_servers_end_in_typed_errors_within_bounds() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let rows: Vec<Measurement> = Case::ALL
        .into_iter()
        .flat_map(|case| Adapter::ALL.map(|adapter| run_in_child(case, adapter)))
        .collect();
    println!(
        "\nHostile servers: timeout {TIMEOUT:?} per attempt, connect timeout {CONNECT_TIMEOUT:?}, \
         body cap {} KiB, default retry policy, one create per case.\n\n{}\n{}",
        DEFAULT_MAX_BODY_BYTES / 1024,
        table(&rows),
        compact_table(&rows)
    );
    let mut problems = Vec::new();
    for row in &rows {
        let at = format!("{} / {}", row.case.name(), row.adapter);
        if let Some(problem) = &row.problem {
            problems.push(format!("{at}: {problem}"));
            continue;
        }
        if row.kind != row.case.expected() {
            problems.push(format!(
                "{at}: ended with {}, expected {}",
                row.kind,
                row.case.expected()
            ));
        }
        let limit = if row.case.ends_by_timeout() {
            TIMEOUT + SLACK
        } else {
            TIMEOUT
        };
        if row.elapsed > limit {
            problems.push(format!("{at}: took {:?}, over {limit:?}", row.elapsed));
        }
        if row.case.ends_by_timeout() && row.elapsed < TIMEOUT {
            problems.push(format!(
                "{at}: ended after {:?}, before the timeout",
                row.elapsed
            ));
        }
        if let Some(over) = row.rss_over_baseline_mib()
            && over >= RSS_BOUND_MIB
        {
            problems.push(format!("{at}: peak RSS {over:.1} MiB over baseline"));
        }
        if let Some(bytes) = row.server_bytes
            && matches!(row.case, Case::Body1GibChunked)
            && bytes >= 64 << 20
        {
            problems.push(format!("{at}: the server got to write {}", mib(bytes)));
        }
    }
    if cfg!(target_os = "linux") {
        assert!(
            rows.iter()
                .all(|r| r.problem.is_some() || r.peak_kib.is_some()),
            "no RSS was measured on Linux"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
