//! A keep-alive pool of HTTP/1.1 connections on hyper's `client::conn`.
//!
//! A connection goes back to the pool as soon as its reply has been read to
//! the end, before the caller sees the reply, so the next request on the same
//! client always finds it: sequential calls share one connection, and `n`
//! concurrent calls need at most `n`. (hyper-util's legacy pool hands an
//! HTTP/1.1 connection back from a task it spawns once the reply is out,
//! a moment later, and opens a new one for any request in that window. Its
//! `client-legacy` feature builds tokio's `net` and `sync` in; it starts no
//! runtime, but runs on an executor the caller gives it.)
//!
//! A connection starts without a task of its own. hyper's connection future
//! (which writes requests and reads replies) is polled by the call that
//! holds the connection, in that call's own task, alongside the call's wait
//! for its reply ([`drive`]); an idle HTTP/1.1 connection has nothing to
//! do, so it sits in the pool unpolled. On a connection its caller drives,
//! a reply wakes the call's own task, not a driver task that would then
//! wake it. While more than [`LEND_ABOVE`] exchanges are under way, a
//! connection a call takes is lent to a task of its own on async-std's
//! executor ([`Conn::lend`]), as hyper's connections usually run; while at
//! most that many are, a call that takes a lent connection takes it back
//! ([`Conn::take_back`]), and that task ends. So after a burst, calls one
//! at a time drive their connection again, although the pool hands out the
//! most recently used idle connection first ([`Pool::take_idle`]).
//!
//! A connection the server closed while it idled is found closed when the
//! next call polls it, before hyper writes anything: hyper then hands the
//! request back unwritten, and the call takes another connection
//! (`a_connection_the_server_closed_while_idle_is_replaced`). (A close still
//! on its way when the request is written is not seen in time: that request
//! fails, `MaybeSent`. The idle timeout, shorter than common servers'
//! keep-alive, is what keeps that rare; a server whose keep-alive is
//! shorter than 15 s gets it more often.)
//!
//! At most [`MAX_IDLE_PER_ORIGIN`] idle connections are kept per origin: a
//! connection put back beyond that closes the one idle longest. Idle
//! connections are closed when the idle timeout is up, by one thread for
//! the process ([`Sweeper`], `clerk-idle`) that sleeps until the earliest
//! such moment, and all of them when the last clone of the client is
//! dropped.

use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::client::conn::http1;

use crate::connect::{ConnectError, Connector, Origin, Stream};

/// Idle connections kept per origin. More concurrent calls than this still
/// each get a connection; once they are done, the connections beyond this
/// are closed instead of idling, and the next burst as large opens them
/// again. 64, the concurrency the benchmarks hold (with 32, every round of
/// 64 calls in flight reopened 32 connections).
pub(crate) const MAX_IDLE_PER_ORIGIN: usize = 64;

/// Sends requests on one connection.
pub(crate) type Sender = http1::SendRequest<Full<Bytes>>;

/// hyper's side of one connection: polled, it writes the requests the
/// [`Sender`] queued and reads their replies.
pub(crate) type Driver = http1::Connection<Stream, Full<Bytes>>;

/// One connection: where requests are queued, and the future that carries
/// them, polled by whichever call holds the connection (see [`drive`]), or
/// by a task of its own while it is lent ([`Conn::lend`]).
pub(crate) struct Conn {
    pub(crate) sender: Sender,
    /// `None` once it has finished (the connection is closed), and while it
    /// is lent. Boxed: its state (buffers, parser) would otherwise sit in,
    /// and be moved with, the future of every call that holds the
    /// connection.
    pub(crate) driver: Option<Box<Driver>>,
    /// Where the driver is while a task of its own polls it.
    lent: Option<Arc<Lent>>,
}

/// A driver lent to a task of its own ([`Conn::lend`]), and that task's
/// waker, so that taking the driver back can end the task.
struct Lent(Mutex<Lending>);

