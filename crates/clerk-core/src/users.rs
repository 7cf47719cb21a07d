//! Finding users by email address (or external id): the step before minting
//! a sign-in token for someone known by their address.
//!
//! - [`ListUsers`] is `GET /users` filtered by up to 100 email addresses or
//!   external ids; its reply is a list of [`User`]s.
//! - [`match_email_addresses`] says, for each address, which user it
//!   belongs to: [`EmailMatch::Found`], [`NotFound`](EmailMatch::NotFound)
//!   or [`Ambiguous`](EmailMatch::Ambiguous), comparing case-insensitively.
//! - [`email_lookup_batches`] splits any number of addresses into requests
//!   that each fit Clerk's limits, and [`EmailLookup`] drives a whole lookup
//!   (batches, further pages, matching), so every adapter's convenience is a
//!   few lines around its `send`.
//!
//! Email addresses are personal data. Nothing in this module puts one in an
//! error message or a `Debug` of a request: [`ListUsers`] prints how many
//! values it holds, not the values, a [`Call`](crate::Call)'s `Debug` shows
//! the path without the query, and a refusal names the argument, never its
//! value. The request's URL holds them, as it must: no tracing event of the
//! SDK's own includes it (ureq's own TRACE records print whole request
//! lines, which is why `SECURITY.md` has ureq's targets kept at INFO).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;

use http::{Method, Request, Response};
use percent_encoding::utf8_percent_encode;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, ErrorKind, TransportErrorKind};
use crate::model::{ObjectName, ObjectTag};
use crate::operation::{Idempotency, Operation};
use crate::response::parse_json_response_naming;
use crate::sign_in_tokens::{Body, SEGMENT, build};

/// The most values (email addresses or external ids) Clerk accepts in one
/// `GET /users`.
pub const MAX_LOOKUP_VALUES: usize = 100;

/// The largest page Clerk serves: `limit` is at most 500.
pub const MAX_LIST_LIMIT: u16 = 500;

/// The longest query string, in bytes once percent-encoded, that a
/// [`ListUsers`] sends. Servers and proxies commonly refuse a request line
/// over 8 KiB (and `http::Uri` one over 64 KiB); 6 KiB leaves room for the
/// base URL and the path. A batch from [`email_lookup_batches`] always fits.
pub const MAX_LOOKUP_QUERY_BYTES: usize = 6 * 1024;

/// Bytes of the query kept for `&limit=…&offset=…` (27 at most).
const PAGING_BYTES: usize = 32;

/// What a [`ListUsers`] filters on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UserFilter {
    /// `email_address`: users with any of these email addresses.
    EmailAddress,
    /// `external_id`: users with any of these external ids.
    ExternalId,
}

impl UserFilter {
    /// The query parameter, as Clerk names it.
    pub const fn param(self) -> &'static str {
        match self {
            Self::EmailAddress => "email_address",
            Self::ExternalId => "external_id",
        }
    }
}

/// Lists the users with given email addresses or external ids:
/// `GET /users?email_address=…&email_address=…&limit=500`.
///
/// Up to [`MAX_LOOKUP_VALUES`] values, each percent-encoded whole (a `+`
/// is sent as `%2B`, never read as a space), in the order given. The
/// request always carries an explicit `limit`, by default
/// [`MAX_LIST_LIMIT`]: Clerk's default page of 10 would silently drop
/// matches of a larger batch. Values that match no user are ignored by
/// Clerk; the reply is the users that match, newest first.
///
/// Refused before sending, as an
/// [invalid-request](crate::ErrorKind::InvalidRequest) error naming the
/// parameter: no value, more than [`MAX_LOOKUP_VALUES`], an empty value,
/// values whose query exceeds [`MAX_LOOKUP_QUERY_BYTES`], a `limit`
/// outside 1–500.
///
/// An external id starting with `+` or `-` is sent with a `+` before it:
/// Clerk reads a leading sign as "include" or "exclude", and this operation
/// always looks an id up as written.
///
/// A GET: idempotent, so retried like a revoke. Its `Debug` shows how many
/// values it holds, never the values (email addresses are personal data).
///
/// ```
/// use clerk_core::{Config, ListUsers, Operation};
///
/// let config = Config::new("sk_test_example")?;
/// let request = ListUsers::by_email_addresses(["ann+test@example.com", "Bo@example.com"])
///     .build_request(&config)?;
/// assert_eq!(request.method(), "GET");
/// assert_eq!(
///     request.uri(),
///     "https://api.clerk.com/v1/users?email_address=ann%2Btest%40example.com&email_address=Bo%40example.com&limit=500"
/// );
/// assert!(request.headers().get("content-length").is_none());
/// # Ok::<(), clerk_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ListUsers {
    filter: UserFilter,
    values: Vec<String>,
    limit: u16,
    offset: u32,
}

