//! Safe retries, decided here and only driven by the adapters.
//!
//! [`Call`] is a small state machine around one operation:
//!
//! ```text
//!            Call::new(config, operation)
//!                        │
//!                        ▼
//!        ┌──► adapter sends call.request()
//!        │               │ response, or transport failure
//!        │               ▼
//!        │   call.handle(outcome, timing)
//!        │               │
//!        │    Step::Retry(wait)     Step::Done(result)
//!        └── adapter sleeps `wait` ◄┘          └──► returned to the caller
//! ```
//!
//! The core never reads a clock and never draws a random number: the
//! adapter passes the time elapsed since the call began, the wall-clock
//! `now` (only used to read an HTTP-date `Retry-After`), and a jitter value
//! in `[0, 1]`. Given the same inputs, the same decisions come out.
//!
//! # What is retried
//!
//! | failure | create (not idempotent) | revoke (idempotent) |
//! | --- | --- | --- |
//! | transport failure, request not sent (connect refused, DNS, TLS handshake) | yes | yes |
//! | transport failure, request maybe sent (timeout, reset) | only if opted in | yes |
//! | reply body over the cap (`BodyTooLarge`) | no | no |
//! | 429 | yes, after `Retry-After` | yes, after `Retry-After` |
//! | 503 with `Retry-After` | yes, after `Retry-After` | yes, after `Retry-After` |
//! | other 5xx, and 408 | only if opted in | yes |
//! | any other status, or a success that does not decode | no | no |
//!
//! Every retry also needs: an attempt left ([`RetryPolicy::max_attempts`]);
//! a `Retry-After` no longer than [`RetryPolicy::max_retry_after`] (a longer
//! one ends the call at once with the error, whose
//! [`retry_after`](crate::Error::retry_after) tells the caller when to come
//! back: retrying sooner than the server asked only earns another 429); the
//! wait fitting in what is left of [`RetryPolicy::max_total_wait`] and of
//! [`RetryPolicy::max_elapsed`].
//!
//! Without `Retry-After` the wait is exponential backoff with "equal
//! jitter": for the n-th retry, `b = min(initial_backoff × 2ⁿ⁻¹, max_backoff)`
//! and the wait is `b/2 + jitter × b/2`.
//!
//! With `Retry-After` the wait is `max(retry_after, b) + jitter × b/2`: never
//! sooner than the server asked, never shorter than the longest backoff a
//! 5xx would get (so `Retry-After: 0` or a date in the past cannot make a
//! hot loop), and spread by jitter, so that many workers told the same
//! moment (Clerk limits per instance: every process using one key shares
//! the limit) do not all come back at once.
//!
//! Behind a client's rate-limit gate that holds (the default, see
//! [`gate`](crate::gate)), a refusal that holds the gate is retried after
//! `max(retry_after, b)`, without the jitter: the gate holds every call of
//! the client until that moment and then releases them at its rate, and a
//! refused call coming back a jitter after the calls that waited at the
//! gate would lose each release window to them, until a probe of the
//! release refused it a last time (the simulation
//! `a_simulated_burst_at_the_limit_meets_its_targets` in
//! `tests/it/gate.rs` fails with the jitter kept).

use std::time::{Duration, Instant, SystemTime};

use http::{Request, Response, StatusCode};

use crate::config::Config;
use crate::error::{Delivery, Error, ErrorKind, Throttled, TransportError, TransportErrorKind};
use crate::gate::{Admission, Gate};
use crate::operation::{Idempotency, Operation};

