//! The server handle, its builder, and the accept loop.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::limit::{Limiter, RateLimit};
use crate::state::{State, TokenInfo, TokenStatus};
use crate::users::{EmailRecord, UserRecord, UserSpec};
use crate::util::{IdGen, now_ms};
use crate::{Fault, RecordedRequest, conn};

/// The secret key a server accepts unless [`MockServerBuilder::secret_key`] says otherwise.
///
/// # Examples
///
/// ```
/// use clerk_mock::{DEFAULT_SECRET_KEY, MockServer};
///
/// assert_eq!(MockServer::start().secret_key(), DEFAULT_SECRET_KEY);
/// ```
pub const DEFAULT_SECRET_KEY: &str = "sk_test_clerk_mock_secret_key";

/// The host in ticket URLs unless [`MockServerBuilder::instance_host`] says otherwise.
///
/// # Examples
///
/// ```
/// assert_eq!(clerk_mock::DEFAULT_INSTANCE_HOST, "clerk-mock.accounts.dev");
/// ```
pub const DEFAULT_INSTANCE_HOST: &str = "clerk-mock.accounts.dev";

/// The lifetime of a sign-in token when the request gives none: 30 days, as at Clerk.
///
/// # Examples
///
/// ```
/// assert_eq!(clerk_mock::DEFAULT_EXPIRES_IN_SECONDS, 30 * 24 * 60 * 60);
/// ```
pub const DEFAULT_EXPIRES_IN_SECONDS: u64 = 2_592_000;

/// The largest request head (request line and header fields) the server reads: 16 KiB.
/// A longer head is answered with 414 `uri_too_long` if its request line alone is over half
/// of that (a long query), else with 431, and the connection is closed. Either way the
/// server reads no more of the head than the cap and a read buffer.
///
/// # Examples
///
/// ```
/// assert_eq!(clerk_mock::MAX_HEAD_BYTES, 16 * 1024);
/// ```
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The largest request body the server reads: 64 KiB. A longer body is answered with 413 and
/// the connection is closed.
///
/// # Examples
///
/// ```
/// assert_eq!(clerk_mock::MAX_BODY_BYTES, 64 * 1024);
/// ```
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) secret_key: String,
    pub(crate) instance_host: String,
    pub(crate) read_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) rate_limit: Option<RateLimit>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            secret_key: DEFAULT_SECRET_KEY.to_owned(),
            instance_host: DEFAULT_INSTANCE_HOST.to_owned(),
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            max_connections: 512,
            rate_limit: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("secret_key", &"<redacted>")
            .field("instance_host", &self.instance_host)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("max_connections", &self.max_connections)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// Open connections: a second handle on each socket (to shut it down when the server stops)
/// and the connection threads (to join them).
#[derive(Debug, Default)]
struct Connections {
    next_id: u64,
    open: HashMap<u64, TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

/// What the server handle, the accept thread and the connection threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) ids: IdGen,
    state: Mutex<State>,
    stopping: AtomicBool,
    sleep_lock: Mutex<()>,
    sleep_cv: Condvar,
    connections: Mutex<Connections>,
    accepted: AtomicUsize,
}

/// Locks a mutex; a thread that panicked while holding it leaves the data usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Sleeps for `duration`, or until the server stops. Returns `false` if it stopped.
    pub(crate) fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now().checked_add(duration);
        let mut guard = lock(&self.sleep_lock);
        loop {
            if self.is_stopping() {
                return false;
            }
            let now = Instant::now();
            let wait = match deadline {
                Some(deadline) if now >= deadline => return true,
                Some(deadline) => deadline - now,
                None => Duration::from_secs(3600),
            };
            guard = match self.sleep_cv.wait_timeout(guard, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    fn begin_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Taking the lock orders this after any sleeper's check of the flag.
        let _guard = lock(&self.sleep_lock);
        self.sleep_cv.notify_all();
    }

    fn forget_connection(&self, id: u64) {
        lock(&self.connections).open.remove(&id);
    }
}

