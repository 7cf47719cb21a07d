//! The loopback server every end-to-end contender calls: HTTP/1.1,
//! keep-alive, pipelining, on tokio with one worker by default (so it fits on
//! one pinned core). `POST /v1/sign_in_tokens` gets a fixed 200 with
//! [`CREATE_RESPONSE`](crate::CREATE_RESPONSE); anything else a 404.
//!
//! Requests are parsed with httparse; a body is skipped by its
//! `Content-Length`. Replies to every request found in one read go out in
//! one write.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::CREATE_RESPONSE;

/// The path of the create route, as the contenders' base URL makes it.
pub const CREATE_PATH: &str = "/v1/sign_in_tokens";

/// `GET` on this path answers with the number of connections accepted so
/// far, so a benchmark can tell which clients open new ones.
pub const STATS_PATH: &str = "/__connections";

static ACCEPTED: AtomicU64 = AtomicU64::new(0);

/// The full reply to a create, head and body.
pub fn create_reply_bytes() -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        CREATE_RESPONSE.len()
    )
    .into_bytes();
    out.extend_from_slice(CREATE_RESPONSE);
    out
}

const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 91\r\n\r\n{\"errors\":[{\"message\":\"not found\",\"long_message\":\"not found\",\"code\":\"resource_not_found\"}]}";

/// Serves on `addr` until the process ends, with `workers` tokio threads
/// (1: a current-thread runtime). Calls `ready` with the bound address.
pub fn run(
    addr: SocketAddr,
    workers: usize,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let runtime = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_io()
            .build()?
    };
    runtime.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        ready(listener.local_addr()?);
        let reply: &'static [u8] = Box::leak(create_reply_bytes().into_boxed_slice());
        loop {
            let (stream, _) = listener.accept().await?;
            ACCEPTED.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(connection(stream, reply));
        }
    })
}

async fn connection(mut stream: TcpStream, reply: &'static [u8]) {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        // Answer every complete request in the buffer.
        let mut start = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            let head = match request.parse(&buf[start..]) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => break,
                Err(_) => return,
            };
            let body = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() - start < head + body {
                break;
            }
            let create = request.method == Some("POST") && request.path == Some(CREATE_PATH);
            if create {
                out.extend_from_slice(reply);
            } else if request.path == Some(STATS_PATH) {
                // Answered, then the connection is closed.
                let count = ACCEPTED.load(Ordering::Relaxed).to_string();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{count}",
                    count.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                return;
            } else {
                out.extend_from_slice(NOT_FOUND);
            }
            start += head + body;
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        buf.drain(..start);
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
