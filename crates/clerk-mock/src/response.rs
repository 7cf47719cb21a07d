//! An answer before it is written, and Clerk-shaped error bodies.

use serde_json::{Map, Value, json};

use crate::util::{IdGen, header_safe};

/// An HTTP response the server is about to write. `Date`, `Content-Length` and `Connection`
/// are added when it is written.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
    /// Close the connection after this answer, whatever the client asked for.
    pub(crate) close: bool,
}

impl Response {
    pub(crate) fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    pub(crate) fn json(status: u16, body: &Value) -> Self {
        // Serializing a `Value` cannot fail: its map keys are strings.
        let body = serde_json::to_vec(body).unwrap_or_default();
        Self::new(status)
            .header("Content-Type", "application/json")
            .body(body)
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, header_safe(value)));
        self
    }

    pub(crate) fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// Replaces every `Content-Type` header with `value`.
    pub(crate) fn set_content_type(&mut self, value: &str) {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        self.headers.push(("Content-Type", value.to_owned()));
    }
}

/// One entry of a Clerk error body.
#[derive(Debug)]
pub(crate) struct ClerkError {
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) long_message: String,
    pub(crate) meta: Option<Map<String, Value>>,
}

impl ClerkError {
    pub(crate) fn new(code: &str, message: &str, long_message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.to_owned(),
            long_message: long_message.into(),
            meta: None,
        }
    }

    /// Adds `meta: {"param_name": <param>}`.
    pub(crate) fn param(mut self, param: &str) -> Self {
        let mut meta = Map::new();
        meta.insert("param_name".to_owned(), Value::from(param));
        self.meta = Some(meta);
        self
    }
}

/// A response with a `ClerkErrors` body:
/// `{"errors":[{"message","long_message","code"(,"meta")}],"clerk_trace_id"}`, plus a
/// `Clerk-Trace-Id` header with the same id.
pub(crate) fn clerk_errors(ids: &IdGen, status: u16, error: ClerkError) -> Response {
    let trace_id = ids.trace_id();
    let mut entry = Map::new();
    entry.insert("message".to_owned(), Value::from(error.message));
    entry.insert("long_message".to_owned(), Value::from(error.long_message));
    entry.insert("code".to_owned(), Value::from(error.code));
    if let Some(meta) = error.meta {
        entry.insert("meta".to_owned(), Value::Object(meta));
    }
    let body = json!({ "errors": [Value::Object(entry)], "clerk_trace_id": trace_id });
    Response::json(status, &body).header("Clerk-Trace-Id", &trace_id)
}

/// Clerk's answer to a request over the rate limit: 429, code `too_many_requests`, and
/// `Retry-After: <retry_after>`.
pub(crate) fn too_many_requests(ids: &IdGen, retry_after: &str) -> Response {
    let error = ClerkError::new(
        "too_many_requests",
        "Too many requests",
        "Too many requests, retry later.",
    );
    clerk_errors(ids, 429, error).header("Retry-After", retry_after)
}

/// The reason phrase for a status code (any code gets one).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