struct Lending {
    /// `None` once it has finished, or been taken back.
    driver: Option<Box<Driver>>,
    task: Option<Waker>,
}

impl Lent {
    fn lock(&self) -> MutexGuard<'_, Lending> {
        // Only hyper's poll runs under the lock; should it panic, the task
        // ends and the connection with it (its sender sees it closed).
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The task: polls the driver until it finishes or is taken back.
    async fn run(self: Arc<Self>) {
        poll_fn(|cx| {
            let mut lending = self.lock();
            let Some(driver) = lending.driver.as_mut() else {
                return Poll::Ready(()); // taken back
            };
            if Pin::new(&mut **driver).poll(cx).is_ready() {
                lending.driver = None;
                return Poll::Ready(());
            }
            match &mut lending.task {
                Some(task) => task.clone_from(cx.waker()),
                None => lending.task = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await;
    }
}

impl Conn {
    /// Whether a task of its own polls the driver.
    pub(crate) fn is_lent(&self) -> bool {
        self.lent.is_some()
    }

    /// Whether it can go back to the pool: open, and, when its caller
    /// drives it, hyper has finished its last exchange and waits for the
    /// next request. (One that is not, still flushing a request the server
    /// answered early, say, is closed: no task would finish that.) One
    /// driven by its own task may still be finishing: the next call waits
    /// for it to be ready.
    fn reusable(&self) -> bool {
        if self.is_lent() {
            !self.sender.is_closed()
        } else {
            self.driver.is_some() && self.sender.is_ready()
        }
    }

    /// Lends the driver to a task of its own on async-std's executor, as
    /// hyper's connections usually run, until [`Conn::take_back`].
    fn lend(&mut self) {
        if let Some(driver) = self.driver.take() {
            let lent = Arc::new(Lent(Mutex::new(Lending {
                driver: Some(driver),
                task: None,
            })));
            drop(async_std::task::spawn(Arc::clone(&lent).run()));
            self.lent = Some(lent);
        }
    }

    /// Takes a lent driver back, so that the call holding the connection
    /// polls it again, and ends its task. Only between exchanges (hyper
    /// waits for the next request) and while the task is not polling it;
    /// else the connection stays lent, and this call's exchange runs on it
    /// as it is.
    fn take_back(&mut self) {
        let Some(lent) = &self.lent else {
            return;
        };
        if !self.sender.is_ready() {
            return;
        }
        let Ok(mut lending) = lent.0.try_lock() else {
            return; // its task is polling it
        };
        let Some(driver) = lending.driver.take() else {
            return; // finished: closed, which the caller finds
        };
        let task = lending.task.take();
        drop(lending);
        self.driver = Some(driver);
        self.lent = None;
        if let Some(task) = task {
            task.wake(); // it finds the driver gone and ends
        }
    }

    /// Lets hyper finish the exchange whose reply was just read (it then
    /// waits for the next request), or notice that the server closed the
    /// connection: polls the driver once, without waiting, unless hyper
    /// already waits for the next request.
    pub(crate) async fn settle(&mut self) {
        if self.is_lent() || self.sender.is_ready() {
            return;
        }
        poll_fn(|cx| {
            poll_driver(&mut self.driver, cx);
            Poll::Ready(())
        })
        .await;
    }
}

/// Polls a connection's driver, dropping it (which closes the connection)
/// once it has finished.
fn poll_driver(driver: &mut Option<Box<Driver>>, cx: &mut Context<'_>) {
    if let Some(d) = driver
        && Pin::new(&mut **d).poll(cx).is_ready()
    {
        // Finished: closed cleanly, or on an error. (hyper hands an error to
        // the request and the body it concerns when there is one, and
        // returns it only when there is none.)
        *driver = None;
    }
}

/// Runs `future` (waiting for a reply or its body) while polling the
/// connection's driver in the same task: each poll polls the driver (which
/// writes what hyper has queued and reads the socket), then `future`.
///
/// `future` is pinned by the caller, where it is stored once (taken by
/// value, it would be stored in this future too).
///
/// # Errors
/// [`Closed`] if the connection ends and `future` is still waiting: nothing
/// is left to complete it.
pub(crate) fn drive<'a, F: Future>(
    driver: &'a mut Option<Box<Driver>>,
    lent: bool,
    mut future: Pin<&'a mut F>,
) -> impl Future<Output = Result<F::Output, Closed>> + 'a {
    poll_fn(move |cx| {
        if lent {
            // Its own task drives the connection.
            return future.as_mut().poll(cx).map(Ok);
        }
        poll_driver(driver, cx);
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if driver.is_none() {
            return Poll::Ready(Err(Closed));
        }
        Poll::Pending
    })
}

/// The connection closed while an exchange still waited on it. (hyper
/// hands a request and a body the error that closed their connection, so
/// this is a last resort against a call waiting for its deadline.)
#[derive(Debug)]
pub(crate) struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connection closed before the exchange ended")
    }
}

