//! A keep-alive pool of HTTP/1.1 connections on hyper's `client::conn`.
//!
//! A connection goes back to the pool as soon as its reply has been read to
//! the end, before the caller sees the reply, so the next request on the same
//! client always finds it: sequential calls share one connection, and `n`
//! concurrent calls need at most `n`. (hyper-util's legacy pool hands a
//! connection back from a separate task a moment later and opens a new one
//! for any request in that window: under load, sequential calls used up to
//! three connections. It also needs tokio's `rt`, `time` and `net` built in.)
//!
//! At most [`MAX_IDLE_PER_ORIGIN`] idle connections are kept per origin: a
//! connection put back beyond that closes the one idle longest. Idle
//! connections are closed by a sweeper task when the idle timeout is up,
//! on a timer set to the earliest such moment (so a few milliseconds late
//! at most), and all of them when the last clone of the client is dropped.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::client::conn::http1;

use crate::connect::{ConnectError, Connector, Origin};

/// Idle connections kept per origin. More concurrent calls than this still
/// each get a connection; once they are done, the connections beyond this
/// are closed instead of idling, and the next burst as large opens them
/// again. 64, the concurrency the benchmarks hold (with 32, every round of
/// 64 calls in flight reopened 32 connections).
pub(crate) const MAX_IDLE_PER_ORIGIN: usize = 64;

/// Sends requests on one connection.
pub(crate) type Sender = http1::SendRequest<Full<Bytes>>;

/// Connections per origin, shared by the clones of a client.
#[derive(Clone)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    connector: Connector,
    idle_timeout: Duration,
    state: Mutex<State>,
}

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
    sender: Sender,
    since: Instant,
}

impl Idle {
    /// Open, and idle for less than `idle_timeout` at `now`.
    fn usable(&self, now: Instant, idle_timeout: Duration) -> bool {
        now.saturating_duration_since(self.since) < idle_timeout && !self.sender.is_closed()
    }
}

/// A connection taken from the pool, or just opened.
pub(crate) struct Checkout {
    pub(crate) sender: Sender,
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
            }),
        }
    }

    /// An idle connection to `origin` that is ready for a request, else a
    /// new one.
    pub(crate) async fn checkout(&self, origin: &Origin) -> Result<Checkout, CheckoutError> {
        while let Some((mut sender, ready)) = self.take_idle(origin) {
            // One put back a moment ago may still be finishing its last
            // exchange; one the server has closed fails here.
            if ready || sender.ready().await.is_ok() {
                return Ok(Checkout {
                    sender,
                    reused: true,
                });
            }
        }
        // Boxed: opening a connection (TCP, TLS, the handshake) takes a few
        // kilobytes of future state, which would otherwise sit in, and be
        // copied with, every call's future, though most calls reuse one.
        let sender = Box::pin(self.open(origin)).await?;
        Ok(Checkout {
            sender,
            reused: false,
        })
    }

    async fn open(&self, origin: &Origin) -> Result<Sender, CheckoutError> {
        let io = self
            .shared
            .connector
            .connect(origin)
            .await
            .map_err(CheckoutError::Connect)?;
        let (sender, connection) = http1::handshake(io)
            .await
            .map_err(CheckoutError::Handshake)?;
        // The connection's driver: it reads and writes until the connection
        // closes, which it does once every sender is dropped.
        drop(async_std::task::spawn(async move {
            let _ = connection.await;
        }));
        Ok(sender)
    }

    /// Puts a connection whose last reply was read to the end back.
    pub(crate) fn put(&self, origin: Origin, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let idle = Idle {
            sender,
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
        if !state.sweeping {
            state.sweeping = true;
            drop(async_std::task::spawn(sweep(Arc::downgrade(&self.shared))));
        }
        drop(state);
        // Closed outside the lock.
        drop(evicted);
    }

    /// The most recently used idle connection to `origin` that is ready
    /// for a request now, looking a few deep; else the most recently used
    /// one, to wait on (`false`). A connection is ready once its driver has
    /// finished the last exchange, which may be a moment after its reply was
    /// read: taking one that is ready spares the caller a wait and a wake-up.
    fn take_idle(&self, origin: &Origin) -> Option<(Sender, bool)> {
        /// How many idle connections to look at before waiting on one.
        const LOOK_DEEP: usize = 4;
        let timeout = self.shared.idle_timeout;
        let now = Instant::now();
        let mut state = self.shared.lock();
        let list = state.idle_for(origin)?;
        // Newest first; removing one leaves the indices still to visit alone.
        for i in (list.len().saturating_sub(LOOK_DEEP)..list.len()).rev() {
            let Some(idle) = list.get(i) else { break };
            if !idle.usable(now, timeout) {
                drop(list.remove(i));
            } else if idle.sender.is_ready() {
                // Asked without waiting: nothing is registered with it.
                return Some((list.remove(i).sender, true));
            }
        }
        while let Some(idle) = list.pop() {
            if idle.usable(now, timeout) {
                return Some((idle.sender, false));
            }
        }
        None
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned state is still
        // consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Closes connections once they have been idle for the timeout, waking
/// when the oldest one's time is up; ends when the pool is empty (the next
/// `put` starts another) or gone. A connection put back later expires
/// later, so the oldest one's moment is always the next to wait for.
async fn sweep(shared: Weak<Shared>) {
    let mut wait = match shared.upgrade() {
        Some(shared) => shared.idle_timeout,
        None => return,
    };
    loop {
        async_std::task::sleep(wait).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        let timeout = shared.idle_timeout;
        let mut closed = Vec::new();
        let mut state = shared.lock();
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
        match oldest {
            Some(since) => {
                // (A timeout too long to add never comes: check again then.)
                wait = since
                    .checked_add(timeout)
                    .map_or(timeout, |up| up.saturating_duration_since(now));
            }
            None => state.sweeping = false,
        }
        drop(state);
        drop(closed); // outside the lock
        if oldest.is_none() {
            return;
        }
    }
}