impl ListUsers {
    /// Users with any of these email addresses.
    pub fn by_email_addresses<I, S>(addresses: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(UserFilter::EmailAddress, addresses)
    }

    /// Users with any of these external ids (the application's own ids).
    pub fn by_external_ids<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(UserFilter::ExternalId, ids)
    }

    fn new<I, S>(filter: UserFilter, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            filter,
            values: values.into_iter().map(Into::into).collect(),
            limit: MAX_LIST_LIMIT,
            offset: 0,
        }
    }

    /// Skips the first `offset` users of the reply: the next page.
    #[must_use]
    pub fn with_offset(mut self, offset: u32) -> Self {
        self.offset = offset;
        self
    }

    /// Sets the page size, 1–500 (anything else is refused when the request
    /// is built). The default, 500, is Clerk's largest.
    #[must_use]
    pub fn with_limit(mut self, limit: u16) -> Self {
        self.limit = limit;
        self
    }

    /// What the values are.
    pub fn filter(&self) -> UserFilter {
        self.filter
    }

    /// The email addresses or external ids, as given.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// The page size sent.
    pub fn limit(&self) -> u16 {
        self.limit
    }

    /// The offset sent.
    pub fn offset(&self) -> u32 {
        self.offset
    }

    /// This request's values, for the next page.
    fn next_page(&self) -> Option<Self> {
        let offset = self.offset.checked_add(u32::from(self.limit))?;
        Some(self.clone().with_offset(offset))
    }

    /// The same request, its values split in two halves.
    fn halves(&self) -> Option<(Self, Self)> {
        if self.values.len() < 2 {
            return None;
        }
        let mid = self.values.len() / 2;
        let (a, b) = self.values.split_at(mid);
        let half = |values: &[String]| Self {
            filter: self.filter,
            values: values.to_vec(),
            limit: self.limit,
            offset: 0,
        };
        Some((half(a), half(b)))
    }
}

impl fmt::Debug for ListUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListUsers")
            .field("filter", &self.filter.param())
            .field("values", &format_args!("[{} hidden]", self.values.len()))
            .field("limit", &self.limit)
            .field("offset", &self.offset)
            .finish()
    }
}

/// Whether a byte stays as it is in a query value (RFC 3986 unreserved).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Whether an external id needs a `+` before it to be read literally.
fn needs_sign(filter: UserFilter, value: &str) -> bool {
    filter == UserFilter::ExternalId && value.starts_with(['+', '-'])
}

/// The bytes `name=value&` takes in the query.
fn query_cost(filter: UserFilter, value: &str) -> usize {
    let encoded: usize = value
        .bytes()
        .map(|b| if is_unreserved(b) { 1 } else { 3 })
        .sum();
    let sign = if needs_sign(filter, value) { 3 } else { 0 };
    filter.param().len() + 2 + encoded + sign
}

/// The bytes of the query left for values.
const VALUE_BUDGET: usize = MAX_LOOKUP_QUERY_BYTES - PAGING_BYTES;

impl Operation for ListUsers {
    type Output = Vec<User>;
    const NAME: &'static str = "list_users";

