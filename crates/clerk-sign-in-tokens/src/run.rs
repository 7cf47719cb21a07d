//! The bulk engine: one thread reads the input into a short bounded queue
//! (blocking while it is full); `concurrency` workers take work from it,
//! wait for the pacing, call, and hand each result to the [`Sink`]. The
//! worker is one `async fn` for every runtime: a thread of its own per
//! worker on ureq, a task on the async adapters. A stop closes the queue.

use std::collections::HashMap;
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use async_std::channel::{Receiver, Sender};
use clerk_core::{
    Admission, Config, CreateSignInToken, EmailLookup, EmailMatch, Error, Gate, MAX_LOOKUP_VALUES,
    Operation, RateLimit, RevokeSignInToken,
};
use futures_lite::FutureExt as _;

use crate::args::Runtime;
use crate::input::{Resume, Source};
use crate::output::{ErrorRecord, Record, Settled, Sink};

/// The operation applied to every input line.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// `by_email`: the input lines are email addresses, looked up first.
    Create {
        expires_in_seconds: Option<u64>,
        org_id: Option<String>,
        by_email: bool,
    },
    /// `by_hand`: the ids were typed (arguments, `--ids`), not read from
    /// an earlier run's records: one Clerk does not know is a failure.
    Revoke { by_hand: bool },
}

pub(crate) struct Plan {
    pub(crate) op: Op,
    pub(crate) source: Source,
    pub(crate) resume: Resume,
    pub(crate) concurrency: usize,
    pub(crate) pacing: Option<RateLimit>,
    pub(crate) runtime: Runtime,
    pub(crate) config: Config,
}

/// One line's work: the id to call with, and the address it came from.
struct Job {
    line: u64,
    id: String,
    email: Option<String>,
}

#[derive(Clone)]
enum Client {
    Ureq(clerk_ureq::Client),
    Reqwest(clerk_reqwest::Client),
    AsyncStd(clerk_async_std::Client),
}

impl Client {
    async fn send<O: Operation + Send>(&self, operation: O) -> Result<O::Output, Error> {
        match self {
            Self::Ureq(c) => c.send(operation),
            Self::Reqwest(c) => c.send(operation).await,
            Self::AsyncStd(c) => c.send(operation).await,
        }
    }

    fn gate(&self) -> &Gate {
        match self {
            Self::Ureq(c) => c.gate(),
            Self::Reqwest(c) => c.gate(),
            Self::AsyncStd(c) => c.gate(),
        }
    }
}

struct Shared {
    op: Op,
    /// The run's pacing of starts (lookups included).
    gate: Gate,
    sink: Arc<Sink>,
    resume: Resume,
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs the plan to its end, or to a stop (Ctrl-C, a failed write). `Ok`
/// holds the read error that ended the input early.
pub(crate) fn run(plan: Plan, sink: &Arc<Sink>) -> Result<Option<io::Error>, String> {
    let n = plan.concurrency.max(1);
    // The run paces its starts itself so that the progress bar can say
    // when it waits; the client keeps the hold a 429 puts on every call.
    let config = plan.config.with_pacing(None);
    let by_email = matches!(plan.op, Op::Create { by_email: true, .. });
    let shared = Arc::new(Shared {
        gate: Gate::new(false, plan.pacing),
        sink: Arc::clone(sink),
        resume: plan.resume,
        op: plan.op,
    });
    let (tx, jobs) = async_std::channel::bounded::<Job>(2 * n);
    // Addresses wait here for their lookup, a batch at a time.
    let (to_lookup, addresses) = async_std::channel::bounded::<Job>(MAX_LOOKUP_VALUES);
    for queue in [jobs.clone(), addresses.clone()] {
        sink.on_stop(Box::new(move || {
            queue.close();
        }));
    }
    let reader = {
        let (shared, tx) = (Arc::clone(&shared), tx.clone());
        thread::Builder::new()
            .name("input".into())
            .spawn(move || {
                let queue = if by_email { to_lookup } else { tx };
                read_input(plan.source, &shared, &queue, by_email)
            })
            .map_err(|e| format!("could not start the input thread: {e}"))?
    };
    // Without addresses to look up, `resolve` finds its queue closed.
    let workers = move |client: Client| {
        let lookup = resolve(Arc::clone(&shared), client.clone(), addresses, tx);
        let workers = (0..n).map(|_| worker(Arc::clone(&shared), client.clone(), jobs.clone()));
        let workers = workers.map(|w| Box::pin(w) as Task);
        std::iter::once(Box::pin(lookup) as Task)
            .chain(workers)
            .collect::<Vec<_>>()
    };
    let outcome = match plan.runtime {
        // Looks Clerk's host up only for a new connection (this crate pins
        // ureq's minor version for it: see Cargo.toml).
        Runtime::Ureq => clerk_ureq::Client::with_lazy_resolve(config)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                thread::scope(|scope| {
                    for w in workers(Client::Ureq(c)) {
                        thread::Builder::new()
                            .spawn_scoped(scope, move || futures_lite::future::block_on(w))
                            .map_err(|e| {
                                sink.stop();
                                format!("could not start a worker thread: {e}")
                            })?;
                    }
                    Ok(())
                })
            }),
        Runtime::Reqwest => tokio::runtime::Runtime::new()
            .map_err(|e| format!("could not start tokio: {e}"))
            .and_then(|rt| {
                rt.block_on(async {
                    let client = clerk_reqwest::Client::new(config).map_err(|e| e.to_string())?;
                    let tasks = workers(Client::Reqwest(client)).into_iter();
                    for task in tasks.map(tokio::spawn).collect::<Vec<_>>() {
                        let _ = task.await;
                    }
                    Ok(())
                })
            }),
        Runtime::AsyncStd => async_std::task::block_on(async {
            let client = clerk_async_std::Client::new(config).map_err(|e| e.to_string())?;
            let tasks = workers(Client::AsyncStd(client)).into_iter();
            for task in tasks.map(async_std::task::spawn).collect::<Vec<_>>() {
                task.await;
            }
            Ok(())
        }),
    };
    outcome.inspect_err(|_| sink.stop())?;
    // The reader may be blocked on a terminal's stdin: leave it.
    Ok(if sink.stopped() {
        None
    } else {
        reader.join().unwrap_or(None)
    })
}

