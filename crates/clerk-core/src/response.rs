//! Turning any reply into a typed value or a typed error.
//!
//! The rules, for every operation:
//!
//! | status | body | result |
//! | --- | --- | --- |
//! | 2xx | JSON content type, body fits | `Ok(value)` |
//! | 2xx | JSON content type, body does not fit | [`Decode`](crate::ErrorKind::Decode) |
//! | 2xx | empty (204, or any empty body) | [`UnexpectedResponse`](crate::ErrorKind::UnexpectedResponse) |
//! | 2xx | no or non-JSON content type | `UnexpectedResponse` |
//! | 4xx, 5xx | Clerk's error shape, whatever the content type | [`Api`](crate::ErrorKind::Api) |
//! | 4xx, 5xx | anything else (HTML, empty, other JSON) | `UnexpectedResponse` |
//! | 1xx, 3xx, ≥ 600 | anything | `UnexpectedResponse` |
//!
//! Why:
//! - Every documented success is a JSON object; a 2xx without one cannot be
//!   turned into the promised value, and guessing would be worse. A 200
//!   with an empty body or a 204 is reported, not treated as success.
//! - A success body is decoded only when labelled JSON, so an HTML page from
//!   a captive portal is never mistaken for a credential. No excerpt of a
//!   2xx body is kept: it may hold one.
//! - An error body is recognised by its shape, not its label: a Clerk error
//!   body labelled `text/plain` is still Clerk's answer, and its codes and
//!   trace id are worth more than the label.
//! - Redirects are not followed by the adapters (the secret key must never
//!   reach another host), so a 3xx surfaces here as an unexpected reply.
//! - Content-type matching ignores case, whitespace and parameters, and
//!   accepts `application/json` and any `application/*+json`.

use std::borrow::Cow;

use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;

use crate::error::{
    ApiError, DecodeCategory, DecodeError, EXCERPT_BYTES, Error, ErrorKind, MAX_RETRY_AFTER,
    RetryAfter, UnexpectedResponse,
};
use crate::model::ClerkErrors;
use crate::redact::{redact, redact_clerk_errors};

/// The response header in which Clerk may put its trace id.
pub static CLERK_TRACE_ID: HeaderName = HeaderName::from_static("clerk-trace-id");

/// The longest trace id, in bytes, that is kept from a header; a longer one
/// is ignored rather than carried around.
const MAX_TRACE_ID_BYTES: usize = 256;

/// Parses a reply into `T`, or into the error that explains it, following
/// the rules of this module.
///
/// A [`Decode`](ErrorKind::Decode) error's message blanks every value the
/// decoder quotes from the body, names included; an operation that knows
/// its shape's field names keeps them with
/// [`parse_json_response_naming`]. It is public so an operation defined
/// outside this crate can read its replies as this crate's do.
///
/// # Errors
/// [`Api`](ErrorKind::Api), [`UnexpectedResponse`](ErrorKind::UnexpectedResponse)
/// or [`Decode`](ErrorKind::Decode), as the table above says.
pub fn parse_json_response<T, B>(response: &Response<B>) -> Result<T, Error>
where
    T: DeserializeOwned,
    B: AsRef<[u8]>,
{
    parse_json_response_naming(response, &[])
}

/// As [`parse_json_response`], keeping in a decode error's message the
/// names in `own_names` where the decoder quotes them in backticks
/// (``missing field `id` ``): the field names and tags of the shape `T`
/// decodes, which say what is wrong and hold nothing a server sent. Every
/// other quoted value is blanked.
///
/// ```
/// use clerk_core::{ErrorKind, parse_json_response_naming};
///
/// let reply = http::Response::builder()
///     .status(200)
///     .header("content-type", "application/json")
///     .body(br#"{"name":"ann@example.com"}"#.to_vec())
///     .unwrap();
/// #[derive(serde::Deserialize, Debug)]
/// struct Thing { #[allow(dead_code)] id: String }
/// let err = parse_json_response_naming::<Thing, _>(&reply, &["id"]).unwrap_err();
/// let ErrorKind::Decode(decode) = err.kind() else { unreachable!() };
/// assert_eq!(decode.message, "missing field `id`");
/// ```
///
/// # Errors
/// As [`parse_json_response`].
pub fn parse_json_response_naming<T, B>(
    response: &Response<B>,
    own_names: &[&str],
) -> Result<T, Error>
where
    T: DeserializeOwned,
    B: AsRef<[u8]>,
{
    let status = response.status();
    let headers = response.headers();
    let body = response.body().as_ref();
    if status.is_success() {
        if body.is_empty() || !has_json_content_type(headers) {
            return Err(unexpected(status, headers, body));
        }
        serde_json::from_slice(body).map_err(|e| decode_error(status, &e, own_names))
    } else if status.is_client_error() || status.is_server_error() {
        Err(error_response(status, headers, body))
    } else {
        Err(unexpected(status, headers, body))
    }
}

