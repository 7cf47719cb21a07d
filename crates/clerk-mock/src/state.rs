//! The server's data: users, organizations, tokens, the fault queue, the request log and the
//! rate limiter.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;

use crate::limit::Limiter;
use crate::users::Users;
use crate::{Fault, RecordedRequest};

/// The lifecycle of a sign-in token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenStatus {
    Pending,
    Accepted,
    Revoked,
}

impl TokenStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Pending => "pending",
            TokenStatus::Accepted => "accepted",
            TokenStatus::Revoked => "revoked",
        }
    }
}

/// A sign-in token as the server keeps it.
#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) org_id: Option<String>,
    pub(crate) status: TokenStatus,
    pub(crate) token: String,
    pub(crate) url: String,
    pub(crate) created_at: u64,
    pub(crate) updated_at: u64,
    pub(crate) expires_at: u64,
}

impl TokenRecord {
    /// Moves `updated_at` to `now`, and at least one millisecond past its old value so that a
    /// change is always visible.
    pub(crate) fn touch(&mut self, now: u64) {
        self.updated_at = now.max(self.updated_at.saturating_add(1));
    }

    pub(crate) fn info(&self) -> TokenInfo {
        TokenInfo {
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            org_id: self.org_id.clone(),
            status: self.status.as_str().to_owned(),
            token: self.token.clone(),
            url: self.url.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
        }
    }
}

/// A snapshot of a sign-in token the server issued, for assertions in tests.
///
/// `Debug` redacts `token` and `url`, which are credentials.
///
/// # Examples
///
/// ```
/// use clerk_mock::MockServer;
///
/// let server = MockServer::start();
/// assert!(server.tokens().is_empty());
/// assert!(server.token("sit_unknown").is_none());
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The token's id, `sit_…`.
    pub id: String,
    /// The user it signs in.
    pub user_id: String,
    /// The organization to activate, if one was given.
    pub org_id: Option<String>,
    /// `pending`, `accepted` or `revoked`.
    pub status: String,
    /// The ticket itself (a JWT-looking string).
    pub token: String,
    /// The URL that embeds the ticket.
    pub url: String,
    /// Creation time, Unix milliseconds.
    pub created_at: u64,
    /// Time of the last change, Unix milliseconds.
    pub updated_at: u64,
    /// `created_at` plus the requested lifetime, Unix milliseconds.
    pub expires_at: u64,
}

impl fmt::Debug for TokenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenInfo")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("org_id", &self.org_id)
            .field("status", &self.status)
            .field("token", &"<redacted>")
            .field("url", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Everything the server knows, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) users: Users,
    pub(crate) orgs: HashMap<String, HashSet<String>>,
    tokens: Vec<TokenRecord>,
    token_index: HashMap<String, usize>,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) requests: Vec<RecordedRequest>,
    /// The rate limit of the server's secret key, if one was asked for.
    pub(crate) limiter: Option<Limiter>,
    /// How many requests the limiter has refused.
    pub(crate) rate_limited: usize,
}

impl State {
    pub(crate) fn insert_token(&mut self, record: TokenRecord) {
        self.token_index
            .insert(record.id.clone(), self.tokens.len());
        self.tokens.push(record);
    }

    pub(crate) fn token(&self, id: &str) -> Option<&TokenRecord> {
        self.token_index.get(id).and_then(|&i| self.tokens.get(i))
    }

    pub(crate) fn token_mut(&mut self, id: &str) -> Option<&mut TokenRecord> {
        match self.token_index.get(id) {
            Some(&i) => self.tokens.get_mut(i),
            None => None,
        }
    }

    pub(crate) fn tokens(&self) -> &[TokenRecord] {
        &self.tokens
    }

    /// Whether `user_id` is a member of `org_id` (false if the organization is unknown).
    pub(crate) fn is_member(&self, org_id: &str, user_id: &str) -> bool {
        self.orgs
            .get(org_id)
            .is_some_and(|members| members.contains(user_id))
    }
}
