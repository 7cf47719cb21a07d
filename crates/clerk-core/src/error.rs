//! One error type; each kind answers one question a caller asks.

use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::model::{ClerkError, ClerkErrors};

/// Everything that can go wrong with a call, and how many attempts it took.
///
/// Match on [`kind`](Self::kind) for the whole story, or ask the helpers the
/// usual questions: [`status`](Self::status), [`trace_id`](Self::trace_id),
/// [`codes`](Self::codes), [`retry_after`](Self::retry_after),
/// [`attempts`](Self::attempts), [`is_timeout`](Self::is_timeout),
/// [`is_not_found`](Self::is_not_found).
///
/// Neither `Display` nor `Debug` ever contains the secret key, a sign-in
/// token or its URL.
///
/// ```
/// use clerk_core::{CreateSignInToken, Config, ErrorKind, Operation};
///
/// let config = Config::new("sk_test_x")?;
/// let err = CreateSignInToken::new("").build_request(&config).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::InvalidRequest(_)));
/// assert_eq!(err.invalid_argument(), Some("user_id"));
/// assert_eq!(err.attempts(), 0);
/// # Ok::<(), clerk_core::Error>(())
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    attempts: u32,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Clerk answered and said no: any 4xx or 5xx whose body is Clerk's
    /// error shape.
    Api(ApiError),
    /// Something answered that is not Clerk, or not in a form Clerk uses: an
    /// edge proxy's HTML 502, an empty body, a success without a JSON body, a
    /// redirect.
    UnexpectedResponse(UnexpectedResponse),
    /// A success reply whose JSON body does not fit the documented shape.
    Decode(DecodeError),
    /// The request was wrong before it left: nothing was sent.
    InvalidRequest(InvalidRequest),
    /// The request or its reply did not make it across the network.
    Transport(TransportError),
}

/// Clerk's refusal: the status, Clerk's errors and the trace id.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The decoded body.
    pub body: ClerkErrors,
    /// The trace id: the body's `clerk_trace_id`, else the `Clerk-Trace-Id`
    /// response header.
    pub trace_id: Option<String>,
    /// The server's `Retry-After`, if it sent one that parses.
    pub retry_after: Option<RetryAfter>,
}

