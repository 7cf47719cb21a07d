//! A caller's own reqwest client or builder never makes a minted token go
//! missing: no create is sent twice (by a redirect or by reqwest's own
//! retries), and a token that does come back from a followed redirect
//! reaches the caller.
//!
//! Every check counts what clerk-mock (or a scripted loopback server)
//! received, so "exactly one create" is what the server saw, not what the
//! client believes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use clerk_mock::{Fault, MockServer};
use clerk_reqwest::reqwest;
use clerk_reqwest::{Client, CreateSignInToken, ErrorKind};

use crate::{config, transport};

/// rustls with *ring* and the webpki roots: reqwest's `rustls-no-provider`
/// feature needs a ready configuration.
fn tls() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A caller's builder as reqwest makes it: its default redirect policy
/// (up to 10, 307/308 with the body), its default retries.
pub(crate) fn callers_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls())
        .no_proxy()
}

/// A caller's client with reqwest's default redirect policy.
pub(crate) fn following_client() -> reqwest::Client {
    callers_builder().build().unwrap()
}

/// A retry policy a caller could well choose: any 5xx from loopback is
/// sent again, up to twice.
fn retrying_5xx() -> reqwest::retry::Builder {
    reqwest::retry::for_host("127.0.0.1".to_owned())
        .no_budget()
        .classify_fn(|attempt| {
            if attempt.status().is_some_and(|s| s.is_server_error()) {
                attempt.retryable()
            } else {
                attempt.success()
            }
        })
}

/// The issue's case: a same-origin 307/308 that reqwest's default policy
/// would follow with the body, creating the token at the new location.
/// The body cannot be replayed, so reqwest hands the 3xx back: one create
/// reached the server and no token exists.
#[tokio::test]
async fn a_callers_client_never_resends_a_create_on_307_or_308() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = Client::with_http_client(config(&server), following_client()).unwrap();
    for status in [307, 308] {
        let before = server.requests().len();
        server.push_fault(Fault::Redirect {
            status,
            location: format!("{}/sign_in_tokens", server.base_url()),
        });
        let result = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await;
        let requests = server.requests();
        assert_eq!(
            requests.len(),
            before + 1,
            "{status}: the create was sent again: {:?}",
            requests.get(before..)
        );
        assert!(
            server.tokens().is_empty(),
            "{status}: a token exists that the caller got as {result:?}"
        );
        let error = result.unwrap_err();
        let ErrorKind::UnexpectedResponse(reply) = error.kind() else {
            panic!("{status}: {error:?}")
        };
        assert_eq!(reply.status.as_u16(), status);
        assert_eq!(error.attempts(), 1);
    }
    // The client still works.
    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap();
    assert_eq!(server.tokens().len(), 1);
    assert_eq!(server.tokens()[0].id, token.id);
}

/// A revoke has an empty body, which reqwest replays on a 307: the revoke
/// is followed to the new location (here the same resource, with a query),
/// and the success it answers is the caller's, not discarded.
#[tokio::test]
async fn a_followed_revoke_returns_the_revoked_token() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = Client::with_http_client(config(&server), following_client()).unwrap();
    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap();
    server.push_fault(Fault::Redirect {
        status: 307,
        location: format!(
            "{}/sign_in_tokens/{}/revoke?followed=1",
            server.base_url(),
            token.id
        ),
    });
    let revoked = client.revoke_sign_in_token(&token.id).await.unwrap();
    assert_eq!(revoked.id, token.id);
    assert_eq!(server.token_status(&token.id).as_deref(), Some("revoked"));
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests[2].path.ends_with("/revoke?followed=1"),
        "{requests:?}"
    );
}