fn read_input(
    source: Source,
    shared: &Shared,
    tx: &Sender<Job>,
    by_email: bool,
) -> Option<io::Error> {
    let sink = &shared.sink;
    source.read(|line, id| {
        let id = match id {
            _ if sink.stopped() => {
                sink.not_started();
                return false;
            }
            Err(reason) => {
                let error = ErrorRecord::local("invalid_input", reason);
                sink.fail(Record::at(line, None, None), error);
                return true;
            }
            Ok(id) if shared.resume.contains(&id) => {
                sink.skipped();
                return true;
            }
            Ok(id) => id,
        };
        let (id, email) = if by_email {
            (String::new(), Some(id))
        } else {
            (id, None)
        };
        let sent = tx.send_blocking(Job { line, id, email }).is_ok();
        if !sent {
            sink.not_started();
        }
        sent
    })
}

/// How long to wait before the next start, or `None` to go now: while a
/// 429 holds the client, then for the run's pacing; looked at again at
/// least every 100 ms, so that a stop is seen.
fn pacing_wait(gate: &Gate, client_gate: &Gate) -> Option<Duration> {
    let now = Instant::now();
    let held = client_gate
        .is_active()
        .then(|| client_gate.held_until())
        .flatten();
    let until = match (held.filter(|&until| until > now), gate.admit(now)) {
        (Some(until), _) | (None, Admission::Wait { until, .. }) => until,
        (None, Admission::Go) => return None,
    };
    Some(
        until
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_millis(100)),
    )
}

/// Waits for the pacing; `false` when the run stopped meanwhile.
async fn pace(shared: &Shared, client: &Client) -> bool {
    while !shared.sink.stopped()
        && let Some(wait) = pacing_wait(&shared.gate, client.gate())
    {
        shared.sink.waiting();
        async_io::Timer::after(wait).await;
    }
    !shared.sink.stopped()
}

async fn worker(shared: Arc<Shared>, client: Client, jobs: Receiver<Job>) {
    while let Ok(job) = jobs.recv().await {
        if pace(&shared, &client).await {
            let call = call(&shared, &client, &job);
            guarded(&shared.sink, job.line, &job.id, call).await;
        } else {
            shared.sink.not_started();
        }
    }
}

