//! The per-attempt timeout, kept by one watchdog thread per process.
//!
//! A reactor timer per attempt (what `async_std::future::timeout` makes)
//! costs a timer insert and removal on async-io's reactor and, for each
//! insert, a wake-up of the thread blocked on it: a system call and a
//! context switch per attempt, on top of a request that itself takes only a
//! few. Here an attempt registers its deadline in an ordered map under a
//! mutex and removes it when it ends. One thread sleeps on a condition
//! variable until the earliest deadline and wakes the attempts whose time is
//! up. It is told of a new deadline only when that one is earlier than the
//! deadline it sleeps until, or when it sleeps with nothing to wait for: a
//! client's timeout is fixed, so in steady use a new deadline comes after
//! the ones before it and registering is a lock, an insert and an unlock.
//!
//! The thread is the crate's own, not a task: a task needs a free executor
//! thread to run, and a timeout must fire even when every executor thread
//! is busy or blocked, which is when a request hangs. async-io's timer
//! needs no executor thread either (a `block_on` or async-io's own thread
//! drives it): the integration test
//! `the_timeout_fires_while_every_executor_thread_is_blocked` passes with
//! either, and fails with a task. So the thread is here for its cost only.
//! With async-io's timer instead, the e2e benchmark measured (commit
//! 1d84be1) 0.968 and 0.961 times the throughput at 64 calls in flight
//! (two runs, paired rounds) and callgrind 3.8 % more instructions per call; one call at a
//! time, 0.987 and 0.996 times the time, 0.7 % more instructions and
//! 3.4 fewer system calls per call (strace).
//!
//! Should the thread fail to start, that attempt and every later one use
//! async-io's timer; starting it is tried once.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Deadlines of the attempts in flight, and the thread that keeps them.
pub(crate) struct Deadlines {
    state: Mutex<State>,
    changed: Condvar,
    /// Starts the thread that keeps these deadlines.
    spawn: fn(&'static Deadlines) -> std::io::Result<()>,
}

/// The one every client uses.
static DEADLINES: Deadlines = Deadlines::new();

/// An attempt's place in the map: its deadline, then a number that tells
/// apart attempts with the same deadline.
type Key = (Instant, u64);

/// Whether a thread of this crate's (the deadlines', the idle sweeper's)
/// runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keeper {
    NotStarted,
    Running,
    /// It could not be started; it is not tried again.
    Failed,
}

struct State {
    /// Attempts in flight, by deadline, each with its task's waker once it
    /// has waited. An attempt whose time is up is taken out by the thread.
    waiting: BTreeMap<Key, Option<Waker>>,
    next_id: u64,
    keeper: Keeper,
    /// What the thread sleeps until: `Some(deadline)`, or `None` while it
    /// sleeps with nothing to wait for (or has not started).
    until: Option<Instant>,
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
    const fn new() -> Self {
        Self::with_spawn(spawn_keeper)
    }

    const fn with_spawn(spawn: fn(&'static Deadlines) -> std::io::Result<()>) -> Self {
        Self {
            state: Mutex::new(State {
                waiting: BTreeMap::new(),
                next_id: 0,
                keeper: Keeper::NotStarted,
                until: None,
            }),
            changed: Condvar::new(),
            spawn,
        }
    }

    /// The process-wide deadlines.
    pub(crate) fn global() -> &'static Self {
        &DEADLINES
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned state is still
        // consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `future` for at most `timeout`; once the time is up the caller
    /// drops it, wherever it stood. (Pinned by the caller, so that the
    /// future, kilobytes of state, is not copied into this one's.)
    pub(crate) async fn run<F: Future>(
        &'static self,
        timeout: Duration,
        mut future: Pin<&mut F>,
    ) -> Result<F::Output, TimedOut> {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            // Too far away to ever come.
            return Ok(future.await);
        };
        let Some(registration) = self.register(deadline) else {
            // No thread to keep the deadline: async-io's timer keeps it.
            return async_std::future::timeout(timeout, future)
                .await
                .map_err(|_| TimedOut { after: timeout });
        };
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

    /// Registers `deadline`; `None` if the thread could not be started.
    fn register(&'static self, deadline: Instant) -> Option<Registration> {
        let mut state = self.lock();
        match state.keeper {
            Keeper::Running => {}
            Keeper::Failed => return None,
            Keeper::NotStarted => {
                // Started outside the lock would race another first caller;
                // spawning takes no lock of ours, so holding it is safe. It
                // happens once: a failure (the process is out of threads or
                // memory) sends this and every later attempt to async-io's
                // timer, rather than trying again, under the lock, each time.
                if (self.spawn)(self).is_err() {
                    state.keeper = Keeper::Failed;
                    return None;
                }
                state.keeper = Keeper::Running;
            }
        }
        let key = (deadline, state.next_id);
        state.next_id = state.next_id.wrapping_add(1);
        state.waiting.insert(key, None);
        // The thread must look again if it sleeps past this deadline.
        let tell = state.until.is_none_or(|until| deadline < until);
        if tell {
            state.until = Some(deadline);
        }
        drop(state);
        if tell {
            self.changed.notify_one();
        }
        Some(Registration {
            deadlines: self,
            key,
        })
    }

    /// The thread: wakes the attempts whose time is up, then sleeps until
    /// the next deadline or until told of an earlier one.
    fn keep(&self) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(entry) = state.waiting.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            if !due.is_empty() {
                // Wake outside the lock: a waker may run the task at once.
                drop(state);
                due.into_iter().flatten().for_each(Waker::wake);
                state = self.lock();
                continue;
            }
            state = match state.waiting.first_key_value().map(|(key, _)| key.0) {
                Some(until) => {
                    state.until = Some(until);
                    let wait = until.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(state, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => {
                    state.until = None;
                    self.changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner)
                }
            };
        }
    }
}

