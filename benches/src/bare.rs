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

/// `host:port` as a URL and a `Host` header write it: an IPv6 literal in
/// brackets.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `host` as a socket connects to it: an IPv6 literal without brackets.
pub fn unbracket(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The create call as fixed bytes, with `Host: {authority}`: what the raw
/// contenders write.
pub fn raw_request(authority: &str) -> Vec<u8> {
    let body = body();
    let mut request = format!(
        "POST /v1/sign_in_tokens HTTP/1.1\r\nhost: {authority}\r\nauthorization: Bearer {}\r\n\
         clerk-api-version: {API_VERSION}\r\naccept: application/json\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        crate::SECRET_KEY,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    request
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
        Self::connect_to(&addr.ip().to_string(), addr.port())
    }

    /// Connects to `host` (a name is resolved once, here), with
    /// `Host: host:port`.
    pub fn connect_to(host: &str, port: u16) -> Self {
        let stream = TcpStream::connect((unbracket(host), port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            request: raw_request(&authority(host, port)),
            reply_len: crate::server::create_reply_bytes().len(),
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

/// [`Raw`] on an async socket: the same bytes written and the known reply
/// length read on one keep-alive connection (TCP_NODELAY on), with no HTTP
/// library. The floor of an async runtime's loopback round trip.
pub struct RawAsync<S> {
    stream: S,
    request: Vec<u8>,
    reply_len: usize,
    buf: Vec<u8>,
}

impl RawAsync<async_std::net::TcpStream> {
    /// On an `async_std::net::TcpStream`; `host` is resolved once, here.
    pub async fn connect_async_std(host: &str, port: u16) -> Self {
        let stream = async_std::net::TcpStream::connect((unbracket(host), port))
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self::with_stream(stream, host, port)
    }
}

impl RawAsync<smol::net::TcpStream> {
    /// On a `smol::net::TcpStream`; `host` is resolved once, here.
    pub async fn connect_smol(host: &str, port: u16) -> Self {
        let stream = smol::net::TcpStream::connect((unbracket(host), port))
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self::with_stream(stream, host, port)
    }
}

impl<S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin> RawAsync<S> {
    fn with_stream(stream: S, host: &str, port: u16) -> Self {
        Self {
            stream,
            request: raw_request(&authority(host, port)),
            reply_len: crate::server::create_reply_bytes().len(),
            buf: vec![0; 64 * 1024],
        }
    }

    /// One request, one whole reply.
    pub async fn call(&mut self) {
        use smol::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(&self.request).await.expect("write");
        let mut want = self.reply_len;
        while want > 0 {
            let got = self.stream.read(&mut self.buf).await.expect("read");
            assert!(got > 0, "server closed");
            want = want.checked_sub(got).expect("no more than the reply");
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

/// hyper 1 over an async-std (or smol) socket: one connection
/// (`client::conn::http1`, TCP_NODELAY on, smol-hyper's futures-io adapter),
/// its driver spawned on async-std (or smol). One `Hyper` per task in
/// flight: no pool at all.
pub struct Hyper {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<hyper::body::Bytes>>,
    host: http::HeaderValue,
    authorization: http::HeaderValue,
}

impl Hyper {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::connect_to(&addr.ip().to_string(), addr.port()).await
    }

    /// Connects to `host` (a name is resolved once, here, by
    /// `async_std::net::TcpStream::connect`), with `Host: host:port`; the
    /// driver is spawned on async-std.
    pub async fn connect_to(host: &str, port: u16) -> Self {
        let tcp = async_std::net::TcpStream::connect((unbracket(host), port))
            .await
            .expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        Self::handshake(tcp, &authority(host, port), |driver| {
            async_std::task::spawn(driver);
        })
        .await
    }

    /// The same over `smol::net::TcpStream`, the driver spawned with
    /// `smol::spawn`.
    pub async fn connect_smol(host: &str, port: u16) -> Self {
        let tcp = smol::net::TcpStream::connect((unbracket(host), port))
            .await
            .expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        Self::handshake(tcp, &authority(host, port), |driver| {
            smol::spawn(driver).detach();
        })
        .await
    }

    async fn handshake<S>(
        tcp: S,
        authority: &str,
        spawn: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>),
    ) -> Self
    where
        S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) =
            hyper::client::conn::http1::handshake(smol_hyper::rt::FuturesIo::new(tcp))
                .await
                .expect("handshake");
        spawn(Box::pin(async move {
            let _ = connection.await;
        }));
        Self {
            sender,
            host: http::HeaderValue::from_str(authority).expect("host"),
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
