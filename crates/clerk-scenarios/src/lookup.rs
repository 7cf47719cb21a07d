//! Rows of the table for finding users by email address (or external id)
//! and minting for them, run by every adapter against `clerk-mock`'s
//! `GET /v1/users`.

use std::collections::HashSet;

use clerk_core::http::{Method, Request, Response};
use clerk_core::{
    Config, CreateSignInToken, EmailMatch, Error, ErrorKind, Idempotency, ListUsers, Operation,
    User, parse_json_response,
};
use clerk_mock::{MockServer, RecordedRequest, UserSpec};

use crate::{Driver, fast_config};

/// The values of `param` in a recorded request's query, decoded.
fn query_values(request: &RecordedRequest, param: &str) -> Vec<String> {
    let query = request.path.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| *name == param)
        .map(|(_, value)| decode(value))
        .collect()
}

/// `%XX` decoding, written here rather than taken from the code under test.
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => {
                let hex = std::str::from_utf8(hex).expect("ASCII hex");
                out.push(u8::from_str_radix(hex, 16).expect("a hex escape"));
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

/// The lookups the mock received: every request to `/v1/users`.
fn lookups(mock: &MockServer) -> Vec<RecordedRequest> {
    mock.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/users"))
        .collect()
}

/// Found, not found, ambiguous and case-insensitive in one call of the
/// client's convenience, on one request; then a token for a found user.
pub fn lookup_found_not_found_ambiguous<D: Driver>() {
    let mock = MockServer::start();
    let ann = mock.insert_user(UserSpec::new().email("ann@example.com").names("Ann", "A"));
    let bo = mock.insert_user(
        UserSpec::new()
            .email("Bo@Example.com")
            .email("bo+work@example.com"),
    );
    let shared_1 = mock.insert_user(UserSpec::new().email("shared@example.com"));
    let shared_2 = mock.insert_user(UserSpec::new().email("SHARED@example.com"));
    let client = D::client(fast_config(&mock));
    let addresses: Vec<String> = [
        "ANN@example.com",
        "bo@example.com",
        "bo+work@example.com",
        "nobody@example.com",
        "Shared@Example.com",
        "ann@example.com",
    ]
    .map(String::from)
    .into();
    let matches = D::find_users_by_email(&client, &addresses).expect("a lookup");
    assert_eq!(matches.len(), addresses.len());
    assert_eq!(matches[0], EmailMatch::Found(ann.clone()));
    assert_eq!(matches[1], EmailMatch::Found(bo.clone()));
    assert_eq!(matches[2], EmailMatch::Found(bo));
    assert_eq!(matches[3], EmailMatch::NotFound);
    let EmailMatch::Ambiguous(ids) = &matches[4] else {
        panic!("{:?}", matches[4])
    };
    let ids: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids, HashSet::from([&shared_1, &shared_2]));
    assert_eq!(matches[5], EmailMatch::Found(ann.clone()));

    // One request, a GET with no body, the two spellings of Ann's address
    // asked for once, every match on one page.
    let sent = lookups(&mock);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let request = &sent[0];
    assert_eq!(request.method, "GET");
    assert!(request.body.is_empty());
    assert!(request.header("content-length").is_none());
    assert_eq!(
        query_values(request, "email_address"),
        &addresses[..5],
        "{}",
        request.path
    );
    assert_eq!(query_values(request, "limit"), ["500"]);

    // The lookup's point: a token for the user found.
    let token = D::create(&client, CreateSignInToken::new(&ann)).expect("a token");
    assert_eq!(token.user_id, ann);
}

/// More matches than Clerk's default page of 10: the request asks for
/// enough, and every user comes back.
pub fn lookup_reply_larger_than_a_default_page<D: Driver>() {
    let mock = MockServer::start();
    let addresses: Vec<String> = (0..25).map(|i| format!("member{i}@example.com")).collect();
    let ids: HashSet<String> = addresses
        .iter()
        .map(|a| mock.insert_user(UserSpec::new().email(a)))
        .collect();
    let client = D::client(fast_config(&mock));
    let users: Vec<User> =
        D::send(&client, ListUsers::by_email_addresses(addresses.clone())).expect("a list");
    assert_eq!(users.len(), 25);
    let got: HashSet<String> = users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(got, ids);
    assert!(users.iter().all(|u| u.email_addresses.len() == 1));
    // Newest first, as Clerk orders them.
    assert!(users.windows(2).all(|w| w[0].created_at >= w[1].created_at));
    // The convenience finds them all in one request too.
    let matches = D::find_users_by_email(&client, &addresses).expect("a lookup");
    assert!(matches.iter().all(|m| m.user_id().is_some()), "{matches:?}");
    assert_eq!(lookups(&mock).len(), 2);
}

/// `GET /users` as an operation written outside clerk-core (which every
/// adapter sends unchanged), its values put in the query as given.
struct RawListUsers(Vec<String>);

impl Operation for RawListUsers {
    type Output = Vec<User>;
    const NAME: &'static str = "raw_list_users";

    fn build_request(&self, config: &Config) -> Result<Request<Vec<u8>>, Error> {
        let mut url = format!("{}/users?limit=500", config.base_url());
        for value in &self.0 {
            url.push_str("&email_address=");
            url.push_str(value);
        }
        let request = Request::builder()
            .method(Method::GET)
            .uri(url)
            .header("authorization", config.authorization().clone())
            .header("accept", "application/json")
            .body(Vec::new())
            .expect("a valid request");
        Ok(request)
    }

