//! The in-process HTTP server under the test fakes (Plane, GitHub): hyper on a small tokio
//! runtime in a background thread, one handler for every request, stopped by a oneshot.

use std::future::Future;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;

/// Serves `listener` until `stopped` fires; `handle` answers each request.
pub fn serve<H, F>(
    listener: std::net::TcpListener,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
    handle: H,
) where
    H: Fn(hyper::Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<Full<Bytes>>> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("fake server runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let handle = handle.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let answer = handle(req);
                            async move { Ok::<_, std::convert::Infallible>(answer.await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
    });
    // Open keep-alive connections are dropped with the runtime.
    rt.shutdown_timeout(Duration::from_millis(200));
}

/// A request as the fakes look at it: method, path, query, one header, body as text.
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub header: Option<String>,
    pub body: String,
}

/// Reads the whole request; `header` names the one header the fake authenticates with.
pub async fn receive(req: hyper::Request<Incoming>, header: &str) -> Received {
    use http_body_util::BodyExt;
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let header = req
        .headers()
        .get(header)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Received {
        method,
        path,
        query,
        header,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A response with `status`, `body` and the headers given (the fake's own first).
pub fn respond(
    status: u16,
    body: String,
    headers: &[(String, String)],
) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    let h = resp.headers_mut();
    for (k, v) in headers {
        h.insert(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}
