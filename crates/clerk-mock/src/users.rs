//! Users: what a test registers ([`UserSpec`]), how the server keeps them, and
//! `GET /v1/users`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::response::{ClerkError, Response, clerk_errors};
use crate::server::Shared;
use crate::util::{QueryError, base64url, parse_query};

/// The most values `GET /v1/users` takes for one filter (`email_address`, `external_id`), as
/// Clerk documents.
pub(crate) const MAX_FILTER_VALUES: usize = 100;
/// The largest `limit` Clerk accepts.
pub(crate) const MAX_LIMIT: u64 = 500;
/// The `limit` when a request gives none.
pub(crate) const DEFAULT_LIMIT: u64 = 10;

/// Query parameters Clerk documents for `GET /users` that this server does not implement.
/// A request that uses one is refused (400 `clerk_mock_unsupported_parameter`) rather than
/// answered as if the parameter were not there.
const UNSUPPORTED: &[&str] = &[
    "phone_number",
    "username",
    "web3_wallet",
    "user_id",
    "organization_id",
    "query",
    "email_address_query",
    "phone_number_query",
    "username_query",
    "name_query",
    "banned",
    "last_active_at_before",
    "last_active_at_after",
    "last_active_at_since",
    "created_at_before",
    "created_at_after",
    "last_sign_in_at_before",
    "last_sign_in_at_after",
    "provider",
    "provider_user_id",
    "starting_after",
];

/// A user to register with [`MockServer::insert_user`](crate::MockServer::insert_user).
///
/// Every part is optional: `UserSpec::new()` is a user with a generated id (`user_` and 27
/// letters and digits), no email address, no external id and no names.
///
/// The server does not check the values: an email address need not look like one, and two
/// users may share an email address or an external id (Clerk forbids both; allowing them
/// lets a test build the "one address, two users" case).
///
/// # Examples
///
/// ```
/// use clerk_mock::{MockServer, UserSpec};
///
/// let server = MockServer::start();
/// let ann = server.insert_user(
///     UserSpec::new()
///         .email("ann@example.com") // the first address is the primary one
///         .email("ann.work@example.com")
///         .external_id("crm-42")
///         .names("Ann", "Example"),
/// );
/// assert!(ann.starts_with("user_"));
///
/// let chosen = server.insert_user(UserSpec::new().id("user_test_1").email("test+1@example.com"));
/// assert_eq!(chosen, "user_test_1");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct UserSpec {
    pub(crate) id: Option<String>,
    pub(crate) emails: Vec<String>,
    pub(crate) external_id: Option<String>,
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
}

impl UserSpec {
    /// A user with a generated id and nothing else.
    ///
    /// # Examples
    ///
    /// ```
    /// let spec = clerk_mock::UserSpec::new();
    /// # drop(spec);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses the user's id (any string) instead of a generated one.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = clerk_mock::MockServer::start();
    /// assert_eq!(server.insert_user(clerk_mock::UserSpec::new().id("user_x")), "user_x");
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Adds an email address. Call it again for more; the first one is the user's primary
    /// address (`primary_email_address_id`). Each gets an id of `idn_` and 27 letters and
    /// digits. The address is kept as written; lookups compare it case-insensitively.
    ///
    /// # Examples
    ///
    /// ```
    /// let spec = clerk_mock::UserSpec::new().email("a@example.com").email("b@example.com");
    /// # drop(spec);
    /// ```
    pub fn email(mut self, address: impl Into<String>) -> Self {
        self.emails.push(address.into());
        self
    }

    /// Sets the user's external id (the id an application keeps for the user).
    ///
    /// # Examples
    ///
    /// ```
    /// let spec = clerk_mock::UserSpec::new().external_id("crm-42");
    /// # drop(spec);
    /// ```
    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// Sets the user's first and last name.
    ///
    /// # Examples
    ///
    /// ```
    /// let spec = clerk_mock::UserSpec::new().names("Ann", "Example");
    /// # drop(spec);
    /// ```
    pub fn names(mut self, first: impl Into<String>, last: impl Into<String>) -> Self {
        self.first_name = Some(first.into());
        self.last_name = Some(last.into());
        self
    }
}

