//! Point 5: ids and user ids that try path or header injection (CR/LF,
//! `../`, `%2F`, `?`, `#`, NUL, …) are percent-encoded into exactly one path
//! segment (revoke) or carried inside the JSON body (create), checked on the
//! wire: the raw request target, the exact header set, the decoded body.
//! Email addresses (and external ids) of a lookup are each one query value,
//! and the GET carries no body and no `Content-Length`.

use clerk_core::{CreateSignInToken, ErrorKind, ListUsers};
use clerk_mock::{MockServer, RecordedRequest};

use crate::{Adapter, AnyClient, client_for};

/// Ids that try to leave their path segment, add a query or a fragment,
/// end the request line, add a header, or smuggle an encoding.
const HOSTILE_IDS: &[&str] = &[
    "sit_1\r\nX-Injected: yes",
    "sit_1\nX-Injected: yes",
    "sit_1\rX-Injected: yes",
    "sit_1 HTTP/1.1\r\nHost: evil.example\r\n\r\nPOST /v1/sign_in_tokens",
    "../../v1/users",
    "../sign_in_tokens",
    "./sit_1",
    "sit_1/..",
    "sit_1/../../admin",
    "%2F",
    "..%2F..%2Fadmin",
    "%2e%2e",
    "%",
    "%%32%46",
    "sit_1%00",
    "sit_1?x=1",
    "sit_1?",
    "sit_1#frag",
    "#",
    "?",
    "/",
    "//evil.example/v1",
    "sit\0nul",
    "\0",
    "sit_1\t",
    " sit_1",
    "sit_1;x=1",
    "sit_1\\..\\admin",
    "sit_1&user_id=admin",
    "sit_1\"}",
    "é/ü",
    "\u{2028}\u{feff}",
    "...",
    "sit_AZaz09-._~",
];

/// Percent-encodes every byte but the unreserved ones (RFC 3986): written
/// here from the RFC, not taken from the code under test.
fn expected_segment(id: &str) -> String {
    let mut out = String::new();
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The header names in the order sent (lower case), and the values by name.
fn header_set(request: &RecordedRequest) -> Vec<(String, Vec<u8>)> {
    request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect()
}

/// Everything about a hostile request's headers that must match the
/// baseline's: the same names in the same order, the same values (but the
/// `Content-Length`, which must match the body).
fn assert_same_headers(context: &str, baseline: &RecordedRequest, request: &RecordedRequest) {
    let want = header_set(baseline);
    let got = header_set(request);
    let names = |set: &[(String, Vec<u8>)]| set.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "{context}: header names differ");
    for ((name, got_value), (_, want_value)) in got.iter().zip(&want) {
        if name == "content-length" {
            assert_eq!(
                got_value,
                request.body.len().to_string().as_bytes(),
                "{context}: Content-Length"
            );
        } else {
            assert_eq!(
                String::from_utf8_lossy(got_value),
                String::from_utf8_lossy(want_value),
                "{context}: the value of {name} changed"
            );
        }
        assert!(
            !got_value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "{context}: {name} carries CR, LF or NUL"
        );
    }
    assert!(
        request.header("x-injected").is_none(),
        "{context}: an injected header arrived"
    );
}

/// One request per call: the mock's log grows by exactly one.
fn only_new_request(mock: &MockServer, before: usize, context: &str) -> RecordedRequest {
    let requests = mock.requests();
    assert_eq!(requests.len(), before + 1, "{context}: {requests:?}");
    requests.last().cloned().unwrap()
}

#[test]
fn revoke_ids_are_one_percent_encoded_segment_on_the_wire() {
    for adapter in Adapter::ALL {
        let mock = MockServer::start();
        let client = client_for(adapter, &mock);
        let _ = client.revoke("sit_baseline").unwrap_err();
        let baseline = mock.requests().pop().unwrap();
        assert_eq!(baseline.path, "/v1/sign_in_tokens/sit_baseline/revoke");
        for id in HOSTILE_IDS {
            let context = format!("{adapter}, revoke {id:?}");
            let before = mock.requests().len();
            let error = client.revoke(id).unwrap_err();
            let request = only_new_request(&mock, before, &context);
            assert_eq!(request.method, "POST", "{context}");
            assert_eq!(
                request.path,
                format!("/v1/sign_in_tokens/{}/revoke", expected_segment(id)),
                "{context}: the request target"
            );
            assert!(request.body.is_empty(), "{context}");
            assert_same_headers(&context, &baseline, &request);
            // The mock split the path on `/` and decoded that one segment:
            // it looked up exactly this id, on the revoke route.
            assert_eq!(error.status().map(|s| s.as_u16()), Some(404), "{context}");
            let long_message = &error.clerk_errors()[0].long_message;
            assert_eq!(
                *long_message,
                format!("No sign in token was found with id {id}."),
                "{context}"
            );
        }
    }
}

