//! Faults on loopback for the fault tests: a [`Switch`] in front of a real service that can
//! refuse connections (its port closed) or hang (accept, never answer) and come back on the
//! same port; a [`Misbehaving`] registry whose manifest body is cut mid-way (closed or reset)
//! or trickles a byte at a time; and a [`Resolver`], a DNS server on a loopback address whose
//! answers (NXDOMAIN, SERVFAIL, silence, an A record) the test switches. Plain std threads,
//! so they serve whatever runtime the test uses; every one stops when dropped.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a [`Switch`] does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Relays to the service.
    Up = 0,
    /// The port is closed: connections are refused.
    Refused = 1,
    /// Accepts and never answers.
    Hang = 2,
}

/// A TCP relay on a fixed loopback port in front of `upstream`.
pub struct Switch {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Switch {
    pub fn start(upstream: SocketAddr) -> Switch {
        let first = TcpListener::bind("127.0.0.1:0").expect("bind the switch");
        let addr = first.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(Mode::Up as u8));
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (mode, stop, held) = (mode.clone(), stop.clone(), held.clone());
            std::thread::spawn(move || accept_loop(first, addr, upstream, mode, stop, held))
        };
        Switch {
            addr,
            mode,
            stop,
            held,
            thread: Some(thread),
        }
    }

    /// Changes the mode; returns once the port is closed (`Refused`) or open again.
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
        if mode != Mode::Hang {
            // Connections held by a previous hang end now.
            for c in self.held.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
        // The accept loop polls every 10 ms; wait for it to close or reopen the port.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let open = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok();
            if open == (mode != Mode::Refused) || std::time::Instant::now() > deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for c in self.held.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    first: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
) {
    first.set_nonblocking(true).unwrap();
    let mut listener = Some(first);
    while !stop.load(Ordering::SeqCst) {
        let m = mode.load(Ordering::SeqCst);
        if m == Mode::Refused as u8 {
            listener = None;
        } else if listener.is_none() {
            // std sets SO_REUSEADDR: the port comes back although connections on it linger.
            match TcpListener::bind(addr) {
                Ok(l) => {
                    l.set_nonblocking(true).unwrap();
                    listener = Some(l);
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
        }
        let Some(l) = &listener else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        match l.accept() {
            Ok((client, _)) => {
                client.set_nonblocking(false).unwrap();
                if m == Mode::Hang as u8 {
                    held.lock().unwrap().push(client);
                } else if let Ok(server) = TcpStream::connect(upstream) {
                    relay(client, server);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn relay(client: TcpStream, server: TcpStream) {
    let (mut cr, mut sw) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (mut sr, mut cw) = (server, client);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut cr, &mut sw);
        let _ = sw.shutdown(Shutdown::Write);
    });
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut sr, &mut cw);
        let _ = cw.shutdown(Shutdown::Write);
    });
}

/// A TCP relay in front of a registry that, while shut, holds every blob request
/// (`…/blobs/…`) but pullcheck's own: a runtime's pull stays in flight for as long as the
/// test needs.
pub struct BlobGate {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    held: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl BlobGate {
    /// Starts shut.
    pub fn start(upstream: SocketAddr) -> BlobGate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (open, held, stop) = (open.clone(), held.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok((client, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    client.set_nonblocking(false).unwrap();
                    let Ok(server) = TcpStream::connect(upstream) else {
                        continue;
                    };
                    let (mut cr, mut sw) =
                        (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let (mut sr, mut cw) = (server, client);
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut sr, &mut cw);
                        let _ = cw.shutdown(Shutdown::Write);
                    });
                    let (open, held, stop) = (open.clone(), held.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match cr.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            let data = &buf[..n];
                            // The runtime's blob requests; the probe's own (user agent
                            // pullcheck/…) pass.
                            if data.windows(7).any(|w| w == b"/blobs/")
                                && !data.windows(10).any(|w| w == b"pullcheck/")
                                && !open.load(Ordering::SeqCst)
                            {
                                held.fetch_add(1, Ordering::SeqCst);
                                while !open.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) {
                                    std::thread::sleep(Duration::from_millis(20));
                                }
                            }
                            if sw.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = sw.shutdown(Shutdown::Write);
                    });
                }
            });
        }
        BlobGate {
            addr,
            open,
            held,
            stop,
        }
    }

    /// Blob requests held so far.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Lets every request through from now on.
    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for BlobGate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// How the [`Misbehaving`] registry sends a manifest body.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// `Content-Length` of the whole manifest, `sent` bytes of it, then a FIN.
    CutClosed { sent: usize },
    /// The same, then a TCP reset (SO_LINGER 0).
    CutReset { sent: usize },
    /// The whole manifest, one byte every `every`.
    Trickle { every: Duration },
}

