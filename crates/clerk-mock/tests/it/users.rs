//! `GET /v1/users`: users with email addresses and external ids, filters, paging, errors.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use clerk_mock::{Fault, MockServer, RateLimit, UserSpec};
use serde_json::json;

use crate::client::*;

/// `email_address=<encoded>` for each address, joined by `&`.
fn emails_query(addresses: &[&str]) -> String {
    addresses
        .iter()
        .map(|a| format!("email_address={}", encode(a)))
        .collect::<Vec<_>>()
        .join("&")
}

#[test]
fn a_user_is_found_by_any_of_its_addresses_in_any_case() {
    let server = MockServer::start();
    let ann = server.insert_user(
        UserSpec::new()
            .email("Ann@Example.com")
            .email("ann.work@example.com")
            .external_id("crm-42")
            .names("Ann", "Example"),
    );
    assert_clerk_id(&ann, "user");
    let bob = server.insert_user(UserSpec::new().email("bob@example.com"));
    assert_clerk_id(&bob, "user");

    for address in ["ann@example.com", "ANN@EXAMPLE.COM", "Ann.Work@Example.com"] {
        let users = assert_user_list(&list_users(&server, &emails_query(&[address])));
        assert_eq!(ids(&users), [ann.as_str()], "{address}");
        let user = &users[0];
        assert_eq!(user["first_name"], "Ann");
        assert_eq!(user["last_name"], "Example");
        assert_eq!(user["external_id"], "crm-42");
        // Addresses are kept as written, the first one primary.
        let emails = user["email_addresses"].as_array().unwrap();
        assert_eq!(emails.len(), 2);
        assert_eq!(emails[0]["email_address"], "Ann@Example.com");
        assert_eq!(emails[1]["email_address"], "ann.work@example.com");
        assert_eq!(user["primary_email_address_id"], emails[0]["id"]);
        assert_ne!(emails[0]["id"], emails[1]["id"]);
    }
    // Unknown addresses are ignored; a filter that matches nothing gives an empty list,
    // never everyone.
    let both = assert_user_list(&list_users(
        &server,
        &emails_query(&["nobody@example.com", "bob@example.com", "ann@example.com"]),
    ));
    assert_eq!(ids(&both), [bob.as_str(), ann.as_str()]);
    let none = list_users(&server, &emails_query(&["nobody@example.com"]));
    assert_eq!(none.text(), "[]");
    // An empty value matches no one.
    assert!(assert_user_list(&list_users(&server, "email_address=")).is_empty());
    // A user found by two of its addresses is listed once.
    let once = assert_user_list(&list_users(
        &server,
        &emails_query(&["ann@example.com", "ann.work@example.com", "ANN@example.com"]),
    ));
    assert_eq!(ids(&once), [ann.as_str()]);
    // Inserted users take sign-in tokens like any other.
    assert_sign_in_token(&create_for(&server, &ann));
}

#[test]
fn users_without_addresses_are_listed_but_never_found_by_address() {
    let server = MockServer::start();
    let created = server.create_user();
    server.add_user("user_by_hand");
    server.add_user("user_by_hand"); // harmless
    let users = assert_user_list(&list_users(&server, ""));
    assert_eq!(users.len(), 2);
    let by_hand = &users[0];
    assert_eq!(by_hand["id"], "user_by_hand");
    assert_eq!(users[1]["id"], created.as_str());
    for user in &users {
        assert_eq!(user["email_addresses"], json!([]));
        assert!(user["primary_email_address_id"].is_null());
        assert!(user["external_id"].is_null());
        assert!(user["first_name"].is_null());
    }
    assert!(assert_user_list(&list_users(&server, "email_address=")).is_empty());
    assert!(assert_user_list(&list_users(&server, "external_id=")).is_empty());
}

#[test]
fn two_users_may_share_an_address() {
    let server = MockServer::start();
    let first = server.insert_user(UserSpec::new().email("shared@example.com"));
    let second = server.insert_user(UserSpec::new().email("SHARED@example.com"));
    let users = assert_user_list(&list_users(&server, "email_address=shared%40example.com"));
    assert_eq!(ids(&users), [second, first]);
}