    fn build_request(&self, config: &Config) -> Result<Request<Vec<u8>>, Error> {
        let param = self.filter.param();
        if self.values.is_empty() {
            return Err(Error::invalid_request(
                param,
                "must name at least one value",
            ));
        }
        if self.values.len() > MAX_LOOKUP_VALUES {
            return Err(Error::invalid_request(
                param,
                "must name at most 100 values in one request",
            ));
        }
        if self.values.iter().any(String::is_empty) {
            return Err(Error::invalid_request(
                param,
                "must not hold an empty value",
            ));
        }
        if !(1..=MAX_LIST_LIMIT).contains(&self.limit) {
            return Err(Error::invalid_request("limit", "must be between 1 and 500"));
        }
        let cost: usize = self.values.iter().map(|v| query_cost(self.filter, v)).sum();
        if cost > VALUE_BUDGET {
            return Err(Error::invalid_request(
                param,
                "are too long to send in one request (email_lookup_batches splits them)",
            ));
        }
        let mut url = String::with_capacity(config.base_url().len() + 7 + cost + PAGING_BYTES);
        url.push_str(config.base_url());
        url.push_str("/users?");
        for value in &self.values {
            url.push_str(param);
            url.push('=');
            if needs_sign(self.filter, value) {
                url.push_str("%2B");
            }
            url.extend(utf8_percent_encode(value, SEGMENT));
            url.push('&');
        }
        url.push_str("limit=");
        url.push_str(&self.limit.to_string());
        if self.offset > 0 {
            url.push_str("&offset=");
            url.push_str(&self.offset.to_string());
        }
        build(config, Method::GET, url, Body::None)
    }

    fn parse_response<B: AsRef<[u8]>>(&self, response: &Response<B>) -> Result<Vec<User>, Error> {
        parse_json_response_naming(response, USER_FIELDS)
    }

    fn idempotency(&self) -> Idempotency {
        Idempotency::Idempotent
    }
}

/// The value of a User's `object` field.
const USER_OBJECT: &str = "user";

/// The names a decode error about a user list may quote and keep.
const USER_FIELDS: &[&str] = &[
    "object",
    "id",
    "email_addresses",
    "email_address",
    "primary_email_address_id",
    "external_id",
    "first_name",
    "last_name",
    "created_at",
    "updated_at",
    USER_OBJECT,
];

struct UserObject;

impl ObjectName for UserObject {
    const NAME: &'static str = USER_OBJECT;
}

/// One of a user's email addresses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmailAddress {
    /// Its id, such as `idn_29w83yL7CwVlJXylYLxcslromF1`. Clerk sends it,
    /// but its published description leaves it optional, so a reply without
    /// it still decodes (and the address still matches).
    #[serde(default)]
    pub id: Option<String>,
    /// The address, as Clerk stores it.
    pub email_address: String,
}

impl EmailAddress {
    /// An email address with its id.
    pub fn new(id: impl Into<String>, email_address: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            email_address: email_address.into(),
        }
    }
}

/// A Clerk user, reduced to what finding and naming them takes.
///
/// Decoding is strict about what a sign-in token needs (an `id`, and an
/// `email_address` in each email address) and tolerant of the
/// rest: every field Clerk adds is ignored; a missing or `null` list of
/// email addresses is empty, missing names and external id are `None`, and
/// missing timestamps are 0. An `object` other than `"user"` is refused, so
/// a reply holding another Clerk object is not misread as a user.
///
/// ```
/// use clerk_core::User;
///
/// let json = r#"{"object":"user","id":"user_1","external_id":null,
///   "email_addresses":[{"object":"email_address","id":"idn_1","email_address":"ann@example.com",
///                       "verification":{"status":"verified"}}],
///   "primary_email_address_id":"idn_1","first_name":"Ann","last_name":null,
///   "created_at":1700000000000,"updated_at":1700000000001,"banned":false}"#;
/// let user: User = serde_json::from_str(json).unwrap();
/// assert_eq!(user.id, "user_1");
/// assert_eq!(user.primary_email_address().map(|e| e.email_address.as_str()), Some("ann@example.com"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "UserWire", into = "UserWire")]
#[non_exhaustive]
pub struct User {
    /// The user's id, such as `user_26Ect5GuCCeaFWwSDiiKcgAGtVk`: what
    /// [`CreateSignInToken`](crate::CreateSignInToken) takes.
    pub id: String,
    /// Every email address of the user.
    pub email_addresses: Vec<EmailAddress>,
    /// The id of the primary one among [`email_addresses`](Self::email_addresses).
    pub primary_email_address_id: Option<String>,
    /// The application's own id for the user.
    pub external_id: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// When the user was created, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When the user last changed, in milliseconds since the Unix epoch.
    pub updated_at: i64,
}

