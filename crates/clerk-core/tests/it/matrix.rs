//! Every status × body shape × content type, checked against the rules in
//! `clerk_core::response`, restated here independently.

use clerk_core::http::{Response, StatusCode};
use clerk_core::{CreateSignInToken, ErrorKind, Operation, RevokeSignInToken, SignInTokenStatus};

const TOKEN: &str = r#"{"object":"sign_in_token","id":"sit_26Ed5ZqqJcOjRwecRQij2ZovDdG","status":"pending","user_id":"user_26Ect5GuCCeaFWwSDiiKcgAGtVk","token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2ln","url":"https://example.accounts.dev/v1/tickets/accept?ticket=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2ln","created_at":1638000669544,"updated_at":1638000669544}"#;
const TOKEN_EXTRA: &str = r#"{"object":"sign_in_token","id":"sit_1","status":"expired","user_id":"user_1","url":null,"created_at":1,"updated_at":2,"future":{"a":[1,2,3]}}"#;
const CLERK_ERROR: &str = r#"{"errors":[{"message":"not found","long_message":"Resource not found","code":"resource_not_found"}],"clerk_trace_id":"trace-in-body"}"#;
const CLERK_ERROR_NO_TRACE: &str = r#"{"errors":[{"message":"is invalid","long_message":"expires_in_seconds must be at least 1","code":"form_param_value_invalid","meta":{"param_name":"expires_in_seconds"}}]}"#;
const OTHER_JSON: &str = r#"{"message":"upstream timeout"}"#;
const HTML: &str = "<html><body><h1>502 Bad Gateway</h1></body></html>";
const TRUNCATED: &str = r#"{"object":"sign_in_token","id":"sit_1","sta"#;
const WRONG_OBJECT: &str = r#"{"object":"user","id":"user_1","status":"pending","user_id":"user_1","created_at":1,"updated_at":2}"#;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Token,
    TokenExtra,
    ClerkError,
    ClerkErrorNoTrace,
    OtherJson,
    Html,
    Empty,
    Truncated,
    WrongObject,
}

impl Shape {
    const ALL: [Shape; 9] = [
        Shape::Token,
        Shape::TokenExtra,
        Shape::ClerkError,
        Shape::ClerkErrorNoTrace,
        Shape::OtherJson,
        Shape::Html,
        Shape::Empty,
        Shape::Truncated,
        Shape::WrongObject,
    ];

    fn body(self) -> &'static str {
        match self {
            Shape::Token => TOKEN,
            Shape::TokenExtra => TOKEN_EXTRA,
            Shape::ClerkError => CLERK_ERROR,
            Shape::ClerkErrorNoTrace => CLERK_ERROR_NO_TRACE,
            Shape::OtherJson => OTHER_JSON,
            Shape::Html => HTML,
            Shape::Empty => "",
            Shape::Truncated => TRUNCATED,
            Shape::WrongObject => WRONG_OBJECT,
        }
    }

    fn is_token(self) -> bool {
        matches!(self, Shape::Token | Shape::TokenExtra)
    }

    fn is_clerk_error(self) -> bool {
        matches!(self, Shape::ClerkError | Shape::ClerkErrorNoTrace)
    }
}

const CONTENT_TYPES: [Option<&str>; 7] = [
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("APPLICATION/JSON;Charset=UTF-8"),
    Some("application/problem+json"),
    Some("text/plain"),
    Some("text/html; charset=utf-8"),
    None,
];

const STATUSES: [u16; 22] = [
    100, 200, 201, 202, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403, 404, 408, 422, 429, 500,
    502, 503, 504,
];

#[derive(Debug, PartialEq)]
enum Expect {
    Ok,
    Api,
    Unexpected,
    Decode,
}

fn expected(status: u16, shape: Shape, content_type: Option<&str>) -> Expect {
    let json = content_type.is_some_and(|ct| {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    });
    match status {
        200..=299 if shape == Shape::Empty || !json => Expect::Unexpected,
        200..=299 if shape.is_token() => Expect::Ok,
        200..=299 => Expect::Decode,
        400..=599 if shape.is_clerk_error() => Expect::Api,
        _ => Expect::Unexpected,
    }
}

fn response(
    status: u16,
    shape: Shape,
    content_type: Option<&str>,
    trace_header: bool,
    retry_after: bool,
) -> Response<Vec<u8>> {
    let mut builder = Response::builder().status(status);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    if trace_header {
        builder = builder.header("clerk-trace-id", "trace-in-header");
    }
    if retry_after {
        builder = builder.header("retry-after", "2");
    }
    builder.body(shape.body().as_bytes().to_vec()).unwrap()
}

