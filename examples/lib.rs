//! Helpers shared by the runnable examples: where to send requests, and how
//! to print results without printing credentials.

use std::env;
use std::fmt::Write as _;

use clerk_core::{Config, Error, SignInToken};
use clerk_mock::MockServer;

/// Where the examples send their requests.
#[derive(Debug)]
pub struct Target {
    /// The configuration to build clients from.
    pub config: Config,
    /// The user to mint tokens for.
    pub user_id: String,
    /// The embedded stand-in server, when no real key was given. Dropping it
    /// stops it.
    pub mock: Option<MockServer>,
}

impl Target {
    /// A real Clerk instance when `CLERK_SECRET_KEY` is set (then
    /// `CLERK_USER_ID` names the user and `CLERK_API_URL` may override the
    /// base URL); otherwise the embedded stand-in server with a fresh user.
    ///
    /// # Errors
    /// A message for the operator when the environment is incomplete or invalid.
    pub fn from_env() -> Result<Self, String> {
        match env::var("CLERK_SECRET_KEY") {
            Ok(key) if !key.trim().is_empty() => {
                let user_id = env::var("CLERK_USER_ID").map_err(|_| {
                    "CLERK_SECRET_KEY is set, so this talks to Clerk: set CLERK_USER_ID to the id of \
                     a user of that instance (user_…) as well"
                        .to_owned()
                })?;
                Ok(Self {
                    config: config_from_env(&key)?,
                    user_id,
                    mock: None,
                })
            }
            _ => {
                let mock = MockServer::try_start()
                    .map_err(|e| format!("could not start the stand-in server: {e}"))?;
                let config = Config::new(mock.secret_key())
                    .and_then(|c| c.with_base_url(&mock.base_url()))
                    .map_err(|e| e.to_string())?;
                let user_id = mock.create_user();
                Ok(Self {
                    config,
                    user_id,
                    mock: Some(mock),
                })
            }
        }
    }

    /// One line saying where requests go.
    pub fn describe(&self) -> String {
        match &self.mock {
            Some(_) => format!(
                "the embedded stand-in server at {} (set CLERK_SECRET_KEY to use Clerk)",
                self.config.base_url()
            ),
            None => format!("Clerk at {}", self.config.base_url()),
        }
    }
}

/// A configuration from a secret key and the optional `CLERK_API_URL`.
///
/// # Errors
/// A message naming what is wrong; it never contains the key.
pub fn config_from_env(key: &str) -> Result<Config, String> {
    let config = Config::new(key.trim()).map_err(|e| e.to_string())?;
    match env::var("CLERK_API_URL") {
        Ok(url) if !url.trim().is_empty() => config
            .with_base_url(&url)
            .map_err(|e| format!("CLERK_API_URL: {e}")),
        _ => Ok(config),
    }
}

/// A one-line summary of a token, with the credentials described, not shown.
pub fn summary(token: &SignInToken) -> String {
    let mut line = format!("{} {} for {}", token.id, token.status, token.user_id);
    if let Some(ticket) = &token.token {
        let parts = ticket.expose().split('.').count();
        let _ = write!(
            line,
            ", ticket of {} bytes ({parts} parts, not shown)",
            ticket.expose().len()
        );
    }
    if token.url.is_some() {
        line.push_str(", sign-in URL (not shown)");
    }
    line
}

/// A one-line account of an error, always with the attempts made.
pub fn describe_error(error: &Error) -> String {
    let mut line = error.to_string();
    if error.attempts() <= 1 {
        let _ = write!(
            line,
            " ({} attempt{})",
            error.attempts(),
            if error.attempts() == 1 { "" } else { "s" }
        );
    }
    line
}

/// The README's code blocks that are not marked `ignore`, compiled and run
/// with `cargo test --doc -p clerk-examples`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
