//! The Clerk behaviour: authentication, routing, the two sign-in token operations.

use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::RecordedRequest;
use crate::response::{ClerkError, Response, clerk_errors, too_many_requests};
use crate::server::{DEFAULT_EXPIRES_IN_SECONDS, Shared};
use crate::state::{State, TokenRecord, TokenStatus};
use crate::users;
use crate::util::{base64url, hex, now_ms, percent_decode};

/// Puts a request through the rate limiter, if the server has one: `Some(retry_after)` in
/// whole seconds if it is refused. Only requests that carry the server's secret key count; the
/// others belong to no instance and get their 401 from [`handle`]. The caller holds the state
/// lock from the limiter's decision until the request is recorded.
pub(crate) fn rate_limit(
    shared: &Shared,
    state: &mut State,
    request: &RecordedRequest,
) -> Option<u64> {
    let limiter = state.limiter.as_mut()?;
    if authenticate(request, &shared.config.secret_key).is_err() {
        return None;
    }
    let retry_after = limiter.admit(Instant::now()).err()?;
    state.rate_limited += 1;
    Some(retry_after)
}

/// Answers one request as Clerk would. `refused` is the rate limiter's verdict
/// ([`rate_limit`]): `Some(retry_after)` answers 429, after the key check and before routing,
/// so a refused request has no effect.
pub(crate) fn handle(shared: &Shared, request: &RecordedRequest, refused: Option<u64>) -> Response {
    if let Err(error) = authenticate(request, &shared.config.secret_key) {
        return clerk_errors(&shared.ids, 401, error);
    }
    if let Some(retry_after) = refused {
        return too_many_requests(&shared.ids, &retry_after.to_string());
    }
    let (path, query) = split_target(&request.path);
    let Some(rest) = path.strip_prefix('/') else {
        return not_found_route(shared, request);
    };
    // Split on the raw `/` first, then decode each segment: `sit%2Fx` is the one id `sit/x`.
    let segments: Vec<String> = rest.split('/').map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method.as_str();
    match segments.as_slice() {
        ["v1", "sign_in_tokens"] => match method {
            "POST" => create(shared, &request.body),
            _ => method_not_allowed(shared, request, "POST"),
        },
        ["v1", "sign_in_tokens", id, "revoke"] => match method {
            "POST" => revoke(shared, id),
            _ => method_not_allowed(shared, request, "POST"),
        },
        // HEAD is answered like GET, without the body.
        ["v1", "users"] => match method {
            "GET" | "HEAD" => users::list(shared, query.unwrap_or("")),
            _ => method_not_allowed(shared, request, "GET, HEAD"),
        },
        _ => not_found_route(shared, request),
    }
}

/// The path and the query of a request target: the absolute form's scheme and authority
/// and any fragment removed. The query is `None` without a `?`.
fn split_target(target: &str) -> (&str, Option<&str>) {
    let mut rest = target;
    for scheme in ["http://", "https://"] {
        if let Some(after) = strip_prefix_ignore_case(target, scheme) {
            rest = after.find(['/', '?', '#']).map_or("", |i| &after[i..]);
        }
    }
    let rest = rest.find('#').map_or(rest, |i| &rest[..i]);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    // An absolute-form target with no path names the root.
    (
        if path.is_empty() && rest.len() < target.len() {
            "/"
        } else {
            path
        },
        query,
    )
}

/// The path of a request target, for messages.
fn path_of(target: &str) -> &str {
    split_target(target).0
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Exactly one `Authorization` field, `Bearer <secret key>` (the scheme in any case).
fn authenticate(request: &RecordedRequest, secret_key: &str) -> Result<(), ClerkError> {
    let mut values = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.as_slice());
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ClerkError::new(
            "authentication_invalid",
            "Invalid authentication",
            "The request must carry exactly one Authorization header: \
             `Authorization: Bearer <secret key>`.",
        ));
    };
    let ok = value.len() == 7 + secret_key.len()
        && value[..7].eq_ignore_ascii_case(b"bearer ")
        && &value[7..] == secret_key.as_bytes();
    if ok {
        Ok(())
    } else {
        Err(ClerkError::new(
            "authentication_invalid",
            "Invalid authentication",
            "The secret key in the Authorization header is not valid for this instance.",
        ))
    }
}

