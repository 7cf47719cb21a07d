//! Everything a client needs to know before it sends anything.

use std::fmt;
use std::time::Duration;

use http::header::HeaderValue;
use http::uri::{Scheme, Uri};

use crate::error::Error;
use crate::gate::{Gate, RateLimit};
use crate::retry::RetryPolicy;

/// Where Clerk's Backend API lives.
pub const DEFAULT_BASE_URL: &str = "https://api.clerk.com/v1";

/// The dated API version this crate was written and tested against, sent as
/// the `Clerk-API-Version` header unless the caller pins another.
pub const DEFAULT_API_VERSION: &str = "2026-05-12";

/// The `User-Agent` product token of this crate; adapters append their own.
pub const USER_AGENT: &str = concat!("clerk-core/", env!("CARGO_PKG_VERSION"));

/// The default cap on a response body, in bytes. A sign-in token is about
/// 400 bytes and Clerk's error bodies are smaller still; 256 KiB leaves room
/// for an edge proxy's HTML error page while bounding what a hostile server
/// can make a client buffer.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// The default time allowed to establish a connection (TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default time allowed for one attempt, from sending the request to the
/// last byte of the response body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The settings of a client: credentials, where to send requests, and the
/// limits every adapter applies.
///
/// One `Config` configures every adapter the same way. The core reads the
/// key, the URL, the version and the user agent; the adapters read the
/// timeouts and the body cap; the retry driver reads the policy.
///
/// The secret key is turned into the `Authorization` header value once, at
/// construction, and that value is marked sensitive: neither this type's
/// `Debug` nor a built request's `Debug` prints it, and no error message
/// contains it.
///
/// ```
/// use std::time::Duration;
/// use clerk_core::Config;
///
/// let config = Config::new("sk_test_example")?
///     .with_base_url("https://proxy.internal/clerk/v1")?
///     .with_timeout(Duration::from_secs(5));
/// assert_eq!(config.base_url(), "https://proxy.internal/clerk/v1");
/// assert!(!format!("{config:?}").contains("sk_test_example"));
/// # Ok::<(), clerk_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    authorization: HeaderValue,
    base_url: String,
    api_version: HeaderValue,
    user_agent: HeaderValue,
    retry_policy: RetryPolicy,
    connect_timeout: Duration,
    timeout: Duration,
    max_body_bytes: usize,
    rate_limit_gate: bool,
    pacing: Option<RateLimit>,
}