/// One email address of a user.
#[derive(Debug, Clone)]
pub(crate) struct EmailRecord {
    pub(crate) id: String,
    pub(crate) address: String,
    /// `address` in lower case, for case-insensitive lookups.
    pub(crate) folded: String,
}

/// A user as the server keeps it.
#[derive(Debug, Clone)]
pub(crate) struct UserRecord {
    pub(crate) id: String,
    pub(crate) emails: Vec<EmailRecord>,
    pub(crate) external_id: Option<String>,
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    pub(crate) created_at: u64,
    pub(crate) updated_at: u64,
}

/// Every user, oldest first. `created_at` strictly increases along the list, so "newest
/// first" is well defined even for users registered within one millisecond.
#[derive(Debug, Default)]
pub(crate) struct Users {
    list: Vec<UserRecord>,
    index: HashMap<String, usize>,
    last_created_at: u64,
}

impl Users {
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// A creation time for a new user: `now`, or one millisecond after the last user's if
    /// that is not earlier.
    pub(crate) fn next_created_at(&mut self, now: u64) -> u64 {
        let at = now.max(self.last_created_at.saturating_add(1));
        self.last_created_at = at;
        at
    }

    /// Adds `record`, or, if a user with its id exists, replaces that user's email
    /// addresses, external id and names (it keeps its place and `created_at`, and its
    /// `updated_at` becomes the new record's).
    pub(crate) fn upsert(&mut self, record: UserRecord) {
        match self.index.get(&record.id) {
            Some(&i) => {
                let old = &mut self.list[i];
                let created_at = old.created_at;
                *old = record;
                old.updated_at = old.updated_at.max(created_at);
                old.created_at = created_at;
            }
            None => {
                self.index.insert(record.id.clone(), self.list.len());
                self.list.push(record);
            }
        }
    }

    /// The users, oldest first.
    pub(crate) fn oldest_first(&self) -> &[UserRecord] {
        &self.list
    }
}

/// The `User` object, with every field Clerk's description requires and the optional ones
/// Clerk sends, with the values of a user created through the Backend API who never signed
/// in. Addresses are verified by an admin, as Clerk marks addresses created that way.
pub(crate) fn user_json(user: &UserRecord) -> Value {
    let emails: Vec<Value> = user
        .emails
        .iter()
        .map(|email| {
            json!({
                "id": email.id,
                "object": "email_address",
                "email_address": email.address,
                "reserved": false,
                "verification": {
                    "object": "verification_admin",
                    "status": "verified",
                    "strategy": "admin",
                    "attempts": null,
                    "expire_at": null,
                },
                "linked_to": [],
                "matches_sso_connection": false,
                "created_at": user.created_at,
                "updated_at": user.created_at,
            })
        })
        .collect();
    let image = base64url(
        json!({ "type": "default", "rid": user.id })
            .to_string()
            .as_bytes(),
    );
    let image_url = format!("https://img.clerk.com/{image}");
    let mut object = Map::new();
    let mut put = |key: &str, value: Value| {
        object.insert(key.to_owned(), value);
    };
    put("id", Value::from(user.id.as_str()));
    put("object", Value::from("user"));
    put("username", Value::Null);
    put("first_name", user.first_name.as_deref().into());
    put("last_name", user.last_name.as_deref().into());
    put("locale", Value::Null);
    put("image_url", Value::from(image_url.as_str()));
    put("profile_image_url", Value::from(image_url));
    put("has_image", Value::from(false));
    put(
        "primary_email_address_id",
        user.emails.first().map(|e| e.id.as_str()).into(),
    );
    put("primary_phone_number_id", Value::Null);
    put("primary_web3_wallet_id", Value::Null);
    put("password_enabled", Value::from(false));
    put("two_factor_enabled", Value::from(false));
    put("totp_enabled", Value::from(false));
    put("backup_code_enabled", Value::from(false));
    put("mfa_enabled_at", Value::Null);
    put("mfa_disabled_at", Value::Null);
    put("password_last_updated_at", Value::Null);
    put("email_addresses", Value::Array(emails));
    put("phone_numbers", json!([]));
    put("web3_wallets", json!([]));
    put("passkeys", json!([]));
    put("external_accounts", json!([]));
    put("saml_accounts", json!([]));
    put("enterprise_accounts", json!([]));
    put("public_metadata", json!({}));
    put("private_metadata", json!({}));
    put("unsafe_metadata", json!({}));
    put("external_id", user.external_id.as_deref().into());
    put("last_sign_in_at", Value::Null);
    put("banned", Value::from(false));
    put("locked", Value::from(false));
    put("deprovisioned", Value::from(false));
    put("lockout_expires_in_seconds", Value::Null);
    put("verification_attempts_remaining", Value::from(100));
    put("created_at", Value::from(user.created_at));
    put("updated_at", Value::from(user.updated_at));
    put("delete_self_enabled", Value::from(true));
    put("create_organization_enabled", Value::from(true));
    put("create_organizations_limit", Value::Null);
    put("last_active_at", Value::Null);
    put("legal_accepted_at", Value::Null);
    put("bypass_client_trust", Value::from(false));
    Value::Object(object)
}