/// reqwest 0.13 has retries of its own (`ClientBuilder::retry`): a caller's
/// policy that sends a 5xx again would create a second token while the
/// core, which never retries a create on a 502, believes it sent one.
#[tokio::test]
async fn a_callers_retry_policy_never_sends_a_create_twice() {
    let server = MockServer::start();
    let user = server.create_user();
    let http = callers_builder().retry(retrying_5xx()).build().unwrap();
    let client = Client::with_http_client(config(&server), http).unwrap();

    server.push_fault(Fault::Html502);
    let result = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await;
    assert_eq!(
        server.requests().len(),
        1,
        "reqwest sent the create again; the caller got {result:?}"
    );
    assert!(server.tokens().is_empty());
    let error = result.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(502), "{error:?}");
    assert_eq!(error.attempts(), 1);
}

/// With a builder, redirects and reqwest's retries are off whatever the
/// caller set: not even a 303 (which reqwest would follow with a GET) is
/// followed.
#[tokio::test]
async fn a_callers_builder_is_forced_to_no_redirects_and_no_retries() {
    let server = MockServer::start();
    let user = server.create_user();
    let builder = callers_builder()
        .redirect(reqwest::redirect::Policy::limited(10))
        .retry(retrying_5xx());
    let client = Client::with_http_client_builder(config(&server), builder).unwrap();

    for status in [301, 302, 303, 307, 308] {
        let before = server.requests().len();
        server.push_fault(Fault::Redirect {
            status,
            location: format!("{}/sign_in_tokens", server.base_url()),
        });
        let error = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap_err();
        assert_eq!(
            error.status().map(|s| s.as_u16()),
            Some(status),
            "{error:?}"
        );
        assert_eq!(server.requests().len(), before + 1, "{status}");
    }
    server.push_fault(Fault::Html502);
    let error = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(502), "{error:?}");
    assert_eq!(server.requests().len(), 6);
    assert!(server.tokens().is_empty());

    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap();
    assert_eq!(server.tokens()[0].id, token.id);
}

/// A caller's read timeout shorter than the Config's would end an attempt
/// whose token Clerk already created; the builder's is replaced by the
/// Config's overall timeout.
#[tokio::test]
async fn a_callers_short_read_timeout_does_not_cut_a_create_short() {
    let server = MockServer::start();
    let user = server.create_user();
    let builder = callers_builder().read_timeout(Duration::from_millis(50));
    let client = Client::with_http_client_builder(config(&server), builder).unwrap();
    server.push_fault(Fault::Delay {
        delay: Duration::from_millis(300),
    });
    let token = client
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap();
    assert_eq!(server.tokens().len(), 1);
    assert_eq!(server.tokens()[0].id, token.id);

    // The Config's overall timeout still applies.
    let impatient = Client::with_http_client_builder(
        config(&server).with_timeout(Duration::from_millis(200)),
        callers_builder(),
    )
    .unwrap();
    server.push_fault(Fault::Delay {
        delay: Duration::from_secs(2),
    });
    let error = impatient
        .create_sign_in_token(CreateSignInToken::new(&user))
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
}

/// When a pooled connection closes after the create went out, with no
/// byte of reply, the create is not sent again: hyper resends only a
/// request it had not started writing, and the core does not retry a
/// create that may have been received.
#[tokio::test]
async fn a_create_is_sent_once_when_a_pooled_connection_drops() {
    let server = MockServer::start();
    let user = server.create_user();
    for client in [
        Client::new(config(&server)).unwrap(),
        Client::with_http_client(config(&server), following_client()).unwrap(),
    ] {
        let before = server.requests().len();
        let connections = server.connections_accepted();
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap();
        server.push_fault(Fault::Raw { bytes: Vec::new() });
        let error = client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::Transport(_)), "{error:?}");
        assert_eq!(error.attempts(), 1, "{error:?}");
        // The second create went out on the pooled connection, once.
        assert_eq!(server.connections_accepted(), connections + 1);
        assert_eq!(server.requests().len(), before + 2);
    }
    assert_eq!(server.tokens().len(), 2);
}

/// A builder reqwest cannot build is a setup error, not a panic.
#[test]
fn a_builder_that_fails_is_a_setup_error() {
    let server = MockServer::start();
    // reqwest refuses, when building, a TLS configuration it does not know.
    let builder = reqwest::Client::builder().tls_backend_preconfigured(0_u8);
    let error = Client::with_http_client_builder(config(&server), builder).unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Transport(_)), "{error:?}");
}