/// Configures a [`MockServer`] before starting it.
///
/// # Examples
///
/// ```
/// use clerk_mock::MockServer;
/// use std::time::Duration;
///
/// let server = MockServer::builder()
///     .secret_key("sk_test_my_fake_key")
///     .instance_host("happy-hippo-1.clerk.accounts.dev")
///     .read_timeout(Duration::from_secs(5))
///     .start();
/// assert_eq!(server.secret_key(), "sk_test_my_fake_key");
/// ```
#[derive(Debug, Clone, Default)]
pub struct MockServerBuilder {
    config: Config,
}

impl MockServerBuilder {
    /// The secret key requests must present as `Authorization: Bearer <key>`. Defaults to
    /// [`DEFAULT_SECRET_KEY`].
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::builder().secret_key("sk_test_other").start();
    /// assert_eq!(server.secret_key(), "sk_test_other");
    /// ```
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.config.secret_key = key.into();
        self
    }

    /// The host of the ticket URLs in created tokens,
    /// `https://<host>/v1/tickets/accept?ticket=<token>`. Defaults to
    /// [`DEFAULT_INSTANCE_HOST`].
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::builder().instance_host("my-app.accounts.dev").start();
    /// # drop(server);
    /// ```
    pub fn instance_host(mut self, host: impl Into<String>) -> Self {
        self.config.instance_host = host.into();
        self
    }

    /// How long a connection may stay silent (idle between requests, or in the middle of
    /// one) before the server closes it. Defaults to 30 s; at least 1 ms.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let server = clerk_mock::MockServer::builder().read_timeout(Duration::from_millis(200)).start();
    /// # drop(server);
    /// ```
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.config.read_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long one write to a client may block before the server gives up on the
    /// connection. Defaults to 10 s; at least 1 ms.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let server = clerk_mock::MockServer::builder().write_timeout(Duration::from_secs(1)).start();
    /// # drop(server);
    /// ```
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.config.write_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How many connections may be open at once (one thread each). A connection beyond the
    /// limit is closed as soon as it is accepted. Defaults to 512; at least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::builder().max_connections(64).start();
    /// # drop(server);
    /// ```
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = max.max(1);
        self
    }

    /// Limits requests like Clerk does: at most [`RateLimit::limit`] requests per
    /// [`RateLimit::window`] for the secret key. Off unless asked for. See the
    /// [crate documentation](crate#rate-limit) for what counts, when windows start, and what
    /// a refused request gets.
    ///
    /// # Examples
    ///
    /// ```
    /// use clerk_mock::{MockServer, RateLimit};
    /// use std::time::Duration;
    ///
    /// let server = MockServer::builder().rate_limit(RateLimit::DEVELOPMENT).start();
    /// assert_eq!(server.rate_limit(), Some(RateLimit::DEVELOPMENT));
    ///
    /// let small = MockServer::builder()
    ///     .rate_limit(RateLimit::new(5, Duration::from_millis(500)))
    ///     .start();
    /// assert_eq!(small.rate_limit().map(|r| r.limit()), Some(5));
    /// ```
    pub fn rate_limit(mut self, rate: RateLimit) -> Self {
        self.config.rate_limit = Some(rate);
        self
    }

    /// Starts the server on `127.0.0.1` with a port the operating system chooses.
    ///
    /// # Panics
    ///
    /// If it cannot listen on loopback or start its thread; see
    /// [`try_start`](Self::try_start) for a version that returns the error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::builder().start();
    /// assert!(server.addr().ip().is_loopback());
    /// ```
    pub fn start(self) -> MockServer {
        match self.try_start() {
            Ok(server) => server,
            Err(e) => panic!("clerk-mock: cannot listen on 127.0.0.1: {e}"),
        }
    }

    /// Starts the server on `127.0.0.1` with a port the operating system chooses, or
    /// returns why it could not.
    ///
    /// # Errors
    ///
    /// If binding the loopback socket or spawning the accept thread fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::builder().try_start()?;
    /// assert_ne!(server.addr().port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_start(self) -> io::Result<MockServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let mut state = State::default();
        state.limiter = self.config.rate_limit.map(Limiter::new);
        let shared = Arc::new(Shared {
            config: self.config,
            ids: IdGen::new(),
            state: Mutex::new(state),
            stopping: AtomicBool::new(false),
            sleep_lock: Mutex::new(()),
            sleep_cv: Condvar::new(),
            connections: Mutex::new(Connections::default()),
            accepted: AtomicUsize::new(0),
        });
        let for_thread = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("clerk-mock-accept-{}", addr.port()))
            .spawn(move || accept_loop(&for_thread, &listener))?;
        Ok(MockServer {
            shared,
            addr,
            accept: Some(accept),
        })
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    for incoming in listener.incoming() {
        if shared.is_stopping() {
            break;
        }
        match incoming {
            Ok(stream) => {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                spawn_connection(shared, stream);
            }
            // Out of file descriptors and the like: back off a little instead of spinning.
            Err(_) => {
                if !shared.sleep(Duration::from_millis(10)) {
                    break;
                }
            }
        }
    }
}

