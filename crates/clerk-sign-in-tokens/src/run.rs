//! The bulk engine: one thread reads the input into a small bounded queue,
//! `concurrency` workers (threads for ureq, tasks for the async adapters)
//! take ids from it, wait for the pacing, call, and hand the result to the
//! [`Sink`]. Nothing is collected: memory stays flat in the number of ids.

use std::collections::HashSet;
use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use clerk_core::{Admission, Config, CreateSignInToken, Error, Gate, RateLimit, SignInToken};

use crate::args::Runtime;
use crate::input::Source;
use crate::output::{Input, Sink};

/// The operation applied to every id.
#[derive(Clone, Debug)]
pub enum Op {
    /// Create a token for each user id, with these options.
    Create {
        /// `--expires-in-seconds`.
        expires_in_seconds: Option<u64>,
        /// `--org-id`.
        org_id: Option<String>,
    },
    /// Revoke each token id.
    Revoke,
}

impl Op {
    fn create_request(&self, user_id: &str) -> CreateSignInToken {
        let mut request = CreateSignInToken::new(user_id);
        if let Self::Create {
            expires_in_seconds,
            org_id,
        } = self
        {
            if let Some(seconds) = expires_in_seconds {
                request = request.with_expires_in_seconds(*seconds);
            }
            if let Some(org) = org_id {
                request = request.with_org_id(org.clone());
            }
        }
        request
    }
}

/// Everything a run needs.
#[derive(Debug)]
pub struct Plan {
    /// What to do with each id.
    pub op: Op,
    /// The ids.
    pub source: Source,
    /// Ids to skip (`--resume`).
    pub resume: HashSet<String>,
    /// Calls in flight at most.
    pub concurrency: usize,
    /// Starts per window, or none.
    pub pacing: Option<RateLimit>,
    /// The adapter.
    pub runtime: Runtime,
    /// The client configuration (its own pacing off: the run paces).
    pub config: Config,
}

type Job = (u64, String);
type Jobs = Arc<Mutex<Receiver<Job>>>;

/// Runs the plan to its end (or to the stop a first Ctrl-C asks for).
///
/// # Errors
/// A client could not be built (nothing was sent), or the runtime could
/// not start. A read error that ended the input early is the `Ok` value.
pub fn run(plan: Plan, sink: &Arc<Sink>) -> Result<Option<io::Error>, String> {
    let Plan {
        op,
        source,
        resume,
        concurrency,
        pacing,
        runtime,
        config,
    } = plan;
    let concurrency = concurrency.max(1);
    // The run paces its starts itself so that it can show when it waits;
    // the client keeps the hold a 429 puts on every call.
    let config = config.with_pacing(None);
    let gate = Gate::new(false, pacing);

    let (tx, rx) = sync_channel::<Job>(concurrency * 2);
    let jobs: Jobs = Arc::new(Mutex::new(rx));
    let reader = {
        let sink = Arc::clone(sink);
        thread::Builder::new()
            .name("input".into())
            .spawn(move || read_input(source, &resume, &tx, &sink))
            .map_err(|e| format!("could not start the input thread: {e}"))?
    };
    let outcome = match runtime {
        Runtime::Ureq => run_ureq(op, config, gate, concurrency, &jobs, sink),
        Runtime::Reqwest => run_reqwest(op, config, gate, concurrency, &jobs, sink),
        Runtime::AsyncStd => run_async_std(op, config, gate, concurrency, &jobs, sink),
    };
    if outcome.is_err() || sink.stopped() {
        // The reader may be blocked on a terminal's stdin: leave it.
        // Dropping the queue makes its next send fail, so it ends.
        drop(jobs);
        return outcome.map(|()| None);
    }
    drop(jobs);
    let read_error = reader.join().unwrap_or(None);
    outcome.map(|()| read_error)
}

fn read_input(
    mut source: Source,
    resume: &HashSet<String>,
    tx: &SyncSender<Job>,
    sink: &Sink,
) -> Option<io::Error> {
    for item in source.by_ref() {
        if sink.stopped() {
            break;
        }
        match item.id {
            Err(bad) => sink.bad_line(item.line, &bad),
            Ok(id) if resume.contains(&id) => sink.skipped(),
            Ok(id) => {
                if tx.send((item.line, id)).is_err() {
                    break;
                }
            }
        }
    }
    source.take_error()
}

