//! HTTP/1.1 behaviour: keep-alive, framing, limits, concurrency, the log, shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use clerk_mock::{Fault, MAX_BODY_BYTES, MAX_HEAD_BYTES, MockServer, UserSpec};
use serde_json::json;

use crate::client::*;

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let server = MockServer::start();
    let user = server.create_user();
    let mut client = Client::connect(&server);
    let created = assert_sign_in_token(&client.create(&json!({"user_id": user}).to_string()));
    let revoked = assert_sign_in_token(&client.revoke(created["id"].as_str().unwrap()));
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(server.connections_accepted(), 1);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn connection_close_is_honoured() {
    let server = MockServer::start();
    let mut client = Client::connect(&server);
    client.send("POST", "/v1/x", &["Connection: close"], b"");
    let reply = client.read_reply().unwrap();
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed());

    // HTTP/1.0 closes unless asked to keep alive.
    let mut client = Client::connect(&server);
    client.send_raw(b"GET /v1/x HTTP/1.0\r\n\r\n");
    let reply = client.read_reply().unwrap();
    assert!(reply.text().contains("authentication_invalid"));
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed());

    let mut client = Client::connect(&server);
    client.send_raw(b"GET /v1/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(
        client.read_reply().unwrap().header("connection"),
        Some("keep-alive")
    );
    client.send_raw(b"GET /v1/y HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert_eq!(client.read_reply().unwrap().status, 401);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = MockServer::start();
    let mut client = Client::connect(&server);
    client.send_raw(
        b"GET /v1/a HTTP/1.1\r\n\r\nPOST /v1/b HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}\
          GET /v1/c HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    for _ in 0..3 {
        assert_eq!(client.read_reply().unwrap().status, 401);
    }
    assert!(client.is_closed());
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/a", "/v1/b", "/v1/c"]);
    assert_eq!(server.requests()[1].body, b"{}");
}

#[test]
fn chunked_request_bodies_are_decoded() {
    let server = MockServer::start();
    let user = server.create_user();
    let body = json!({"user_id": user}).to_string();
    let (a, b) = body.split_at(5);
    let mut client = Client::connect(&server);
    let request = format!(
        "POST /v1/sign_in_tokens HTTP/1.1\r\nAuthorization: Bearer {}\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x};ext=1\r\n{a}\r\n{:X}\r\n{b}\r\n0\r\nX-Trailer: t\r\n\r\n",
        server.secret_key(),
        a.len(),
        b.len()
    );
    client.send_raw(request.as_bytes());
    assert_sign_in_token(&client.read_reply().unwrap());
    assert_eq!(server.requests()[0].body, body.as_bytes());
    // And the connection goes on.
    client.send("POST", "/v1/x", &[], b"");
    assert_eq!(client.read_reply().unwrap().status, 401);
}