impl StdError for Closed {}

/// Connections per origin, shared by the clones of a client.
#[derive(Clone)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    connector: Connector,
    idle_timeout: Duration,
    state: Mutex<State>,
    /// Exchanges under way on the clones of this client ([`Pool::enter`]).
    in_flight: AtomicUsize,
}

/// Above this many exchanges under way at once, a connection a call takes
/// is lent to a task of its own ([`Conn::lend`]); at or below it, a lent
/// one is taken back ([`Conn::take_back`]).
///
/// One call at a time, a connection driven by its caller saves a wake-up
/// per reply (the reply wakes the caller, not a task that then wakes it);
/// with 64 in flight, tasks driving the connections carried more calls per
/// second. Four is where the two measured alike (commit cd8a527's
/// measurements, unpinned). With every connection lent instead, a
/// sequential call on a fresh client took 1.5 times as long, relative to
/// bare hyper, under async-std and under smol; with none ever lent, 64 in
/// flight carried 0.93 and 0.80–0.88 times bare hyper's calls per second,
/// under async-std and smol; and with lent connections never taken back, a
/// sequential call after a burst of 64 took 1.06–1.18 times bare hyper's
/// time, against 0.65 taken back (two-core VM, unpinned: `cargo bench
/// --manifest-path benches/Cargo.toml --bench latency -- after-burst
/// concurrency`, each variant beside the unchanged build; BENCHMARKS.md,
/// section 3). Driven by its caller, a connection also needs no executor
/// thread (`tests/blocked.rs`: `a_call_needs_no_executor_thread`,
/// `after_a_burst_a_call_needs_no_executor_thread`).
pub(crate) const LEND_ABOVE: usize = 4;

#[derive(Default)]
struct State {
    /// Idle connections by origin, each list oldest first. A client sends
    /// every request to its one base URL, so this holds one origin, and a
    /// scan finds it faster than hashing the origin would.
    idle: Vec<(Origin, Vec<Idle>)>,
    sweeping: bool,
}