#[test]
fn every_status_body_and_content_type() {
    let mut cases = 0;
    for status in STATUSES {
        for shape in Shape::ALL {
            for content_type in CONTENT_TYPES {
                for (trace_header, retry_after) in [(false, false), (true, true)] {
                    let r = response(status, shape, content_type, trace_header, retry_after);
                    let want = expected(status, shape, content_type);
                    let create = CreateSignInToken::new("u").parse_response(&r);
                    let revoke = RevokeSignInToken::new("s").parse_response(&r);
                    for result in [create, revoke] {
                        let ctx = format!("{status} {shape:?} {content_type:?} {trace_header}");
                        check(
                            result,
                            &want,
                            status,
                            shape,
                            trace_header,
                            retry_after,
                            &ctx,
                        );
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(
        cases,
        STATUSES.len() * Shape::ALL.len() * CONTENT_TYPES.len() * 4
    );
}

fn check(
    result: Result<clerk_core::SignInToken, clerk_core::Error>,
    want: &Expect,
    status: u16,
    shape: Shape,
    trace_header: bool,
    retry_after: bool,
    ctx: &str,
) {
    match result {
        Ok(token) => {
            assert_eq!(want, &Expect::Ok, "{ctx}");
            if shape == Shape::TokenExtra {
                assert_eq!(token.status, SignInTokenStatus::Other("expired".into()));
                assert!(token.token.is_none() && token.url.is_none());
            } else {
                assert_eq!(token.id, "sit_26Ed5ZqqJcOjRwecRQij2ZovDdG");
                assert!(token.token.is_some());
            }
        }
        Err(e) => {
            assert_eq!(
                e.status(),
                Some(StatusCode::from_u16(status).unwrap()),
                "{ctx}"
            );
            assert_eq!(e.attempts(), 1, "{ctx}");
            let text = format!("{e} {e:?}");
            assert!(!text.contains("eyJ"), "credential leaked: {ctx}: {text}");
            match (e.kind(), want) {
                (ErrorKind::Api(api), Expect::Api) => {
                    let want_trace = match shape {
                        Shape::ClerkError => Some("trace-in-body"),
                        _ if trace_header => Some("trace-in-header"),
                        _ => None,
                    };
                    assert_eq!(api.trace_id.as_deref(), want_trace, "{ctx}");
                    assert_eq!(e.trace_id(), want_trace, "{ctx}");
                    assert_eq!(e.codes().count(), 1, "{ctx}");
                    assert_eq!(e.retry_after().is_some(), retry_after, "{ctx}");
                    assert_eq!(e.is_not_found(), status == 404);
                }
                (ErrorKind::UnexpectedResponse(u), Expect::Unexpected) => {
                    assert_eq!(u.body_len, shape.body().len(), "{ctx}");
                    if (200..300).contains(&status) {
                        assert!(u.excerpt.is_empty(), "{ctx}");
                    } else {
                        let body = shape.body();
                        assert_eq!(
                            u.excerpt,
                            &body[..body.len().min(clerk_core::EXCERPT_BYTES)],
                            "{ctx}"
                        );
                    }
                    assert_eq!(e.trace_id().is_some(), trace_header, "{ctx}");
                    assert_eq!(e.codes().count(), 0);
                }
                (ErrorKind::Decode(d), Expect::Decode) => {
                    assert!(d.line >= 1, "{ctx}");
                    assert!(!d.message.is_empty(), "{ctx}");
                }
                (kind, want) => panic!("{ctx}: got {kind:?}, want {want:?}"),
            }
        }
    }
}

#[test]
fn documented_clerk_errors_read_as_typed_errors() {
    let cases: [(u16, &str, &str, Option<&str>); 6] = [
        (404, "resource_not_found", "create: no such user", None),
        (
            422,
            "form_param_missing",
            "create: user_id missing",
            Some("user_id"),
        ),
        (
            422,
            "form_param_value_invalid",
            "create: bad lifetime",
            Some("expires_in_seconds"),
        ),
        (
            400,
            "sign_in_token_cannot_be_revoked_code",
            "revoke: not pending",
            None,
        ),
        (401, "authentication_invalid", "bad key", None),
        (403, "authorization_invalid", "key without permission", None),
    ];
    for (status, code, what, param) in cases {
        let meta = param.map_or(String::new(), |p| {
            format!(r#","meta":{{"param_name":"{p}"}}"#)
        });
        let body = format!(
            r#"{{"errors":[{{"message":"m","long_message":"{what}","code":"{code}"{meta}}}],"clerk_trace_id":"t1"}}"#
        );
        let r = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .unwrap();
        let e = CreateSignInToken::new("u").parse_response(&r).unwrap_err();
        assert!(e.has_code(code), "{what}");
        assert_eq!(e.clerk_errors()[0].param_name(), param);
        assert_eq!(e.trace_id(), Some("t1"));
        let shown = e.to_string();
        assert!(
            shown.contains(code) && shown.contains(what) && shown.contains("t1"),
            "{shown}"
        );
    }
}

#[test]
fn long_excerpts_are_bounded() {
    let body = "é".repeat(10_000);
    let r = Response::builder()
        .status(502)
        .header("content-type", "text/html")
        .body(body.into_bytes())
        .unwrap();
    let e = RevokeSignInToken::new("s").parse_response(&r).unwrap_err();
    let ErrorKind::UnexpectedResponse(u) = e.kind() else {
        panic!()
    };
    assert_eq!(u.body_len, 20_000);
    assert!(u.excerpt.len() <= clerk_core::EXCERPT_BYTES + 3);
    assert!(u.excerpt.starts_with("éé"));
}
