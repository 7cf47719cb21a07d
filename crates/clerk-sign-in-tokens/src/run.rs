//! The bulk engine: one thread reads the input into a small bounded queue,
//! `concurrency` workers (threads for ureq, tasks for the async adapters)
//! take ids from it, wait for the pacing, call, and hand the result to the
//! [`Sink`]. Nothing is collected: memory stays flat in the number of ids.
//!
//! The queue is an `async-channel` (the one async-std re-exports): the
//! reader thread and the ureq threads block on it, the async workers await
//! it on either runtime. A stop closes it, which wakes every worker.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;
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
type Jobs = async_std::channel::Receiver<Job>;

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

    let (tx, jobs) = async_std::channel::bounded::<Job>(queue_len(concurrency));
    {
        let jobs = jobs.clone();
        sink.on_stop(Box::new(move || {
            jobs.close();
        }));
    }
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
    if outcome.is_err() {
        // Nothing will take ids any more: let the reader end.
        sink.stop();
    }
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

/// The queue's length: a few ids per worker, so that the reader refills
/// it in batches rather than one id per wake-up; constant in the input.
fn queue_len(concurrency: usize) -> usize {
    (concurrency * 4).clamp(256, 8192)
}

/// Puts a job on the queue; `false` once the queue is closed (a stop).
///
/// When the queue is full the reader sleeps a millisecond instead of
/// waiting to be woken: woken at every id a worker takes, it would trade
/// one wake-up per call with the workers.
fn enqueue(tx: &async_std::channel::Sender<Job>, mut job: Job) -> bool {
    use async_std::channel::TrySendError;
    loop {
        match tx.try_send(job) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(back)) => {
                job = back;
                thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn read_input(
    mut source: Source,
    resume: &HashSet<String>,
    tx: &async_std::channel::Sender<Job>,
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
                if !enqueue(tx, (item.line, id)) {
                    break;
                }
            }
        }
    }
    source.take_error()
}

/// How long to wait before the next start, or `None` to go now: while a
/// 429 holds the client (so that the progress bar says it is waiting for
/// the rate limit), then for the run's pacing.
fn pacing_wait(gate: &Gate, client_gate: &Gate) -> Option<Duration> {
    let now = Instant::now();
    let held = client_gate
        .is_active()
        .then(|| client_gate.held_until())
        .flatten();
    if let Some(until) = held.filter(|&until| until > now) {
        return Some(
            until
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(100)),
        );
    }
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
    // Looks Clerk's host up only for a new connection, not for every call
    // (this crate pins ureq's minor version for it: see Cargo.toml).
    let client = clerk_ureq::Client::with_lazy_resolve(config).map_err(|e| e.to_string())?;
    let mut workers = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let (client, gate, jobs, worker_sink, op) = (
            client.clone(),
            gate.clone(),
            jobs.clone(),
            Arc::clone(sink),
            op.clone(),
        );
        let worker = thread::Builder::new()
            .name(format!("call-{i}"))
            .spawn(move || {
                let sink = worker_sink;
                while let Ok((line, id)) = jobs.recv_blocking() {
                    if sink.stopped() {
                        sink.not_started();
                        continue;
                    }
                    let mut waiting = None;
                    while let Some(wait) = pacing_wait(&gate, client.gate()) {
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
/// timer.
macro_rules! async_worker {
    ($client:expr, $gate:expr, $jobs:expr, $sink:expr, $op:expr, $sleep:path) => {{
        let (client, gate, jobs, sink, op) = ($client, $gate, $jobs, $sink, $op);
        async move {
            loop {
                let Ok((line, id)) = jobs.recv().await else {
                    break;
                };
                if sink.stopped() {
                    sink.not_started();
                    continue;
                }
                let mut waiting = None;
                while let Some(wait) = pacing_wait(&gate, client.gate()) {
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
                    jobs.clone(),
                    Arc::clone(sink),
                    op.clone(),
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
                    jobs.clone(),
                    Arc::clone(sink),
                    op.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker waits (and the bar says so) while a 429 holds the client,
    /// then goes at the run's pacing.
    #[test]
    fn a_hold_on_the_client_is_waited_out_before_the_start() {
        let run_gate = Gate::new(false, None);
        let client_gate = Gate::new(true, None);
        assert_eq!(pacing_wait(&run_gate, &client_gate), None);
        let now = Instant::now();
        client_gate.hold_until(now, now + Duration::from_secs(5));
        let wait = pacing_wait(&run_gate, &client_gate).expect("held");
        assert_eq!(wait, Duration::from_millis(100), "checked again soon");
        // A hold already over keeps no one.
        let over = Gate::new(true, None);
        over.hold_until(now, now);
        assert_eq!(pacing_wait(&run_gate, &over), None);
    }
}