/// Turns addresses into jobs, [`MAX_LOOKUP_VALUES`] at a time: one
/// lookup (clerk-core's batching and matching, paced like every call)
/// per batch. An address no user has, or several have, is a failed
/// record; a user found again (another address, another line) gets no
/// second token.
async fn resolve(shared: Arc<Shared>, client: Client, addresses: Receiver<Job>, jobs: Sender<Job>) {
    let sink = &shared.sink;
    let mut first_line: HashMap<String, u64> = HashMap::new();
    loop {
        let mut batch = Vec::new();
        while batch.len() < MAX_LOOKUP_VALUES
            && let Ok(job) = addresses.recv().await
        {
            batch.push(job);
        }
        if batch.is_empty() {
            return;
        }
        let emails: Vec<&str> = batch.iter().filter_map(|j| j.email.as_deref()).collect();
        let found: Result<Option<Vec<EmailMatch>>, Error> = async {
            let mut lookup = EmailLookup::new(&emails)?;
            while let Some(request) = lookup.next_request() {
                if !pace(&shared, &client).await {
                    return Ok(None);
                }
                lookup.handle(client.send(request).await)?;
            }
            Ok(Some(lookup.finish()))
        }
        .await;
        let matches = match found {
            Ok(Some(matches)) => matches,
            Ok(None) => {
                batch.iter().for_each(|_| sink.not_started());
                continue;
            }
            Err(e) => {
                for job in &batch {
                    let record = Record::at(job.line, job.email.as_deref(), None);
                    sink.fail(record, ErrorRecord::from_error(&e));
                }
                continue;
            }
        };
        for (mut job, matched) in batch.into_iter().zip(matches) {
            let mut record = Record::at(job.line, job.email.as_deref(), None);
            let user = match matched {
                EmailMatch::Found(user) => user,
                EmailMatch::NotFound => {
                    let message = "no user has this email address: nothing minted".into();
                    sink.fail(record, ErrorRecord::local("not_found", message));
                    continue;
                }
                EmailMatch::Ambiguous(users) => {
                    let (n, users) = (users.len(), users.join(" "));
                    let message =
                        format!("{n} users have this email address ({users}): nothing minted");
                    sink.fail(record, ErrorRecord::local("ambiguous", message));
                    continue;
                }
            };
            if shared.resume.contains(&user) {
                sink.skipped();
            } else if let Some(first) = first_line.get(&user) {
                record.id = Some(&user);
                let message = Some(format!("line {first} mints this user's token"));
                record.settled = Some(Settled {
                    state: "same_user",
                    message,
                });
                sink.deliver(&record, false);
            } else {
                first_line.insert(user.clone(), job.line);
                job.id = user;
                if jobs.send(job).await.is_err() {
                    sink.not_started();
                }
            }
        }
    }
}

/// Runs one call; a panic in it becomes a failed record (and so a
/// non-zero exit), never a missing one.
async fn guarded(sink: &Sink, line: u64, id: &str, call: impl Future<Output = ()>) {
    if AssertUnwindSafe(call).catch_unwind().await.is_err() {
        let message = "the call panicked: whether it reached Clerk is unknown".into();
        let record = Record::at(line, None, Some(id));
        sink.fail(record, ErrorRecord::local("panic", message));
    }
}

/// One call and its record; a minted token not written is revoked.
async fn call(shared: &Shared, client: &Client, job: &Job) {
    let sink = &shared.sink;
    let mut record = Record::at(job.line, job.email.as_deref(), Some(&job.id));
    let (sent, by_hand) = match &shared.op {
        Op::Create {
            expires_in_seconds,
            org_id,
            ..
        } => {
            let mut request = CreateSignInToken::new(&job.id);
            if let Some(seconds) = expires_in_seconds {
                request = request.with_expires_in_seconds(*seconds);
            }
            if let Some(org) = org_id {
                request = request.with_org_id(org.clone());
            }
            (client.send(request).await, None)
        }
        Op::Revoke { by_hand } => {
            let revoked = client.send(RevokeSignInToken::new(job.id.clone())).await;
            (revoked, Some(*by_hand))
        }
    };
    let token = match sent {
        Ok(token) => token,
        Err(e) => {
            match by_hand.and_then(|by_hand| Settled::from_revoke_error(&e, by_hand)) {
                Some(settled) => record.settled = Some(settled),
                None => record.error = Some(ErrorRecord::from_error(&e)),
            }
            sink.deliver(&record, false);
            return;
        }
    };
    record.token = Some(&token);
    let minted = by_hand.is_none();
    if !sink.deliver(&record, minted) && minted {
        let revoked = client.send(RevokeSignInToken::new(token.id.clone())).await;
        let revoked = match &revoked {
            Err(e) if Settled::from_revoke_error(e, false).is_none() => Err(e),
            _ => Ok(()),
        };
        sink.undelivered(job.line, &token.id, revoked);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker waits while a 429 holds the client, then goes at the
    /// run's pacing.
    #[test]
    fn a_hold_on_the_client_is_waited_out_before_the_start() {
        let run_gate = Gate::new(false, None);
        let client_gate = Gate::new(true, None);
        assert_eq!(pacing_wait(&run_gate, &client_gate), None);
        let now = Instant::now();
        client_gate.hold_until(now, now + Duration::from_secs(5));
        let wait = pacing_wait(&run_gate, &client_gate).expect("held");
        assert_eq!(wait, Duration::from_millis(100), "checked again soon");
        let over = Gate::new(true, None);
        over.hold_until(now, now);
        assert_eq!(pacing_wait(&run_gate, &over), None);
    }

    /// An output the test reads back.
    #[derive(Clone, Default)]
    struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);

    impl io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_call_that_panics_is_a_failed_record_and_a_failed_run() {
        let out = Shared::default();
        let sink = Sink::new(Box::new(out.clone()), false, None);
        futures_lite::future::block_on(guarded(&sink, 7, "user_1", async {
            panic!("a bug");
        }));
        futures_lite::future::block_on(guarded(&sink, 8, "user_2", async {}));
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 1, "{text}");
        assert_eq!(records[0]["line"], 7);
        assert_eq!(records[0]["id"], "user_1");
        assert_eq!(records[0]["error"]["kind"], "panic");
        assert_eq!(sink.finish(None), 1);
    }
}