impl User {
    /// A user with this id and nothing else: for tests and stand-ins.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            email_addresses: Vec::new(),
            primary_email_address_id: None,
            external_id: None,
            first_name: None,
            last_name: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// Adds an email address; the first one added becomes the primary.
    #[must_use]
    pub fn with_email_address(mut self, address: EmailAddress) -> Self {
        if self.primary_email_address_id.is_none() {
            self.primary_email_address_id = address.id.clone();
        }
        self.email_addresses.push(address);
        self
    }

    /// The primary email address, when the user has one.
    pub fn primary_email_address(&self) -> Option<&EmailAddress> {
        let id = self.primary_email_address_id.as_deref()?;
        self.email_addresses
            .iter()
            .find(|e| e.id.as_deref() == Some(id))
    }
}

/// The wire form: what Clerk sends, as far as it matters here.
#[derive(Serialize, Deserialize)]
struct UserWire {
    #[serde(default)]
    object: Option<ObjectTag<UserObject>>,
    id: String,
    #[serde(default)]
    email_addresses: Option<Vec<EmailAddress>>,
    #[serde(default)]
    primary_email_address_id: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    updated_at: Option<i64>,
}

impl From<UserWire> for User {
    fn from(wire: UserWire) -> Self {
        Self {
            id: wire.id,
            email_addresses: wire.email_addresses.unwrap_or_default(),
            primary_email_address_id: wire.primary_email_address_id,
            external_id: wire.external_id,
            first_name: wire.first_name,
            last_name: wire.last_name,
            created_at: wire.created_at.unwrap_or(0),
            updated_at: wire.updated_at.unwrap_or(0),
        }
    }
}

impl From<User> for UserWire {
    fn from(user: User) -> Self {
        Self {
            object: Some(ObjectTag::new()),
            id: user.id,
            email_addresses: Some(user.email_addresses),
            primary_email_address_id: user.primary_email_address_id,
            external_id: user.external_id,
            first_name: user.first_name,
            last_name: user.last_name,
            created_at: Some(user.created_at),
            updated_at: Some(user.updated_at),
        }
    }
}

/// Which user an email address belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EmailMatch {
    /// Exactly one user has the address: their id.
    Found(String),
    /// No user has it.
    NotFound,
    /// Several users have it: their ids, in the order the reply gave them.
    /// Minting for one of them would be a guess.
    Ambiguous(Vec<String>),
}

impl EmailMatch {
    /// The user's id when exactly one user has the address.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::Found(id) => Some(id),
            Self::NotFound | Self::Ambiguous(_) => None,
        }
    }
}

/// How two addresses are compared: Unicode lowercase, so `Ann@Example.com`
/// typed by an operator is `ann@example.com` on the user.
fn fold(address: &str) -> String {
    address.to_lowercase()
}

/// Says, for each address, which of `users` it belongs to: one
/// [`EmailMatch`] per address, in the same order. Addresses are compared
/// case-insensitively; a user listed twice (two pages that overlap) counts
/// once. Linear in the addresses and the users' addresses.
///
/// ```
/// use clerk_core::{EmailAddress, EmailMatch, User, match_email_addresses};
///
/// let users = [
///     User::new("user_1").with_email_address(EmailAddress::new("idn_1", "ann@example.com")),
///     User::new("user_2").with_email_address(EmailAddress::new("idn_2", "shared@example.com")),
///     User::new("user_3").with_email_address(EmailAddress::new("idn_3", "Shared@example.com")),
/// ];
/// let matches = match_email_addresses(&["Ann@Example.com", "nobody@example.com", "shared@example.com"], &users);
/// assert_eq!(matches, [
///     EmailMatch::Found("user_1".into()),
///     EmailMatch::NotFound,
///     EmailMatch::Ambiguous(vec!["user_2".into(), "user_3".into()]),
/// ]);
/// ```
pub fn match_email_addresses<S: AsRef<str>>(addresses: &[S], users: &[User]) -> Vec<EmailMatch> {
    let mut owners: HashMap<String, Vec<&str>> = HashMap::new();
    let mut seen: HashSet<(String, &str)> = HashSet::new();
    for user in users {
        for address in &user.email_addresses {
            let key = fold(&address.email_address);
            if seen.insert((key.clone(), user.id.as_str())) {
                owners.entry(key).or_default().push(&user.id);
            }
        }
    }
    addresses
        .iter()
        .map(
            |address| match owners.get(&fold(address.as_ref())).map(Vec::as_slice) {
                None | Some([]) => EmailMatch::NotFound,
                Some([one]) => EmailMatch::Found((*one).to_owned()),
                Some(many) => EmailMatch::Ambiguous(many.iter().map(|&id| id.to_owned()).collect()),
            },
        )
        .collect()
}

