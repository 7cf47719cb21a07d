//! A small command-line tool for sign-in tokens.
//!
//! ```text
//! sign-in-tokens [--runtime ureq|reqwest|async-std] create --user-id ID [--expires-in-seconds N] [--org-id ID]
//! sign-in-tokens [--runtime ureq|reqwest|async-std] revoke TOKEN_ID
//! ```
//!
//! Reads `CLERK_SECRET_KEY` (required) and `CLERK_API_URL` (optional, default
//! `https://api.clerk.com/v1`). On success prints the sign-in token as one
//! JSON object on stdout, token and URL included (that is what the operator
//! asked for), and exits 0. On failure prints one line on stderr and exits 1.

use std::io::Write as _;
use std::process::ExitCode;

use clerk_core::{Config, CreateSignInToken, Error, SignInToken};
use clerk_examples::{config_from_env, describe_error};

const USAGE: &str = "usage: sign-in-tokens [--runtime ureq|reqwest|async-std] create --user-id ID [--expires-in-seconds N] [--org-id ID]\n       sign-in-tokens [--runtime ureq|reqwest|async-std] revoke TOKEN_ID";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Runtime {
    Ureq,
    Reqwest,
    AsyncStd,
}

#[derive(Debug, PartialEq)]
enum Command {
    Create(CreateSignInToken),
    Revoke(String),
}

fn main() -> ExitCode {
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect()
    {
        Ok(args) => args,
        Err(_) => return fail("arguments must be valid UTF-8"),
    };
    let (runtime, command) = match parse(&args) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => return fail(&format!("{message}\n{USAGE}")),
    };
    let key = match std::env::var("CLERK_SECRET_KEY") {
        Ok(key) if !key.trim().is_empty() => key,
        _ => {
            return fail(
                "CLERK_SECRET_KEY is not set: export your instance's secret key (sk_test_… or sk_live_…)",
            );
        }
    };
    let config = match config_from_env(&key) {
        Ok(config) => config,
        Err(message) => return fail(&message),
    };
    let result = match execute(runtime, config, command) {
        Ok(result) => result,
        Err(message) => return fail(&message),
    };
    match result {
        Ok(token) => match serde_json::to_string(&token) {
            Ok(json) => {
                let mut out = std::io::stdout().lock();
                if writeln!(out, "{json}").and_then(|()| out.flush()).is_err() {
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("could not encode the sign-in token: {e}")),
        },
        Err(e) => fail(&describe_error(&e)),
    }
}

fn fail(message: &str) -> ExitCode {
    let first_line = message.lines().next().unwrap_or_default();
    let rest: Vec<&str> = message.lines().skip(1).collect();
    eprintln!("sign-in-tokens: {first_line}");
    for line in rest {
        eprintln!("{line}");
    }
    ExitCode::FAILURE
}

/// The runtime and command, or `None` when help was asked for.
fn parse(args: &[String]) -> Result<Option<(Runtime, Command)>, String> {
    let mut runtime = Runtime::Ureq;
    let mut rest = args;
    loop {
        match rest {
            [flag, value, tail @ ..] if flag == "--runtime" => {
                runtime = match value.as_str() {
                    "ureq" => Runtime::Ureq,
                    "reqwest" => Runtime::Reqwest,
                    "async-std" => Runtime::AsyncStd,
                    other => {
                        return Err(format!(
                            "unknown runtime `{other}`: use ureq, reqwest or async-std"
                        ));
                    }
                };
                rest = tail;
            }
            [flag] if flag == "--runtime" => return Err("--runtime needs a value".into()),
            [flag, ..] if flag == "-h" || flag == "--help" => return Ok(None),
            _ => break,
        }
    }
    match rest {
        [cmd, tail @ ..] if cmd == "create" => {
            parse_create(tail).map(|c| Some((runtime, Command::Create(c))))
        }
        [cmd, id] if cmd == "revoke" => {
            if id.starts_with("--") {
                Err(format!("unexpected option `{id}`: revoke takes a token id"))
            } else {
                Ok(Some((runtime, Command::Revoke(id.clone()))))
            }
        }
        [cmd, ..] if cmd == "revoke" => Err("revoke takes exactly one TOKEN_ID".into()),
        [other, ..] => Err(format!("unknown command `{other}`")),
        [] => Err("missing command: create or revoke".into()),
    }
}

fn parse_create(mut args: &[String]) -> Result<CreateSignInToken, String> {
    let (mut user, mut lifetime, mut org) = (None, None, None);
    while let [flag, tail @ ..] = args {
        let [value, tail @ ..] = tail else {
            return Err(format!("{flag} needs a value"));
        };
        match flag.as_str() {
            "--user-id" => user = Some(value.clone()),
            "--expires-in-seconds" => {
                let seconds: u64 = value.parse().map_err(|_| {
                    format!("--expires-in-seconds must be a whole number of seconds, not `{value}`")
                })?;
                lifetime = Some(seconds);
            }
            "--org-id" => org = Some(value.clone()),
            other => return Err(format!("unknown option `{other}` for create")),
        }
        args = tail;
    }
    let mut request = CreateSignInToken::new(user.ok_or("create needs --user-id ID")?);
    if let Some(seconds) = lifetime {
        request = request.with_expires_in_seconds(seconds);
    }
    if let Some(org) = org {
        request = request.with_org_id(org);
    }
    Ok(request)
}

fn execute(
    runtime: Runtime,
    config: Config,
    command: Command,
) -> Result<Result<SignInToken, Error>, String> {
    match runtime {
        Runtime::Ureq => {
            let client = match clerk_ureq::Client::new(config) {
                Ok(client) => client,
                Err(e) => return Ok(Err(e)),
            };
            Ok(match command {
                Command::Create(request) => client.create_sign_in_token(request),
                Command::Revoke(id) => client.revoke_sign_in_token(&id),
            })
        }
        Runtime::Reqwest => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("could not start tokio: {e}"))?;
            Ok(rt.block_on(async {
                let client = clerk_reqwest::Client::new(config)?;
                match command {
                    Command::Create(request) => client.create_sign_in_token(request).await,
                    Command::Revoke(id) => client.revoke_sign_in_token(&id).await,
                }
            }))
        }
        Runtime::AsyncStd => Ok(async_std::task::block_on(async {
            let client = clerk_async_std::Client::new(config)?;
            match command {
                Command::Create(request) => client.create_sign_in_token(request).await,
                Command::Revoke(id) => client.revoke_sign_in_token(&id).await,
            }
        })),
    }
}
