//! The security audit, one test binary. Each module checks one part of
//! `SECURITY.md` against `clerk-core` and all three adapters:
//!
//! - [`redaction`]: the secret key, the sign-in token and its URL never
//!   appear in `Debug` or `Display` of a public type or an error, also when a
//!   reply echoes them back, and a lookup's email addresses in none the SDK
//!   writes;
//! - [`traces`]: nor in anything a TRACE-level subscriber receives, the
//!   `log` records of ureq, reqwest and rustls included (and no email
//!   address of a lookup either);
//! - [`redirects`]: `Authorization` is a sensitive header, and no adapter
//!   follows a redirect, so the key never reaches another host;
//! - [`hostile`]: a hostile server cannot exhaust memory or time; each case
//!   runs in a child process that measures its own peak RSS;
//! - [`injection`]: ids, user ids and email addresses cannot inject a path
//!   segment, a query, a header or a JSON field.

mod hostile;
mod hostile_server;
mod injection;
mod redaction;
mod redirects;
mod traces;

use std::fmt;
use std::time::Duration;

use clerk_core::{
    Config, CreateSignInToken, Error, Operation, RetryPolicy, RevokeSignInToken, SignInToken,
};

/// The three adapters, driven the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Adapter {
    Ureq,
    Reqwest,
    AsyncStd,
}

impl Adapter {
    pub(crate) const ALL: [Adapter; 3] = [Adapter::Ureq, Adapter::Reqwest, Adapter::AsyncStd];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Adapter::Ureq => "clerk-ureq",
            Adapter::Reqwest => "clerk-reqwest",
            Adapter::AsyncStd => "clerk-async-std",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Adapter> {
        Adapter::ALL.into_iter().find(|a| a.name() == name)
    }

    /// This adapter's `Client::new(config)`.
    pub(crate) fn client(self, config: Config) -> AnyClient {
        match self {
            Adapter::Ureq => AnyClient::Ureq(clerk_ureq::Client::new(config).unwrap()),
            Adapter::Reqwest => AnyClient::Reqwest(
                clerk_reqwest::Client::new(config).unwrap(),
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
            Adapter::AsyncStd => AnyClient::AsyncStd(clerk_async_std::Client::new(config).unwrap()),
        }
    }
}

impl fmt::Display for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A client of any adapter, with blocking calls: the async ones block on
/// their runtime (a current-thread tokio runtime for reqwest, smol's
/// `block_on` for async-std).
pub(crate) enum AnyClient {
    Ureq(clerk_ureq::Client),
    Reqwest(clerk_reqwest::Client, tokio::runtime::Runtime),
    AsyncStd(clerk_async_std::Client),
}

impl AnyClient {
    /// Any operation, through the adapter's own `send`.
    pub(crate) fn send<O: Operation>(&self, operation: O) -> Result<O::Output, Error> {
        match self {
            AnyClient::Ureq(c) => c.send(operation),
            AnyClient::Reqwest(c, rt) => rt.block_on(c.send(operation)),
            AnyClient::AsyncStd(c) => smol::block_on(c.send(operation)),
        }
    }

    pub(crate) fn create(&self, request: CreateSignInToken) -> Result<SignInToken, Error> {
        self.send(request)
    }

    pub(crate) fn revoke(&self, sign_in_token_id: &str) -> Result<SignInToken, Error> {
        self.send(RevokeSignInToken::new(sign_in_token_id))
    }

    /// The client's `find_users_by_email` convenience.
    pub(crate) fn find_users_by_email(
        &self,
        addresses: &[&str],
    ) -> Result<Vec<clerk_core::EmailMatch>, Error> {
        match self {
            AnyClient::Ureq(c) => c.find_users_by_email(addresses),
            AnyClient::Reqwest(c, rt) => rt.block_on(c.find_users_by_email(addresses)),
            AnyClient::AsyncStd(c) => smol::block_on(c.find_users_by_email(addresses)),
        }
    }