impl State {
    fn idle_for(&mut self, origin: &Origin) -> Option<&mut Vec<Idle>> {
        self.idle
            .iter_mut()
            .find(|(o, _)| o == origin)
            .map(|(_, list)| list)
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Idle {
    /// Open, and idle for less than `idle_timeout` at `now`.
    fn usable(&self, now: Instant, idle_timeout: Duration) -> bool {
        now.saturating_duration_since(self.since) < idle_timeout && self.conn.reusable()
    }
}

/// An exchange under way; see [`Pool::enter`].
pub(crate) struct InFlight<'a> {
    shared: &'a Shared,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection taken from the pool, or just opened.
pub(crate) struct Checkout {
    pub(crate) conn: Conn,
    /// Whether it served a request before: a request refused on it was
    /// never sent, and may go on another connection.
    pub(crate) reused: bool,
}

/// Why no connection could be had. Nothing was sent.
pub(crate) enum CheckoutError {
    Connect(ConnectError),
    Handshake(hyper::Error),
}

impl Pool {
    pub(crate) fn new(connector: Connector, idle_timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                connector,
                idle_timeout,
                state: Mutex::new(State::default()),
                in_flight: AtomicUsize::new(0),
            }),
        }
    }

    /// Counts an exchange as under way until the guard is dropped.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            shared: &self.shared,
        }
    }

    /// An idle connection to `origin` that is ready for a request, else a
    /// new one.
    pub(crate) async fn checkout(&self, origin: &Origin) -> Result<Checkout, CheckoutError> {
        // Every pooled connection waits for its next request (see `put`).
        // One the server has closed since is found so by hyper before it
        // writes: the request comes back unwritten, and the caller takes
        // another connection.
        while let Some(mut conn) = self.take_idle(origin) {
            self.assign(&mut conn);
            // One driven by its own task may still be finishing its last
            // exchange; one the server has closed fails here.
            if conn.is_lent() && !conn.sender.is_ready() && conn.sender.ready().await.is_err() {
                continue;
            }
            return Ok(Checkout { conn, reused: true });
        }
        // Boxed: opening a connection (TCP, TLS, the handshake) takes a few
        // kilobytes of future state, which would otherwise sit in, and be
        // copied with, every call's future, though most calls reuse one.
        let mut conn = Box::pin(self.open(origin)).await?;
        self.assign(&mut conn);
        Ok(Checkout {
            conn,
            reused: false,
        })
    }

    /// Lends `conn`'s driver to a task of its own while more than
    /// [`LEND_ABOVE`] exchanges are under way, and takes it back while
    /// fewer are.
    fn assign(&self, conn: &mut Conn) {
        let busy = self.shared.in_flight.load(Ordering::Relaxed) > LEND_ABOVE;
        match (busy, conn.is_lent()) {
            (true, false) => conn.lend(),
            (false, true) => conn.take_back(),
            _ => {}
        }
    }

    /// A new connection. hyper takes its first request before the driver
    /// has been polled, so it is ready as it is.
    pub(crate) async fn open(&self, origin: &Origin) -> Result<Conn, CheckoutError> {
        let io = self
            .shared
            .connector
            .connect(origin)
            .await
            .map_err(CheckoutError::Connect)?;
        let (sender, driver) = http1::handshake(io)
            .await
            .map_err(CheckoutError::Handshake)?;
        Ok(Conn {
            sender,
            driver: Some(Box::new(driver)),
            lent: None,
        })
    }

    /// Puts a connection whose last reply was read to the end back, if it
    /// is open and hyper waits for its next request; else closes it.
    pub(crate) fn put(&self, origin: Origin, conn: Conn) {
        if !conn.reusable() {
            return;
        }
        let idle = Idle {
            conn,
            since: Instant::now(),
        };
        let mut state = self.shared.lock();
        let evicted = match state.idle_for(&origin) {
            Some(list) => {
                list.push(idle);
                // Full: close the one idle longest (the first).
                (list.len() > MAX_IDLE_PER_ORIGIN).then(|| list.remove(0))
            }
            None => {
                state.idle.push((origin, vec![idle]));
                None
            }
        };
        let start_sweeping = !state.sweeping;
        state.sweeping = true;
        drop(state);
        if start_sweeping {
            SWEEPER.start(
                Arc::downgrade(&self.shared),
                later(Instant::now(), self.shared.idle_timeout),
            );
        }
        // Closed outside the lock.
        drop(evicted);
    }

    /// The most recently used idle connection to `origin` that has not been
    /// idle for the timeout; those that have are closed (outside the lock).
    fn take_idle(&self, origin: &Origin) -> Option<Conn> {
        let timeout = self.shared.idle_timeout;
        let now = Instant::now();
        let mut expired = Vec::new();
        let mut state = self.shared.lock();
        let mut found = None;
        if let Some(list) = state.idle_for(origin) {
            while let Some(idle) = list.pop() {
                if idle.usable(now, timeout) {
                    found = Some(idle.conn);
                    break;
                }
                expired.push(idle);
            }
        }
        drop(state);
        // Closed outside the lock.
        drop(expired);
        found
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned state is still
        // consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Shared {
    /// Closes the connections idle for the timeout at `now` (outside the
    /// lock); the moment the oldest of the others will have been, or
    /// `None` when none is left (and the pool is then no longer swept: the
    /// next `put` starts again). A connection put back later expires later,
    /// so the oldest one's moment is always the next to wait for.
    fn sweep(&self, now: Instant) -> Option<Instant> {
        let timeout = self.idle_timeout;
        let mut closed = Vec::new();
        let mut state = self.lock();
        state.idle.retain_mut(|(_, list)| {
            let (keep, gone): (Vec<Idle>, Vec<Idle>) = std::mem::take(list)
                .into_iter()
                .partition(|idle| idle.usable(now, timeout));
            *list = keep;
            closed.extend(gone);
            !list.is_empty()
        });
        let oldest = state
            .idle
            .iter()
            .filter_map(|(_, list)| list.first().map(|idle| idle.since))
            .min();
        if oldest.is_none() {
            state.sweeping = false;
        }
        drop(state);
        drop(closed); // outside the lock
        oldest.map(|since| later(since, timeout))
    }
}

