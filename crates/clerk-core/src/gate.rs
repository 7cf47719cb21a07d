//! One rate limit, shared by every call of a client.
//!
//! Clerk limits the Backend API per instance, that is per secret key: 100
//! requests per 10 s on development instances (`sk_test_…`), 1000 per 10 s
//! on production ones (`sk_live_…`). Past the limit it answers 429 with
//! `Retry-After`. A client that lets each call find that out on its own
//! earns one 429 per call in flight; a [`Gate`] lets the first one speak for
//! all of them.
//!
//! Two things live in a gate, both pure state fed the time by the adapter:
//!
//! - **The hold** (on by default, [`Config::with_rate_limit_gate`]): when a
//!   reply says "not before T" (a 429, or a 503 with `Retry-After`), every
//!   call of the client and its clones holds its next attempt, first
//!   attempts included, until T.
//! - **Pacing** (off by default, [`Config::with_pacing`]): at most N
//!   requests started in any window of the given length, so a burst stays
//!   under the limit instead of running into it.
//!
//! A call asks the gate before every attempt ([`Call::admit`]); an answer
//! to wait takes nothing from the gate, so a call dropped while it waits
//! leaves the gate as it was. The adapters share one gate across a client's
//! clones; its lock is held for a few comparisons, never across an await or
//! a sleep.
//!
//! # Pacing is a share you choose
//!
//! Clerk counts every request of the instance, from every process and every
//! machine using the key. Pacing one client to Clerk's whole limit is right
//! only when that client is the key's only user. A fleet splits the limit:
//! four workers sharing a production key might each take
//! `RateLimit::clerk_production().divided_among(4)` (250 per 10 s), or less to
//! leave room for the rest of the application. The hold needs no such
//! planning: it follows what Clerk says.
//!
//! [`Config::with_rate_limit_gate`]: crate::Config::with_rate_limit_gate
//! [`Config::with_pacing`]: crate::Config::with_pacing
//! [`Call::admit`]: crate::Call::admit

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most `requests` started in any window of `window`.
///
/// ```
/// use std::time::Duration;
/// use clerk_core::RateLimit;
///
/// let dev = RateLimit::for_secret_key("sk_test_example");
/// assert_eq!(dev, RateLimit::clerk_development());
/// assert_eq!((dev.requests(), dev.window()), (100, Duration::from_secs(10)));
/// // Four workers sharing a production key, each taking a quarter.
/// let share = RateLimit::clerk_production().divided_among(4);
/// assert_eq!(share.requests(), 250);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateLimit {
    requests: u32,
    window: Duration,
}

impl RateLimit {
    /// At most `requests` (at least 1) started in any window of `window`.
    pub fn new(requests: u32, window: Duration) -> Self {
        Self {
            requests: requests.max(1),
            window,
        }
    }

    /// Clerk's documented limit for development instances: 100 requests
    /// per 10 s.
    pub fn clerk_development() -> Self {
        Self::new(100, Duration::from_secs(10))
    }

    /// Clerk's documented limit for production instances: 1000 requests
    /// per 10 s.
    pub fn clerk_production() -> Self {
        Self::new(1000, Duration::from_secs(10))
    }

    /// Clerk's documented limit for the instance this key belongs to:
    /// production for `sk_live_…`, development for anything else.
    pub fn for_secret_key(secret_key: &str) -> Self {
        if secret_key.starts_with("sk_live_") {
            Self::clerk_production()
        } else {
            Self::clerk_development()
        }
    }

    /// This limit split evenly among `parts` clients sharing the key
    /// (rounded down, at least 1 request per window).
    #[must_use]
    pub fn divided_among(self, parts: u32) -> Self {
        Self::new(self.requests / parts.max(1), self.window)
    }

    /// The most requests started in one window.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The window pacing keeps: a fiftieth longer than the limit's, so
    /// that a request a little late on the wire does not land in the
    /// server's previous window (its windows start when a request arrives,
    /// not when it left).
    pub(crate) fn spaced_window(&self) -> Duration {
        self.window.saturating_add(self.window / 50)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} requests per {:?}", self.requests, self.window)
    }
}

/// Why a call waits at the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HoldReason {
    /// A reply told the client not to send before a moment (429, or 503
    /// with `Retry-After`).
    RetryAfter,
    /// The client's pacing has started as many requests as the window
    /// allows.
    Pacing,
    /// After a hold, the gate lets through about as many requests per
    /// window as the server served in the last one, rather than all the
    /// waiting calls at once.
    Release,
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RetryAfter => "the server asked this client to wait",
            Self::Pacing => "this client's pacing allows no more requests yet",
            Self::Release => {
                "this client spreads its calls over the server's rate-limit window after a 429"
            }
        })
    }
}

