//! `clerk-sign-in-tokens`: mint and revoke Clerk sign-in tokens from the
//! command line, one or in bulk, without losing one.
//!
//! ```text
//! cargo install --path crates/clerk-sign-in-tokens
//! export CLERK_SECRET_KEY=sk_live_…
//! clerk-sign-in-tokens create --user-ids users.txt --expires-in-seconds 86400 > minted.jsonl
//! clerk-sign-in-tokens revoke --from minted.jsonl > revoked.jsonl
//! ```
//!
//! # What it promises
//!
//! - **Output**: one JSON Lines record per input line on stdout, written
//!   and flushed as each call completes: `{"line":N,"id":"…","token":{…}}`
//!   or `{"line":N,"id":"…","error":{"kind":…,"status":…,"codes":[…],
//!   "trace_id":…,"retry_after_seconds":…,"attempts":…,"message":…}}`. A
//!   line that is not an id is a failed record of kind `invalid_input`; the
//!   run goes on. A summary goes to stderr. A single `create --user-id ID`
//!   or `revoke TOKEN_ID` prints what the `sign-in-tokens` example prints:
//!   the token as one JSON object, or one line on stderr.
//! - **No token lost**: a call marks its result as held the moment it
//!   returns and queues its line; one writer thread writes and flushes
//!   what is queued under the output lock, lines that complete together in
//!   one write, no line waiting for a later one. The first
//!   Ctrl-C (or SIGTERM) starts no new call, lets the calls in flight finish
//!   (each bounded by the client's timeouts), writes their records and the
//!   summary and exits 130. A second one waits for the results calls
//!   already hold to be written, takes the writer's lock, flushes and exits
//!   130 at once; calls still waiting for a reply are abandoned (their
//!   tokens, if Clerk made them, were never read).
//! - **No double mint**: `--resume FILE` skips every id that FILE's records
//!   show already got a token. Ids repeated within one input are called once
//!   each time they appear.
//! - **Polite**: starts are paced to Clerk's documented limit for the key's
//!   kind unless `--rate N/SECONDS` or `--no-pacing` says otherwise, and a
//!   429 holds every call of the run until the moment Clerk names. The run
//!   paces the start of each call itself (so the progress bar can say when
//!   it waits); a retry inside a call is left to the client's gate, which
//!   after a 429 releases calls at the rate the server showed.
//! - **Credentials**: the secret key only from `CLERK_SECRET_KEY` or
//!   `--secret-key-file`, never printed; tokens and their URLs only in the
//!   stdout records.
//! - **Memory** stays flat in the number of ids: the input is streamed
//!   through a queue twice the concurrency long (a `--resume` file's ids
//!   are the one thing kept, one string per minted id).
//! - **Exit status**: 0 all succeeded, 1 some failed, 2 usage error, 130
//!   interrupted.

pub mod args;
pub mod input;
pub mod output;
pub mod run;

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use clap::Parser as _;
use clerk_core::{Config, RateLimit};

use crate::args::{Cli, Command};
use crate::input::{LineFormat, Source};
use crate::output::{Format, Sink};
use crate::run::{Op, Plan};

/// The longest secret-key file read.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Runs the program with the process's arguments and environment.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match prepare(cli) {
        Ok((plan, format, total)) => execute(plan, format, total),
        Err(message) => {
            eprintln!("clerk-sign-in-tokens: {message}");
            ExitCode::from(2)
        }
    }
}

fn usage_error(message: impl std::fmt::Display) -> String {
    message.to_string()
}

