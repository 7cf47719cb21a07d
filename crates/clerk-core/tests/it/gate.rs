//! The client-wide rate-limit gate: holds, pacing, and how a call uses them.

use std::error::Error as _;
use std::time::{Duration, Instant, SystemTime};

use clerk_core::{
    Admission, Admit, Call, Config, CreateSignInToken, ErrorKind, Gate, HoldReason, Outcome,
    RateLimit, RetryAfter, RetryPolicy, RevokeSignInToken, Step, Timing,
};
use proptest::prelude::*;

fn t0() -> Instant {
    Instant::now()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn config() -> Config {
    Config::new("sk_test_x").unwrap()
}

fn reply(status: u16, retry_after: Option<&str>) -> Outcome {
    let mut b = http::Response::builder().status(status);
    if let Some(ra) = retry_after {
        b = b.header("retry-after", ra);
    }
    let body = br#"{"errors":[{"message":"m","long_message":"l","code":"too_many_requests"}]}"#;
    Outcome::Response(b.body(body.to_vec()).unwrap())
}

fn timing(elapsed: Duration) -> Timing {
    Timing {
        now: SystemTime::UNIX_EPOCH,
        elapsed,
        jitter: 0.0,
    }
}

#[test]
fn holds_extend_and_lift() {
    let gate = Gate::new(true, None);
    let t0 = t0();
    assert!(!gate.is_active());
    assert_eq!(gate.admit(t0), Admission::Go);
    gate.hold_until(t0, t0 + secs(3));
    gate.hold_until(t0, t0 + secs(1));
    assert!(gate.is_active());
    assert_eq!(gate.held_until(), Some(t0 + secs(3)));
    assert_eq!(
        gate.admit(t0 + secs(2)),
        Admission::Wait {
            until: t0 + secs(3),
            reason: HoldReason::RetryAfter
        }
    );
    assert_eq!(gate.admit(t0 + secs(3)), Admission::Go);
    assert!(!gate.is_active());
    assert_eq!(gate.held_until(), None);
}

#[test]
fn a_gate_turned_off_ignores_holds() {
    let gate = config().with_rate_limit_gate(false).new_gate();
    gate.hold_until(t0(), t0() + secs(3));
    assert!(!gate.is_active());
    assert_eq!(gate.admit(t0()), Admission::Go);
}

#[test]
fn clock_readings_out_of_order_do_not_reopen_the_window() {
    let gate = Gate::new(false, Some(RateLimit::new(1, secs(10))));
    let t0 = t0();
    assert_eq!(gate.admit(t0 + secs(10)), Admission::Go);
    assert!(matches!(gate.admit(t0), Admission::Wait { .. }));
}

#[test]
fn clones_share_one_gate() {
    let gate = Gate::new(true, None);
    let clone = gate.clone();
    let t0 = t0();
    clone.hold_until(t0, t0 + secs(1));
    assert!(matches!(gate.admit(t0), Admission::Wait { .. }));
}

/// One call's 429 with `Retry-After` holds the other calls of the client,
/// first attempts included.
#[test]
fn a_429_holds_every_call_of_the_gate() {
    let config = config();
    let gate = config.new_gate();
    let started = t0();
    let mut first = Call::new(&config, CreateSignInToken::new("u"))
        .unwrap()
        .with_gate(&gate, started);
    assert!(matches!(first.admit(|| Duration::ZERO), Admit::Send));
    let step = first.handle(reply(429, Some("2")), timing(Duration::ZERO));
    assert!(matches!(step, Step::Retry(w) if w >= secs(2)));

    let mut second = Call::new(&config, RevokeSignInToken::new("sit_1"))
        .unwrap()
        .with_gate(&gate, started + Duration::from_millis(500));
    match second.admit(|| Duration::ZERO) {
        Admit::Wait(wait) => assert_eq!(wait, Duration::from_millis(1500)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        second.admit(|| Duration::from_millis(1500)),
        Admit::Send
    ));
    // A 503 without Retry-After says nothing about when: no hold.
    let mut third = Call::new(&config, RevokeSignInToken::new("sit_1"))
        .unwrap()
        .with_gate(&gate, started + secs(3));
    assert!(matches!(third.admit(|| Duration::ZERO), Admit::Send));
    let _ = third.handle(reply(503, None), timing(Duration::ZERO));
    assert!(!gate.is_active());
}

/// A hold past what the call may wait ends it at once, with when to come
/// back and the previous attempt's error as the source.
#[test]
fn a_hold_past_the_budget_ends_the_call_with_when_to_come_back() {
    let config = config();
    let gate = config.new_gate();
    let started = t0();
    gate.hold_until(started, started + secs(30));
    let mut call = Call::new(&config, CreateSignInToken::new("u"))
        .unwrap()
        .with_gate(&gate, started);
    let Admit::Done(e) = call.admit(|| Duration::ZERO) else {
        panic!("waited past max_retry_after")
    };
    assert!(matches!(e.kind(), ErrorKind::Throttled(_)), "{e:?}");
    assert!(e.is_rate_limited() && !e.is_from_clerk());
    assert_eq!(e.attempts(), 0);
    assert_eq!(e.retry_after(), Some(RetryAfter::Delay(secs(30))));
    assert!(e.to_string().ends_with("; retry after 30 s"), "{e}");
    assert!(e.source().is_none());

    // Within max_retry_after but past max_elapsed, after a first attempt.
    let tight = config.with_retry_policy(RetryPolicy::default().with_max_elapsed(secs(5)));
    let gate = tight.new_gate();
    let mut call = Call::new(&tight, RevokeSignInToken::new("sit_1"))
        .unwrap()
        .with_gate(&gate, started);
    assert!(matches!(call.admit(|| Duration::ZERO), Admit::Send));
    let Step::Retry(wait) = call.handle(reply(429, Some("1")), timing(Duration::ZERO)) else {
        panic!()
    };
    gate.hold_until(started, started + secs(8));
    let Admit::Done(e) = call.admit(|| wait) else {
        panic!("waited past max_elapsed")
    };
    assert_eq!(e.attempts(), 1);
    assert_eq!(e.retry_after(), Some(RetryAfter::Delay(secs(8) - wait)));
    let previous = e.source().expect("the 429 is kept");
    assert!(previous.to_string().contains("429"), "{previous}");
}

#[test]
fn pacing_waits_for_the_oldest_start_to_leave_the_window() {
    let config = config().with_pacing(RateLimit::new(2, secs(1)));
    let gate = config.new_gate();
    let started = t0();
    let mut calls: Vec<_> = (0..3)
        .map(|_| {
            Call::new(&config, RevokeSignInToken::new("sit_1"))
                .unwrap()
                .with_gate(&gate, started)
        })
        .collect();
    assert!(matches!(calls[0].admit(|| Duration::ZERO), Admit::Send));
    assert!(matches!(
        calls[1].admit(|| Duration::from_millis(100)),
        Admit::Send
    ));
    assert!(matches!(
        calls[2].admit(|| Duration::from_millis(200)),
        Admit::Wait(w) if w == Duration::from_millis(820)
    ));
    assert!(matches!(
        calls[2].admit(|| Duration::from_millis(1020)),
        Admit::Send
    ));
}

#[derive(Clone, Debug)]
enum Op {
    /// The clock moves on by this many milliseconds (possibly 0).
    Advance(u64),
    /// A caller reads the clock this many milliseconds late (its reading
    /// arrives after others'): clock values out of order.
    AdmitLate(u64),
    Admit,
    /// A reply says: not for this many milliseconds.
    Hold(u64),
    /// A reply was served (the release rate is learned from these).
    Served,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..400).prop_map(Op::Advance),
        1 => (0u64..300).prop_map(Op::AdmitLate),
        6 => Just(Op::Admit),
        1 => (0u64..2000).prop_map(Op::Hold),
        3 => Just(Op::Served),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// No call ever starts before the gate allows, and pacing never starts
    /// more than N in any window, for any interleaving of calls, holds and
    /// clock values.
    #[test]
    fn no_start_before_the_gate_allows(
        ops in proptest::collection::vec(op(), 1..300),
        limit in 1u32..6,
        window_ms in 1u64..1500,
        pacing in any::<bool>(),
    ) {
        let window = Duration::from_millis(window_ms);
        let gate = Gate::new(true, pacing.then(|| RateLimit::new(limit, window)));
        let base = Instant::now();
        let mut clock = Duration::ZERO;
        // The gate's own timeline: the latest reading it has seen.
        let mut latest = Duration::ZERO;
        let mut hold = Duration::ZERO;
        let mut starts: Vec<Duration> = Vec::new();
        for op in ops {
            let reading = match op {
                Op::Advance(ms) => { clock += Duration::from_millis(ms); continue; }
                Op::Served => { gate.note_served(); continue; }
                Op::Hold(ms) => {
                    let until = clock + Duration::from_millis(ms);
                    gate.hold_until(base + clock, base + until);
                    hold = hold.max(until);
                    // The gate reads the clock here too: a later, older
                    // reading does not take its timeline back before this.
                    latest = latest.max(clock);
                    continue;
                }
                Op::Admit => clock,
                Op::AdmitLate(ms) => clock.saturating_sub(Duration::from_millis(ms)),
            };
            latest = latest.max(reading);
            match gate.admit(base + reading) {
                Admission::Go => {
                    prop_assert!(latest >= hold, "started at {latest:?} before {hold:?}");
                    starts.push(latest);
                }
                Admission::Wait { until, reason } => {
                    let until = until - base;
                    prop_assert!(until > latest, "told to wait for the past");
                    match reason {
                        HoldReason::RetryAfter => prop_assert_eq!(until, hold),
                        HoldReason::Pacing => prop_assert!(pacing),
                        _ => prop_assert!(!pacing, "release pacing beside configured pacing"),
                    }
                }
            }
        }
        if pacing {
            for (i, &start) in starts.iter().enumerate() {
                let in_window = starts[i..].iter().take_while(|&&s| s < start + window).count();
                prop_assert!(in_window <= limit as usize,
                    "{in_window} starts in the window from {start:?}: {starts:?}");
            }
        }
    }
}