/// The gate's answer to a call about to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Send now. With pacing, the start has been counted.
    Go,
    /// Do not send before `until`; ask again then. Nothing was taken.
    Wait {
        /// The moment to ask again.
        until: Instant,
        /// Why.
        reason: HoldReason,
    },
}

/// A client-wide gate: cheap to clone (clones share it), safe to use from
/// many threads and tasks.
///
/// The adapters build one per client from its [`Config`](crate::Config)
/// and hand it to every [`Call`](crate::Call); use it directly only to
/// drive calls yourself.
///
/// # After a hold
///
/// When a hold ends, letting every waiting call through at once would
/// spend the new window in one go and earn 429s for the rest, every
/// window. So the gate releases them at the rate the server showed: as
/// many requests per window as it served between the previous release and
/// this one (every reply that was not a refusal counts, which the gate
/// learns through [`note_served`](Self::note_served)), over the time
/// between the two, counted per window of the first hold's length (which
/// ends where the server's window ends). A later 429 corrects the
/// estimate; the release pacing ends once three of its windows pass with
/// no call held by it. Pacing set in the configuration replaces it.
///
/// ```
/// use std::time::{Duration, Instant};
/// use clerk_core::{Admission, Gate, HoldReason, RateLimit};
///
/// let gate = Gate::new(true, Some(RateLimit::new(2, Duration::from_secs(1))));
/// let t0 = Instant::now();
/// assert_eq!(gate.admit(t0), Admission::Go);
/// assert_eq!(gate.admit(t0), Admission::Go);
/// // A third start within the window waits for the first to leave it
/// // (the window kept a fiftieth longer).
/// assert_eq!(
///     gate.admit(t0),
///     Admission::Wait { until: t0 + Duration::from_millis(1020), reason: HoldReason::Pacing }
/// );
/// // A 429 said "not for 5 s": everyone holds.
/// gate.hold_until(t0, t0 + Duration::from_secs(5));
/// assert!(matches!(
///     gate.admit(t0 + Duration::from_secs(2)),
///     Admission::Wait { reason: HoldReason::RetryAfter, .. }
/// ));
/// ```
#[derive(Clone)]
pub struct Gate {
    shared: Arc<Shared>,
}

struct Shared {
    /// Whether replies' `Retry-After` hold every call.
    holds: bool,
    /// True while there may be something to wait for: a hold, or pacing.
    /// Lets a call skip the lock and the clock when there is not.
    active: AtomicBool,
    /// Replies that were not refusals, ever: the release rate is learned
    /// from it.
    served: AtomicU64,
    state: Mutex<State>,
}

struct State {
    hold: Option<Instant>,
    /// When this hold was first learned.
    hold_learned_at: Option<Instant>,
    /// Pacing from the configuration.
    pacing: Option<Pacer>,
    /// Pacing learned at the end of a hold, and when it ends.
    release: Option<(Pacer, Instant)>,
    /// When the previous hold ended, and `served` then.
    previous_release: Option<(Instant, u64)>,
    /// The window release pacing keeps: the length of the first hold,
    /// which ends where the server's window does.
    release_window: Option<Duration>,
    /// The latest moment seen: the gate's own timeline never runs
    /// backwards, whatever order callers' clock readings arrive in.
    latest: Option<Instant>,
}

/// A sliding log of the starts in the last window.
struct Pacer {
    limit: RateLimit,
    starts: VecDeque<Instant>,
}

impl Pacer {
    fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            starts: VecDeque::new(),
        }
    }

    /// Counts a start at `now`, or says until when to wait.
    fn admit(&mut self, now: Instant) -> Option<Instant> {
        let window = self.limit.spaced_window();
        while self
            .starts
            .front()
            .is_some_and(|&start| start.checked_add(window).is_none_or(|end| end <= now))
        {
            self.starts.pop_front();
        }
        if self.starts.len() >= self.limit.requests as usize {
            let oldest = self.starts.front().copied().unwrap_or(now);
            return Some(oldest.checked_add(window).unwrap_or(now));
        }
        self.starts.push_back(now);
        None
    }
}

impl Gate {
    /// A gate that holds every call after a `Retry-After` when `holds`, and
    /// paces starts to `pacing` when given.
    pub fn new(holds: bool, pacing: Option<RateLimit>) -> Self {
        Self {
            shared: Arc::new(Shared {
                holds,
                active: AtomicBool::new(pacing.is_some()),
                served: AtomicU64::new(0),
                state: Mutex::new(State {
                    hold: None,
                    hold_learned_at: None,
                    pacing: pacing.map(Pacer::new),
                    release: None,
                    previous_release: None,
                    release_window: None,
                    latest: None,
                }),
            }),
        }
    }

    /// A gate that never holds and never paces.
    pub fn disabled() -> Self {
        Self::new(false, None)
    }