/// How a call retries. The defaults are safe for every operation.
///
/// | setting | default |
/// | --- | --- |
/// | [`max_attempts`](Self::max_attempts) | 3 |
/// | [`initial_backoff`](Self::initial_backoff) | 500 ms |
/// | [`max_backoff`](Self::max_backoff) | 5 s |
/// | [`max_retry_after`](Self::max_retry_after) | 10 s (Clerk's rate-limit window) |
/// | [`max_total_wait`](Self::max_total_wait) | 15 s |
/// | [`max_elapsed`](Self::max_elapsed) | 60 s |
/// | [`retry_non_idempotent`](Self::retry_non_idempotent) | false |
///
/// ```
/// use std::time::Duration;
/// use clerk_core::RetryPolicy;
///
/// let patient = RetryPolicy::default()
///     .with_max_attempts(5)
///     .with_max_total_wait(Duration::from_secs(30));
/// assert_eq!(patient.max_attempts(), 5);
/// assert_eq!(RetryPolicy::never().max_attempts(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    max_total_wait: Duration,
    max_elapsed: Duration,
    retry_non_idempotent: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(10),
            max_total_wait: Duration::from_secs(15),
            max_elapsed: Duration::from_secs(60),
            retry_non_idempotent: false,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn never() -> Self {
        Self::default().with_max_attempts(1)
    }

    /// Sets the number of attempts, first one included; 0 counts as 1.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the backoff before the first retry (before jitter).
    #[must_use]
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Sets the cap on one backoff wait.
    #[must_use]
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Sets the longest `Retry-After` that is waited out; a longer one ends
    /// the call.
    #[must_use]
    pub fn with_max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    /// Sets the cap on all waits of one call added up.
    #[must_use]
    pub fn with_max_total_wait(mut self, wait: Duration) -> Self {
        self.max_total_wait = wait;
        self
    }

    /// Sets the time after which no new attempt starts: elapsed time plus
    /// the next wait must stay within it.
    #[must_use]
    pub fn with_max_elapsed(mut self, elapsed: Duration) -> Self {
        self.max_elapsed = elapsed;
        self
    }

    /// Opts in to retrying non-idempotent operations (create) after failures
    /// where the server may have acted: a timeout, a reset, a 5xx. Each such
    /// retry risks a second live sign-in token that nobody holds a record of.
    #[must_use]
    pub fn with_retry_non_idempotent(mut self, yes: bool) -> Self {
        self.retry_non_idempotent = yes;
        self
    }

    /// The number of attempts, first one included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff before the first retry.
    pub fn initial_backoff(&self) -> Duration {
        self.initial_backoff
    }

    /// The cap on one backoff wait.
    pub fn max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// The longest `Retry-After` waited out.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The cap on all waits of one call.
    pub fn max_total_wait(&self) -> Duration {
        self.max_total_wait
    }

    /// The time after which no new attempt starts.
    pub fn max_elapsed(&self) -> Duration {
        self.max_elapsed
    }

    /// Whether non-idempotent operations are retried when the server may
    /// have acted.
    pub fn retry_non_idempotent(&self) -> bool {
        self.retry_non_idempotent
    }

    /// The backoff for the `retry`-th retry (from 1), with `jitter` in
    /// `[0, 1]` (values outside are clamped, NaN reads as 0).
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let half = self.base_backoff(retry) / 2;
        half.saturating_add(scale(half, jitter))
    }

    /// The wait after a reply that said `Retry-After: hint`, for the
    /// `retry`-th retry: `max(hint, b) + jitter × b/2`, where `b` is the
    /// backoff before jitter (see the [module docs](self); a call behind a
    /// holding gate passes a jitter of 0).
    ///
    /// ```
    /// use std::time::Duration;
    /// use clerk_core::RetryPolicy;
    ///
    /// let p = RetryPolicy::default(); // first backoff: 500 ms before jitter
    /// // `Retry-After: 0` still waits at least the longest 5xx backoff.
    /// assert_eq!(p.hinted_wait(1, Duration::ZERO, 0.0), Duration::from_millis(500));
    /// assert_eq!(p.hinted_wait(1, Duration::ZERO, 1.0), Duration::from_millis(750));
    /// // A longer hint is honoured, and jitter spreads the comeback.
    /// assert_eq!(p.hinted_wait(1, Duration::from_secs(3), 0.5), Duration::from_millis(3125));
    /// ```
    pub fn hinted_wait(&self, retry: u32, hint: Duration, jitter: f64) -> Duration {
        let base = self.base_backoff(retry);
        hint.max(base).saturating_add(scale(base / 2, jitter))
    }

    /// `min(initial_backoff × 2^(retry-1), max_backoff)`: the backoff
    /// before jitter.
    fn base_backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff)
    }

    /// Decides what to do after a failed attempt: `Some(wait)` to send the
    /// same request again after `wait`, `None` to give up.
    ///
    /// `attempts` counts the attempts made so far (this one included),
    /// `waited` the waits already spent in this call.
    pub fn decide(
        &self,
        idempotency: Idempotency,
        error: &Error,
        attempts: u32,
        waited: Duration,
        timing: &Timing,
    ) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let repeatable = idempotency == Idempotency::Idempotent || self.retry_non_idempotent;
        let backoff = self.backoff(attempts, timing.jitter);
        let server_hint = error.retry_after().map(|ra| ra.delay_from(timing.now));
        let after_reply = match server_hint {
            Some(hint) => self.hinted_wait(attempts, hint, timing.jitter),
            None => backoff,
        };
        let wait = match error.kind() {
            // The same request would get the same reply, over the cap again.
            ErrorKind::Transport(t) if t.kind == TransportErrorKind::BodyTooLarge => return None,
            ErrorKind::Transport(t) => match t.delivery {
                Delivery::NotSent => backoff,
                Delivery::MaybeSent if repeatable => backoff,
                Delivery::MaybeSent => return None,
            },
            ErrorKind::Api(_) | ErrorKind::UnexpectedResponse(_) => {
                let status = error.status()?;
                // A 429, or a 503 with Retry-After, says the server did not
                // act on the request.
                let refused = status == StatusCode::TOO_MANY_REQUESTS
                    || (status == StatusCode::SERVICE_UNAVAILABLE && server_hint.is_some());
                let failed = status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT;
                if refused || (failed && repeatable) {
                    after_reply
                } else {
                    return None;
                }
            }
            _ => return None,
        };
        if server_hint.is_some_and(|hint| hint > self.max_retry_after) {
            return None;
        }
        if waited.saturating_add(wait) > self.max_total_wait {
            return None;
        }
        if timing.elapsed.saturating_add(wait) > self.max_elapsed {
            return None;
        }
        Some(wait)
    }
}

