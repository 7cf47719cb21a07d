//! Point 1, in traces: with the adapters' `tracing` features on and a
//! subscriber at TRACE for every target, the `log` records of ureq,
//! reqwest and rustls bridged in, nothing captured contains the secret key,
//! a sign-in token, its signature or its URL.
//!
//! One global subscriber captures everything this process emits, so every
//! test runs with it; each tracing test uses its own key and its own tokens
//! and looks for those. Besides the text as written, the search covers the
//! hex dumps in which ureq-proto logs the bytes it sends and receives
//! (16 bytes a line): they are put back together, per thread, first.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use clerk_core::{Config, CreateSignInToken, RetryPolicy};
use clerk_mock::{Fault, MockServer};
use clerk_scenarios::CapturedOutput;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::redaction::{closed_port_url, echo_faults};
use crate::{Adapter, Secrets};

/// Installs, once per process, a global subscriber at TRACE that writes
/// every event and every span's life (with its fields) into memory, and a
/// `log` bridge at TRACE.
fn capture() -> &'static CapturedOutput {
    static CAPTURED: OnceLock<CapturedOutput> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = CapturedOutput::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_thread_ids(true)
            .with_target(true)
            .with_span_events(FmtSpan::FULL)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("no other global subscriber or logger in this binary");
        captured
    })
}

fn captured_text() -> String {
    capture().text()
}

/// ureq-proto's `log_data` writes 16 bytes a line: eight groups of four hex
/// digits (`--` pads the last line), a space, then the bytes as text.
fn hex_row(line: &str) -> Option<Vec<u8>> {
    const ROW: usize = 8 * 5 + 1 + 16;
    let line = line.trim_end();
    let start = line.len().checked_sub(ROW)?;
    let row = line.get(start..)?;
    let hex = row.get(..40)?;
    let mut bytes = Vec::new();
    for group in hex.split(' ').take(8) {
        if group.len() != 4 {
            return None;
        }
        for pair in [&group[..2], &group[2..]] {
            if pair == "--" {
                continue;
            }
            bytes.push(u8::from_str_radix(pair, 16).ok()?);
        }
    }
    (row.as_bytes().get(40) == Some(&b' ')).then_some(bytes)
}

/// The byte streams the hex dumps of each thread spell out.
fn hex_dump_streams(text: &str) -> HashMap<String, Vec<u8>> {
    let mut streams: HashMap<String, Vec<u8>> = HashMap::new();
    for line in text.lines() {
        let Some(bytes) = hex_row(line) else { continue };
        let thread = line
            .split_whitespace()
            .find(|w| w.starts_with("ThreadId("))
            .unwrap_or("?")
            .to_owned();
        streams.entry(thread).or_default().extend_from_slice(&bytes);
    }
    streams
}

/// The target of a captured line: the first `: `-separated part after
/// the thread id that is neither a span (`name{fields}`) nor has spaces.
fn target_of(line: &str) -> &str {
    let after_thread = line.split_once(") ").map_or(line, |(_, rest)| rest);
    after_thread
        .split(": ")
        .find(|part| !part.contains(['{', ' ', '.']) && !part.is_empty())
        .unwrap_or("?")
}

/// Where each secret shows up: as text (how many lines, from which
/// targets, the first line), or inside a hex dump of the wire.
fn leaks(text: &str, secrets: &Secrets) -> Vec<String> {
    let streams = hex_dump_streams(text);
    let mut found: Vec<String> = Vec::new();
    let mut push = |line: String| {
        if !found.contains(&line) {
            found.push(line);
        }
    };
    for (name, value) in secrets.iter() {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(value)).collect();
        if let Some(first) = lines.first() {
            let mut targets: Vec<&str> = lines.iter().map(|l| target_of(l)).collect();
            targets.sort_unstable();
            targets.dedup();
            let shown: String = first.chars().take(200).collect();
            push(format!(
                "the {name}: as text, in events of {}; first: {shown}…",
                targets.join(", ")
            ));
        }
        if streams
            .values()
            .any(|s| s.windows(value.len()).any(|w| w == value.as_bytes()))
        {
            push(format!(
                "the {name}: in the hex dump of the bytes on the wire (TRACE records of target ureq_proto::util)"
            ));
        }
    }
    found
}