fn spawn_connection(shared: &Arc<Shared>, stream: TcpStream) {
    let mut connections = lock(&shared.connections);
    connections.threads.retain(|t| !t.is_finished());
    if connections.open.len() >= shared.config.max_connections {
        return; // dropping the stream closes it
    }
    let Ok(handle_for_stop) = stream.try_clone() else {
        return;
    };
    let id = connections.next_id;
    connections.next_id += 1;
    connections.open.insert(id, handle_for_stop);
    let for_thread = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name(format!("clerk-mock-conn-{id}"))
        .spawn(move || {
            conn::serve(&for_thread, stream);
            for_thread.forget_connection(id);
        });
    match spawned {
        Ok(thread) => connections.threads.push(thread),
        Err(_) => {
            connections.open.remove(&id);
        }
    }
}

/// A stand-in Clerk Backend API server on `127.0.0.1`, for tests.
///
/// It serves `POST /v1/sign_in_tokens`, `POST /v1/sign_in_tokens/{id}/revoke` and
/// `GET /v1/users` the way Clerk does (see the [crate documentation](crate)), injects scripted [`Fault`]s, and records
/// every request. Each server has its own port, users, tokens, faults and log, so tests can run
/// in parallel, each with its own server.
///
/// Dropping the server (or calling [`shutdown`](Self::shutdown)) stops it: the accept loop
/// ends, open connections are closed, pending [`Fault::Delay`]s are cut short, and all its
/// threads are joined.
///
/// `Debug` does not show the secret key.
///
/// # Examples
///
/// ```
/// use clerk_mock::MockServer;
///
/// let server = MockServer::start();
/// let user = server.create_user();
/// assert!(server.base_url().starts_with("http://127.0.0.1:"));
/// assert!(server.base_url().ends_with("/v1"));
/// assert!(!format!("{server:?}").contains(server.secret_key()));
/// # let _ = user;
/// ```
pub struct MockServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("base_url", &self.base_url())
            .field("secret_key", &"<redacted>")
            .field("instance_host", &self.shared.config.instance_host)
            .finish_non_exhaustive()
    }
}

impl MockServer {
    /// Starts a server with the defaults on `127.0.0.1` and an OS-chosen port.
    ///
    /// # Panics
    ///
    /// Only if it cannot listen on loopback (or cannot start its accept thread). Use
    /// [`try_start`](Self::try_start) to get the error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// assert_eq!(server.base_url(), format!("http://{}/v1", server.addr()));
    /// ```
    pub fn start() -> MockServer {
        MockServerBuilder::default().start()
    }

    /// Starts a server with the defaults, or returns why it could not.
    ///
    /// # Errors
    ///
    /// If binding the loopback socket or spawning the accept thread fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::try_start()?;
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_start() -> io::Result<MockServer> {
        MockServerBuilder::default().try_start()
    }

    /// A builder to choose the secret key, the ticket host or the timeouts.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::builder().secret_key("sk_test_x").start();
    /// assert_eq!(server.secret_key(), "sk_test_x");
    /// ```
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// The API's base URL, `http://127.0.0.1:PORT/v1`: what a client would use in place of
    /// `https://api.clerk.com/v1`.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// let url = server.base_url();
    /// assert_eq!(url, format!("http://127.0.0.1:{}/v1", server.addr().port()));
    /// ```
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The socket address the server listens on.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// let conn = std::net::TcpStream::connect(server.addr()).unwrap();
    /// # drop(conn);
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The secret key the server accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// let header = format!("Authorization: Bearer {}", server.secret_key());
    /// assert!(header.contains("sk_test_"));
    /// ```
    pub fn secret_key(&self) -> &str {
        &self.shared.config.secret_key
    }

