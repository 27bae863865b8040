//! `oc-ci-webhook` over real HTTP on loopback, started socket-activated (LISTEN_FDS).

mod support;
mod support_http;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use support::World;
use support_http::{NotifySocket, Receiver, request, sign};

const OC_CI_WEBHOOK: &str = env!("CARGO_BIN_EXE_oc-ci-webhook");
const SECRET: &str = "oc-test-secret";

/// The fixtures with their event names and the signatures listed in
/// shared/testdata/github/README.md (secret `oc-test-secret`).
const FIXTURES: &[(&str, &str, &str)] = &[
    (
        "check_run.completed.json",
        "check_run",
        "sha256=7c1e7382a40eaf6df986cd30bc4f335939a1ceb3c95dc8ccf9588f22c45ec468",
    ),
    (
        "check_run.created.json",
        "check_run",
        "sha256=7bda09c6c60aaa3328f02d83136fd00ad2cae6fefe8e6c43beb695dc4e77feb2",
    ),
    (
        "check_suite.completed.json",
        "check_suite",
        "sha256=71f3b942d0e032703999ebd24aafccb4a16f4aa9e73d19f89b863bdd3b98edda",
    ),
    (
        "issue_comment.created.json",
        "issue_comment",
        "sha256=bedbc6994715e73581bc9cd2a2ad712517f0736103ebaa85da28021036e5d75e",
    ),
    (
        "ping.json",
        "ping",
        "sha256=4f36cf1787c593fa95d3e57a624a02d6701058a9be00ce5bdc0c8a5d6a6b3e3a",
    ),
    (
        "pull_request.closed.json",
        "pull_request",
        "sha256=15312531e692f7ced0ff4bf1c0b7fcf585a102cd1f7376878493fbe252bf3db0",
    ),
    (
        "pull_request.opened.json",
        "pull_request",
        "sha256=60d4eb9c15020e979e90feb8faa5223565645f255e3fdfce98b1fdddcfbb6c1b",
    ),
    (
        "pull_request.synchronize.json",
        "pull_request",
        "sha256=1f38ffcdb9f3abb6da1fc5c7564fd5445e71b35326e14a72671c5fc35c2517d2",
    ),
    (
        "pull_request_review.submitted.json",
        "pull_request_review",
        "sha256=d2c4591a38394aeff9e4d30325581a408573c6bbcf3abb5a8707bb789d6b80e9",
    ),
    (
        "pull_request_review_comment.created.json",
        "pull_request_review_comment",
        "sha256=687432169774f8eed0c0ea3effcdb1a683814a42762942a8640398affb8be4e0",
    ),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/{name}", testdata!("github/webhooks"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A world whose config carries `ci_webhook:` settings (raw YAML lines under it).
fn world(settings: &str) -> World {
    let mut w = World::new();
    w.config.extra = format!("ci_webhook:\n  {}\n", settings.replace('\n', "\n  "));
    w.write_config();
    w
}

fn start(w: &World, env: &[(&str, &str)]) -> Receiver {
    let mut cmd = w.command(OC_CI_WEBHOOK);
    cmd.env("OPERATIONS_CENTER_WEBHOOK_SECRET", SECRET);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Receiver::spawn_activated(cmd, w.path())
}

fn post(
    r: &Receiver,
    event: &str,
    delivery: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> support_http::HttpResponse {
    let mut headers = vec![
        ("X-GitHub-Event", event),
        ("Content-Type", "application/json"),
    ];
    if let Some(d) = delivery {
        headers.push(("X-GitHub-Delivery", d));
    }
    if let Some(s) = signature {
        headers.push(("X-Hub-Signature-256", s));
    }
    request(r.addr, "POST", "/webhook", &headers, body)
}

fn ci_events(w: &World) -> Vec<Value> {
    let text = w.oc_ok(&["ci-events", "--json"]);
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap()
}

#[test]
fn every_fixture_verifies_and_tampering_is_rejected() {
    let w = world("allow_unsigned: false");
    let r = start(&w, &[]);
    for (i, (file, event, signature)) in FIXTURES.iter().enumerate() {
        let body = fixture(file);
        assert_eq!(
            sign(SECRET.as_bytes(), &body),
            *signature,
            "{file}: fixture bytes changed"
        );
        let delivery = format!("fixture-{i}");
        let resp = post(&r, event, Some(&delivery), Some(signature), &body);
        let expected = match *event {
            "check_run" | "check_suite" | "ping" => 200,
            _ => 202,
        };
        assert_eq!(
            resp.status,
            expected,
            "{file}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        if expected == 202 {
            assert_eq!(resp.json()["ignored"], *event);
        }
    }
    let events = ci_events(&w);
    assert_eq!(
        events.len(),
        3,
        "only check runs and suites are recorded: {events:?}"
    );
    let completed = events
        .iter()
        .find(|e| e["delivery_id"] == "fixture-0")
        .unwrap();
    assert_eq!(completed["repo"], "Codertocat/Hello-World");
    assert_eq!(completed["conclusion"], "success");
    assert_eq!(completed["pr_numbers"], serde_json::json!([2]));

    // Every way to get the signature wrong is 401 and records nothing.
    let body = fixture("check_run.completed.json");
    let good = FIXTURES[0].2;
    let mut flipped = body.clone();
    flipped[100] ^= 0x01;
    let no_newline = &body[..body.len() - 1];
    let wrong_secret = sign(b"oc-test-secret ", &body);
    let no_prefix = good.trim_start_matches("sha256=");
    let cases: [(&str, &[u8], Option<&str>); 5] = [
        ("one byte changed", &flipped, Some(good)),
        ("trailing newline stripped", no_newline, Some(good)),
        ("wrong secret", &body, Some(&wrong_secret)),
        ("missing header", &body, None),
        ("no sha256= prefix", &body, Some(no_prefix)),
    ];
    for (i, (what, body, signature)) in cases.into_iter().enumerate() {
        let resp = post(&r, "check_run", Some(&format!("bad-{i}")), signature, body);
        assert_eq!(resp.status, 401, "{what}");
        assert_eq!(resp.json()["ok"], false, "{what}");
    }
    assert_eq!(
        ci_events(&w).len(),
        3,
        "a rejected delivery must not be recorded"
    );
}

#[test]
fn redelivery_is_recorded_once_and_wakes_the_review_lane_once() {
    let w = world("allow_unsigned: false");
    let marker = w.path().join("trigger.env");
    let trigger = format!("env | grep -E '^(OC|CP)_CI_' >> {}", marker.display());
    let r = start(&w, &[("OPERATIONS_CENTER_WEBHOOK_TRIGGER", &trigger)]);
    let body = fixture("check_run.completed.json");
    let first = post(&r, "check_run", Some("same-id"), Some(FIXTURES[0].2), &body);
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["recorded"], true);
    let second = post(&r, "check_run", Some("same-id"), Some(FIXTURES[0].2), &body);
    assert_eq!(second.status, 200);
    assert_eq!(second.json()["duplicate"], true);
    assert_eq!(ci_events(&w).len(), 1);

    assert!(
        w.state.join("run/wake/review").exists(),
        "review lane not woken"
    );
    assert!(support::wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&marker).is_ok_and(|t| t.contains("OC_CI_DELIVERY=same-id"))
    }));
    std::thread::sleep(Duration::from_millis(300));
    let env = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(
        env.matches("OC_CI_DELIVERY=").count(),
        1,
        "trigger ran for the redelivery:\n{env}"
    );
    for line in [
        "OC_CI_REPO=Codertocat/Hello-World",
        "CP_CI_REPO=Codertocat/Hello-World",
        "CP_CI_PR_NUMBER=2",
        "OC_CI_CONCLUSION=success",
        "CP_CI_CONCLUSION=success",
        "OC_CI_EVENT=check_run",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing:\n{env}");
    }
    assert!(!env.contains(SECRET), "the secret leaked into the trigger");
}

