//! What every Clerk operation provides, so adapters can send any of them.

use http::{Request, Response};

use crate::config::Config;
use crate::error::Error;

/// Whether sending an operation twice can do harm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// Repeating it leaves the server as one request would (revoke: the
    /// second try finds the token already revoked). Retried after failures
    /// where the first request may have reached the server.
    Idempotent,
    /// Repeating it may act twice (create: a second live credential nobody
    /// knows about). Retried only when the first request surely did not take
    /// effect, unless the policy opts in.
    NonIdempotent,
}

/// A Clerk Backend API operation: how to build its request and read its reply.
///
/// Implementations are pure: `build_request` and `parse_response` do no I/O
/// and are deterministic. Adapters send any `Operation` through
/// [`Call`](crate::Call), so an operation added here works in every adapter
/// unchanged.
pub trait Operation {
    /// What a successful call returns.
    type Output;

    /// A short name for logs and traces, such as `create_sign_in_token`.
    const NAME: &'static str;

    /// Builds the HTTP request: URL, method, headers and body.
    ///
    /// # Errors
    /// An [invalid-request](crate::ErrorKind::InvalidRequest) error when an
    /// argument cannot be sent.
    fn build_request(&self, config: &Config) -> Result<Request<Vec<u8>>, Error>;

    /// Reads a reply: the value on success, the typed error otherwise.
    ///
    /// # Errors
    /// Whatever the reply says went wrong; see [`crate::response`].
    fn parse_response<B: AsRef<[u8]>>(&self, response: &Response<B>)
    -> Result<Self::Output, Error>;

    /// Whether the operation may be repeated safely.
    fn idempotency(&self) -> Idempotency;
}
