//! Records on stdout, the progress bar and the summary on stderr.
//!
//! Every result goes through one [`Sink`]: a call marks its result as held
//! the moment it returns and queues its encoded line; one writer thread
//! takes the output lock, takes everything queued, writes it and flushes
//! (lines that complete together go out in one write, and no line waits
//! for a later one; no call blocks on the output). The second Ctrl-C waits
//! until no result is held (up to two seconds), takes the output lock,
//! writes whatever is still queued, flushes, and exits while holding the
//! lock: no token the program has read is left unwritten.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use clerk_core::{Error, ErrorKind, SignInToken};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::input::BadLine;

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON Lines record per input line, a summary on stderr.
    Records,
    /// The example's form for one call: the token as one JSON object on
    /// stdout, or one line on stderr; no summary.
    Single,
}

/// The counts a run ends with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls that got a token.
    pub succeeded: u64,
    /// Records of failures (calls and bad lines).
    pub failed: u64,
    /// Ids skipped because `--resume` showed they already got a token.
    pub skipped: u64,
    /// Ids read but never sent because the run was interrupted.
    pub not_started: u64,
}

/// Lines encoded and not yet written, and the counts.
struct State {
    pending: Vec<u8>,
    /// Held results whose lines are in `pending`.
    pending_held: usize,
    counts: Counts,
    /// No more lines will come: the writer ends once the queue is empty.
    closed: bool,
    /// The writer waits to be woken (else it looks again by itself).
    writer_idle: bool,
}

struct Output {
    out: Box<dyn Write + Send>,
    /// Set when stdout could not be written: nothing more is started.
    broken: Option<io::Error>,
}

/// Where every result goes. See the module documentation.
pub struct Sink {
    state: Mutex<State>,
    output: Mutex<Output>,
    /// Wakes the writer thread.
    queued: Condvar,
    writer: Mutex<Option<JoinHandle<()>>>,
    format: Format,
    /// Results held and not written yet.
    handing: AtomicUsize,
    /// Set by the first Ctrl-C or a broken stdout: start nothing more.
    stop: AtomicBool,
    interrupted: AtomicBool,
    /// Calls waiting for the rate limit right now.
    waiting: AtomicUsize,
    rate_limited: AtomicU64,
    progress: Option<ProgressBar>,
    started: Instant,
    /// Run when the run stops (closes the queue of ids).
    on_stop: Mutex<Vec<StopHook>>,
}

type StopHook = Box<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// The input side of a record.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The line number or argument position.
    pub line: u64,
    /// The id as read.
    pub id: &'a str,
}

#[derive(Serialize)]
struct Record<'a> {
    line: u64,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a SignInToken>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorRecord>,
}

#[derive(Serialize)]
struct ErrorRecord {
    kind: &'static str,
    status: Option<u16>,
    codes: Vec<String>,
    trace_id: Option<String>,
    retry_after_seconds: Option<u64>,
    attempts: u32,
    message: String,
}

impl ErrorRecord {
    fn from_error(error: &Error) -> Self {
        let kind = match error.kind() {
            ErrorKind::Api(_) => "api",
            ErrorKind::UnexpectedResponse(_) => "unexpected_response",
            ErrorKind::Decode(_) => "decode",
            ErrorKind::InvalidRequest(_) => "invalid_request",
            ErrorKind::Transport(_) if error.is_timeout() => "timeout",
            ErrorKind::Transport(_) => "transport",
            ErrorKind::Throttled(_) => "throttled",
            _ => "other",
        };
        Self {
            kind,
            status: error.status().map(|s| s.as_u16()),
            codes: error.codes().map(str::to_owned).collect(),
            trace_id: error.trace_id().map(str::to_owned),
            retry_after_seconds: error.retry_after().map(|r| {
                let d = r.delay_from(SystemTime::now());
                d.as_secs() + u64::from(d.subsec_nanos() > 0)
            }),
            attempts: error.attempts(),
            message: error.to_string(),
        }
    }

    fn bad_line(bad: &BadLine) -> Self {
        Self {
            kind: "invalid_input",
            status: None,
            codes: Vec::new(),
            trace_id: None,
            retry_after_seconds: None,
            attempts: 0,
            message: bad.reason.clone(),
        }
    }
}

/// One JSON line, newline included.
fn encode(value: &impl Serialize) -> serde_json::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    Ok(line)
}