#[test]
fn bad_requests_get_the_right_status() {
    let w = world("max_body_bytes: 4096");
    let r = start(&w, &[]);
    // Invalid JSON, correctly signed.
    let junk = b"{\"action\": \"completed\", oops";
    let resp = post(
        &r,
        "check_run",
        Some("junk"),
        Some(&sign(SECRET.as_bytes(), junk)),
        junk,
    );
    assert_eq!(resp.status, 400);
    assert!(
        resp.json()["error"]
            .as_str()
            .unwrap()
            .contains("invalid JSON")
    );
    // No delivery id.
    let body = br#"{"action":"completed","repository":{"full_name":"o/r"},"check_run":{"head_sha":"abc"}}"#;
    let resp = post(
        &r,
        "check_run",
        None,
        Some(&sign(SECRET.as_bytes(), body)),
        body,
    );
    assert_eq!(resp.status, 400);
    assert!(
        resp.json()["error"]
            .as_str()
            .unwrap()
            .contains("X-GitHub-Delivery")
    );
    // Over max_body_bytes, announced by Content-Length.
    let big = vec![b' '; 8192];
    let resp = post(
        &r,
        "check_run",
        Some("big"),
        Some(&sign(SECRET.as_bytes(), &big)),
        &big,
    );
    assert_eq!(resp.status, 413);
    // Over the limit without Content-Length (chunked): found while streaming.
    let mut stream = TcpStream::connect(r.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: check_run\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for _ in 0..3 {
        let _ = stream.write_all(format!("{:x}\r\n{}\r\n", 2000, " ".repeat(2000)).as_bytes());
    }
    let resp = support_http::read_response(&mut stream).expect("response");
    assert_eq!(resp.status, 413);
    // Unknown path, wrong method.
    assert_eq!(request(r.addr, "POST", "/nope", &[], b"{}").status, 404);
    let resp = request(r.addr, "GET", "/webhook", &[], b"");
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("POST"));
    assert!(ci_events(&w).is_empty());
}