/// Plays `ops` against `gate` (as [`no_start_before_the_gate_allows`]
/// does, without its checks) and returns the clock at the end.
fn replay(gate: &Gate, base: Instant, ops: &[Op]) -> Duration {
    let mut clock = Duration::ZERO;
    for op in ops {
        match *op {
            Op::Advance(ms) => clock += Duration::from_millis(ms),
            Op::Served => gate.note_served(),
            Op::Hold(ms) => gate.hold_until(base + clock, base + clock + Duration::from_millis(ms)),
            Op::Admit => {
                let _ = gate.admit(base + clock);
            }
            Op::AdmitLate(ms) => {
                let _ = gate.admit(base + clock.saturating_sub(Duration::from_millis(ms)));
            }
        }
    }
    clock
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// Liveness: whatever came before (any interleaving of calls, holds,
    /// served replies and clock values), once the server stops refusing,
    /// `callers` that each ask again `latency` after being let through are
    /// all let through at once within a bounded number of release windows,
    /// and stay so. The bound: the rate grows by a step that starts at 1 or
    /// more and grows by half each window it holds a call, so after n
    /// windows it has grown by at least 2 × (1.5ⁿ − 1); once it is above
    /// the demand D of a window, that window holds no call and the release
    /// ends at the next ask: n + 3 windows, n = log₁.₅(D/2 + 1).
    #[test]
    fn throughput_recovers_once_refusals_stop(
        ops in proptest::collection::vec(op(), 1..120),
        callers in 1usize..16,
        latency_ms in 20u64..100,
    ) {
        let gate = Gate::new(true, None);
        let base = Instant::now();
        let clock = replay(&gate, base, &ops);
        let latency = Duration::from_millis(latency_ms);
        let hold_end = gate.held_until().map_or(clock, |until| (until - base).max(clock));
        let mut next = vec![clock; callers];
        let mut widest = Duration::ZERO;
        let mut ended: Option<Duration> = None;
        let horizon = hold_end + Duration::from_secs(600);
        loop {
            let (i, &now) = next.iter().enumerate().min_by_key(|&(_, t)| *t).unwrap();
            if let Some(release) = gate.release_pacing() {
                widest = widest.max(release.window());
            }
            match gate.admit(base + now) {
                Admission::Go => {
                    gate.note_served();
                    next[i] = now + latency;
                    if !gate.is_active() && now >= hold_end {
                        ended.get_or_insert(now);
                    }
                }
                Admission::Wait { until, reason } => {
                    prop_assert!(ended.is_none(), "held ({reason:?}) at {now:?} after the release ended");
                    prop_assert!(reason != HoldReason::RetryAfter || now < hold_end);
                    next[i] = until - base;
                }
            }
            if ended.is_some_and(|e| now > e + widest * 3 + latency * 3) || now > horizon {
                break;
            }
        }
        let Some(ended) = ended else {
            return Err(TestCaseError::fail(format!("still held {horizon:?} after the last hold")));
        };
        let spaced = widest + widest / 50;
        let window = spaced + latency;
        let demand = callers as f64 * (spaced.as_secs_f64() / latency.as_secs_f64() + 2.0);
        let n = (demand / 2.0 + 1.0).log(1.5).ceil() as u32;
        let bound = hold_end + window * (n + 3);
        prop_assert!(ended <= bound, "ended at {ended:?}, bound {bound:?} (window {window:?}, n {n})");
    }
}

