//! The installed command, run as an operator runs it, against clerk-mock on
//! loopback: through real pipes, files, a terminal (`script`) and signals.

mod cli;
mod edges;
mod emails;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use clerk_mock::{MockServer, RateLimit};
use serde_json::Value;

/// Distinctive, so that a leak anywhere is found.
pub(crate) const KEY: &str = "sk_test_cli_SECRET_never_printed_4f2a";

/// The command under test: this crate's, or the one `CLI_UNDER_TEST`
/// names (to show a test fails on another build).
pub(crate) fn bin() -> String {
    std::env::var("CLI_UNDER_TEST")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_clerk-sign-in-tokens").to_owned())
}

pub(crate) fn mock() -> MockServer {
    MockServer::builder().secret_key(KEY).start()
}

pub(crate) fn limited_mock(n: u32, window: Duration) -> MockServer {
    MockServer::builder()
        .secret_key(KEY)
        .rate_limit(RateLimit::new(n, window))
        .start()
}

pub(crate) fn command(mock: &MockServer, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("CLERK_SECRET_KEY", KEY)
        .env("CLERK_API_URL", mock.base_url())
        .stdin(Stdio::null());
    cmd
}

/// The CLI started with stdout and stderr piped, for a test that watches
/// it while it runs.
pub(crate) fn spawn(mock: &MockServer, args: &[&str]) -> std::process::Child {
    command(mock, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts")
}

pub(crate) fn run(mock: &MockServer, args: &[&str]) -> Output {
    let out = command(mock, args).output().expect("the command runs");
    assert_no_key(&out.stdout);
    assert_no_key(&out.stderr);
    out
}

pub(crate) fn assert_no_key(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!text.contains(KEY), "the secret key was printed");
    assert!(
        !text.contains("SECRET_never"),
        "part of the key was printed"
    );
}

/// A scratch directory of the test's own.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "clerk-sign-in-tokens-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

pub(crate) fn records(stdout: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(stdout).expect("UTF-8");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

pub(crate) fn minted_ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter_map(|r| r["token"]["id"].as_str().map(str::to_owned))
        .collect()
}

pub(crate) fn mock_ids(mock: &MockServer) -> BTreeSet<String> {
    mock.tokens().into_iter().map(|t| t.id).collect()
}

/// `n` users the mock knows, written one a line with comments, blanks and
/// `bad` bad lines among them; the users and the file.
pub(crate) fn users_file(mock: &MockServer, dir: &Path, n: usize) -> (Vec<String>, PathBuf) {
    let users: Vec<String> = (0..n).map(|_| mock.create_user()).collect();
    let mut text = String::from("# onboarding batch\n\n");
    for (i, user) in users.iter().enumerate() {
        text.push_str(user);
        text.push('\n');
        if i % 97 == 5 {
            text.push_str("   \n# a comment\n");
        }
    }
    let path = dir.join("users.txt");
    std::fs::write(&path, text).expect("write the users");
    (users, path)
}

pub(crate) fn summary(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = err.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("clerk-sign-in-tokens: "), "{err}");
    last
}

pub(crate) fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits for the child, killing it (and failing) past the deadline.
pub(crate) fn wait_bounded(mut child: Child, deadline: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("the command did not end within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The whole records of an output whose last line may be cut short.
pub(crate) fn whole_records(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Whether `script` (util-linux) can give a test a terminal.
pub(crate) fn have_script() -> bool {
    let ok = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: `script` (util-linux) is not installed");
    }
    ok
}

/// Runs `sh -c SCRIPT` in a terminal (`script` makes one; stdin is not
/// one), with the CLI's environment and `$BIN` set; what the terminal
/// showed, within `deadline`.
pub(crate) fn in_terminal(mock: &MockServer, script: &str, deadline: Duration) -> Output {
    let child = Command::new("script")
        .args(["-qfec", script, "/dev/null"])
        .env("BIN", bin())
        .env("CLERK_SECRET_KEY", KEY)
        .env("CLERK_API_URL", mock.base_url())
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script runs");
    wait_bounded(child, deadline)
}

/// Runs `sh -c SCRIPT` with the CLI's environment and `$BIN` set.
pub(crate) fn shell(mock: &MockServer, script: &str) -> Output {
    let out = Command::new("sh")
        .args(["-c", script])
        .env("BIN", bin())
        .env("CLERK_SECRET_KEY", KEY)
        .env("CLERK_API_URL", mock.base_url())
        .stdin(Stdio::null())
        .output()
        .expect("sh runs");
    assert_no_key(&out.stdout);
    assert_no_key(&out.stderr);
    out
}
