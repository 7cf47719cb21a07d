//! A small hostile HTTP/1.1 server on loopback, for what clerk-mock's
//! faults do not cover: a body or a head that never ends, a flood of
//! header fields, a chunked body of any size. It streams everything from
//! small buffers (its own memory stays flat) and counts the bytes it
//! managed to write before the client hung up.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the server answers to every request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Script {
    /// 200 `application/json`, `Transfer-Encoding: chunked` (no length to
    /// refuse up front), `total` bytes of body in 16 KiB chunks.
    ChunkedBody { total: u64 },
    /// 200 `application/json` announcing 1 GiB, then one byte of body per
    /// `interval`, for ever: no read ever waits long, the body never ends.
    DripBody { interval: Duration },
    /// A status line, then one byte of a header value per `interval`, for
    /// ever: the head never ends.
    DripHead { interval: Duration },
    /// 200 with `count` header fields, then a complete `{}` body.
    HeaderFlood { count: usize },
    /// 200 with one header field whose value is `bytes` long, then `{}`.
    HugeHeader { bytes: usize },
}

struct Shared {
    stop: AtomicBool,
    written: AtomicU64,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// The server; dropping it stops it.
pub(crate) struct HostileServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl HostileServer {
    pub(crate) fn start(script: Script) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            written: AtomicU64::new(0),
            workers: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accept_shared);
                let worker = std::thread::spawn(move || serve(stream, script, &shared));
                accept_shared.workers.lock().unwrap().push(worker);
            }
        });
        HostileServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The bytes written to clients so far, framing included.
    pub(crate) fn bytes_written(&self) -> u64 {
        self.shared.written.load(Ordering::SeqCst)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let workers = std::mem::take(&mut *self.shared.workers.lock().unwrap());
        for worker in workers {
            let _ = worker.join();
        }
    }
}

/// Writes `bytes` and counts them; false once the client is gone or the
/// server stops.
fn send(stream: &mut TcpStream, bytes: &[u8], shared: &Shared) -> bool {
    if shared.stop.load(Ordering::SeqCst) {
        return false;
    }
    match stream.write_all(bytes) {
        Ok(()) => {
            shared
                .written
                .fetch_add(bytes.len() as u64, Ordering::SeqCst);
            true
        }
        Err(_) => false,
    }
}

/// Reads one request (head, and a body of `Content-Length` bytes).
fn read_request(stream: &mut TcpStream) -> Option<()> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if got.len() > 64 * 1024 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = got.len() - head_end;
    while have < length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        have += n;
    }
    Some(())
}

fn serve(mut stream: TcpStream, script: Script, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_nodelay(true);
    if read_request(&mut stream).is_none() || shared.stop.load(Ordering::SeqCst) {
        return;
    }
    let s = &mut stream;
    match script {
        Script::ChunkedBody { total } => {
            let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            if !send(s, head, shared) {
                return;
            }
            let block = [b' '; 16 * 1024];
            let mut left = total;
            while left > 0 {
                let n = left.min(block.len() as u64) as usize;
                let mut chunk = format!("{n:x}\r\n").into_bytes();
                chunk.extend_from_slice(&block[..n]);
                chunk.extend_from_slice(b"\r\n");
                if !send(s, &chunk, shared) {
                    return;
                }
                left -= n as u64;
            }
            send(s, b"0\r\n\r\n", shared);
        }
        Script::DripBody { interval } => {
            let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{\"padding\":\"";
            if !send(s, head, shared) {
                return;
            }
            loop {
                std::thread::sleep(interval);
                if !send(s, b"x", shared) {
                    return;
                }
            }
        }
        Script::DripHead { interval } => {
            if !send(s, b"HTTP/1.1 200 OK\r\nX-Drip: ", shared) {
                return;
            }
            loop {
                std::thread::sleep(interval);
                if !send(s, b"x", shared) {
                    return;
                }
            }
        }
        Script::HeaderFlood { count } => {
            let mut block = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n".to_vec();
            for i in 0..count {
                block.extend_from_slice(format!("X-Flood-{i}: {i}\r\n").as_bytes());
                if block.len() >= 16 * 1024 {
                    if !send(s, &block, shared) {
                        return;
                    }
                    block.clear();
                }
            }
            block.extend_from_slice(b"Content-Length: 2\r\n\r\n{}");
            send(s, &block, shared);
        }
        Script::HugeHeader { bytes } => {
            if !send(
                s,
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Huge: ",
                shared,
            ) {
                return;
            }
            let block = [b'a'; 16 * 1024];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(block.len());
                if !send(s, &block[..n], shared) {
                    return;
                }
                left -= n;
            }
            send(s, b"\r\nContent-Length: 2\r\n\r\n{}", shared);
        }
    }
    // Give the client a moment to read the end before closing.
    std::thread::sleep(Duration::from_millis(50));
}