/// After a hold the gate lets through, per hold length, what the server
/// served since the count began; each window that holds a call raises the
/// rate by a step that starts at an eighth of it and grows by half; the
/// first window that holds no call ends the release.
#[test]
fn a_release_lets_through_what_the_server_served_then_grows() {
    let gate = Gate::new(true, None);
    let t0 = t0();
    // 5 served, then a 429 until the window ends a second later.
    for _ in 0..5 {
        gate.note_served();
    }
    gate.hold_until(t0, t0 + secs(1));
    let mut now = t0 + secs(1);
    let spaced = Duration::from_millis(1020);
    // Steps: 1 (an eighth of 5, rounded up), then 2, 3, 5, 8.
    for rate in [5, 6, 8, 11, 16] {
        for _ in 0..rate {
            assert_eq!(gate.admit(now), Admission::Go, "rate {rate}");
            gate.note_served();
        }
        assert_eq!(gate.release_pacing(), Some(RateLimit::new(rate, secs(1))));
        assert_eq!(
            gate.admit(now),
            Admission::Wait {
                until: now + spaced,
                reason: HoldReason::Release
            }
        );
        now += spaced;
    }
    // A window in which no call waited (3 calls against a rate of 24): at
    // its end the release is over and every call goes.
    for _ in 0..3 {
        assert_eq!(gate.admit(now), Admission::Go);
    }
    assert_eq!(gate.release_pacing(), Some(RateLimit::new(24, secs(1))));
    now += spaced;
    assert_eq!(gate.admit(now), Admission::Go);
    assert_eq!(gate.release_pacing(), None);
    assert!(!gate.is_active());
}