fn not_found_route(shared: &Shared, request: &RecordedRequest) -> Response {
    clerk_errors(
        &shared.ids,
        404,
        ClerkError::new(
            "resource_not_found",
            "not found",
            format!(
                "No API route matches {} {}.",
                request.method,
                path_of(&request.path)
            ),
        ),
    )
}

/// 405, naming the route's methods (`allow`, as in an `Allow` header) in the message and
/// the `Allow` header.
fn method_not_allowed(shared: &Shared, request: &RecordedRequest, allow: &str) -> Response {
    clerk_errors(
        &shared.ids,
        405,
        ClerkError::new(
            "method_not_allowed",
            "method not allowed",
            format!(
                "{} is not allowed on {}; allowed: {allow}.",
                request.method,
                path_of(&request.path)
            ),
        ),
    )
    .header("Allow", allow)
}

fn unprocessable(shared: &Shared, error: ClerkError) -> Response {
    clerk_errors(&shared.ids, 422, error)
}

fn invalid_param(shared: &Shared, param: &str, long_message: &str) -> Response {
    unprocessable(
        shared,
        ClerkError::new("form_param_value_invalid", "is invalid", long_message).param(param),
    )
}

/// `POST /v1/sign_in_tokens`.
fn create(shared: &Shared, body: &[u8]) -> Response {
    let params: Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map,
            _ => {
                return unprocessable(
                    shared,
                    ClerkError::new(
                        "form_param_format_invalid",
                        "is invalid",
                        "The request body must be a JSON object.",
                    ),
                );
            }
        }
    };

    let user_id = match params.get("user_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return unprocessable(
                shared,
                ClerkError::new(
                    "form_param_missing",
                    "missing required parameter",
                    "user_id must be included.",
                )
                .param("user_id"),
            );
        }
        Some(_) => return invalid_param(shared, "user_id", "user_id must be a string."),
    };

    let lifetime_secs = match params.get("expires_in_seconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRES_IN_SECONDS,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|s| s >= 1) => {
            n.as_u64().unwrap_or(DEFAULT_EXPIRES_IN_SECONDS)
        }
        Some(_) => {
            return invalid_param(
                shared,
                "expires_in_seconds",
                "expires_in_seconds must be an integer greater than or equal to 1.",
            );
        }
    };

    let org_id = match params.get("org_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return invalid_param(shared, "org_id", "org_id must be a string."),
    };

    let mut state = shared.state();
    if !state.users.contains(&user_id) {
        drop(state);
        return clerk_errors(
            &shared.ids,
            404,
            ClerkError::new(
                "resource_not_found",
                "not found",
                format!("No user was found with id {user_id}."),
            ),
        );
    }
    if let Some(org) = &org_id
        && !state.is_member(org, &user_id)
    {
        drop(state);
        return invalid_param(
            shared,
            "org_id",
            "org_id must be an organization that exists and that the user is a member of.",
        );
    }

    let now = now_ms();
    let id = shared.ids.clerk_id("sit");
    let expires_at = now.saturating_add(lifetime_secs.saturating_mul(1000));
    let token = ticket(shared, &id, &user_id, now, expires_at);
    let url = format!(
        "https://{}/v1/tickets/accept?ticket={token}",
        shared.config.instance_host
    );
    let record = TokenRecord {
        id,
        user_id,
        org_id,
        status: TokenStatus::Pending,
        token,
        url,
        created_at: now,
        updated_at: now,
        expires_at,
    };
    let body = token_json(&record, true);
    state.insert_token(record);
    Response::json(200, &body)
}

/// A JWT-looking ticket: base64url header, payload and a random "signature".
fn ticket(shared: &Shared, id: &str, user_id: &str, now_ms: u64, expires_ms: u64) -> String {
    let header = json!({ "alg": "HS256", "typ": "JWT" });
    let payload = json!({
        "iss": format!("https://{}", shared.config.instance_host),
        "sub": user_id,
        "sid": id,
        "st": "sign_in_token",
        "iat": now_ms / 1000,
        "exp": expires_ms / 1000,
        "jti": hex(&shared.ids.bytes(10)),
    });
    format!(
        "{}.{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(payload.to_string().as_bytes()),
        base64url(&shared.ids.bytes(32)),
    )
}