    fn parse_response<B: AsRef<[u8]>>(&self, response: &Response<B>) -> Result<Vec<User>, Error> {
        parse_json_response(response)
    }

    fn idempotency(&self) -> Idempotency {
        Idempotency::Idempotent
    }
}

/// A lookup of more than 100 values, sent raw: Clerk's 422, not retried.
/// clerk-core's own `ListUsers` refuses it before sending.
pub fn lookup_of_more_than_100_is_refused<D: Driver>() {
    let mock = MockServer::start();
    let client = D::client(fast_config(&mock));
    let addresses: Vec<String> = (0..101).map(|i| format!("u{i}%40example.com")).collect();
    let error = D::send(&client, RawListUsers(addresses)).expect_err("Clerk refuses 101");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(422), "{error:?}");
    assert!(error.has_code("form_param_value_invalid"), "{error:?}");
    let meta = error.clerk_errors()[0].meta.as_ref().expect("meta");
    assert_eq!(meta["param_name"], "email_address");
    assert_eq!(error.attempts(), 1, "a 422 is not retried");
    assert_eq!(lookups(&mock).len(), 1);

    // The SDK's own operation never sends it.
    let addresses: Vec<String> = (0..101).map(|i| format!("u{i}@example.com")).collect();
    let error = D::send(&client, ListUsers::by_email_addresses(addresses)).unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::InvalidRequest(_)),
        "{error:?}"
    );
    assert_eq!(error.invalid_argument(), Some("email_address"));
    assert_eq!(error.attempts(), 0);
    assert_eq!(lookups(&mock).len(), 1);
}

/// The measure: 250 addresses, 10 of them unknown, take 3
/// requests of at most 100 addresses, and find 240 distinct users.
pub fn lookup_of_250_addresses_takes_3_requests<D: Driver>() {
    let mock = MockServer::start();
    let mut addresses = Vec::new();
    let mut ids = HashSet::new();
    for i in 0..250 {
        let address = format!("Person.{i}+tag@Example.com");
        if i % 25 != 7 {
            ids.insert(mock.insert_user(UserSpec::new().email(address.to_lowercase())));
        }
        addresses.push(address);
    }
    assert_eq!(ids.len(), 240);
    let client = D::client(fast_config(&mock));
    let matches = D::find_users_by_email(&client, &addresses).expect("a lookup");
    assert_eq!(matches.len(), 250);
    let found: Vec<&str> = matches.iter().filter_map(EmailMatch::user_id).collect();
    assert_eq!(found.len(), 240);
    assert_eq!(
        found
            .iter()
            .map(|id| (*id).to_owned())
            .collect::<HashSet<_>>(),
        ids
    );
    for (i, m) in matches.iter().enumerate() {
        assert_eq!(*m == EmailMatch::NotFound, i % 25 == 7, "{i}: {m:?}");
    }
    let sent = lookups(&mock);
    assert_eq!(sent.len(), 3, "{} requests", sent.len());
    let mut asked = Vec::new();
    for request in &sent {
        let values = query_values(request, "email_address");
        assert!(values.len() <= 100, "{} addresses", values.len());
        asked.extend(values);
    }
    assert_eq!(asked, addresses, "every address asked once, in order");
}

/// External ids, a signed one included, are looked up as written.
pub fn lookup_by_external_id<D: Driver>() {
    let mock = MockServer::start();
    let plain = mock.insert_user(UserSpec::new().external_id("crm-1"));
    let minus = mock.insert_user(UserSpec::new().external_id("-crm-2"));
    let _other = mock.insert_user(UserSpec::new().external_id("crm-3"));
    let client = D::client(fast_config(&mock));
    let users = D::send(
        &client,
        ListUsers::by_external_ids(["crm-1", "-crm-2", "missing"]),
    )
    .expect("a list");
    let got: HashSet<String> = users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(got, HashSet::from([plain, minus]));
    let minus_user = users
        .iter()
        .find(|u| u.external_id.as_deref() == Some("-crm-2"))
        .expect("the signed id, literally");
    assert!(minus_user.email_addresses.is_empty());
}

/// A reply over the body cap is not retried as it is: the lookup asks again
/// for each half of its batch until the replies fit, and finds everyone.
pub fn lookup_reply_over_the_body_cap_is_split<D: Driver>() {
    let mock = MockServer::start();
    let addresses: Vec<String> = (0..40).map(|i| format!("big{i}@example.com")).collect();
    for address in &addresses {
        mock.insert_user(UserSpec::new().email(address).names("A", "B"));
    }
    // One user of the mock's is well over 1 KiB of JSON: 40 are far over
    // 8 KiB, a handful fit.
    let config = fast_config(&mock).with_max_body_bytes(8 * 1024);
    let client = D::client(config);
    let matches = D::find_users_by_email(&client, &addresses).expect("a lookup");
    assert!(matches.iter().all(|m| m.user_id().is_some()), "{matches:?}");
    let sent = lookups(&mock);
    // The first request (40 addresses) was answered over the cap and
    // asked again in halves, never as it was.
    assert!(sent.len() >= 3, "{} requests", sent.len());
    assert_eq!(query_values(&sent[0], "email_address").len(), 40);
    assert_eq!(query_values(&sent[1], "email_address").len(), 20);
    let mut asked: Vec<String> = Vec::new();
    for request in &sent {
        let values = query_values(request, "email_address");
        if values.len() < 40 {
            asked.extend(values);
        }
    }
    for address in &addresses {
        assert!(asked.contains(address), "{address} never asked in a half");
    }
}
