//! The rate limit: a fixed window per secret key, off unless asked for.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use clerk_mock::{Fault, MockServer, RateLimit};
use serde_json::json;

use crate::client::*;

/// A long window, so that everything a test sends falls into one window however slow the
/// machine is: counts can then be asserted exactly.
const LONG: Duration = Duration::from_secs(60);

fn limited(limit: u32, window: Duration) -> (MockServer, String) {
    let server = MockServer::builder()
        .rate_limit(RateLimit::new(limit, window))
        .start();
    let user = server.create_user();
    let body = json!({ "user_id": user }).to_string();
    (server, body)
}

fn retry_after(reply: &Reply) -> u64 {
    let value = reply.header("retry-after").expect("Retry-After");
    value.parse().unwrap_or_else(|_| panic!("{value:?}"))
}

fn refused_in_log(server: &MockServer) -> usize {
    server.requests().iter().filter(|r| r.rate_limited).count()
}

#[test]
fn the_limit_is_reached_exactly_at_n_and_retry_after_is_rounded_up() {
    let (server, body) = limited(5, LONG);
    let mut client = Client::connect(&server);
    let before = Instant::now();
    for _ in 0..5 {
        assert_sign_in_token(&client.create(&body));
    }
    let reply = client.create(&body);
    let elapsed = before.elapsed();

    let error = assert_clerk_error(&reply, 429, "too_many_requests");
    assert_eq!(error["message"], "Too many requests");
    // The window started at the first request, after `before`, and ends 60 s later, so
    // 60 s - elapsed < what is left <= 60 s; rounded up, that is 60 unless the machine took
    // over a second for six requests (rounding down would give 59).
    let floor = (LONG - elapsed).as_secs_f64().ceil() as u64;
    let seconds = retry_after(&reply);
    assert!(
        (floor..=60).contains(&seconds),
        "{seconds} (elapsed {elapsed:?})"
    );
    // The connection stays usable.
    assert_eq!(reply.header("connection"), Some("keep-alive"));

    // The refused request had no effect, and is counted and marked.
    assert_eq!(server.tokens().len(), 5);
    assert_eq!(server.rate_limited_count(), 1);
    let log = server.requests();
    assert_eq!(log.len(), 6);
    assert!(log[..5].iter().all(|r| !r.rate_limited));
    assert!(log[5].rate_limited);
    assert!(format!("{:?}", log[5]).contains("rate_limited: true"));
}

#[test]
fn retry_after_is_whole_seconds_never_zero() {
    // Less than a second is left of a 400 ms window: Retry-After is 1, not 0.
    let (server, body) = limited(1, Duration::from_millis(400));
    let mut client = Client::connect(&server);
    assert_sign_in_token(&client.create(&body));
    let reply = client.create(&body);
    assert_clerk_error(&reply, 429, "too_many_requests");
    assert_eq!(reply.header("retry-after"), Some("1"));
}

#[test]
fn a_refused_request_does_not_take_effect() {
    let (server, body) = limited(1, LONG);
    let token = assert_sign_in_token(&create(&server, &body));
    let id = token["id"].as_str().unwrap();

    let reply = revoke(&server, id);
    assert_clerk_error(&reply, 429, "too_many_requests");
    assert_eq!(server.token_status(id).as_deref(), Some("pending"));
    assert_clerk_error(&create(&server, &body), 429, "too_many_requests");
    assert_eq!(server.tokens().len(), 1);
    assert_eq!(server.rate_limited_count(), 2);
    assert_eq!(refused_in_log(&server), 2);
}

#[test]
fn a_new_window_lets_requests_through_again() {
    let window = Duration::from_millis(300);
    let (server, body) = limited(2, window);
    let mut client = Client::connect(&server);
    assert_sign_in_token(&client.create(&body));
    assert_sign_in_token(&client.create(&body));
    let reply = client.create(&body);
    assert_clerk_error(&reply, 429, "too_many_requests");
    assert_eq!(reply.header("retry-after"), Some("1"));

    // The window began before the refusal, so it is over once `window` has passed since.
    thread::sleep(window);
    assert_sign_in_token(&client.create(&body));
    assert_sign_in_token(&client.create(&body));
    assert_eq!(server.tokens().len(), 4);
    assert_eq!(server.rate_limited_count(), 1);
    assert_eq!(refused_in_log(&server), 1);
}

