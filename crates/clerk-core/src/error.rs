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
    /// The client's rate-limit [`Gate`](crate::Gate) held the attempt
    /// longer than the call may wait: nothing more was sent. Its
    /// [`retry_after`](Error::retry_after) says when the gate opens.
    Throttled(Throttled),
}

/// An attempt held back by the client's rate-limit gate past what the call
/// may wait (its retry policy's `max_elapsed`, or a hold longer than
/// `max_retry_after`).
///
/// The error of the call's previous attempt, if there was one (typically
/// Clerk's 429), is its [`source`](std::error::Error::source) through
/// [`Error`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Throttled {
    /// Why the gate held the call.
    pub reason: crate::gate::HoldReason,
    /// How long from the moment the call gave up until the gate opens.
    pub retry_after: Duration,
    /// The error of the attempt before, if any.
    pub previous: Option<Box<Error>>,
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

/// The longest `Retry-After` this crate hands out: one day.
///
/// A server may send any number of seconds, or a date thousands of years
/// ahead. [`parse_retry_after`](crate::parse_retry_after) clamps the seconds
/// form to this, and [`RetryAfter::delay_from`] clamps every delay, so a
/// caller can add what it is given to an `Instant` or a `SystemTime`
/// without overflow.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// A `Retry-After` value: a delay, or a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// Wait this long (the delta-seconds form).
    Delay(Duration),
    /// Wait until then (the HTTP-date form).
    At(SystemTime),
}

impl RetryAfter {
    /// How long to wait from `now`: zero for a moment already past, and
    /// never more than [`MAX_RETRY_AFTER`].
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use clerk_core::{MAX_RETRY_AFTER, RetryAfter};
    ///
    /// let now = SystemTime::now();
    /// let absurd = RetryAfter::Delay(Duration::MAX).delay_from(now);
    /// assert_eq!(absurd, MAX_RETRY_AFTER);
    /// let _safe = std::time::Instant::now() + absurd; // cannot overflow
    /// ```
    pub fn delay_from(self, now: SystemTime) -> Duration {
        let delay = match self {
            Self::Delay(d) => d,
            Self::At(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        };
        delay.min(MAX_RETRY_AFTER)
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

    pub(crate) fn throttled(throttled: Throttled, attempts: u32) -> Self {
        Self::new(ErrorKind::Throttled(throttled), attempts)
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
            ErrorKind::Throttled(e) => Some(RetryAfter::Delay(e.retry_after)),
            _ => None,
        }
    }

    /// Whether a timeout ended the call.
    pub fn is_timeout(&self) -> bool {
        matches!(&self.inner.kind, ErrorKind::Transport(t) if t.kind == TransportErrorKind::Timeout)
    }

    /// Whether Clerk itself answered 404 (no such user or sign-in token): a
    /// 404 whose body is Clerk's error shape, an [`ErrorKind::Api`].
    ///
    /// A 404 that is not in Clerk's shape (an HTML page from a proxy, an
    /// empty reply, a base URL missing `/v1`) is an
    /// [`ErrorKind::UnexpectedResponse`] and answers `false`: nothing is
    /// known about the token then, so a caller that reads "not found" as
    /// "already gone" must not be told so.
    ///
    /// ```
    /// use clerk_core::{Operation, RevokeSignInToken, Config};
    ///
    /// let op = RevokeSignInToken::new("sit_1");
    /// let reply = |ct: &str, body: &str| {
    ///     http::Response::builder().status(404).header("content-type", ct)
    ///         .body(body.as_bytes().to_vec()).unwrap()
    /// };
    /// let clerk = op.parse_response(&reply("application/json",
    ///     r#"{"errors":[{"code":"resource_not_found","message":"not found","long_message":"not found"}]}"#));
    /// assert!(clerk.unwrap_err().is_not_found());
    /// let proxy = op.parse_response(&reply("text/html", "<h1>Not Found</h1>"));
    /// assert!(!proxy.unwrap_err().is_not_found());
    /// ```
    pub fn is_not_found(&self) -> bool {
        self.is_from_clerk() && self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether the reply was 429 Too Many Requests, from Clerk or from
    /// anything in between, or the client's rate-limit gate held the call
    /// ([`ErrorKind::Throttled`]).
    ///
    /// Deliberately looser than [`is_not_found`](Self::is_not_found): a 429
    /// asks the caller to slow down whoever sent it, and acting on it
    /// (waiting, retrying later) never rests on a belief about a
    /// credential's state. Ask [`is_from_clerk`](Self::is_from_clerk) too to
    /// know it was Clerk's own limit.
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(StatusCode::TOO_MANY_REQUESTS)
            || matches!(self.inner.kind, ErrorKind::Throttled(_))
    }

    /// Whether Clerk itself said no: the reply's body was Clerk's error shape
    /// ([`ErrorKind::Api`]), so [`codes`](Self::codes) and
    /// [`clerk_errors`](Self::clerk_errors) are Clerk's word.
    ///
    /// A proxy or a wrong base URL answers in some other shape and this is
    /// `false`; so is every transport failure and refused argument.
    pub fn is_from_clerk(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Api(_))
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
            ErrorKind::Throttled(e) => fmt::Display::fmt(e, f)?,
        }
        match self.retry_after() {
            Some(RetryAfter::Delay(d)) => write!(f, "; retry after {} s", whole_seconds_up(d))?,
            Some(RetryAfter::At(at)) => {
                write!(f, "; retry after {}", httpdate::fmt_http_date(at))?;
            }
            None => {}
        }
        match self.inner.attempts {
            0 | 1 => Ok(()),
            n => write!(f, " (after {n} attempts)"),
        }
    }
}

