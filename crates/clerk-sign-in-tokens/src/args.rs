//! The command line, parsed by clap.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use clerk_core::RateLimit;

const EXAMPLES: &str = "\
The secret key comes from CLERK_SECRET_KEY or --secret-key-file, never from an
argument. CLERK_API_URL overrides the base URL (https://api.clerk.com/v1).

Pacing: by default calls start at half of Clerk's documented limit for the
key's kind, 50 per 10 s for sk_test_ keys and 500 per 10 s for sk_live_ keys,
leaving the other half to the applications that share the key. --rate takes
more (or less); a 429 holds every call until the moment Clerk names.

Examples:
  # One token: the token as one JSON object on stdout.
  clerk-sign-in-tokens create --user-id user_123 --expires-in-seconds 600

  # A token for every user in a file (one id a line, # comments), into a file.
  clerk-sign-in-tokens create --user-ids users.txt --output minted.jsonl

  # Interrupted, killed, disk full? Run the same command again: --output
  # reads what FILE already holds, skips every user who got a token, mends a
  # last line cut short, and appends the rest.
  clerk-sign-in-tokens create --user-ids users.txt --output minted.jsonl

  # The same with stdout (--resume reads FILE; appending to it is safe).
  clerk-sign-in-tokens create --user-ids users.txt --resume minted.jsonl >> minted.jsonl

  # By email address: users are looked up 100 addresses a request; an
  # address no user (or several users) has is a failed record, nothing minted.
  clerk-sign-in-tokens create --emails addresses.txt --output minted.jsonl

  # Revoke everything that batch minted (run again: it finishes, exit 0).
  clerk-sign-in-tokens revoke --from minted.jsonl --output revoked.jsonl

  # Revoke a few tokens, a quarter of a production key's limit.
  clerk-sign-in-tokens --rate 250/10 revoke sit_1 sit_2 sit_3

Exit status: 0 all succeeded, 1 some failed (or a token could not be
written: it is revoked and named on stderr), 2 usage error, 130 interrupted.";

/// Mint and revoke Clerk sign-in tokens, one or in bulk.
///
/// Bulk runs write one JSON Lines record per input line on stdout as each
/// call completes, flushed line by line, and a summary on stderr. A single
/// `create --user-id ID` or `revoke TOKEN_ID` prints the token itself as one
/// JSON object, or one line on stderr.
#[derive(Debug, Parser)]
#[command(name = "clerk-sign-in-tokens", version, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// The adapter that sends the requests.
    #[arg(long, value_enum, default_value_t = Runtime::Ureq, global = true)]
    pub(crate) runtime: Runtime,
    /// Read the secret key from this file (first line) instead of
    /// CLERK_SECRET_KEY.
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) secret_key_file: Option<PathBuf>,
    /// Calls in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8, global = true,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) concurrency: u16,
    /// Start at most N calls per SECONDS. Default: half of Clerk's
    /// documented limit for the key's kind, 50/10 for sk_test_ keys,
    /// 500/10 for sk_live_ keys.
    #[arg(long, value_name = "N/SECONDS", global = true, value_parser = parse_rate)]
    pub(crate) rate: Option<RateLimit>,
    /// Do not pace: start calls as fast as --concurrency allows (a 429
    /// still holds every call until the moment Clerk names).
    #[arg(long, global = true, conflicts_with = "rate")]
    pub(crate) no_pacing: bool,
    /// An earlier run's output: skip what it shows done (a token minted,
    /// a token revoked). Its last line may be cut short.
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) resume: Option<PathBuf>,
    /// Append the records to FILE instead of stdout, after skipping what
    /// FILE already shows done and mending a last line cut short: running
    /// the same command again finishes the job.
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) output: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Runtime {
    /// clerk-ureq, blocking, one thread per call in flight; the host is
    /// looked up only when a new connection is opened.
    Ureq,
    /// clerk-reqwest on tokio.
    Reqwest,
    /// clerk-async-std.
    AsyncStd,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create sign-in tokens.
    Create(CreateArgs),
    /// Revoke pending sign-in tokens.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("input").required(true).args(["user_id", "user_ids", "email", "emails"])))]
pub(crate) struct CreateArgs {
    /// A user to mint a token for (repeatable).
    #[arg(long = "user-id", value_name = "ID")]
    pub(crate) user_id: Vec<String>,
    /// A file of user ids, one a line (`-` for stdin); blank lines and
    /// lines starting with `#` are skipped.
    #[arg(long = "user-ids", value_name = "FILE")]
    pub(crate) user_ids: Option<PathBuf>,
    /// A user to mint a token for, by email address (repeatable). Looked
    /// up first (at most 100 addresses a request, paced like every call);
    /// an address no user or several users have is a failed record.
    #[arg(long = "email", value_name = "ADDRESS")]
    pub(crate) email: Vec<String>,
    /// A file of email addresses, one a line (`-` for stdin); blank lines
    /// and lines starting with `#` are skipped.
    #[arg(long = "emails", value_name = "FILE")]
    pub(crate) emails: Option<PathBuf>,
    /// The tokens' lifetime, in seconds (Clerk's default: 30 days).
    #[arg(long, value_name = "N")]
    pub(crate) expires_in_seconds: Option<u64>,
    /// The organization to activate when the user signs in.
    #[arg(long, value_name = "ID")]
    pub(crate) org_id: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("input").required(true).args(["token_id", "ids", "from"])))]
pub(crate) struct RevokeArgs {
    /// Sign-in token ids (`sit_…`).
    #[arg(value_name = "TOKEN_ID")]
    pub(crate) token_id: Vec<String>,
    /// A file of token ids, one a line (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) ids: Option<PathBuf>,
    /// The JSON Lines output of an earlier bulk create (`-` for stdin):
    /// revoke every token it minted.
    #[arg(long, value_name = "FILE")]
    pub(crate) from: Option<PathBuf>,
}

/// `N/SECONDS`, such as `250/10` or `5/1.5`.
fn parse_rate(text: &str) -> Result<RateLimit, String> {
    let (n, seconds) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not N/SECONDS, such as 100/10"))?;
    let Some(n) = n.trim().parse().ok().filter(|n: &u32| *n > 0) else {
        return Err(format!("`{n}` is not a positive whole number of requests"));
    };
    match seconds.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
            Ok(RateLimit::new(n, Duration::from_secs_f64(s)))
        }
        _ => Err(format!(
            "`{seconds}` is not a number of seconds in (0, 86400]"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rates_parse() {
        let r = parse_rate("250/10").unwrap();
        assert_eq!((r.requests(), r.window()), (250, Duration::from_secs(10)));
        let r = parse_rate("5/0.5").unwrap();
        assert_eq!((r.requests(), r.window()), (5, Duration::from_millis(500)));
        for bad in [
            "", "10", "0/10", "10/0", "10/-1", "x/1", "1/inf", "1/NaN", "1/100000",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
