//! The two sign-in token operations: create and revoke.

use std::time::Duration;

use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
    USER_AGENT,
};
use http::{Method, Request, Response, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use crate::config::Config;
use crate::error::Error;
use crate::model::{SIGN_IN_TOKEN_FIELDS, SignInToken};
use crate::operation::{Idempotency, Operation};
use crate::response::parse_json_response_naming;

/// The request header that pins the API version.
pub static CLERK_API_VERSION: HeaderName = HeaderName::from_static("clerk-api-version");

/// Everything outside RFC 3986's unreserved set is percent-encoded in a path
/// segment, so no id can add a `/`, `?` or `#`, or smuggle a `%`.
pub(crate) const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Creates a sign-in token for a user: `POST /sign_in_tokens`.
///
/// Only what was set is sent: the JSON body always has `user_id`, and has
/// `expires_in_seconds` and `org_id` only when given.
///
/// ```
/// use std::time::Duration;
/// use clerk_core::{Config, CreateSignInToken, Operation};
///
/// let config = Config::new("sk_test_example")?;
/// let request = CreateSignInToken::new("user_26Ect5GuCCeaFWwSDiiKcgAGtVk")
///     .with_expires_in(Duration::from_secs(3600))
///     .build_request(&config)?;
/// assert_eq!(request.uri(), "https://api.clerk.com/v1/sign_in_tokens");
/// assert_eq!(
///     request.body().as_slice(),
///     br#"{"user_id":"user_26Ect5GuCCeaFWwSDiiKcgAGtVk","expires_in_seconds":3600}"#
/// );
/// // The key is in the request, but never in its Debug.
/// assert!(!format!("{request:?}").contains("sk_test_example"));
/// # Ok::<(), clerk_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateSignInToken {
    user_id: String,
    expires_in: Option<Duration>,
    org_id: Option<String>,
}

impl CreateSignInToken {
    /// A token for this user, with Clerk's default lifetime (30 days) and no
    /// organization.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            expires_in: None,
            org_id: None,
        }
    }

    /// Sets the lifetime. Clerk counts whole seconds: a fractional part is
    /// dropped (a credential lives no longer than asked), and a lifetime
    /// under one second is refused when the request is built.
    #[must_use]
    pub fn with_expires_in(mut self, lifetime: Duration) -> Self {
        self.expires_in = Some(lifetime);
        self
    }

    /// Sets the lifetime in seconds; 0 is refused when the request is built.
    #[must_use]
    pub fn with_expires_in_seconds(self, seconds: u64) -> Self {
        self.with_expires_in(Duration::from_secs(seconds))
    }

    /// Names the organization to activate when the user signs in.
    /// Organizations must be enabled and the user a member.
    #[must_use]
    pub fn with_org_id(mut self, org_id: impl Into<String>) -> Self {
        self.org_id = Some(org_id.into());
        self
    }

    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The lifetime, as set by [`with_expires_in`](Self::with_expires_in)
    /// or [`with_expires_in_seconds`](Self::with_expires_in_seconds).
    pub fn expires_in(&self) -> Option<Duration> {
        self.expires_in
    }

    /// The organization id, as set by [`with_org_id`](Self::with_org_id).
    pub fn org_id(&self) -> Option<&str> {
        self.org_id.as_deref()
    }
}

#[derive(Serialize)]
struct CreateBody<'a> {
    user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<&'a str>,
}

impl Operation for CreateSignInToken {
    type Output = SignInToken;
    const NAME: &'static str = "create_sign_in_token";

    fn build_request(&self, config: &Config) -> Result<Request<Vec<u8>>, Error> {
        if self.user_id.is_empty() {
            return Err(Error::invalid_request("user_id", "must not be empty"));
        }
        let expires_in_seconds = match self.expires_in {
            None => None,
            Some(d) if d.as_secs() == 0 => {
                return Err(Error::invalid_request(
                    "expires_in_seconds",
                    "must be at least 1 second",
                ));
            }
            Some(d) if d.as_secs() > i64::MAX as u64 => {
                return Err(Error::invalid_request(
                    "expires_in_seconds",
                    "is too large to send",
                ));
            }
            Some(d) => Some(d.as_secs()),
        };
        if self.org_id.as_deref() == Some("") {
            return Err(Error::invalid_request(
                "org_id",
                "must not be empty when given",
            ));
        }
        let body = serde_json::to_vec(&CreateBody {
            user_id: &self.user_id,
            expires_in_seconds,
            org_id: self.org_id.as_deref(),
        })
        .map_err(|_| Error::invalid_request("user_id", "cannot be encoded as JSON"))?;
        let mut url = String::with_capacity(config.base_url().len() + 16);
        url.push_str(config.base_url());
        url.push_str("/sign_in_tokens");
        build(config, Method::POST, url, Body::Json(body))
    }