/// Each link of the chain adds something: the error's own `Display` already
/// says what the [`TransportError`] says, so its source is the transport
/// error's source (the HTTP client's own error), not the transport error
/// again. Where the HTTP client wraps its error in another of the same text
/// (reqwest does for a body that fails under a read timeout), the source
/// starts at the innermost of those. The [`TransportError`] itself is
/// reached through [`kind`](Error::kind).
impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        let t = match &self.inner.kind {
            ErrorKind::Transport(t) => t,
            ErrorKind::Throttled(Throttled {
                previous: Some(previous),
                ..
            }) => return Some(&**previous),
            _ => return None,
        };
        let mut link = t.source()?;
        // Bounded: a source that names itself as its own source must not
        // make this loop forever.
        for _ in 0..8 {
            match link.source() {
                Some(next) if link.to_string() == next.to_string() => link = next,
                _ => break,
            }
        }
        Some(link)
    }
}

/// Seconds, rounded up, so "retry after" never says sooner than asked.
fn whole_seconds_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Text a server supplied, shown with every control character escaped, so
/// a reply cannot write a line break, a terminal escape or a direction
/// override into a log or a terminal.
///
/// Escaped: the C0 and C1 controls and DEL (CR, LF, ESC, …), the Unicode
/// line and paragraph separators, and the bidirectional formatting
/// characters. Each is written as Rust writes it, such as `\u{1b}`, and a
/// backslash is doubled, so a server's own `\u{1b}` text cannot pass for
/// an escaped character.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}' | '\u{061c}'
        )
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some((at, c)) = rest
            .char_indices()
            .find(|&(_, c)| c == '\\' || needs_escape(c))
        {
            f.write_str(rest.get(..at).unwrap_or_default())?;
            if c == '\\' {
                f.write_str("\\\\")?;
            } else {
                write!(f, "{}", c.escape_unicode())?;
            }
            rest = rest.get(at + c.len_utf8()..).unwrap_or_default();
        }
        f.write_str(rest)
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
            write!(f, "{}", Escaped(&e.code))?;
            let text = if e.long_message.is_empty() {
                &e.message
            } else {
                &e.long_message
            };
            if !text.is_empty() {
                write!(f, " ({})", Escaped(text))?;
            }
        }
        if let Some(id) = &self.trace_id {
            write!(f, ", trace id {}", Escaped(id))?;
        }
        Ok(())
    }
}

