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
use std::io::{IsTerminal as _, Read as _, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use clap::Parser as _;
use clerk_core::{Config, RateLimit};

use crate::args::{Cli, Command};
use crate::input::{LineFormat, Resume, Source};
use crate::output::Sink;
use crate::run::{Op, Plan};

/// The longest secret-key file read.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Runs the program with the process's arguments and environment.
pub fn main() -> ExitCode {
    let (plan, sink) = match prepare(Cli::parse()) {
        Ok(prepared) => prepared,
        Err(message) => {
            note(message);
            return ExitCode::from(2);
        }
    };
    match run::run(plan, &sink) {
        Ok(read_error) => ExitCode::from(sink.finish(read_error.as_ref())),
        Err(message) => {
            sink.finish(None);
            note(message);
            ExitCode::FAILURE
        }
    }
}

fn note(message: String) {
    eprintln!("clerk-sign-in-tokens: {message}");
}

/// Adds what an earlier run's records at `path` show done to `resume`;
/// whether their last line was cut short.
fn read_previous(path: &Path, flag: &str, resume: &mut Resume) -> Result<bool, String> {
    let name = format!("{flag} {}", path.display());
    input::reader(path)
        .and_then(|reader| resume.read(reader, &name, &mut note))
        .map_err(|e| format!("{name}: {e}"))
}

fn prepare(cli: Cli) -> Result<(Plan, Arc<Sink>), String> {
    let (config, default_pacing) = config(cli.secret_key_file.as_deref())?;
    let pacing = (!cli.no_pacing).then(|| cli.rate.unwrap_or(default_pacing));
    let mut resume = Resume::default();
    let mut mend_torn_line = false;
    if let Some(path) = &cli.resume
        && read_previous(path, "--resume", &mut resume)?
    {
        // `--resume FILE >> FILE`: end the torn line before appending.
        mend_torn_line = is_stdout(path);
        if !mend_torn_line {
            note(format!(
                "--resume {}: its last line was cut short: end it with a newline before appending to it",
                path.display()
            ));
        }
    }
    let out: Box<dyn Write + Send> = match &cli.output {
        Some(path) => {
            // Only a regular file is read back: a device such as /dev/full
            // would never end.
            if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
                mend_torn_line |= read_previous(path, "--output", &mut resume)?;
            }
            let file = OpenOptions::new().append(true).create(true).open(path);
            Box::new(file.map_err(|e| format!("--output {}: {e}", path.display()))?)
        }
        None => Box::new(std::io::stdout()),
    };
    let (op, format, path, args) = match cli.command {
        Command::Create(c) => {
            let by_email = !c.email.is_empty() || c.emails.is_some();
            let op = Op::Create {
                expires_in_seconds: c.expires_in_seconds,
                org_id: c.org_id,
                by_email,
            };
            if by_email {
                (op, LineFormat::Emails, c.emails, c.email)
            } else {
                (op, LineFormat::Ids("user_"), c.user_ids, c.user_id)
            }
        }
        Command::Revoke(r) => {
            let by_hand = r.from.is_none();
            let format = if by_hand {
                LineFormat::Ids("sit_")
            } else {
                LineFormat::CreatedTokens
            };
            (Op::Revoke { by_hand }, format, r.ids.or(r.from), r.token_id)
        }
    };
    let terminal = std::io::stderr().is_terminal();
    let (source, total) = match &path {
        Some(path) => (
            Source::open(path, format).map_err(|e| format!("{}: {e}", path.display()))?,
            // The bar's total, where counting consumes no input.
            terminal.then(|| Source::count(path, format)).flatten(),
        ),
        None => (Source::args(&args, format), Some(args.len() as u64)),
    };
    let single = path.is_none() && args.len() == 1 && cli.output.is_none();
    let sink = Sink::new(out, single, (terminal && !single).then_some(total));
    if mend_torn_line {
        sink.end_torn_line();
    }
    // The first Ctrl-C stops the run; the second ends the process.
    let signals = AtomicU32::new(0);
    let handler_sink = Arc::clone(&sink);
    ctrlc::set_handler(move || {
        if signals.fetch_add(1, Ordering::SeqCst) == 0 {
            handler_sink.interrupt();
        } else {
            handler_sink.abort();
        }
    })
    .map_err(|e| format!("could not install the Ctrl-C handler: {e}"))?;
    let plan = Plan {
        op,
        source,
        resume,
        concurrency: usize::from(cli.concurrency),
        pacing,
        runtime: cli.runtime,
        config,
    };
    Ok((plan, sink))
}

/// Whether stdout is the file at `path`.
#[cfg(unix)]
fn is_stdout(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let id = |path: &Path| std::fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
    id(Path::new("/dev/stdout")).is_some_and(|stdout| id(path) == Some(stdout))
}

#[cfg(not(unix))]
fn is_stdout(_path: &Path) -> bool {
    false
}

/// The configuration and the default pacing (half of Clerk's limit for
/// the key's kind) from the secret key, `--secret-key-file`'s first line
/// or `CLERK_SECRET_KEY`, and the optional `CLERK_API_URL`. Messages
/// never contain the key.
fn config(key_file: Option<&Path>) -> Result<(Config, RateLimit), String> {
    let key = match key_file {
        Some(path) => {
            let mut text = String::new();
            File::open(path)
                .and_then(|f| f.take(MAX_KEY_FILE_BYTES).read_to_string(&mut text))
                .map_err(|e| format!("--secret-key-file {}: {e}", path.display()))?;
            let key = text.lines().next().unwrap_or_default().trim().to_owned();
            if key.is_empty() {
                let path = path.display();
                return Err(format!("--secret-key-file {path}: the file is empty"));
            }
            key
        }
        None => std::env::var("CLERK_SECRET_KEY")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    if key.is_empty() {
        return Err("CLERK_SECRET_KEY is not set: export your instance's secret key (sk_test_… or sk_live_…) or pass --secret-key-file FILE".into());
    }
    let mut config = Config::new(&key)
        .and_then(|c| {
            c.with_user_agent_suffix(concat!("clerk-sign-in-tokens/", env!("CARGO_PKG_VERSION")))
        })
        .map_err(|e| e.to_string())?;
    if let Ok(url) = std::env::var("CLERK_API_URL")
        && !url.trim().is_empty()
    {
        config = config
            .with_base_url(&url)
            .map_err(|e| format!("CLERK_API_URL: {e}"))?;
    }
    Ok((config, RateLimit::for_secret_key(&key).divided_among(2)))
}