/// `at + after`, or an hour after `at` should that not be representable
/// (a timeout too long to add never comes: look again then).
fn later(at: Instant, after: Duration) -> Instant {
    at.checked_add(after)
        .or_else(|| at.checked_add(Duration::from_secs(3600)))
        .unwrap_or(at)
}

/// Whether the sweeper's thread runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keeper {
    NotStarted,
    Running,
    /// It could not be started; it is not tried again.
    Failed,
}

/// The thread that closes every pool's idle connections on time, one for
/// the process, started when a pool first has one: it sleeps until the
/// earliest moment a pool's oldest idle connection expires.
///
/// A thread, not a task: a task on async-std's executor would start that
/// executor's threads in a program that runs its calls under smol or a
/// plain `block_on` (`tests/threads.rs` pins that it does not), and those
/// threads then take turns with the caller at async-io's reactor (commit
/// 465b640's measurements). Should the thread fail to start, each pool is
/// swept by a task on async-std's executor instead.
///
/// It is here for what it guarantees, not for speed: without it (idle
/// connections closed only when a call next looks at the pool), the three
/// scenes of `benches/benches/latency.rs` measured no difference beyond
/// their noise, but a client that makes no further call would keep its
/// idle connections open until it is dropped
/// (`the_pool_closes_idle_connections_on_its_timer`,
/// `the_pool_closes_an_idle_connection_on_time`).
struct Sweeper {
    state: Mutex<Sweeping>,
    changed: std::sync::Condvar,
}

struct Sweeping {
    /// Each pool being swept, and when to sweep it next.
    pools: Vec<(Weak<Shared>, Instant)>,
    keeper: Keeper,
}

static SWEEPER: Sweeper = Sweeper {
    state: Mutex::new(Sweeping {
        pools: Vec::new(),
        keeper: Keeper::NotStarted,
    }),
    changed: std::sync::Condvar::new(),
};

impl Sweeper {
    fn lock(&self) -> MutexGuard<'_, Sweeping> {
        // Nothing panics while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sweeps `pool` at `at`, and from then on until it is empty.
    fn start(&'static self, pool: Weak<Shared>, at: Instant) {
        let mut state = self.lock();
        if state.keeper == Keeper::NotStarted {
            state.keeper = match std::thread::Builder::new()
                .name("clerk-idle".into())
                .spawn(move || self.keep())
            {
                Ok(_) => Keeper::Running,
                Err(_) => Keeper::Failed,
            };
        }
        if state.keeper == Keeper::Failed {
            drop(state);
            drop(async_std::task::spawn(sweep_task(pool, at)));
            return;
        }
        state.pools.push((pool, at));
        drop(state);
        self.changed.notify_one();
    }

