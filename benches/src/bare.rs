//! The create call written by hand with each bare client: the same request
//! (method, URL, the headers the SDK sends, the JSON body) and the reply
//! decoded with `serde_json::from_slice` into [`PlainToken`]. No checks
//! beyond what the client does by itself: this is the floor an SDK is
//! measured against.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::{API_VERSION, CreateBody, EXPIRES_IN_SECONDS, PlainToken, USER_ID};

fn body() -> Vec<u8> {
    serde_json::to_vec(&CreateBody {
        user_id: USER_ID,
        expires_in_seconds: EXPIRES_IN_SECONDS,
    })
    .expect("serializable")
}

fn decode(bytes: &[u8]) -> PlainToken {
    let token: PlainToken = serde_json::from_slice(bytes).expect("a SignInToken");
    assert_eq!(token.user_id, USER_ID);
    token
}

/// No HTTP client at all: fixed request bytes on one keep-alive socket, the
/// reply read by its known length. The floor of the loopback round trip.
pub struct Raw {
    stream: TcpStream,
    request: Vec<u8>,
    reply_len: usize,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let body = body();
        let mut request = format!(
            "POST /v1/sign_in_tokens HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\
             clerk-api-version: {API_VERSION}\r\naccept: application/json\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            crate::SECRET_KEY,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let reply_len = crate::server::create_reply_bytes().len();
        Self {
            stream,
            request,
            reply_len,
            buf: vec![0; 64 * 1024],
        }
    }

    /// The request bytes, for pipelining.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// One request, one whole reply.
    pub fn call(&mut self) {
        self.stream.write_all(&self.request).expect("write");
        self.read_replies(1);
    }

    /// `depth` requests in one write, then their replies.
    pub fn pipelined(&mut self, batch: &[u8], depth: usize) {
        self.stream.write_all(batch).expect("write");
        self.read_replies(depth);
    }

    fn read_replies(&mut self, n: usize) {
        let mut want = self.reply_len * n;
        while want > 0 {
            let got = self.stream.read(&mut self.buf).expect("read");
            assert!(got > 0, "server closed");
            want = want.checked_sub(got).expect("no more than the replies");
        }
    }
}

/// ureq 3, as its README shows it, with HTTP statuses kept as replies.
pub struct Ureq {
    agent: ureq::Agent,
    url: String,
    authorization: String,
}

impl Ureq {
    pub fn new(base_url: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            url: format!("{base_url}/sign_in_tokens"),
            authorization: format!("Bearer {}", crate::SECRET_KEY),
        }
    }

    /// The same, with the timeouts clerk-ureq sets by default (resolve and
    /// connect 5 s, whole call 15 s): what it costs in ureq itself.
    pub fn with_timeouts(base_url: &str) -> Self {
        use std::time::Duration;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .timeout_resolve(Some(Duration::from_secs(5)))
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        Self {
            agent,
            ..Self::new(base_url)
        }
    }

    pub fn call(&self) -> PlainToken {
        let mut response = self
            .agent
            .post(&self.url)
            .header("authorization", &self.authorization)
            .header("clerk-api-version", API_VERSION)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .send(&body()[..])
            .expect("a reply");
        assert_eq!(response.status(), 200);
        let bytes = response.body_mut().read_to_vec().expect("a body");
        decode(&bytes)
    }
}

/// reqwest 0.13 with its default client.
#[derive(Clone)]
pub struct Reqwest {
    client: reqwest::Client,
    url: String,
    authorization: String,
}

impl Reqwest {
    pub fn new(base_url: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: format!("{base_url}/sign_in_tokens"),
            authorization: format!("Bearer {}", crate::SECRET_KEY),
        }
    }

    pub async fn call(&self) -> PlainToken {
        self.call_with(|r| r).await
    }

    /// The same call with a per-request timeout, as clerk-reqwest sets one.
    pub async fn call_with_timeout(&self, timeout: std::time::Duration) -> PlainToken {
        self.call_with(|r| r.timeout(timeout)).await
    }

    async fn call_with(
        &self,
        f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> PlainToken {
        let builder = self
            .client
            .post(&self.url)
            .header("authorization", &self.authorization)
            .header("clerk-api-version", API_VERSION)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(body());
        let response = f(builder).send().await.expect("a reply");
        assert_eq!(response.status(), 200);
        let bytes = response.bytes().await.expect("a body");
        decode(&bytes)
    }
}

/// hyper 1 over an async-std socket: one connection (`client::conn::http1`,
/// TCP_NODELAY on, smol-hyper's futures-io adapter), its driver spawned on
/// async-std. One `Hyper` per task in flight: no pool at all.
pub struct Hyper {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<hyper::body::Bytes>>,
    host: http::HeaderValue,
    authorization: http::HeaderValue,
}

impl Hyper {
    pub async fn connect(addr: SocketAddr) -> Self {
        let tcp = async_std::net::TcpStream::connect(addr)
            .await
            .expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let (sender, connection) =
            hyper::client::conn::http1::handshake(smol_hyper::rt::FuturesIo::new(tcp))
                .await
                .expect("handshake");
        async_std::task::spawn(async move {
            let _ = connection.await;
        });
        Self {
            sender,
            host: http::HeaderValue::from_str(&addr.to_string()).expect("host"),
            authorization: http::HeaderValue::from_str(&format!("Bearer {}", crate::SECRET_KEY))
                .expect("key"),
        }
    }

    pub async fn call(&mut self) -> PlainToken {
        use http_body_util::BodyExt;
        let request = http::Request::post("/v1/sign_in_tokens")
            .header(http::header::HOST, self.host.clone())
            .header(http::header::AUTHORIZATION, self.authorization.clone())
            .header("clerk-api-version", API_VERSION)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body())))
            .expect("request");
        self.sender.ready().await.expect("connection ready");
        let response = self.sender.send_request(request).await.expect("a reply");
        assert_eq!(response.status(), 200);
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        decode(&bytes)
    }
}

/// clerk-rs 0.5's generated create call.
#[derive(Clone)]
pub struct ClerkRs {
    configuration: clerk_rs::ClerkConfiguration,
}

impl ClerkRs {
    pub fn new(base_url: &str) -> Self {
        Self {
            configuration: clerk_rs::ClerkConfiguration::new(crate::SECRET_KEY)
                .with_base_path(base_url),
        }
    }

    pub async fn call(&self) -> clerk_rs::models::SignInToken {
        let mut request = clerk_rs::models::CreateSignInTokenRequest::new(USER_ID.to_owned());
        request.expires_in_seconds = Some(Some(EXPIRES_IN_SECONDS as u32));
        let token = clerk_rs::apis::sign_in_tokens_api::create_sign_in_token(
            &self.configuration,
            Some(request),
        )
        .await
        .expect("a SignInToken");
        assert_eq!(token.user_id, USER_ID);
        token
    }
}
