//! The accept loop, one task per connection, and the per-request pipeline:
//! route → body within limits → handler → JSON response → log line.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::FutureExt;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use super::body::{self, BodyError};
use super::{
    IDLE_EXIT_ENV, Reply, Request, Response, Route, Routing, ServerOptions, background_work,
    idle_exit_after, idle_expired, route,
};
use crate::config::HttpLimits;
use crate::daemon::notify::Notifier;

/// Connections served at once. When all are taken, a new connection makes the oldest idle
/// one (no request in flight) close: idle or slow-header connections cannot starve a real
/// delivery (issue 15: 260 idle connections delayed one by the 10 s header timeout).
const MAX_CONNECTIONS: usize = 256;
/// Connections accepted at once (served + waiting for a serving slot after an eviction);
/// more wait in the kernel's backlog (systemd's, when socket-activated). Together with the
/// listener, journald and SQLite this stays under systemd's default soft limit of 1024 file
/// descriptors.
const MAX_OPEN: usize = 2 * MAX_CONNECTIONS;
/// Blocking threads for handlers. They mostly wait (for a group commit), so there are
/// enough of them for deliveries to share commits; an idle one costs little memory.
const MAX_BLOCKING_THREADS: usize = 64;

/// How the core calls into the service.
pub(super) enum Handler {
    /// May block (SQLite, files): runs on the blocking pool.
    Blocking(Box<dyn Fn(&Request) -> Response + Send + Sync>),
    /// Never blocks: runs on the async worker and may answer later (after a group commit),
    /// which saves two thread hand-offs per request.
    NonBlocking(Box<dyn Fn(&Request) -> Reply + Send + Sync>),
}

struct Shared {
    name: &'static str,
    routes: Vec<Route>,
    limits: HttpLimits,
    handler: Handler,
    started: Instant,
    /// Milliseconds after `started` of the last request (for the idle exit).
    last_request_ms: AtomicU64,
    requests: AtomicU64,
    rejected: AtomicU64,
    connections: AtomicUsize,
    /// The connections holding a serving slot, oldest first (by accept order).
    served: Mutex<BTreeMap<u64, Arc<Served>>>,
    /// Connections waiting for a slot that no eviction has been made for yet (in a burst
    /// every served connection may already be on its way out): paid as soon as one is
    /// idle again, at the next registration or answered request.
    owed: AtomicUsize,
    next_id: AtomicU64,
    evicted: AtomicU64,
}

/// One connection holding a serving slot.
struct Served {
    /// A request is being handled (from its complete headers to its response).
    busy: AtomicBool,
    /// Told to close to make room for a new connection.
    evict: Notify,
}