/// The record of a call that got a token, newline included: the bytes
/// [`encode`] makes of the same [`Record`] (a test holds the two equal),
/// written field by field.
///
/// This is the line almost every record of a bulk create is, and most of
/// its bytes are the ticket, twice (in `token` and in `url`). serde_json
/// looks at a string one byte at a time for characters to escape, which
/// cost more instructions than the rest of the CLI's work per call
/// together; here a string with nothing to escape (a ticket, a URL, an id)
/// is checked in one pass the compiler vectorizes and copied as it is, and
/// only a string that needs escaping goes through serde_json.
fn encode_token_record(line: u64, id: &str, token: &SignInToken) -> serde_json::Result<Vec<u8>> {
    let secret = |s: &Option<clerk_core::SecretString>| s.as_ref().map_or(0, |s| s.expose().len());
    let mut out = Vec::with_capacity(
        192 + 2 * id.len()
            + token.id.len()
            + token.user_id.len()
            + secret(&token.token)
            + secret(&token.url),
    );
    out.extend_from_slice(b"{\"line\":");
    serde_json::to_writer(&mut out, &line)?;
    out.extend_from_slice(b",\"id\":");
    push_json_str(&mut out, id)?;
    // The fields of `SignInToken`'s own serialization, in its order.
    out.extend_from_slice(b",\"token\":{\"object\":\"sign_in_token\",\"id\":");
    push_json_str(&mut out, &token.id)?;
    out.extend_from_slice(b",\"status\":");
    push_json_str(&mut out, token.status.as_str())?;
    out.extend_from_slice(b",\"user_id\":");
    push_json_str(&mut out, &token.user_id)?;
    if let Some(ticket) = &token.token {
        out.extend_from_slice(b",\"token\":");
        push_json_str(&mut out, ticket.expose())?;
    }
    if let Some(url) = &token.url {
        out.extend_from_slice(b",\"url\":");
        push_json_str(&mut out, url.expose())?;
    }
    out.extend_from_slice(b",\"created_at\":");
    serde_json::to_writer(&mut out, &token.created_at.as_millis())?;
    out.extend_from_slice(b",\"updated_at\":");
    serde_json::to_writer(&mut out, &token.updated_at.as_millis())?;
    out.extend_from_slice(b"}}\n");
    Ok(out)
}

/// `text` as a JSON string, as serde_json writes it.
fn push_json_str(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    // No early exit, so that the loop is vectorized: the strings are short
    // and almost never need escaping.
    let escapes = text.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if escapes {
        serde_json::to_writer(out, text)
    } else {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        Ok(())
    }
}

/// A one-line account of an error, always with the attempts made (the
/// example's wording).
pub fn describe_error(error: &Error) -> String {
    let mut line = error.to_string();
    if error.attempts() <= 1 {
        let _ = write!(
            line,
            " ({} attempt{})",
            error.attempts(),
            if error.attempts() == 1 { "" } else { "s" }
        );
    }
    line
}