/// Splits any number of email addresses into [`ListUsers`] requests that
/// each fit Clerk's limits: at most [`MAX_LOOKUP_VALUES`] addresses, and a
/// query of at most [`MAX_LOOKUP_QUERY_BYTES`]. Addresses that differ only
/// in case are asked for once (the first spelling), so no user is asked for
/// twice; otherwise every address is in exactly one batch, in the order
/// given.
///
/// A value that cannot be sent (empty, or longer than a whole query) gets a
/// batch of its own, whose request is refused before sending: it does not
/// take the other addresses down with it.
///
/// ```
/// use clerk_core::email_lookup_batches;
///
/// let addresses: Vec<String> = (0..250).map(|i| format!("user{i}@example.com")).collect();
/// let batches = email_lookup_batches(&addresses);
/// assert_eq!(batches.iter().map(|b| b.values().len()).collect::<Vec<_>>(), [100, 100, 50]);
/// assert_eq!(email_lookup_batches(&["a@x.com", "A@X.COM"]).len(), 1);
/// ```
pub fn email_lookup_batches<S: AsRef<str>>(addresses: &[S]) -> Vec<ListUsers> {
    let filter = UserFilter::EmailAddress;
    let mut seen = HashSet::new();
    let mut batches = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut cost = 0;
    for address in addresses {
        let address = address.as_ref();
        if !seen.insert(fold(address)) {
            continue;
        }
        let this = query_cost(filter, address);
        if address.is_empty() || this > VALUE_BUDGET {
            batches.push(ListUsers::by_email_addresses([address]));
            continue;
        }
        if current.len() == MAX_LOOKUP_VALUES || cost + this > VALUE_BUDGET {
            batches.push(ListUsers::by_email_addresses(std::mem::take(&mut current)));
            cost = 0;
        }
        current.push(address.to_owned());
        cost += this;
    }
    if !current.is_empty() {
        batches.push(ListUsers::by_email_addresses(current));
    }
    batches
}

/// A whole lookup of email addresses, written once for every adapter: it
/// hands out the requests to send, takes their replies, and matches.
///
/// The requests are [`email_lookup_batches`]'s, so n addresses take
/// ⌈n/100⌉ requests when they fit in the query budget. Two cases add one:
/// a full page (as many users as the `limit`) asks for the next page, and
/// a reply over the body cap
/// ([`BodyTooLarge`](crate::TransportErrorKind::BodyTooLarge)) is asked
/// again as two halves of its batch. Every other error ends the lookup.
///
/// ```
/// use clerk_core::{EmailAddress, EmailLookup, EmailMatch, User};
///
/// let mut lookup = EmailLookup::new(&["Ann@example.com", "bo@example.com"])?;
/// while let Some(request) = lookup.next_request() {
///     // An adapter sends `request` here and hands back what `send` returned.
///     assert_eq!(request.values().len(), 2);
///     let user = User::new("user_1").with_email_address(EmailAddress::new("idn_1", "ann@example.com"));
///     lookup.handle(Ok(vec![user]))?;
/// }
/// assert_eq!(lookup.requests(), 1);
/// assert_eq!(lookup.finish(), [EmailMatch::Found("user_1".into()), EmailMatch::NotFound]);
/// # Ok::<(), clerk_core::Error>(())
/// ```
pub struct EmailLookup {
    addresses: Vec<String>,
    pending: VecDeque<ListUsers>,
    in_flight: Option<ListUsers>,
    users: Vec<User>,
    requests: u32,
}

