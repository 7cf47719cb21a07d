//! Every fault, as seen on the wire.

use std::time::{Duration, Instant, SystemTime};

use clerk_mock::{Fault, MockServer, http_date};
use serde_json::json;

use crate::client::*;

fn server_with_user() -> (MockServer, String) {
    let server = MockServer::start();
    let user = server.create_user();
    let body = json!({"user_id": user}).to_string();
    (server, body)
}

#[test]
fn status_fault_has_a_clerk_body_and_no_effect() {
    let (server, body) = server_with_user();
    server.push_fault(Fault::status(
        500,
        "internal_clerk_error",
        "Something broke",
    ));
    let reply = create(&server, &body);
    let error = assert_clerk_error(&reply, 500, "internal_clerk_error");
    assert_eq!(error["message"], "Something broke");
    assert_eq!(error["long_message"], "Something broke");
    assert!(server.tokens().is_empty());
    assert_eq!(server.requests().len(), 1);
    // The queue is empty again: the next call is normal.
    assert_sign_in_token(&create(&server, &body));
}

#[test]
fn rate_limited_carries_retry_after_as_given() {
    let server = MockServer::start();
    let date = http_date(SystemTime::now() + Duration::from_secs(3));
    server.push_fault(Fault::RateLimited {
        retry_after: "2".into(),
    });
    server.push_fault(Fault::RateLimited {
        retry_after: date.clone(),
    });
    let mut client = Client::connect(&server);
    let reply = client.call("POST", "/v1/sign_in_tokens", "{}");
    assert_clerk_error(&reply, 429, "too_many_requests");
    assert_eq!(reply.header("retry-after"), Some("2"));
    let reply = client.call("POST", "/v1/sign_in_tokens", "{}");
    assert_clerk_error(&reply, 429, "too_many_requests");
    assert_eq!(reply.header("retry-after"), Some(date.as_str()));
    assert!(date.ends_with(" GMT"));
}

#[test]
fn service_unavailable_with_and_without_retry_after() {
    let server = MockServer::start();
    server.push_fault(Fault::ServiceUnavailable {
        retry_after: Some("5".into()),
    });
    server.push_fault(Fault::ServiceUnavailable { retry_after: None });
    let mut client = Client::connect(&server);
    let reply = client.call("POST", "/v1/sign_in_tokens", "{}");
    assert_clerk_error(&reply, 503, "service_unavailable");
    assert_eq!(reply.header("retry-after"), Some("5"));
    let reply = client.call("POST", "/v1/sign_in_tokens", "{}");
    assert_clerk_error(&reply, 503, "service_unavailable");
    assert_eq!(reply.header("retry-after"), None);
}

#[test]
fn html_502_is_not_a_clerk_body_and_keeps_the_connection() {
    let (server, body) = server_with_user();
    server.push_fault(Fault::Html502);
    let mut client = Client::connect(&server);
    let reply = client.create(&body);
    assert_eq!(reply.status, 502);
    assert_eq!(reply.header("content-type"), Some("text/html"));
    assert!(reply.header("clerk-trace-id").is_none());
    assert!(reply.text().contains("<html>"));
    assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_err());
    assert!(server.tokens().is_empty());
    assert_sign_in_token(&client.create(&body));
    assert_eq!(server.connections_accepted(), 1);
}

#[test]
fn empty_body_has_no_content_type() {
    let server = MockServer::start();
    server.push_fault(Fault::EmptyBody { status: 500 });
    let reply = call(&server, "POST", "/v1/sign_in_tokens", "{}");
    assert_eq!(reply.status, 500);
    assert_eq!(reply.header("content-length"), Some("0"));
    assert_eq!(reply.header("content-type"), None);
    assert!(reply.body.is_empty());
}

#[test]
fn delay_answers_late_but_the_request_takes_effect_at_once() {
    let (server, body) = server_with_user();
    let delay = Duration::from_millis(200);
    server.push_fault(Fault::Delay { delay });
    let mut client = Client::connect(&server);
    let started = Instant::now();
    client.send(
        "POST",
        "/v1/sign_in_tokens",
        &[&format!("Authorization: Bearer {}", server.secret_key())],
        body.as_bytes(),
    );
    // The token exists before the answer comes.
    while server.tokens().is_empty() {
        assert!(started.elapsed() < delay, "not created before the answer");
        std::thread::sleep(Duration::from_millis(1));
    }
    let reply = client.read_reply().unwrap();
    assert!(started.elapsed() >= delay);
    let body = assert_sign_in_token(&reply);
    assert_eq!(server.tokens()[0].id, body["id"].as_str().unwrap());
    assert!(Fault::Delay { delay }.takes_effect());
}

#[test]
fn slow_drip_sends_the_head_at_once_and_the_body_slowly() {
    let server = MockServer::start();
    let interval = Duration::from_millis(2);
    server.push_fault(Fault::SlowDrip { interval });
    let mut client = Client::connect(&server);
    let started = Instant::now();
    client.send("POST", "/v1/sign_in_tokens", &[], b"");
    let (status, headers) = client.read_head().unwrap();
    let head_time = started.elapsed();
    assert_eq!(status, 401);
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "Content-Length")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let body = client.read_body(length).unwrap();
    let body_time = started.elapsed() - head_time;
    assert!(head_time < body_time, "{head_time:?} vs {body_time:?}");
    assert!(body_time >= interval * (length as u32 - 1), "{body_time:?}");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["errors"][0]["code"], "authentication_invalid");
    // The connection is still good.
    client.send("POST", "/v1/x", &[], b"");
    assert_eq!(client.read_reply().unwrap().status, 401);
}