#[test]
fn no_secret_refuses_to_start_unless_unsigned_is_allowed() {
    let w = world("allow_unsigned: false");
    let mut cmd = w.command(OC_CI_WEBHOOK);
    cmd.env_remove("OPERATIONS_CENTER_WEBHOOK_SECRET");
    let mut r = Receiver::spawn_activated(cmd, w.path());
    let status = r.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(78));
    let log = r.log();
    assert!(
        log.contains("OPERATIONS_CENTER_WEBHOOK_SECRET")
            && log.contains("credentials/webhook-secret"),
        "{log}"
    );

    let w = world("allow_unsigned: true");
    let mut cmd = w.command(OC_CI_WEBHOOK);
    cmd.env_remove("OPERATIONS_CENTER_WEBHOOK_SECRET");
    let r = Receiver::spawn_activated(cmd, w.path());
    let resp = post(
        &r,
        "check_run",
        Some("u-1"),
        None,
        &fixture("check_run.completed.json"),
    );
    assert_eq!(resp.status, 200);
    assert!(
        r.log().contains("UNSIGNED"),
        "no warning at start: {}",
        r.log()
    );
}

#[test]
fn the_credential_file_is_the_secret() {
    let w = world("allow_unsigned: false");
    let creds = w.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("oc_webhook-secret"), format!("{SECRET}\n")).unwrap();
    let mut cmd = w.command(OC_CI_WEBHOOK);
    cmd.env("CREDENTIALS_DIRECTORY", &creds);
    let r = Receiver::spawn_activated(cmd, w.path());
    let (file, event, signature) = FIXTURES[2];
    assert_eq!(
        post(&r, event, Some("c-1"), Some(signature), &fixture(file)).status,
        200
    );
    assert_eq!(ci_events(&w)[0]["event"], "check_suite");
}