#[test]
fn reinserting_an_id_replaces_the_details_and_keeps_the_place() {
    let server = MockServer::start();
    let id = server.insert_user(UserSpec::new().id("user_a").email("old@example.com"));
    server.insert_user(UserSpec::new().id("user_b"));
    let before = assert_user_list(&list_users(&server, "email_address=old%40example.com"));
    server.insert_user(UserSpec::new().id(&id).email("new@example.com"));
    assert!(assert_user_list(&list_users(&server, "email_address=old%40example.com")).is_empty());
    let after = assert_user_list(&list_users(&server, "email_address=new%40example.com"));
    assert_eq!(ids(&after), [id]);
    assert_eq!(after[0]["created_at"], before[0]["created_at"]);
    assert!(after[0]["updated_at"].as_u64() > before[0]["updated_at"].as_u64());
    assert_eq!(
        ids(&assert_user_list(&list_users(&server, ""))),
        ["user_b", "user_a"]
    );
}

#[test]
fn the_default_page_is_the_ten_newest_users() {
    let server = MockServer::start();
    let inserted: Vec<String> = (0..25)
        .map(|i| server.insert_user(UserSpec::new().email(format!("u{i}@example.com"))))
        .collect();
    let newest_first: Vec<String> = inserted.iter().rev().cloned().collect();

    let page = assert_user_list(&list_users(&server, ""));
    assert_eq!(ids(&page), newest_first[..10]);
    let created: Vec<i64> = page
        .iter()
        .map(|u| u["created_at"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] > w[1]), "{created:?}");

    // The trap: 25 addresses in one request without a `limit` get 10 users back.
    let all: Vec<String> = (0..25).map(|i| format!("u{i}@example.com")).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let capped = assert_user_list(&list_users(&server, &emails_query(&all)));
    assert_eq!(ids(&capped), newest_first[..10]);
    let full = assert_user_list(&list_users(
        &server,
        &format!("{}&limit=25", emails_query(&all)),
    ));
    assert_eq!(ids(&full), newest_first);

    // `order_by` is understood for creation time only.
    let oldest = assert_user_list(&list_users(&server, "order_by=%2Bcreated_at&limit=3"));
    assert_eq!(ids(&oldest), inserted[..3]);
    let oldest = assert_user_list(&list_users(&server, "order_by=created_at&limit=3"));
    assert_eq!(ids(&oldest), inserted[..3]);
    let newest = assert_user_list(&list_users(&server, "order_by=-created_at&limit=3"));
    assert_eq!(ids(&newest), newest_first[..3]);
}

#[test]
fn limit_and_offset_page_through_the_matches() {
    let server = MockServer::start();
    let inserted: Vec<String> = (0..23)
        .map(|i| {
            let mut spec = UserSpec::new().email(format!("p{i}@example.com"));
            if i % 2 == 0 {
                spec = spec.external_id(format!("even-{i}"));
            }
            server.insert_user(spec)
        })
        .collect();
    let newest_first: Vec<String> = inserted.iter().rev().cloned().collect();
    let mut client = Client::connect(&server);

    let mut seen = Vec::new();
    for offset in (0..30).step_by(7) {
        let page = assert_user_list(&client.list_users(&format!("limit=7&offset={offset}")));
        assert_eq!(
            page.len(),
            7.min(23usize.saturating_sub(offset)),
            "{offset}"
        );
        seen.extend(ids(&page));
    }
    assert_eq!(seen, newest_first);
    assert!(assert_user_list(&client.list_users("offset=23")).is_empty());
    assert!(assert_user_list(&client.list_users("offset=99999999999999999999")).is_empty());
    assert_eq!(assert_user_list(&client.list_users("limit=500")).len(), 23);
    assert_eq!(
        ids(&assert_user_list(&client.list_users("limit=1"))),
        newest_first[..1]
    );
    assert_eq!(
        assert_user_list(&client.list_users("limit=007&offset=0")).len(),
        7
    );

    // Paging applies after filtering: the 12 even users, newest first, 5 a page.
    let evens: Vec<String> = (0..23)
        .filter(|i| i % 2 == 0)
        .map(|i| format!("external_id=even-{i}"))
        .collect();
    let evens = evens.join("&");
    let expected: Vec<String> = newest_first
        .iter()
        .enumerate()
        .filter(|(i, _)| (22 - i) % 2 == 0)
        .map(|(_, id)| id.clone())
        .collect();
    let mut seen = Vec::new();
    for offset in [0, 5, 10] {
        let page = client.list_users(&format!("{evens}&limit=5&offset={offset}"));
        seen.extend(ids(&assert_user_list(&page)));
    }
    assert_eq!(seen, expected);
    // A repeated `limit` or `offset` counts once: the first.
    assert_eq!(
        assert_user_list(&client.list_users("limit=2&limit=9")).len(),
        2
    );
    assert_eq!(
        ids(&assert_user_list(
            &client.list_users("limit=1&offset=1&offset=0")
        )),
        newest_first[1..2]
    );
}