    /// `Debug` of the adapter's own client type, plain and alternate.
    pub(crate) fn debug(&self) -> String {
        match self {
            AnyClient::Ureq(c) => format!("{c:?} {c:#?}"),
            AnyClient::Reqwest(c, _) => format!("{c:?} {c:#?}"),
            AnyClient::AsyncStd(c) => format!("{c:?} {c:#?}"),
        }
    }
}

/// A configuration for `base_url` with `key`: one attempt, short timeouts.
pub(crate) fn config(base_url: &str, key: &str) -> Config {
    Config::new(key)
        .unwrap()
        .with_base_url(base_url)
        .unwrap()
        .with_retry_policy(RetryPolicy::never())
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5))
}

/// A client of `adapter` for a mock server, with the mock's key.
pub(crate) fn client_for(adapter: Adapter, mock: &clerk_mock::MockServer) -> AnyClient {
    adapter.client(config(&mock.base_url(), mock.secret_key()))
}

/// The credentials one test watches for, each with a name for reports.
#[derive(Clone, Debug, Default)]
pub(crate) struct Secrets(Vec<(String, String)>);

impl Secrets {
    /// Watches for `value` (ignored when shorter than 8 bytes: too short to
    /// be told apart from ordinary text).
    pub(crate) fn add(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        if value.len() >= 8 && !self.0.iter().any(|(_, v)| *v == value) {
            self.0.push((name.into(), value));
        }
    }

    /// Watches for a secret key: whole, and its part after `sk_test_`.
    pub(crate) fn add_key(&mut self, key: &str) {
        self.add("secret key", key);
        if let Some(rest) = key.strip_prefix("sk_test_") {
            self.add("secret key (without its prefix)", rest);
        }
    }

    /// Watches for a ticket: whole, its signature (the last of its three
    /// parts), and the URL that embeds it.
    pub(crate) fn add_ticket(&mut self, token: &str, url: Option<&str>) {
        self.add("sign-in token", token);
        if let Some(signature) = token.rsplit('.').next().filter(|s| *s != token) {
            self.add("sign-in token's signature", signature);
        }
        if let Some(url) = url {
            self.add("sign-in token URL", url);
        }
    }

    /// Watches for the credentials of a token a call returned.
    pub(crate) fn add_token(&mut self, token: &SignInToken) {
        if let Some(ticket) = &token.token {
            self.add_ticket(ticket.expose(), token.url.as_ref().map(|u| u.expose()));
        } else if let Some(url) = &token.url {
            self.add("sign-in token URL", url.expose());
        }
    }

    /// Watches for the credentials of every token a mock issued.
    pub(crate) fn add_mock_tokens(&mut self, mock: &clerk_mock::MockServer) {
        for token in mock.tokens() {
            self.add_ticket(&token.token, Some(&token.url));
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The names of the secrets `text` contains.
    pub(crate) fn found_in(&self, text: &str) -> Vec<&str> {
        self.iter()
            .filter(|(_, value)| text.contains(value))
            .map(|(name, _)| name)
            .collect()
    }
}

/// `Display` and `Debug` (plain and alternate) of an error and of every
/// error in its `source()` chain, each with a label.
pub(crate) fn error_texts(error: &(dyn std::error::Error + 'static)) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut next = Some(error);
    let mut depth = 0;
    while let Some(e) = next {
        out.push((format!("Display of source #{depth}"), e.to_string()));
        out.push((format!("Debug of source #{depth}"), format!("{e:?}")));
        out.push((
            format!("alternate Debug of source #{depth}"),
            format!("{e:#?}"),
        ));
        next = e.source();
        depth += 1;
    }
    out
}

/// A short form of an error's kind, for tables: `Transport(Timeout)`,
/// `Decode(Syntax)`, `UnexpectedResponse(422)`, `Api(404)`, `InvalidRequest`.
pub(crate) fn kind_of(error: &Error) -> String {
    use clerk_core::ErrorKind;
    match error.kind() {
        ErrorKind::Api(e) => format!("Api({})", e.status.as_u16()),
        ErrorKind::UnexpectedResponse(e) => format!("UnexpectedResponse({})", e.status.as_u16()),
        ErrorKind::Decode(e) => format!("Decode({:?})", e.category),
        ErrorKind::InvalidRequest(e) => format!("InvalidRequest({})", e.argument),
        ErrorKind::Transport(e) => format!("Transport({:?})", e.kind),
        _ => "unknown".to_owned(),
    }
}
