//! Scripted faults.

use std::time::Duration;

/// A scripted misbehaviour for the next request that reaches the server.
///
/// Faults wait in a first-in, first-out queue ([`MockServer::push_fault`]). Each complete
/// request the server reads (whatever its method or path, and before the secret key is checked)
/// is first recorded, then takes the fault at the head of the queue, if any. Requests the HTTP
/// layer rejects before they are complete (a head over 16 KiB, a body over 64 KiB, a malformed
/// request line) take no fault and are not recorded.
///
/// There are two kinds of fault:
///
/// * **Replacing** faults answer instead of the API. The request has **no effect**: no token is
///   created or revoked. These are [`Status`](Fault::Status),
///   [`RateLimited`](Fault::RateLimited), [`ServiceUnavailable`](Fault::ServiceUnavailable),
///   [`Html502`](Fault::Html502), [`EmptyBody`](Fault::EmptyBody),
///   [`Oversized`](Fault::Oversized), [`Redirect`](Fault::Redirect) and [`Raw`](Fault::Raw).
/// * **Altering** faults let the API handle the request as usual, so it **takes effect** (a
///   token is created, say), and then spoil the way the answer travels. These are
///   [`Delay`](Fault::Delay), [`SlowDrip`](Fault::SlowDrip),
///   [`ResetMidBody`](Fault::ResetMidBody), [`TruncatedJson`](Fault::TruncatedJson) and
///   [`WrongContentType`](Fault::WrongContentType). That is how a client meets a create that
///   happened although it never saw the answer.
///
/// Faults come before the server's rate limit
/// ([`MockServerBuilder::rate_limit`](crate::MockServerBuilder::rate_limit)): a request that
/// takes a replacing fault is not counted by it, one that takes an altering fault is (and if
/// the limit refuses it, the fault spoils the 429).
///
/// Header values taken from a fault (`retry_after`, `location`) have any CR and LF removed.
///
/// [`MockServer::push_fault`]: crate::MockServer::push_fault
///
/// # Examples
///
/// ```
/// use clerk_mock::{Fault, MockServer};
/// use std::time::Duration;
///
/// let server = MockServer::start();
/// // The first request gets a 429, the second waits 50 ms, the third is served normally.
/// server.push_fault(Fault::RateLimited { retry_after: "1".into() });
/// server.push_fault(Fault::Delay { delay: Duration::from_millis(50) });
/// assert_eq!(server.pending_faults(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// Replacing: answer with `status` and a Clerk error body (`ClerkErrors`) carrying `code`
    /// and `message` (also used as `long_message`), a `clerk_trace_id` and the matching
    /// `Clerk-Trace-Id` header.
    Status {
        /// The HTTP status code to answer with, e.g. 500. It is written as given, so keep it
        /// within 100..=999.
        status: u16,
        /// The Clerk error `code`, e.g. `"internal_clerk_error"`.
        code: String,
        /// The error's `message` and `long_message`.
        message: String,
    },
    /// Replacing: 429 with a Clerk error body, code `too_many_requests`, and
    /// `Retry-After: <retry_after>` exactly as given (seconds such as `"2"`, or an HTTP date;
    /// see [`http_date`](crate::http_date)).
    RateLimited {
        /// The `Retry-After` header value.
        retry_after: String,
    },
    /// Replacing: 503 with a Clerk error body, code `service_unavailable`, and a `Retry-After`
    /// header if one is given.
    ServiceUnavailable {
        /// The `Retry-After` header value, if any.
        retry_after: Option<String>,
    },
    /// Replacing: 502 with a `text/html` error page such as an edge proxy sends; no Clerk body,
    /// no trace id.
    Html502,
    /// Replacing: `status` with `Content-Length: 0` and no `Content-Type`. (For a 1xx or 204
    /// status, which must not carry `Content-Length`, the field is left out.)
    EmptyBody {
        /// The HTTP status code to answer with.
        status: u16,
    },
    /// Altering: handle the request (it takes effect at once), wait `delay`, then write the
    /// usual answer. Use it to make a client time out.
    Delay {
        /// How long to wait before writing anything.
        delay: Duration,
    },
    /// Altering: write the usual answer's head at once, then its body one byte per `interval`.
    SlowDrip {
        /// The pause before each byte of the body.
        interval: Duration,
    },
    /// Altering: write the usual answer's head with the full `Content-Length`, then the first
    /// half of its body, then shut the connection down. The client sees the connection end
    /// before the body is complete (as an early end of stream: `std` cannot force a TCP
    /// reset).
    ResetMidBody,
    /// Altering: the usual answer (status and headers kept) with its body cut to the first
    /// half, and a `Content-Length` that matches the cut body. For a successful request that
    /// is a 200 `application/json` whose body is incomplete JSON.
    TruncatedJson,
    /// Altering: the usual answer labelled `Content-Type: text/plain; charset=utf-8`.
    WrongContentType,
    /// Replacing: 200 `application/json` with a body of exactly `bytes` bytes, streamed
    /// rather than built in memory: `{"padding":"xxx…"}` when `bytes` is at least 14 (the
    /// size of `{"padding":""}`), otherwise `bytes` spaces. Use it to test a body-size cap.
    Oversized {
        /// The exact size of the body.
        bytes: usize,
    },
    /// Replacing: `status` (e.g. 307) with a `Location` header and an empty body.
    Redirect {
        /// The HTTP status code, e.g. 301, 302, 307 or 308.
        status: u16,
        /// The `Location` header value, e.g. `"http://example.invalid/v1/sign_in_tokens"`.
        location: String,
    },
    /// Replacing: write exactly these bytes, then close the connection. Nothing else is sent.
    Raw {
        /// The bytes to write.
        bytes: Vec<u8>,
    },
}

impl Fault {
    /// Shorthand for [`Fault::Status`].
    ///
    /// # Examples
    ///
    /// ```
    /// use clerk_mock::Fault;
    ///
    /// let fault = Fault::status(500, "internal_clerk_error", "Oops");
    /// assert!(matches!(fault, Fault::Status { status: 500, .. }));
    /// ```
    pub fn status(status: u16, code: impl Into<String>, message: impl Into<String>) -> Fault {
        Fault::Status {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// Whether the API handles the request before this fault spoils the answer (an
    /// *altering* fault), as opposed to answering instead of the API (a *replacing* fault,
    /// after which the request has had no effect).
    ///
    /// # Examples
    ///
    /// ```
    /// use clerk_mock::Fault;
    ///
    /// assert!(Fault::TruncatedJson.takes_effect());
    /// assert!(!Fault::Html502.takes_effect());
    /// ```
    pub fn takes_effect(&self) -> bool {
        matches!(
            self,
            Fault::Delay { .. }
                | Fault::SlowDrip { .. }
                | Fault::ResetMidBody
                | Fault::TruncatedJson
                | Fault::WrongContentType
        )
    }
}
