//! One rate limit, shared by every call of a client.
//!
//! Clerk limits the Backend API per instance, that is per secret key: 100
//! requests per 10 s on development instances (`sk_test_…`), 1000 per 10 s
//! on production ones (`sk_live_…`). Past the limit it answers 429 with
//! `Retry-After`. A client that lets each call find that out on its own
//! earns one 429 per call in flight; a [`Gate`] lets the first one speak for
//! all of them.
//!
//! Three things live in a gate, all pure state fed the time by the adapter:
//!
//! - **The hold** (on by default, [`Config::with_rate_limit_gate`]): when a
//!   reply says "not before T" (a 429, or a 503 with `Retry-After`), every
//!   call of the client and its clones holds its next attempt, first
//!   attempts included, until T. Clerk's own 429 holds as long as it says
//!   (a day at most); a 503's hold, and the hold of any reply not in
//!   Clerk's error shape (a proxy's HTML 429 with `Retry-After: 86400`, say),
//!   lasts at most the policy's [`max_retry_after`]. (Tests:
//!   `a_429_holds_every_call_of_the_gate`,
//!   `a_503_holds_no_longer_than_the_policy_waits`,
//!   `a_429_not_from_clerk_holds_no_longer_than_the_policy_waits`; scenario
//!   `proxy_429_holds_no_longer_than_the_policy`.)
//! - **The release** (with the hold): after a hold, the waiting calls go at
//!   the rate the server showed, not all at once; the rule is below.
//! - **Pacing** (off by default, [`Config::with_pacing`]): at most N
//!   requests started in any window of the given length, so a burst stays
//!   under the limit instead of running into it. Pacing set in the
//!   configuration replaces the release.
//!
//! A call asks the gate before every attempt ([`Call::admit`]); an answer
//! to wait reserves nothing (no start is counted, no slot held), so a call
//! dropped while it waits leaves nothing behind. The adapters share one
//! gate across a client's clones; its lock is held for a few comparisons,
//! never across an await or a sleep.
//!
//! # The release
//!
//! When a hold ends, the gate lets calls through at the rate the server
//! showed: per hold length (the hold's start to its end, which for Clerk's
//! 429 is the rest of its window), as many as the server served since the
//! count began, the count beginning at the previous hold's end or at the
//! start of the release's current window. Each window of the release that
//! holds a call back raises the rate by a step: the first step is an eighth
//! of the learned rate (at least 1), and each next step is half as large
//! again as the one before. The first window that holds no call ends the
//! release, and every call goes. A new hold during the release learns
//! again, from what the server served in the window it ended. A hold of no
//! length (`Retry-After: 0`), or one with nothing served since the count
//! began, teaches nothing: a release keeps its rate and starts its window
//! again at the hold's end.
//!
//! So the release cannot get stuck: once the server stops refusing, the
//! rate grows by at least 2 × (1.5ⁿ − 1) in n windows, until it is above
//! what the callers ask for (and the release ends) or above the server's
//! limit (and a 429 teaches the limit again). Like TCP's congestion window
//! after a loss, and the AWS SDKs' adaptive retry mode after a throttle,
//! the rate drops to what the server served and climbs back by probing.
//! The steps start small because a probe past the limit costs a 429 for
//! each call sent past it, and each 429 spends one of that call's attempts;
//! they grow geometrically so that a client squeezed to a tenth of the
//! limit by another user of the key is back at the whole limit a handful of
//! windows after the squeeze ends. (Tests:
//! `a_release_lets_through_what_the_server_served_then_grows`,
//! `a_hold_during_a_release_learns_the_window_it_ended`,
//! `a_hold_of_no_length_or_no_count_teaches_nothing`, the property
//! `throughput_recovers_once_refusals_stop`, the simulations
//! `a_simulated_burst_at_the_limit_meets_its_targets` and
//! `a_simulated_squeeze_recovers`, in `tests/it/gate.rs`; scenarios
//! `burst_at_the_rate_limit_completes` and `a_squeezed_burst_recovers`.)
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
//! [`max_retry_after`]: crate::RetryPolicy::max_retry_after
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
    /// At most `requests` (at least 1) started in any window of `window`
    /// (at least a millisecond, at most [`MAX_RETRY_AFTER`], a day: a
    /// longer one would hold calls past anything a reply may ask).
    ///
    /// [`MAX_RETRY_AFTER`]: crate::MAX_RETRY_AFTER
    pub fn new(requests: u32, window: Duration) -> Self {
        Self {
            requests: requests.max(1),
            window: window.clamp(Duration::from_millis(1), crate::MAX_RETRY_AFTER),
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
    /// After a hold, the gate lets the waiting calls through at the rate
    /// the server showed, growing each window, rather than all at once
    /// (see [the release](crate::gate#the-release)).
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
    /// Do not send before `until`; ask again then. No start was counted.
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
/// spend the new window in one go and earn 429s for the rest. So the gate
/// releases the calls at the rate the server showed, and raises that rate
/// each window it holds a call back, until a window holds none: the rule,
/// in full, is in the [module docs](crate::gate#the-release).
/// [`release_pacing`](Self::release_pacing) shows the rate while a release
/// lasts. Pacing set in the configuration replaces the release.
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
    /// True while there may be something to wait for: a hold, pacing, or a
    /// release. Lets a call skip the lock and the clock when there is not.
    active: AtomicBool,
    /// Replies that were not refusals, ever: the release rate is counted
    /// from it.
    served: AtomicU64,
    state: Mutex<State>,
}

struct State {
    hold: Option<Instant>,
    /// When the current hold began.
    hold_began: Option<Instant>,
    /// `served` when the current count began: at the last hold's end, or
    /// when the release's current window began (0: the gate's creation).
    counted_from: u64,
    /// Pacing from the configuration.
    pacing: Option<Pacer>,
    /// The release after a hold, while it lasts.
    release: Option<Release>,
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
                    hold_began: None,
                    counted_from: 0,
                    pacing: pacing.map(Pacer::new),
                    release: None,
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
    /// for pacing; [`Admission::Wait`] counts nothing (it may end a hold
    /// that is over, or move the release on to its next window).
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
            state.release_at(until, served);
        }
        if state.release.is_some() {
            let served = self.shared.served.load(Ordering::Acquire);
            state.next_window(now, served);
        }
        let state = &mut *state;
        let (pacer, reason) = match (&mut state.pacing, &mut state.release) {
            (Some(pacer), _) => (Some(pacer), HoldReason::Pacing),
            (None, Some(release)) => (Some(&mut release.pacer), HoldReason::Release),
            (None, None) => (None, HoldReason::Pacing),
        };
        if let Some(until) = pacer.and_then(|p| p.admit(now)) {
            if let (None, Some(release)) = (&state.pacing, &mut state.release) {
                // More calls than the rate: the release keeps going.
                release.held = true;
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
            state.hold_began = Some(now);
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

    /// The release's rate while a release lasts: what the gate lets through
    /// per window after a hold (see [After a hold](Self#after-a-hold)).
    pub fn release_pacing(&self) -> Option<RateLimit> {
        self.lock().release.as_ref().map(|r| r.pacer.limit)
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

    /// A hold ends at `ended`, `served` replies served so far. The release
    /// lets through, per hold length, as many calls as the server served
    /// since the count began (the last hold's end, or the start of the
    /// release's window). A hold of no length (`Retry-After: 0`) says
    /// nothing of a window, and a count of none nothing of a rate: after
    /// either, a release keeps its rate and starts its window again.
    fn release_at(&mut self, ended: Instant, served: u64) {
        let began = self.hold_began.take().unwrap_or(ended);
        let length = ended.saturating_duration_since(began);
        let count = served.saturating_sub(self.counted_from);
        if length.is_zero() || count == 0 {
            if let Some(release) = &mut self.release {
                release.window_began = release.window_began.max(ended);
                release.held = false;
            }
            return;
        }
        self.counted_from = served;
        if self.pacing.is_some() {
            return;
        }
        let learned = u32::try_from(count).unwrap_or(u32::MAX);
        self.release = Some(Release::new(RateLimit::new(learned, length), ended));
    }

    /// At `now`, after the release's window: ends the release if that
    /// window held no call (or a whole window passed with none asking),
    /// and otherwise raises its rate by the next step and starts a new
    /// window and a new count.
    fn next_window(&mut self, now: Instant, served: u64) {
        let Some(release) = &mut self.release else {
            return;
        };
        let window = release.pacer.limit.spaced_window();
        let Some(end) = release.window_began.checked_add(window) else {
            return;
        };
        if now < end {
            return;
        }
        if !release.held || end.checked_add(window).is_none_or(|next| now >= next) {
            self.release = None;
            return;
        }
        release.grow(now);
        self.counted_from = served;
    }
}

/// The release after a hold: a rate per window that grows by a step each
/// window it holds a call; the first step an eighth of the learned rate
/// (at least 1: `RateLimit` keeps at least 1 request), each next one half
/// as large again.
struct Release {
    pacer: Pacer,
    /// What the rate grows by at the end of this window.
    step: u32,
    /// When this window began.
    window_began: Instant,
    /// Whether a call waited for the release in this window.
    held: bool,
}

impl Release {
    fn new(limit: RateLimit, now: Instant) -> Self {
        Self {
            step: limit.requests().div_ceil(8),
            pacer: Pacer::new(limit),
            window_began: now,
            held: false,
        }
    }

    fn grow(&mut self, now: Instant) {
        let limit = self.pacer.limit;
        self.pacer.limit =
            RateLimit::new(limit.requests().saturating_add(self.step), limit.window());
        self.step = self.step.saturating_add(self.step.div_ceil(2));
        self.window_began = now;
        self.held = false;
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Gate")
            .field("holds", &self.shared.holds)
            .field("held_until", &state.hold)
            .field("pacing", &state.pacing.as_ref().map(|p| p.limit))
            .field("release", &state.release.as_ref().map(|r| r.pacer.limit))
            .finish()
    }
}