/// What the scripted server received: each request's head and body.
type Seen = Vec<(String, Vec<u8>)>;

/// A loopback server that answers each connection with the next scripted
/// reply (then closes it) and records each request's head and body.
struct Scripted {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    fn start(replies: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let thread = std::thread::spawn(move || {
            for reply in replies {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream);
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap();
                    }
                    let end = line == "\r\n";
                    head.push_str(&line);
                    if end {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                record.lock().unwrap().push((head, body));
                let mut stream = reader.into_inner();
                stream.write_all(reply.as_bytes()).unwrap();
                stream.flush().unwrap();
            }
        });
        Self {
            addr,
            seen,
            thread: Some(thread),
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take()
            && thread.is_finished()
        {
            thread.join().unwrap();
        }
    }
}

const TOKEN_JSON: &str = r#"{"object":"sign_in_token","id":"sit_followed","status":"pending","user_id":"user_1","token":"eyJ.eyJ.sig","url":"https://example.accounts.dev/v1/tickets/accept?ticket=eyJ.eyJ.sig","created_at":1700000000000,"updated_at":1700000000000}"#;

fn reply(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A server that created the token and then answered "see other": reqwest
/// follows with a GET (no body, so no second create), and the token it
/// brings back is returned, not discarded. The key went along: the
/// location is on the same origin.
#[tokio::test]
async fn a_token_from_a_followed_redirect_reaches_the_caller() {
    let server = Scripted::start(vec![
        reply(
            "303 See Other",
            "Location: /v1/sign_in_tokens/sit_followed\r\n",
            "",
        ),
        reply("200 OK", "Content-Type: application/json\r\n", TOKEN_JSON),
    ]);
    let config = clerk_reqwest::Config::new("sk_test_redirected")
        .unwrap()
        .with_base_url(&server.base_url())
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    let client = Client::with_http_client(config, following_client()).unwrap();
    let token = client
        .create_sign_in_token(CreateSignInToken::new("user_1"))
        .await
        .unwrap();
    assert_eq!(token.id, "sit_followed");
    assert_eq!(
        token.token.as_ref().map(|t| t.expose()),
        Some("eyJ.eyJ.sig")
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].0.starts_with("POST /v1/sign_in_tokens "),
        "{seen:?}"
    );
    assert!(
        seen[1]
            .0
            .starts_with("GET /v1/sign_in_tokens/sit_followed "),
        "{seen:?}"
    );
    assert!(seen[1].1.is_empty());
    assert!(
        seen[1]
            .0
            .to_ascii_lowercase()
            .contains("authorization: bearer sk_test_redirected"),
        "same origin: reqwest keeps the key"
    );
}

/// Anything but a 2xx from a followed redirect is not taken for Clerk's
/// answer: a transport error, and the create is not retried.
#[tokio::test]
async fn a_non_2xx_from_a_followed_redirect_is_a_transport_error() {
    let server = Scripted::start(vec![
        reply("302 Found", "Location: /elsewhere\r\n", ""),
        reply(
            "429 Too Many Requests",
            "Retry-After: 0\r\nContent-Type: application/json\r\n",
            r#"{"errors":[{"code":"too_many_requests","message":"slow down"}]}"#,
        ),
    ]);
    let config = clerk_reqwest::Config::new("sk_test_redirected")
        .unwrap()
        .with_base_url(&server.base_url())
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    let client = Client::with_http_client(config, following_client()).unwrap();
    let error = client
        .create_sign_in_token(CreateSignInToken::new("user_1"))
        .await
        .unwrap_err();
    assert_eq!(
        transport(&error),
        (
            clerk_reqwest::clerk_core::TransportErrorKind::Other,
            clerk_reqwest::clerk_core::Delivery::MaybeSent
        ),
        "{error:?}"
    );
    assert_eq!(error.attempts(), 1);
    assert_eq!(server.seen().len(), 2);
}
