//! The per-attempt timeout, kept by one watchdog task per client.
//!
//! A reactor timer per attempt (what `async_std::future::timeout` makes)
//! costs a timer insert and removal on async-io's reactor and, for each
//! insert, a wake-up of the thread blocked on it: a system call and a
//! context switch per attempt, on top of a request that itself takes only a
//! few. Here an attempt registers its deadline in an ordered map under a
//! mutex, and removes it when it ends. One task per client sleeps until the
//! earliest deadline, wakes the attempts whose time is up, and ends when no
//! attempt is waiting. Every client's timeout is fixed, so a new deadline is
//! never earlier than the ones registered before it and the watchdog sleeps
//! undisturbed; should one be earlier, the watchdog is woken to sleep less.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Deadlines of the attempts in flight on one client (and its clones).
#[derive(Clone, Default)]
pub(crate) struct Deadlines {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
}

/// An attempt's place in the map: its deadline, then a number that tells
/// apart attempts with the same deadline.
type Key = (Instant, u64);

#[derive(Default)]
struct State {
    /// Attempts in flight, by deadline, each with its task's waker once it
    /// has waited. An attempt whose time is up is taken out by the watchdog.
    waiting: BTreeMap<Key, Option<Waker>>,
    next_id: u64,
    /// `None` when no watchdog runs.
    watchdog: Option<Watchdog>,
}

struct Watchdog {
    /// The deadline it sleeps until; `None` while it looks at the map.
    until: Option<Instant>,
    /// Wakes it before `until`.
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned state is still
        // consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes out the attempts whose deadline is `now` or earlier, and says
    /// the next deadline: the one the watchdog sleeps until, or none, and
    /// then the watchdog ends.
    fn expire(&self, now: Instant) -> (Vec<Option<Waker>>, Option<Instant>) {
        let mut state = self.lock();
        let mut due = Vec::new();
        while let Some(entry) = state.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        let until = state.waiting.first_key_value().map(|(key, _)| key.0);
        match (&mut state.watchdog, until) {
            (Some(watchdog), Some(until)) => watchdog.until = Some(until),
            (watchdog, _) => *watchdog = None,
        }
        (due, until)
    }
}

/// The source of a timed-out attempt's transport error.
#[derive(Debug)]
pub(crate) struct TimedOut {
    after: Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the attempt did not finish within {:?}", self.after)
    }
}

impl StdError for TimedOut {}

impl Deadlines {
    /// Runs `future` for at most `timeout`; once the time is up the caller
    /// drops it, wherever it stood. (Pinned by the caller, so that the
    /// future, kilobytes of state, is not copied into this one's.)
    pub(crate) async fn run<F: Future>(
        &self,
        timeout: Duration,
        mut future: Pin<&mut F>,
    ) -> Result<F::Output, TimedOut> {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            // Too far away to ever come.
            return Ok(future.await);
        };
        let registration = self.register(deadline);
        poll_fn(|cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(output));
            }
            if registration.wait(cx) {
                Poll::Pending
            } else {
                Poll::Ready(Err(TimedOut { after: timeout }))
            }
        })
        .await
    }

    fn register(&self, deadline: Instant) -> Registration<'_> {
        let mut state = self.shared.lock();
        let key = (deadline, state.next_id);
        state.next_id = state.next_id.wrapping_add(1);
        state.waiting.insert(key, None);
        let mut wake = None;
        match &mut state.watchdog {
            None => {
                state.watchdog = Some(Watchdog {
                    until: None,
                    waker: None,
                });
                drop(async_std::task::spawn(watch(Arc::downgrade(&self.shared))));
            }
            Some(watchdog) => {
                if watchdog.until.is_some_and(|until| deadline < until) {
                    watchdog.until = None;
                    wake = watchdog.waker.take();
                }
            }
        }
        drop(state);
        if let Some(waker) = wake {
            waker.wake();
        }
        Registration {
            shared: &self.shared,
            key,
        }
    }
}

/// An attempt's deadline in the map, taken out when the attempt ends.
struct Registration<'a> {
    shared: &'a Shared,
    key: Key,
}

impl Registration<'_> {
    /// Keeps the task's waker for the watchdog; `false` once the time is up.
    fn wait(&self, cx: &Context<'_>) -> bool {
        let mut state = self.shared.lock();
        let Some(slot) = state.waiting.get_mut(&self.key) else {
            return false;
        };
        if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *slot = Some(cx.waker().clone());
        }
        true
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let waker = self.shared.lock().waiting.remove(&self.key);
        drop(waker); // outside the lock
    }
}