impl Sink {
    /// A sink writing to `out`; with a progress bar on stderr when
    /// `total` is known or not (`Some(None)` draws one without a total),
    /// none when `progress` is `None`.
    pub fn new(
        out: Box<dyn Write + Send>,
        format: Format,
        progress: Option<Option<u64>>,
    ) -> Arc<Self> {
        let progress = progress.map(|total| {
            let bar = match total {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = if total.is_some() {
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta} {msg}"
            } else {
                "{spinner} [{elapsed_precise}] {pos} done {per_sec} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let sink = Arc::new(Self {
            state: Mutex::new(State {
                pending: Vec::new(),
                pending_held: 0,
                counts: Counts::default(),
                closed: false,
                writer_idle: false,
            }),
            output: Mutex::new(Output { out, broken: None }),
            queued: Condvar::new(),
            writer: Mutex::new(None),
            format,
            handing: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            interrupted: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            rate_limited: AtomicU64::new(0),
            progress,
            started: Instant::now(),
            on_stop: Mutex::new(Vec::new()),
        });
        let writer = Arc::clone(&sink);
        // Without a writer thread, each call writes what is queued itself.
        if let Ok(handle) = std::thread::Builder::new()
            .name("output".into())
            .spawn(move || writer.write_until_closed())
        {
            *sink.writer.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        }
        sink
    }

    /// The writer thread: writes what is queued until the sink is closed
    /// and the queue empty.
    ///
    /// After a write it looks again a millisecond later rather than being
    /// woken by every line: a wake-up per call cost more than the call's
    /// own work at tens of thousands of calls a second. A line therefore
    /// waits at most about a millisecond, never for a later line.
    fn write_until_closed(&self) {
        loop {
            {
                let mut state = self.lock();
                while state.pending_held == 0 && !state.closed {
                    state.writer_idle = true;
                    state = self
                        .queued
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                state.writer_idle = false;
                if state.pending_held == 0 && state.closed {
                    return;
                }
            }
            {
                let mut output = self.lock_output();
                self.write_pending(&mut output);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// No more lines: waits for the writer to write the last ones.
    fn close(&self) {
        self.lock().closed = true;
        self.queued.notify_all();
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let mut output = self.lock_output();
        self.write_pending(&mut output);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_output(&self) -> MutexGuard<'_, Output> {
        self.output.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether to start no more calls.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Start no more calls (without counting the run as interrupted).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for hook in self
            .on_stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            hook();
        }
    }

    /// Runs `hook` when the run stops (at once if it already has).
    pub fn on_stop(&self, hook: StopHook) {
        let mut hooks = self.on_stop.lock().unwrap_or_else(PoisonError::into_inner);
        if self.stopped() {
            hook();
        }
        hooks.push(hook);
    }

    /// The first Ctrl-C: start nothing more; calls in flight finish.
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.stop();
        if let Some(bar) = &self.progress {
            bar.set_message("interrupted: finishing the calls in flight (Ctrl-C again to quit)");
        }
    }

    /// Whether the run was interrupted.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Marks a result as held: call this the moment a call returns, before
    /// anything else, and [`record`](Self::record) it next. The second
    /// Ctrl-C waits for held results to be written.
    pub fn hold(&self) -> Held<'_> {
        self.handing.fetch_add(1, Ordering::SeqCst);
        Held { sink: self }
    }

    /// A call is waiting for the rate limit (pacing) until the guard drops.
    pub fn waiting(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.refresh_message();
        Waiting { sink: self }
    }

    /// An id `--resume` skips.
    pub fn skipped(&self) {
        self.lock().counts.skipped += 1;
        self.tick();
    }

    /// An id read but not sent because the run stopped.
    pub fn not_started(&self) {
        self.lock().counts.not_started += 1;
    }

    /// A line that is not an id: a failed record, no call.
    pub fn bad_line(&self, line: u64, bad: &BadLine) {
        let held = self.hold();
        let record = Record {
            line,
            id: &bad.text,
            token: None,
            error: Some(ErrorRecord::bad_line(bad)),
        };
        match self.format {
            Format::Records => self.commit(held, encode(&record), |c| c.failed += 1),
            Format::Single => {
                // Escaped: the operator's input may hold terminal escapes.
                eprintln!(
                    "clerk-sign-in-tokens: {} (argument {line}): `{}`",
                    bad.reason,
                    bad.text.escape_debug()
                );
                self.commit(held, Ok(Vec::new()), |c| c.failed += 1);
            }
        }
        self.tick();
    }

    /// Writes the record of one call and flushes it.
    pub fn record(&self, held: Held<'_>, input: Input<'_>, result: &Result<SignInToken, Error>) {
        let line = match (self.format, result) {
            (Format::Records, Ok(token)) => encode_token_record(input.line, input.id, token),
            (Format::Records, Err(e)) => encode(&Record {
                line: input.line,
                id: input.id,
                token: None,
                error: Some(ErrorRecord::from_error(e)),
            }),
            (Format::Single, Ok(token)) => encode(token),
            (Format::Single, Err(e)) => {
                eprintln!("clerk-sign-in-tokens: {}", describe_error(e));
                Ok(Vec::new())
            }
        };
        if let Err(e) = result
            && (e.is_rate_limited() || matches!(e.kind(), ErrorKind::Throttled(_)))
        {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        let ok = result.is_ok();
        self.commit(held, line, |c| {
            if ok {
                c.succeeded += 1;
            } else {
                c.failed += 1;
            }
        });
        self.tick();
    }

    /// Queues a held result's line (with its count), then writes and
    /// flushes everything queued, unless another call's write already took
    /// it.
    fn commit(
        &self,
        held: Held<'_>,
        line: serde_json::Result<Vec<u8>>,
        count: impl FnOnce(&mut Counts),
    ) {
        // From here the held count is released by whoever writes the line.
        std::mem::forget(held);
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                // Not reachable with these types; never silent if it were.
                self.lock_output().broken.get_or_insert(io::Error::other(e));
                self.stop();
                Vec::new()
            }
        };
        let (has_writer, wake) = {
            let mut state = self.lock();
            count(&mut state.counts);
            state.pending.extend_from_slice(&line);
            state.pending_held += 1;
            let has_writer = !state.closed
                && self
                    .writer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_some();
            (has_writer, std::mem::take(&mut state.writer_idle))
        };
        if has_writer {
            if wake {
                self.queued.notify_one();
            }
        } else {
            let mut output = self.lock_output();
            self.write_pending(&mut output);
        }
    }

    /// Writes and flushes what is queued; the caller holds the output lock
    /// (taken before the queue, so that what the abort path finds queued
    /// is all that is unwritten).
    fn write_pending(&self, output: &mut Output) {
        let (lines, held) = {
            let mut state = self.lock();
            (
                std::mem::take(&mut state.pending),
                std::mem::take(&mut state.pending_held),
            )
        };
        if !lines.is_empty()
            && output.broken.is_none()
            && let Err(e) = output
                .out
                .write_all(&lines)
                .and_then(|()| output.out.flush())
        {
            output.broken = Some(e);
            self.stop();
        }
        self.handing.fetch_sub(held, Ordering::SeqCst);
    }

    fn tick(&self) {
        if let Some(bar) = &self.progress {
            bar.inc(1);
            self.refresh_message();
        }
    }

    fn refresh_message(&self) {
        let Some(bar) = &self.progress else { return };
        if self.interrupted() {
            return;
        }
        let counts = self.lock().counts;
        let mut message = format!("ok {}, failed {}", counts.succeeded, counts.failed);
        if counts.skipped > 0 {
            let _ = write!(message, ", skipped {}", counts.skipped);
        }
        if self.waiting.load(Ordering::SeqCst) > 0 {
            message.push_str(", waiting for the rate limit");
        }
        let limited = self.rate_limited.load(Ordering::Relaxed);
        if limited > 0 {
            let _ = write!(message, ", {limited} rate-limited");
        }
        bar.set_message(message);
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.lock().counts
    }

    /// The summary line (without the program name).
    pub fn summary(&self) -> String {
        let counts = self.counts();
        let elapsed = self.started.elapsed();
        let calls = counts.succeeded + counts.failed;
        let mut line = format!("{} succeeded, {} failed", counts.succeeded, counts.failed);
        if counts.skipped > 0 {
            let _ = write!(line, ", {} skipped (already minted)", counts.skipped);
        }
        if counts.not_started > 0 || self.interrupted() {
            let _ = write!(line, ", {} not started", counts.not_started);
        }
        let _ = write!(
            line,
            " in {:.1} s ({:.0}/s)",
            elapsed.as_secs_f64(),
            calls as f64 / elapsed.as_secs_f64().max(1e-9)
        );
        if self.interrupted() {
            line.insert_str(0, "interrupted: ");
        }
        line
    }

    /// Ends the progress bar, prints the summary (in record form), and
    /// says what went wrong with stdout if anything did. The exit code:
    /// 130 interrupted, 1 a failure or stdout broken, 0 otherwise.
    pub fn finish(&self, read_error: Option<&io::Error>) -> u8 {
        self.close();
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        let broken = self.lock_output().broken.as_ref().map(|e| e.to_string());
        let failed = self.counts().failed;
        if let Some(e) = &broken {
            eprintln!("clerk-sign-in-tokens: could not write to stdout: {e}");
        }
        if let Some(e) = read_error {
            eprintln!("clerk-sign-in-tokens: reading the input stopped: {e}");
        }
        if self.format == Format::Records {
            eprintln!("clerk-sign-in-tokens: {}", self.summary());
        }
        if self.interrupted() {
            130
        } else if failed > 0 || broken.is_some() || read_error.is_some() {
            1
        } else {
            0
        }
    }

    /// The second Ctrl-C: waits (up to two seconds) for the results calls
    /// already hold to be written, takes the output lock so nothing more
    /// is written, flushes, prints the summary and exits with 130.
    pub fn abort(&self) -> ! {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.handing.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut output = self.lock_output();
        self.write_pending(&mut output);
        let _ = output.out.flush();
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        let counts = self.counts();
        if self.format == Format::Records {
            eprintln!(
                "clerk-sign-in-tokens: interrupted twice: {} succeeded, {} failed; calls still in flight were abandoned",
                counts.succeeded, counts.failed
            );
        }
        std::process::exit(130)
    }
}

/// A result a call holds; see [`Sink::hold`]. Recording it releases it
/// once its line is written; dropping it unrecorded releases it at once.
#[derive(Debug)]
pub struct Held<'a> {
    sink: &'a Sink,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.sink.handing.fetch_sub(1, Ordering::SeqCst);
    }
}