/// A new hold during a release counts only the release's current window:
/// a window that earned a 429 teaches what the server served in it.
#[test]
fn a_hold_during_a_release_learns_the_window_it_ended() {
    let gate = Gate::new(true, None);
    let t0 = t0();
    for _ in 0..20 {
        gate.note_served();
    }
    gate.hold_until(t0, t0 + secs(1));
    let spaced = Duration::from_millis(1020);
    let mut now = t0 + secs(1);
    // Window 1: 20 go, the 21st waits; window 2 at 23: 20 served, then a 429.
    for _ in 0..20 {
        assert_eq!(gate.admit(now), Admission::Go);
        gate.note_served();
    }
    assert!(matches!(gate.admit(now), Admission::Wait { .. }));
    now += spaced;
    for i in 0..23 {
        assert_eq!(gate.admit(now), Admission::Go);
        if i < 20 {
            gate.note_served();
        }
    }
    assert_eq!(gate.release_pacing(), Some(RateLimit::new(23, secs(1))));
    gate.hold_until(now, now + secs(1));
    assert_eq!(gate.admit(now + secs(1)), Admission::Go);
    assert_eq!(gate.release_pacing(), Some(RateLimit::new(20, secs(1))));
}

/// A 429 an hour after the last one: what was served in that hour is
/// counted per hold length, so a lightly used client learns no crawl, and
/// its release ends after the first window that holds no call.
#[test]
fn a_hold_after_a_quiet_spell_learns_no_crawl() {
    let gate = Gate::new(true, None);
    let t0 = t0();
    for _ in 0..50 {
        gate.note_served();
    }
    gate.hold_until(t0, t0 + secs(10));
    assert_eq!(gate.admit(t0 + secs(10)), Admission::Go);
    for _ in 0..30 {
        gate.note_served();
    }
    let later = t0 + secs(3600);
    gate.hold_until(later, later + secs(1));
    for _ in 0..30 {
        assert_eq!(gate.admit(later + secs(1)), Admission::Go);
    }
    assert_eq!(gate.release_pacing(), Some(RateLimit::new(30, secs(1))));
    // Two windows later, with no call held in between: over.
    assert_eq!(gate.admit(later + secs(4)), Admission::Go);
    assert_eq!(gate.release_pacing(), None);
    for _ in 0..100 {
        assert_eq!(gate.admit(later + secs(4)), Admission::Go);
    }
}

