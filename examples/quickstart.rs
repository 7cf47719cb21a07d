//! The README's main job: create a sign-in token, then revoke it, through
//! each of the three adapters.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Without `CLERK_SECRET_KEY` it runs offline against the embedded stand-in
//! server. With `CLERK_SECRET_KEY` and `CLERK_USER_ID` set it talks to Clerk
//! (`CLERK_API_URL`, default `https://api.clerk.com/v1`), creating three
//! tokens for that user that live 10 minutes and revoking each at once.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clerk_core::{CreateSignInToken, Error, SignInToken};
use clerk_examples::{Target, describe_error, summary};

fn main() -> ExitCode {
    let target = match Target::from_env() {
        Ok(target) => target,
        Err(message) => {
            eprintln!("quickstart: {message}");
            return ExitCode::FAILURE;
        }
    };
    println!("Sign-in tokens against {}", target.describe());
    println!("User: {}\n", target.user_id);

    let request =
        || CreateSignInToken::new(&target.user_id).with_expires_in(Duration::from_secs(600));
    let mut failures = 0;

    // Blocking, on ureq.
    let ureq = clerk_ureq::Client::new(target.config.clone());
    failures += run("clerk-ureq", || {
        let client = ureq?;
        let token = step("create", || client.create_sign_in_token(request()))?;
        step("revoke", || client.revoke_sign_in_token(&token.id))
    });

    // Async on tokio, with reqwest.
    failures += run("clerk-reqwest", || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("could not start tokio: {e}"))
            .map_err(Failure::Setup)?;
        runtime.block_on(async {
            let client = clerk_reqwest::Client::new(target.config.clone())?;
            let start = Instant::now();
            let token = client.create_sign_in_token(request()).await;
            let token = report("create", start, token)?;
            let start = Instant::now();
            report(
                "revoke",
                start,
                client.revoke_sign_in_token(&token.id).await,
            )
        })
    });

    // Async on async-std (the same code runs under smol; see the `smol` example).
    failures += run("clerk-async-std", || {
        async_std::task::block_on(async {
            let client = clerk_async_std::Client::new(target.config.clone())?;
            let start = Instant::now();
            let token = client.create_sign_in_token(request()).await;
            let token = report("create", start, token)?;
            let start = Instant::now();
            report(
                "revoke",
                start,
                client.revoke_sign_in_token(&token.id).await,
            )
        })
    });

    if let Some(mock) = &target.mock {
        println!(
            "The stand-in server received {} requests on {} connections.",
            mock.requests().len(),
            mock.connections_accepted()
        );
    }
    if failures == 0 {
        println!("All three adapters created and revoked a sign-in token.");
        ExitCode::SUCCESS
    } else {
        println!("{failures} adapter(s) failed.");
        ExitCode::FAILURE
    }
}

enum Failure {
    Setup(String),
    Call(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Call(e)
    }
}

fn run(adapter: &str, body: impl FnOnce() -> Result<SignInToken, Failure>) -> usize {
    println!("{adapter}");
    match body() {
        Ok(_) => {
            println!();
            0
        }
        Err(Failure::Setup(message)) => {
            println!("  failed: {message}\n");
            1
        }
        Err(Failure::Call(e)) => {
            println!("  failed: {}\n", describe_error(&e));
            1
        }
    }
}

fn step(
    name: &str,
    call: impl FnOnce() -> Result<SignInToken, Error>,
) -> Result<SignInToken, Failure> {
    let start = Instant::now();
    report(name, start, call())
}

fn report(
    name: &str,
    start: Instant,
    result: Result<SignInToken, Error>,
) -> Result<SignInToken, Failure> {
    let token = result?;
    println!(
        "  {name:<7} {:>7.1} ms  {}",
        start.elapsed().as_secs_f64() * 1e3,
        summary(&token)
    );
    Ok(token)
}
