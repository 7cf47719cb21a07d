//! Records on the output; the progress bar and the summary on stderr.
//!
//! Every result goes through one [`Sink`]. A call that minted a token
//! holds its id first; serde_json encodes the record, which is written and
//! flushed under a plain `Mutex` (the run is bounded by Clerk's rate
//! limit, not by this lock); only a flushed record releases the id. A
//! failed write stops the run and tells the caller, which revokes the
//! token. The second Ctrl-C names every id still held and exits, never
//! touching the output lock, whatever stdout is doing.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use clerk_core::{Error, ErrorKind, SignInToken};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    succeeded: u64,
    /// Revokes that found the token already not pending.
    settled: u64,
    accepted: u64,
    failed: u64,
    skipped: u64,
    not_started: u64,
    /// Tokens minted whose record could not be written.
    undelivered: u64,
}

/// The record of one input line. The ids come before the ticket and its
/// URL, so a record cut short still names its token.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Record<'a> {
    pub(crate) line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<&'a SignInToken>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) settled: Option<Settled>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<ErrorRecord>,
}

impl<'a> Record<'a> {
    pub(crate) fn at(line: u64, email: Option<&'a str>, id: Option<&'a str>) -> Self {
        Self {
            line,
            email,
            id,
            ..Self::default()
        }
    }
}

/// What a revoke found when the token was already not pending: `state`
/// is `already_revoked`, `accepted` (the user signed in with it),
/// `not_pending` (with Clerk's message, which did not name the status) or
/// `not_found`; `same_user` marks an address whose user another line mints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Settled {
    pub(crate) state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
}

/// Clerk's code for a revoke of a token that is not pending.
const CANNOT_REVOKE: &str = "sign_in_token_cannot_be_revoked_code";

impl Settled {
    /// What a revoke's failure says about a token already not pending;
    /// `None` for a real failure. Not found settles only an id from an
    /// earlier run's records, not one typed `by_hand`.
    pub(crate) fn from_revoke_error(error: &Error, by_hand: bool) -> Option<Self> {
        let settled = |state, message| Some(Self { state, message });
        if error.is_not_found() {
            return settled("not_found", None).filter(|_| !by_hand);
        }
        let clerk = error
            .clerk_errors()
            .iter()
            .find(|e| e.code == CANNOT_REVOKE)?;
        if !error.is_from_clerk() {
            return None;
        }
        let message = Some(&clerk.long_message)
            .filter(|m| !m.is_empty())
            .unwrap_or(&clerk.message);
        let lower = message.to_ascii_lowercase();
        let status = lower
            .split_once("status is ")
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_alphabetic()).next());
        match status {
            Some("revoked") => settled("already_revoked", None),
            Some("accepted") => settled("accepted", None),
            _ => settled("not_pending", Some(message.clone())),
        }
    }
}

/// A failure, as a record holds it.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ErrorRecord {
    kind: &'static str,
    status: Option<u16>,
    codes: Vec<String>,
    trace_id: Option<String>,
    retry_after_seconds: Option<u64>,
    attempts: u32,
    message: String,
}

impl ErrorRecord {
    pub(crate) fn from_error(error: &Error) -> Self {
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

    /// A failure with no call made (`invalid_input`, …) or none known.
    pub(crate) fn local(kind: &'static str, message: String) -> Self {
        Self {
            kind,
            message,
            ..Self::default()
        }
    }
}

type StopHook = Box<dyn Fn() + Send + Sync>;

pub(crate) struct Sink {
    /// The output, and the error that broke it.
    output: Mutex<(Box<dyn Write + Send>, Option<io::Error>)>,
    counts: Mutex<Counts>,
    /// Tokens minted whose records are not written yet.
    held: Mutex<Vec<String>>,
    /// The example's form for one call: the token as one JSON object on
    /// stdout, anything else one line on stderr; no summary.
    single: bool,
    stop: AtomicBool,
    interrupted: AtomicBool,
    /// Hidden unless stderr is a terminal and there is more than one call.
    progress: ProgressBar,
    started: Instant,
    on_stop: Mutex<Vec<StopHook>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sink {
    /// A sink writing to `out`; with a progress bar on stderr when
    /// `progress` is `Some`, with a total when it is known.
    pub(crate) fn new(
        out: Box<dyn Write + Send>,
        single: bool,
        progress: Option<Option<u64>>,
    ) -> Arc<Self> {
        let progress = progress.map_or_else(ProgressBar::hidden, |total| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = match total {
                Some(_) => {
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta} {msg}"
                }
                None => "{spinner} [{elapsed_precise}] {pos} done {per_sec} {msg}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Arc::new(Self {
            output: Mutex::new((out, None)),
            counts: Mutex::default(),
            held: Mutex::default(),
            single,
            stop: AtomicBool::new(false),
            interrupted: AtomicBool::new(false),
            progress,
            started: Instant::now(),
            on_stop: Mutex::default(),
        })
    }

    /// Ends a line an earlier run left without its newline, so that this
    /// run's first record starts a line of its own.
    pub(crate) fn end_torn_line(&self) {
        self.write_line(b"\n");
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        lock(&self.on_stop).iter().for_each(|hook| hook());
    }