impl fmt::Display for UnexpectedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unexpected reply, not from Clerk's API: ")?;
        write_status(f, self.status)?;
        match &self.content_type {
            Some(ct) => write!(f, ", content type {}", Escaped(ct))?,
            None => f.write_str(", no content type")?,
        }
        write!(f, ", {} byte body", self.body_len)?;
        if let Some(id) = &self.trace_id {
            write!(f, ", trace id {}", Escaped(id))?;
        }
        Ok(())
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the success reply (")?;
        write_status(f, self.status)?;
        write!(
            f,
            ") does not fit the documented shape: {}",
            Escaped(&self.message)
        )?;
        if self.line > 0 {
            write!(f, " at line {} column {}", self.line, self.column)?;
        }
        Ok(())
    }
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not sent: {}, longer than the call may wait",
            self.reason
        )
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
        let io = err.source().unwrap();
        assert_eq!(io.to_string(), "refused");
        assert!(io.downcast_ref::<std::io::Error>().is_some());
        assert!(io.source().is_none());
        assert_eq!(
            err.to_string(),
            "could not connect to the server (the request was not sent)"
        );
        let ErrorKind::Transport(t) = err.kind() else {
            panic!()
        };
        assert_eq!(t.source().unwrap().to_string(), "refused");
    }

    /// What anyhow and eyre print: every link, each saying something new.
    #[test]
    fn source_chain_does_not_repeat_itself() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let mut err = Error::transport(TransportError::new(
            TransportErrorKind::Connect,
            Delivery::NotSent,
            io,
        ));
        err.set_attempts(3);
        let mut links = vec![err.to_string()];
        let mut next = err.source();
        while let Some(e) = next {
            links.push(e.to_string());
            next = e.source();
        }
        assert_eq!(
            links,
            [
                "could not connect to the server (the request was not sent) (after 3 attempts)",
                "refused"
            ]
        );
        // A client that wraps its error in one of the same text: the chain
        // starts at the inner one.
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl StdError for Wrapper {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let inner = std::io::Error::other("body error");
        let wrapped = Error::transport(TransportError::new(
            TransportErrorKind::Io,
            Delivery::MaybeSent,
            Wrapper(inner),
        ));
        let first = wrapped.source().unwrap();
        assert!(first.downcast_ref::<std::io::Error>().is_some());
        assert!(first.source().is_none());
        // A source that names itself does not hang the walk.
        #[derive(Debug)]
        struct Itself;
        impl fmt::Display for Itself {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("itself")
            }
        }
        impl StdError for Itself {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&Itself)
            }
        }
        let looping = Error::transport(TransportError::new(
            TransportErrorKind::Other,
            Delivery::MaybeSent,
            Itself,
        ));
        assert_eq!(looping.source().unwrap().to_string(), "itself");
        // Without a source there is no second link to repeat the first.
        let bare = Error::transport(TransportError::without_source(
            TransportErrorKind::Timeout,
            Delivery::MaybeSent,
        ));
        assert!(bare.source().is_none());
    }

    fn api(status: u16, code: &str, message: &str, trace: Option<&str>) -> Error {
        let mut body = ClerkErrors::new(vec![ClerkError::new(code, message, message)]);
        body.clerk_trace_id = trace.map(str::to_owned);
        Error::from_kind_after_one_attempt(ErrorKind::Api(ApiError {
            status: StatusCode::from_u16(status).unwrap(),
            body,
            trace_id: trace.map(str::to_owned),
            retry_after: None,
        }))
    }

    fn unexpected(status: u16) -> Error {
        Error::from_kind_after_one_attempt(ErrorKind::UnexpectedResponse(UnexpectedResponse {
            status: StatusCode::from_u16(status).unwrap(),
            content_type: Some("text/html".into()),
            body_len: 9,
            excerpt: "Not Found".into(),
            trace_id: None,
            retry_after: None,
        }))
    }

    /// "Already revoked" must rest on Clerk's word, not on any 404.
    #[test]
    fn clerk_predicates_mean_clerk_said_it() {
        let clerk = api(404, "resource_not_found", "not found", None);
        assert!(clerk.is_not_found() && clerk.is_from_clerk());
        let proxy = unexpected(404);
        assert!(!proxy.is_not_found() && !proxy.is_from_clerk());
        assert_eq!(proxy.status(), Some(StatusCode::NOT_FOUND));
        // A 429 means "slow down" whoever said it.
        assert!(api(429, "too_many_requests", "slow", None).is_rate_limited());
        let edge = unexpected(429);
        assert!(edge.is_rate_limited() && !edge.is_from_clerk());
    }

    const HOSTILE: [&str; 6] = [
        "a\r\nINFO forged log line",
        "\u{1b}[31mred\u{1b}[0m",
        "nul\0byte",
        "bidi\u{202e}txt.exe",
        "line\u{2028}sep",
        "del\u{7f}c1\u{85}",
    ];

    fn has_raw_controls(text: &str) -> bool {
        text.chars().any(needs_escape)
    }

    /// A reply cannot write a line break, an escape sequence or a direction
    /// override into a log line through any field that is shown.
    #[test]
    fn server_text_is_escaped_in_display_and_debug() {
        for hostile in HOSTILE {
            let mut e = api(400, hostile, hostile, Some(hostile));
            if let ErrorKind::Api(a) = &mut e.inner.kind {
                let mut meta = serde_json::Map::new();
                meta.insert(hostile.to_owned(), hostile.into());
                a.body.meta = Some(meta.clone());
                a.body.errors[0].meta = Some(meta);
            }
            let mut u = unexpected(502);
            if let ErrorKind::UnexpectedResponse(x) = &mut u.inner.kind {
                x.content_type = Some(hostile.to_owned());
                x.trace_id = Some(hostile.to_owned());
            }
            let d = Error::from_kind_after_one_attempt(ErrorKind::Decode(DecodeError {
                status: StatusCode::OK,
                message: hostile.to_owned(),
                category: DecodeCategory::Data,
                line: 1,
                column: 1,
            }));
            for err in [e, u, d] {
                let text = format!("{err}\n{err:?}\n{err:#?}");
                assert!(!has_raw_controls(&text.replace('\n', "")), "{text:?}");
                assert_eq!(
                    text.matches('\n').count(),
                    2 + format!("{err:#?}").matches('\n').count()
                );
            }
        }
        assert_eq!(
            Escaped("a\r\nb\u{1b}[0m\\").to_string(),
            "a\\u{d}\\u{a}b\\u{1b}[0m\\\\"
        );
        // A server's literal escape text stays distinguishable.
        assert_eq!(Escaped("x\\u{a}y").to_string(), "x\\\\u{a}y");
    }

    #[test]
    fn display_says_when_to_come_back() {
        let mut e = api(429, "too_many_requests", "Too many requests", Some("t1"));
        if let ErrorKind::Api(a) = &mut e.inner.kind {
            a.retry_after = Some(RetryAfter::Delay(Duration::from_millis(122_001)));
        }
        e.set_attempts(3);
        assert_eq!(
            e.to_string(),
            "Clerk refused the request with HTTP 429 Too Many Requests: \
             too_many_requests (Too many requests), trace id t1; retry after 123 s \
             (after 3 attempts)"
        );
        let mut u = unexpected(503);
        if let ErrorKind::UnexpectedResponse(x) = &mut u.inner.kind {
            x.retry_after = Some(RetryAfter::At(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480),
            ));
        }
        assert!(
            u.to_string()
                .ends_with("; retry after Wed, 21 Oct 2015 07:28:00 GMT"),
            "{u}"
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
        assert_eq!(
            RetryAfter::Delay(Duration::MAX).delay_from(now),
            MAX_RETRY_AFTER
        );
        assert_eq!(
            RetryAfter::At(SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799))
                .delay_from(now),
            MAX_RETRY_AFTER
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
