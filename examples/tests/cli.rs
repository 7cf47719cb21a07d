//! The `sign-in-tokens` and `quickstart` examples, run as a user runs them,
//! against the stand-in server.

use std::path::PathBuf;
use std::process::{Command, Output};

use clerk_mock::{Fault, MockServer};

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/cli-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("the test binary has a path");
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target/<profile>");
    dir.join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn cli(mock: Option<&MockServer>, args: &[&str]) -> Output {
    let mut cmd = Command::new(example("sign-in-tokens"));
    cmd.args(args)
        .env_remove("CLERK_SECRET_KEY")
        .env_remove("CLERK_API_URL")
        .env_remove("CLERK_USER_ID");
    if let Some(mock) = mock {
        cmd.env("CLERK_SECRET_KEY", mock.secret_key())
            .env("CLERK_API_URL", mock.base_url());
    }
    cmd.output().expect("the example runs")
}

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    let text = String::from_utf8(out.stdout.clone()).expect("UTF-8");
    assert_eq!(
        text.lines().count(),
        1,
        "one JSON object on one line: {text}"
    );
    serde_json::from_str(&text).expect("JSON")
}

fn stderr_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr.clone()).expect("UTF-8")
}

#[test]
fn create_and_revoke_on_every_runtime() {
    let mock = MockServer::start();
    let user = mock.create_user();
    mock.add_organization("org_1", &[user.as_str()]);
    for runtime in [None, Some("ureq"), Some("reqwest"), Some("async-std")] {
        let mut args = runtime.map_or_else(Vec::new, |r| vec!["--runtime", r]);
        args.extend([
            "create",
            "--user-id",
            &user,
            "--expires-in-seconds",
            "60",
            "--org-id",
            "org_1",
        ]);
        let token = stdout_json(&cli(Some(&mock), &args));
        assert_eq!(token["object"], "sign_in_token");
        assert_eq!(token["status"], "pending");
        assert_eq!(token["user_id"], user.as_str());
        assert!(
            token["token"]
                .as_str()
                .is_some_and(|t| t.split('.').count() == 3),
            "the token is printed"
        );
        assert!(
            token["url"].as_str().is_some_and(|u| u.contains("ticket=")),
            "the URL is printed"
        );
        let id = token["id"].as_str().expect("an id").to_owned();

        let mut args = runtime.map_or_else(Vec::new, |r| vec!["--runtime", r]);
        args.extend(["revoke", &id]);
        let revoked = stdout_json(&cli(Some(&mock), &args));
        assert_eq!(revoked["status"], "revoked");
        assert_eq!(revoked["id"], id.as_str());
    }
    let sent = mock.requests()[0].json().expect("JSON body");
    assert_eq!(
        sent,
        serde_json::json!({"user_id": user, "expires_in_seconds": 60, "org_id": "org_1"})
    );
}

#[test]
fn failures_are_one_line_with_status_codes_trace_and_attempts() {
    let mock = MockServer::start();
    for runtime in ["ureq", "reqwest", "async-std"] {
        let line = stderr_line(&cli(
            Some(&mock),
            &["--runtime", runtime, "create", "--user-id", "user_missing"],
        ));
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.contains("404") && line.contains("resource_not_found"),
            "{line}"
        );
        assert!(line.contains("trace id"), "{line}");
        assert!(line.contains("1 attempt"), "{line}");
        assert!(!line.contains(mock.secret_key()), "{line}");

        mock.push_faults(
            Fault::RateLimited {
                retry_after: "0".into(),
            },
            3,
        );
        let line = stderr_line(&cli(
            Some(&mock),
            &["--runtime", runtime, "revoke", "sit_x"],
        ));
        assert!(
            line.contains("429") && line.contains("after 3 attempts"),
            "{line}"
        );

        // Past what the policy waits out: the call ends at once and says
        // when to come back.
        mock.push_fault(Fault::RateLimited {
            retry_after: "30".into(),
        });
        let line = stderr_line(&cli(
            Some(&mock),
            &["--runtime", runtime, "revoke", "sit_x"],
        ));
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.contains("429") && line.contains("retry after 30 s (1 attempt)"),
            "{line}"
        );
    }
}

#[test]
fn usage_and_environment_errors() {
    let mock = MockServer::start();
    let line = stderr_line(&cli(None, &["create", "--user-id", "u"]));
    assert!(line.contains("CLERK_SECRET_KEY"), "{line}");
    for args in [
        &[][..],
        &["frobnicate"],
        &["create"],
        &["create", "--user-id"],
        &["create", "--user-id", "u", "--expires-in-seconds", "soon"],
        &["create", "--user-id", "u", "--colour", "red"],
        &["revoke"],
        &["revoke", "a", "b"],
        &["--runtime", "curl", "revoke", "a"],
    ] {
        let out = cli(Some(&mock), args);
        let text = stderr_line(&out);
        assert!(text.starts_with("sign-in-tokens: "), "{args:?}: {text}");
        assert!(text.contains("usage:"), "{args:?}: {text}");
    }
    let line = stderr_line(&cli(
        Some(&mock),
        &["create", "--user-id", "u", "--expires-in-seconds", "0"],
    ));
    assert!(
        line.contains("expires_in_seconds") && line.contains("0 attempts"),
        "{line}"
    );
    assert!(mock.requests().is_empty(), "nothing invalid was sent");
    let help = cli(None, &["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("usage:"));
}

#[test]
fn quickstart_runs_offline() {
    let out = Command::new(example("quickstart"))
        .env_remove("CLERK_SECRET_KEY")
        .env_remove("CLERK_API_URL")
        .output()
        .expect("the quickstart runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for adapter in ["clerk-ureq", "clerk-reqwest", "clerk-async-std"] {
        assert!(text.contains(adapter), "{text}");
    }
    assert_eq!(text.matches("revoked for").count(), 3, "{text}");
    assert!(!text.contains("eyJ"), "a credential was printed: {text}");
}

#[test]
fn quickstart_asks_for_a_user_with_a_real_key() {
    let out = Command::new(example("quickstart"))
        .env("CLERK_SECRET_KEY", "sk_test_not_a_real_key")
        .env_remove("CLERK_USER_ID")
        .output()
        .expect("the quickstart runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CLERK_USER_ID"), "{err}");
    assert!(!err.contains("not_a_real_key"));
}