/// The plan, the output format, and the number of ids when it is known
/// cheaply (for the progress bar).
fn prepare(cli: Cli) -> Result<(Plan, Format, Option<u64>), String> {
    let key = secret_key(cli.secret_key_file.as_deref())?;
    let config = config_from_env(&key)?;
    let pacing = if cli.no_pacing {
        None
    } else {
        Some(cli.rate.unwrap_or_else(|| RateLimit::for_secret_key(&key)))
    };
    drop(key);
    let resume = match &cli.resume {
        Some(path) => input::resume_set(path)
            .map_err(|e| usage_error(format!("--resume {}: {e}", path.display())))?,
        None => Default::default(),
    };
    let open = |path: &Path, format| {
        input::open(path)
            .map(|reader| Source::lines(reader, format))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let count = |path: &Path, format| {
        if path == Path::new("-") {
            return None;
        }
        input::open(path)
            .ok()
            .map(|reader| Source::lines(reader, format).count() as u64)
    };
    let wants_total = std::io::stderr().is_terminal();
    let (op, source, format, total) = match cli.command {
        Command::Create(create) => {
            let op = Op::Create {
                expires_in_seconds: create.expires_in_seconds,
                org_id: create.org_id,
            };
            match create.user_ids {
                Some(path) => {
                    let total = wants_total.then(|| count(&path, LineFormat::Ids)).flatten();
                    (op, open(&path, LineFormat::Ids)?, Format::Records, total)
                }
                None => {
                    let format = if create.user_id.len() == 1 {
                        Format::Single
                    } else {
                        Format::Records
                    };
                    let total = create.user_id.len() as u64;
                    (op, Source::args(create.user_id), format, Some(total))
                }
            }
        }
        Command::Revoke(revoke) => match (revoke.ids, revoke.from) {
            (Some(path), _) => {
                let total = wants_total.then(|| count(&path, LineFormat::Ids)).flatten();
                (
                    Op::Revoke,
                    open(&path, LineFormat::Ids)?,
                    Format::Records,
                    total,
                )
            }
            (None, Some(path)) => {
                let total = wants_total
                    .then(|| count(&path, LineFormat::CreatedTokens))
                    .flatten();
                let source = open(&path, LineFormat::CreatedTokens)?;
                (Op::Revoke, source, Format::Records, total)
            }
            (None, None) => {
                let format = if revoke.token_id.len() == 1 {
                    Format::Single
                } else {
                    Format::Records
                };
                let total = revoke.token_id.len() as u64;
                (
                    Op::Revoke,
                    Source::args(revoke.token_id),
                    format,
                    Some(total),
                )
            }
        },
    };
    let plan = Plan {
        op,
        source,
        resume,
        concurrency: usize::from(cli.concurrency),
        pacing,
        runtime: cli.runtime,
        config,
    };
    Ok((plan, format, total))
}

fn execute(plan: Plan, format: Format, total: Option<u64>) -> ExitCode {
    let progress = (format == Format::Records && std::io::stderr().is_terminal()).then_some(total);
    let sink = Sink::new(Box::new(std::io::stdout()), format, progress);
    let signals = Arc::new(AtomicU32::new(0));
    {
        let sink = Arc::clone(&sink);
        let handler = ctrlc::set_handler(move || {
            if signals.fetch_add(1, Ordering::SeqCst) == 0 {
                sink.interrupt();
            } else {
                sink.abort();
            }
        });
        if let Err(e) = handler {
            eprintln!("clerk-sign-in-tokens: could not install the Ctrl-C handler: {e}");
            return ExitCode::from(2);
        }
    }
    match run::run(plan, &sink) {
        Ok(read_error) => ExitCode::from(sink.finish(read_error.as_ref())),
        Err(message) => {
            sink.finish(None);
            eprintln!("clerk-sign-in-tokens: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The secret key from `--secret-key-file` (its first line) or
/// `CLERK_SECRET_KEY`. Messages never contain it.
fn secret_key(file: Option<&Path>) -> Result<String, String> {
    if let Some(path) = file {
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_KEY_FILE_BYTES).read_to_string(&mut text))
            .map_err(|e| format!("--secret-key-file {}: {e}", path.display()))?;
        let key = text.lines().next().unwrap_or_default().trim();
        if key.is_empty() {
            return Err(format!(
                "--secret-key-file {}: the file is empty",
                path.display()
            ));
        }
        return Ok(key.to_owned());
    }
    match std::env::var("CLERK_SECRET_KEY") {
        Ok(key) if !key.trim().is_empty() => Ok(key.trim().to_owned()),
        _ => Err(
            "CLERK_SECRET_KEY is not set: export your instance's secret key (sk_test_… or sk_live_…) or pass --secret-key-file FILE"
                .into(),
        ),
    }
}

/// A configuration from a secret key and the optional `CLERK_API_URL`.
fn config_from_env(key: &str) -> Result<Config, String> {
    let config = Config::new(key)
        .and_then(|c| {
            c.with_user_agent_suffix(concat!("clerk-sign-in-tokens/", env!("CARGO_PKG_VERSION")))
        })
        .map_err(|e| e.to_string())?;
    match std::env::var("CLERK_API_URL") {
        Ok(url) if !url.trim().is_empty() => config
            .with_base_url(&url)
            .map_err(|e| format!("CLERK_API_URL: {e}")),
        _ => Ok(config),
    }
}
