//! `create --email`/`--emails`: look the users up, then mint; one record
//! per input line, as an operator runs it.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use clerk_mock::{MockServer, UserSpec};
use serde_json::Value;

use crate::*;

/// The lookups the mock served, and the addresses each asked for.
fn lookups(mock: &MockServer) -> Vec<usize> {
    mock.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v1/users"))
        .map(|r| r.path.matches("email_address=").count())
        .collect()
}

#[test]
fn two_hundred_fifty_addresses_ten_unknown_on_every_runtime() {
    for runtime in ["ureq", "reqwest", "async-std"] {
        let mock = mock();
        let dir = scratch(&format!("emails-{runtime}"));
        let mut text = String::from("# campaign\n\n");
        let mut users = BTreeSet::new();
        for i in 0..250 {
            if i % 25 == 7 {
                text.push_str(&format!("nobody{i}@example.com\n"));
                continue;
            }
            users.insert(mock.insert_user(UserSpec::new().email(format!("person{i}@example.com"))));
            // Typed in another case now and then: the same user.
            let address = format!("person{i}@example.com");
            text.push_str(&if i % 10 == 0 {
                address.to_uppercase()
            } else {
                address
            });
            text.push('\n');
        }
        let path = dir.join("addresses.txt");
        std::fs::write(&path, text).unwrap();
        let output = dir.join("minted.jsonl");
        let args = [
            "--runtime",
            runtime,
            "--no-pacing",
            "--output",
            output.to_str().unwrap(),
            "create",
            "--emails",
            path.to_str().unwrap(),
        ];
        let out = run(&mock, &args);
        assert_eq!(out.status.code(), Some(1), "{}", summary(&out));
        let recs = records(&std::fs::read(&output).unwrap());
        assert_eq!(recs.len(), 250, "one record per address");
        let minted: Vec<&Value> = recs.iter().filter(|r| r.get("token").is_some()).collect();
        assert_eq!(minted.len(), 240);
        let minted_users: BTreeSet<String> = minted
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(minted_users, users, "240 tokens for 240 distinct users");
        for r in &minted {
            assert_eq!(r["token"]["user_id"], r["id"]);
            assert!(
                r["email"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .starts_with("person")
            );
        }
        let unknown: Vec<&Value> = recs.iter().filter(|r| r.get("error").is_some()).collect();
        assert_eq!(unknown.len(), 10);
        for r in &unknown {
            assert_eq!(r["error"]["kind"], "not_found", "{r}");
            assert!(r["email"].as_str().unwrap().starts_with("nobody"));
            assert!(r.get("id").is_none() && r.get("token").is_none());
        }
        assert_eq!(mock.tokens().len(), 240);
        let asked = lookups(&mock);
        assert_eq!(asked.len(), 3, "{asked:?}");
        assert!(asked.iter().all(|n| *n <= 100), "{asked:?}");
        assert_eq!(asked.iter().sum::<usize>(), 250);

        // The same command again mints nothing twice: only the unknown
        // addresses are looked up again, and fail again.
        let out = run(&mock, &args);
        assert_eq!(out.status.code(), Some(1), "{}", summary(&out));
        assert_eq!(mock.tokens().len(), 240, "nothing minted twice");
        assert!(summary(&out).contains("240 skipped"), "{}", summary(&out));
        assert_eq!(lookups(&mock).len(), 4);

        // And revoke --from works on that output.
        let revoke = run(
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
        assert_eq!(revoke.status.code(), Some(0), "{}", summary(&revoke));
        assert!(mock.tokens().iter().all(|t| t.status == "revoked"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn one_user_never_gets_two_tokens_and_an_ambiguous_address_gets_none() {
    let mock = mock();
    let ann = mock.insert_user(
        UserSpec::new()
            .email("ann@example.com")
            .email("ann.work@example.com"),
    );
    mock.insert_user(UserSpec::new().email("shared@example.com"));
    mock.insert_user(UserSpec::new().email("Shared@Example.com"));
    let mut child = command(&mock, &["--no-pacing", "create", "--emails", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"ann@example.com\nANN.WORK@example.com\nshared@example.com\nnot an address\nann@example.com\n")
        .unwrap();
    drop(stdin);
    let out = wait_bounded(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1), "{}", summary(&out));
    let mut recs = records(&out.stdout);
    recs.sort_by_key(|r| r["line"].as_u64());
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[0]["token"]["user_id"], ann.as_str());
    for i in [1, 4] {
        assert_eq!(recs[i]["id"], ann.as_str());
        assert_eq!(recs[i]["settled"]["state"], "same_user", "{}", recs[i]);
        assert!(recs[i].get("token").is_none());
    }
    assert_eq!(recs[2]["error"]["kind"], "ambiguous");
    assert_eq!(recs[3]["error"]["kind"], "invalid_input");
    assert!(recs[3].get("email").is_none(), "a bad line is never echoed");
    assert_eq!(
        mock.tokens().len(),
        1,
        "one token for Ann, none for the shared address"
    );
}

#[test]
fn one_email_prints_the_token_or_one_line() {
    let mock = mock();
    let user = mock.insert_user(UserSpec::new().email("test+1@example.com"));
    let out = run(&mock, &["create", "--email", "Test+1@example.com"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = &records(&out.stdout)[0];
    assert_eq!(token["object"], "sign_in_token");
    assert_eq!(token["user_id"], user.as_str());
    let out = run(&mock, &["create", "--email", "nobody@example.com"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no user has this email address"), "{err}");
    assert!(!err.contains("nobody@"), "no address in messages: {err}");
    assert_eq!(mock.tokens().len(), 1);
}