/// What a `GET /v1/users` asks for, once its query is understood.
#[derive(Debug)]
struct ListQuery {
    /// The addresses asked for, in lower case; `None` without the filter.
    emails: Option<Vec<String>>,
    /// External ids to include (`None` without any) and to exclude.
    include_external: Option<Vec<String>>,
    exclude_external: Vec<String>,
    limit: usize,
    offset: usize,
    newest_first: bool,
}

impl ListQuery {
    fn matches(&self, user: &UserRecord) -> bool {
        if let Some(emails) = &self.emails
            && !user.emails.iter().any(|e| emails.contains(&e.folded))
        {
            return false;
        }
        let external = user.external_id.as_deref();
        if let Some(include) = &self.include_external
            && !external.is_some_and(|x| include.iter().any(|i| i == x))
        {
            return false;
        }
        !external.is_some_and(|x| self.exclude_external.iter().any(|e| e == x))
    }
}

fn invalid(shared: &Shared, param: &str, long_message: String) -> Response {
    clerk_errors(
        &shared.ids,
        422,
        ClerkError::new("form_param_value_invalid", "is invalid", long_message).param(param),
    )
}

/// A non-empty run of ASCII digits, saturating.
fn parse_count(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Understands the query of a `GET /v1/users`, or answers why not.
fn list_query(shared: &Shared, query: &str) -> Result<ListQuery, Response> {
    let pairs = parse_query(query).map_err(|error| {
        let why = match error {
            QueryError::BadEscape => "a `%` must be followed by two hexadecimal digits",
            QueryError::NotUtf8 => "names and values must be UTF-8 once percent-decoded",
        };
        clerk_errors(
            &shared.ids,
            400,
            ClerkError::new(
                "malformed_query",
                "malformed query",
                format!("The query string is not valid application/x-www-form-urlencoded: {why}."),
            ),
        )
    })?;
    let mut emails: Option<Vec<String>> = None;
    let mut external: Option<Vec<String>> = None;
    let (mut limit, mut offset, mut order_by) = (None, None, None);
    for (name, value) in pairs {
        match name.as_str() {
            "email_address" => emails.get_or_insert_with(Vec::new).push(value),
            "external_id" => external.get_or_insert_with(Vec::new).push(value),
            // Like `order_by`, a repeated single-valued parameter counts once: the first.
            "limit" => limit = limit.or(Some(value)),
            "offset" => offset = offset.or(Some(value)),
            "order_by" => order_by = order_by.or(Some(value)),
            other if UNSUPPORTED.contains(&other) => {
                return Err(clerk_errors(
                    &shared.ids,
                    400,
                    ClerkError::new(
                        "clerk_mock_unsupported_parameter",
                        "not supported by clerk-mock",
                        format!(
                            "clerk-mock does not implement the {other} parameter of GET /users; \
                             it implements email_address, external_id, limit, offset and \
                             order_by=-created_at/+created_at."
                        ),
                    )
                    .param(other),
                ));
            }
            // Parameters Clerk does not document are ignored, as Clerk does.
            _ => {}
        }
    }
    for (param, values) in [("email_address", &emails), ("external_id", &external)] {
        let count = values.as_ref().map_or(0, Vec::len);
        if count > MAX_FILTER_VALUES {
            return Err(invalid(
                shared,
                param,
                format!(
                    "{param} accepts at most {MAX_FILTER_VALUES} values; this request has {count}."
                ),
            ));
        }
    }
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(value) => match parse_count(&value) {
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(invalid(
                    shared,
                    "limit",
                    format!("limit must be an integer between 1 and {MAX_LIMIT}."),
                ));
            }
        },
    };
    let offset = match offset {
        None => 0,
        Some(value) => parse_count(&value).ok_or_else(|| {
            invalid(
                shared,
                "offset",
                "offset must be an integer greater than or equal to 0.".to_owned(),
            )
        })?,
    };
    let newest_first = match order_by.as_deref() {
        None | Some("-created_at") => true,
        Some("created_at" | "+created_at") => false,
        Some(_) => {
            return Err(clerk_errors(
                &shared.ids,
                400,
                ClerkError::new(
                    "clerk_mock_unsupported_parameter",
                    "not supported by clerk-mock",
                    "clerk-mock orders users by created_at only: order_by must be \
                     -created_at (the default), created_at or +created_at.",
                )
                .param("order_by"),
            ));
        }
    };
    // `+x` includes x, `-x` excludes x, anything else includes itself.
    let mut include_external: Option<Vec<String>> = None;
    let mut exclude_external = Vec::new();
    for value in external.unwrap_or_default() {
        if let Some(excluded) = value.strip_prefix('-') {
            exclude_external.push(excluded.to_owned());
        } else {
            let included = value.strip_prefix('+').unwrap_or(&value).to_owned();
            include_external.get_or_insert_with(Vec::new).push(included);
        }
    }
    Ok(ListQuery {
        emails: emails.map(|list| list.iter().map(|e| e.to_lowercase()).collect()),
        include_external,
        exclude_external,
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
        offset: usize::try_from(offset).unwrap_or(usize::MAX),
        newest_first,
    })
}

