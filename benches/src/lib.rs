//! What the benchmarks share: the fixtures (a typical reply and error body),
//! the baselines written by hand, the loopback server, and the side-by-side
//! measuring loop. See `BENCHMARKS.md` at the repository root.

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod bare;
pub mod proposed;
pub mod run;
pub mod server;

/// The key every contender sends.
pub const SECRET_KEY: &str = "sk_test_BENCHMARKS0000000000000000000000000000000";
/// The user every token is created for.
pub const USER_ID: &str = "user_2bPt4nY9vLQ3fXbJcH8sKdRmWzE";
/// The lifetime every create asks for.
pub const EXPIRES_IN_SECONDS: u64 = 600;
/// The `Clerk-API-Version` the hand-written calls pin (the SDK's default).
pub const API_VERSION: &str = clerk_core::DEFAULT_API_VERSION;

/// A typical create reply: a SignInToken as Clerk sends it, 387 bytes.
pub const CREATE_RESPONSE: &[u8] = br#"{"object":"sign_in_token","id":"sit_2bPt5Xq8Zr1NcVwLmK3hJdS9fGa","status":"pending","user_id":"user_2bPt4nY9vLQ3fXbJcH8sKdRmWzE","token":"eyJhbGciOiJSUzI1NiJ9.eyJzaWQiOiJzaXRfMmJQdDVYcSJ9.c2lnbmF0dXJl","url":"https://clerk.example.accounts.dev/v1/tickets/accept?ticket=eyJhbGciOiJSUzI1NiJ9.eyJzaWQiOiJzaXRfMmJQdDVYcSJ9.c2lnbmF0dXJl","created_at":1700000000000,"updated_at":1700000000000}"#;

/// A typical error reply: Clerk's 422 for a missing parameter, with a trace id.
pub const ERROR_RESPONSE: &[u8] = br#"{"errors":[{"message":"is missing","long_message":"user_id must be included.","code":"form_param_missing","meta":{"param_name":"user_id"}}],"clerk_trace_id":"b6f1c1a7e4f04b9d8f3c2a1e0d9c8b7a"}"#;

/// The JSON body of a create, as a hand-written call serializes it.
#[derive(Serialize)]
pub struct CreateBody<'a> {
    pub user_id: &'a str,
    pub expires_in_seconds: u64,
}

/// A SignInToken as a hand-written call decodes it: the same fields, plain
/// types, no checks.
#[derive(Debug, Deserialize)]
pub struct PlainToken {
    pub object: String,
    pub id: String,
    pub status: String,
    pub user_id: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Clerk's error body as a hand-written call decodes it.
#[derive(Debug, Deserialize)]
pub struct PlainErrors {
    pub errors: Vec<PlainError>,
    #[serde(default)]
    pub meta: Option<Map<String, Value>>,
    #[serde(default)]
    pub clerk_trace_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PlainError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub long_message: String,
    pub code: String,
    #[serde(default)]
    pub meta: Option<Map<String, Value>>,
}

/// The same `http::Request` the SDK builds, built by hand with the `http`
/// builder and `serde_json::to_vec`, the way a caller writes it: header
/// values from strings, the URL formatted.
pub fn hand_built_request(base_url: &str, authorization: &str) -> http::Request<Vec<u8>> {
    use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
    let body = serde_json::to_vec(&CreateBody {
        user_id: USER_ID,
        expires_in_seconds: EXPIRES_IN_SECONDS,
    })
    .expect("serializable");
    http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("{base_url}/sign_in_tokens"))
        .header(AUTHORIZATION, authorization)
        .header("clerk-api-version", API_VERSION)
        .header(USER_AGENT, clerk_core::USER_AGENT)
        .header(ACCEPT, "application/json")
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .expect("valid request")
}

/// The same request again, built by hand as tightly as the `http` crate
/// allows: the `Authorization` value made once and cloned, the others
/// static, the URL parsed from a `String` (no copy).
pub fn hand_built_request_tuned(
    base_url: &str,
    authorization: &http::HeaderValue,
) -> http::Request<Vec<u8>> {
    use http::HeaderValue;
    use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, USER_AGENT};
    static CLERK_API_VERSION: HeaderName = HeaderName::from_static("clerk-api-version");
    let body = serde_json::to_vec(&CreateBody {
        user_id: USER_ID,
        expires_in_seconds: EXPIRES_IN_SECONDS,
    })
    .expect("serializable");
    let mut url = String::with_capacity(base_url.len() + 16);
    url.push_str(base_url);
    url.push_str("/sign_in_tokens");
    let mut request = http::Request::new(body);
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = http::Uri::try_from(url).expect("valid URL");
    let headers = request.headers_mut();
    headers.reserve(5);
    headers.insert(AUTHORIZATION, authorization.clone());
    headers.insert(
        CLERK_API_VERSION.clone(),
        HeaderValue::from_static(API_VERSION),
    );
    headers.insert(USER_AGENT, HeaderValue::from_static(clerk_core::USER_AGENT));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request
}

/// The create reply as an adapter hands it to the core.
pub fn create_reply() -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("content-length", CREATE_RESPONSE.len())
        .body(CREATE_RESPONSE.to_vec())
        .expect("valid response")
}

