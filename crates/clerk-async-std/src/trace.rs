//! The `tracing` feature: one event per attempt, inside the `clerk.call`
//! span. Only numbers, statuses, trace ids and error messages (which the core
//! keeps free of credentials and URLs) are recorded.

use clerk_core::{Call, Operation, Outcome, Step};

/// The status of a reply, if one came.
pub(crate) fn status<B>(outcome: &Outcome<B>) -> Option<u16> {
    match outcome {
        Outcome::Response(response) => Some(response.status().as_u16()),
        Outcome::Transport(_) => None,
    }
}

/// Records what an attempt led to.
pub(crate) fn attempt<O: Operation>(call: &Call<O>, status: Option<u16>, step: &Step<O::Output>) {
    let attempt = call.attempts();
    match step {
        Step::Retry(wait) => {
            let error = call.last_error();
            tracing::info!(
                attempt,
                status,
                trace_id = error.and_then(|e| e.trace_id()),
                error = error.map(tracing::field::display),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "attempt failed; retrying"
            );
        }
        Step::Done(Ok(_)) => tracing::debug!(attempt, status, "call succeeded"),
        Step::Done(Err(error)) => tracing::info!(
            attempt,
            status,
            trace_id = error.trace_id(),
            error = %error,
            "call failed"
        ),
    }
}