    /// Whether an [`admit`](Self::admit) could answer anything but
    /// [`Admission::Go`] now. When it is false a caller may send without
    /// reading the clock.
    pub fn is_active(&self) -> bool {
        self.shared.active.load(Ordering::Acquire)
    }

    /// Asks to start a request at `now`. [`Admission::Go`] counts the start
    /// for pacing; [`Admission::Wait`] takes nothing.
    pub fn admit(&self, now: Instant) -> Admission {
        let mut state = self.lock();
        let now = state.observe(now);
        if let Some(until) = state.hold {
            if now < until {
                return Admission::Wait {
                    until,
                    reason: HoldReason::RetryAfter,
                };
            }
            state.hold = None;
            let served = self.shared.served.load(Ordering::Acquire);
            state.learn_release(until, served);
        }
        if state.release.as_ref().is_some_and(|(_, ends)| now >= *ends) {
            state.release = None;
        }
        let state = &mut *state;
        let (pacer, reason) = match (&mut state.pacing, &mut state.release) {
            (Some(pacer), _) => (Some(pacer), HoldReason::Pacing),
            (None, Some((pacer, _))) => (Some(pacer), HoldReason::Release),
            (None, None) => (None, HoldReason::Pacing),
        };
        if let Some(until) = pacer.and_then(|p| p.admit(now)) {
            if let Some((pacer, ends)) = &mut state.release {
                // Still more calls than the learned rate: keep releasing.
                *ends = (*ends).max(
                    now.checked_add(pacer.limit.spaced_window().saturating_mul(3))
                        .unwrap_or(now),
                );
            }
            return Admission::Wait { until, reason };
        }
        if state.hold.is_none() && state.pacing.is_none() && state.release.is_none() {
            self.shared.active.store(false, Ordering::Release);
        }
        Admission::Go
    }

    /// Holds every call from `now` until `until` (a later hold already in
    /// place stays). Does nothing on a gate built not to hold.
    pub fn hold_until(&self, now: Instant, until: Instant) {
        if !self.shared.holds {
            return;
        }
        let mut state = self.lock();
        let now = state.observe(now);
        if state.hold.is_none() {
            state.hold_learned_at = Some(now);
        }
        if state.hold.is_none_or(|held| held < until) {
            state.hold = Some(until);
        }
        self.shared.active.store(true, Ordering::Release);
    }

    /// Counts a reply that was not a refusal: the server served it, within
    /// its limit. Lock-free; the gate learns its release rate from it.
    pub fn note_served(&self) {
        if self.shared.holds {
            self.shared.served.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The moment the current hold ends, if any.
    pub fn held_until(&self) -> Option<Instant> {
        self.lock().hold
    }

    /// Whether replies' `Retry-After` hold every call of this gate.
    pub fn holds(&self) -> bool {
        self.shared.holds
    }

    /// The pacing from the configuration, if any.
    pub fn pacing(&self) -> Option<RateLimit> {
        self.lock().pacing.as_ref().map(|p| p.limit)
    }

    /// The release pacing learned after the last hold, while it lasts.
    pub fn release_pacing(&self) -> Option<RateLimit> {
        self.lock().release.as_ref().map(|(p, _)| p.limit)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned state is whole.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn observe(&mut self, now: Instant) -> Instant {
        let now = self.latest.map_or(now, |latest| latest.max(now));
        self.latest = Some(now);
        now
    }

    /// At the end of a hold: the server served `served − served before`
    /// requests since the previous release, over the time since then (the
    /// first time, over the hold itself, which ends where the window the
    /// first 429 came in ends).
    fn learn_release(&mut self, ended: Instant, served: u64) {
        let since = match self.previous_release {
            Some((at, before)) => Some((at, served.saturating_sub(before))),
            None => self.hold_learned_at.map(|at| (at, served)),
        };
        self.previous_release = Some((ended, served));
        self.hold_learned_at = None;
        if self.pacing.is_some() {
            return;
        }
        let Some((from, count)) = since else { return };
        let span = ended.saturating_duration_since(from);
        if count == 0 || span.is_zero() {
            return;
        }
        // The rate seen over the span, kept per window of the first hold's
        // length: a span of several windows must not allow them all in one.
        let window = *self.release_window.get_or_insert(span);
        let per_window = u128::from(count).saturating_mul(window.as_nanos()) / span.as_nanos();
        let limit = RateLimit::new(u32::try_from(per_window).unwrap_or(u32::MAX), window);
        let ends = ended
            .checked_add(limit.spaced_window().saturating_mul(3))
            .unwrap_or(ended);
        self.release = Some((Pacer::new(limit), ends));
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Gate")
            .field("holds", &self.shared.holds)
            .field("held_until", &state.hold)
            .field("pacing", &state.pacing.as_ref().map(|p| p.limit))
            .field("release", &state.release.as_ref().map(|(p, _)| p.limit))
            .finish()
    }
}