    /// Registers a new user with a realistic id (`user_` and 27 letters and digits) and
    /// returns the id. The user has no email address, external id or names: it can receive
    /// sign-in tokens and appears in an unfiltered `GET /v1/users`, but no email lookup finds
    /// it. Use [`insert_user`](Self::insert_user) for a user with addresses.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// let user = server.create_user();
    /// assert!(user.starts_with("user_"));
    /// assert_eq!(user.len(), 32);
    /// ```
    pub fn create_user(&self) -> String {
        self.insert_user(UserSpec::new())
    }

    /// Registers a user with the given id (any string), with no email address, external id
    /// or names. Adding one that exists changes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// server.add_user("user_2abc");
    /// ```
    pub fn add_user(&self, id: &str) {
        let mut state = self.shared.state();
        if !state.users.contains(id) {
            let record = self.user_record(&mut state, UserSpec::new().id(id));
            state.users.upsert(record);
        }
    }

    /// Registers the user `spec` describes and returns its id. The user can then receive
    /// sign-in tokens and is found by `GET /v1/users` (by any of its email addresses,
    /// compared case-insensitively, or by its external id).
    ///
    /// Each user gets a `created_at` (Unix milliseconds) later than every user registered
    /// before it on this server, so "newest first" follows registration order. Registering
    /// an id that exists replaces that user's email addresses, external id and names; it
    /// keeps its place and its tokens.
    ///
    /// # Examples
    ///
    /// ```
    /// use clerk_mock::{MockServer, UserSpec};
    ///
    /// let server = MockServer::start();
    /// let ann = server.insert_user(UserSpec::new().email("ann@example.com").external_id("crm-1"));
    /// // Two users may share an address, to test an ambiguous lookup.
    /// let other = server.insert_user(UserSpec::new().email("ANN@example.com"));
    /// assert_ne!(ann, other);
    /// ```
    pub fn insert_user(&self, spec: UserSpec) -> String {
        let mut state = self.shared.state();
        let record = self.user_record(&mut state, spec);
        let id = record.id.clone();
        state.users.upsert(record);
        id
    }

    fn user_record(&self, state: &mut State, spec: UserSpec) -> UserRecord {
        let ids = &self.shared.ids;
        let created_at = state.users.next_created_at(now_ms());
        UserRecord {
            id: spec.id.unwrap_or_else(|| ids.clerk_id("user")),
            emails: spec
                .emails
                .into_iter()
                .map(|address| EmailRecord {
                    id: ids.clerk_id("idn"),
                    folded: address.to_lowercase(),
                    address,
                })
                .collect(),
            external_id: spec.external_id,
            first_name: spec.first_name,
            last_name: spec.last_name,
            created_at,
            updated_at: created_at,
        }
    }

    /// Registers an organization and adds `members` to it (adding to any it already has).
    /// Members are not registered as users by this: add them with
    /// [`add_user`](Self::add_user) or [`create_user`](Self::create_user).
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// let user = server.create_user();
    /// server.add_organization("org_2xyz", &[&user]);
    /// ```
    pub fn add_organization(&self, org_id: &str, members: &[&str]) {
        let mut state = self.shared.state();
        let org = state.orgs.entry(org_id.to_owned()).or_default();
        org.extend(members.iter().map(|m| (*m).to_owned()));
    }

    /// Simulates the user signing in with the token: a *pending*, unexpired token becomes
    /// *accepted* (and its `updated_at` moves). Returns whether that happened; `false` for an
    /// unknown, expired, accepted or revoked token.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// assert!(!server.accept_token("sit_unknown"));
    /// ```
    pub fn accept_token(&self, token_id: &str) -> bool {
        let now = now_ms();
        let mut state = self.shared.state();
        match state.token_mut(token_id) {
            Some(token) if token.status == TokenStatus::Pending && now < token.expires_at => {
                token.status = TokenStatus::Accepted;
                token.touch(now);
                true
            }
            _ => false,
        }
    }

    /// The status of a token (`"pending"`, `"accepted"` or `"revoked"`), or `None` if the
    /// server never issued it.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// assert_eq!(server.token_status("sit_unknown"), None);
    /// ```
    pub fn token_status(&self, token_id: &str) -> Option<String> {
        self.shared
            .state()
            .token(token_id)
            .map(|t| t.status.as_str().to_owned())
    }