#[test]
fn external_ids_include_and_exclude_by_prefix() {
    let server = MockServer::start();
    let plain = server.insert_user(UserSpec::new().external_id("a"));
    let dashed = server.insert_user(UserSpec::new().external_id("-b"));
    let plussed = server.insert_user(UserSpec::new().external_id("+c"));
    let none = server.insert_user(UserSpec::new().email("none@example.com"));
    let find = |query: &str| ids(&assert_user_list(&list_users(&server, query)));

    assert_eq!(find("external_id=a"), [plain.as_str()]);
    // `+x` includes x: `+-b` is how an id that starts with `-` is asked for literally.
    assert_eq!(find("external_id=%2Ba"), [plain.as_str()]);
    assert_eq!(find("external_id=%2B-b"), [dashed.as_str()]);
    assert_eq!(find("external_id=%2B%2Bc"), [plussed.as_str()]);
    assert!(find("external_id=%2Bc").is_empty());
    // `-x` excludes x; with exclusions only, everyone else is listed (users without an
    // external id too).
    assert!(find("external_id=-b").contains(&dashed));
    assert_eq!(
        find("external_id=-a"),
        [none.as_str(), plussed.as_str(), dashed.as_str()]
    );
    assert_eq!(
        find("external_id=--b"),
        [none.as_str(), plussed.as_str(), plain.as_str()]
    );
    assert!(find("external_id=a&external_id=-a").is_empty());
    assert_eq!(
        find("external_id=a&external_id=%2B-b&external_id=--b"),
        [plain.as_str()]
    );
    // Filters of different kinds must all match.
    let both = server.insert_user(UserSpec::new().email("both@example.com").external_id("a"));
    assert_eq!(
        find("email_address=both%40example.com&external_id=a"),
        [both.as_str()]
    );
    assert!(find("email_address=none%40example.com&external_id=a").is_empty());
    assert_eq!(
        find("email_address=none%40example.com&external_id=-a"),
        [none]
    );
    // `+` in a query is a space: a raw `+a` asks for ` a`.
    assert!(find("external_id=+a").is_empty());
}

#[test]
fn a_plus_sign_must_be_sent_as_percent_2b() {
    let server = MockServer::start();
    let plus = server.insert_user(UserSpec::new().email("test+1@example.com"));
    let space = server.insert_user(UserSpec::new().email("test 1@example.com"));
    let find = |query: &str| ids(&assert_user_list(&list_users(&server, query)));
    assert_eq!(
        find("email_address=test%2B1%40example.com"),
        [plus.as_str()]
    );
    assert_eq!(find("email_address=test%2b1@example.com"), [plus.as_str()]);
    // A raw `+` is a space (application/x-www-form-urlencoded), as at Clerk.
    assert_eq!(find("email_address=test+1@example.com"), [space.as_str()]);
    assert_eq!(find("email_address=test%201%40example.com"), [space]);
    // Names are decoded too.
    assert_eq!(
        find("email%5Faddress=test%2B1%40example.com"),
        [plus.as_str()]
    );
    // Exotic but well-formed addresses round-trip through full encoding.
    let exotic = "ünï+cødé/?#&=%\"@例え.jp";
    let id = server.insert_user(UserSpec::new().email(exotic));
    assert_eq!(find(&emails_query(&[exotic])), [id]);
    // The log keeps the target as sent; query_values decodes it the same way.
    let last = server.requests().pop().unwrap();
    assert_eq!(
        last.path,
        format!("/v1/users?email_address={}", encode(exotic))
    );
    assert_eq!(last.query_values("email_address"), [exotic]);
}