#[test]
fn expect_continue_gets_an_interim_answer() {
    let server = MockServer::start();
    let mut client = Client::connect(&server);
    client.send_raw(b"POST /v1/x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    let (status, _) = client.read_head().unwrap();
    assert_eq!(status, 100);
    client.send_raw(b"{}");
    assert_eq!(client.read_reply().unwrap().status, 401);
    assert_eq!(server.requests()[0].body, b"{}");
}

#[test]
fn limits_and_malformed_requests_are_refused_and_not_recorded() {
    let server = MockServer::start();
    server.push_fault(Fault::Html502);

    // Body over the cap: 413 before reading it.
    let mut client = Client::connect(&server);
    client.send_raw(
        format!(
            "POST /v1/sign_in_tokens HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        )
        .as_bytes(),
    );
    let reply = client.read_reply().unwrap();
    assert_clerk_error(&reply, 413, "request_body_too_large");
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed());

    // Chunked body over the cap.
    let mut client = Client::connect(&server);
    client.send_raw(
        format!(
            "POST /v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            MAX_BODY_BYTES + 1
        )
        .as_bytes(),
    );
    assert_clerk_error(&client.read_reply().unwrap(), 413, "request_body_too_large");

    // Head over the cap.
    let mut client = Client::connect(&server);
    let long = "a".repeat(20 * 1024);
    client.send_raw(format!("GET /v1/x HTTP/1.1\r\nX-Long: {long}\r\n\r\n").as_bytes());
    assert_clerk_error(
        &client.read_reply().unwrap(),
        431,
        "request_header_fields_too_large",
    );

    // Too many fields.
    let mut client = Client::connect(&server);
    let many: String = (0..150).map(|i| format!("X-{i}: v\r\n")).collect();
    client.send_raw(format!("GET /v1/x HTTP/1.1\r\n{many}\r\n").as_bytes());
    assert_eq!(client.read_reply().unwrap().status, 431);

    // Garbage, ambiguous framing, unsupported coding, bad length.
    for (raw, status) in [
        (
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..],
            400,
        ),
        (
            b"POST /v1/x HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (
            b"POST /v1/x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
        ),
        (b"POST /v1/x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (
            b"POST /v1/x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
        ),
        (
            b"POST /v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
        ),
    ] {
        let mut client = Client::connect(&server);
        client.send_raw(raw);
        let reply = client.read_reply().unwrap();
        assert_eq!(reply.status, status, "{}", String::from_utf8_lossy(raw));
        assert_eq!(reply.header("connection"), Some("close"));
        assert!(client.is_closed());
    }

    // None of these was recorded or took the fault.
    assert!(server.requests().is_empty());
    assert_eq!(server.pending_faults(), 1);

    // Equal repeated lengths are fine.
    let mut client = Client::connect(&server);
    client.send_raw(b"POST /v1/x HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n{}");
    assert_eq!(client.read_reply().unwrap().status, 502);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_silent_connection_is_closed_after_the_read_timeout() {
    let server = MockServer::builder()
        .read_timeout(Duration::from_millis(100))
        .start();
    let mut client = Client::connect(&server);
    let started = Instant::now();
    assert!(client.is_closed());
    assert!(started.elapsed() < Duration::from_secs(3));

    // Half a request, then silence.
    let mut client = Client::connect(&server);
    client.send_raw(b"POST /v1/x HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"a\"");
    assert!(client.is_closed());
    assert!(server.requests().is_empty());
}

#[test]
fn thirty_two_concurrent_connections_are_served() {
    let server = Arc::new(MockServer::start());
    let user = server.create_user();
    let barrier = Arc::new(Barrier::new(32));
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let server = Arc::clone(&server);
            let barrier = Arc::clone(&barrier);
            let body = json!({"user_id": user}).to_string();
            thread::spawn(move || {
                let mut client = Client::connect(&server);
                barrier.wait();
                let reply = client.create(&body);
                assert_sign_in_token(&reply)["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
        })
        .collect();
    let mut ids: Vec<String> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 32);
    assert_eq!(server.tokens().len(), 32);
    assert_eq!(server.connections_accepted(), 32);
}

#[test]
fn seventy_connections_can_be_open_at_once() {
    let server = MockServer::start();
    // Open them all first, then use each: every one needs its own thread.
    let mut clients: Vec<Client> = (0..70).map(|_| Client::connect(&server)).collect();
    for client in &mut clients {
        client.send("GET", "/v1/x", &[], b"");
    }
    for client in &mut clients {
        assert_eq!(client.read_reply().unwrap().status, 401);
    }
    assert_eq!(server.connections_accepted(), 70);
}

#[test]
fn requests_are_recorded_in_order_with_headers_and_body() {
    let server = MockServer::start();
    let user = server.create_user();
    server.push_fault(Fault::ServiceUnavailable { retry_after: None });
    let mut client = Client::connect(&server);
    let body = json!({"user_id": user}).to_string();
    assert_eq!(client.create(&body).status, 503);
    assert_sign_in_token(&client.create(&body));
    client.send_raw(b"GET /v1/what%2Fever?x=1 HTTP/1.1\r\nX-Custom: caf\xe9\r\n\r\n");
    client.read_reply().unwrap();

    let log = server.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0], log[1]);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, "/v1/sign_in_tokens");
    assert_eq!(log[0].json(), Some(json!({"user_id": user})));
    assert_eq!(
        log[0].header("AUTHORIZATION"),
        Some(format!("Bearer {}", server.secret_key()).as_bytes())
    );
    assert_eq!(log[0].header_str("content-type"), Some("application/json"));
    assert_eq!(log[0].headers[0].0, "Host");
    assert_eq!(log[2].headers.len(), 1);
    assert_eq!(log[2].method, "GET");
    assert_eq!(log[2].path, "/v1/what%2Fever?x=1");
    assert_eq!(log[2].header("x-custom"), Some(&b"caf\xe9"[..]));
    assert_eq!(log[2].header_str("x-custom"), None);
    assert!(log[2].body.is_empty());
    assert_eq!(log[2].json(), None);
    let shown = format!("{log:?}");
    assert!(!shown.contains(server.secret_key()), "{shown}");
    assert!(!format!("{server:?}").contains(server.secret_key()));
    let builder = MockServer::builder().secret_key("sk_test_builder_secret");
    assert!(!format!("{builder:?}").contains("sk_test_builder_secret"));
}