/// A registry (`/v2/` answers 200) whose manifest GETs misbehave as [`Body`] says; HEADs get
/// the headers alone. Counts the requests it reads.
pub struct Misbehaving {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
    pub manifest_gets: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// A small valid image manifest (the body the faults cut or trickle).
pub const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

impl Misbehaving {
    pub fn start(body: Body) -> Misbehaving {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let manifest_gets = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (requests, gets, stop) = (requests.clone(), manifest_gets.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((c, _)) => {
                            c.set_nonblocking(false).unwrap();
                            let (requests, gets, stop) =
                                (requests.clone(), gets.clone(), stop.clone());
                            std::thread::spawn(move || serve(c, body, &requests, &gets, &stop));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        Misbehaving {
            addr,
            requests,
            manifest_gets,
            stop,
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn manifest_gets(&self) -> usize {
        self.manifest_gets.load(Ordering::SeqCst)
    }
}

impl Drop for Misbehaving {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Reads one request head; returns its request line.
fn read_head(c: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match c.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    text.lines().next().map(str::to_string)
}

fn serve(
    mut c: TcpStream,
    body: Body,
    requests: &AtomicUsize,
    gets: &AtomicUsize,
    stop: &AtomicBool,
) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(60)));
    while let Some(line) = read_head(&mut c) {
        requests.fetch_add(1, Ordering::SeqCst);
        let mut parts = line.split(' ');
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if path == "/v2/" || path.starts_with("/v2/?") {
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n",
            );
            if method == "GET" {
                let _ = c.write_all(b"{}");
            }
            continue;
        }
        if !path.contains("/manifests/") {
            let _ = c.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            continue;
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\n\r\n",
            MANIFEST.len()
        );
        if c.write_all(head.as_bytes()).is_err() {
            return;
        }
        if method == "HEAD" {
            continue;
        }
        gets.fetch_add(1, Ordering::SeqCst);
        match body {
            Body::CutClosed { sent } => {
                let _ = c.write_all(&MANIFEST.as_bytes()[..sent]);
                let _ = c.flush();
                let _ = c.shutdown(Shutdown::Both);
                return;
            }
            Body::CutReset { sent } => {
                let _ = c.write_all(&MANIFEST.as_bytes()[..sent]);
                let _ = c.flush();
                // Let the bytes leave before the reset discards the send queue.
                std::thread::sleep(Duration::from_millis(50));
                let _ = socket2_linger_zero(&c);
                drop(c);
                return;
            }
            Body::Trickle { every } => {
                for b in MANIFEST.as_bytes() {
                    if stop.load(Ordering::SeqCst) || c.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(every);
                }
            }
        }
    }
}

/// SO_LINGER with a zero timeout: closing the socket sends RST instead of FIN.
fn socket2_linger_zero(c: &TcpStream) -> std::io::Result<()> {
    socket2::SockRef::from(c).set_linger(Some(Duration::ZERO))
}

/// The answer a [`Resolver`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Dns {
    /// NXDOMAIN: the name does not exist.
    NxDomain = 0,
    /// SERVFAIL: the resolver failed.
    ServFail = 1,
    /// No answer at all.
    Silent = 2,
    /// An A record 127.0.0.1 for every name (no AAAA).
    Loopback = 3,
}

/// A DNS server on `ip:53` (UDP), for a private `/etc/resolv.conf`.
pub struct Resolver {
    pub ip: Ipv4Addr,
    mode: Arc<AtomicU8>,
    pub queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Resolver {
    /// Binds `ip:53` (needs root or CAP_NET_BIND_SERVICE).
    pub fn start(ip: Ipv4Addr, mode: Dns) -> std::io::Result<Resolver> {
        let socket = UdpSocket::bind((ip, 53))?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let mode = Arc::new(AtomicU8::new(mode as u8));
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (mode, queries, stop) = (mode.clone(), queries.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    queries.fetch_add(1, Ordering::SeqCst);
                    if let Some(reply) = answer(&buf[..n], mode.load(Ordering::SeqCst)) {
                        let _ = socket.send_to(&reply, from);
                    }
                }
            });
        }
        Ok(Resolver {
            ip,
            mode,
            queries,
            stop,
        })
    }

    pub fn set(&self, mode: Dns) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// `resolv.conf` text naming this server only, one try of one second.
    pub fn resolv_conf(&self) -> String {
        format!("nameserver {}\noptions timeout:1 attempts:1\n", self.ip)
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The reply to one query, by mode (`None`: stay silent).
fn answer(query: &[u8], mode: u8) -> Option<Vec<u8>> {
    if query.len() < 12 || mode == Dns::Silent as u8 {
        return None;
    }
    // The question: labels up to the zero byte, then QTYPE and QCLASS.
    let mut i = 12;
    while i < query.len() && query[i] != 0 {
        i += 1 + query[i] as usize;
    }
    let end = i + 5;
    if end > query.len() {
        return None;
    }
    let qtype = u16::from_be_bytes([query[i + 1], query[i + 2]]);
    let mut r = query[..end].to_vec();
    // QR=1, opcode from the query, RD copied, RA=1; no authority or additional records.
    r[2] = 0x80 | (query[2] & 0x79);
    let rcode = match mode {
        m if m == Dns::NxDomain as u8 => 3,
        m if m == Dns::ServFail as u8 => 2,
        _ => 0,
    };
    r[3] = 0x80 | rcode;
    let a_record = mode == Dns::Loopback as u8 && qtype == 1;
    r[6..8].copy_from_slice(&u16::to_be_bytes(u16::from(a_record)));
    r[8..12].fill(0);
    if a_record {
        // Name by pointer to the question, type A, class IN, TTL 0, 4 bytes: 127.0.0.1.
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1]);
    }
    Some(r)
}