/// See [`Sink::waiting`].
#[derive(Debug)]
pub struct Waiting<'a> {
    sink: &'a Sink,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.sink.waiting.fetch_sub(1, Ordering::SeqCst);
        self.sink.refresh_message();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// An output the test can read while the sink writes to it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(out: &Shared) -> Vec<serde_json::Value> {
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("whole JSON lines"))
            .collect()
    }

    fn bad(text: &str) -> BadLine {
        BadLine {
            text: text.into(),
            reason: "test".into(),
        }
    }

    fn token_from(json: &serde_json::Value) -> Option<SignInToken> {
        serde_json::from_value(json.clone()).ok()
    }

    /// What serde_json writes for the same record.
    fn serde_line(line: u64, id: &str, token: &SignInToken) -> Vec<u8> {
        encode(&Record {
            line,
            id,
            token: Some(token),
            error: None,
        })
        .unwrap()
    }

    #[test]
    fn a_token_record_is_what_serde_json_writes() {
        let ticket = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.sig-_x";
        let token = token_from(&serde_json::json!({
            "object": "sign_in_token", "id": "sit_1", "status": "pending",
            "user_id": "user_1", "token": ticket,
            "url": format!("https://x.accounts.dev/v1/tickets/accept?ticket={ticket}"),
            "created_at": 1_700_000_000_000_i64, "updated_at": 1_700_000_000_001_i64
        }))
        .unwrap();
        let fast = encode_token_record(7, "user_1", &token).unwrap();
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            String::from_utf8(serde_line(7, "user_1", &token)).unwrap()
        );
        // Without a ticket or URL (a revoke's reply), and with characters
        // to escape in every string.
        let token = token_from(&serde_json::json!({
            "object": "sign_in_token", "id": "sit_\"q\"", "status": "new\u{1}",
            "user_id": "a\\b\nc\u{7f}é", "created_at": -1, "updated_at": i64::MAX
        }))
        .unwrap();
        let id = "tab\there";
        assert_eq!(
            encode_token_record(u64::MAX, id, &token).unwrap(),
            serde_line(u64::MAX, id, &token)
        );
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9._~:/?=&%+-]{0,300}",
            any::<String>(),
            // One character of any kind among characters that need no
            // escaping: each one that does is found on its own.
            (
                "[a-z0-9]{0,20}",
                prop_oneof![(0u8..0x80).prop_map(char::from), any::<char>()],
                "[a-z0-9]{0,20}"
            )
                .prop_map(|(a, c, b)| format!("{a}{c}{b}")),
        ]
    }

    proptest! {
        /// Byte for byte what serde_json makes of the same record, for any
        /// strings (escapes, control characters, any Unicode), status
        /// (known or not), missing ticket or URL, and any numbers.
        #[test]
        fn every_token_record_is_what_serde_json_writes(
            line in any::<u64>(),
            id in text(),
            token_id in text(),
            status in prop_oneof![Just("pending".to_owned()), Just("revoked".to_owned()), text()],
            user_id in text(),
            ticket in proptest::option::of(text()),
            url in proptest::option::of(text()),
            created_at in any::<i64>(),
            updated_at in any::<i64>(),
        ) {
            let token = token_from(&serde_json::json!({
                "object": "sign_in_token", "id": token_id, "status": status,
                "user_id": user_id, "token": ticket, "url": url,
                "created_at": created_at, "updated_at": updated_at
            }));
            prop_assume!(token.is_some());
            let token = token.unwrap();
            let fast = encode_token_record(line, &id, &token).unwrap();
            prop_assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(serde_line(line, &id, &token)).unwrap()
            );
        }
    }

    #[test]
    fn every_line_from_every_thread_is_written_whole() {
        let out = Shared::default();
        let sink = Sink::new(Box::new(out.clone()), Format::Records, None);
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let sink = &sink;
                s.spawn(move || {
                    for i in 0..500u64 {
                        sink.bad_line(t * 1000 + i, &bad(&format!("id-{t}-{i}")));
                    }
                });
            }
        });
        assert_eq!(sink.finish(None), 1);
        let written = lines(&out);
        assert_eq!(written.len(), 4000);
        let mut ids: Vec<u64> = written
            .iter()
            .map(|r| r["line"].as_u64().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 4000, "each record once");
        assert_eq!(sink.counts().failed, 4000);
        assert_eq!(sink.handing.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_line_is_written_without_waiting_for_another() {
        let out = Shared::default();
        let sink = Sink::new(Box::new(out.clone()), Format::Records, None);
        for n in 1..=3 {
            sink.bad_line(n, &bad("x"));
            let start = Instant::now();
            while lines(&out).len() < n as usize {
                assert!(
                    start.elapsed() < Duration::from_secs(2),
                    "line {n} is still unwritten"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(sink.handing.load(Ordering::SeqCst), 0);
        }
        sink.finish(None);
    }
}