impl EmailLookup {
    /// A lookup of these addresses.
    ///
    /// # Errors
    /// An [invalid-request](crate::ErrorKind::InvalidRequest) error, before
    /// anything is sent, when an address is empty or alone longer than a
    /// request can carry.
    pub fn new<S: AsRef<str>>(addresses: &[S]) -> Result<Self, Error> {
        let filter = UserFilter::EmailAddress;
        for address in addresses {
            let address = address.as_ref();
            if address.is_empty() {
                return Err(Error::invalid_request(
                    filter.param(),
                    "must not hold an empty value",
                ));
            }
            if query_cost(filter, address) > VALUE_BUDGET {
                return Err(Error::invalid_request(
                    filter.param(),
                    "holds a value too long to send",
                ));
            }
        }
        Ok(Self {
            addresses: addresses.iter().map(|a| a.as_ref().to_owned()).collect(),
            pending: email_lookup_batches(addresses).into(),
            in_flight: None,
            users: Vec::new(),
            requests: 0,
        })
    }

    /// The next request to send, or `None` when the lookup is complete.
    /// Hand its result to [`handle`](Self::handle) before asking again.
    pub fn next_request(&mut self) -> Option<ListUsers> {
        let next = self.pending.pop_front()?;
        self.in_flight = Some(next.clone());
        self.requests = self.requests.saturating_add(1);
        Some(next)
    }

    /// Takes what sending the last request returned.
    ///
    /// # Errors
    /// The request's error, when it ends the lookup (see the type's doc).
    pub fn handle(&mut self, reply: Result<Vec<User>, Error>) -> Result<(), Error> {
        let request = self.in_flight.take();
        match reply {
            Ok(page) => {
                if let Some(request) = request
                    && page.len() >= usize::from(request.limit())
                    && let Some(next) = request.next_page()
                {
                    self.pending.push_front(next);
                }
                self.users.extend(page);
                Ok(())
            }
            Err(error) => {
                let too_large = matches!(
                    error.kind(),
                    ErrorKind::Transport(t) if t.kind == TransportErrorKind::BodyTooLarge
                );
                match request.as_ref().and_then(ListUsers::halves) {
                    Some((a, b)) if too_large => {
                        self.pending.push_front(b);
                        self.pending.push_front(a);
                        Ok(())
                    }
                    _ => Err(error),
                }
            }
        }
    }

    /// How many requests were handed out so far.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// The users the replies held so far.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// One [`EmailMatch`] per address given to [`new`](Self::new), in the
    /// same order.
    pub fn finish(self) -> Vec<EmailMatch> {
        match_email_addresses(&self.addresses, &self.users)
    }
}