/// `d × jitter`, with `jitter` clamped to `[0, 1]` (NaN reads as 0), in
/// integer arithmetic: no float rounding can overflow a `Duration`.
fn scale(d: Duration, jitter: f64) -> Duration {
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    let parts = (jitter * 1_000_000.0) as u128;
    duration_from_nanos(d.as_nanos().saturating_mul(parts) / 1_000_000)
}

fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = nanos / 1_000_000_000;
    let sub = (nanos % 1_000_000_000) as u32;
    match u64::try_from(secs) {
        Ok(secs) => Duration::new(secs, sub),
        Err(_) => Duration::MAX,
    }
}

/// What the adapter knows and the core may not find out for itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Wall-clock time now; only used to read an HTTP-date `Retry-After`.
    pub now: SystemTime,
    /// Time since the call began (since [`Call::new`]).
    pub elapsed: Duration,
    /// A random value in `[0, 1]` that spreads out the backoff of many
    /// clients failing together. Values outside are clamped.
    pub jitter: f64,
}

/// What happened to one attempt, as the adapter saw it.
///
/// Its `Debug` shows the status, the header names and the body's length,
/// never the body or header values: a reply carries credentials.
pub enum Outcome<B = Vec<u8>> {
    /// A reply came, whatever its status, with its body read under the cap.
    Response(Response<B>),
    /// No usable reply: the request or the reply failed on the way.
    Transport(TransportError),
}

impl<B: AsRef<[u8]>> std::fmt::Debug for Outcome<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Response(response) => f
                .debug_struct("Response")
                .field("status", &response.status())
                .field("headers", &response.headers().keys().collect::<Vec<_>>())
                .field("body_len", &response.body().as_ref().len())
                .finish(),
            Self::Transport(error) => f.debug_tuple("Transport").field(error).finish(),
        }
    }
}

/// What the adapter does before an attempt, as [`Call::admit`] says.
#[derive(Debug)]
#[must_use]
pub enum Admit {
    /// Send [`Call::request`] now.
    Send,
    /// The client's rate-limit gate holds the call: wait this long, then
    /// ask again.
    Wait(Duration),
    /// The gate holds the call longer than it may wait: the call is over
    /// with this [`Throttled`](crate::ErrorKind::Throttled) error.
    Done(Error),
}

/// What the adapter does next.
#[derive(Debug)]
#[must_use]
pub enum Step<T> {
    /// The call is over: the value, or the error with its attempt count.
    Done(Result<T, Error>),
    /// Wait this long, then send [`Call::request`] again.
    Retry(Duration),
}

/// One operation on its way through attempts and retries.
///
/// Methods, in the order an adapter uses them:
/// 1. [`Call::new`] builds the request (an invalid argument fails here, with
///    0 attempts and nothing sent);
/// 2. [`Call::request`] is the request to send, the same every attempt;
/// 3. [`Call::handle`] takes what came back and says [`Step::Done`] or
///    [`Step::Retry`].
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use clerk_core::{Call, Config, Outcome, RevokeSignInToken, Step, Timing};
///
/// let config = Config::new("sk_test_example")?;
/// let mut call = Call::new(&config, RevokeSignInToken::new("sit_123"))?;
/// let timing = Timing { now: SystemTime::now(), elapsed: Duration::ZERO, jitter: 0.5 };
///
/// // First attempt: an edge proxy answers 502. Revoke is safe to repeat.
/// let bad_gateway = http::Response::builder().status(502).body(b"<html>".to_vec()).unwrap();
/// let Step::Retry(wait) = call.handle(Outcome::Response(bad_gateway), timing) else { panic!() };
/// assert!(wait <= config.retry_policy().max_backoff());
///
/// // Second attempt: Clerk answers.
/// let ok = http::Response::builder()
///     .status(200)
///     .header("content-type", "application/json")
///     .body(br#"{"object":"sign_in_token","id":"sit_123","status":"revoked","user_id":"user_1","url":null,"created_at":1,"updated_at":2}"#.to_vec())
///     .unwrap();
/// let Step::Done(Ok(token)) = call.handle(Outcome::Response(ok), timing) else { panic!() };
/// assert_eq!(token.id, "sit_123");
/// assert_eq!(call.attempts(), 2);
/// # Ok::<(), clerk_core::Error>(())
/// ```
pub struct Call<O> {
    operation: O,
    request: Request<Vec<u8>>,
    policy: RetryPolicy,
    attempts: u32,
    waited: Duration,
    last_error: Option<Error>,
    gate: Option<(Gate, Instant)>,
}