fn unique_key(test: &str, adapter: Adapter) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "sk_test_audit{test}{}{nanos:09}",
        adapter.name().replace('-', "")
    )
}

fn traced_config(mock: &MockServer) -> Config {
    Config::new(mock.secret_key())
        .unwrap()
        .with_base_url(&mock.base_url())
        .unwrap()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(1))
        .with_retry_policy(
            RetryPolicy::default()
                .with_initial_backoff(Duration::from_millis(5))
                .with_max_backoff(Duration::from_millis(20)),
        )
}

/// Create and revoke, and every error path an honest Clerk, an edge proxy
/// or the network can produce, with retries.
fn honest_paths(adapter: Adapter) -> Secrets {
    capture();
    let mock = MockServer::builder()
        .secret_key(unique_key("honest", adapter))
        .start();
    let user = mock.create_user();
    let client = adapter.client(traced_config(&mock));
    let mut secrets = Secrets::default();
    secrets.add_key(mock.secret_key());

    let token = client
        .create(CreateSignInToken::new(&user).with_expires_in_seconds(600))
        .unwrap();
    secrets.add_token(&token);
    client.revoke(&token.id).unwrap();
    let _ = client.revoke(&token.id).unwrap_err(); // 400: not pending
    let _ = client
        .create(CreateSignInToken::new("user_nobody"))
        .unwrap_err(); // 404
    mock.push_fault(Fault::ServiceUnavailable {
        retry_after: Some("0".into()),
    });
    let token = client.create(CreateSignInToken::new(&user)).unwrap(); // 503, then 200
    mock.push_fault(Fault::RateLimited {
        retry_after: "0".into(),
    });
    client.revoke(&token.id).unwrap(); // 429, then 200
    let token = client.create(CreateSignInToken::new(&user)).unwrap();
    mock.push_fault(Fault::Html502);
    client.revoke(&token.id).unwrap(); // 502, then 200
    let token = client.create(CreateSignInToken::new(&user)).unwrap();
    mock.push_fault(Fault::Delay {
        delay: Duration::from_millis(1600),
    });
    let _ = client.revoke(&token.id).unwrap_err(); // timeout, then 400: it was revoked
    for fault in [
        Fault::TruncatedJson,
        Fault::WrongContentType,
        Fault::ResetMidBody,
        Fault::EmptyBody { status: 200 },
        Fault::Oversized { bytes: 1 << 20 },
        Fault::Redirect {
            status: 302,
            location: "https://elsewhere.example/v1".into(),
        },
        Fault::SlowDrip {
            interval: Duration::from_millis(20),
        },
    ] {
        mock.push_fault(fault);
        let _ = client.create(CreateSignInToken::new(&user)).unwrap_err();
    }
    // Another key (401), TLS spoken to a plain server (rustls' own events),
    // a refused connection.
    let wrong_key = unique_key("wrong", adapter);
    secrets.add_key(&wrong_key);
    let wrong = adapter.client(crate::config(&mock.base_url(), &wrong_key));
    let _ = wrong.create(CreateSignInToken::new(&user)).unwrap_err();
    let tls = adapter.client(crate::config(
        &mock.base_url().replace("http://", "https://"),
        mock.secret_key(),
    ));
    let _ = tls.create(CreateSignInToken::new(&user)).unwrap_err();
    let refused = adapter.client(crate::config(&closed_port_url(), mock.secret_key()));
    let _ = refused.create(CreateSignInToken::new(&user)).unwrap_err();
    lookups(adapter, &mock, &client, &mut secrets);
    secrets.add_mock_tokens(&mock);
    secrets
}

