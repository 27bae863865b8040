//! Idle connections must not starve real deliveries (issue 15 item 6): with 2,000 idle
//! connections open from several loopback source addresses, a signed delivery to
//! `oc-ci-webhook` is still answered within GitHub's 10 s and recorded.

mod support;
mod support_http;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use support::World;
use support_http::{Receiver, read_response, sign};

const OC_CI_WEBHOOK: &str = env!("CARGO_BIN_EXE_oc-ci-webhook");
const SECRET: &str = "oc-test-secret";
const IDLE: usize = 2000;
/// Source addresses 127.0.0.2 … 127.0.0.9.
const SOURCES: u8 = 8;

fn nofile() -> nix::libc::rlimit {
    let mut limit = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    assert_eq!(
        unsafe { nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit
}

/// This test process needs a descriptor per idle connection.
fn raise_own_fd_limit(wanted: u64) {
    let mut limit = nofile();
    if limit.rlim_cur < wanted {
        assert!(
            limit.rlim_max >= wanted,
            "RLIMIT_NOFILE hard limit {} < {wanted}: raise it (ulimit -Hn) to run this test",
            limit.rlim_max
        );
        limit.rlim_cur = wanted;
        // SAFETY: setrlimit reads the struct we pass.
        assert_eq!(
            unsafe { nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &limit) },
            0
        );
    }
}

/// Opens the idle connections: each sends nothing, as a port scanner or a stalled client.
fn open_idle(target: SocketAddr) -> Vec<tokio::net::TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut streams = Vec::with_capacity(IDLE);
        for i in 0..IDLE {
            let source = Ipv4Addr::new(127, 0, 0, 2 + (i % SOURCES as usize) as u8);
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket
                .bind(SocketAddr::new(IpAddr::V4(source), 0))
                .unwrap_or_else(|e| panic!("bind {source}: {e}"));
            let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(target))
                .await
                .unwrap_or_else(|_| panic!("idle connection {i} not even queued within 10 s"))
                .unwrap_or_else(|e| panic!("idle connection {i}: {e}"));
            streams.push(stream);
        }
        streams
    })
}

#[test]
fn a_delivery_is_answered_and_recorded_while_2000_idle_connections_are_open() {
    raise_own_fd_limit(IDLE as u64 + 512);
    let mut w = World::new();
    w.config.extra = "ci_webhook:\n  allow_unsigned: false\n".into();
    w.write_config();
    let mut cmd = w.command(OC_CI_WEBHOOK);
    cmd.env("OPERATIONS_CENTER_WEBHOOK_SECRET", SECRET);
    // Under systemd the receiver gets the default soft limit of 1024 descriptors: so here.
    let hard = nofile().rlim_max;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = nix::libc::rlimit {
                rlim_cur: 1024,
                rlim_max: hard,
            };
            if nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let r = Receiver::spawn_activated(cmd, w.path());

    let idle = open_idle(r.addr);
    assert_eq!(idle.len(), IDLE);

    let body = std::fs::read(format!(
        "{}/check_run.completed.json",
        testdata!("github/webhooks")
    ))
    .unwrap();
    let mut stream = TcpStream::connect(r.addr).expect("connect");
    // GitHub gives up on a delivery after 10 s.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\
         Content-Type: application/json\r\nX-GitHub-Event: check_run\r\n\
         X-GitHub-Delivery: behind-2000-idle\r\nX-Hub-Signature-256: {}\r\n\r\n",
        r.addr,
        body.len(),
        sign(SECRET.as_bytes(), &body)
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let response = read_response(&mut stream).unwrap_or_else(|| {
        panic!(
            "no answer within GitHub's 10 s while {IDLE} idle connections are open; log:\n{}",
            r.log()
        )
    });
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );

    let events: serde_json::Value =
        serde_json::from_str(&w.oc_ok(&["ci-events", "--json"])).unwrap();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["delivery_id"] == "behind-2000-idle"),
        "the delivery was not recorded: {events}"
    );
    // The receiver is still alive and did not run out of descriptors.
    assert!(
        !r.log().contains("http_accept_failed"),
        "accept failed: {}",
        r.log()
    );
    drop(idle);
}