/// The next id to call, or `None` when the input is done or the run
/// stopped (ids still queued are then counted as not started).
fn next_job(jobs: &Mutex<Receiver<Job>>, sink: &Sink) -> Option<Job> {
    let rx = jobs.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if sink.stopped() {
            while rx.try_recv().is_ok() {
                sink.not_started();
            }
            return None;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(job) => return Some(job),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// How long to wait before the next start, or `None` to go now.
fn pacing_wait(gate: &Gate) -> Option<Duration> {
    let now = Instant::now();
    match gate.admit(now) {
        Admission::Go => None,
        Admission::Wait { until, .. } => Some(
            until
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(100)),
        ),
    }
}

fn finish(sink: &Sink, line: u64, id: &str, result: Result<SignInToken, Error>) {
    // Held first: a second Ctrl-C now waits for this record.
    let held = sink.hold();
    sink.record(held, Input { line, id }, &result);
}

fn run_ureq(
    op: Op,
    config: Config,
    gate: Gate,
    concurrency: usize,
    jobs: &Jobs,
    sink: &Arc<Sink>,
) -> Result<(), String> {
    let client = clerk_ureq::Client::new(config).map_err(|e| e.to_string())?;
    let mut workers = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let (client, gate, jobs, worker_sink, op) = (
            client.clone(),
            gate.clone(),
            Arc::clone(jobs),
            Arc::clone(sink),
            op.clone(),
        );
        let worker = thread::Builder::new()
            .name(format!("call-{i}"))
            .stack_size(256 * 1024)
            .spawn(move || {
                let sink = worker_sink;
                while let Some((line, id)) = next_job(&jobs, &sink) {
                    let mut waiting = None;
                    while let Some(wait) = pacing_wait(&gate) {
                        waiting.get_or_insert_with(|| sink.waiting());
                        if sink.stopped() {
                            break;
                        }
                        thread::sleep(wait);
                    }
                    drop(waiting);
                    if sink.stopped() {
                        sink.not_started();
                        continue;
                    }
                    let result = match op {
                        Op::Create { .. } => client.create_sign_in_token(op.create_request(&id)),
                        Op::Revoke => client.revoke_sign_in_token(&id),
                    };
                    finish(&sink, line, &id, result);
                }
            });
        match worker {
            Ok(worker) => workers.push(worker),
            Err(e) => {
                sink.stop();
                for w in workers {
                    let _ = w.join();
                }
                return Err(format!("could not start a worker thread: {e}"));
            }
        }
    }
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

/// One async worker: the same loop as the ureq threads, with the runtime's
/// timer and its blocking pool for the queue.
macro_rules! async_worker {
    ($client:expr, $gate:expr, $jobs:expr, $sink:expr, $op:expr, $spawn_blocking:path, $sleep:path) => {{
        let (client, gate, jobs, sink, op) = ($client, $gate, $jobs, $sink, $op);
        async move {
            loop {
                let next = {
                    let (jobs, sink) = (Arc::clone(&jobs), Arc::clone(&sink));
                    $spawn_blocking(move || next_job(&jobs, &sink)).await
                };
                let Some((line, id)) = unwrap_blocking(next) else {
                    break;
                };
                let mut waiting = None;
                while let Some(wait) = pacing_wait(&gate) {
                    waiting.get_or_insert_with(|| sink.waiting());
                    if sink.stopped() {
                        break;
                    }
                    $sleep(wait).await;
                }
                drop(waiting);
                if sink.stopped() {
                    sink.not_started();
                    continue;
                }
                let result = match op {
                    Op::Create { .. } => client.create_sign_in_token(op.create_request(&id)).await,
                    Op::Revoke => client.revoke_sign_in_token(&id).await,
                };
                finish(&sink, line, &id, result);
            }
        }
    }};
}

/// tokio's `spawn_blocking` gives a `Result`, async-std's the value.
trait BlockingOutcome<T> {
    fn into_option(self) -> Option<T>;
}

impl<T> BlockingOutcome<T> for Option<T> {
    fn into_option(self) -> Option<T> {
        self
    }
}

impl<T> BlockingOutcome<T> for Result<Option<T>, tokio::task::JoinError> {
    fn into_option(self) -> Option<T> {
        self.ok().flatten()
    }
}

fn unwrap_blocking<T>(outcome: impl BlockingOutcome<T>) -> Option<T> {
    outcome.into_option()
}

fn run_reqwest(
    op: Op,
    config: Config,
    gate: Gate,
    concurrency: usize,
    jobs: &Jobs,
    sink: &Arc<Sink>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(thread::available_parallelism().map_or(2, |n| n.get().min(8)))
        .max_blocking_threads(concurrency + 2)
        .enable_all()
        .build()
        .map_err(|e| format!("could not start tokio: {e}"))?;
    runtime.block_on(async {
        let client = clerk_reqwest::Client::new(config).map_err(|e| e.to_string())?;
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                tokio::spawn(async_worker!(
                    client.clone(),
                    gate.clone(),
                    Arc::clone(jobs),
                    Arc::clone(sink),
                    op.clone(),
                    tokio::task::spawn_blocking,
                    tokio::time::sleep
                ))
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
        Ok(())
    })
}

fn run_async_std(
    op: Op,
    config: Config,
    gate: Gate,
    concurrency: usize,
    jobs: &Jobs,
    sink: &Arc<Sink>,
) -> Result<(), String> {
    async_std::task::block_on(async {
        let client = clerk_async_std::Client::new(config).map_err(|e| e.to_string())?;
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                async_std::task::spawn(async_worker!(
                    client.clone(),
                    gate.clone(),
                    Arc::clone(jobs),
                    Arc::clone(sink),
                    op.clone(),
                    async_std::task::spawn_blocking,
                    async_std::task::sleep
                ))
            })
            .collect();
        for task in tasks {
            task.await;
        }
        Ok(())
    })
}
