//! The `sign-in-by-email` example, run as a user runs it: offline against
//! its embedded stand-in server, and against a stand-in server of this
//! test's own given as `CLERK_API_URL`, with an unknown and an ambiguous
//! address.

use std::path::PathBuf;
use std::process::{Command, Output};

use clerk_mock::{MockServer, UserSpec};

fn example() -> PathBuf {
    // target/<profile>/deps/sign_in_by_email-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("the test binary has a path");
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target/<profile>");
    dir.join("examples")
        .join(format!("sign-in-by-email{}", std::env::consts::EXE_SUFFIX))
}

fn run(mock: Option<&MockServer>, args: &[&str]) -> (Output, String) {
    let mut cmd = Command::new(example());
    cmd.args(args)
        .env_remove("CLERK_SECRET_KEY")
        .env_remove("CLERK_API_URL");
    if let Some(mock) = mock {
        cmd.env("CLERK_SECRET_KEY", mock.secret_key())
            .env("CLERK_API_URL", mock.base_url());
    }
    let out = cmd.output().expect("the example runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("eyJ"), "a credential was printed: {text}");
    (out, text)
}

#[test]
fn finds_then_mints_offline() {
    let (out, text) = run(None, &[]);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("pending for user_").count(), 2, "{text}");
    assert!(text.contains("1 lookup request(s)"), "{text}");
    assert!(text.contains("Every address got a token."), "{text}");
}

#[test]
fn unknown_and_ambiguous_addresses_get_no_token() {
    let mock = MockServer::start();
    let ann = mock.insert_user(UserSpec::new().email("ann@example.com"));
    mock.insert_user(UserSpec::new().email("twin@example.com"));
    mock.insert_user(UserSpec::new().email("Twin@Example.com"));
    let (out, text) = run(
        Some(&mock),
        &["ANN@example.com", "nobody@example.com", "twin@example.com"],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("ANN@example.com: sit_") && text.contains(&ann),
        "{text}"
    );
    assert!(
        text.contains("nobody@example.com: no user has this address; no token"),
        "{text}"
    );
    assert!(
        text.contains("twin@example.com: 2 users have this address"),
        "{text}"
    );
    assert!(text.contains("2 address(es) got no token."), "{text}");
    // One token minted, for Ann only, and revoked at once.
    let tokens = mock.tokens();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].user_id, ann);
    assert_eq!(tokens[0].status, "revoked");
    let lookups = mock
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v1/users?"))
        .count();
    assert_eq!(lookups, 1);
}

#[test]
fn a_real_key_needs_addresses() {
    let out = Command::new(example())
        .env("CLERK_SECRET_KEY", "sk_test_not_a_real_key")
        .output()
        .expect("the example runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("give the email addresses"), "{err}");
    assert!(!err.contains("sk_test_not_a_real_key"), "{err}");
}