impl fmt::Debug for EmailLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailLookup")
            .field("addresses", &self.addresses.len())
            .field("pending", &self.pending.len())
            .field("users", &self.users.len())
            .field("requests", &self.requests)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeCategory, TransportError};

    fn config() -> Config {
        Config::new("sk_test_123").unwrap()
    }

    fn reply(status: u16, body: &str) -> Response<Vec<u8>> {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn request_shape() {
        let r = ListUsers::by_email_addresses(["a@example.com"])
            .with_offset(500)
            .build_request(&config())
            .unwrap();
        assert_eq!(r.method(), Method::GET);
        assert_eq!(
            r.uri(),
            "https://api.clerk.com/v1/users?email_address=a%40example.com&limit=500&offset=500"
        );
        assert!(r.body().is_empty());
        assert!(r.headers().get("content-length").is_none());
        assert!(r.headers().get("content-type").is_none());
        assert_eq!(r.headers()["accept"], "application/json");
        assert_eq!(r.headers()["authorization"], "Bearer sk_test_123");
        assert!(r.headers()["authorization"].is_sensitive());
        assert_eq!(r.headers()["clerk-api-version"], "2026-05-12");
    }

    #[test]
    fn external_ids_are_looked_up_as_written() {
        let r = ListUsers::by_external_ids(["ext_1", "-neg", "+pos", "a+b"])
            .build_request(&config())
            .unwrap();
        assert_eq!(
            r.uri().query(),
            Some(
                "external_id=ext_1&external_id=%2B-neg&external_id=%2B%2Bpos&external_id=a%2Bb&limit=500"
            )
        );
    }

    #[test]
    fn refusals_name_the_parameter_not_the_value() {
        let c = config();
        let refuse = |op: ListUsers| {
            let e = op.build_request(&c).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::InvalidRequest(_)));
            assert_eq!(e.attempts(), 0);
            let text = format!("{e} {e:?}");
            assert!(!text.contains("secret@example.com"), "{text}");
            e.invalid_argument()
        };
        let none: [&str; 0] = [];
        assert_eq!(
            refuse(ListUsers::by_email_addresses(none)),
            Some("email_address")
        );
        assert_eq!(
            refuse(ListUsers::by_external_ids(none)),
            Some("external_id")
        );
        let many: Vec<String> = (0..101).map(|i| format!("{i}@x.io")).collect();
        assert_eq!(
            refuse(ListUsers::by_email_addresses(many.clone())),
            Some("email_address")
        );
        assert!(
            ListUsers::by_email_addresses(&many[..100])
                .build_request(&c)
                .is_ok()
        );
        assert_eq!(
            refuse(ListUsers::by_email_addresses(["secret@example.com", ""])),
            Some("email_address")
        );
        for limit in [0, 501, u16::MAX] {
            assert_eq!(
                refuse(ListUsers::by_email_addresses(["secret@example.com"]).with_limit(limit)),
                Some("limit")
            );
        }
        let long = format!("secret@example.com{}", "é".repeat(2000));
        assert_eq!(
            refuse(ListUsers::by_email_addresses([long])),
            Some("email_address")
        );
    }

    #[test]
    fn debug_hides_the_values() {
        let op = ListUsers::by_email_addresses(["secret@example.com"]);
        let text = format!("{op:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("1 hidden"), "{text}");
        let lookup = EmailLookup::new(&["secret@example.com"]).unwrap();
        assert!(!format!("{lookup:?}").contains("secret"));
    }

    #[test]
    fn users_decode_tolerantly_and_strictly() {
        let op = ListUsers::by_email_addresses(["a@x.io"]);
        let users = op
            .parse_response(&reply(
                200,
                r#"[{"object":"user","id":"user_1","new_field":{"x":[1]},"email_addresses":null},
                    {"id":"user_2","email_addresses":[{"id":"idn_2","email_address":"b@x.io","object":"email_address","linked_to":[]}],
                     "created_at":5,"updated_at":6,"external_id":"e","first_name":"B","last_name":"C","primary_email_address_id":"idn_2"}]"#,
            ))
            .unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0], User::new("user_1"));
        assert_eq!(
            users[1].email_addresses,
            [EmailAddress::new("idn_2", "b@x.io")]
        );
        assert_eq!(users[1].created_at, 5);
        assert_eq!(users[1].external_id.as_deref(), Some("e"));
        assert_eq!(op.parse_response(&reply(200, "[]")).unwrap(), []);

        for (body, message) in [
            (r#"[{"object":"user"}]"#, "missing field `id`"),
            (
                r#"[{"id":"u","email_addresses":[{"id":"i"}]}]"#,
                "missing field `email_address`",
            ),
            (
                r#"[{"object":"sign_in_token","id":"sit_1"}]"#,
                "invalid value: string \"…\", expected the string `user`",
            ),
            (
                r#"{"object":"sign_in_token","id":"sit_1"}"#,
                "invalid type: map, expected a sequence",
            ),
            (
                r#"[{"id":"u","email_addresses":[{"id":"i","email_address":7}]}]"#,
                "invalid type: integer `…`, expected a string",
            ),
        ] {
            let e = op.parse_response(&reply(200, body)).unwrap_err();
            let ErrorKind::Decode(d) = e.kind() else {
                panic!("{body}: {e:?}")
            };
            assert_eq!(d.message, message, "{body}");
            assert_eq!(d.category, DecodeCategory::Data);
        }
        // A value of the body is never quoted back, an address least of all.
        let e = op
            .parse_response(&reply(
                200,
                r#"[{"id":"u","created_at":"ann@example.com"}]"#,
            ))
            .unwrap_err();
        assert!(!format!("{e} {e:?}").contains("ann@"), "{e:?}");
        // The same error surface as the other operations.
        let e = op
            .parse_response(&reply(
                422,
                r#"{"errors":[{"code":"form_param_invalid","message":"m","long_message":"l"}]}"#,
            ))
            .unwrap_err();
        assert!(e.has_code("form_param_invalid"));
        assert_eq!(op.idempotency(), Idempotency::Idempotent);
    }

    #[test]
    fn a_full_page_asks_for_the_next() {
        let mut lookup = EmailLookup::new(&["a@x.io", "b@x.io"]).unwrap();
        let first = lookup.next_request().unwrap();
        assert_eq!((first.limit(), first.offset()), (500, 0));
        let page: Vec<User> = (0..500).map(|i| User::new(format!("user_{i}"))).collect();
        lookup.handle(Ok(page)).unwrap();
        let second = lookup.next_request().unwrap();
        assert_eq!(second.offset(), 500);
        assert_eq!(second.values(), first.values());
        lookup.handle(Ok(vec![User::new("user_500")])).unwrap();
        assert!(lookup.next_request().is_none());
        assert_eq!(lookup.requests(), 2);
        assert_eq!(lookup.users().len(), 501);
    }

    #[test]
    fn a_reply_over_the_cap_is_asked_again_in_halves() {
        let addresses: Vec<String> = (0..5).map(|i| format!("{i}@x.io")).collect();
        let mut lookup = EmailLookup::new(&addresses).unwrap();
        let too_large = || {
            Err(Error::transport(TransportError::without_source(
                TransportErrorKind::BodyTooLarge,
                crate::Delivery::MaybeSent,
            )))
        };
        assert_eq!(lookup.next_request().unwrap().values().len(), 5);
        lookup.handle(too_large()).unwrap();
        assert_eq!(lookup.next_request().unwrap().values(), &addresses[..2]);
        lookup.handle(Ok(Vec::new())).unwrap();
        assert_eq!(lookup.next_request().unwrap().values(), &addresses[2..]);
        lookup.handle(Ok(Vec::new())).unwrap();
        assert!(lookup.next_request().is_none());
        // One address whose reply is still too large: the error ends it.
        let mut one = EmailLookup::new(&["a@x.io"]).unwrap();
        one.next_request().unwrap();
        assert!(one.handle(too_large()).is_err());
        // Any other error ends the lookup at once.
        let mut lookup = EmailLookup::new(&addresses).unwrap();
        lookup.next_request().unwrap();
        let e = lookup
            .handle(Err(Error::invalid_request("x", "y")))
            .unwrap_err();
        assert_eq!(e.invalid_argument(), Some("x"));
    }

    #[test]
    fn a_reply_over_the_cap_is_not_retried() {
        let op = ListUsers::by_email_addresses(["a@x.io"]);
        assert_eq!(op.idempotency(), Idempotency::Idempotent);
        let timing = crate::Timing {
            now: std::time::SystemTime::UNIX_EPOCH,
            elapsed: std::time::Duration::ZERO,
            jitter: 0.5,
        };
        let outcome = |kind: TransportErrorKind| {
            crate::Outcome::<Vec<u8>>::Transport(TransportError::without_source(
                kind,
                crate::Delivery::MaybeSent,
            ))
        };
        let mut call = crate::Call::new(&config(), op.clone()).unwrap();
        let step = call.handle(outcome(TransportErrorKind::BodyTooLarge), timing);
        let crate::Step::Done(Err(e)) = step else {
            panic!("retried a reply over the cap")
        };
        assert_eq!(e.attempts(), 1);
        // A timeout of the same idempotent GET is retried.
        let mut call = crate::Call::new(&config(), op).unwrap();
        let step = call.handle(outcome(TransportErrorKind::Timeout), timing);
        assert!(matches!(step, crate::Step::Retry(_)));
    }

    #[test]
    fn lookup_refuses_unsendable_addresses_up_front() {
        assert!(EmailLookup::new(&["a@x.io", ""]).is_err());
        assert!(EmailLookup::new(&["x".repeat(VALUE_BUDGET)]).is_err());
        let none: [&str; 0] = [];
        let mut lookup = EmailLookup::new(&none).unwrap();
        assert!(lookup.next_request().is_none());
        assert!(lookup.finish().is_empty());
    }

    #[test]
    fn unsendable_values_get_batches_of_their_own() {
        let long = "x".repeat(VALUE_BUDGET);
        let batches = email_lookup_batches(&["a@x.io", "", "b@x.io", &long, "c@x.io"]);
        let sizes: Vec<usize> = batches.iter().map(|b| b.values().len()).collect();
        assert_eq!(sizes, [1, 1, 3]);
        let c = config();
        assert!(batches[0].build_request(&c).is_err());
        assert!(batches[1].build_request(&c).is_err());
        assert!(batches[2].build_request(&c).is_ok());
    }
}
