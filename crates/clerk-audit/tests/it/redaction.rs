//! Point 1: the secret key, the sign-in token and its URL never appear in
//! `Debug` or `Display` of any public type or error, also when a reply
//! echoes them back.
//!
//! The core-level matrices put a credential into one place of a reply at a
//! time, so a failure names the field that leaks; the adapter-level sweep
//! then drives every error kind through all three adapters.

use std::time::{Duration, SystemTime};

use clerk_core::http::Response;
use clerk_core::{
    Call, Config, CreateSignInToken, ErrorKind, Operation, Outcome, RevokeSignInToken, SignInToken,
    Step, Timing,
};
use clerk_mock::{Fault, MockServer};

use crate::{Adapter, Secrets, client_for, error_texts, kind_of};

/// A key, a ticket and a URL that look like the real ones.
pub(crate) const KEY: &str = "sk_test_AuditKey7Qm2Xv9Lp4Rt8Wz3Nb6Hc1Jd5";
pub(crate) const TICKET: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaXQiOiJzaXRfYXVkaXQifQ.Zq3Vx8Lp2Rt7Wm4Nb9Hc6Jd1Kf5Gs0Ay";
pub(crate) const URL: &str = "https://audit.accounts.dev/v1/tickets/accept?ticket=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaXQiOiJzaXRfYXVkaXQifQ.Zq3Vx8Lp2Rt7Wm4Nb9Hc6Jd1Kf5Gs0Ay";

pub(crate) fn fixed_secrets() -> Secrets {
    let mut secrets = Secrets::default();
    secrets.add_key(KEY);
    secrets.add_ticket(TICKET, Some(URL));
    secrets
}

/// Leaks found so far: for each place, how it was shown and which secrets
/// showed.
#[derive(Default)]
pub(crate) struct Findings(Vec<(String, Vec<String>, Vec<String>)>);

impl Findings {
    fn record(&mut self, place: &str, shown_by: &str, names: Vec<&str>) {
        if names.is_empty() {
            return;
        }
        let entry = match self.0.iter_mut().find(|(p, _, _)| p == place) {
            Some(entry) => entry,
            None => {
                self.0.push((place.to_owned(), Vec::new(), Vec::new()));
                self.0.last_mut().unwrap()
            }
        };
        if !entry.1.iter().any(|s| s == shown_by) {
            entry.1.push(shown_by.to_owned());
        }
        for name in names {
            if !entry.2.iter().any(|s| s == name) {
                entry.2.push(name.to_owned());
            }
        }
    }

    pub(crate) fn check(&mut self, place: &str, text: &str, secrets: &Secrets) {
        self.record(place, "Debug", secrets.found_in(text));
    }

    /// `Display`, `Debug` and alternate `Debug` of the error and of each
    /// error in its `source()` chain, and `Debug` of its kind.
    pub(crate) fn check_error(
        &mut self,
        place: &str,
        error: &clerk_core::Error,
        secrets: &Secrets,
    ) {
        for (label, text) in error_texts(error) {
            self.record(place, &label, secrets.found_in(&text));
        }
        let kind = format!("{:?} {:#?}", error.kind(), error.kind());
        self.record(place, "Debug of ErrorKind", secrets.found_in(&kind));
    }

    pub(crate) fn assert_none(self, what: &str) {
        let lines: Vec<String> = self
            .0
            .iter()
            .map(|(place, shown_by, names)| {
                format!(
                    "{place}: {} show the {}",
                    shown_by.join(", "),
                    names.join(", the ")
                )
            })
            .collect();
        assert!(
            lines.is_empty(),
            "{what}: {} place(s) leak:\n  {}",
            lines.len(),
            lines.join("\n  ")
        );
    }
}

fn timing() -> Timing {
    Timing {
        now: SystemTime::now(),
        elapsed: Duration::ZERO,
        jitter: 0.5,
    }
}

fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Vec<u8>> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.as_bytes().to_vec()).unwrap()
}

/// The error a create call ends with after this one reply, exactly as an
/// adapter hands it to its caller.
fn create_error(response: Response<Vec<u8>>) -> clerk_core::Error {
    let config = Config::new(KEY).unwrap();
    let mut call = Call::new(&config, CreateSignInToken::new("user_audit")).unwrap();
    match call.handle(Outcome::Response(response), timing()) {
        Step::Done(Err(e)) => e,
        Step::Done(Ok(token)) => panic!("expected an error, got {token:?}"),
        Step::Retry(wait) => panic!("expected no retry, got one after {wait:?}"),
    }
}