/// Shows the request's method and path but not its query, which may hold
/// personal data (a lookup's email addresses), nor its headers.
impl<O: std::fmt::Debug> std::fmt::Debug for Call<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("operation", &self.operation)
            .field("method", self.request.method())
            .field("path", &self.request.uri().path())
            .field("policy", &self.policy)
            .field("attempts", &self.attempts)
            .field("waited", &self.waited)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

impl<O: Operation> Call<O> {
    /// Builds the request for `operation` under `config`'s retry policy.
    ///
    /// # Errors
    /// The operation's invalid-request error; nothing may be sent.
    pub fn new(config: &Config, operation: O) -> Result<Self, Error> {
        let request = operation.build_request(config)?;
        Ok(Self {
            operation,
            request,
            policy: config.retry_policy().clone(),
            attempts: 0,
            waited: Duration::ZERO,
            last_error: None,
            gate: None,
        })
    }

    /// Puts the call behind the client's rate-limit gate; `started` is when
    /// the call began, the moment [`Timing::elapsed`] and the `elapsed`
    /// given to [`admit`](Self::admit) count from.
    ///
    /// Then a 429, or a 503 with `Retry-After`, holds every call of the
    /// gate until the moment the server named (a 503's, or a reply's not in
    /// Clerk's error shape, for at most
    /// [`max_retry_after`](RetryPolicy::max_retry_after)), and
    /// [`admit`](Self::admit) before each attempt says whether to send.
    #[must_use]
    pub fn with_gate(mut self, gate: &Gate, started: Instant) -> Self {
        self.gate = Some((gate.clone(), started));
        self
    }

    /// Asks before each attempt, the first included, whether to send now.
    ///
    /// `elapsed` (time since the call began) is read only when the gate
    /// has something to say: without a hold and without pacing, a call
    /// sends at once and the adapter reads no clock. A wait at the gate
    /// counts against the policy's [`max_elapsed`](RetryPolicy::max_elapsed);
    /// a hold past it, or a `Retry-After` hold longer than
    /// [`max_retry_after`](RetryPolicy::max_retry_after), ends the call at
    /// once with a [`Throttled`](crate::ErrorKind::Throttled) error that
    /// says when the gate opens. Waiting takes nothing from the gate: a
    /// call dropped while it waits leaves it as it was.
    ///
    /// With the `tracing` feature, each wait emits one event: how long, and
    /// why.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use clerk_core::{Admit, Call, Config, RevokeSignInToken};
    ///
    /// let config = Config::new("sk_test_example")?;
    /// let gate = config.new_gate();
    /// let started = Instant::now();
    /// // Another call of this client was told: not for 2 s.
    /// gate.hold_until(started, started + Duration::from_secs(2));
    /// let mut call = Call::new(&config, RevokeSignInToken::new("sit_1"))?.with_gate(&gate, started);
    /// assert!(matches!(call.admit(|| Duration::ZERO), Admit::Wait(d) if d == Duration::from_secs(2)));
    /// assert!(matches!(call.admit(|| Duration::from_secs(2)), Admit::Send));
    /// # Ok::<(), clerk_core::Error>(())
    /// ```
    pub fn admit(&mut self, elapsed: impl FnOnce() -> Duration) -> Admit {
        let Some((gate, started)) = &self.gate else {
            return Admit::Send;
        };
        if !gate.is_active() {
            return Admit::Send;
        }
        let elapsed = elapsed();
        let Some(now) = started.checked_add(elapsed) else {
            return Admit::Send;
        };
        let (until, reason) = match gate.admit(now) {
            Admission::Go => return Admit::Send,
            Admission::Wait { until, reason } => (until, reason),
        };
        let wait = until.saturating_duration_since(now);
        let too_long = (reason == crate::gate::HoldReason::RetryAfter
            && wait > self.policy.max_retry_after())
            || elapsed.saturating_add(wait) > self.policy.max_elapsed();
        if too_long {
            let previous = self.last_error.take().map(Box::new);
            let error = Error::throttled(
                Throttled {
                    reason,
                    retry_after: wait.min(crate::MAX_RETRY_AFTER),
                    previous,
                },
                self.attempts,
            );
            #[cfg(feature = "tracing")]
            tracing::info!(
                attempt = self.attempts.saturating_add(1),
                error = %error,
                "clerk call gave up at the client's rate-limit gate"
            );
            return Admit::Done(error);
        }
        #[cfg(feature = "tracing")]
        tracing::info!(
            attempt = self.attempts.saturating_add(1),
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            reason = %reason,
            "clerk call waits at the client's rate-limit gate"
        );
        Admit::Wait(wait)
    }

