//! The everyday flows: bulk and single calls, pacing, interrupts, resume,
//! the progress bar, usage errors.

use std::collections::{BTreeSet, HashMap};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clerk_mock::Fault;
use serde_json::Value;

use crate::*;

#[test]
fn bulk_create_with_bad_lines_then_revoke_from_its_output() {
    let mock = mock();
    let dir = scratch("bulk");
    let (users, path) = users_file(&mock, &dir, 300);
    // A few bad lines, and a user Clerk does not know.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(b"user_a user_b\nuser_\x01ctl\n\xff\xfe\nuser_unknown\n")
        .unwrap();
    drop(file);
    // Every line ends with a newline.
    let total_lines = std::fs::read(&path)
        .unwrap()
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64;

    for runtime in ["ureq", "reqwest", "async-std"] {
        let out = run(
            &mock,
            &[
                "--runtime",
                runtime,
                "--no-pacing",
                "--concurrency",
                "16",
                "create",
                "--user-ids",
                path.to_str().unwrap(),
                "--expires-in-seconds",
                "600",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}", summary(&out));
        let recs = records(&out.stdout);
        assert_eq!(recs.len(), 304, "one record per id line");
        let ok: Vec<&Value> = recs.iter().filter(|r| r.get("token").is_some()).collect();
        assert_eq!(ok.len(), 300);
        let minted: BTreeSet<&str> = ok.iter().map(|r| r["id"].as_str().unwrap()).collect();
        let wanted: BTreeSet<&str> = users.iter().map(String::as_str).collect();
        assert_eq!(minted, wanted, "every user got a token");
        for r in &ok {
            assert_eq!(r["token"]["user_id"], r["id"]);
            assert!(
                r["token"]["token"]
                    .as_str()
                    .is_some_and(|t| t.split('.').count() == 3)
            );
            assert!(
                r["token"]["url"]
                    .as_str()
                    .is_some_and(|u| u.contains("ticket="))
            );
            let line = r["line"].as_u64().unwrap();
            assert!((3..=total_lines).contains(&line), "{line}");
        }
        let failed: HashMap<u64, &Value> = recs
            .iter()
            .filter(|r| r.get("error").is_some())
            .map(|r| (r["line"].as_u64().unwrap(), r))
            .collect();
        assert_eq!(failed.len(), 4, "{failed:?}");
        for line in total_lines - 3..total_lines {
            assert_eq!(failed[&line]["error"]["kind"], "invalid_input");
            assert!(
                failed[&line].get("id").is_none(),
                "a bad line is never echoed"
            );
        }
        let unknown = &failed[&total_lines]["error"];
        assert_eq!(failed[&total_lines]["id"], "user_unknown");
        assert_eq!(unknown["kind"], "api");
        assert_eq!(unknown["status"], 404);
        assert_eq!(unknown["codes"][0], "resource_not_found");
        assert!(unknown["trace_id"].as_str().is_some_and(|t| !t.is_empty()));
        assert_eq!(unknown["attempts"], 1);
        assert!(unknown["message"].as_str().is_some());
        let last = summary(&out);
        assert!(last.contains("300 succeeded, 4 failed"), "{last}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "only the summary on stderr"
        );

        // Revoke everything that batch minted, from its output.
        let output = dir.join(format!("minted-{runtime}.jsonl"));
        std::fs::write(&output, &out.stdout).unwrap();
        let out = run(
            &mock,
            &[
                "--runtime",
                runtime,
                "--no-pacing",
                "revoke",
                "--from",
                output.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", summary(&out));
        let revoked = records(&out.stdout);
        assert_eq!(revoked.len(), 300);
        for r in &revoked {
            assert_eq!(r["token"]["status"], "revoked", "{r}");
            let id = r["id"].as_str().unwrap();
            assert_eq!(mock.token_status(id).as_deref(), Some("revoked"));
        }
        assert!(summary(&out).contains("300 succeeded, 0 failed"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pacing_keeps_a_bulk_run_under_the_servers_limit() {
    // The mock allows 40 requests a second; the run asks for 30.
    let mock = limited_mock(40, Duration::from_secs(1));
    let users: Vec<String> = (0..90).map(|_| mock.create_user()).collect();
    let mut args = vec!["--rate", "30/1", "--concurrency", "16", "create"];
    for user in &users {
        args.extend(["--user-id", user]);
    }
    let start = Instant::now();
    let out = run(&mock, &args);
    let elapsed = start.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", summary(&out));
    assert_eq!(records(&out.stdout).len(), 90);
    assert_eq!(mock.rate_limited_count(), 0, "paced under the limit");
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}: not paced");
    assert_eq!(mock.tokens().len(), 90);

    // Unpaced against the same limit: the 429s hold the run, nothing fails
    // and nothing is minted twice.
    let users: Vec<String> = (0..90).map(|_| mock.create_user()).collect();
    let mut args = vec!["--no-pacing", "--concurrency", "16", "create"];
    for user in &users {
        args.extend(["--user-id", user]);
    }
    let out = run(&mock, &args);
    assert_eq!(out.status.code(), Some(0), "{}", summary(&out));
    assert_eq!(minted_ids(&records(&out.stdout)).len(), 90);
    assert_eq!(mock.tokens().len(), 180);
}

#[test]
fn an_interrupted_run_prints_every_token_the_server_minted() {
    for runtime in ["ureq", "reqwest", "async-std"] {
        let mock = mock();
        let dir = scratch(&format!("sigint-{runtime}"));
        let (_users, path) = users_file(&mock, &dir, 200);
        // Every reply takes 200 ms, after the token is made: calls are in
        // flight whenever the signal comes.
        mock.push_faults(
            Fault::Delay {
                delay: Duration::from_millis(200),
            },
            200,
        );
        let child = spawn(
            &mock,
            &[
                "--runtime",
                runtime,
                "--no-pacing",
                "--concurrency",
                "8",
                "create",
                "--user-ids",
                path.to_str().unwrap(),
            ],
        );
        wait_for("some tokens", Duration::from_secs(20), || {
            mock.tokens().len() >= 20
        });
        interrupt(&child);
        let out = wait_bounded(child, Duration::from_secs(20));
        assert_no_key(&out.stdout);
        assert_no_key(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{}", summary(&out));
        let recs = records(&out.stdout);
        let minted = mock_ids(&mock);
        assert!(minted.len() < 200, "{runtime}: the run was stopped early");
        assert_eq!(
            minted_ids(&recs),
            minted,
            "{runtime}: stdout holds exactly the tokens the server minted"
        );
        let last = summary(&out);
        assert!(last.contains("interrupted"), "{last}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_second_interrupt_exits_at_once_with_every_token_read() {
    let mock = mock();
    let dir = scratch("sigint2");
    let (_users, path) = users_file(&mock, &dir, 40);
    // Ten quick replies, then replies that would take a minute.
    mock.push_faults(
        Fault::Delay {
            delay: Duration::ZERO,
        },
        10,
    );
    mock.push_faults(
        Fault::Delay {
            delay: Duration::from_secs(60),
        },
        30,
    );
    let child = spawn(
        &mock,
        &[
            "--no-pacing",
            "--concurrency",
            "4",
            "create",
            "--user-ids",
            path.to_str().unwrap(),
        ],
    );
    // The ten quick ones, and four stuck in flight.
    wait_for("calls in flight", Duration::from_secs(20), || {
        mock.tokens().len() >= 14
    });
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(200));
    let second = Instant::now();
    interrupt(&child);
    let out = wait_bounded(child, Duration::from_secs(10));
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "{:?}",
        second.elapsed()
    );
    assert_no_key(&out.stdout);
    assert_no_key(&out.stderr);
    assert_eq!(out.status.code(), Some(130));
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 10, "the ten tokens read, whole lines only");
    let printed = minted_ids(&recs);
    assert!(printed.is_subset(&mock_ids(&mock)));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("interrupted twice"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_mints_nothing_twice() {
    let mock = mock();
    let dir = scratch("resume");
    let (users, path) = users_file(&mock, &dir, 120);
    mock.push_faults(
        Fault::Delay {
            delay: Duration::from_millis(100),
        },
        120,
    );
    let child = spawn(
        &mock,
        &[
            "--no-pacing",
            "--concurrency",
            "4",
            "create",
            "--user-ids",
            path.to_str().unwrap(),
        ],
    );
    wait_for("some tokens", Duration::from_secs(20), || {
        mock.tokens().len() >= 30
    });
    interrupt(&child);
    let first = wait_bounded(child, Duration::from_secs(20));
    assert_eq!(first.status.code(), Some(130));
    let first_recs = records(&first.stdout);
    let first_count = minted_ids(&first_recs).len();
    assert!((30..120).contains(&first_count), "{first_count}");
    let previous = dir.join("first.jsonl");
    std::fs::write(&previous, &first.stdout).unwrap();
    // A half-written last line (a crash mid-write elsewhere) is ignored.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&previous)
        .unwrap();
    f.write_all(br#"{"line":9999,"id":"user_x","tok"#).unwrap();
    drop(f);

    let out = run(
        &mock,
        &[
            "--no-pacing",
            "--resume",
            previous.to_str().unwrap(),
            "create",
            "--user-ids",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", summary(&out));
    let second = records(&out.stdout);
    assert_eq!(second.len(), 120 - first_count);
    let last = summary(&out);
    assert!(last.contains(&format!("{first_count} skipped")), "{last}");
    // Every user has exactly one token, and the two outputs hold them all.
    let tokens = mock.tokens();
    assert_eq!(tokens.len(), 120);
    let per_user: BTreeSet<&str> = tokens.iter().map(|t| t.user_id.as_str()).collect();
    assert_eq!(per_user.len(), 120, "no user got two tokens");
    let mut all = minted_ids(&first_recs);
    all.extend(minted_ids(&second));
    assert_eq!(all, mock_ids(&mock));
    assert_eq!(per_user, users.iter().map(String::as_str).collect());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_progress_bar_draws_on_a_terminal_and_ends_with_the_summary() {
    if !have_script() {
        return;
    }
    let mock = mock();
    let dir = scratch("progress");
    let (_users, path) = users_file(&mock, &dir, 60);
    let stdout_file = dir.join("out.jsonl");
    // stderr is the pseudo-terminal `script` makes; stdout goes to a file.
    let inner = format!(
        "'{}' --rate 40/1 create --user-ids '{}' > '{}'",
        bin(),
        path.display(),
        stdout_file.display()
    );
    let out = Command::new("script")
        .args(["-qfec", &inner, "/dev/null"])
        .env("CLERK_SECRET_KEY", KEY)
        .env("CLERK_API_URL", mock.base_url())
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    assert_no_key(&out.stdout);
    assert_no_key(&out.stderr);
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{terminal}");
    assert!(terminal.contains("/60"), "a bar with the total: {terminal}");
    assert!(terminal.contains("succeeded, 0 failed"), "{terminal}");
    assert!(
        terminal.contains("waiting for the rate limit"),
        "pacing shows: {terminal}"
    );
    let last = terminal
        .lines()
        .map(|l| l.rsplit('\r').next().unwrap_or(l))
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(
        last.contains("clerk-sign-in-tokens: 60 succeeded, 0 failed"),
        "ends with the summary: {last:?}"
    );
    assert!(!terminal.contains("\"token\""), "no record on the terminal");
    let written = std::fs::read(&stdout_file).unwrap();
    assert_no_key(&written);
    let recs = records(&written);
    assert_eq!(recs.len(), 60, "stdout is pure JSON Lines");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn single_calls_print_what_the_example_prints() {
    let mock = mock();
    let user = mock.create_user();
    mock.add_organization("org_1", &[user.as_str()]);
    for runtime in ["ureq", "reqwest", "async-std"] {
        let out = run(
            &mock,
            &[
                "--runtime",
                runtime,
                "create",
                "--user-id",
                &user,
                "--expires-in-seconds",
                "60",
                "--org-id",
                "org_1",
            ],
        );
        assert_eq!(out.status.code(), Some(0));
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let recs = records(&out.stdout);
        assert_eq!(recs.len(), 1);
        let token = &recs[0];
        assert_eq!(token["object"], "sign_in_token");
        assert_eq!(token["status"], "pending");
        assert_eq!(token["user_id"], user.as_str());
        let id = token["id"].as_str().unwrap().to_owned();

        let out = run(&mock, &["--runtime", runtime, "revoke", &id]);
        assert_eq!(out.status.code(), Some(0));
        assert!(out.stderr.is_empty());
        assert_eq!(records(&out.stdout)[0]["status"], "revoked");

        let out = run(
            &mock,
            &["--runtime", runtime, "create", "--user-id", "user_missing"],
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("clerk-sign-in-tokens: "), "{err}");
        assert!(
            err.contains("404") && err.contains("resource_not_found"),
            "{err}"
        );
        assert!(
            err.contains("trace id") && err.contains("1 attempt"),
            "{err}"
        );
    }
    let sent = mock.requests()[0].json().expect("JSON body");
    assert_eq!(
        sent,
        serde_json::json!({"user_id": user, "expires_in_seconds": 60, "org_id": "org_1"})
    );
}

#[test]
fn usage_errors_exit_2_and_the_key_comes_only_from_env_or_a_file() {
    let mock = mock();
    for args in [
        &[][..],
        &["frobnicate"],
        &["create"],
        &["create", "--user-id"],
        &["create", "--user-id", "u", "--expires-in-seconds", "soon"],
        &["create", "--user-id", "u", "--user-ids", "-"],
        &["revoke"],
        &["revoke", "a", "--from", "-"],
        &["--runtime", "curl", "revoke", "a"],
        &["--rate", "0/10", "revoke", "a"],
        &["--rate", "10/1", "--no-pacing", "revoke", "a"],
        &["--secret-key", KEY, "revoke", "a"],
        &["create", "--user-ids", "/nonexistent/users.txt"],
        &["--resume", "/nonexistent/out.jsonl", "revoke", "a"],
    ] {
        let out = run(&mock, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    assert!(mock.requests().is_empty(), "nothing was sent");

    // No key at all.
    let out = Command::new(bin())
        .args(["revoke", "sit_1"])
        .env_remove("CLERK_SECRET_KEY")
        .env("CLERK_API_URL", mock.base_url())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CLERK_SECRET_KEY"));

    // The key from a file.
    let dir = scratch("keyfile");
    let key_file = dir.join("key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let user = mock.create_user();
    let out = Command::new(bin())
        .args(["--secret-key-file", key_file.to_str().unwrap(), "create"])
        .args(["--user-id", &user])
        .env_remove("CLERK_SECRET_KEY")
        .env("CLERK_API_URL", mock.base_url())
        .output()
        .unwrap();
    assert_no_key(&out.stdout);
    assert_no_key(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mock.tokens().len(), 1);

    // A wrong key: the failure names the status, never the key.
    let out = Command::new(bin())
        .args(["create", "--user-id", &user, "--user-id", &user])
        .env("CLERK_SECRET_KEY", "sk_test_wrong_SECRET_never_printed")
        .env("CLERK_API_URL", mock.base_url())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("SECRET_never"), "{text}");
    assert!(text.contains("401"), "{text}");

    let help = Command::new(bin()).arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Examples:") && help.contains("--resume"),
        "{help}"
    );
    let version = Command::new(bin()).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("clerk-sign-in-tokens {}", env!("CARGO_PKG_VERSION"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ids_from_stdin_and_revoke_by_arguments() {
    let mock = mock();
    let users: Vec<String> = (0..5).map(|_| mock.create_user()).collect();
    let mut child = command(&mock, &["--no-pacing", "create", "--user-ids", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for user in &users {
        writeln!(stdin, "{user}").unwrap();
    }
    drop(stdin);
    let out = wait_bounded(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 5);
    let ids: Vec<String> = minted_ids(&recs).into_iter().collect();
    let mut args = vec!["--no-pacing", "revoke"];
    args.extend(ids.iter().map(String::as_str));
    args.push("sit_unknown");
    let out = run(&mock, &args);
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 6, "records, not the single form");
    let failed: Vec<&Value> = recs.iter().filter(|r| r.get("error").is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["id"], "sit_unknown");
    assert_eq!(failed[0]["line"], 6);
}

#[test]
fn a_bad_argument_is_named_by_position_never_echoed() {
    let mock = mock();
    let out = run(
        &mock,
        &["create", "--user-id", "user_\u{1b}[2J\u{1b}[31mforged"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "a raw escape reached the terminal: {err:?}"
    );
    assert!(
        !err.contains("forged"),
        "the argument is never echoed: {err}"
    );
    assert!(err.contains("argument 1"), "{err}");
    assert!(mock.requests().is_empty(), "nothing was sent");
}

#[test]
fn a_closed_stdout_stops_the_run() {
    let mock = mock();
    let dir = scratch("epipe");
    let (_users, path) = users_file(&mock, &dir, 200);
    mock.push_faults(
        Fault::Delay {
            delay: Duration::from_millis(50),
        },
        200,
    );
    let mut child = spawn(
        &mock,
        &[
            "--no-pacing",
            "--concurrency",
            "4",
            "create",
            "--user-ids",
            path.to_str().unwrap(),
        ],
    );
    // Read one record, then go away, as `| head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = wait_bounded(child, Duration::from_secs(20));
    assert_no_key(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not write the output"), "{err}");
    assert!(
        mock.tokens().len() < 100,
        "no more calls started once stdout was gone: {}",
        mock.tokens().len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