/// A zero-length hold (`Retry-After: 0`) gives no window, and a hold with
/// nothing served since the count began gives no rate: neither starts a
/// release, and a release keeps its rate through either, its window
/// starting again at the hold's end.
#[test]
fn a_hold_of_no_length_or_no_count_teaches_nothing() {
    let gate = Gate::new(true, None);
    let t0 = t0();
    gate.hold_until(t0, t0 + secs(1));
    assert_eq!(gate.admit(t0 + secs(1)), Admission::Go);
    assert_eq!(gate.release_pacing(), None);
    gate.note_served();
    gate.hold_until(t0 + secs(1), t0 + secs(1));
    assert_eq!(gate.admit(t0 + secs(1)), Admission::Go);
    assert_eq!(gate.release_pacing(), None);
    // The served one is still counted by the next hold with a length.
    gate.note_served();
    gate.hold_until(t0 + secs(2), t0 + secs(3));
    assert_eq!(gate.admit(t0 + secs(3)), Admission::Go);
    assert_eq!(gate.release_pacing(), Some(RateLimit::new(2, secs(1))));
    // A hold with nothing served in the window, longer than the window,
    // leaves that release's rate as it is; its window starts again at the
    // hold's end.
    let end = t0 + secs(6);
    gate.hold_until(t0 + secs(3), end);
    assert_eq!(gate.admit(end), Admission::Go);
    assert_eq!(gate.admit(end), Admission::Go);
    assert_eq!(gate.release_pacing(), Some(RateLimit::new(2, secs(1))));
    assert_eq!(
        gate.admit(end),
        Admission::Wait {
            until: end + Duration::from_millis(1020),
            reason: HoldReason::Release
        }
    );
}

/// Pacing windows are kept between a millisecond and a day: neither zero
/// nor an overflowing window turns pacing off.
#[test]
fn pacing_windows_are_bounded() {
    assert_eq!(
        RateLimit::new(1, Duration::ZERO).window(),
        Duration::from_millis(1)
    );
    assert_eq!(
        RateLimit::new(1, Duration::MAX).window(),
        clerk_core::MAX_RETRY_AFTER
    );
    let gate = Gate::new(false, Some(RateLimit::new(2, Duration::MAX)));
    let t0 = t0();
    assert_eq!(gate.admit(t0), Admission::Go);
    assert_eq!(gate.admit(t0), Admission::Go);
    assert!(matches!(
        gate.admit(t0 + secs(3600)),
        Admission::Wait { .. }
    ));
}

/// A proxy's 503 with an absurd `Retry-After` holds the client no longer
/// than the policy would wait; a 429's hint holds as long as it says.
#[test]
fn a_503_holds_no_longer_than_the_policy_waits() {
    let config = config();
    let gate = config.new_gate();
    let started = t0();
    let mut call = Call::new(&config, RevokeSignInToken::new("sit_1"))
        .unwrap()
        .with_gate(&gate, started);
    let _ = call.handle(reply(503, Some("86400")), timing(Duration::ZERO));
    assert_eq!(
        gate.held_until(),
        Some(started + config.retry_policy().max_retry_after())
    );
    let mut call = Call::new(&config, RevokeSignInToken::new("sit_1"))
        .unwrap()
        .with_gate(&gate, started);
    let _ = call.handle(reply(429, Some("30")), timing(Duration::ZERO));
    assert_eq!(gate.held_until(), Some(started + secs(30)));
}