#[test]
fn only_requests_with_the_secret_key_count() {
    let (server, body) = limited(2, LONG);
    let mut client = Client::connect(&server);
    let wrong = "Authorization: Bearer sk_test_not_this_instance";
    // No key or a wrong key: 401, and the window is untouched.
    for headers in [&[][..], &[wrong][..], &[wrong][..]] {
        client.send("POST", "/v1/sign_in_tokens", headers, body.as_bytes());
        let reply = client.read_reply().unwrap();
        assert_clerk_error(&reply, 401, "authentication_invalid");
    }
    // With the key, any request counts, an unknown route too.
    assert_clerk_error(
        &client.call("GET", "/v1/nowhere", ""),
        404,
        "resource_not_found",
    );
    assert_sign_in_token(&client.create(&body));
    assert_clerk_error(&client.create(&body), 429, "too_many_requests");
    // Over the limit, a wrong key still gets its 401 rather than a 429.
    client.send("POST", "/v1/sign_in_tokens", &[wrong], body.as_bytes());
    let reply = client.read_reply().unwrap();
    assert_clerk_error(&reply, 401, "authentication_invalid");
    assert_eq!(server.rate_limited_count(), 1);
    assert_eq!(refused_in_log(&server), 1);
}

#[test]
fn each_server_limits_its_own_key() {
    // A server has one secret key, hence one window; two servers never share one, even with
    // the same key.
    let (first, first_body) = limited(1, LONG);
    let second = MockServer::builder()
        .rate_limit(RateLimit::new(1, LONG))
        .start();
    assert_eq!(first.secret_key(), second.secret_key());
    let second_body = json!({ "user_id": second.create_user() }).to_string();
    assert_sign_in_token(&create(&first, &first_body));
    assert_clerk_error(&create(&first, &first_body), 429, "too_many_requests");
    assert_sign_in_token(&create(&second, &second_body));
    assert_eq!(second.rate_limited_count(), 0);
}

#[test]
fn scripted_faults_come_first() {
    let (server, body) = limited(1, LONG);
    let mut client = Client::connect(&server);

    // A replacing fault answers in front of the API: the request does not count.
    server.push_fault(Fault::status(500, "internal_clerk_error", "Oops"));
    assert_clerk_error(&client.create(&body), 500, "internal_clerk_error");
    assert_sign_in_token(&client.create(&body));
    // Over the limit now, but a replacing fault still answers as scripted...
    server.push_fault(Fault::Html502);
    assert_eq!(client.create(&body).status, 502);
    // ...and a scripted 429 keeps its own Retry-After and is not the limiter's.
    server.push_fault(Fault::RateLimited {
        retry_after: "7".into(),
    });
    let reply = client.create(&body);
    assert_clerk_error(&reply, 429, "too_many_requests");
    assert_eq!(reply.header("retry-after"), Some("7"));
    assert_eq!(server.rate_limited_count(), 0);

    // An altering fault lets the request reach the API, where the limiter refuses it; the
    // fault then spoils that answer.
    server.push_fault(Fault::WrongContentType);
    let reply = client.create(&body);
    assert_eq!(reply.status, 429);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(reply.header("retry-after").is_some());
    assert_eq!(server.rate_limited_count(), 1);

    let marks: Vec<bool> = server.requests().iter().map(|r| r.rate_limited).collect();
    assert_eq!(marks, [false, false, false, false, true]);
    assert_eq!(server.tokens().len(), 1);
}

#[test]
fn concurrent_requests_never_get_past_the_limit() {
    const LIMIT: u32 = 40;
    const THREADS: usize = 16;
    const EACH: usize = 8;
    let (server, body) = limited(LIMIT, LONG);
    let server = Arc::new(server);
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (server, body, start) = (Arc::clone(&server), body.clone(), Arc::clone(&start));
            thread::spawn(move || {
                let mut client = Client::connect(&server);
                start.wait();
                (0..EACH)
                    .map(|_| client.create(&body).status)
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let statuses: Vec<u16> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();

    let total = THREADS * EACH;
    let admitted = statuses.iter().filter(|&&s| s == 200).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(admitted, LIMIT as usize, "{statuses:?}");
    assert_eq!(refused, total - LIMIT as usize, "{statuses:?}");
    assert_eq!(server.tokens().len(), LIMIT as usize);
    assert_eq!(server.rate_limited_count(), refused);
    // The log is in the order of the limiter's decisions: the first LIMIT were let through.
    let log = server.requests();
    assert_eq!(log.len(), total);
    assert!(log[..LIMIT as usize].iter().all(|r| !r.rate_limited));
    assert!(log[LIMIT as usize..].iter().all(|r| r.rate_limited));
}

#[test]
fn off_by_default() {
    let server = MockServer::start();
    assert_eq!(server.rate_limit(), None);
    let body = json!({ "user_id": server.create_user() }).to_string();
    let mut client = Client::connect(&server);
    // More than Clerk's development limit, at once: all served.
    let requests = RateLimit::DEVELOPMENT.limit() as usize + 1;
    for _ in 0..requests {
        assert_sign_in_token(&client.create(&body));
    }
    assert_eq!(server.tokens().len(), requests);
    assert_eq!(server.rate_limited_count(), 0);
    assert_eq!(refused_in_log(&server), 0);
}