/// Decodes Clerk's error body, or `None` when the bytes are not that shape.
///
/// ```
/// let body = br#"{"errors":[{"message":"not found","long_message":"User not found","code":"resource_not_found"}]}"#;
/// let errors = clerk_core::parse_clerk_errors(body).unwrap();
/// assert_eq!(errors.errors[0].code, "resource_not_found");
/// assert!(clerk_core::parse_clerk_errors(b"<html>502</html>").is_none());
/// ```
pub fn parse_clerk_errors(body: &[u8]) -> Option<ClerkErrors> {
    if body.is_empty() {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// Reads a `Retry-After` header value: delta-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, and the obsolete forms RFC 9110 asks
/// recipients to accept). Anything else is `None`.
///
/// Seconds beyond [`MAX_RETRY_AFTER`] (a day), however many digits, read
/// as a day: no caller is handed a value that overflows when added to an
/// `Instant`. A date is kept as it is;
/// [`RetryAfter::delay_from`] clamps what it turns into.
///
/// ```
/// use std::time::Duration;
/// use clerk_core::{RetryAfter, parse_retry_after};
///
/// assert_eq!(parse_retry_after(b"7"), Some(RetryAfter::Delay(Duration::from_secs(7))));
/// assert!(matches!(parse_retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT"), Some(RetryAfter::At(_))));
/// assert_eq!(parse_retry_after(b"soon"), None);
/// ```
pub fn parse_retry_after(value: &[u8]) -> Option<RetryAfter> {
    let text = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        // Clamp absurd values instead of failing: they still mean "not now".
        let secs = text.parse::<u64>().unwrap_or(u64::MAX);
        return Some(RetryAfter::Delay(
            Duration::from_secs(secs).min(MAX_RETRY_AFTER),
        ));
    }
    httpdate::parse_http_date(text).ok().map(RetryAfter::At)
}

/// Whether a `Content-Type` value names JSON: `application/json` or
/// `application/<anything>+json`, in any case, with any parameters.
pub fn is_json_content_type(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    let essence = bytes
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let mut parts = essence.splitn(2, |&b| b == b'/');
    let (Some(kind), Some(subtype)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !kind.eq_ignore_ascii_case(b"application") || subtype.contains(&b'/') {
        return false;
    }
    if subtype.eq_ignore_ascii_case(b"json") {
        return true;
    }
    // `application/<name>+json`, with a non-empty name.
    subtype
        .len()
        .checked_sub(5)
        .filter(|&name_len| name_len > 0)
        .and_then(|name_len| subtype.split_at_checked(name_len))
        .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case(b"+json"))
}

fn has_json_content_type(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).is_some_and(is_json_content_type)
}

fn header_retry_after(headers: &HeaderMap) -> Option<RetryAfter> {
    parse_retry_after(headers.get(RETRY_AFTER)?.as_bytes())
}

/// A trace id from the header: kept only when it is short, made of the
/// characters trace ids use, and nothing like a credential.
fn header_trace_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(&CLERK_TRACE_ID)?.to_str().ok()?.trim();
    let plausible = !value.is_empty()
        && value.len() <= MAX_TRACE_ID_BYTES
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        && matches!(redact(value), Cow::Borrowed(_));
    plausible.then(|| value.to_owned())
}

fn error_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    match parse_clerk_errors(body) {
        Some(mut body) => {
            // Printed by Display, Debug and traces: nothing credential-shaped
            // a server echoes survives.
            redact_clerk_errors(&mut body);
            let trace_id = body
                .clerk_trace_id
                .as_deref()
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .or_else(|| header_trace_id(headers));
            Error::from_kind_after_one_attempt(ErrorKind::Api(ApiError {
                status,
                body,
                trace_id,
                retry_after: header_retry_after(headers),
            }))
        }
        None => unexpected(status, headers, body),
    }
}

fn unexpected(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let excerpt = if status.is_success() {
        String::new()
    } else {
        excerpt(body)
    };
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| redact(truncate_str(s, EXCERPT_BYTES)).into_owned());
    Error::from_kind_after_one_attempt(ErrorKind::UnexpectedResponse(UnexpectedResponse {
        status,
        content_type,
        body_len: body.len(),
        excerpt,
        trace_id: header_trace_id(headers),
        retry_after: header_retry_after(headers),
    }))
}

fn excerpt(body: &[u8]) -> String {
    let cut = body.get(..EXCERPT_BYTES).unwrap_or(body);
    let text = String::from_utf8_lossy(cut);
    // A multi-byte character cut in half at the end decodes as U+FFFD; that
    // is an honest rendering of an excerpt.
    text.into_owned()
}

fn truncate_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let end = (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    s.get(..end).unwrap_or_default()
}

fn decode_error(status: StatusCode, error: &serde_json::Error, own_names: &[&str]) -> Error {
    use serde_json::error::Category;
    let category = match error.classify() {
        Category::Eof => DecodeCategory::Eof,
        Category::Data => DecodeCategory::Data,
        Category::Syntax | Category::Io => DecodeCategory::Syntax,
    };
    Error::from_kind_after_one_attempt(ErrorKind::Decode(DecodeError {
        status,
        message: redact_decode_message(&error.to_string(), own_names),
        category,
        line: error.line(),
        column: error.column(),
    }))
}