/// The error reply as an adapter hands it to the core.
pub fn error_reply() -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(422)
        .header("content-type", "application/json")
        .header("content-length", ERROR_RESPONSE.len())
        .body(ERROR_RESPONSE.to_vec())
        .expect("valid response")
}

/// One contender in a side-by-side run: `run(n)` makes `n` calls and returns
/// how long they took.
pub struct Contender<'a> {
    pub name: &'static str,
    pub run: Box<dyn FnMut(u64) -> Duration + 'a>,
}

impl<'a> Contender<'a> {
    pub fn new(name: &'static str, run: impl FnMut(u64) -> Duration + 'a) -> Self {
        Self {
            name,
            run: Box::new(run),
        }
    }
}

/// Times of every contender in every round: `times[contender][round]`.
pub struct Rounds {
    pub names: Vec<&'static str>,
    pub calls: u64,
    pub times: Vec<Vec<Duration>>,
    /// The server's CPU time over the wall time of each contender's rounds:
    /// 1.0 means the server's core was busy the whole time.
    pub server_busy: Vec<f64>,
    /// Connections the server accepted during each contender's rounds
    /// (warm-up excluded).
    pub connections: Vec<u64>,
}

/// Runs every contender `rounds` times, `calls` calls each time,
/// interleaved: round r starts with contender r mod n, so neither a slow
/// phase of the machine nor going first favours anyone. Each contender is
/// warmed up with `warmup` calls first. `probe` tells the server
/// process's CPU time so far and the connections it has accepted.
///
/// With `CONTENDERS` set (names separated by commas), only those run.
pub fn interleave(
    contenders: &mut Vec<Contender<'_>>,
    warmup: u64,
    rounds: usize,
    calls: u64,
    probe: &dyn Fn() -> (Duration, u64),
) -> Rounds {
    if let Ok(wanted) = std::env::var("CONTENDERS") {
        let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
        contenders.retain(|c| wanted.contains(&c.name));
    }
    for c in contenders.iter_mut() {
        (c.run)(warmup);
    }
    let n = contenders.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    let mut busy = vec![(Duration::ZERO, Duration::ZERO); n];
    let mut connections = vec![0; n];
    for r in 0..rounds {
        for k in 0..n {
            let i = (r + k) % n;
            let (cpu, conns) = probe();
            let wall = Instant::now();
            let t = (contenders[i].run)(calls);
            let elapsed = wall.elapsed();
            let (cpu_after, conns_after) = probe();
            busy[i].0 += cpu_after.saturating_sub(cpu);
            busy[i].1 += elapsed;
            // The probe's own connection is one of them.
            connections[i] += conns_after.saturating_sub(conns).saturating_sub(1);
            times[i].push(t);
        }
    }
    Rounds {
        names: contenders.iter().map(|c| c.name).collect(),
        calls,
        times,
        server_busy: busy
            .iter()
            .map(|(cpu, wall)| cpu.as_secs_f64() / wall.as_secs_f64())
            .collect(),
        connections,
    }
}

impl Rounds {
    /// Whether `name` ran (see `CONTENDERS`).
    pub fn has(&self, name: &str) -> bool {
        self.names.contains(&name)
    }

    fn index(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no contender {name}"))
    }

    /// Median time per call of a contender, over the rounds.
    pub fn per_call(&self, name: &str) -> Duration {
        let mut t = self.times[self.index(name)].clone();
        t.sort();
        t[t.len() / 2] / u32::try_from(self.calls).expect("calls fit u32")
    }

    /// The share of the wall time the server's core was busy during this
    /// contender's rounds.
    pub fn server_busy(&self, name: &str) -> f64 {
        self.server_busy[self.index(name)]
    }

    /// Connections opened during this contender's rounds.
    pub fn connections(&self, name: &str) -> u64 {
        self.connections[self.index(name)]
    }

    /// Calls per second at the median round.
    pub fn calls_per_sec(&self, name: &str) -> f64 {
        1.0 / self.per_call(name).as_secs_f64()
    }

    /// The ratio of time per call `a / b`, paired round by round: (median,
    /// min, max) over the rounds.
    pub fn ratio(&self, a: &str, b: &str) -> (f64, f64, f64) {
        let (ia, ib) = (self.index(a), self.index(b));
        let mut r: Vec<f64> = self.times[ia]
            .iter()
            .zip(&self.times[ib])
            .map(|(x, y)| x.as_secs_f64() / y.as_secs_f64())
            .collect();
        r.sort_by(f64::total_cmp);
        (r[r.len() / 2], r[0], r[r.len() - 1])
    }
}

/// Times `n` runs of `f`.
pub fn time_n(n: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed()
}

/// The resident set size now and at its peak, in KiB, from /proc (Linux).
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The CPU time (user and system) a process has used, from /proc (Linux;
/// zero elsewhere). Resolution: the kernel's clock tick, usually 10 ms.
pub fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_sec())
}

fn clock_ticks_per_sec() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    // `getconf CLK_TCK`; 100 on every Linux this runs on.
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The number of connections the loopback server has accepted so far (it
/// counts the one this asks on, too).
pub fn server_connections(addr: std::net::SocketAddr) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("the server answers");
    write!(
        s,
        "GET {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n",
        server::STATS_PATH
    )
    .expect("write");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read");
    reply
        .rsplit("\r\n\r\n")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .expect("a count")
}