/// A 429 not in Clerk's error shape (a proxy's HTML page) with
/// `Retry-After: 86400` holds the client no longer than the policy would
/// wait, like a 503: otherwise every call would fail at once with
/// `Throttled` for a day. The call that met it ends at once, and says what
/// the proxy asked.
#[test]
fn a_429_not_from_clerk_holds_no_longer_than_the_policy_waits() {
    let config = config();
    let gate = config.new_gate();
    let started = t0();
    let html = http::Response::builder()
        .status(429)
        .header("retry-after", "86400")
        .header("content-type", "text/html")
        .body(b"<html><body>Too many requests</body></html>".to_vec())
        .unwrap();
    let mut call = Call::new(&config, CreateSignInToken::new("u"))
        .unwrap()
        .with_gate(&gate, started);
    let Step::Done(Err(e)) = call.handle(Outcome::Response(html), timing(Duration::ZERO)) else {
        panic!("waited a day")
    };
    assert!(e.is_rate_limited() && !e.is_from_clerk(), "{e:?}");
    assert_eq!(e.retry_after(), Some(RetryAfter::Delay(secs(86400))));
    let cap = config.retry_policy().max_retry_after();
    assert_eq!(gate.held_until(), Some(started + cap));
    // The next call waits the capped hold out instead of failing.
    let mut next = Call::new(&config, RevokeSignInToken::new("sit_1"))
        .unwrap()
        .with_gate(&gate, started);
    assert!(matches!(next.admit(|| Duration::ZERO), Admit::Wait(w) if w == cap));
}

/// Configured pacing is never replaced by a learned one.
#[test]
fn configured_pacing_wins_over_release_pacing() {
    let gate = Gate::new(true, Some(RateLimit::new(100, secs(10))));
    let t0 = t0();
    gate.note_served();
    gate.hold_until(t0, t0 + secs(1));
    assert_eq!(gate.admit(t0 + secs(1)), Admission::Go);
    assert_eq!(gate.release_pacing(), None);
    assert_eq!(gate.pacing(), Some(RateLimit::new(100, secs(10))));
}

/// Clerk's limiter in virtual time: fixed windows of 1 s, `limit` requests
/// each, a window beginning at the first request after the last one ended,
/// a refusal's `Retry-After` the rest of its window in whole seconds,
/// rounded up. Another user of the key takes `taken` of every window that
/// begins in its first `lasting`.
struct FixedWindows {
    limit: u32,
    taken: u32,
    lasting: Duration,
    window: Option<(Duration, u32)>,
}

impl FixedWindows {
    fn admit(&mut self, now: Duration) -> Result<(), u64> {
        let (start, admitted) = match self.window {
            Some((start, admitted)) if now < start + secs(1) => (start, admitted),
            _ => (now, if now < self.lasting { self.taken } else { 0 }),
        };
        if admitted < self.limit {
            self.window = Some((start, admitted + 1));
            return Ok(());
        }
        self.window = Some((start, admitted));
        let left = start + secs(1) - now;
        Err((left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1))
    }
}

/// A small deterministic generator (splitmix64) for jitter and the order
/// of callers that wake at the same moment.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug)]
struct Burst {
    wall: Duration,
    failed: usize,
    refused: usize,
}

const TOKEN: &str = r#"{"object":"sign_in_token","id":"sit_1","status":"pending","user_id":"user_1","token":"t","url":"https://example.accounts.dev/v1/tickets/accept?ticket=t","created_at":1,"updated_at":1}"#;