    fn parse_response<B: AsRef<[u8]>>(&self, response: &Response<B>) -> Result<SignInToken, Error> {
        parse_json_response_naming(response, SIGN_IN_TOKEN_FIELDS)
    }

    fn idempotency(&self) -> Idempotency {
        Idempotency::NonIdempotent
    }
}

/// Revokes a pending sign-in token: `POST /sign_in_tokens/{id}/revoke`.
///
/// The id becomes exactly one percent-encoded path segment: whatever it
/// holds (`/`, `?`, `#`, `%`, spaces, control characters, non-ASCII), the
/// request goes to the revoke route of that one id. The empty id and the dot
/// segments `.` and `..` (which no encoding makes safe from servers that
/// normalise paths) are refused before sending.
///
/// Revoke is treated as idempotent for retries. One consequence to know: if
/// an attempt revoked the token but its reply was lost, the retry gets 400
/// `sign_in_token_cannot_be_revoked_code`; [`Error::attempts`] is then above 1.
///
/// ```
/// use clerk_core::{Config, Operation, RevokeSignInToken};
///
/// let config = Config::new("sk_test_example")?;
/// let request = RevokeSignInToken::new("sit_1/../x?y").build_request(&config)?;
/// assert_eq!(
///     request.uri(),
///     "https://api.clerk.com/v1/sign_in_tokens/sit_1%2F..%2Fx%3Fy/revoke"
/// );
/// # Ok::<(), clerk_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokeSignInToken {
    sign_in_token_id: String,
}

impl RevokeSignInToken {
    /// Revokes the token with this id.
    pub fn new(sign_in_token_id: impl Into<String>) -> Self {
        Self {
            sign_in_token_id: sign_in_token_id.into(),
        }
    }

    /// The token id.
    pub fn sign_in_token_id(&self) -> &str {
        &self.sign_in_token_id
    }
}

impl Operation for RevokeSignInToken {
    type Output = SignInToken;
    const NAME: &'static str = "revoke_sign_in_token";

    fn build_request(&self, config: &Config) -> Result<Request<Vec<u8>>, Error> {
        let id = self.sign_in_token_id.as_str();
        if id.is_empty() {
            return Err(Error::invalid_request(
                "sign_in_token_id",
                "must not be empty",
            ));
        }
        if id == "." || id == ".." {
            return Err(Error::invalid_request(
                "sign_in_token_id",
                "must not be a dot segment",
            ));
        }
        let mut url = String::with_capacity(config.base_url().len() + 24 + id.len() * 3);
        url.push_str(config.base_url());
        url.push_str("/sign_in_tokens/");
        url.extend(utf8_percent_encode(id, SEGMENT));
        url.push_str("/revoke");
        build(config, Method::POST, url, Body::Empty)
    }

    fn parse_response<B: AsRef<[u8]>>(&self, response: &Response<B>) -> Result<SignInToken, Error> {
        parse_json_response_naming(response, SIGN_IN_TOKEN_FIELDS)
    }

    fn idempotency(&self) -> Idempotency {
        Idempotency::Idempotent
    }
}

/// What a request carries after its head.
pub(crate) enum Body {
    /// Nothing, and no framing header: a GET.
    None,
    /// An empty body, said with `Content-Length: 0`: a POST without one.
    Empty,
    /// A JSON document.
    Json(Vec<u8>),
}

