//! Clerk's per-instance rate limit: a fixed window per secret key.

use std::time::{Duration, Instant};

/// A rate limit for [`MockServerBuilder::rate_limit`]: at most `limit` requests per `window`,
/// in fixed windows, like Clerk's limit per instance (per secret key).
///
/// [`DEVELOPMENT`](Self::DEVELOPMENT) and [`PRODUCTION`](Self::PRODUCTION) are Clerk's
/// documented limits; [`new`](Self::new) makes any other, e.g. a small one for a test.
///
/// [`MockServerBuilder::rate_limit`]: crate::MockServerBuilder::rate_limit
///
/// # Examples
///
/// ```
/// use clerk_mock::RateLimit;
/// use std::time::Duration;
///
/// assert_eq!(RateLimit::DEVELOPMENT.limit(), 100);
/// assert_eq!(RateLimit::PRODUCTION.limit(), 1000);
/// assert_eq!(RateLimit::PRODUCTION.window(), Duration::from_secs(10));
///
/// let small = RateLimit::new(3, Duration::from_millis(500));
/// assert_eq!((small.limit(), small.window()), (3, Duration::from_millis(500)));
/// // A window is at least 1 ms.
/// assert_eq!(RateLimit::new(1, Duration::ZERO).window(), Duration::from_millis(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    limit: u32,
    window: Duration,
    other_tenant: Option<OtherTenant>,
}

/// Another user of the same key: it takes `taken` requests of every window that begins
/// within `lasting` of the limiter's first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct OtherTenant {
    taken: u32,
    lasting: Duration,
}

impl RateLimit {
    /// Clerk's limit for development instances (`sk_test_…` keys): 100 requests per 10 s.
    pub const DEVELOPMENT: RateLimit = RateLimit {
        limit: 100,
        window: Duration::from_secs(10),
        other_tenant: None,
    };

    /// Clerk's limit for production instances (`sk_live_…` keys): 1000 requests per 10 s.
    pub const PRODUCTION: RateLimit = RateLimit {
        limit: 1000,
        window: Duration::from_secs(10),
        other_tenant: None,
    };

    /// At most `limit` requests per `window`. A `window` shorter than 1 ms counts as 1 ms. A
    /// `limit` of 0 refuses every request that carries the key.
    pub const fn new(limit: u32, window: Duration) -> RateLimit {
        let min = Duration::from_millis(1);
        let window = if window.as_nanos() < min.as_nanos() {
            min
        } else {
            window
        };
        RateLimit {
            limit,
            window,
            other_tenant: None,
        }
    }

    /// This limit, shared with another user of the key (a batch job, another service) that
    /// takes `taken` requests of every window beginning within `lasting` of the first
    /// request the limiter sees, then stops. Windows keep their rule: each begins at the
    /// first request after the previous one ended, and the other user's requests count as
    /// made at its start; they are not recorded, and never refused.
    ///
    /// ```
    /// use clerk_mock::RateLimit;
    /// use std::time::Duration;
    ///
    /// // Another user takes all but 2 requests a second for the first 4 s.
    /// let squeezed = RateLimit::new(20, Duration::from_secs(1))
    ///     .with_other_tenant(18, Duration::from_secs(4));
    /// assert_eq!(squeezed.other_tenant(), Some((18, Duration::from_secs(4))));
    /// assert_eq!(RateLimit::new(20, Duration::from_secs(1)).other_tenant(), None);
    /// ```
    #[must_use]
    pub const fn with_other_tenant(self, taken: u32, lasting: Duration) -> RateLimit {
        RateLimit {
            other_tenant: Some(OtherTenant { taken, lasting }),
            ..self
        }
    }

    /// The other user of the key, if any: what it takes of each window, and for how long.
    pub const fn other_tenant(&self) -> Option<(u32, Duration)> {
        match self.other_tenant {
            Some(other) => Some((other.taken, other.lasting)),
            None => None,
        }
    }

    /// How many requests a window admits.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// How long a window lasts.
    pub const fn window(&self) -> Duration {
        self.window
    }
}

/// The current window of the server's one secret key.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    admitted: u32,
}

/// Counts requests in fixed windows that start at the first request after the previous
/// window ended. Callers hold the server's state lock, so decisions are exact under
/// concurrency.
#[derive(Debug)]
pub(crate) struct Limiter {
    rate: RateLimit,
    current: Option<Window>,
    /// The first request seen: the other tenant's time counts from it.
    first: Option<Instant>,
}

impl Limiter {
    pub(crate) fn new(rate: RateLimit) -> Self {
        Self {
            rate,
            current: None,
            first: None,
        }
    }

    /// What the other tenant takes of a window beginning at `now`.
    fn taken_by_others(&mut self, now: Instant) -> u32 {
        let first = *self.first.get_or_insert(now);
        match self.rate.other_tenant {
            Some(other) if now.saturating_duration_since(first) < other.lasting => other.taken,
            _ => 0,
        }
    }