/// A reply that is not Clerk's.
///
/// For error statuses a bounded excerpt of the body is kept, which helps
/// tell an HTML page from a proxy apart from an empty reply. For success
/// statuses no excerpt is kept: such a body may hold a credential. Even so,
/// the excerpt is only readable through its field: neither `Debug` nor
/// `Display` prints it, since a reply of any status may echo a credential.
#[derive(Clone)]
#[non_exhaustive]
pub struct UnexpectedResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type`, if any and if it is text.
    pub content_type: Option<String>,
    /// The length of the body in bytes.
    pub body_len: usize,
    /// Up to [`EXCERPT_BYTES`] bytes of the body, lossily decoded; empty for
    /// success statuses.
    pub excerpt: String,
    /// A `Clerk-Trace-Id` header, if the reply had one.
    pub trace_id: Option<String>,
    /// The server's `Retry-After`, if it sent one that parses.
    pub retry_after: Option<RetryAfter>,
}

impl fmt::Debug for UnexpectedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnexpectedResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body_len)
            .field(
                "excerpt",
                &format_args!("[{} bytes, not printed]", self.excerpt.len()),
            )
            .field("trace_id", &self.trace_id)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

/// How many bytes of an unexpected body [`UnexpectedResponse::excerpt`] keeps.
pub const EXCERPT_BYTES: usize = 256;

/// A success body that does not fit the documented shape.
///
/// The message comes from the JSON decoder with every quoted value taken
/// out, so a credential in a malformed body never reaches a log through it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DecodeError {
    /// The HTTP status of the reply.
    pub status: StatusCode,
    /// What did not fit, such as ``missing field `id` ``.
    pub message: String,
    /// Whether the body was not JSON at all, ended early, or was JSON of the
    /// wrong shape.
    pub category: DecodeCategory,
    /// The line of the body where decoding stopped, from 1 (0 if unknown).
    pub line: usize,
    /// The column where decoding stopped, from 1 (0 if unknown).
    pub column: usize,
}

/// The broad reason a body did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeCategory {
    /// Not valid JSON.
    Syntax,
    /// Valid JSON that stops before it is complete.
    Eof,
    /// Valid JSON of the wrong shape: a field missing or of the wrong type.
    Data,
}

/// A request refused before it was sent.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InvalidRequest {
    /// The argument at fault, such as `user_id` or `base_url`.
    pub argument: &'static str,
    /// Why it was refused.
    pub reason: &'static str,
}

/// A failure to exchange the request and reply over the network.
///
/// Adapters build it; the retry policy reads [`delivery`](Self::delivery) to
/// know whether the server may have acted on the request.
#[non_exhaustive]
pub struct TransportError {
    /// What failed.
    pub kind: TransportErrorKind,
    /// Whether the request may have reached the server.
    pub delivery: Delivery,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// What part of the exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Resolving the host or opening the connection failed.
    Connect,
    /// The TLS handshake failed (including certificate verification).
    Tls,
    /// A timeout elapsed: connecting, waiting for the reply, or reading it.
    Timeout,
    /// The reply body was longer than the configured cap.
    BodyTooLarge,
    /// The connection failed while sending or receiving.
    Io,
    /// The reply was not valid HTTP.
    Protocol,
    /// Anything else the HTTP client reported.
    Other,
}

/// Whether a failed request may have reached the server, and so may have
/// taken effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Surely not sent: the connection was never established.
    NotSent,
    /// Possibly sent: the server may have acted on it.
    MaybeSent,
}

/// A `Retry-After` value: a delay, or a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// Wait this long (the delta-seconds form).
    Delay(Duration),
    /// Wait until then (the HTTP-date form).
    At(SystemTime),
}

impl RetryAfter {
    /// How long to wait from `now`; zero for a moment already past.
    pub fn delay_from(self, now: SystemTime) -> Duration {
        match self {
            Self::Delay(d) => d,
            Self::At(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

impl Error {
    fn new(kind: ErrorKind, attempts: u32) -> Self {
        Self {
            inner: Box::new(Inner { kind, attempts }),
        }
    }

    pub(crate) fn invalid_request(argument: &'static str, reason: &'static str) -> Self {
        Self::new(
            ErrorKind::InvalidRequest(InvalidRequest { argument, reason }),
            0,
        )
    }

    pub(crate) fn from_kind_after_one_attempt(kind: ErrorKind) -> Self {
        Self::new(kind, 1)
    }

    /// A transport failure, as an adapter reports it.
    pub fn transport(error: TransportError) -> Self {
        Self::new(ErrorKind::Transport(error), 1)
    }

    /// A failure to set up the HTTP client, before any request could be
    /// tried: a transport error with 0 attempts.
    pub fn client_setup(error: TransportError) -> Self {
        Self::new(ErrorKind::Transport(error), 0)
    }

    pub(crate) fn set_attempts(&mut self, attempts: u32) {
        self.inner.attempts = attempts;
    }

    /// Turns an HTTP-date `Retry-After` into a delay measured from `now`.
    pub(crate) fn resolve_retry_after(&mut self, now: SystemTime) {
        let slot = match &mut self.inner.kind {
            ErrorKind::Api(e) => &mut e.retry_after,
            ErrorKind::UnexpectedResponse(e) => &mut e.retry_after,
            _ => return,
        };
        if let Some(ra) = slot {
            *slot = Some(RetryAfter::Delay(ra.delay_from(now)));
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// What went wrong, by value.
    pub fn into_kind(self) -> ErrorKind {
        self.inner.kind
    }

    /// How many requests were sent (or tried) before giving up: 0 when the
    /// request was refused before sending.
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// The HTTP status, when a reply came.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.inner.kind {
            ErrorKind::Api(e) => Some(e.status),
            ErrorKind::UnexpectedResponse(e) => Some(e.status),
            ErrorKind::Decode(e) => Some(e.status),
            _ => None,
        }
    }

    /// Clerk's trace id, when the reply carried one.
    pub fn trace_id(&self) -> Option<&str> {
        match &self.inner.kind {
            ErrorKind::Api(e) => e.trace_id.as_deref(),
            ErrorKind::UnexpectedResponse(e) => e.trace_id.as_deref(),
            _ => None,
        }
    }

    /// Clerk's errors, when Clerk said no.
    pub fn clerk_errors(&self) -> &[ClerkError] {
        match &self.inner.kind {
            ErrorKind::Api(e) => &e.body.errors,
            _ => &[],
        }
    }

    /// Clerk's error codes, in order, when Clerk said no.
    pub fn codes(&self) -> impl Iterator<Item = &str> + '_ {
        self.clerk_errors().iter().map(|e| e.code.as_str())
    }

    /// Whether Clerk reported this error code.
    pub fn has_code(&self, code: &str) -> bool {
        self.codes().any(|c| c == code)
    }

    /// The server's `Retry-After`, if a reply carried one. After a call driven
    /// by [`Call`](crate::Call) it is always the [`RetryAfter::Delay`] form,
    /// measured from the moment the last reply was handled.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match &self.inner.kind {
            ErrorKind::Api(e) => e.retry_after,
            ErrorKind::UnexpectedResponse(e) => e.retry_after,
            _ => None,
        }
    }

    /// Whether a timeout ended the call.
    pub fn is_timeout(&self) -> bool {
        matches!(&self.inner.kind, ErrorKind::Transport(t) if t.kind == TransportErrorKind::Timeout)
    }

    /// Whether Clerk answered 404: no such user, token or route.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether Clerk answered 429: the instance's rate limit was hit.
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(StatusCode::TOO_MANY_REQUESTS)
    }

    /// The argument at fault, when the request was refused before sending.
    pub fn invalid_argument(&self) -> Option<&'static str> {
        match &self.inner.kind {
            ErrorKind::InvalidRequest(e) => Some(e.argument),
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("attempts", &self.inner.attempts)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            ErrorKind::Api(e) => fmt::Display::fmt(e, f)?,
            ErrorKind::UnexpectedResponse(e) => fmt::Display::fmt(e, f)?,
            ErrorKind::Decode(e) => fmt::Display::fmt(e, f)?,
            ErrorKind::InvalidRequest(e) => fmt::Display::fmt(e, f)?,
            ErrorKind::Transport(e) => fmt::Display::fmt(e, f)?,
        }
        match self.inner.attempts {
            0 | 1 => Ok(()),
            n => write!(f, " (after {n} attempts)"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner.kind {
            ErrorKind::Transport(t) => Some(t),
            _ => None,
        }
    }
}

impl From<TransportError> for Error {
    fn from(error: TransportError) -> Self {
        Self::transport(error)
    }
}

fn write_status(f: &mut fmt::Formatter<'_>, status: StatusCode) -> fmt::Result {
    match status.canonical_reason() {
        Some(reason) => write!(f, "HTTP {} {reason}", status.as_u16()),
        None => write!(f, "HTTP {}", status.as_u16()),
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clerk refused the request with ")?;
        write_status(f, self.status)?;
        for (i, e) in self.body.errors.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            f.write_str(&e.code)?;
            let text = if e.long_message.is_empty() {
                &e.message
            } else {
                &e.long_message
            };
            if !text.is_empty() {
                write!(f, " ({text})")?;
            }
        }
        if let Some(id) = &self.trace_id {
            write!(f, ", trace id {id}")?;
        }
        Ok(())
    }
}

impl fmt::Display for UnexpectedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unexpected reply, not from Clerk's API: ")?;
        write_status(f, self.status)?;
        match &self.content_type {
            Some(ct) => write!(f, ", content type {ct}")?,
            None => f.write_str(", no content type")?,
        }
        write!(f, ", {} byte body", self.body_len)?;
        if let Some(id) = &self.trace_id {
            write!(f, ", trace id {id}")?;
        }
        Ok(())
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the success reply (")?;
        write_status(f, self.status)?;
        write!(f, ") does not fit the documented shape: {}", self.message)?;
        if self.line > 0 {
            write!(f, " at line {} column {}", self.line, self.column)?;
        }
        Ok(())
    }
}

impl fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid request: `{}` {}", self.argument, self.reason)
    }
}

impl TransportError {
    /// A transport failure with the HTTP client's own error as its source.
    pub fn new(
        kind: TransportErrorKind,
        delivery: Delivery,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            delivery,
            source: Some(source.into()),
        }
    }

    /// A transport failure with no underlying error to keep.
    pub fn without_source(kind: TransportErrorKind, delivery: Delivery) -> Self {
        Self {
            kind,
            delivery,
            source: None,
        }
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("kind", &self.kind)
            .field("delivery", &self.delivery)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            TransportErrorKind::Connect => "could not connect to the server",
            TransportErrorKind::Tls => "the TLS handshake failed",
            TransportErrorKind::Timeout => "the request timed out",
            TransportErrorKind::BodyTooLarge => "the reply body is larger than the configured cap",
            TransportErrorKind::Io => "the connection failed",
            TransportErrorKind::Protocol => "the reply is not valid HTTP",
            TransportErrorKind::Other => "the HTTP client failed",
        })?;
        if self.delivery == Delivery::NotSent {
            f.write_str(" (the request was not sent)")?;
        }
        Ok(())
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_traits<T: Send + Sync + 'static + StdError>() {}

    #[test]
    fn error_is_send_sync_static() {
        assert_traits::<Error>();
        assert_traits::<TransportError>();
    }

    #[test]
    fn source_chain_is_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = Error::transport(TransportError::new(
            TransportErrorKind::Connect,
            Delivery::NotSent,
            io,
        ));
        let transport = err.source().unwrap();
        let io = transport.source().unwrap();
        assert_eq!(io.to_string(), "refused");
        assert!(io.downcast_ref::<std::io::Error>().is_some());
        assert_eq!(
            err.to_string(),
            "could not connect to the server (the request was not sent)"
        );
    }

    #[test]
    fn retry_after_from_now() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(
            RetryAfter::At(now + Duration::from_secs(5)).delay_from(now),
            Duration::from_secs(5)
        );
        assert_eq!(
            RetryAfter::At(now - Duration::from_secs(5)).delay_from(now),
            Duration::ZERO
        );
        assert_eq!(
            RetryAfter::Delay(Duration::from_secs(3)).delay_from(now),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn attempts_shown_when_more_than_one() {
        let mut err = Error::transport(TransportError::without_source(
            TransportErrorKind::Timeout,
            Delivery::MaybeSent,
        ));
        assert!(err.is_timeout());
        err.set_attempts(3);
        assert_eq!(err.attempts(), 3);
        assert_eq!(err.to_string(), "the request timed out (after 3 attempts)");
    }
}