/// A request with the headers every operation sends.
pub(crate) fn build(
    config: &Config,
    method: Method,
    url: String,
    body: Body,
) -> Result<Request<Vec<u8>>, Error> {
    let uri = Uri::try_from(url)
        .map_err(|_| Error::invalid_request("base_url", "does not form a valid URL"))?;
    let mut headers = HeaderMap::with_capacity(6);
    headers.insert(AUTHORIZATION, config.authorization().clone());
    headers.insert(CLERK_API_VERSION.clone(), config.api_version().clone());
    headers.insert(USER_AGENT, config.user_agent().clone());
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let body = match body {
        // A GET has no body and says nothing of one (RFC 9110 §8.6: a user
        // agent should not send `Content-Length` when the method defines
        // no meaning for a body).
        Body::None => Vec::new(),
        Body::Empty => {
            // A POST without a body still says so (RFC 9110 §8.6): some
            // proxies answer 411 otherwise, and hyper-based clients send no
            // framing header at all for an empty body.
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
            Vec::new()
        }
        Body::Json(json) => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            json
        }
    };
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::new("sk_test_123").unwrap()
    }

    #[test]
    fn create_request_shape() {
        let r = CreateSignInToken::new("user_1")
            .build_request(&config())
            .unwrap();
        assert_eq!(r.method(), Method::POST);
        assert_eq!(r.uri(), "https://api.clerk.com/v1/sign_in_tokens");
        assert_eq!(r.headers()["authorization"], "Bearer sk_test_123");
        assert!(r.headers()["authorization"].is_sensitive());
        assert_eq!(r.headers()["clerk-api-version"], "2026-05-12");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["accept"], "application/json");
        assert!(
            r.headers()["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("clerk-core/")
        );
        assert_eq!(r.body().as_slice(), br#"{"user_id":"user_1"}"#);
        assert!(!format!("{r:?}").contains("sk_test_123"));
    }

    #[test]
    fn create_body_carries_only_what_was_set() {
        let cases = [
            (CreateSignInToken::new("u"), r#"{"user_id":"u"}"#),
            (
                CreateSignInToken::new("u").with_expires_in_seconds(60),
                r#"{"user_id":"u","expires_in_seconds":60}"#,
            ),
            (
                CreateSignInToken::new("u").with_org_id("org_1"),
                r#"{"user_id":"u","org_id":"org_1"}"#,
            ),
            (
                CreateSignInToken::new("u\"\n")
                    .with_expires_in(Duration::from_millis(1999))
                    .with_org_id("o"),
                r#"{"user_id":"u\"\n","expires_in_seconds":1,"org_id":"o"}"#,
            ),
        ];
        for (op, want) in cases {
            let r = op.build_request(&config()).unwrap();
            assert_eq!(std::str::from_utf8(r.body()).unwrap(), want);
        }
    }

    #[test]
    fn create_arguments_are_checked() {
        let c = config();
        let arg = |op: CreateSignInToken| op.build_request(&c).unwrap_err().invalid_argument();
        assert_eq!(arg(CreateSignInToken::new("")), Some("user_id"));
        assert_eq!(
            arg(CreateSignInToken::new("u").with_expires_in_seconds(0)),
            Some("expires_in_seconds")
        );
        assert_eq!(
            arg(CreateSignInToken::new("u").with_expires_in(Duration::from_millis(999))),
            Some("expires_in_seconds")
        );
        assert_eq!(
            arg(CreateSignInToken::new("u").with_expires_in_seconds(u64::MAX)),
            Some("expires_in_seconds")
        );
        assert_eq!(
            arg(CreateSignInToken::new("u").with_org_id("")),
            Some("org_id")
        );
        assert!(
            CreateSignInToken::new("u")
                .with_expires_in_seconds(i64::MAX as u64)
                .build_request(&c)
                .is_ok()
        );
    }

    #[test]
    fn revoke_request_shape() {
        let r = RevokeSignInToken::new("sit_26Ed5ZqqJcOjRwecRQij2ZovDdG")
            .build_request(&config())
            .unwrap();
        assert_eq!(r.method(), Method::POST);
        assert_eq!(
            r.uri(),
            "https://api.clerk.com/v1/sign_in_tokens/sit_26Ed5ZqqJcOjRwecRQij2ZovDdG/revoke"
        );
        assert!(r.body().is_empty());
        assert!(r.headers().get("content-type").is_none());
        assert_eq!(r.headers()["content-length"], "0");
        assert_eq!(r.headers()["authorization"], "Bearer sk_test_123");
    }

    #[test]
    fn revoke_ids_stay_one_segment() {
        let c = config()
            .with_base_url("http://127.0.0.1:4010/prefix/v1")
            .unwrap();
        let cases = [
            ("a/b", "a%2Fb"),
            ("a?b=c", "a%3Fb%3Dc"),
            ("a#b", "a%23b"),
            ("100%", "100%25"),
            ("%2F", "%252F"),
            ("a b", "a%20b"),
            ("..a", "..a"),
            ("a..", "a.."),
            ("../..", "..%2F.."),
            ("é", "%C3%A9"),
            ("\r\nX: y", "%0D%0AX%3A%20y"),
            ("sit_AZaz09-._~", "sit_AZaz09-._~"),
        ];
        for (id, enc) in cases {
            let r = RevokeSignInToken::new(id).build_request(&c).unwrap();
            assert_eq!(
                r.uri().path(),
                format!("/prefix/v1/sign_in_tokens/{enc}/revoke"),
                "{id:?}"
            );
            assert_eq!(r.uri().query(), None);
        }
        for id in ["", ".", ".."] {
            let e = RevokeSignInToken::new(id).build_request(&c).unwrap_err();
            assert_eq!(e.invalid_argument(), Some("sign_in_token_id"), "{id:?}");
        }
    }

    #[test]
    fn idempotency() {
        assert_eq!(
            CreateSignInToken::new("u").idempotency(),
            Idempotency::NonIdempotent
        );
        assert_eq!(
            RevokeSignInToken::new("s").idempotency(),
            Idempotency::Idempotent
        );
    }
}