#[test]
fn reset_mid_body_ends_the_connection_early_after_taking_effect() {
    let (server, body) = server_with_user();
    server.push_fault(Fault::ResetMidBody);
    let mut client = Client::connect(&server);
    client.send(
        "POST",
        "/v1/sign_in_tokens",
        &[&format!("Authorization: Bearer {}", server.secret_key())],
        body.as_bytes(),
    );
    let (status, headers) = client.read_head().unwrap();
    assert_eq!(status, 200);
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "Content-Length")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let rest = client.read_to_close();
    assert!(!rest.is_empty());
    assert!(rest.len() < length, "{} of {length}", rest.len());
    assert_eq!(server.tokens().len(), 1);
}

#[test]
fn truncated_json_matches_its_length_but_does_not_parse() {
    let (server, body) = server_with_user();
    server.push_fault(Fault::TruncatedJson);
    let mut client = Client::connect(&server);
    let reply = client.create(&body);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.header("content-length"),
        Some(reply.body.len().to_string().as_str())
    );
    assert!(reply.body.starts_with(b"{"));
    assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_err());
    assert_eq!(server.tokens().len(), 1);
    // Framing was intact, so the connection goes on.
    assert_sign_in_token(&client.create(&body));
}

#[test]
fn oversized_bodies_have_exactly_the_size_asked() {
    let (server, body) = server_with_user();
    let big = 1_000_000;
    server.push_fault(Fault::Oversized { bytes: big });
    server.push_fault(Fault::Oversized { bytes: 5 });
    server.push_fault(Fault::Oversized { bytes: 14 });
    let mut client = Client::connect(&server);

    let reply = client.create(&body);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.body.len(), big);
    let value: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(value["padding"].as_str().unwrap().len(), big - 14);

    assert_eq!(client.create(&body).body, b"     ");
    assert_eq!(client.create(&body).body, br#"{"padding":""}"#);
    assert!(server.tokens().is_empty());
}

#[test]
fn oversized_body_can_be_abandoned_by_the_client() {
    let server = MockServer::start();
    server.push_fault(Fault::Oversized {
        bytes: 50 * 1024 * 1024,
    });
    let mut client = Client::connect(&server);
    client.send("POST", "/v1/sign_in_tokens", &[], b"");
    let (status, headers) = client.read_head().unwrap();
    assert_eq!(status, 200);
    assert!(headers.contains(&("Content-Length".into(), (50 * 1024 * 1024).to_string())));
    drop(client);
    // The server notices and is still healthy; shutting down does not wait on the stream.
    let started = Instant::now();
    assert_eq!(call(&server, "GET", "/v1/x", "").status, 404);
    server.shutdown();
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn wrong_content_type_keeps_the_body() {
    let (server, body) = server_with_user();
    server.push_fault(Fault::WrongContentType);
    let reply = create(&server, &body);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(reply.json()["object"], "sign_in_token");
    assert_eq!(server.tokens().len(), 1);
}

#[test]
fn redirect_has_a_location_and_no_body() {
    let server = MockServer::start();
    server.push_fault(Fault::Redirect {
        status: 307,
        location: "http://evil.invalid/v1/sign_in_tokens".into(),
    });
    let reply = call(&server, "POST", "/v1/sign_in_tokens", "{}");
    assert_eq!(reply.status, 307);
    assert_eq!(
        reply.header("location"),
        Some("http://evil.invalid/v1/sign_in_tokens")
    );
    assert_eq!(reply.header("content-length"), Some("0"));
    assert!(server.tokens().is_empty());
}

#[test]
fn raw_bytes_are_written_exactly_then_the_connection_closes() {
    let server = MockServer::start();
    let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort".to_vec();
    server.push_fault(Fault::Raw {
        bytes: bytes.clone(),
    });
    let mut client = Client::connect(&server);
    client.send("POST", "/v1/sign_in_tokens", &[], b"{}");
    assert_eq!(client.read_to_close(), bytes);

    server.push_fault(Fault::Raw { bytes: Vec::new() });
    let mut client = Client::connect(&server);
    client.send("POST", "/v1/sign_in_tokens", &[], b"{}");
    assert!(client.read_to_close().is_empty());
}

#[test]
fn faults_are_taken_first_in_first_out_by_any_request() {
    let (server, body) = server_with_user();
    server.push_faults(Fault::EmptyBody { status: 502 }, 2);
    server.push_fault(Fault::status(418, "teapot", "short and stout"));
    assert_eq!(server.pending_faults(), 3);
    let mut client = Client::connect(&server);
    // Faults apply before routing and authentication.
    assert_eq!(client.call("GET", "/elsewhere", "").status, 502);
    assert_eq!(client.create(&body).status, 502);
    assert_clerk_error(&client.create(&body), 418, "teapot");
    assert_eq!(server.pending_faults(), 0);
    assert_sign_in_token(&client.create(&body));
    assert_eq!(server.requests().len(), 4);
    assert_eq!(server.tokens().len(), 1);
    assert!(!Fault::EmptyBody { status: 502 }.takes_effect());
}

#[test]
fn header_values_from_faults_cannot_break_framing() {
    let server = MockServer::start();
    server.push_fault(Fault::RateLimited {
        retry_after: "1\r\nX-Injected: yes".into(),
    });
    let reply = call(&server, "POST", "/v1/sign_in_tokens", "{}");
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("1X-Injected: yes"));
    assert!(reply.header("x-injected").is_none());
}