const JSON: (&str, &str) = ("content-type", "application/json");

/// A reply to feed the core: a name for reports, status, headers, body.
type ReplyCase<'a> = (&'a str, u16, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn config_and_clients_never_show_the_key() {
    let secrets = fixed_secrets();
    let mut findings = Findings::default();
    let configs = [
        Config::new(KEY).unwrap(),
        Config::new(KEY)
            .unwrap()
            .with_base_url("http://127.0.0.1:9/v1")
            .unwrap()
            .with_api_version("2025-11-10")
            .unwrap()
            .with_user_agent_suffix("audit/1")
            .unwrap(),
    ];
    for config in &configs {
        findings.check("Config Debug", &format!("{config:?} {config:#?}"), &secrets);
        let authorization = config.authorization();
        assert!(authorization.is_sensitive());
        findings.check(
            "Config::authorization() Debug",
            &format!("{authorization:?}"),
            &secrets,
        );
        for adapter in Adapter::ALL {
            let client = adapter.client(config.clone());
            findings.check(
                &format!("{adapter} Client Debug"),
                &client.debug(),
                &secrets,
            );
        }
    }
    // The constructors that take the caller's HTTP client.
    let config = configs[0].clone();
    let ureq = clerk_ureq::Client::with_agent(
        config.clone(),
        clerk_ureq::ureq::Agent::new_with_defaults(),
    )
    .unwrap();
    findings.check(
        "clerk-ureq Client::with_agent Debug",
        &format!("{ureq:?} {ureq:#?}"),
        &secrets,
    );
    let reqwest =
        clerk_reqwest::Client::with_http_client(config.clone(), reqwest_client(true)).unwrap();
    findings.check(
        "clerk-reqwest Client::with_http_client Debug",
        &format!("{reqwest:?} {reqwest:#?}"),
        &secrets,
    );
    let async_std = clerk_async_std::Client::with_tls_config(config, ring_tls_config()).unwrap();
    findings.check(
        "clerk-async-std Client::with_tls_config Debug",
        &format!("{async_std:?} {async_std:#?}"),
        &secrets,
    );
    findings.assert_none("Config and Client");
}