impl Config {
    /// A configuration for the given secret key (`sk_test_…` or `sk_live_…`),
    /// with every other setting at its default.
    ///
    /// # Errors
    /// An [invalid-request](crate::ErrorKind::InvalidRequest) error naming the
    /// argument `secret_key` when the key is empty or holds characters that
    /// cannot travel in an HTTP header (whitespace, control characters,
    /// non-ASCII). The message never contains the key.
    pub fn new(secret_key: impl AsRef<str>) -> Result<Self, Error> {
        let key = secret_key.as_ref();
        if key.is_empty() {
            return Err(Error::invalid_request("secret_key", "must not be empty"));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid_request(
                "secret_key",
                "must be printable ASCII without whitespace",
            ));
        }
        let mut value = String::with_capacity(7 + key.len());
        value.push_str("Bearer ");
        value.push_str(key);
        let mut authorization = HeaderValue::try_from(value)
            .map_err(|_| Error::invalid_request("secret_key", "is not a valid header value"))?;
        authorization.set_sensitive(true);
        Ok(Self {
            authorization,
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_version: HeaderValue::from_static(DEFAULT_API_VERSION),
            user_agent: HeaderValue::from_static(USER_AGENT),
            retry_policy: RetryPolicy::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            rate_limit_gate: true,
            pacing: None,
        })
    }

    /// Sends requests to another base URL: any `http` or `https` URL, with an
    /// optional path prefix (`http://127.0.0.1:4010`,
    /// `https://proxy.internal/clerk/v1`). A trailing `/` is ignored.
    ///
    /// # Errors
    /// An invalid-request error naming `base_url` when the URL does not parse,
    /// its scheme is not `http` or `https`, it has no host, it carries
    /// credentials (`user:pass@`), a query or a fragment.
    pub fn with_base_url(mut self, base_url: &str) -> Result<Self, Error> {
        self.base_url = normalize_base_url(base_url)?;
        Ok(self)
    }

    /// Pins another `Clerk-API-Version` (a date such as `2025-11-10`).
    ///
    /// # Errors
    /// An invalid-request error naming `api_version` when the value is empty
    /// or cannot be a header value.
    pub fn with_api_version(mut self, api_version: &str) -> Result<Self, Error> {
        let trimmed = api_version.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid_request("api_version", "must not be empty"));
        }
        self.api_version = HeaderValue::try_from(trimmed)
            .map_err(|_| Error::invalid_request("api_version", "is not a valid header value"))?;
        Ok(self)
    }

    /// Appends a product token (such as `my-app/1.2`) to the `User-Agent`.
    /// Adapters use this to add their own name; applications may too.
    ///
    /// A token the `User-Agent` already holds is not added again, so a
    /// client's [`config`](Self) handed to another client, or the same
    /// suffix set twice, leaves one copy:
    ///
    /// ```
    /// use clerk_core::Config;
    ///
    /// let once = Config::new("sk_test_x")?.with_user_agent_suffix("my-app/1.2")?;
    /// let twice = once.clone().with_user_agent_suffix("my-app/1.2")?;
    /// assert_eq!(once.user_agent(), twice.user_agent());
    /// # Ok::<(), clerk_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// An invalid-request error naming `user_agent` when the token is empty
    /// or cannot be part of a header value.
    pub fn with_user_agent_suffix(mut self, product: &str) -> Result<Self, Error> {
        let product = product.trim();
        if product.is_empty() {
            return Err(Error::invalid_request("user_agent", "must not be empty"));
        }
        if has_product(self.user_agent.as_bytes(), product.as_bytes()) {
            return Ok(self);
        }
        let mut value = Vec::with_capacity(self.user_agent.len() + 1 + product.len());
        value.extend_from_slice(self.user_agent.as_bytes());
        value.push(b' ');
        value.extend_from_slice(product.as_bytes());
        self.user_agent = HeaderValue::from_bytes(&value)
            .map_err(|_| Error::invalid_request("user_agent", "is not a valid header value"))?;
        Ok(self)
    }

    /// Replaces the retry policy.
    #[must_use]
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// Sets the time allowed to establish a connection.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the time allowed for one attempt, request sent to body read.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the largest response body an adapter reads; a longer one ends the
    /// attempt with a transport error of kind
    /// [`BodyTooLarge`](crate::TransportErrorKind::BodyTooLarge).
    #[must_use]
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Turns the client-wide rate-limit gate on (the default) or off: when a
    /// reply says "not before T" (a 429, or a 503 with `Retry-After`), every
    /// call of the client and its clones holds its next attempt until T,
    /// instead of each earning its own 429, and then goes at the rate the
    /// server showed, a rate that grows each window until no call waits for
    /// it ([the release](crate::gate#the-release)). A 503's hold, and that of
    /// a reply not in Clerk's error shape, lasts at most the policy's
    /// [`max_retry_after`](crate::RetryPolicy::max_retry_after). Off, each
    /// call meets the limit on its own. See [`Gate`](crate::Gate).
    #[must_use]
    pub fn with_rate_limit_gate(mut self, on: bool) -> Self {
        self.rate_limit_gate = on;
        self
    }

    /// Paces the client: at most `limit`'s requests started in any window
    /// of its length, across the client and its clones; `None` (the
    /// default) turns pacing off. Clerk counts every request of the
    /// instance, from every process: pacing one client is a share of the
    /// limit you choose (see [`gate`](crate::gate)).
    ///
    /// ```
    /// use clerk_core::{Config, RateLimit};
    ///
    /// let key = "sk_test_example";
    /// let config = Config::new(key)?.with_pacing(RateLimit::for_secret_key(key));
    /// assert_eq!(config.pacing(), Some(RateLimit::clerk_development()));
    /// assert_eq!(config.with_pacing(None).pacing(), None);
    /// # Ok::<(), clerk_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_pacing(mut self, limit: impl Into<Option<RateLimit>>) -> Self {
        self.pacing = limit.into();
        self
    }

    /// Whether the client-wide rate-limit hold is on.
    pub fn rate_limit_gate(&self) -> bool {
        self.rate_limit_gate
    }

    /// The pacing, if any.
    pub fn pacing(&self) -> Option<RateLimit> {
        self.pacing
    }

    /// A new [`Gate`] for a client built from this configuration: holding
    /// when [`rate_limit_gate`](Self::rate_limit_gate) is on, pacing to
    /// [`pacing`](Self::pacing). A client keeps one and shares it with its
    /// clones.
    pub fn new_gate(&self) -> Gate {
        Gate::new(self.rate_limit_gate, self.pacing)
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The `Clerk-API-Version` header value.
    pub fn api_version(&self) -> &HeaderValue {
        &self.api_version
    }

    /// The `User-Agent` header value.
    pub fn user_agent(&self) -> &HeaderValue {
        &self.user_agent
    }

    /// The `Authorization` header value, marked sensitive.
    pub fn authorization(&self) -> &HeaderValue {
        &self.authorization
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry_policy
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The response body cap, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }
}

/// Whether `product` stands in the `User-Agent` as whole space-separated
/// words (at the start, the end, or between two spaces).
fn has_product(user_agent: &[u8], product: &[u8]) -> bool {
    user_agent
        .windows(product.len())
        .enumerate()
        .any(|(at, window)| {
            let before = at.checked_sub(1).and_then(|i| user_agent.get(i));
            let after = user_agent.get(at + product.len());
            window == product
                && before.is_none_or(|&b| b == b' ')
                && after.is_none_or(|&b| b == b' ')
        })
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("secret_key", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("user_agent", &self.user_agent)
            .field("retry_policy", &self.retry_policy)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("rate_limit_gate", &self.rate_limit_gate)
            .field("pacing", &self.pacing)
            .finish()
    }
}