#[test]
fn shutdown_is_prompt_with_open_connections_and_pending_delays() {
    let server = MockServer::start();
    let addr = server.addr();
    // An idle keep-alive connection, and one waiting out a long delay.
    let mut idle = Client::connect(&server);
    idle.send("GET", "/v1/x", &[], b"");
    idle.read_reply().unwrap();
    server.push_fault(Fault::Delay {
        delay: Duration::from_secs(60),
    });
    let mut delayed = Client::connect(&server);
    delayed.send("GET", "/v1/x", &[], b"");
    let started = Instant::now();
    while server.pending_faults() > 0 {
        assert!(started.elapsed() < Duration::from_secs(5));
        thread::sleep(Duration::from_millis(1));
    }

    let started = Instant::now();
    server.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(idle.is_closed());
    assert!(delayed.is_closed());
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn dropping_the_server_stops_it() {
    let server = MockServer::try_start().unwrap();
    let addr = server.addr();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(2));
    let mut buf = [0u8; 1];
    assert!(matches!(conn.read(&mut buf), Ok(0) | Err(_)));
    let _ = conn.write_all(b"GET / HTTP/1.1\r\n\r\n");
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn connections_over_the_limit_are_closed_at_once() {
    let server = MockServer::builder().max_connections(1).start();
    let mut first = Client::connect(&server);
    first.send("GET", "/v1/x", &[], b"");
    assert_eq!(first.read_reply().unwrap().status, 401);
    let mut second = Client::connect(&server);
    assert!(second.is_closed());
    // Once the first is gone, there is room again.
    drop(first);
    let started = Instant::now();
    loop {
        let mut next = Client::connect(&server);
        next.send("GET", "/v1/x", &[], b"");
        if let Ok(reply) = next.read_reply() {
            assert_eq!(reply.status, 401);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        thread::sleep(Duration::from_millis(5));
    }
}

/// Panics on the server's own threads, counted by a process-wide hook.
static SERVER_PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn garbage_never_panics_the_server() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if thread::current()
            .name()
            .is_some_and(|n| n.starts_with("clerk-mock"))
        {
            SERVER_PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        previous(info);
    }));

    let server = MockServer::builder()
        .read_timeout(Duration::from_millis(50))
        .start();
    let key = server.secret_key().to_owned();
    let user = server.create_user();
    let valid = format!(
        "POST /v1/sign_in_tokens/%2F%zz%/revoke HTTP/1.1\r\nAuthorization: Bearer {key}\r\n\
         Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
         POST /v1/sign_in_tokens HTTP/1.1\r\nAuthorization: Bearer {key}\r\n\
         Content-Length: 40\r\n\r\n{{\"user_id\":\"{user}\",\"org_id\":[1]}}"
    );
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let mut bytes = valid.as_bytes().to_vec();
        // Flip, cut and splice bytes of a valid exchange.
        for _ in 0..(next() % 6) {
            let i = (next() as usize) % bytes.len();
            bytes[i] = next() as u8;
        }
        if round % 3 == 0 {
            bytes.truncate((next() as usize) % bytes.len());
        }
        if round % 5 == 0 {
            let i = (next() as usize) % bytes.len();
            bytes.splice(i..i, b"\r\n\r\n0\r\n;;\r\n".iter().copied());
        }
        let mut conn = TcpStream::connect(server.addr()).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = conn.write_all(&bytes);
        let _ = conn.shutdown(std::net::Shutdown::Write);
        let _ = conn.read_to_end(&mut Vec::new());
    }
    // Still serving, and no server thread panicked.
    assert_sign_in_token(&create_for(&server, &user));
    server.shutdown();
    assert_eq!(SERVER_PANICS.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn the_query_reaches_the_route_in_every_target_form() {
    let server = MockServer::start();
    let user = server.insert_user(UserSpec::new().email("q@example.com"));
    server.create_user();
    let mut client = Client::connect(&server);
    let absolute = format!("http://{}/v1/users?limit=1", server.addr());
    for target in [
        "/v1/users?limit=1",
        "/v1/users?limit=1#fragment?limit=2",
        "/v1/users?email_address=q%40example.com",
        absolute.as_str(),
    ] {
        let users = assert_user_list(&client.call("GET", target, ""));
        assert_eq!(users.len(), 1, "{target}");
    }
    let found =
        assert_user_list(&client.call("GET", "/v1/users?email_address=q%40example.com", ""));
    assert_eq!(ids(&found), [user]);
    // An empty query is no query; a `?` in a value is part of it.
    assert_eq!(
        assert_user_list(&client.call("GET", "/v1/users?", "")).len(),
        2
    );
    assert!(assert_user_list(&client.call("GET", "/v1/users?email_address=a?b", "")).is_empty());
    // The path is matched without the query: `/v1/users/?x` is another route.
    assert_clerk_error(
        &client.call("GET", "/v1/users/?limit=1", ""),
        404,
        "resource_not_found",
    );
    assert_eq!(server.connections_accepted(), 1);
}

/// A `GET /v1/users` request for `count` addresses of `len` bytes each, all percent-encoded,
/// with a `limit`.
fn long_lookup(key: &str, count: usize, len: usize) -> (String, String) {
    let query: Vec<String> = (0..count)
        .map(|i| {
            let local = format!("{i:03}{}", "x".repeat(len.saturating_sub(16)));
            format!("email_address={}", encode(&format!("{local}@example.com")))
        })
        .collect();
    let target = format!("/v1/users?{}&limit=500", query.join("&"));
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\r\n");
    (target, request)
}

#[test]
fn a_long_lookup_url_is_served_up_to_the_head_cap_and_refused_with_414_beyond() {
    let server = MockServer::start();
    let key = server.secret_key().to_owned();
    // 100 addresses of 120 bytes: a 14 KiB target, under the 16 KiB head cap.
    let (target, request) = long_lookup(&key, 100, 120);
    assert!(
        target.len() > 12 * 1024 && request.len() < MAX_HEAD_BYTES,
        "{}",
        request.len()
    );
    let mut client = Client::connect(&server);
    client.send_raw(request.as_bytes());
    assert!(assert_user_list(&client.read_reply().unwrap()).is_empty());
    assert_eq!(
        server.requests()[0].query_values("email_address").len(),
        100
    );

    // Over the cap because of the URL: a clean 414 (not a reset), then the connection closes.
    for (count, len) in [(100, 200), (100, 1000)] {
        let (target, request) = long_lookup(&key, count, len);
        assert!(target.len() > MAX_HEAD_BYTES);
        let mut client = Client::connect(&server);
        client.send_raw(request.as_bytes());
        let reply = client.read_reply().unwrap();
        let error = assert_clerk_error(&reply, 414, "uri_too_long");
        assert_eq!(reply.header("connection"), Some("close"));
        assert!(error["long_message"].as_str().unwrap().contains("16384"));
        // Personal data is not echoed.
        assert!(!reply.text().contains("example.com"));
        assert!(client.is_closed());
    }
    // Over the cap because of the header fields: 431, as before.
    let mut client = Client::connect(&server);
    let long = "a".repeat(MAX_HEAD_BYTES);
    client.send_raw(format!("GET /v1/users?limit=1 HTTP/1.1\r\nX-Long: {long}\r\n\r\n").as_bytes());
    assert_clerk_error(
        &client.read_reply().unwrap(),
        431,
        "request_header_fields_too_large",
    );
    // Refused heads are not recorded.
    assert_eq!(server.requests().len(), 1);
    // A request that ends in time after a refused one on another connection is served.
    assert!(assert_user_list(&list_users(&server, "limit=1")).is_empty());
}
