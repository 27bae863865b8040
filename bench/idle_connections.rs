//! Benchmark: a signed delivery's latency at `oc-ci-webhook` while idle connections are
//! open (issue 15 item 6; goal < 100 ms with 2,000 idle connections).
//!
//! Run: `bash bench/idle_connections.sh` (builds the binaries to compare). By hand:
//! `cargo bench --bench idle_connections -- NAME=BINARY [NAME=BINARY …]`.
//! Settings (environment): IDLE (default 2000), ROUNDS (default 5), SOURCES (loopback
//! source addresses 127.0.0.2…, default 8).
//!
//! Each round, per binary (alternating): a fresh receiver socket-activated as systemd does
//! (listening socket as fd 3, backlog 4096 = systemd's default, soft limit of 1024
//! descriptors = systemd's default), IDLE connections opened that send nothing, then one
//! signed 8 KB-ish check_run delivery on a new connection, timed from connect to the
//! complete response (capped at 120 s); then the receiver is killed. Prints each sample
//! and the median per binary.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hmac::Mac;

const SECRET: &str = "bench-secret";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn raise_own_fd_limit(wanted: u64) {
    let mut limit = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit read and write the struct we pass.
    unsafe {
        nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut limit);
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &limit);
        }
    }
}

struct Server {
    child: std::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(binary: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "ci_webhook:\n  allow_unsigned: false\n").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new(binary);
    cmd.env("OPERATIONS_CENTER_CONFIG", &config)
        .env("OPERATIONS_CENTER_STATE_DIR", dir.path().join("state"))
        .env("OPERATIONS_CENTER_WEBHOOK_SECRET", SECRET)
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: listen/dup2/fcntl/setrlimit are async-signal-safe; nothing else runs
    // between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = nix::libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 524_288,
            };
            nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &limit);
            if nix::libc::listen(fd, 4096) != 0 || (fd != 3 && nix::libc::dup2(fd, 3) < 0) {
                return Err(std::io::Error::last_os_error());
            }
            nix::libc::fcntl(3, nix::libc::F_SETFD, 0);
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn the receiver");
    drop(listener);
    Server {
        child,
        addr,
        _dir: dir,
    }
}

fn delivery(addr: SocketAddr, id: &str, body: &[u8], signature: &str) -> (Duration, String) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\
         Content-Type: application/json\r\nX-GitHub-Event: check_run\r\n\
         X-GitHub-Delivery: {id}\r\nX-Hub-Signature-256: {signature}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let status = String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .unwrap_or("none")
        .to_string();
    (started.elapsed(), status)
}

fn main() {
    let binaries: Vec<(String, String)> = std::env::args()
        .skip(1)
        .filter_map(|a| a.split_once('=').map(|(n, b)| (n.into(), b.into())))
        .collect();
    assert!(
        !binaries.is_empty(),
        "usage: cargo bench --bench idle_connections -- NAME=BINARY [NAME=BINARY …]"
    );
    let idle = env_or("IDLE", 2000);
    let rounds = env_or("ROUNDS", 5);
    let sources = env_or("SOURCES", 8).clamp(1, 250);
    raise_own_fd_limit(idle as u64 + 512);
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/testdata/github/webhooks/check_run.completed.json"
    ))
    .expect("the check_run fixture (shared/testdata beside the repository)");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let signature = format!("sha256={hex}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    println!(
        "a signed check_run delivery with {idle} idle connections from {sources} source addresses"
    );
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); binaries.len()];
    for round in 0..rounds {
        for (i, (name, binary)) in binaries.iter().enumerate() {
            let server = start(binary);
            // Ready: a first delivery with no idle connection open.
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(server.addr).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let (_, status) = delivery(server.addr, "warm-up", &body, &signature);
            assert_eq!(status, "200", "{name}: warm-up delivery");
            let opened = Instant::now();
            let held = runtime.block_on(open_idle(server.addr, idle, sources));
            let open_time = opened.elapsed();
            let id = format!("round-{round}");
            let (took, status) = delivery(server.addr, &id, &body, &signature);
            let ms = took.as_secs_f64() * 1000.0;
            println!(
                "round {round} {name:>8}: {ms:>10.2} ms  status {status}  ({} idle opened in {:.2} s)",
                held.len(),
                open_time.as_secs_f64()
            );
            samples[i].push(if status == "200" { ms } else { f64::INFINITY });
            drop(held);
        }
    }
    for ((name, _), mut s) in binaries.iter().zip(samples) {
        s.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name:>8}: median {:.2} ms, min {:.2} ms, max {:.2} ms ({} rounds)",
            s[s.len() / 2],
            s[0],
            s[s.len() - 1],
            s.len()
        );
    }
}

async fn open_idle(target: SocketAddr, count: usize, sources: usize) -> Vec<tokio::net::TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for i in 0..count {
        let source = Ipv4Addr::new(127, 0, 0, 2 + (i % sources) as u8);
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
        match tokio::time::timeout(Duration::from_secs(10), socket.connect(target)).await {
            Ok(Ok(stream)) => streams.push(stream),
            other => {
                eprintln!("idle connection {i}: {other:?}");
                break;
            }
        }
    }
    streams
}
