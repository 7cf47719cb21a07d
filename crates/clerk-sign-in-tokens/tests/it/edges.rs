//! The operator's promise where the environment pushes back: a closed
//! pipe, a full disk, a terminal, a FIFO, a torn last line, a paused
//! reader and two Ctrl-Cs, a second revoke, a shared key's limit. Each
//! test is one way the promise was once broken, tried the same way.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clerk_mock::{Fault, MockServer};
use serde_json::Value;

use crate::*;

/// Every `sit_…` id named in `text`.
fn named_ids(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("sit_"))
        .map(str::to_owned)
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts no ticket, no token URL and no 16-byte piece of a ticket is in
/// `output`.
fn assert_no_ticket(mock: &MockServer, output: &str) {
    for token in mock.tokens() {
        assert!(!output.contains(&token.url), "a token URL was echoed");
        let ticket = token.token.as_bytes();
        for piece in ticket.windows(16) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(
                !output.contains(piece),
                "part of a ticket was echoed: {piece}"
            );
        }
    }
}

#[test]
fn head_3_gets_three_records_and_every_other_token_is_revoked_and_named() {
    let mock = mock();
    let dir = scratch("head");
    let (_users, path) = users_file(&mock, &dir, 16);
    // One call at a time, each reply a little late: `head` is gone while
    // the run is still minting.
    mock.push_faults(
        Fault::Delay {
            delay: Duration::from_millis(100),
        },
        16,
    );
    let err = dir.join("stderr");
    let code = dir.join("code");
    let script = format!(
        "{{ \"$BIN\" --no-pacing --concurrency 1 create --user-ids '{}' 2>'{}'; echo $? >'{}'; }} | head -3",
        path.display(),
        err.display(),
        code.display()
    );
    let out = shell(&mock, &script);
    let printed = records(&out.stdout);
    assert_eq!(printed.len(), 3);
    let printed = minted_ids(&printed);
    let err = std::fs::read_to_string(&err).unwrap();
    assert_no_key(err.as_bytes());
    let code = std::fs::read_to_string(&code).unwrap();
    assert_ne!(code.trim(), "0", "the run failed: {err}");
    let named = named_ids(&err);
    let minted = mock_ids(&mock);
    assert!(minted.len() < 16, "the run stopped starting calls: {err}");
    for id in &minted {
        if printed.contains(id) {
            assert_eq!(mock.token_status(id).as_deref(), Some("pending"));
        } else {
            assert_eq!(
                mock.token_status(id).as_deref(),
                Some("revoked"),
                "{id}: minted, not printed, yet live: {err}"
            );
            assert!(named.contains(id), "{id} is not named on stderr: {err}");
        }
    }
    assert!(err.contains("revoked it"), "{err}");
    assert!(!err.contains("16 succeeded"), "{err}");
    assert_no_ticket(&mock, &err);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_disk_revokes_the_token_it_could_not_write() {
    let mock = mock();
    let dir = scratch("enospc");
    let (_users, path) = users_file(&mock, &dir, 30);
    // stdout on /dev/full (ENOSPC on every write), and `--output /dev/full`.
    for output in [None, Some("/dev/full")] {
        let mut args = vec!["--no-pacing", "--concurrency", "2"];
        if let Some(file) = output {
            args.extend(["--output", file]);
        }
        args.extend(["create", "--user-ids", path.to_str().unwrap()]);
        let before = mock_ids(&mock);
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = command(&mock, &args)
            .stdout(Stdio::from(full))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        let minted: BTreeSet<String> = mock_ids(&mock).difference(&before).cloned().collect();
        assert!(!minted.is_empty());
        assert!(
            minted.len() <= 4,
            "calls stopped at the first failure: {err}"
        );
        for id in &minted {
            assert_eq!(mock.token_status(id).as_deref(), Some("revoked"), "{err}");
        }
        assert_eq!(named_ids(&err), minted, "{err}");
        assert!(err.contains("could not write the output"), "{err}");
        assert_no_ticket(&mock, &err);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn piped_stdin_in_a_terminal_is_read_once() {
    if !have_script() {
        return;
    }
    let mock = mock();
    let dir = scratch("stdin-tty");
    let (users, path) = users_file(&mock, &dir, 12);
    let out_file = dir.join("out.jsonl");
    // stderr is a terminal, so a progress bar is drawn; stdin is a pipe.
    for (i, input) in ["/dev/stdin", "-"].into_iter().enumerate() {
        let script = format!(
            "cat '{}' | \"$BIN\" --no-pacing create --user-ids {input} > '{}'",
            path.display(),
            out_file.display()
        );
        let term = in_terminal(&mock, &script, Duration::from_secs(30));
        assert!(term.status.success(), "{}", text(&term.stdout));
        let recs = records(&std::fs::read(&out_file).unwrap());
        assert_eq!(recs.len(), 12, "{input}: {}", text(&term.stdout));
        assert_eq!(mock.tokens().len(), 12 * (i + 1));
    }
    // Process substitution, where bash has it.
    if Command::new("bash").arg("--version").output().is_ok() {
        let script = format!(
            "bash -c '\"$BIN\" --no-pacing create --user-ids <(cat {}) > {}'",
            path.display(),
            out_file.display()
        );
        let term = in_terminal(&mock, &script, Duration::from_secs(30));
        assert!(term.status.success(), "{}", text(&term.stdout));
        assert_eq!(records(&std::fs::read(&out_file).unwrap()).len(), 12);
        assert_eq!(mock.tokens().len(), 36);
    }
    let per_user: BTreeSet<String> = mock.tokens().into_iter().map(|t| t.user_id).collect();
    assert_eq!(per_user, users.into_iter().collect());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fifo_is_read_once_in_a_terminal() {
    if !have_script() {
        return;
    }
    let mock = mock();
    let dir = scratch("fifo");
    let (_users, path) = users_file(&mock, &dir, 12);
    let fifo = dir.join("ids.fifo");
    let out_file = dir.join("out.jsonl");
    let script = format!(
        "mkfifo '{fifo}' && (cat '{}' > '{fifo}' &) && \"$BIN\" --no-pacing create --user-ids '{fifo}' > '{}'",
        path.display(),
        out_file.display(),
        fifo = fifo.display()
    );
    let term = in_terminal(&mock, &script, Duration::from_secs(30));
    assert!(term.status.success(), "{}", text(&term.stdout));
    assert_eq!(records(&std::fs::read(&out_file).unwrap()).len(), 12);
    assert_eq!(mock.tokens().len(), 12);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Cuts the last record of `file` at the first byte after `marker` (its
/// last occurrence): the record ends without its newline.
fn tear_last_record(file: &std::path::Path, marker: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(file).unwrap();
    assert_eq!(bytes.pop(), Some(b'\n'));
    let start = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let last = std::str::from_utf8(&bytes[start..]).unwrap();
    let cut = start + last.rfind(marker).expect("marker") + marker.len();
    let torn = bytes[start..cut].to_vec();
    bytes.truncate(cut);
    std::fs::write(file, &bytes).unwrap();
    torn
}

#[test]
fn a_torn_last_line_never_glues_and_never_costs_a_second_token() {
    let mock = mock();
    let dir = scratch("torn");
    let (users, path) = users_file(&mock, &dir, 20);
    let first = dir.join("first.txt");
    std::fs::write(&first, users[..10].join("\n") + "\n").unwrap();
    let minted = dir.join("minted.jsonl");
    let out = shell(
        &mock,
        &format!(
            "\"$BIN\" --no-pacing create --user-ids '{}' > '{}'",
            first.display(),
            minted.display()
        ),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Killed mid-write: the last record stops inside its ticket.
    let torn = tear_last_record(&minted, "\"token\":\"eyJ");
    let torn: String = String::from_utf8(torn).unwrap();
    let torn_token = named_ids(&torn)
        .into_iter()
        .next()
        .expect("the torn record names its token");

    // The documented way on: resume from the file, append to it.
    let out = shell(
        &mock,
        &format!(
            "\"$BIN\" --no-pacing --resume '{m}' create --user-ids '{}' >> '{m}'",
            path.display(),
            m = minted.display()
        ),
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    // One token per user, and the file holds them all.
    let tokens = mock.tokens();
    assert_eq!(tokens.len(), 20, "no user got two tokens: {err}");
    let per_user: BTreeSet<&str> = tokens.iter().map(|t| t.user_id.as_str()).collect();
    assert_eq!(per_user.len(), 20, "no user got two tokens");
    assert!(err.contains("line 10"), "the torn line is reported: {err}");
    let file = std::fs::read_to_string(&minted).unwrap();
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 20);
    let whole = whole_records(file.as_bytes());
    assert_eq!(whole.len(), 19, "only the torn line is not whole");
    assert_eq!(lines[9], torn, "the torn line stands alone");
    let mut in_file = minted_ids(&whole);
    in_file.insert(torn_token.clone());
    assert_eq!(in_file, mock_ids(&mock));

    // And revoke --from revokes every token, the torn record's included,
    // echoing nothing of it.
    let out = run(
        &mock,
        &["--no-pacing", "revoke", "--from", minted.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for t in mock.tokens() {
        assert_eq!(t.status, "revoked", "{}", t.id);
    }
    assert_eq!(mock.token_status(&torn_token).as_deref(), Some("revoked"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn output_file_resumes_mends_and_reports_a_record_torn_before_its_id() {
    let mock = mock();
    let dir = scratch("output");
    let (users, path) = users_file(&mock, &dir, 30);
    let first = dir.join("first.txt");
    std::fs::write(&first, users[..10].join("\n") + "\n").unwrap();
    let minted = dir.join("minted.jsonl");
    let args = |input: &std::path::Path| {
        vec![
            "--no-pacing".to_owned(),
            "--output".to_owned(),
            minted.to_str().unwrap().to_owned(),
            "create".to_owned(),
            "--user-ids".to_owned(),
            input.to_str().unwrap().to_owned(),
        ]
    };
    let a = args(&first);
    let out = run(&mock, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "records go to the file");
    // Cut short before its token's id: the user is not called again and
    // the line is reported by number.
    tear_last_record(
        &minted,
        "\"token\":{\"object\":\"sign_in_token\",\"id\":\"sit_",
    );
    let a = args(&path);
    let out = run(&mock, &a.iter().map(String::as_str).collect::<Vec<_>>());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("line 10") && err.contains("check it by hand"),
        "{err}"
    );
    assert!(err.contains("10 skipped"), "{err}");
    let file = std::fs::read_to_string(&minted).unwrap();
    assert_eq!(file.lines().count(), 30);
    assert_eq!(whole_records(file.as_bytes()).len(), 29);
    assert_eq!(mock.tokens().len(), 30);
    // The same command again finishes the job: nothing left to do.
    let out = run(&mock, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(mock.tokens().len(), 30);
    assert!(summary(&out).contains("30 skipped"), "{}", summary(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn revoke_from_never_echoes_a_ticket_whatever_the_line_held() {
    let mock = mock();
    let dir = scratch("echo");
    let (_users, path) = users_file(&mock, &dir, 4);
    let out = run(
        &mock,
        &[
            "--no-pacing",
            "create",
            "--user-ids",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let minted = dir.join("minted.jsonl");
    let lines: Vec<&[u8]> = out.stdout.split(|b| *b == b'\n').take(4).collect();
    // Lines that are not records, holding a ticket and a URL; and a record
    // cut short with the next one glued to it, as an append after a torn
    // line made them.
    let t = &mock.tokens()[0];
    let mut file = lines[0].to_vec();
    file.extend_from_slice(format!("\ngarbage {} {}\n", t.token, t.url).as_bytes());
    file.extend_from_slice(&lines[1][..lines[1].len() - 40]);
    file.extend_from_slice(lines[2]);
    file.push(b'\n');
    file.extend_from_slice(lines[3]);
    file.push(b'\n');
    file.extend_from_slice(t.token.as_bytes());
    file.push(b'\n');
    std::fs::write(&minted, &file).unwrap();
    let out = run(
        &mock,
        &["--no-pacing", "revoke", "--from", minted.to_str().unwrap()],
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_no_ticket(&mock, &all);
    let recs = records(&out.stdout);
    let bad: Vec<&Value> = recs
        .iter()
        .filter(|r| r["error"]["kind"] == "invalid_input")
        .collect();
    assert!(!bad.is_empty());
    for r in &bad {
        assert!(r.get("id").is_none(), "{r}");
    }
    assert_eq!(out.status.code(), Some(1), "the bad lines are failures");
    for t in mock.tokens() {
        assert_eq!(t.status, "revoked", "both records of the glued line too");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_ctrl_c_exits_within_a_second_while_stdout_is_stuck() {
    let mock = mock();
    let dir = scratch("stuck");
    let (_users, path) = users_file(&mock, &dir, 600);
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
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // Nobody reads stdout: the pipe fills and the run stalls.
    let mut last = 0;
    wait_for("the pipe to fill", Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(300));
        let now = mock.tokens().len();
        let stalled = now == last && now > 0;
        last = now;
        stalled
    });
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(200));
    let second = Instant::now();
    interrupt(&child);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if second.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the second Ctrl-C did not end the run");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = second.elapsed();
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(status.code(), Some(130));
    let mut written = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut written)
        .unwrap();
    let err = err_reader.join().unwrap();
    assert_no_key(err.as_bytes());
    assert_no_ticket(&mock, &err);
    let named = named_ids(&err);
    assert!(!named.is_empty(), "the tokens held are named: {err}");
    let mut accounted = minted_ids(&whole_records(&written));
    assert!(accounted.is_disjoint(&named));
    accounted.extend(named);
    assert_eq!(
        accounted,
        mock_ids(&mock),
        "every token written or named: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn revoke_from_twice_is_settled_and_says_which_were_accepted() {
    let mock = mock();
    let dir = scratch("revoke-twice");
    let (_users, path) = users_file(&mock, &dir, 6);
    let out = run(
        &mock,
        &[
            "--no-pacing",
            "create",
            "--user-ids",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let minted = dir.join("minted.jsonl");
    std::fs::write(&minted, &out.stdout).unwrap();
    let accepted = mock.tokens()[0].id.clone();
    assert!(mock.accept_token(&accepted));
    for round in 0..2 {
        let out = run(
            &mock,
            &["--no-pacing", "revoke", "--from", minted.to_str().unwrap()],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: {}",
            text(&out.stderr)
        );
        let recs = records(&out.stdout);
        assert_eq!(recs.len(), 6);
        for r in &recs {
            let id = r["id"].as_str().unwrap();
            if id == accepted {
                assert_eq!(r["settled"]["state"], "accepted", "{r}");
            } else if round == 0 {
                assert_eq!(r["token"]["status"], "revoked", "{r}");
            } else {
                assert_eq!(r["settled"]["state"], "already_revoked", "{r}");
            }
        }
        assert!(summary(&out).contains("1 accepted"), "{}", summary(&out));
    }
    // An id typed by hand that Clerk does not know is a failure.
    let out = run(&mock, &["--no-pacing", "revoke", "sit_unknown", &accepted]);
    assert_eq!(out.status.code(), Some(1));
    let mut recs = records(&out.stdout);
    recs.sort_by_key(|r| r["line"].as_u64());
    assert_eq!(recs[0]["error"]["status"], 404);
    assert_eq!(recs[1]["settled"]["state"], "accepted");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn by_default_a_run_takes_half_the_keys_limit() {
    // sk_test_: 50 per 10 s; sk_live_: 500 per 10 s.
    for (key, limit) in [(KEY, 50), ("sk_live_cli_SECRET_never_printed_9c1d", 500)] {
        let mock = clerk_mock::MockServer::builder().secret_key(key).start();
        let dir = scratch("half");
        let (_users, path) = users_file(&mock, &dir, limit + 40);
        let child = command(
            &mock,
            &[
                "--concurrency",
                "16",
                "create",
                "--user-ids",
                path.to_str().unwrap(),
            ],
        )
        .env("CLERK_SECRET_KEY", key)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        wait_for("the first window's calls", Duration::from_secs(8), || {
            mock.tokens().len() >= limit
        });
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            mock.tokens().len(),
            limit,
            "{key:.8}: half of Clerk's limit, no more"
        );
        interrupt(&child);
        let out = wait_bounded(child, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
        let _ = std::fs::remove_dir_all(&dir);
    }
    let help = Command::new(bin()).arg("--help").output().unwrap();
    let help = text(&help.stdout);
    assert!(
        help.contains("50 per 10 s") && help.contains("500 per 10 s"),
        "{help}"
    );
    assert!(
        help.contains("--output minted.jsonl") && help.contains("--resume"),
        "{help}"
    );
}