    /// The request to send, identical for every attempt.
    pub fn request(&self) -> &Request<Vec<u8>> {
        &self.request
    }

    /// The operation.
    pub fn operation(&self) -> &O {
        &self.operation
    }

    /// Attempts handled so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The waits handed out so far, added up.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The error of the last attempt, when that attempt led to
    /// [`Step::Retry`]: what an adapter logs (status, trace id) before it
    /// waits. `None` before the first attempt and once the call is done,
    /// whether it succeeded or failed (a failure's error is in
    /// [`Step::Done`]).
    pub fn last_error(&self) -> Option<&Error> {
        self.last_error.as_ref()
    }

    /// Takes the outcome of an attempt and decides what comes next.
    ///
    /// With the `tracing` feature, each call emits one event: the attempt
    /// number, the reply's status, the trace id, the error and the wait
    /// chosen; never a key, token or URL.
    pub fn handle<B: AsRef<[u8]>>(
        &mut self,
        outcome: Outcome<B>,
        timing: Timing,
    ) -> Step<O::Output> {
        self.handle_with(outcome, || timing)
    }

    /// [`handle`](Self::handle), asking for the [`Timing`] only when the
    /// attempt failed: a success needs no clock and no randomness, so an
    /// adapter skips reading them on the common path.
    ///
    /// ```
    /// # use std::time::{Duration, Instant, SystemTime};
    /// # use clerk_core::{Call, Config, Outcome, RevokeSignInToken, Step, Timing};
    /// # let config = Config::new("sk_test_example")?;
    /// let mut call = Call::new(&config, RevokeSignInToken::new("sit_123"))?;
    /// let ok = http::Response::builder()
    ///     .status(200)
    ///     .header("content-type", "application/json")
    ///     .body(br#"{"object":"sign_in_token","id":"sit_123","status":"revoked","user_id":"user_1","url":null,"created_at":1,"updated_at":2}"#.to_vec())
    ///     .unwrap();
    /// let step = call.handle_with(Outcome::Response(ok), || unreachable!("not asked on success"));
    /// assert!(matches!(step, Step::Done(Ok(_))));
    /// # Ok::<(), clerk_core::Error>(())
    /// ```
    pub fn handle_with<B: AsRef<[u8]>>(
        &mut self,
        outcome: Outcome<B>,
        timing: impl FnOnce() -> Timing,
    ) -> Step<O::Output> {
        #[cfg(feature = "tracing")]
        let status = match &outcome {
            Outcome::Response(response) => Some(response.status().as_u16()),
            Outcome::Transport(_) => None,
        };
        let step = self.decide_step(outcome, timing);
        #[cfg(feature = "tracing")]
        trace_step(self.attempts, status, self.last_error.as_ref(), &step);
        step
    }

    fn decide_step<B: AsRef<[u8]>>(
        &mut self,
        outcome: Outcome<B>,
        timing: impl FnOnce() -> Timing,
    ) -> Step<O::Output> {
        self.attempts = self.attempts.saturating_add(1);
        let result = match outcome {
            Outcome::Response(response) => self.operation.parse_response(&response),
            Outcome::Transport(error) => Err(Error::transport(error)),
        };
        let mut error = match result {
            Ok(value) => {
                self.last_error = None;
                if let Some((gate, _)) = &self.gate {
                    gate.note_served();
                }
                return Step::Done(Ok(value));
            }
            Err(error) => error,
        };
        let mut timing = timing();
        if self.hold_gate(&error, &timing) {
            // The gate now holds every call until the moment the server
            // named and then releases them at its rate: this call comes
            // back at that moment like the others, not later by a jitter.
            timing.jitter = 0.0;
        }
        if let Some(wait) = self.policy.decide(
            self.operation.idempotency(),
            &error,
            self.attempts,
            self.waited,
            &timing,
        ) {
            self.waited = self.waited.saturating_add(wait);
            error.set_attempts(self.attempts);
            self.last_error = Some(error);
            return Step::Retry(wait);
        }
        self.last_error = None;
        error.set_attempts(self.attempts);
        error.resolve_retry_after(timing.now);
        Step::Done(Err(error))
    }
}