#[test]
fn dot_segment_and_empty_ids_are_refused_before_sending() {
    for adapter in Adapter::ALL {
        let mock = MockServer::start();
        let client = client_for(adapter, &mock);
        for id in ["", ".", ".."] {
            let error = client.revoke(id).unwrap_err();
            assert_eq!(
                error.invalid_argument(),
                Some("sign_in_token_id"),
                "{adapter} {id:?}"
            );
            assert_eq!(error.attempts(), 0);
        }
        let error = client.create(CreateSignInToken::new("")).unwrap_err();
        assert_eq!(error.invalid_argument(), Some("user_id"));
        assert!(mock.requests().is_empty(), "{adapter}");
        assert_eq!(mock.connections_accepted(), 0, "{adapter}");
    }
}

fn create(client: &AnyClient, user_id: &str, org_id: Option<&str>) -> clerk_core::Error {
    let mut request = CreateSignInToken::new(user_id).with_expires_in_seconds(60);
    if let Some(org) = org_id {
        request = request.with_org_id(org);
    }
    client.create(request).unwrap_err()
}

#[test]
fn create_user_ids_travel_only_in_the_json_body() {
    let json_breakers = [
        r#"user_1","user_id":"user_admin"#,
        r#"user_1"}"#,
        r#"user_1\"#,
        "user_1\u{0}\"",
        "\u{7f}\u{1b}[2J",
    ];
    for adapter in Adapter::ALL {
        let mock = MockServer::start();
        let client = client_for(adapter, &mock);
        let _ = create(&client, "user_baseline", None);
        let baseline = mock.requests().pop().unwrap();
        assert_eq!(baseline.path, "/v1/sign_in_tokens");
        for user_id in HOSTILE_IDS.iter().chain(&json_breakers) {
            for org_id in [None, Some(*user_id)] {
                let context = format!("{adapter}, create {user_id:?} org {org_id:?}");
                let before = mock.requests().len();
                let error = create(&client, user_id, org_id);
                let request = only_new_request(&mock, before, &context);
                assert_eq!(request.method, "POST", "{context}");
                assert_eq!(request.path, "/v1/sign_in_tokens", "{context}");
                assert_same_headers(&context, &baseline, &request);
                let mut want = clerk_mock::serde_json::json!({
                    "user_id": user_id,
                    "expires_in_seconds": 60,
                });
                if let Some(org) = org_id {
                    want["org_id"] = org.into();
                }
                assert_eq!(request.json(), Some(want), "{context}: the body");
                // The mock read that user id from the body, and knew no such user.
                assert!(
                    matches!(error.kind(), ErrorKind::Api(_)),
                    "{context}: {error:?}"
                );
                assert_eq!(
                    error.clerk_errors()[0].long_message,
                    format!("No user was found with id {user_id}."),
                    "{context}"
                );
            }
        }
    }
}

/// Decodes a query value as a server does: `%XX` escapes only (a `+` left
/// raw would be read as a space by many servers, so it must not be there).
fn decode_query_value(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn lookup_values_are_one_query_value_each_on_the_wire() {
    let addresses: Vec<String> = HOSTILE_IDS
        .iter()
        .map(|id| format!("{id}@example.com"))
        .chain([
            "a+b@example.com".into(),
            "x&email_address=admin@example.com".into(),
        ])
        .collect();
    for adapter in Adapter::ALL {
        let mock = MockServer::start();
        let client = client_for(adapter, &mock);
        for by_email in [true, false] {
            let (operation, param) = if by_email {
                (
                    ListUsers::by_email_addresses(addresses.clone()),
                    "email_address",
                )
            } else {
                (ListUsers::by_external_ids(addresses.clone()), "external_id")
            };
            let context = format!("{adapter}, {param}");
            let before = mock.requests().len();
            // Whatever the mock answers, the request is what is checked.
            let _ = client.send(operation);
            let request = only_new_request(&mock, before, &context);
            assert_eq!(request.method, "GET", "{context}");
            let (path, query) = request.path.split_once('?').expect("a query");
            assert_eq!(path, "/v1/users", "{context}");
            assert!(
                !query.contains(['+', ' ', '#', '\r', '\n', '\0']),
                "{context}: {query}"
            );
            let pairs: Vec<(&str, &str)> = query
                .split('&')
                .map(|pair| pair.split_once('=').expect("name=value"))
                .collect();
            let sent: Vec<String> = pairs
                .iter()
                .filter(|(name, _)| *name == param)
                .map(|(_, value)| decode_query_value(value))
                .collect();
            assert_eq!(sent, addresses, "{context}: the values");
            assert_eq!(pairs.last(), Some(&("limit", "500")), "{context}");
            assert_eq!(pairs.len(), addresses.len() + 1, "{context}");
            assert!(request.body.is_empty(), "{context}");
            for header in ["content-length", "content-type", "transfer-encoding"] {
                assert!(
                    request.header(header).is_none(),
                    "{context}: a GET sent {header}"
                );
            }
            assert!(request.header("x-injected").is_none(), "{context}");
        }
    }
}
