//! Reading a request body within a size and a time limit.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Over the limit: announced by Content-Length or found while streaming.
    TooLarge,
    /// Not complete within the body timeout.
    TimedOut,
    /// The client went away or sent a malformed body.
    Broken,
}

/// The announced length when Content-Length is present and parses.
pub(crate) fn content_length(headers: &hyper::HeaderMap) -> Option<u64> {
    headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Collects the body, failing fast when Content-Length already exceeds `max`, and again
/// while streaming (chunked bodies have no length up front).
pub(crate) async fn read(
    body: Incoming,
    headers: &hyper::HeaderMap,
    max: u64,
    timeout: Duration,
) -> Result<hyper::body::Bytes, BodyError> {
    if content_length(headers).is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge);
    }
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Broken),
    }
}