/// A rustls configuration with the ring provider and no roots.
pub(crate) fn ring_tls_config() -> clerk_async_std::rustls::ClientConfig {
    use clerk_async_std::rustls;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// A caller's own reqwest client (reqwest's `rustls-no-provider` needs a
/// ready TLS configuration); `follow` keeps reqwest's default redirect
/// policy (up to 10), otherwise none.
pub(crate) fn reqwest_client(follow: bool) -> clerk_reqwest::reqwest::Client {
    let mut builder = clerk_reqwest::reqwest::Client::builder()
        .tls_backend_preconfigured(ring_tls_config())
        .no_proxy();
    if !follow {
        builder = builder.redirect(clerk_reqwest::reqwest::redirect::Policy::none());
    }
    builder.build().unwrap()
}

#[test]
fn sign_in_tokens_never_show_their_ticket_or_url() {
    let mut findings = Findings::default();
    for adapter in Adapter::ALL {
        let mock = MockServer::start();
        let user = mock.create_user();
        let client = client_for(adapter, &mock);
        let token = client.create(CreateSignInToken::new(&user)).unwrap();
        let revoked = client.revoke(&token.id).unwrap();
        let mut secrets = Secrets::default();
        secrets.add_key(mock.secret_key());
        secrets.add_token(&token);
        secrets.add_mock_tokens(&mock);
        assert!(
            secrets.iter().count() >= 4,
            "{adapter}: the token has a ticket and a URL"
        );
        let place = |what: &str| format!("{adapter}: {what}");
        findings.check(
            &place("SignInToken Debug"),
            &format!("{token:?} {token:#?}"),
            &secrets,
        );
        findings.check(
            &place("SecretString Debug"),
            &format!("{:?} {:?}", token.token, token.url),
            &secrets,
        );
        let result: Result<SignInToken, clerk_core::Error> = Ok(token.clone());
        findings.check(
            &place("Result<SignInToken> Debug"),
            &format!("{result:?}"),
            &secrets,
        );
        let step: Step<SignInToken> = Step::Done(Ok(token.clone()));
        findings.check(&place("Step Debug"), &format!("{step:?}"), &secrets);
        findings.check(
            &place("revoked SignInToken Debug"),
            &format!("{revoked:#?}"),
            &secrets,
        );
        for info in mock.tokens() {
            findings.check(
                &place("clerk-mock TokenInfo Debug"),
                &format!("{info:?}"),
                &secrets,
            );
        }
        for request in mock.requests() {
            findings.check(
                &place("clerk-mock RecordedRequest Debug"),
                &format!("{request:?}"),
                &secrets,
            );
        }
        findings.check(
            &place("clerk-mock MockServer Debug"),
            &format!("{mock:?}"),
            &secrets,
        );
    }
    findings.assert_none("SignInToken and the mock's records");
}

#[test]
fn refused_keys_and_urls_are_never_echoed() {
    let mut findings = Findings::default();
    let secret = "Xq7Vb2Lm9Rt4Wz8Nc3Hd6Jf1";
    let mut secrets = Secrets::default();
    secrets.add("part of a refused key", secret);
    for key in [
        format!("sk_test_{secret} "),
        format!("sk_test_{secret}\r\nX-Injected: 1"),
        format!("sk_test_{secret}\u{e9}"),
        format!("sk_test_{secret}\0"),
        format!(" sk_test_{secret}"),
    ] {
        let error = Config::new(&key).unwrap_err();
        assert_eq!(error.invalid_argument(), Some("secret_key"));
        findings.check_error(&format!("Config::new({key:?})"), &error, &secrets);
    }
    for url in [
        format!("https://user:sk_test_{secret}@api.clerk.com/v1"),
        format!("https://api.clerk.com/v1?key=sk_test_{secret}"),
        format!("https://api.clerk.com/v1#sk_test_{secret}"),
        format!("ftp://sk_test_{secret}/v1"),
    ] {
        let error = Config::new(KEY).unwrap().with_base_url(&url).unwrap_err();
        assert_eq!(error.invalid_argument(), Some("base_url"));
        findings.check_error(&format!("with_base_url({url:?})"), &error, &secrets);
    }
    findings.assert_none("invalid-request errors");
}

/// The request the core builds prints `Sensitive` for `Authorization`; the
/// `Call` around it, before and after a retry, shows no credential either.
#[test]
fn calls_and_steps_never_show_credentials() {
    let secrets = fixed_secrets();
    let mut findings = Findings::default();
    let config = Config::new(KEY).unwrap();
    let mut call = Call::new(&config, RevokeSignInToken::new("sit_audit")).unwrap();
    findings.check("Call Debug (new)", &format!("{call:?} {call:#?}"), &secrets);
    let step = call.handle(
        Outcome::Response(reply(503, &[("retry-after", "1")], "")),
        timing(),
    );
    assert!(matches!(step, Step::Retry(_)), "{step:?}");
    findings.check("Step::Retry Debug", &format!("{step:?}"), &secrets);
    findings.check(
        "Call Debug (after a retry)",
        &format!("{call:#?}"),
        &secrets,
    );
    let body = format!(
        r#"{{"object":"sign_in_token","id":"sit_audit","status":"revoked","user_id":"user_audit","token":"{TICKET}","url":"{URL}","created_at":1,"updated_at":2}}"#
    );
    let step = call.handle(Outcome::Response(reply(200, &[JSON], &body)), timing());
    let Step::Done(Ok(token)) = &step else {
        panic!("{step:?}")
    };
    assert_eq!(token.token.as_ref().map(|t| t.expose()), Some(TICKET));
    findings.check(
        "Step::Done(Ok) Debug",
        &format!("{step:?} {step:#?}"),
        &secrets,
    );
    findings.check("Call Debug (done)", &format!("{call:#?}"), &secrets);
    findings.assert_none("Call and Step");
}

/// `Outcome` is the reply as an adapter hands it to the core: a public type
/// whose derived `Debug` prints the raw body, which for a success holds the
/// ticket and its URL. With `Vec<u8>` (the core's own examples) they print
/// as lists of byte values, which is the same credential.
#[test]
fn outcomes_never_show_the_reply_body_credentials() {
    let mut secrets = fixed_secrets();
    let as_byte_list = |s: &str| {
        let list = format!("{:?}", s.as_bytes());
        list.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    };
    secrets.add("sign-in token, as Vec<u8> Debug", as_byte_list(TICKET));
    secrets.add("sign-in token URL, as Vec<u8> Debug", as_byte_list(URL));
    let body = format!(
        r#"{{"object":"sign_in_token","id":"sit_audit","status":"pending","user_id":"user_audit","token":"{TICKET}","url":"{URL}","created_at":1,"updated_at":2}}"#
    );
    let outcome: Outcome = Outcome::Response(reply(200, &[JSON], &body));
    let mut findings = Findings::default();
    findings.check("Outcome<Vec<u8>> Debug", &format!("{outcome:?}"), &secrets);
    findings.assert_none("Outcome");
}

/// Clerk's error shape with a credential in one field at a time: Clerk's
/// own texts are free-form, and a proxy or a broken server may quote the
/// request (its `Authorization` header) or a ticket in them.
#[test]
fn api_errors_never_print_credentials_quoted_in_clerk_fields() {
    let secrets = fixed_secrets();
    let mut findings = Findings::default();
    let field = |code: &str, message: &str, long: &str, meta: &str, top_meta: &str, trace: &str| {
        format!(
            r#"{{"errors":[{{"code":"{code}","message":"{message}","long_message":"{long}","meta":{{"param_name":"{meta}"}}}}],"meta":{{"echo":"{top_meta}"}},"clerk_trace_id":"{trace}"}}"#
        )
    };
    let echo = format!("Bearer {KEY} / {TICKET} / {URL}");
    let cases = [
        ("code", field(&echo, "m", "l", "p", "x", "t")),
        ("message", field("c", &echo, "", "p", "x", "t")),
        ("long_message", field("c", "m", &echo, "p", "x", "t")),
        ("errors[].meta", field("c", "m", "l", &echo, "x", "t")),
        ("meta", field("c", "m", "l", "p", &echo, "t")),
        ("clerk_trace_id", field("c", "m", "l", "p", "x", &echo)),
    ];
    for status in [400, 422, 500] {
        for (name, body) in &cases {
            let error = create_error(reply(status, &[JSON], body));
            assert!(matches!(error.kind(), ErrorKind::Api(_)), "{error:?}");
            findings.check_error(
                &format!("Api {status}, credential in `{name}`"),
                &error,
                &secrets,
            );
        }
    }
    findings.assert_none("Api errors from Clerk-shaped bodies that quote a credential");
}

/// Header values a reply may echo: the trace id Clerk sends in a header,
/// and the content type.
#[test]
fn errors_never_print_credentials_echoed_in_reply_headers() {
    let secrets = fixed_secrets();
    let mut findings = Findings::default();
    let echo = format!("{KEY}.{TICKET}");
    let clerk_body = r#"{"errors":[{"code":"c","message":"m","long_message":"l"}]}"#;
    let cases: [ReplyCase<'_>; 4] = [
        (
            "Clerk-Trace-Id on an Api error",
            404,
            vec![JSON, ("clerk-trace-id", &echo)],
            clerk_body,
        ),
        (
            "Clerk-Trace-Id on an HTML 502",
            502,
            vec![("clerk-trace-id", &echo)],
            "<html>",
        ),
        (
            "Content-Type on an HTML 502",
            502,
            vec![("content-type", &echo)],
            "<html>",
        ),
        (
            "Content-Type on a 200",
            200,
            vec![("content-type", &echo)],
            "{}",
        ),
    ];
    for (name, status, headers, body) in &cases {
        let error = create_error(reply(*status, headers, body));
        findings.check_error(name, &error, &secrets);
    }
    findings.assert_none("errors from replies whose headers echo a credential");
}

/// Bodies that are not Clerk's: an HTML or text page quoting the request
/// (as some proxies and debug pages do), a success in the wrong type, a
/// redirect to a URL with the ticket.
#[test]
fn unexpected_responses_never_print_the_echoing_body() {
    let secrets = fixed_secrets();
    let mut findings = Findings::default();
    let page = format!(
        "<html><body>Bad request<pre>POST /v1/sign_in_tokens\nAuthorization: Bearer {KEY}\n\n{{\"token\":\"{TICKET}\",\"url\":\"{URL}\"}}</pre></body></html>"
    );
    let token_json = format!(r#"{{"object":"sign_in_token","token":"{TICKET}","url":"{URL}"}}"#);
    let location = format!("{URL}&next=1");
    let cases: Vec<ReplyCase<'_>> = vec![
        (
            "HTML 400 quoting the request",
            400,
            vec![("content-type", "text/html")],
            &page,
        ),
        (
            "HTML 502 quoting the request",
            502,
            vec![("content-type", "text/html")],
            &page,
        ),
        (
            "text 401 quoting the request",
            401,
            vec![("content-type", "text/plain")],
            &page,
        ),
        (
            "other JSON 422 quoting the request",
            422,
            vec![JSON],
            &token_json,
        ),
        (
            "200 text/plain with the token",
            200,
            vec![("content-type", "text/plain")],
            &token_json,
        ),
        (
            "200 without a content type, with the token",
            200,
            vec![],
            &token_json,
        ),
        (
            "201 text/html quoting the request",
            201,
            vec![("content-type", "text/html")],
            &page,
        ),
        (
            "302 to the ticket URL",
            302,
            vec![("location", &location)],
            &page,
        ),
        ("100-continue-like 1xx", 199, vec![], &page),
    ];
    for (name, status, headers, body) in &cases {
        let error = create_error(reply(*status, headers, body));
        assert!(
            matches!(error.kind(), ErrorKind::UnexpectedResponse(_)),
            "{name}: {error:?}"
        );
        findings.check_error(name, &error, &secrets);
    }
    findings.assert_none("UnexpectedResponse errors");
}

/// A success body of the wrong shape, with the credentials where the
/// decoder complains: its message quotes offending strings.
#[test]
fn decode_errors_never_quote_the_credentials() {
    let secrets = fixed_secrets();
    let mut findings = Findings::default();
    let base = |fields: &str| {
        format!(
            r#"{{"object":"sign_in_token","id":"sit_1","status":"pending","user_id":"user_1",{fields}}}"#
        )
    };
    let escaped_key: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let bodies = [
        (
            "token in an integer field",
            base(&format!(
                r#""token":"{TICKET}","url":"{URL}","created_at":"{TICKET}","updated_at":1"#
            )),
        ),
        (
            "URL in an integer field",
            base(&format!(r#""created_at":1,"updated_at":"{URL}""#)),
        ),
        (
            "key in an integer field",
            base(&format!(r#""created_at":"Bearer {KEY}","updated_at":1"#)),
        ),
        (
            "escaped key in an integer field",
            base(&format!(r#""created_at":"{escaped_key}","updated_at":1"#)),
        ),
        (
            "quote-escaped token",
            base(&format!(r#""created_at":"\"{TICKET}\"","updated_at":1"#)),
        ),
        (
            "token as the object tag",
            format!(r#"{{"object":"{TICKET}","id":"x"}}"#),
        ),
        (
            "token where a string is a number",
            base(&format!(
                r#""token":{{"{TICKET}":1}},"created_at":1,"updated_at":1"#
            )),
        ),
        (
            "token as an array element",
            base(&format!(r#""created_at":["{TICKET}"],"updated_at":1"#)),
        ),
        (
            "token then a syntax error",
            base(&format!(r#""token":"{TICKET}" "url":"{URL}""#)),
        ),
        (
            "token in truncated JSON",
            base(&format!(r#""token":"{TICKET}","url":"{URL}"#)),
        ),
        (
            "token after the object",
            format!(r#"{} "{TICKET}""#, base(r#""created_at":1,"updated_at":1"#)),
        ),
        (
            "token in an unterminated string",
            base(&format!(r#""token":"{TICKET}"#)),
        ),
        (
            "key in a status object",
            base(&format!(
                r#""status":{{"k":"{KEY}"}},"created_at":1,"updated_at":1"#
            )),
        ),
        (
            "token as id number-ish",
            base(&format!(
                r#""created_at":1,"updated_at":1,"id":["{TICKET}"]"#
            )),
        ),
    ];
    for (name, body) in &bodies {
        let error = create_error(reply(200, &[JSON], body));
        assert!(
            matches!(error.kind(), ErrorKind::Decode(_)),
            "{name}: {}",
            kind_of(&error)
        );
        findings.check_error(name, &error, &secrets);
    }
    findings.assert_none("Decode errors");
}

/// A raw HTTP/1.1 reply, closed after it.
pub(crate) fn raw(status_line: &str, headers: &[(&str, &str)], body: &[u8]) -> Fault {
    let mut bytes = format!("HTTP/1.1 {status_line}\r\n").into_bytes();
    for (name, value) in headers {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    bytes.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    bytes.extend_from_slice(body);
    Fault::Raw { bytes }
}

/// Raw bytes, closed after them.
fn raw_bytes(bytes: impl Into<Vec<u8>>) -> Fault {
    Fault::Raw {
        bytes: bytes.into(),
    }
}

/// Replies that quote the key, a ticket and its URL where each kind of
/// error could pick them up: Clerk's fields, a proxy's page, a success body,
/// a redirect, and malformed HTTP whose parser errors might quote it.
pub(crate) fn echo_faults(key: &str, ticket: &str, url: &str) -> Vec<(&'static str, Fault)> {
    let echo = format!("Authorization: Bearer {key}; token {ticket}; url {url}");
    let clerk_echo = format!(
        r#"{{"errors":[{{"code":"form_param_value_invalid","message":"{echo}","long_message":"{echo}","meta":{{"param_name":"{ticket}"}}}}],"clerk_trace_id":"trace_{ticket}"}}"#
    );
    let html_echo = format!("<html><pre>{echo}</pre></html>");
    let token_json = format!(
        r#"{{"object":"sign_in_token","id":"sit_1","status":"pending","user_id":"u","token":"{ticket}","url":"{url}","created_at":"{ticket}","updated_at":1}}"#
    );
    let good_json = format!(
        r#"{{"object":"sign_in_token","id":"sit_1","status":"pending","user_id":"u","token":"{ticket}","url":"{url}","created_at":1,"updated_at":1}}"#
    );
    let json = ("Content-Type", "application/json");
    vec![
        (
            "Clerk-shaped 422 quoting the credentials",
            raw("422 Unprocessable Content", &[json], clerk_echo.as_bytes()),
        ),
        (
            "HTML 502 quoting the credentials",
            raw(
                "502 Bad Gateway",
                &[("Content-Type", "text/html")],
                html_echo.as_bytes(),
            ),
        ),
        (
            "200 text/plain with a ticket",
            raw(
                "200 OK",
                &[("Content-Type", "text/plain")],
                good_json.as_bytes(),
            ),
        ),
        (
            "200 JSON with the ticket in a wrongly typed field",
            raw("200 OK", &[json], token_json.as_bytes()),
        ),
        (
            "307 to the ticket URL",
            Fault::Redirect {
                status: 307,
                location: url.to_owned(),
            },
        ),
        (
            "status line quoting the key",
            raw_bytes(format!(
                "HTTP/1.1 200 {key}\u{7f}{ticket}\r\nContent-Length: 0\r\n\r\n"
            )),
        ),
        (
            "bad status code quoting the key",
            raw_bytes(format!("HTTP/1.1 2{key} OK\r\nContent-Length: 0\r\n\r\n")),
        ),
        (
            "header line quoting the key",
            raw_bytes(format!(
                "HTTP/1.1 200 OK\r\nX-Echo {key}: {ticket}\r\nContent-Length: 0\r\n\r\n"
            )),
        ),
        (
            "header value with a NUL quoting the ticket",
            raw_bytes(format!(
                "HTTP/1.1 200 OK\r\nX-Echo: {ticket}\0{url}\r\nContent-Length: 0\r\n\r\n"
            )),
        ),
        (
            "bad chunk size quoting the ticket",
            raw_bytes(format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{ticket}\r\n{good_json}\r\n0\r\n\r\n"
            )),
        ),
        (
            "bad Content-Length quoting the key",
            raw_bytes(format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {key}\r\n\r\n{good_json}"
            )),
        ),
        (
            "body cut short after the ticket",
            raw_bytes(format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{good_json}"
            )),
        ),
        ("reset mid-body", Fault::ResetMidBody),
        ("truncated JSON with the ticket", Fault::TruncatedJson),
        (
            "body over the cap after the ticket",
            raw(
                "200 OK",
                &[json],
                format!("{good_json}{}", " ".repeat(300 * 1024)).as_bytes(),
            ),
        ),
    ]
}

/// Every error kind, through every adapter, from replies that quote the
/// key, a real ticket and its URL, plus transport failures whose messages
/// come from the HTTP clients.
#[test]
fn every_error_kind_of_every_adapter_keeps_echoed_credentials_out() {
    let mut findings = Findings::default();
    let mut kinds_seen = std::collections::BTreeSet::new();
    for adapter in Adapter::ALL {
        let mock = MockServer::start();
        let user = mock.create_user();
        let client = client_for(adapter, &mock);
        let token = client.create(CreateSignInToken::new(&user)).unwrap();
        let ticket = token.token.as_ref().unwrap().expose().to_owned();
        let url = token.url.as_ref().unwrap().expose().to_owned();
        let key = mock.secret_key().to_owned();
        let mut errors = Vec::new();
        for (name, fault) in echo_faults(&key, &ticket, &url) {
            mock.push_fault(fault);
            let error = client.create(CreateSignInToken::new(&user)).unwrap_err();
            errors.push((name.to_owned(), error));
        }
        errors.push((
            "invalid request".to_owned(),
            client.create(CreateSignInToken::new("")).unwrap_err(),
        ));
        let (_, clerk_echo) = echo_faults(&key, &ticket, &url).swap_remove(0);
        mock.push_fault(clerk_echo);
        errors.push((
            "revoke answered by a quoting 422".to_owned(),
            client.revoke(&token.id).unwrap_err(),
        ));
        // Transport failures: TLS spoken to a plain server, a refused
        // connection, a timeout.
        let tls_url = mock.base_url().replace("http://", "https://");
        let tls_client = adapter.client(crate::config(&tls_url, &key));
        errors.push((
            "TLS to a plain server".to_owned(),
            tls_client
                .create(CreateSignInToken::new(&user))
                .unwrap_err(),
        ));
        let refused = adapter.client(crate::config(&closed_port_url(), &key));
        errors.push((
            "connection refused".to_owned(),
            refused.create(CreateSignInToken::new(&user)).unwrap_err(),
        ));
        let slow = adapter
            .client(crate::config(&mock.base_url(), &key).with_timeout(Duration::from_millis(300)));
        mock.push_fault(Fault::Delay {
            delay: Duration::from_millis(800),
        });
        let error = slow.create(CreateSignInToken::new(&user)).unwrap_err();
        assert!(error.is_timeout(), "{adapter}: {error:?}");
        errors.push(("timeout".to_owned(), error));

        // The altering faults issued tokens too: watch for all of them.
        let mut secrets = Secrets::default();
        secrets.add_key(&key);
        secrets.add_token(&token);
        secrets.add_mock_tokens(&mock);
        for (name, error) in &errors {
            let kind = kind_of(error);
            kinds_seen.insert(kind.split('(').next().unwrap_or_default().to_owned());
            findings.check_error(&format!("{adapter}, {name} -> {kind}"), error, &secrets);
        }
    }
    for kind in [
        "Api",
        "UnexpectedResponse",
        "Decode",
        "InvalidRequest",
        "Transport",
    ] {
        assert!(
            kinds_seen.contains(kind),
            "no {kind} error was produced: {kinds_seen:?}"
        );
    }
    findings.assert_none("errors of every kind, from every adapter");
}

/// A loopback URL on which nothing listens.
pub(crate) fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/v1")
}

/// What an operation builds is what every adapter sends: check once more
/// at this level that a request's `Debug` hides the key.
#[test]
fn built_requests_never_show_the_key() {
    let secrets = fixed_secrets();
    let mut findings = Findings::default();
    let config = Config::new(KEY).unwrap();
    let create = CreateSignInToken::new("user_1")
        .with_org_id("org_1")
        .build_request(&config)
        .unwrap();
    let revoke = RevokeSignInToken::new("sit_1")
        .build_request(&config)
        .unwrap();
    findings.check(
        "create request Debug",
        &format!("{create:?} {create:#?}"),
        &secrets,
    );
    findings.check(
        "revoke request Debug",
        &format!("{revoke:?} {revoke:#?}"),
        &secrets,
    );
    findings.check(
        "request headers Debug",
        &format!("{:?} {:?}", create.headers(), revoke.headers()),
        &secrets,
    );
    findings.assert_none("built requests");
}

/// Email addresses are personal data: a lookup's refusals, its decode
/// errors, its `Debug` (the operation, the call, the lookup) and the
/// errors of a reply that quotes them never show one. (Clerk's own error
/// texts are shown as Clerk wrote them; this checks what the SDK writes.)
#[test]
fn lookups_never_show_the_email_addresses() {
    use clerk_core::{EmailLookup, ListUsers, User};
    const ANN: &str = "ann.audit+vip@example.com";
    const BO: &str = "Bo.Audit@Example.org";
    let mut secrets = fixed_secrets();
    secrets.add("an email address", ANN);
    secrets.add("an email address (local part)", "ann.audit");
    secrets.add(
        "an email address, percent-encoded",
        "ann.audit%2Bvip%40example.com",
    );
    secrets.add("another email address", BO);
    let mut findings = Findings::default();
    let config = Config::new(KEY).unwrap();

    let many: Vec<String> = (0..101).map(|i| format!("{i}{ANN}")).collect();
    let long = format!("{ANN}{}", "x".repeat(7000));
    let refused = [
        ("an empty address", ListUsers::by_email_addresses([ANN, ""])),
        ("101 addresses", ListUsers::by_email_addresses(many)),
        (
            "an address too long",
            ListUsers::by_email_addresses([long.clone()]),
        ),
        (
            "a limit of 0",
            ListUsers::by_email_addresses([ANN]).with_limit(0),
        ),
    ];
    for (name, operation) in refused {
        findings.check(
            &format!("ListUsers Debug ({name})"),
            &format!("{operation:?} {operation:#?}"),
            &secrets,
        );
        let error = operation.build_request(&config).unwrap_err();
        assert!(
            matches!(error.kind(), ErrorKind::InvalidRequest(_)),
            "{error:?}"
        );
        findings.check_error(&format!("ListUsers refused ({name})"), &error, &secrets);
    }
    for addresses in [vec![ANN, ""], vec![BO, long.as_str()]] {
        let error = EmailLookup::new(&addresses).unwrap_err();
        findings.check_error("EmailLookup refused", &error, &secrets);
    }

    let operation = ListUsers::by_email_addresses([ANN, BO]);
    let mut call = Call::new(&config, operation.clone()).unwrap();
    findings.check(
        "Call<ListUsers> Debug",
        &format!("{call:?} {call:#?}"),
        &secrets,
    );
    let mut lookup = EmailLookup::new(&[ANN, BO]).unwrap();
    let request = lookup.next_request().unwrap();
    findings.check(
        "EmailLookup Debug",
        &format!("{lookup:?} {request:?}"),
        &secrets,
    );
    lookup.handle(Ok(vec![User::new("user_audit")])).unwrap();
    findings.check(
        "EmailLookup Debug (after a reply)",
        &format!("{lookup:#?}"),
        &secrets,
    );

    // Replies that put an address where a user's shape has none, or quote
    // the request in a page that is not Clerk's.
    let wrong_type = format!(r#"[{{"id":"u","created_at":"{ANN}"}}]"#);
    let as_key = format!(
        r#"[{{"id":"u","email_addresses":[{{"id":"i","email_address":["{ANN}"]}}],"{BO}":1}}]"#
    );
    let as_id = format!(r#"[{{"id":["{ANN}"]}}]"#);
    let as_tag = format!(r#"[{{"object":"{ANN}","id":"u"}}]"#);
    let truncated = format!(r#"[{{"id":"u","email_addresses":[{{"id":"i","email_address":"{ANN}"#);
    let page = format!("<html>GET /v1/users?email_address={ANN}&email_address={BO}</html>");
    let cases: Vec<ReplyCase<'_>> = vec![
        ("an address as a timestamp", 200, vec![JSON], &wrong_type),
        ("an address as a list", 200, vec![JSON], &as_key),
        ("an address as an id", 200, vec![JSON], &as_id),
        ("an address as the object tag", 200, vec![JSON], &as_tag),
        ("a truncated list", 200, vec![JSON], &truncated),
        (
            "a 200 page quoting the request",
            200,
            vec![("content-type", "text/html")],
            &page,
        ),
    ];
    for (name, status, headers, body) in &cases {
        let error = operation
            .parse_response(&reply(*status, headers, body))
            .unwrap_err();
        findings.check_error(name, &error, &secrets);
        let step = call.handle(Outcome::Response(reply(*status, headers, body)), timing());
        findings.check(
            &format!("Step Debug ({name})"),
            &format!("{step:?}"),
            &secrets,
        );
        call = Call::new(&config, operation.clone()).unwrap();
    }
    findings.assert_none("lookups");
}