/// Email addresses are personal data: lookups that succeed, retry, fail,
/// and are refused put none in a trace.
fn lookups(adapter: Adapter, mock: &MockServer, client: &crate::AnyClient, secrets: &mut Secrets) {
    const ANN: &str = "ann.traced+vip@example.com";
    const BO: &str = "bo.traced@example.org";
    const NOBODY: &str = "nobody.traced@example.net";
    secrets.add("an email address", ANN);
    secrets.add("an email address (local part)", "ann.traced");
    secrets.add(
        "an email address, percent-encoded",
        "ann.traced%2Bvip%40example.com",
    );
    secrets.add("another email address", BO);
    secrets.add("an unknown email address", NOBODY);
    secrets.add("an unknown email address (local part)", "nobody.traced");
    let ann = mock.insert_user(clerk_mock::UserSpec::new().email(ANN));
    let _ = mock.insert_user(clerk_mock::UserSpec::new().email(BO));
    let _ = mock.insert_user(clerk_mock::UserSpec::new().email(BO));
    let matches = client.find_users_by_email(&[ANN, BO, NOBODY]).unwrap();
    assert_eq!(matches[0].user_id(), Some(ann.as_str()), "{adapter}");
    mock.push_fault(Fault::ServiceUnavailable {
        retry_after: Some("0".into()),
    });
    client.find_users_by_email(&[ANN]).unwrap(); // 503, then 200
    for fault in [
        Fault::TruncatedJson,
        Fault::Html502,
        Fault::WrongContentType,
    ] {
        for _ in 0..3 {
            mock.push_fault(fault.clone());
        }
        let _ = client.find_users_by_email(&[ANN, NOBODY]).unwrap_err();
    }
    let _ = client.find_users_by_email(&[ANN, ""]).unwrap_err(); // refused
    assert!(
        captured_text().contains("list_users"),
        "{adapter}: the lookups were not traced"
    );
}

/// Replies that quote the key, a real ticket and its URL.
fn echoing_paths(adapter: Adapter) -> Secrets {
    capture();
    let mock = MockServer::builder()
        .secret_key(unique_key("echo", adapter))
        .start();
    let user = mock.create_user();
    let client = adapter.client(traced_config(&mock));
    let mut secrets = Secrets::default();
    secrets.add_key(mock.secret_key());
    let token = client.create(CreateSignInToken::new(&user)).unwrap();
    let ticket = token.token.as_ref().unwrap().expose().to_owned();
    let url = token.url.as_ref().unwrap().expose().to_owned();
    secrets.add_token(&token);
    for (_, fault) in echo_faults(mock.secret_key(), &ticket, &url) {
        mock.push_fault(fault);
        let _ = client.create(CreateSignInToken::new(&user)).unwrap_err();
    }
    let (_, clerk_echo) = echo_faults(mock.secret_key(), &ticket, &url).swap_remove(0);
    mock.push_fault(clerk_echo);
    let _ = client.revoke(&token.id).unwrap_err();
    secrets.add_mock_tokens(&mock);
    secrets
}

