//! `clerk-sign-in-tokens`: mint and revoke Clerk sign-in tokens from the
//! command line, one or in bulk, without losing one.
//!
//! ```text
//! cargo install --path crates/clerk-sign-in-tokens
//! export CLERK_SECRET_KEY=sk_live_…
//! clerk-sign-in-tokens create --user-ids users.txt --output minted.jsonl
//! clerk-sign-in-tokens revoke --from minted.jsonl --output revoked.jsonl
//! ```
//!
//! The promises, each pinned by a process-level test in `tests/it`, are
//! stated in the README's section on this tool; in short:
//!
//! - **One record per input line**, written by serde_json and flushed as
//!   each call completes: `{"line":N,"id":"…","token":{…}}`, a revoke's
//!   `{"line":N,"id":"sit_…","settled":{"state":"already_revoked"}}`, or
//!   `{"line":N,"id":"…","error":{…}}`. A line that is not an id is a
//!   failed record (`invalid_input`) that never quotes the line.
//! - **No token without a record**: a token whose record cannot be written
//!   (a closed pipe, a full disk, an I/O error) is revoked by the run and
//!   named on stderr; the run starts nothing more and exits 1.
//! - **No token twice**: `--output FILE` or `--resume FILE` skips every
//!   input that FILE shows done, a record cut short included.
//! - **Ctrl-C**: the first starts nothing more and lets the calls in
//!   flight finish and be written (exit 130); the second names the tokens
//!   minted and not yet written and exits within a second.
//! - **Polite**: half of Clerk's documented limit for the key's kind by
//!   default.
//! - **Exit status**: 0 all succeeded, 1 some failed, 2 usage error, 130
//!   interrupted.

mod args;
mod input;
mod output;
mod run;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, IsTerminal as _, Read as _, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use clap::Parser as _;
use clerk_core::{Config, RateLimit};

use crate::args::{Cli, Command};
use crate::input::{LineFormat, Resume, Source};
use crate::output::{Format, Sink};
use crate::run::{Op, Plan};

/// The longest secret-key file read.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Runs the program with the process's arguments and environment.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match prepare(cli) {
        Ok(prepared) => execute(prepared),
        Err(message) => {
            eprintln!("clerk-sign-in-tokens: {message}");
            ExitCode::from(2)
        }
    }
}

/// A run ready to start.
struct Prepared {
    plan: Plan,
    format: Format,
    /// The number of input lines, when known without consuming the input.
    total: Option<u64>,
    /// `--output`'s file, opened for appending.
    output: Option<File>,
    /// The output continues a file whose last line was cut short.
    mend_torn_line: bool,
}

fn note(message: String) {
    eprintln!("clerk-sign-in-tokens: {message}");
}

fn prepare(cli: Cli) -> Result<Prepared, String> {
    let key = secret_key(cli.secret_key_file.as_deref())?;
    let config = config_from_env(&key)?;
    let pacing = if cli.no_pacing {
        None
    } else {
        Some(
            cli.rate
                .unwrap_or_else(|| RateLimit::for_secret_key(&key).divided_among(2)),
        )
    };
    drop(key);
    let mut resume = Resume::default();
    let mut mend_torn_line = false;
    if let Some(path) = &cli.resume {
        let name = format!("--resume {}", path.display());
        let reader: Box<dyn BufRead> = if path == Path::new("-") {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(BufReader::new(
                File::open(path).map_err(|e| format!("{name}: {e}"))?,
            ))
        };
        resume
            .read(reader, &name, &mut note)
            .map_err(|e| format!("{name}: {e}"))?;
        if resume.torn_tail {
            if is_stdout(path) {
                mend_torn_line = true;
            } else {
                note(format!(
                    "{name}: its last line was cut short: end it with a newline before appending to it"
                ));
            }
        }
    }
    let output = match &cli.output {
        Some(path) => {
            let name = format!("--output {}", path.display());
            // Only a regular file is read back (a device such as /dev/full
            // would never end).
            if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
                let file = File::open(path).map_err(|e| format!("{name}: {e}"))?;
                let mut previous = Resume::default();
                previous
                    .read(BufReader::new(file), &name, &mut note)
                    .map_err(|e| format!("{name}: {e}"))?;
                mend_torn_line |= previous.torn_tail;
                resume.extend(previous);
            }
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .map_err(|e| format!("{name}: {e}"))?;
            Some(file)
        }
        None => None,
    };
    let open = |path: &Path, format| {
        Source::open(path, format).map_err(|e| format!("{}: {e}", path.display()))
    };
    // The progress bar's total, only where a bar is drawn.
    let count = |path: &Path, format| {
        std::io::stderr()
            .is_terminal()
            .then(|| Source::count(path, format))
            .flatten()
    };
    let single = |n: usize| {
        if n == 1 && output.is_none() {
            Format::Single
        } else {
            Format::Records
        }
    };
    let (op, source, format, total) = match cli.command {
        Command::Create(create) => {
            let op = Op::Create {
                expires_in_seconds: create.expires_in_seconds,
                org_id: create.org_id,
            };
            match create.user_ids {
                Some(path) => {
                    let format = LineFormat::Ids("user_");
                    let source = open(&path, format)?;
                    (op, source, Format::Records, count(&path, format))
                }
                None => {
                    let n = create.user_id.len();
                    let source = Source::args(&create.user_id, LineFormat::Ids("user_"));
                    (op, source, single(n), Some(n as u64))
                }
            }
        }
        Command::Revoke(revoke) => match (revoke.ids, revoke.from) {
            (Some(path), _) => {
                let format = LineFormat::Ids("sit_");
                let source = open(&path, format)?;
                let op = Op::Revoke { by_hand: true };
                (op, source, Format::Records, count(&path, format))
            }
            (None, Some(path)) => {
                let format = LineFormat::CreatedTokens;
                let source = open(&path, format)?;
                let op = Op::Revoke { by_hand: false };
                (op, source, Format::Records, count(&path, format))
            }
            (None, None) => {
                let n = revoke.token_id.len();
                let source = Source::args(&revoke.token_id, LineFormat::Ids("sit_"));
                (
                    Op::Revoke { by_hand: true },
                    source,
                    single(n),
                    Some(n as u64),
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
    Ok(Prepared {
        plan,
        format,
        total,
        output,
        mend_torn_line,
    })
}

/// Whether stdout is the file at `path` (`--resume FILE >> FILE`).
#[cfg(unix)]
fn is_stdout(path: &Path) -> bool {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::MetadataExt as _;
    let stdout = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|fd| File::from(fd).metadata());
    match (stdout, std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn is_stdout(_path: &Path) -> bool {
    false
}

fn execute(prepared: Prepared) -> ExitCode {
    let Prepared {
        plan,
        format,
        total,
        output,
        mend_torn_line,
    } = prepared;
    let progress = (format == Format::Records && std::io::stderr().is_terminal()).then_some(total);
    let out: Box<dyn Write + Send> = match output {
        Some(file) => Box::new(file),
        None => Box::new(std::io::stdout()),
    };
    let sink = Sink::new(out, format, progress);
    if mend_torn_line {
        sink.end_torn_line();
    }
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
        let name = format!("--secret-key-file {}", path.display());
        let mut text = String::new();
        File::open(path)
            .and_then(|f| f.take(MAX_KEY_FILE_BYTES).read_to_string(&mut text))
            .map_err(|e| format!("{name}: {e}"))?;
        let key = text.lines().next().unwrap_or_default().trim();
        if key.is_empty() {
            return Err(format!("{name}: the file is empty"));
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