/// The `SignInToken` object. With `with_ticket`, `token` and `url` are included; without,
/// `token` is left out and `url` is `null`, as in Clerk's answer to a revoke.
fn token_json(record: &TokenRecord, with_ticket: bool) -> Value {
    let mut object = Map::new();
    object.insert("object".to_owned(), Value::from("sign_in_token"));
    object.insert("id".to_owned(), Value::from(record.id.as_str()));
    object.insert("status".to_owned(), Value::from(record.status.as_str()));
    object.insert("user_id".to_owned(), Value::from(record.user_id.as_str()));
    if with_ticket {
        object.insert("token".to_owned(), Value::from(record.token.as_str()));
        object.insert("url".to_owned(), Value::from(record.url.as_str()));
    } else {
        object.insert("url".to_owned(), Value::Null);
    }
    object.insert("created_at".to_owned(), Value::from(record.created_at));
    object.insert("updated_at".to_owned(), Value::from(record.updated_at));
    Value::Object(object)
}

/// `POST /v1/sign_in_tokens/{id}/revoke`.
fn revoke(shared: &Shared, id: &str) -> Response {
    let mut state = shared.state();
    let Some(record) = state.token_mut(id) else {
        drop(state);
        return clerk_errors(
            &shared.ids,
            404,
            ClerkError::new(
                "resource_not_found",
                "not found",
                format!("No sign in token was found with id {id}."),
            ),
        );
    };
    if record.status != TokenStatus::Pending {
        let status = record.status.as_str();
        drop(state);
        return clerk_errors(
            &shared.ids,
            400,
            ClerkError::new(
                "sign_in_token_cannot_be_revoked_code",
                "cannot revoke",
                format!(
                    "Sign in token cannot be revoked because its status is {status}; \
                     only pending tokens can be revoked."
                ),
            ),
        );
    }
    record.status = TokenStatus::Revoked;
    record.touch(now_ms());
    let body = token_json(record, false);
    drop(state);
    Response::json(200, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_into_path_and_query() {
        assert_eq!(path_of("/v1/sign_in_tokens?x=1"), "/v1/sign_in_tokens");
        assert_eq!(path_of("http://127.0.0.1:1/v1/a#f"), "/v1/a");
        assert_eq!(path_of("HTTPS://host"), "/");
        assert_eq!(path_of("*"), "*");
        assert_eq!(path_of(""), "");
        assert_eq!(split_target("/v1/users"), ("/v1/users", None));
        assert_eq!(split_target("/v1/users?"), ("/v1/users", Some("")));
        assert_eq!(
            split_target("/v1/users?a=1&b=%3F?c#frag?x"),
            ("/v1/users", Some("a=1&b=%3F?c"))
        );
        assert_eq!(
            split_target("http://h:1/v1/users?limit=5"),
            ("/v1/users", Some("limit=5"))
        );
        assert_eq!(split_target("http://h:1?limit=5"), ("/", Some("limit=5")));
        assert_eq!(split_target("/a#b?c"), ("/a", None));
    }

    fn request_with_auth(values: &[&[u8]]) -> RecordedRequest {
        RecordedRequest {
            method: "POST".into(),
            path: "/v1/sign_in_tokens".into(),
            headers: values
                .iter()
                .map(|v| ("Authorization".to_owned(), v.to_vec()))
                .collect(),
            body: Vec::new(),
            rate_limited: false,
        }
    }

    #[test]
    fn authentication_needs_exactly_one_matching_bearer() {
        let key = "sk_test_k";
        assert!(authenticate(&request_with_auth(&[b"Bearer sk_test_k"]), key).is_ok());
        assert!(authenticate(&request_with_auth(&[b"bearer sk_test_k"]), key).is_ok());
        assert!(authenticate(&request_with_auth(&[]), key).is_err());
        assert!(authenticate(&request_with_auth(&[b"Bearer sk_test_x"]), key).is_err());
        assert!(authenticate(&request_with_auth(&[b"Basic sk_test_k"]), key).is_err());
        assert!(authenticate(&request_with_auth(&[b"Bearer  sk_test_k"]), key).is_err());
        assert!(authenticate(&request_with_auth(&[b"sk_test_k"]), key).is_err());
        assert!(authenticate(&request_with_auth(&[b"\xff\xfe"]), key).is_err());
        let twice: &[&[u8]] = &[b"Bearer sk_test_k", b"Bearer sk_test_k"];
        assert!(authenticate(&request_with_auth(twice), key).is_err());
    }
}