impl Shared {
    /// Tells the oldest connection with no request in flight to close (a keep-alive
    /// connection between requests, or one that has not sent complete headers). False when
    /// every served connection is busy: then the new one waits for a slot.
    fn evict_oldest_idle(&self) -> bool {
        let mut served = self.served.lock().expect("registry lock");
        let oldest = served
            .iter()
            .find(|(_, c)| !c.busy.load(Ordering::SeqCst))
            .map(|(id, _)| *id);
        match oldest.and_then(|id| served.remove(&id)) {
            Some(victim) => {
                // notify_one keeps the wake-up if the task is not waiting yet.
                victim.evict.notify_one();
                self.evicted.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Makes the evictions owed to waiting connections, as far as idle ones allow.
    fn settle(&self) {
        while self.owed.load(Ordering::SeqCst) > 0 && self.evict_oldest_idle() {
            let _ = self
                .owed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        }
    }

    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_request_ms.store(ms, Ordering::Relaxed);
    }

    fn since_last_request(&self) -> Duration {
        let last = Duration::from_millis(self.last_request_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// Blocks until SIGTERM/SIGINT or idle exit. The listener comes from systemd (LISTEN_FDS
/// via listenfd) or binds `bind`. Sends READY=1 once listening, STATUS= lines with request
/// counts, WATCHDOG=1 from the serving loop and STOPPING=1 on stop.
pub fn serve(
    options: ServerOptions,
    handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
) -> anyhow::Result<()> {
    serve_with(options, Handler::Blocking(Box::new(handler)))
}

/// Like [`serve`], for a handler that never blocks: it runs on the async worker and returns
/// either the response or a future of it.
pub fn serve_nonblocking(
    options: ServerOptions,
    handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> anyhow::Result<()> {
    serve_with(options, Handler::NonBlocking(Box::new(handler)))
}

fn serve_with(options: ServerOptions, handler: Handler) -> anyhow::Result<()> {
    // Before any thread exists: listenfd removes LISTEN_FDS/LISTEN_PID from the environment.
    let (listener, activated) = take_listener(options.bind)?;
    // Two workers: with one thread the reactor itself became the limit under load
    // (measured with bench/webhook_vs_nginx.sh).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(options, handler, listener, activated))
}

fn take_listener(bind: SocketAddr) -> anyhow::Result<(std::net::TcpListener, bool)> {
    let mut fds = listenfd::ListenFd::from_env();
    let (listener, activated) = if fds.len() > 0 {
        let listener = fds
            .take_tcp_listener(0)
            .context("the socket passed by systemd (LISTEN_FDS) is not a TCP listener")?
            .context("systemd passed no socket in LISTEN_FDS")?;
        (listener, true)
    } else {
        let listener = std::net::TcpListener::bind(bind).map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {bind}: {e} (is another instance or the .socket unit \
                 holding the port? change host/port in the config)"
            )
        })?;
        (listener, false)
    };
    // tokio requires non-blocking sockets; systemd passes them blocking.
    listener.set_nonblocking(true)?;
    Ok((listener, activated))
}

/// Runs the handler; a panic in it is a 500 (and a log line), not a dead server.
async fn call_handler(shared: &Arc<Shared>, request: Request) -> Response {
    let outcome = match &shared.handler {
        Handler::Blocking(_) => {
            let shared_for_thread = Arc::clone(shared);
            tokio::task::spawn_blocking(move || match &shared_for_thread.handler {
                Handler::Blocking(handler) => handler(&request),
                Handler::NonBlocking(_) => unreachable!("matched Blocking above"),
            })
            .await
            .map_err(|e| e.to_string())
        }
        Handler::NonBlocking(handler) => {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&request))) {
                Ok(Reply::Now(response)) => Ok(response),
                // Awaited in place, not spawned: a task per request cost a hand-off (often to
                // the other worker) for nothing.
                Ok(Reply::Later(future)) => std::panic::AssertUnwindSafe(future)
                    .catch_unwind()
                    .await
                    .map_err(|_| "panicked".to_string()),
                Err(_) => Err("panicked".to_string()),
            }
        }
    };
    outcome.unwrap_or_else(|e| {
        tracing::error!(
            event = "http_handler_panic",
            server = shared.name,
            "handler failed: {e}"
        );
        Response::error(500, "internal error")
    })
}