#[test]
fn a_malformed_query_is_400() {
    let server = MockServer::start();
    server.insert_user(UserSpec::new().email("a@example.com"));
    let mut client = Client::connect(&server);
    for query in [
        "email_address=100%",
        "email_address=%zz",
        "limit=%4",
        "email_address=%FF",
        // Checked before anything else.
        "limit=0&username=x&email_address=%zz",
    ] {
        let reply = client.list_users(query);
        let error = assert_clerk_error(&reply, 400, "malformed_query");
        assert!(error.get("meta").is_none());
        // The connection stays usable.
        assert_eq!(reply.header("connection"), Some("keep-alive"), "{query}");
    }
}

#[test]
fn too_many_values_or_a_bad_limit_or_offset_is_422() {
    let server = MockServer::start();
    let mut client = Client::connect(&server);
    let addresses: Vec<String> = (0..101).map(|i| format!("x{i}@example.com")).collect();
    let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let hundred = emails_query(&addresses[..100]);
    assert!(assert_user_list(&client.list_users(&hundred)).is_empty());
    let mut cases: Vec<(String, &str)> = vec![
        (emails_query(&addresses), "email_address"),
        (format!("{hundred}&email_address="), "email_address"),
        (
            (0..101)
                .map(|i| format!("external_id=e{i}"))
                .collect::<Vec<_>>()
                .join("&"),
            "external_id",
        ),
    ];
    for limit in [
        "0",
        "501",
        "-1",
        "+5",
        "abc",
        "",
        "1.5",
        "1e2",
        "99999999999999999999",
    ] {
        cases.push((format!("limit={limit}"), "limit"));
    }
    for offset in ["-1", "x", "", "0x1", "2.0"] {
        cases.push((format!("offset={offset}"), "offset"));
    }
    // The checks run in this order: email_address, external_id, limit, offset.
    cases.push((
        format!("limit=0&offset=-1&{}", emails_query(&addresses)),
        "email_address",
    ));
    cases.push(("offset=-1&limit=0".to_owned(), "limit"));
    for (query, param) in cases {
        let reply = client.list_users(&query);
        let error = assert_clerk_error(&reply, 422, "form_param_value_invalid");
        assert_eq!(error["meta"], json!({"param_name": param}), "{query}");
        // The message names the parameter, never a value.
        let message = error["long_message"].as_str().unwrap();
        assert!(message.starts_with(param), "{message}");
        assert!(!message.contains("@example.com"), "{message}");
    }
    let external: Vec<String> = (0..100).map(|i| format!("external_id=e{i}")).collect();
    assert!(assert_user_list(&client.list_users(&external.join("&"))).is_empty());
    assert_eq!(server.connections_accepted(), 1);
}

#[test]
fn unimplemented_parameters_are_refused_and_unknown_ones_ignored() {
    let server = MockServer::start();
    let user = server.create_user();
    for query in [
        "username=ann",
        "query=ann",
        "order_by=email_address",
        "starting_after=user_x",
    ] {
        let reply = list_users(&server, query);
        let error = assert_clerk_error(&reply, 400, "clerk_mock_unsupported_parameter");
        let param = query.split('=').next().unwrap();
        assert_eq!(error["meta"], json!({"param_name": param}), "{query}");
    }
    // Checked before the 422s.
    let reply = list_users(&server, "limit=0&phone_number=1");
    assert_clerk_error(&reply, 400, "clerk_mock_unsupported_parameter");
    let users = assert_user_list(&list_users(&server, "not_a_clerk_parameter=1&debug"));
    assert_eq!(ids(&users), [user]);
}