/// Takes the position suffix off a decoder message and blanks every value
/// in it that came from the body. The decoder quotes the offending input,
/// in double quotes (`invalid type: string "…", expected i64`) or in
/// backticks (``invalid value: integer `…`, expected …``, ``unknown field
/// `…` ``), and either may be a credential or personal data. Backticked
/// values listed in `own_names` (the decoded shape's own field names) are
/// kept.
fn redact_decode_message(message: &str, own_names: &[&str]) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => message.get(..i).unwrap_or(message),
        None => message,
    };
    let mut out = String::with_capacity(message.len().min(256));
    let mut rest = message;
    while !rest.is_empty() && out.len() < 256 {
        let Some(open) = rest.find(['"', '`']) else {
            out.push_str(rest);
            break;
        };
        let (plain, quoted) = rest.split_at(open);
        out.push_str(plain);
        let quote = if quoted.starts_with('`') { '`' } else { '"' };
        let body = quoted.get(1..).unwrap_or_default();
        let (value, after) = match closing_quote(body, quote) {
            Some(close) => (
                body.get(..close).unwrap_or_default(),
                body.get(close + 1..).unwrap_or_default(),
            ),
            None => (body, ""),
        };
        out.push(quote);
        if quote == '`' && own_names.contains(&value) {
            out.push_str(value);
        } else {
            out.push('…');
        }
        out.push(quote);
        rest = after;
    }
    out
}

/// Where the quote that closes a quoted value is: double quotes may be
/// escaped with a backslash, backticks are not escaped by the decoder.
fn closing_quote(body: &str, quote: char) -> Option<usize> {
    if quote == '`' {
        return body.find('`');
    }
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SignInToken;

    fn ct(v: &'static str) -> HeaderValue {
        HeaderValue::from_static(v)
    }

    #[test]
    fn json_content_types() {
        for v in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "  application/json  ; x=y",
            "application/problem+json",
            "application/vnd.clerk+JSON",
        ] {
            assert!(is_json_content_type(&ct(v)), "{v}");
        }
        for v in [
            "text/plain",
            "text/json",
            "application/jsonp",
            "application/xml",
            "json",
            "application/",
            "application/+json",
            "",
            "text/html; charset=application/json",
        ] {
            assert!(!is_json_content_type(&ct(v)), "{v}");
        }
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after(b"0"),
            Some(RetryAfter::Delay(Duration::ZERO))
        );
        assert_eq!(
            parse_retry_after(b" 12 "),
            Some(RetryAfter::Delay(Duration::from_secs(12)))
        );
        assert_eq!(
            parse_retry_after(b"99999999999999999999999"),
            Some(RetryAfter::Delay(MAX_RETRY_AFTER))
        );
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        for date in [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed Oct 21 07:28:00 2015",
        ] {
            assert_eq!(
                parse_retry_after(date.as_bytes()),
                Some(RetryAfter::At(at)),
                "{date}"
            );
        }
        for bad in ["", "-1", "1.5", "soon", "\u{ff}", "12s"] {
            assert_eq!(parse_retry_after(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse_retry_after(&[0xff, 0x31]), None);
    }

    #[test]
    fn decode_messages_never_quote_values() {
        let body = br#"{"object":"sign_in_token","id":"x","status":"pending","user_id":"u","created_at":"sk_test_secret_in_wrong_place","updated_at":1}"#;
        let response = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .unwrap();
        let err = parse_json_response::<SignInToken, _>(&response).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("secret_in_wrong_place"), "{text}");
        let ErrorKind::Decode(d) = err.kind() else {
            panic!("{err:?}")
        };
        assert_eq!(d.category, DecodeCategory::Data);
        assert!(
            d.message.starts_with("invalid type: string"),
            "{}",
            d.message
        );
        assert_eq!(d.line, 1);
    }

    #[test]
    fn redaction_handles_escapes_and_unterminated_quotes() {
        const NAMES: &[&str] = crate::model::SIGN_IN_TOKEN_FIELDS;
        assert_eq!(
            redact_decode_message(
                r#"invalid type: string "a\"b", expected x at line 1 column 2"#,
                NAMES
            ),
            r#"invalid type: string "…", expected x"#
        );
        assert_eq!(redact_decode_message(r#"odd "abc"#, NAMES), r#"odd "…""#);
        assert_eq!(
            redact_decode_message("missing field `id` at line 1 column 9", NAMES),
            "missing field `id`"
        );
        // Backticked values a server sent are blanked; the crate's own names stay.
        assert_eq!(
            redact_decode_message(
                "invalid value: integer `4242424242`, expected the string `sign_in_token`",
                NAMES
            ),
            "invalid value: integer `…`, expected the string `sign_in_token`"
        );
        assert_eq!(
            redact_decode_message(
                "unknown field `sk_test_abc`, expected `id` or `object`",
                NAMES
            ),
            "unknown field `…`, expected `id` or `object`"
        );
        assert_eq!(redact_decode_message("odd `sk_live_x", NAMES), "odd `…`");
    }
}