    /// A snapshot of one token the server issued.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// assert!(server.token("sit_unknown").is_none());
    /// ```
    pub fn token(&self, token_id: &str) -> Option<TokenInfo> {
        self.shared.state().token(token_id).map(|t| t.info())
    }

    /// Snapshots of all tokens the server issued, oldest first. Handy to check that a
    /// retried create did not leave a second token behind.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// assert_eq!(server.tokens().len(), 0);
    /// ```
    pub fn tokens(&self) -> Vec<TokenInfo> {
        self.shared
            .state()
            .tokens()
            .iter()
            .map(|t| t.info())
            .collect()
    }

    /// Queues a fault for the next request that reaches the server (first in, first out).
    /// See [`Fault`] for what each does.
    ///
    /// # Examples
    ///
    /// ```
    /// use clerk_mock::{Fault, MockServer};
    /// use std::io::{Read, Write};
    /// use std::net::TcpStream;
    ///
    /// let server = MockServer::start();
    /// server.push_fault(Fault::Html502);
    ///
    /// let mut conn = TcpStream::connect(server.addr()).unwrap();
    /// conn.write_all(b"POST /v1/sign_in_tokens HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    ///     .unwrap();
    /// let mut answer = String::new();
    /// conn.read_to_string(&mut answer).unwrap();
    /// assert!(answer.starts_with("HTTP/1.1 502 "));
    /// assert!(answer.contains("Content-Type: text/html"));
    /// assert_eq!(server.pending_faults(), 0);
    /// ```
    pub fn push_fault(&self, fault: Fault) {
        self.shared.state().faults.push_back(fault);
    }

    /// Queues the same fault for each of the next `times` requests.
    ///
    /// # Examples
    ///
    /// ```
    /// use clerk_mock::{Fault, MockServer};
    ///
    /// let server = MockServer::start();
    /// server.push_faults(Fault::ServiceUnavailable { retry_after: None }, 3);
    /// assert_eq!(server.pending_faults(), 3);
    /// ```
    pub fn push_faults(&self, fault: Fault, times: usize) {
        let mut state = self.shared.state();
        for _ in 0..times {
            state.faults.push_back(fault.clone());
        }
    }

    /// How many queued faults no request has taken yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// assert_eq!(server.pending_faults(), 0);
    /// ```
    pub fn pending_faults(&self) -> usize {
        self.shared.state().faults.len()
    }

    /// Every complete request received so far, in the order they were read, including the
    /// ones answered with a fault or an error.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// assert!(server.requests().is_empty());
    /// ```
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// The rate limit the server was started with, if any
    /// ([`MockServerBuilder::rate_limit`]).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(clerk_mock::MockServer::start().rate_limit(), None);
    /// ```
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.shared.config.rate_limit
    }

    /// How many requests the rate limit ([`MockServerBuilder::rate_limit`]) has refused with
    /// a 429 so far. Scripted [`Fault::RateLimited`] answers are not counted. Each of these
    /// requests is also in [`requests`](Self::requests) with
    /// [`RecordedRequest::rate_limited`] set.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// assert_eq!(server.rate_limited_count(), 0);
    /// ```
    pub fn rate_limited_count(&self) -> usize {
        self.shared.state().rate_limited
    }

    /// How many TCP connections the server has accepted. With keep-alive, several requests
    /// share one connection, so this stays below the number of requests.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// assert_eq!(server.connections_accepted(), 0);
    /// ```
    pub fn connections_accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Stops the server and waits for its threads to end: the same as dropping it, but
    /// explicit.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// let addr = server.addr();
    /// server.shutdown();
    /// assert!(std::net::TcpStream::connect(addr).is_err());
    /// ```
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.begin_stop();
        // Wake the accept loop, blocked in accept(), with a connection of our own.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if woke {
            let _ = accept.join();
        }
        // No more connections are registered now (or, if the wake-up failed, any later one
        // sees the flag and closes at once).
        let (open, threads) = {
            let mut connections = lock(&self.shared.connections);
            let open: Vec<TcpStream> = connections.open.drain().map(|(_, s)| s).collect();
            (open, std::mem::take(&mut connections.threads))
        };
        for stream in open {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop();
    }
}