fn normalize_base_url(input: &str) -> Result<String, Error> {
    let bad = |reason: &'static str| Error::invalid_request("base_url", reason);
    let input = input.trim();
    // `http::Uri` drops a fragment silently; refuse it instead.
    if input.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    let uri = Uri::try_from(input).map_err(|_| bad("is not a valid URL"))?;
    let scheme = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => "https",
        Some(s) if *s == Scheme::HTTP => "http",
        Some(_) => return Err(bad("scheme must be http or https")),
        None => return Err(bad("must be an absolute http or https URL")),
    };
    let authority = uri.authority().ok_or_else(|| bad("must name a host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("must not carry credentials"));
    }
    if authority.host().is_empty() {
        return Err(bad("must name a host"));
    }
    if uri.query().is_some() {
        return Err(bad("must not contain a query"));
    }
    let path = uri.path().trim_end_matches('/');
    let mut out = String::with_capacity(scheme.len() + 3 + authority.as_str().len() + path.len());
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(authority.as_str());
    out.push_str(path);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::new("sk_test_abc").unwrap();
        assert_eq!(c.base_url(), DEFAULT_BASE_URL);
        assert_eq!(c.api_version(), "2026-05-12");
        assert_eq!(c.user_agent().to_str().unwrap(), USER_AGENT);
        assert!(USER_AGENT.starts_with("clerk-core/"));
        assert!(c.authorization().is_sensitive());
        assert_eq!(c.authorization(), "Bearer sk_test_abc");
    }

    #[test]
    fn key_never_in_debug_or_errors() {
        let c = Config::new("sk_test_supersecret").unwrap();
        assert!(!format!("{c:?}").contains("supersecret"));
        assert!(!format!("{c:#?}").contains("supersecret"));
        let e = Config::new("sk_test_super secret").unwrap_err();
        assert!(!e.to_string().contains("super"));
        assert!(!format!("{e:?}").contains("super"));
    }

    #[test]
    fn bad_keys_are_refused() {
        for key in ["", " ", "sk_test_\r\nX-Injected: 1", "sk_test_é", "sk\0"] {
            let e = Config::new(key).unwrap_err();
            assert_eq!(e.invalid_argument(), Some("secret_key"), "{key:?}");
        }
    }

    #[test]
    fn base_urls() {
        let ok = [
            ("http://127.0.0.1:4010", "http://127.0.0.1:4010"),
            ("http://127.0.0.1:4010/", "http://127.0.0.1:4010"),
            (
                "https://proxy.internal/clerk/v1/",
                "https://proxy.internal/clerk/v1",
            ),
            ("HTTPS://api.clerk.com/v1", "https://api.clerk.com/v1"),
            ("http://[::1]:8080/v1", "http://[::1]:8080/v1"),
        ];
        for (input, want) in ok {
            let c = Config::new("sk_test_x")
                .unwrap()
                .with_base_url(input)
                .unwrap();
            assert_eq!(c.base_url(), want, "{input}");
        }
        let bad = [
            "",
            "api.clerk.com/v1",
            "ftp://api.clerk.com/v1",
            "https://user:pw@api.clerk.com/v1",
            "https://api.clerk.com/v1?x=1",
            "https://api.clerk.com/v1#frag",
            "https:///v1",
            "/v1",
            "https://api.clerk.com/v 1",
        ];
        for input in bad {
            let e = Config::new("sk_test_x")
                .unwrap()
                .with_base_url(input)
                .unwrap_err();
            assert_eq!(e.invalid_argument(), Some("base_url"), "{input}");
        }
    }

    #[test]
    fn api_version_and_user_agent() {
        let c = Config::new("sk_test_x")
            .unwrap()
            .with_api_version("2025-11-10")
            .unwrap()
            .with_user_agent_suffix("clerk-ureq/0.1.0")
            .unwrap();
        assert_eq!(c.api_version(), "2025-11-10");
        assert_eq!(
            c.user_agent().to_str().unwrap(),
            format!("{USER_AGENT} clerk-ureq/0.1.0")
        );
        // Reusing a client's config for another client adds nothing twice.
        let again = c
            .clone()
            .with_user_agent_suffix("clerk-ureq/0.1.0")
            .unwrap();
        assert_eq!(again.user_agent(), c.user_agent());
        let other = c.clone().with_user_agent_suffix("clerk-ureq/0.1").unwrap();
        assert_eq!(
            other.user_agent().to_str().unwrap(),
            format!("{USER_AGENT} clerk-ureq/0.1.0 clerk-ureq/0.1")
        );
        let core = c.clone().with_user_agent_suffix(USER_AGENT).unwrap();
        assert_eq!(core.user_agent(), c.user_agent());
        let c = Config::new("sk_test_x").unwrap();
        assert!(c.clone().with_api_version("").is_err());
        assert!(c.clone().with_api_version("2025\n").is_ok());
        assert!(c.clone().with_api_version("20\r\n25").is_err());
        assert!(c.clone().with_user_agent_suffix("a\nb").is_err());
        assert!(c.with_user_agent_suffix("  ").is_err());
    }
}