    /// Admits a request arriving at `now` (`Ok`), or refuses it with the whole seconds until
    /// its window ends, rounded up and at least 1 (`Err`). A refused request does not use up
    /// any of the limit.
    pub(crate) fn admit(&mut self, now: Instant) -> Result<(), u64> {
        let window = match self.current {
            Some(w) if now.saturating_duration_since(w.start) < self.rate.window => w,
            _ => Window {
                start: now,
                admitted: self.taken_by_others(now),
            },
        };
        if window.admitted < self.rate.limit {
            self.current = Some(Window {
                admitted: window.admitted + 1,
                ..window
            });
            Ok(())
        } else {
            self.current = Some(window);
            let end = window.start.checked_add(self.rate.window);
            let left = end.map_or(self.rate.window, |end| end.saturating_duration_since(now));
            Err(whole_seconds_up(left))
        }
    }
}

/// Seconds, rounded up, and at least 1: a `Retry-After` of 0 would invite an immediate retry
/// into the same window.
fn whole_seconds_up(duration: Duration) -> u64 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn admits_exactly_the_limit_per_window_then_starts_a_new_one() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(RateLimit::new(3, 1000 * MS));
        assert_eq!(limiter.admit(t0), Ok(()));
        assert_eq!(limiter.admit(t0 + 10 * MS), Ok(()));
        assert_eq!(limiter.admit(t0 + 20 * MS), Ok(()));
        assert_eq!(limiter.admit(t0 + 30 * MS), Err(1));
        // Refusals use up nothing and do not move the window's end.
        assert_eq!(limiter.admit(t0 + 999 * MS), Err(1));
        // The window is [t0, t0 + 1 s): at its end a new one starts, with a full limit.
        assert_eq!(limiter.admit(t0 + 1000 * MS), Ok(()));
        assert_eq!(limiter.admit(t0 + 1001 * MS), Ok(()));
        assert_eq!(limiter.admit(t0 + 1002 * MS), Ok(()));
        assert_eq!(limiter.admit(t0 + 1003 * MS), Err(1));
    }

    #[test]
    fn a_window_starts_at_the_first_request_after_the_last_one_ended() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(RateLimit::new(1, 1000 * MS));
        assert_eq!(limiter.admit(t0), Ok(()));
        // Idle for 2.5 s: the next window starts at this request, not at t0 + 2 s.
        assert_eq!(limiter.admit(t0 + 2500 * MS), Ok(()));
        assert_eq!(limiter.admit(t0 + 3400 * MS), Err(1));
        assert_eq!(limiter.admit(t0 + 3500 * MS), Ok(()));
    }

    #[test]
    fn retry_after_is_the_rest_of_the_window_rounded_up_never_zero() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(RateLimit::new(1, Duration::from_secs(10)));
        assert_eq!(limiter.admit(t0), Ok(()));
        assert_eq!(limiter.admit(t0 + Duration::from_nanos(1)), Err(10));
        assert_eq!(limiter.admit(t0 + 1000 * MS), Err(9));
        assert_eq!(limiter.admit(t0 + 1001 * MS), Err(9));
        assert_eq!(limiter.admit(t0 + 8999 * MS), Err(2));
        assert_eq!(limiter.admit(t0 + 9000 * MS), Err(1));
        let last = t0 + Duration::from_secs(10) - Duration::from_nanos(1);
        assert_eq!(limiter.admit(last), Err(1));
        assert_eq!(whole_seconds_up(Duration::ZERO), 1);
        assert_eq!(whole_seconds_up(2500 * MS), 3);
        assert_eq!(whole_seconds_up(Duration::from_secs(2)), 2);
    }

    #[test]
    fn another_tenant_takes_its_share_of_each_window_while_it_lasts() {
        let t0 = Instant::now();
        let rate = RateLimit::new(3, 1000 * MS).with_other_tenant(2, 2500 * MS);
        let mut limiter = Limiter::new(rate);
        // Windows beginning at 0 s, 1 s and 2 s: one request each is left.
        for start in [0, 1000, 2000] {
            let start = t0 + start * MS;
            assert_eq!(limiter.admit(start), Ok(()));
            assert_eq!(limiter.admit(start + 10 * MS), Err(1));
        }
        // From 2.5 s on the other tenant has stopped: the whole limit again.
        let start = t0 + 3000 * MS;
        for i in 0..3 {
            assert_eq!(limiter.admit(start + i * MS), Ok(()));
        }
        assert_eq!(limiter.admit(start + 5 * MS), Err(1));
        // Taking more than the limit refuses everything while it lasts.
        let mut limiter =
            Limiter::new(RateLimit::new(3, 1000 * MS).with_other_tenant(5, 1500 * MS));
        assert_eq!(limiter.admit(t0), Err(1));
        assert_eq!(limiter.admit(t0 + 1000 * MS), Err(1));
        assert_eq!(limiter.admit(t0 + 2000 * MS), Ok(()));
    }

    #[test]
    fn a_zero_limit_refuses_everything_and_clerk_limits_are_documented() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(RateLimit::new(0, 300 * MS));
        assert_eq!(limiter.admit(t0), Err(1));
        assert_eq!(limiter.admit(t0 + 400 * MS), Err(1));
        assert_eq!(
            RateLimit::DEVELOPMENT,
            RateLimit::new(100, Duration::from_secs(10))
        );
        assert_eq!(
            RateLimit::PRODUCTION,
            RateLimit::new(1000, Duration::from_secs(10))
        );
    }
}