/// `n` creates, `k` in flight, through real [`Call`]s sharing one gate of
/// `config`, against [`FixedWindows`], in virtual time: a reply comes back
/// a millisecond after its request, and callers that wake at the same
/// moment go in a random order.
fn burst(config: &Config, n: usize, k: usize, mut server: FixedWindows, seed: u64) -> Burst {
    enum Next {
        Start,
        Ask(Box<Call<CreateSignInToken>>, Duration),
        Reply(Box<Call<CreateSignInToken>>, Duration, Option<u64>),
    }
    let gate = config.new_gate();
    let base = Instant::now();
    let mut rng = Rng(seed);
    let mut callers: Vec<(Duration, u64, Option<Next>)> = (0..k)
        .map(|_| (Duration::ZERO, rng.next(), Some(Next::Start)))
        .collect();
    let (mut started, mut failed, mut refused, mut wall) = (0, 0, 0, Duration::ZERO);
    while let Some(i) = (0..k)
        .filter(|&i| callers[i].2.is_some())
        .min_by_key(|&i| (callers[i].0, callers[i].1))
    {
        let now = callers[i].0;
        let (tie, jitter) = (rng.next(), rng.unit());
        let next = |at: Duration, what: Option<Next>| (at, tie, what);
        callers[i] = match callers[i].2.take().expect("a caller with something to do") {
            Next::Start if started == n => next(now, None),
            Next::Start => {
                started += 1;
                let call = Call::new(config, CreateSignInToken::new("user_1"))
                    .unwrap()
                    .with_gate(&gate, base + now);
                next(now, Some(Next::Ask(Box::new(call), now)))
            }
            Next::Ask(mut call, began) => match call.admit(|| now - began) {
                Admit::Send => {
                    let verdict = server.admit(now).err();
                    refused += usize::from(verdict.is_some());
                    let at = now + Duration::from_millis(1);
                    next(at, Some(Next::Reply(call, began, verdict)))
                }
                Admit::Wait(wait) => next(now + wait, Some(Next::Ask(call, began))),
                Admit::Done(_) => {
                    failed += 1;
                    next(now, Some(Next::Start))
                }
            },
            Next::Reply(mut call, began, verdict) => {
                let response = match verdict {
                    None => http::Response::builder()
                        .status(200)
                        .header("content-type", "application/json")
                        .body(TOKEN.as_bytes().to_vec()),
                    Some(retry_after) => {
                        let Outcome::Response(r) = reply(429, Some(&retry_after.to_string()))
                        else {
                            unreachable!()
                        };
                        Ok(r)
                    }
                };
                let timing = Timing {
                    now: SystemTime::UNIX_EPOCH,
                    elapsed: now - began,
                    jitter,
                };
                match call.handle(Outcome::Response(response.unwrap()), timing) {
                    Step::Retry(wait) => next(now + wait, Some(Next::Ask(call, began))),
                    Step::Done(result) => {
                        failed += usize::from(result.is_err());
                        wall = wall.max(now);
                        next(now, Some(Next::Start))
                    }
                }
            }
        };
    }
    Burst {
        wall,
        failed,
        refused,
    }
}

fn clerk_like(taken: u32, lasting: Duration) -> FixedWindows {
    FixedWindows {
        limit: 20,
        taken,
        lasting,
        window: None,
    }
}

/// 200 creates, 32 in flight, 20 allowed per second (ideal 10 s), with the
/// default configuration: none fails, at most 130 refusals, at most 1.3×
/// the ideal time, whatever order the callers wake in. With the gate off
/// the same burst fails calls, so this simulation can tell.
#[test]
fn a_simulated_burst_at_the_limit_meets_its_targets() {
    for seed in 0..16 {
        let run = burst(&config(), 200, 32, clerk_like(0, Duration::ZERO), seed);
        assert_eq!(run.failed, 0, "seed {seed}: {run:?}");
        assert!(run.refused <= 130, "seed {seed}: {run:?}");
        assert!(run.wall <= Duration::from_secs(13), "seed {seed}: {run:?}");
    }
    let off = burst(
        &config().with_rate_limit_gate(false),
        200,
        32,
        clerk_like(0, Duration::ZERO),
        0,
    );
    assert!(off.failed > 0, "{off:?}");
}

/// Another user of the key takes 18 of the 20 requests a second for the
/// first 4 s, then stops: a burst of 200 creates, 32 in flight, finishes
/// within 1.5× its ideal of 13 s with none failed, whatever order the
/// callers wake in. A release that never grows after the squeeze (2 per
/// second) would take over 90 s.
#[test]
fn a_simulated_squeeze_recovers() {
    for seed in 0..16 {
        let run = burst(&config(), 200, 32, clerk_like(18, secs(4)), seed);
        assert_eq!(run.failed, 0, "seed {seed}: {run:?}");
        assert!(
            run.wall <= Duration::from_millis(19_500),
            "seed {seed}: {run:?}"
        );
    }
}