/// The watchdog: wakes the attempts whose time is up, sleeps until the next
/// deadline, and ends when no attempt waits or the client is gone.
async fn watch(shared: Weak<Shared>) {
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        let (due, until) = strong.expire(now);
        drop(strong);
        for waker in due.into_iter().flatten() {
            waker.wake();
        }
        let Some(until) = until else {
            return;
        };
        let mut sleep = pin!(async_std::task::sleep(until.saturating_duration_since(now)));
        poll_fn(|cx| {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let Some(strong) = shared.upgrade() else {
                return Poll::Ready(());
            };
            let mut state = strong.lock();
            match &mut state.watchdog {
                Some(watchdog) if watchdog.until == Some(until) => {
                    watchdog.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                // An earlier deadline came in.
                _ => Poll::Ready(()),
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;

    use super::*;

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        async_std::task::block_on(f)
    }

    #[test]
    fn a_finished_attempt_leaves_nothing_behind() {
        let deadlines = Deadlines::default();
        let out = block_on(deadlines.run(Duration::from_secs(5), pin!(async { 7 })));
        assert_eq!(out.unwrap(), 7);
        assert!(deadlines.shared.lock().waiting.is_empty());
    }

    #[test]
    fn an_attempt_past_its_deadline_ends() {
        let deadlines = Deadlines::default();
        let start = Instant::now();
        let out = block_on(deadlines.run(Duration::from_millis(100), pin!(pending::<()>())));
        let took = start.elapsed();
        assert!(out.is_err());
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(deadlines.shared.lock().waiting.is_empty());
    }

    #[test]
    fn a_shorter_deadline_wakes_a_sleeping_watchdog() {
        let deadlines = Deadlines::default();
        let long = deadlines.clone();
        // The watchdog first sleeps towards a deadline 30 s away ...
        let slow = async_std::task::spawn(async move {
            long.run(Duration::from_secs(30), pin!(pending::<()>()))
                .await
        });
        std::thread::sleep(Duration::from_millis(100));
        // ... and must still end this one on time.
        let start = Instant::now();
        let out = block_on(deadlines.run(Duration::from_millis(100), pin!(pending::<()>())));
        assert!(out.is_err());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(block_on(slow.cancel()).is_none(), "still waiting");
        assert!(deadlines.shared.lock().waiting.is_empty());
    }

    #[test]
    fn many_attempts_each_end_on_their_own_deadline() {
        let deadlines = Deadlines::default();
        let start = Instant::now();
        let tasks: Vec<_> = (0..50u64)
            .map(|i| {
                let d = deadlines.clone();
                async_std::task::spawn(async move {
                    if i % 2 == 0 {
                        // Finishes well before its deadline.
                        d.run(
                            Duration::from_secs(10),
                            pin!(async_std::task::sleep(Duration::from_millis(20))),
                        )
                        .await
                        .is_ok()
                    } else {
                        d.run(Duration::from_millis(50 + i), pin!(pending::<()>()))
                            .await
                            .is_ok()
                    }
                })
            })
            .collect();
        let results: Vec<bool> = block_on(async {
            let mut v = Vec::new();
            for t in tasks {
                v.push(t.await);
            }
            v
        });
        assert!(
            results
                .iter()
                .enumerate()
                .all(|(i, ok)| *ok == (i % 2 == 0))
        );
        assert!(start.elapsed() < Duration::from_secs(3));
        assert!(deadlines.shared.lock().waiting.is_empty());
        // With nothing left to watch, the watchdog ends.
        std::thread::sleep(Duration::from_millis(100));
        assert!(deadlines.shared.lock().watchdog.is_none());
    }

    #[test]
    fn the_watchdog_ends_when_the_client_is_gone() {
        let deadlines = Deadlines::default();
        let weak = Arc::downgrade(&deadlines.shared);
        let d = deadlines.clone();
        let task = async_std::task::spawn(async move {
            d.run(Duration::from_secs(60), pin!(pending::<()>())).await
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(block_on(task.cancel()).is_none(), "still waiting");
        drop(deadlines);
        // The watchdog holds only a weak reference while it sleeps.
        assert!(weak.upgrade().is_none());
    }
}