    /// Runs `hook` when the run stops (at once if it already has).
    pub(crate) fn on_stop(&self, hook: StopHook) {
        let mut hooks = lock(&self.on_stop);
        if self.stopped() {
            hook();
        }
        hooks.push(hook);
    }

    /// The first Ctrl-C: start nothing more; calls in flight finish.
    pub(crate) fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.stop();
        self.progress
            .set_message("interrupted: finishing the calls in flight (Ctrl-C again to quit)");
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    pub(crate) fn skipped(&self) {
        lock(&self.counts).skipped += 1;
        self.tick();
    }

    pub(crate) fn not_started(&self) {
        lock(&self.counts).not_started += 1;
    }

    /// A call waits for the rate limit: the bar says so until the next one.
    pub(crate) fn waiting(&self) {
        self.show(", waiting for the rate limit");
    }

    pub(crate) fn fail(&self, mut record: Record<'_>, error: ErrorRecord) {
        record.error = Some(error);
        self.deliver(&record, false);
    }

    /// Writes and flushes one record and counts it by what it holds;
    /// `false` when it could not be written (the run then stops). The
    /// token of a record `minted` is held until then (the second Ctrl-C
    /// names it); the caller owns what became of it.
    pub(crate) fn deliver(&self, record: &Record<'_>, minted: bool) -> bool {
        let held = record.token.filter(|_| minted).map(|token| &token.id);
        if let Some(id) = held {
            lock(&self.held).push(id.clone());
        }
        let written = match (self.single, record.token) {
            (true, Some(token)) => self.write_json(token),
            (true, None) => print_single(record),
            (false, _) => self.write_json(record),
        };
        if let Some(id) = held {
            lock(&self.held).retain(|h| h != id);
        }
        if written {
            let mut c = lock(&self.counts);
            match (&record.token, &record.settled) {
                (Some(_), _) => c.succeeded += 1,
                (None, Some(s)) if s.state == "same_user" => c.skipped += 1,
                (None, Some(s)) => {
                    c.settled += 1;
                    c.accepted += u64::from(s.state == "accepted");
                }
                (None, None) => c.failed += 1,
            }
        }
        self.tick();
        written
    }

    /// A token whose record could not be written, named on stderr with
    /// what became of it.
    pub(crate) fn undelivered(&self, line: u64, token_id: &str, revoke: Result<(), &Error>) {
        lock(&self.counts).undelivered += 1;
        let fate = match revoke {
            Ok(()) => "revoked it".to_owned(),
            Err(e) => format!(
                "revoking it failed too ({e}): it stays pending until it expires; revoke it with `clerk-sign-in-tokens revoke {token_id}`"
            ),
        };
        eprintln!(
            "clerk-sign-in-tokens: input line {line}: token {token_id} was minted but its record could not be written: {fate}"
        );
    }

    fn write_json(&self, value: &impl Serialize) -> bool {
        let mut line = serde_json::to_vec(value).unwrap_or_default();
        line.push(b'\n');
        line.len() > 1 && self.write_line(&line)
    }

    fn write_line(&self, line: &[u8]) -> bool {
        let mut output = lock(&self.output);
        if output.1.is_some() {
            return false;
        }
        if let Err(e) = output.0.write_all(line).and_then(|()| output.0.flush()) {
            output.1 = Some(e);
            drop(output);
            self.stop();
            return false;
        }
        true
    }

    fn tick(&self) {
        self.progress.inc(1);
        self.show("");
    }

    fn show(&self, waiting: &str) {
        if !self.interrupted() {
            let counts = self.counts_text();
            self.progress.set_message(format!("{counts}{waiting}"));
        }
    }

    /// The counts, as the bar and the summary show them.
    fn counts_text(&self) -> String {
        let c = *lock(&self.counts);
        let mut line = format!("{} succeeded, {} failed", c.succeeded, c.failed);
        let accepted = format!("({} accepted: signed in with)", c.accepted);
        for (n, text) in [
            (c.settled, format!("already not pending {accepted}")),
            (c.undelivered, "minted but not written (named above)".into()),
            (c.skipped, "skipped (already done)".into()),
        ] {
            if n > 0 {
                let _ = write!(line, ", {n} {text}");
            }
        }
        if c.not_started > 0 || self.interrupted() {
            let _ = write!(line, ", {} not started", c.not_started);
        }
        line
    }

    fn summary(&self) -> String {
        let c = *lock(&self.counts);
        let elapsed = self.started.elapsed().as_secs_f64();
        let calls = c.succeeded + c.settled + c.failed + c.undelivered;
        let rate = calls as f64 / elapsed.max(1e-9);
        let interrupted = if self.interrupted() {
            "interrupted: "
        } else {
            ""
        };
        format!(
            "{interrupted}{} in {elapsed:.1} s ({rate:.0}/s)",
            self.counts_text()
        )
    }