/// Starts the `clerk-deadlines` thread for `deadlines`.
fn spawn_keeper(deadlines: &'static Deadlines) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("clerk-deadlines".into())
        .spawn(move || deadlines.keep())
        .map(drop)
}

/// An attempt's deadline in the map, taken out when the attempt ends.
struct Registration {
    deadlines: &'static Deadlines,
    key: Key,
}

impl Registration {
    /// Keeps the task's waker for the thread; `false` once the time is up.
    fn wait(&self, cx: &Context<'_>) -> bool {
        let mut state = self.deadlines.lock();
        let Some(slot) = state.waiting.get_mut(&self.key) else {
            return false;
        };
        if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *slot = Some(cx.waker().clone());
        }
        true
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The thread need not hear of it: if it sleeps until this deadline,
        // it wakes once, finds nothing due, and sleeps on.
        let waker = self.deadlines.lock().waiting.remove(&self.key);
        drop(waker); // outside the lock
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;
    use std::pin::pin;

    use super::*;

    /// Deadlines of their own (and a thread of their own) for each test, so
    /// that tests running side by side don't see each other's attempts.
    fn deadlines() -> &'static Deadlines {
        Box::leak(Box::new(Deadlines::new()))
    }

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        async_std::task::block_on(f)
    }

    #[test]
    fn a_finished_attempt_leaves_nothing_behind() {
        let d = deadlines();
        let out = block_on(d.run(Duration::from_secs(5), pin!(async { 7 })));
        assert_eq!(out.unwrap(), 7);
        assert!(d.lock().waiting.is_empty());
    }

    #[test]
    fn an_attempt_past_its_deadline_ends() {
        let d = deadlines();
        let start = Instant::now();
        let out = block_on(d.run(Duration::from_millis(100), pin!(pending::<()>())));
        let took = start.elapsed();
        assert!(out.is_err());
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(d.lock().waiting.is_empty());
    }

    #[test]
    fn a_shorter_deadline_wakes_a_sleeping_thread() {
        let _free = crate::executor_threads_free();
        let d = deadlines();
        // The thread first sleeps towards a deadline 30 s away ...
        let slow = async_std::task::spawn(async move {
            d.run(Duration::from_secs(30), pin!(pending::<()>())).await
        });
        std::thread::sleep(Duration::from_millis(100));
        // ... and must still end this one on time.
        let start = Instant::now();
        let out = block_on(d.run(Duration::from_millis(100), pin!(pending::<()>())));
        assert!(out.is_err());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(block_on(slow.cancel()).is_none(), "still waiting");
        assert!(d.lock().waiting.is_empty());
    }

    #[test]
    fn many_attempts_each_end_on_their_own_deadline() {
        let _free = crate::executor_threads_free();
        let d = deadlines();
        let start = Instant::now();
        let tasks: Vec<_> = (0..50u64)
            .map(|i| {
                async_std::task::spawn(async move {
                    if i % 2 == 0 {
                        // Finishes well before its deadline.
                        let sleep = async_std::task::sleep(Duration::from_millis(20));
                        d.run(Duration::from_secs(10), pin!(sleep)).await.is_ok()
                    } else {
                        // Later tasks get shorter deadlines.
                        let timeout = Duration::from_millis(150 - 2 * i);
                        d.run(timeout, pin!(pending::<()>())).await.is_ok()
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
        assert!(d.lock().waiting.is_empty());
    }

    /// A thread that cannot be started is asked for once: every attempt
    /// after that goes straight to async-io's timer, without trying to
    /// start a thread again under the lock.
    #[test]
    fn a_thread_that_cannot_start_is_tried_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static TRIED: AtomicUsize = AtomicUsize::new(0);
        fn fail(_: &'static Deadlines) -> std::io::Result<()> {
            TRIED.fetch_add(1, Ordering::SeqCst);
            Err(std::io::Error::other("no more threads"))
        }
        let d: &'static Deadlines = Box::leak(Box::new(Deadlines::with_spawn(fail)));
        for _ in 0..3 {
            let start = Instant::now();
            let out = block_on(d.run(Duration::from_millis(50), pin!(pending::<()>())));
            assert!(out.is_err());
            assert!(start.elapsed() < Duration::from_secs(2));
            assert_eq!(
                block_on(d.run(Duration::from_secs(5), pin!(async { 7 }))).unwrap(),
                7
            );
        }
        assert_eq!(TRIED.load(Ordering::SeqCst), 1);
        assert!(d.lock().waiting.is_empty());
    }

    /// The deadline is kept by a thread, not a task: it ends the attempt
    /// while every async-std worker is blocked, which is when a request
    /// would otherwise hang.
    #[test]
    fn a_deadline_fires_while_every_executor_thread_is_blocked() {
        let _held = crate::EXECUTOR_THREADS
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let d = deadlines();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let blockers: Vec<_> = (0..workers)
            .map(|_| {
                let started = started.clone();
                async_std::task::spawn(async move {
                    started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(1500));
                })
            })
            .collect();
        let wait_start = Instant::now();
        while started.load(std::sync::atomic::Ordering::SeqCst) < workers
            && wait_start.elapsed() < Duration::from_millis(500)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let start = Instant::now();
        let out = smol::block_on(d.run(Duration::from_millis(100), pin!(pending::<()>())));
        let took = start.elapsed();
        assert!(out.is_err());
        assert!(took < Duration::from_millis(1000), "{took:?}");
        block_on(async {
            for b in blockers {
                b.await;
            }
        });
    }
}