/// ureq and ureq-proto log every byte sent and received at TRACE (the
/// `Authorization` header and reply bodies among them) and every reply's
/// headers at DEBUG (a `Location` echoing a ticket among them), with no
/// setting to turn it off short of a global `log` level; SECURITY.md tells
/// users to keep those two targets at INFO or above. Their DEBUG and TRACE
/// records are left out of the search for clerk-ureq; every other record, of
/// every target and level, is searched.
fn without_ureq_wire_dumps(text: &str) -> (String, usize) {
    let mut kept = String::with_capacity(text.len());
    let mut skipping = false;
    let mut skipped = 0;
    for line in text.lines() {
        if line.contains(" ThreadId(") {
            let target = target_of(line);
            skipping = (line.contains(" TRACE ") || line.contains(" DEBUG "))
                && (target.starts_with("ureq_proto") || target.starts_with("ureq::"));
            skipped += usize::from(skipping);
        }
        if !skipping {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    (kept, skipped)
}

fn assert_no_leaks(adapter: Adapter, what: &str, secrets: &Secrets) {
    let text = captured_text();
    let text = if adapter == Adapter::Ureq {
        let (kept, skipped) = without_ureq_wire_dumps(&text);
        println!(
            "{adapter}, {what}: left out {skipped} DEBUG and TRACE records of ureq's own (see SECURITY.md)"
        );
        kept
    } else {
        text
    };
    assert!(
        text.contains("clerk.call"),
        "the subscriber captured none of the adapter's spans"
    );
    let mut targets: Vec<(&str, usize)> = Vec::new();
    let heads = text.lines().filter(|l| l.contains(" ThreadId("));
    for line in heads {
        let target = target_of(line);
        match targets.iter_mut().find(|(t, _)| *t == target) {
            Some((_, n)) => *n += 1,
            None => targets.push((target, 1)),
        }
    }
    targets.sort_by_key(|t| std::cmp::Reverse(t.1));
    println!(
        "{adapter}, {what}: searched {} records ({} bytes) of TRACE output, by target: {}",
        targets.iter().map(|(_, n)| n).sum::<usize>(),
        text.len(),
        targets
            .iter()
            .map(|(t, n)| format!("{t} ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let found = leaks(&text, secrets);
    assert!(
        found.is_empty(),
        "{adapter}, {what}: {} leak(s) in {} bytes of TRACE output:\n  {}",
        found.len(),
        text.len(),
        found.join("\n  ")
    );
}

#[test]
fn traces_of_clerk_ureq_hold_no_credentials() {
    let secrets = honest_paths(Adapter::Ureq);
    assert_no_leaks(Adapter::Ureq, "create, revoke and error paths", &secrets);
}

#[test]
fn traces_of_clerk_reqwest_hold_no_credentials() {
    let secrets = honest_paths(Adapter::Reqwest);
    assert_no_leaks(Adapter::Reqwest, "create, revoke and error paths", &secrets);
}

#[test]
fn traces_of_clerk_async_std_hold_no_credentials() {
    let secrets = honest_paths(Adapter::AsyncStd);
    assert_no_leaks(
        Adapter::AsyncStd,
        "create, revoke and error paths",
        &secrets,
    );
}

#[test]
fn traces_of_clerk_ureq_hold_no_echoed_credentials() {
    let secrets = echoing_paths(Adapter::Ureq);
    assert_no_leaks(Adapter::Ureq, "replies echoing credentials", &secrets);
}

#[test]
fn traces_of_clerk_reqwest_hold_no_echoed_credentials() {
    let secrets = echoing_paths(Adapter::Reqwest);
    assert_no_leaks(Adapter::Reqwest, "replies echoing credentials", &secrets);
}

#[test]
fn traces_of_clerk_async_std_hold_no_echoed_credentials() {
    let secrets = echoing_paths(Adapter::AsyncStd);
    assert_no_leaks(Adapter::AsyncStd, "replies echoing credentials", &secrets);
}

/// The search itself: a hex dump split over lines is put back together.
#[test]
fn the_search_reassembles_hex_dumps() {
    let line = |t: &str, hex: &str, text: &str| {
        format!("2026-01-01T00:00:00Z TRACE {t} ureq_proto::util: {hex} {text}")
    };
    let dump = [
        line(
            "ThreadId(2)",
            "4175 7468 6f72 697a 6174 696f 6e3a 2042 ",
            "Authorization:.B",
        ),
        line(
            "ThreadId(3)",
            "7878 7878 7878 7878 7878 7878 7878 7878 ",
            "xxxxxxxxxxxxxxxx",
        ),
        line(
            "ThreadId(2)",
            "6561 7265 7220 736b 5f74 6573 745f 6162 ",
            "earer.sk_test_ab",
        ),
        line(
            "ThreadId(2)",
            "6364 6566 0d0a ---- ---- ---- ---- ---- ",
            "cdef............",
        ),
    ]
    .join("\n");
    let mut secrets = Secrets::default();
    secrets.add_key("sk_test_abcdef");
    let found = leaks(&dump, &secrets);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("hex dump"), "{found:?}");
}