    /// The thread: sweeps each pool when its moment comes.
    fn keep(&self) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            state.pools.retain(|(pool, at)| {
                if *at <= now {
                    due.push(pool.clone());
                }
                *at > now
            });
            if !due.is_empty() {
                drop(state);
                let mut again = Vec::new();
                for pool in due {
                    // A pool whose client is gone has closed its connections.
                    if let Some(shared) = pool.upgrade()
                        && let Some(next) = shared.sweep(now)
                    {
                        again.push((pool, next));
                    }
                }
                state = self.lock();
                state.pools.extend(again);
                continue;
            }
            let next = state.pools.iter().map(|(_, at)| *at).min();
            state = match next {
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(at) => {
                    self.changed
                        .wait_timeout(state, at.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// The sweeper as a task, should the thread fail to start.
async fn sweep_task(pool: Weak<Shared>, mut at: Instant) {
    loop {
        async_std::task::sleep(at.saturating_duration_since(Instant::now())).await;
        let Some(shared) = pool.upgrade() else {
            return;
        };
        match shared.sweep(Instant::now()) {
            Some(next) => at = next,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn test_tls() -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
    }

    /// Only a connection that waits for its next request goes back to the
    /// pool: one hyper has not finished with (here, never polled: it has
    /// not asked for a request yet) would make the next call wait on it.
    #[test]
    fn only_a_connection_waiting_for_its_next_request_is_pooled() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let uri: clerk_core::http::Uri = format!("http://{}/v1", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let (origin, _) = Origin::split(&uri).unwrap();
        let pool = Pool::new(
            Connector::new(test_tls(), Duration::from_secs(2)),
            Duration::from_secs(15),
        );
        async_std::task::block_on(async {
            let mut conn = pool.open(&origin).await.ok().unwrap();
            let _accepted = listener.accept().unwrap();
            assert!(!conn.sender.is_ready());
            pool.put(origin.clone(), conn);
            assert!(
                pool.take_idle(&origin).is_none(),
                "a busy connection was pooled"
            );

            conn = pool.open(&origin).await.ok().unwrap();
            let _accepted = listener.accept().unwrap();
            // Polled once, hyper asks for a request.
            conn.settle().await;
            assert!(conn.sender.is_ready());
            pool.put(origin.clone(), conn);
            assert!(pool.take_idle(&origin).is_some());
        });
    }

    /// A lent driver taken back is polled by the caller again, and the task
    /// it was lent to ends: no task is left behind per burst.
    #[test]
    fn a_driver_taken_back_ends_its_task() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let uri: clerk_core::http::Uri = format!("http://{}/v1", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let (origin, _) = Origin::split(&uri).unwrap();
        let pool = Pool::new(
            Connector::new(test_tls(), Duration::from_secs(2)),
            Duration::from_secs(15),
        );
        async_std::task::block_on(async {
            let mut conn = pool.open(&origin).await.ok().unwrap();
            let _accepted = listener.accept().unwrap();
            conn.settle().await;
            conn.lend();
            let lent = Arc::downgrade(conn.lent.as_ref().unwrap());
            // Its task waits on the socket once it has polled the driver.
            let start = Instant::now();
            while lent.upgrade().unwrap().lock().task.is_none() {
                assert!(start.elapsed() < Duration::from_secs(5), "never polled");
                async_std::task::sleep(Duration::from_millis(1)).await;
            }
            conn.take_back();
            assert!(!conn.is_lent() && conn.driver.is_some());
            while lent.upgrade().is_some() {
                assert!(start.elapsed() < Duration::from_secs(5), "its task goes on");
                async_std::task::sleep(Duration::from_millis(1)).await;
            }
            assert!(conn.reusable());
        });
    }
}