impl<O> Call<O> {
    /// A 429, or a 503 with `Retry-After`, holds every call of the gate
    /// until the moment the server named; a 503's hold, and the hold of a
    /// reply not in Clerk's error shape, for at most
    /// [`max_retry_after`](RetryPolicy::max_retry_after).
    ///
    /// Returns whether the gate now holds.
    fn hold_gate(&self, error: &Error, timing: &Timing) -> bool {
        let Some((gate, started)) = &self.gate else {
            return false;
        };
        let refused = matches!(
            error.status(),
            Some(StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE)
        );
        let Some(hint) = error.retry_after().filter(|_| refused) else {
            if !refused && error.status().is_some() {
                gate.note_served();
            }
            return false;
        };
        let Some(now) = started.checked_add(timing.elapsed) else {
            return false;
        };
        // A 503's Retry-After may come from any proxy on the way, and so may
        // any reply not in Clerk's error shape: it holds the client no
        // longer than the policy would wait it out. Clerk's own 429 holds
        // as long as it says (a day at most): every call sent sooner would
        // only earn another.
        let mut hold = hint.delay_from(timing.now);
        if error.status() == Some(StatusCode::SERVICE_UNAVAILABLE) || !error.is_from_clerk() {
            hold = hold.min(self.policy.max_retry_after());
        }
        let Some(until) = now.checked_add(hold) else {
            return false;
        };
        gate.hold_until(now, until);
        gate.holds()
    }
}

/// Records what an attempt led to: only numbers, statuses, trace ids and
/// error messages, which this crate keeps free of credentials and URLs.
#[cfg(feature = "tracing")]
fn trace_step<T>(attempt: u32, status: Option<u16>, last_error: Option<&Error>, step: &Step<T>) {
    match step {
        Step::Retry(wait) => tracing::info!(
            attempt,
            status,
            trace_id = last_error.and_then(Error::trace_id),
            error = last_error.map(tracing::field::display),
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "clerk attempt failed; retrying"
        ),
        Step::Done(Ok(_)) => tracing::debug!(attempt, status, "clerk call succeeded"),
        Step::Done(Err(error)) => tracing::info!(
            attempt,
            status,
            trace_id = error.trace_id(),
            error = %error,
            "clerk call failed"
        ),
    }
}