#[test]
fn the_lookup_is_authenticated_faulted_limited_and_recorded_like_any_request() {
    let server = MockServer::builder()
        .rate_limit(RateLimit::new(3, Duration::from_secs(60)))
        .start();
    server.insert_user(UserSpec::new().email("a@example.com"));
    let query = "email_address=a%40example.com&limit=100";

    // The key comes first.
    let mut client = Client::connect(&server);
    client.send("GET", &format!("/v1/users?{query}"), &[], b"");
    assert_clerk_error(&client.read_reply().unwrap(), 401, "authentication_invalid");

    server.push_fault(Fault::ServiceUnavailable {
        retry_after: Some("1".into()),
    });
    assert_clerk_error(&list_users(&server, query), 503, "service_unavailable");
    server.push_fault(Fault::TruncatedJson);
    let truncated = list_users(&server, query);
    assert_eq!(truncated.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&truncated.body).is_err());
    assert_eq!(assert_user_list(&list_users(&server, query)).len(), 1);
    assert_eq!(assert_user_list(&list_users(&server, query)).len(), 1);
    // The third counted request in the window was the last one let through.
    assert_clerk_error(&list_users(&server, query), 429, "too_many_requests");
    assert_eq!(server.rate_limited_count(), 1);

    let log = server.requests();
    assert_eq!(log.len(), 6);
    for request in &log {
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, format!("/v1/users?{query}"));
        assert_eq!(request.query_values("email_address"), ["a@example.com"]);
        assert_eq!(request.query_values("limit"), ["100"]);
    }
    assert!(log[5].rate_limited);
}

#[test]
fn head_gets_the_head_of_the_list() {
    let server = MockServer::start();
    server.insert_user(UserSpec::new().email("a@example.com"));
    let mut client = Client::connect(&server);
    let auth = format!("Authorization: Bearer {}", server.secret_key());
    client.send("HEAD", "/v1/users", &[&auth], b"");
    let (status, headers) = client.read_head().unwrap();
    assert_eq!(status, 200);
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "Content-Length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    // No body came: the next answer on the connection is the GET's, of that length.
    let get = client.list_users("");
    assert_eq!(get.body.len(), length);
    assert_eq!(assert_user_list(&get).len(), 1);
}

#[test]
fn lookups_run_concurrently_with_inserts() {
    const THREADS: usize = 8;
    const LOOKUPS: usize = 25;
    let server = Arc::new(MockServer::start());
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let seeded: Vec<String> = (0..THREADS)
        .map(|t| server.insert_user(UserSpec::new().email(format!("seed{t}@example.com"))))
        .collect();
    let lookers: Vec<_> = (0..THREADS)
        .map(|t| {
            let server = Arc::clone(&server);
            let barrier = Arc::clone(&barrier);
            let expected = seeded[t].clone();
            thread::spawn(move || {
                let mut client = Client::connect(&server);
                barrier.wait();
                for i in 0..LOOKUPS {
                    let query = format!(
                        "email_address=seed{t}%40example.com&email_address=late{t}-{i}%40x.io\
                         &limit=500"
                    );
                    let users = assert_user_list(&client.list_users(&query));
                    let found = ids(&users);
                    // Always the seeded user; the late one if it was inserted in time.
                    assert!(found.contains(&expected), "{found:?}");
                    assert!(found.len() <= 2);
                }
            })
        })
        .collect();
    barrier.wait();
    for i in 0..LOOKUPS {
        for t in 0..THREADS {
            server.insert_user(UserSpec::new().email(format!("LATE{t}-{i}@x.io")));
        }
    }
    for looker in lookers {
        looker.join().unwrap();
    }
    let all = assert_user_list(&list_users(&server, "limit=500"));
    assert_eq!(all.len(), THREADS * (LOOKUPS + 1));
    let late = assert_user_list(&list_users(&server, "email_address=late3-7%40x.io"));
    assert_eq!(late.len(), 1);
    assert_eq!(server.requests().len(), THREADS * LOOKUPS + 2);
}
