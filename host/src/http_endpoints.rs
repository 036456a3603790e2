//! The operator's HTTP endpoints on their own address: `/metrics` (Prometheus),
//! `/healthz` (the process is up) and `/readyz` (serving players, not draining).

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::metrics::metrics;

/// A scraper or probe that does not send its request line and headers in this
/// long is cut off, so idle sockets cannot pile up.
const HEADER_DEADLINE: Duration = Duration::from_secs(5);

/// Serves for as long as the runtime runs. Each connection is its own task; a
/// failing one (reset, slow headers) is dropped without a log line above debug.
pub async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    let result = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_DEADLINE)
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service_fn(respond))
                        .await;
                    if let Err(e) = result {
                        tracing::debug!("metrics endpoint connection: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("metrics endpoint accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn respond(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n"));
    }
    Ok(match request.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, metrics().render());
            response.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if metrics().is_ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz or /readyz\n",
        ),
    })
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    response
}