#[test]
fn a_slow_client_is_cut_off_while_others_are_served() {
    let w = world("header_timeout_seconds: 1\nbody_timeout_seconds: 1");
    let r = start(&w, &[]);
    let started = Instant::now();
    // Headers one byte at a time, never finished.
    let mut slow = TcpStream::connect(r.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut cut_off = None;
    let head =
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: ping\r\nX-Padding: ".repeat(4);
    for (i, byte) in head.iter().enumerate() {
        if slow.write_all(&[*byte]).is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 256];
        match slow.read(&mut buf) {
            Ok(_) => {
                cut_off = Some(started.elapsed());
                break;
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                cut_off = Some(started.elapsed());
                break;
            }
        }
        if i == 5 {
            // Meanwhile another client is served promptly.
            let t = Instant::now();
            let ping = fixture("ping.json");
            let resp = post(
                &r,
                "ping",
                Some("p"),
                Some(&sign(SECRET.as_bytes(), &ping)),
                &ping,
            );
            assert_eq!(resp.status, 200);
            assert!(
                t.elapsed() < Duration::from_millis(900),
                "blocked by the slow client"
            );
        }
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    let cut_off = cut_off.expect("the slow client was never cut off");
    assert!(
        cut_off < Duration::from_secs(4),
        "cut off only after {cut_off:?}"
    );

    // A body that stops halfway gets 408 after body_timeout.
    let mut stream = TcpStream::connect(r.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: ping\r\nContent-Length: 100\r\n\r\n{\"zen\":")
        .unwrap();
    let t = Instant::now();
    let resp = support_http::read_response(&mut stream).expect("response");
    assert_eq!(resp.status, 408);
    assert!(t.elapsed() < Duration::from_secs(4));
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits_zero() {
    let w = world("body_timeout_seconds: 20");
    let notify = NotifySocket::new(w.path());
    let mut r = start(&w, &[("NOTIFY_SOCKET", notify.path().to_str().unwrap())]);
    let ready = notify
        .wait_for("READY=1", Duration::from_secs(20))
        .expect("READY=1");
    assert!(ready.contains("STATUS=listening on"), "{ready}");

    // A request whose body is still arriving when SIGTERM comes.
    let body = fixture("check_run.completed.json");
    let mut stream = TcpStream::connect(r.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: check_run\r\nX-GitHub-Delivery: inflight\r\nX-Hub-Signature-256: {}\r\nContent-Length: {}\r\n\r\n",
        FIXTURES[0].2,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..1000]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    r.signal(Signal::SIGTERM);
    assert!(
        notify
            .wait_for("STOPPING=1", Duration::from_secs(10))
            .is_some()
    );
    stream.write_all(&body[1000..]).unwrap();
    let resp = support_http::read_response(&mut stream).expect("response");
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let status = r
        .wait_exit(Duration::from_secs(20))
        .expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", r.log());
    assert_eq!(ci_events(&w).len(), 1);
}

#[test]
fn exits_when_idle_and_each_request_restarts_the_clock() {
    let w = world("idle_exit_minutes: 60");
    let mut r = start(&w, &[("OPERATIONS_CENTER_HTTP_IDLE_EXIT_SECONDS", "2")]);
    let ping = fixture("ping.json");
    let signature = sign(SECRET.as_bytes(), &ping);
    // Requests every second keep it alive past the 2 s limit.
    for _ in 0..4 {
        assert_eq!(
            post(&r, "ping", Some("p"), Some(&signature), &ping).status,
            200
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        r.child.try_wait().unwrap().is_none(),
        "exited although requests kept coming"
    );
    let status = r.wait_exit(Duration::from_secs(10)).expect("idle exit");
    assert_eq!(status.code(), Some(0));
    assert!(r.log().contains("idle"), "{}", r.log());
}

#[test]
fn systemd_socket_activate_starts_it_on_the_first_connection() {
    if Command::new("systemd-socket-activate")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-socket-activate not installed; skipped");
        return;
    }
    let w = world("allow_unsigned: false");
    // A free port: bind, note, release (systemd-socket-activate binds it again at once).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = w.command("systemd-socket-activate");
    cmd.args(["--listen", &addr.to_string()])
        .args([
            "-E",
            "OPERATIONS_CENTER_CONFIG",
            "-E",
            "OPERATIONS_CENTER_STATE_DIR",
        ])
        .args(["-E", &format!("OPERATIONS_CENTER_WEBHOOK_SECRET={SECRET}")])
        .arg(OC_CI_WEBHOOK)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(w.path().join("activate.stderr")).unwrap());
    let mut child = cmd.spawn().unwrap();
    let guard = scopeguard(&mut child);
    assert!(support_http::wait_listening(addr, Duration::from_secs(10)));
    let r = Receiver {
        child: Command::new("true").spawn().unwrap(),
        addr,
        stderr_path: w.path().join("activate.stderr"),
    };
    let (file, event, signature) = FIXTURES[0];
    let resp = post(&r, event, Some("sa-1"), Some(signature), &fixture(file));
    assert_eq!(resp.status, 200, "{}", r.log());
    assert_eq!(ci_events(&w).len(), 1);
    drop(guard);
}

/// Kills the child when the test ends, pass or fail.
fn scopeguard(child: &mut std::process::Child) -> impl Drop + '_ {
    struct Guard<'a>(&'a mut std::process::Child);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    Guard(child)
}
