//! From an email address to a sign-in token: find the user, then mint, as a
//! browser test does before it signs a test user in.
//!
//! ```sh
//! cargo run --example sign-in-by-email
//! cargo run --example sign-in-by-email -- test+1@example.com Test+2@Example.com
//! ```
//!
//! Without `CLERK_SECRET_KEY` it runs offline against the embedded stand-in
//! server, which it gives two users (`test+1@example.com` and
//! `test+2@example.com`); the addresses default to those two, typed in
//! another case. With `CLERK_SECRET_KEY` set it talks to Clerk
//! (`CLERK_API_URL`, default `https://api.clerk.com/v1`) and the addresses
//! are its arguments.
//!
//! Every address is looked up (one request per 100 addresses, compared
//! case-insensitively); each one that belongs to exactly one user gets a
//! token that lives 5 minutes. A browser test would now open the token's
//! URL (`token.url`) to be signed in; this example prints neither the ticket
//! nor the URL (they are credentials) and revokes each token at once. An
//! address that belongs to no user, or to several, gets no token, and the
//! program exits with 1.

use std::process::ExitCode;
use std::time::Duration;

use clerk_core::{Config, CreateSignInToken, EmailMatch};
use clerk_examples::{config_from_env, describe_error, summary};
use clerk_mock::{MockServer, UserSpec};

const OFFLINE_USERS: [&str; 2] = ["test+1@example.com", "test+2@example.com"];
const OFFLINE_ADDRESSES: [&str; 2] = ["Test+1@Example.com", "TEST+2@example.com"];

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let (config, addresses, mock) = match setup(arguments) {
        Ok(setup) => setup,
        Err(message) => {
            eprintln!("sign-in-by-email: {message}");
            return ExitCode::FAILURE;
        }
    };
    match &mock {
        Some(_) => println!(
            "Against the embedded stand-in server at {} (set CLERK_SECRET_KEY to use Clerk)\n",
            config.base_url()
        ),
        None => println!("Against Clerk at {}\n", config.base_url()),
    }
    let client = match clerk_ureq::Client::new(config) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("sign-in-by-email: {}", describe_error(&e));
            return ExitCode::FAILURE;
        }
    };

    // 1. Find the users: any number of addresses, ⌈n/100⌉ requests.
    let matches = match client.find_users_by_email(&addresses) {
        Ok(matches) => matches,
        Err(e) => {
            eprintln!("lookup failed: {}", describe_error(&e));
            return ExitCode::FAILURE;
        }
    };

    // 2. Mint for each address that names exactly one user.
    let mut failed = 0;
    for (address, found) in addresses.iter().zip(&matches) {
        let user_id = match found {
            EmailMatch::Found(user_id) => user_id,
            EmailMatch::NotFound => {
                println!("{address}: no user has this address; no token");
                failed += 1;
                continue;
            }
            EmailMatch::Ambiguous(ids) => {
                println!(
                    "{address}: {} users have this address ({}); no token",
                    ids.len(),
                    ids.join(", ")
                );
                failed += 1;
                continue;
            }
        };
        let request = CreateSignInToken::new(user_id).with_expires_in(Duration::from_secs(300));
        let token = match client.create_sign_in_token(request) {
            Ok(token) => token,
            Err(e) => {
                println!(
                    "{address}: {user_id}, but minting failed: {}",
                    describe_error(&e)
                );
                failed += 1;
                continue;
            }
        };
        println!("{address}: {}", summary(&token));
        // A browser test opens `token.url` here. This example revokes the
        // token instead, so no credential outlives it.
        if let Err(e) = client.revoke_sign_in_token(&token.id) {
            println!("  revoking failed: {}", describe_error(&e));
            failed += 1;
        }
    }
    if let Some(mock) = &mock {
        let lookups = mock
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/v1/users"))
            .count();
        println!("\nThe stand-in server answered {lookups} lookup request(s).");
    }
    if failed == 0 {
        println!("Every address got a token.");
        ExitCode::SUCCESS
    } else {
        println!("{failed} address(es) got no token.");
        ExitCode::FAILURE
    }
}

/// The configuration, the addresses and, offline, the stand-in server.
fn setup(arguments: Vec<String>) -> Result<(Config, Vec<String>, Option<MockServer>), String> {
    match std::env::var("CLERK_SECRET_KEY") {
        Ok(key) if !key.trim().is_empty() => {
            if arguments.is_empty() {
                return Err(
                    "CLERK_SECRET_KEY is set, so this talks to Clerk: give the email addresses \
                     of users of that instance as arguments"
                        .to_owned(),
                );
            }
            Ok((config_from_env(&key)?, arguments, None))
        }
        _ => {
            let mock = MockServer::try_start()
                .map_err(|e| format!("could not start the stand-in server: {e}"))?;
            for address in OFFLINE_USERS {
                mock.insert_user(UserSpec::new().email(address));
            }
            let config = Config::new(mock.secret_key())
                .and_then(|c| c.with_base_url(&mock.base_url()))
                .map_err(|e| e.to_string())?;
            let addresses = if arguments.is_empty() {
                OFFLINE_ADDRESSES.map(String::from).to_vec()
            } else {
                arguments
            };
            Ok((config, addresses, Some(mock)))
        }
    }
}