async fn run(
    options: ServerOptions,
    handler: Handler,
    listener: std::net::TcpListener,
    activated: bool,
) -> anyhow::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let local = listener.local_addr()?;
    let idle_limit = idle_exit_after(
        &options.limits,
        std::env::var(IDLE_EXIT_ENV).ok().as_deref(),
    );
    let shared = Arc::new(Shared {
        name: options.name,
        routes: options.routes,
        limits: options.limits,
        handler,
        started: Instant::now(),
        last_request_ms: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        connections: AtomicUsize::new(0),
        served: Mutex::new(BTreeMap::new()),
        owed: AtomicUsize::new(0),
        next_id: AtomicU64::new(0),
        evicted: AtomicU64::new(0),
    });
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let open = Arc::new(Semaphore::new(MAX_OPEN));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut notifier = Notifier::from_env();
    let mut tick = tokio::time::interval(notifier.max_block());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let how = if activated {
        "socket-activated"
    } else {
        "bound by hand"
    };
    let idle_text = idle_limit
        .map(|d| format!("idle exit after {}s", d.as_secs()))
        .unwrap_or_else(|| "no idle exit".into());
    tracing::info!(
        event = "http_listening",
        server = shared.name,
        address = %local,
        activated,
        "{} listening on {local} ({how}; {idle_text})",
        shared.name
    );
    let status = |s: &Shared| {
        format!(
            "listening on {local} · {} requests · {} rejected · {} idle connections closed",
            s.requests.load(Ordering::Relaxed),
            s.rejected.load(Ordering::Relaxed),
            s.evicted.load(Ordering::Relaxed)
        )
    };
    notifier.ready(&status(&shared));
    let mut reported = (0, 0);

    let reason = loop {
        tokio::select! {
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
            _ = tick.tick() => {
                notifier.keepalive();
                let now = (
                    shared.requests.load(Ordering::Relaxed),
                    shared.evicted.load(Ordering::Relaxed),
                );
                if now != reported {
                    reported = now;
                    notifier.status(&status(&shared));
                }
                if idle_expired(
                    idle_limit,
                    shared.since_last_request(),
                    shared.connections.load(Ordering::SeqCst),
                    background_work(),
                ) {
                    break "idle";
                }
            }
            accepted = accept(&listener, &open) => match accepted {
                Ok((stream, open_permit)) => {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    let slot = Arc::clone(&slots).try_acquire_owned().ok();
                    if slot.is_none() {
                        shared.owed.fetch_add(1, Ordering::SeqCst);
                        shared.settle();
                    }
                    let admission = Admission { _open: open_permit, slot, slots: Arc::clone(&slots) };
                    tokio::spawn(connection(Arc::clone(&shared), stream, admission, stop_rx.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(event = "http_accept_failed", server = shared.name, "accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    };

    notifier.stopping();
    // Stop accepting (under socket activation systemd keeps the socket and queues new
    // connections for the next start), then let in-flight requests finish.
    drop(listener);
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(
        shared.limits.header_timeout_seconds + shared.limits.body_timeout_seconds + 10,
    );
    let deadline = Instant::now() + grace;
    while shared.connections.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        notifier.keepalive();
    }
    tracing::info!(
        event = "http_stopped",
        server = shared.name,
        reason,
        requests = shared.requests.load(Ordering::Relaxed),
        "{} stopped ({reason}) after {} requests",
        shared.name,
        shared.requests.load(Ordering::Relaxed)
    );
    Ok(())
}

async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> std::io::Result<(tokio::net::TcpStream, OwnedSemaphorePermit)> {
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .expect("semaphore never closed");
    let (stream, _) = listener.accept().await?;
    Ok((stream, permit))
}

/// What an accepted connection holds: its place among the open ones, and a serving slot
/// (or the semaphore to wait on for one, after it made an idle connection close).
struct Admission {
    _open: OwnedSemaphorePermit,
    slot: Option<OwnedSemaphorePermit>,
    slots: Arc<Semaphore>,
}

async fn connection(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    admission: Admission,
    mut stop: watch::Receiver<bool>,
) {
    let _slot = match admission.slot {
        Some(slot) => Some(slot),
        None => loop {
            tokio::select! {
                slot = Arc::clone(&admission.slots).acquire_owned() => break slot.ok(),
                _ = stop.changed() => break None,
                // Still waiting (in a burst the eviction made for it may have gone to an
                // earlier waiter): make room again rather than wait for a header timeout.
                _ = tokio::time::sleep(Duration::from_millis(20)) => {
                    shared.evict_oldest_idle();
                }
            }
        },
    };
    if _slot.is_some() {
        serve_connection(&shared, stream, stop).await;
    }
    shared.connections.fetch_sub(1, Ordering::SeqCst);
}

async fn serve_connection(
    shared: &Arc<Shared>,
    stream: tokio::net::TcpStream,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    // Bytes already waiting (a delivery that queued behind the idle ones): not idle.
    let mut probe = [0u8; 1];
    let has_data = matches!(
        stream.peek(&mut probe).now_or_never(),
        Some(Ok(n)) if n > 0
    );
    let me = Arc::new(Served {
        busy: AtomicBool::new(has_data),
        evict: Notify::new(),
    });
    shared
        .served
        .lock()
        .expect("registry lock")
        .insert(id, Arc::clone(&me));
    shared.settle();
    let service_shared = Arc::clone(shared);
    let service_me = Arc::clone(&me);
    let service = hyper::service::service_fn(move |req| {
        let shared = Arc::clone(&service_shared);
        // Set when hyper has the complete headers, before anything can evict it again.
        service_me.busy.store(true, Ordering::SeqCst);
        let me = Arc::clone(&service_me);
        async move {
            let response = handle(shared, req).await;
            me.busy.store(false, Ordering::SeqCst);
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(
            shared.limits.header_timeout_seconds.max(1),
        ))
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let stopping = *stop.borrow_and_update();
    if stopping {
        conn.as_mut().graceful_shutdown();
        let _ = conn.as_mut().await;
    } else {
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = stop.changed() => {
                // Finishes the request in flight, closes an idle keep-alive connection.
                conn.as_mut().graceful_shutdown();
                let _ = conn.as_mut().await;
            }
            _ = me.evict.notified() => {
                // Chosen while idle; a request that got its headers since then is finished
                // (the connection is not polled while this branch runs, so `busy` is final).
                if me.busy.load(Ordering::SeqCst) {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
        }
    }
    shared.served.lock().expect("registry lock").remove(&id);
}

async fn handle(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let started = Instant::now();
    shared.touch();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut allow = None;
    let mut close = false;
    let mut answered_by_handler = false;
    let response = match route(&shared.routes, &method, &path) {
        Routing::NotFound => Response::error(404, format!("no such path: {path}")),
        Routing::MethodNotAllowed(methods) => {
            let message = format!("{path} accepts {methods}");
            allow = Some(methods);
            Response::error(405, message)
        }
        Routing::Handler => {
            let (parts, incoming) = req.into_parts();
            let limits = &shared.limits;
            match body::read(
                incoming,
                &parts.headers,
                limits.max_body_bytes,
                Duration::from_secs(limits.body_timeout_seconds.max(1)),
            )
            .await
            {
                Err(error) => {
                    // The rest of the body is unread: this connection cannot be reused.
                    close = true;
                    match error {
                        BodyError::TooLarge => Response::error(
                            413,
                            format!("body larger than {} bytes", limits.max_body_bytes),
                        ),
                        BodyError::TimedOut => Response::error(
                            408,
                            format!("body not received within {} s", limits.body_timeout_seconds),
                        ),
                        BodyError::Broken => Response::error(400, "malformed or incomplete body"),
                    }
                }
                Ok(bytes) => {
                    let request = Request {
                        method: method.clone(),
                        path: path.clone(),
                        headers: parts.headers,
                        body: bytes,
                    };
                    answered_by_handler = true;
                    call_handler(&shared, request).await
                }
            }
        }
    };
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if response.status >= 400 {
        shared.rejected.fetch_add(1, Ordering::Relaxed);
    }
    // A slow handler counts as activity until it answers.
    shared.touch();
    let took = started.elapsed();
    log_request(
        &shared,
        &method,
        &path,
        response.status,
        took,
        answered_by_handler,
    );
    to_hyper(response, allow, close)
}

/// One line per request. Successful answers from the handler are at debug level: the
/// handler logs what it did (recorded, duplicate, created) in its own line, and a second
/// line per delivery cost a fifth of the receiver's throughput (and doubled what the
/// journal has to take). Every rejection is logged at info.
fn log_request(
    shared: &Shared,
    method: &hyper::Method,
    path: &str,
    status: u16,
    took: Duration,
    answered_by_handler: bool,
) {
    let duration_ms = (took.as_secs_f64() * 1e6).round() / 1000.0;
    macro_rules! line {
        ($level:expr) => {
            tracing::event!(
                $level,
                event = "http_request",
                server = shared.name,
                method = %method,
                path = %path,
                status,
                duration_ms,
                "{method} {path} → {status}"
            )
        };
    }
    if answered_by_handler && status < 400 {
        line!(tracing::Level::DEBUG);
    } else {
        line!(tracing::Level::INFO);
    }
}

fn to_hyper(
    response: Response,
    allow: Option<String>,
    close: bool,
) -> hyper::Response<Full<Bytes>> {
    let mut body = serde_json::to_vec(&response.body).unwrap_or_else(|_| b"{}".to_vec());
    body.push(b'\n');
    let status = hyper::StatusCode::from_u16(response.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = hyper::Response::new(Full::new(Bytes::from(body)));
    *out.status_mut() = status;
    let headers = out.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(allow) = allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
        headers.insert(ALLOW, allow);
    }
    if close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn status_of(port: u16, path: &str) -> Option<u16> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.split(' ').nth(1)?.parse().ok()
    }

    #[test]
    fn a_panicking_handler_is_a_500_and_the_server_keeps_serving() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let routes = ["/now", "/later", "/fine"]
            .map(|path| crate::http::Route {
                method: hyper::Method::POST,
                path,
            })
            .to_vec();
        let options = ServerOptions {
            name: "test",
            bind: ([127, 0, 0, 1], port).into(),
            limits: HttpLimits::default(),
            routes,
        };
        // Never stopped: the thread ends with the test process.
        std::thread::spawn(move || {
            serve_nonblocking(options, |req| match req.path.as_str() {
                "/now" => panic!("handler panics at once"),
                "/later" => Reply::Later(Box::pin(async { panic!("reply panics later") })),
                _ => Reply::Now(Response::ok(200, serde_json::json!({}))),
            })
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while status_of(port, "/fine").is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(status_of(port, "/now"), Some(500));
        assert_eq!(status_of(port, "/later"), Some(500));
        assert_eq!(status_of(port, "/fine"), Some(200), "still serving");
    }
}