/// Turns 64 random bits into a jitter value in `[0, 1)`. Adapters draw the
/// bits from their platform; the core only does the arithmetic.
pub fn jitter_from_bits(bits: u64) -> f64 {
    // The top 53 bits fill an f64 mantissa exactly.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TransportErrorKind;
    use crate::sign_in_tokens::{CreateSignInToken, RevokeSignInToken};

    const T0: Timing = Timing {
        now: SystemTime::UNIX_EPOCH,
        elapsed: Duration::ZERO,
        jitter: 0.0,
    };

    fn config() -> Config {
        Config::new("sk_test_x").unwrap()
    }

    fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Outcome {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        Outcome::Response(b.body(body.as_bytes().to_vec()).unwrap())
    }

    const CLERK_BODY: &str = r#"{"errors":[{"message":"m","long_message":"l","code":"c"}]}"#;

    fn first_step<O: Operation>(op: O, outcome: Outcome) -> Step<O::Output> {
        Call::new(&config(), op).unwrap().handle(outcome, T0)
    }

    fn transport(delivery: Delivery) -> Outcome {
        Outcome::Transport(TransportError::without_source(
            TransportErrorKind::Timeout,
            delivery,
        ))
    }

    #[test]
    fn handle_with_reads_the_timing_only_after_a_failure() {
        let token = r#"{"object":"sign_in_token","id":"sit_1","status":"revoked","user_id":"u","url":null,"created_at":1,"updated_at":2}"#;
        let mut asked = 0;
        let mut call = Call::new(&config(), RevokeSignInToken::new("sit_1")).unwrap();
        let step = call.handle_with(reply(503, &[], "busy"), || {
            asked += 1;
            T0
        });
        assert!(matches!(step, Step::Retry(_)));
        assert_eq!(asked, 1);
        let step = call.handle_with(
            reply(200, &[("content-type", "application/json")], token),
            || {
                asked += 1;
                T0
            },
        );
        assert!(matches!(step, Step::Done(Ok(_))));
        assert_eq!((asked, call.attempts()), (1, 2));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(p.backoff(2, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(10, 1.0), Duration::from_secs(5));
        assert_eq!(p.backoff(u32::MAX, 1.0), Duration::from_secs(5));
        assert_eq!(p.backoff(1, f64::NAN), Duration::from_millis(250));
        assert_eq!(p.backoff(1, 7.0), Duration::from_millis(500));
        let huge = p
            .with_max_backoff(Duration::MAX)
            .with_initial_backoff(Duration::MAX);
        assert!(huge.backoff(40, 1.0) <= Duration::MAX);
    }

    #[test]
    fn create_is_retried_only_when_safe() {
        let create = || CreateSignInToken::new("u");
        assert!(matches!(
            first_step(create(), transport(Delivery::NotSent)),
            Step::Retry(_)
        ));
        assert!(matches!(
            first_step(create(), transport(Delivery::MaybeSent)),
            Step::Done(Err(_))
        ));
        assert!(matches!(
            first_step(create(), reply(429, &[], CLERK_BODY)),
            Step::Retry(_)
        ));
        assert!(matches!(
            first_step(create(), reply(503, &[("retry-after", "1")], "")),
            Step::Retry(d) if d == Duration::from_secs(1)
        ));
        for status in [500, 502, 503, 504, 408] {
            assert!(
                matches!(
                    first_step(create(), reply(status, &[], "")),
                    Step::Done(Err(_))
                ),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 422] {
            assert!(
                matches!(
                    first_step(create(), reply(status, &[], CLERK_BODY)),
                    Step::Done(Err(_))
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn opt_in_retries_create() {
        let config =
            config().with_retry_policy(RetryPolicy::default().with_retry_non_idempotent(true));
        for outcome in [transport(Delivery::MaybeSent), reply(502, &[], "<html>")] {
            let mut call = Call::new(&config, CreateSignInToken::new("u")).unwrap();
            assert!(matches!(call.handle(outcome, T0), Step::Retry(_)));
        }
    }

    #[test]
    fn revoke_is_retried_on_5xx_and_timeouts() {
        let revoke = || RevokeSignInToken::new("sit_1");
        assert!(matches!(
            first_step(revoke(), transport(Delivery::MaybeSent)),
            Step::Retry(_)
        ));
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(
                matches!(first_step(revoke(), reply(status, &[], "")), Step::Retry(_)),
                "{status}"
            );
        }
        for status in [200, 301, 307, 400, 401, 403, 404, 422] {
            assert!(
                matches!(
                    first_step(revoke(), reply(status, &[], CLERK_BODY)),
                    Step::Done(Err(_))
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let revoke = || RevokeSignInToken::new("sit_1");
        assert!(matches!(
            first_step(revoke(), reply(429, &[("retry-after", "7")], CLERK_BODY)),
            Step::Retry(d) if d == Duration::from_secs(7)
        ));
        // Longer than max_retry_after: give up at once, and say when to come back.
        let Step::Done(Err(e)) =
            first_step(revoke(), reply(429, &[("retry-after", "11")], CLERK_BODY))
        else {
            panic!()
        };
        assert_eq!(
            e.retry_after(),
            Some(crate::RetryAfter::Delay(Duration::from_secs(11)))
        );
        assert_eq!(e.attempts(), 1);
        // HTTP-date, measured from the caller's now.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_475);
        let mut call = Call::new(&config(), revoke()).unwrap();
        let step = call.handle(
            reply(
                429,
                &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
                CLERK_BODY,
            ),
            Timing { now, ..T0 },
        );
        assert!(matches!(step, Step::Retry(d) if d == Duration::from_secs(5)));
        // A 5xx's Retry-After is never shorter than the backoff.
        assert!(matches!(
            first_step(revoke(), reply(502, &[("retry-after", "0")], "")),
            Step::Retry(d) if d == Duration::from_millis(500)
        ));
    }

    /// `Retry-After: 0`, or a date already past, must not send the retries
    /// out within milliseconds: each waits at least the longest backoff a
    /// 5xx would get, and jitter spreads workers told the same thing.
    #[test]
    fn no_hot_loop_on_zero_or_past_retry_after() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_475);
        for value in ["0", "Wed, 21 Oct 2015 07:27:00 GMT"] {
            for (status, body) in [(429, CLERK_BODY), (503, "")] {
                let mut call = Call::new(&config(), CreateSignInToken::new("u")).unwrap();
                let mut waits = Vec::new();
                while let Step::Retry(wait) = call.handle(
                    reply(status, &[("retry-after", value)], body),
                    Timing { now, ..T0 },
                ) {
                    waits.push(wait);
                }
                assert_eq!(
                    waits,
                    [Duration::from_millis(500), Duration::from_secs(1)],
                    "{status} {value}"
                );
            }
        }
        let wait_with = |jitter: f64| {
            let mut call = Call::new(&config(), RevokeSignInToken::new("s")).unwrap();
            match call.handle(
                reply(429, &[("retry-after", "2")], CLERK_BODY),
                Timing { jitter, ..T0 },
            ) {
                Step::Retry(wait) => wait,
                Step::Done(r) => panic!("{r:?}"),
            }
        };
        assert_eq!(wait_with(0.0), Duration::from_secs(2));
        assert_eq!(wait_with(1.0), Duration::from_millis(2250));
        assert!(wait_with(0.3) < wait_with(0.6));
    }

    /// An absurd `Retry-After` ends the call with a delay a caller can add to
    /// an `Instant` or a `SystemTime`, and `Display` says when to come back.
    #[test]
    fn absurd_retry_after_is_clamped_and_shown() {
        for value in [
            "99999999999999999999",
            "18446744073709551615",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            let mut call = Call::new(&config(), CreateSignInToken::new("u")).unwrap();
            let step = call.handle(reply(429, &[("retry-after", value)], CLERK_BODY), T0);
            let Step::Done(Err(e)) = step else {
                panic!("{value}: {step:?}")
            };
            let Some(crate::RetryAfter::Delay(d)) = e.retry_after() else {
                panic!("{value}: {e:?}")
            };
            assert_eq!(d, crate::MAX_RETRY_AFTER, "{value}");
            // Far from anything that overflows when added to a clock reading.
            assert!(SystemTime::UNIX_EPOCH.checked_add(d).is_some());
            assert!(e.to_string().ends_with("; retry after 86400 s"), "{e}");
        }
    }

    #[test]
    fn last_error_is_cleared_when_the_call_ends() {
        let token = r#"{"object":"sign_in_token","id":"sit_1","status":"revoked","user_id":"u","url":null,"created_at":1,"updated_at":2}"#;
        let mut call = Call::new(&config(), RevokeSignInToken::new("sit_1")).unwrap();
        assert!(call.last_error().is_none());
        assert!(matches!(
            call.handle(reply(502, &[], "<html>"), T0),
            Step::Retry(_)
        ));
        assert_eq!(
            call.last_error().and_then(Error::status),
            Some(StatusCode::BAD_GATEWAY)
        );
        let step = call.handle(
            reply(200, &[("content-type", "application/json")], token),
            T0,
        );
        assert!(matches!(step, Step::Done(Ok(_))));
        assert!(call.last_error().is_none(), "{:?}", call.last_error());
    }

    #[test]
    fn attempts_and_waits_are_bounded() {
        let mut call = Call::new(&config(), RevokeSignInToken::new("sit_1")).unwrap();
        let mut waits = Vec::new();
        loop {
            match call.handle(reply(503, &[], ""), Timing { jitter: 1.0, ..T0 }) {
                Step::Retry(d) => waits.push(d),
                Step::Done(r) => {
                    let e = r.unwrap_err();
                    assert_eq!(e.attempts(), 3);
                    assert_eq!(e.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
                    break;
                }
            }
        }
        assert_eq!(waits, [Duration::from_millis(500), Duration::from_secs(1)]);
        assert_eq!(call.waited(), Duration::from_millis(1500));
    }

    #[test]
    fn elapsed_and_total_wait_budgets() {
        let tight = config()
            .with_retry_policy(RetryPolicy::default().with_max_elapsed(Duration::from_secs(1)));
        let mut call = Call::new(&tight, RevokeSignInToken::new("s")).unwrap();
        let late = Timing {
            elapsed: Duration::from_millis(900),
            jitter: 1.0,
            ..T0
        };
        assert!(matches!(
            call.handle(reply(503, &[], ""), late),
            Step::Done(Err(_))
        ));
        let tight = config().with_retry_policy(
            RetryPolicy::default().with_max_total_wait(Duration::from_millis(100)),
        );
        let mut call = Call::new(&tight, RevokeSignInToken::new("s")).unwrap();
        assert!(matches!(
            call.handle(reply(503, &[], ""), T0),
            Step::Done(Err(_))
        ));
    }

    #[test]
    fn success_and_never() {
        let ok = r#"{"object":"sign_in_token","id":"s","status":"pending","user_id":"u","created_at":1,"updated_at":1}"#;
        assert!(matches!(
            first_step(
                CreateSignInToken::new("u"),
                reply(200, &[("content-type", "application/json")], ok)
            ),
            Step::Done(Ok(_))
        ));
        let never = config().with_retry_policy(RetryPolicy::never());
        let mut call = Call::new(&never, RevokeSignInToken::new("s")).unwrap();
        assert!(matches!(
            call.handle(reply(429, &[], CLERK_BODY), T0),
            Step::Done(Err(_))
        ));
    }

    #[test]
    fn jitter_bits() {
        assert_eq!(jitter_from_bits(0), 0.0);
        assert!(jitter_from_bits(u64::MAX) < 1.0);
        assert!(jitter_from_bits(u64::MAX) > 0.999);
    }
}