/// `GET /v1/users`: a bare JSON array of the users that match, newest first, paged by
/// `offset` and `limit`.
pub(crate) fn list(shared: &Shared, query: &str) -> Response {
    let query = match list_query(shared, query) {
        Ok(query) => query,
        Err(response) => return response,
    };
    let state = shared.state();
    let users = state.users.oldest_first();
    let ordered: Box<dyn Iterator<Item = &UserRecord>> = if query.newest_first {
        Box::new(users.iter().rev())
    } else {
        Box::new(users.iter())
    };
    let page: Vec<Value> = ordered
        .filter(|user| query.matches(user))
        .skip(query.offset)
        .take(query.limit)
        .map(user_json)
        .collect();
    drop(state);
    Response::json(200, &Value::Array(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_strictly_and_saturate() {
        assert_eq!(parse_count("0"), Some(0));
        assert_eq!(parse_count("010"), Some(10));
        assert_eq!(parse_count(""), None);
        assert_eq!(parse_count("+1"), None);
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("1.0"), None);
        assert_eq!(parse_count(" 1"), None);
        assert_eq!(parse_count("99999999999999999999999"), Some(u64::MAX));
    }

    #[test]
    fn creation_times_strictly_increase() {
        let mut users = Users::default();
        assert_eq!(users.next_created_at(1000), 1000);
        assert_eq!(users.next_created_at(1000), 1001);
        assert_eq!(users.next_created_at(900), 1002);
        assert_eq!(users.next_created_at(5000), 5000);
    }
}