    /// Names the tokens minted and never written; whether there were any.
    fn name_held(&self, advice: &str) -> bool {
        let held = lock(&self.held).join(" ");
        if !held.is_empty() {
            eprintln!(
                "clerk-sign-in-tokens: minted, never written: {held} ({advice}revoke them with `clerk-sign-in-tokens revoke ID…`)"
            );
        }
        !held.is_empty()
    }

    /// Says what went wrong and the summary; the exit code: 130
    /// interrupted; 1 a failure, a token not written, the output or the
    /// input broken; 0 otherwise.
    pub(crate) fn finish(&self, read_error: Option<&io::Error>) -> u8 {
        self.progress.finish_and_clear();
        let broken = lock(&self.output).1.as_ref().map(ToString::to_string);
        if let Some(e) = &broken {
            eprintln!(
                "clerk-sign-in-tokens: could not write the output: {e}; no call was started after that"
            );
        }
        if let Some(e) = read_error {
            eprintln!("clerk-sign-in-tokens: reading the input stopped: {e}");
        }
        let held = self.name_held("");
        if !self.single {
            eprintln!("clerk-sign-in-tokens: {}", self.summary());
        }
        let c = *lock(&self.counts);
        if self.interrupted() {
            130
        } else {
            let failed = c.failed + c.undelivered > 0;
            u8::from(failed || broken.is_some() || read_error.is_some() || held)
        }
    }

    /// The second Ctrl-C: names the tokens minted and not yet written and
    /// exits with 130 at once, never touching the output.
    pub(crate) fn abort(&self) -> ! {
        self.progress.finish_and_clear();
        eprintln!(
            "clerk-sign-in-tokens: interrupted twice: {}; calls still in flight were abandoned",
            self.summary()
        );
        self.name_held("they stay pending until they expire: ");
        std::process::exit(130)
    }
}

/// A result without a token in the example's form: one line on stderr.
fn print_single(record: &Record<'_>) -> bool {
    let line = match (&record.settled, &record.error) {
        (Some(settled), _) => {
            let state = settled.state.replace('_', " ");
            let message = settled.message.as_deref().unwrap_or_default();
            let id = record.id.unwrap_or_default();
            format!("{id} {state} {}", message.escape_debug())
        }
        (_, Some(e)) if e.kind == "invalid_input" => {
            format!("argument {}: {}", record.line, e.message)
        }
        (_, Some(e)) if e.kind == "not_found" || e.kind == "ambiguous" || e.attempts > 1 => {
            e.message.clone()
        }
        (_, Some(e)) => {
            let plural = if e.attempts == 1 { "" } else { "s" };
            format!("{} ({} attempt{plural})", e.message, e.attempts)
        }
        (None, None) => return true,
    };
    eprintln!("clerk-sign-in-tokens: {}", line.trim_end());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use clerk_core::{Operation as _, RevokeSignInToken, http};

    fn revoke_error(status: u16, body: &str) -> Error {
        let response = http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("x-clerk-trace-id", "trace_1")
            .body(body.as_bytes().to_vec())
            .unwrap();
        RevokeSignInToken::new("sit_1")
            .parse_response(&response)
            .expect_err("an error")
    }

    fn cannot_revoke(long_message: &str) -> Error {
        revoke_error(
            400,
            &serde_json::json!({"errors": [{"code": CANNOT_REVOKE, "message": "cannot revoke",
                "long_message": long_message}]})
            .to_string(),
        )
    }

    #[test]
    fn a_revoke_of_a_token_not_pending_is_settled_by_what_clerk_names() {
        let state = |e: &Error, by_hand| Settled::from_revoke_error(e, by_hand).map(|s| s.state);
        let revoked = cannot_revoke(
            "Sign in token cannot be revoked because its status is revoked; only pending tokens can be revoked.",
        );
        assert_eq!(state(&revoked, true), Some("already_revoked"));
        let accepted =
            cannot_revoke("Sign in token cannot be revoked because its status is accepted.");
        assert_eq!(state(&accepted, false), Some("accepted"));
        let unnamed = cannot_revoke("This sign in token cannot be revoked.");
        let settled = Settled::from_revoke_error(&unnamed, false).unwrap();
        assert_eq!(settled.state, "not_pending");
        assert_eq!(
            settled.message.as_deref(),
            Some("This sign in token cannot be revoked.")
        );
        let not_found = revoke_error(
            404,
            r#"{"errors":[{"code":"resource_not_found","message":"not found"}]}"#,
        );
        assert_eq!(state(&not_found, false), Some("not_found"));
        assert_eq!(
            state(&not_found, true),
            None,
            "a typed id not found is a failure"
        );
        let other = revoke_error(
            400,
            r#"{"errors":[{"code":"form_param_missing","message":"missing"}]}"#,
        );
        assert_eq!(state(&other, false), None);
        // A 404 that is not Clerk's (a proxy's HTML page) settles nothing.
        let proxy = http::Response::builder()
            .status(404)
            .body(b"<html>not here</html>".to_vec())
            .unwrap();
        let proxy = RevokeSignInToken::new("sit_1")
            .parse_response(&proxy)
            .unwrap_err();
        assert_eq!(state(&proxy, false), None);
    }
}
