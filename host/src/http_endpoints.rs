//! The operator's HTTP endpoints on their own address: `/metrics` (Prometheus),
//! `/healthz` (the process is up), `/readyz` (serving players, not draining) and
//! `/plugins` (the loaded plugins with their limits, grants and health, as JSON;
//! what `passage plugins` shows).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
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
use crate::reload::Live;

/// The plugin set in use, for `passage plugins`.
fn plugins_json(live: &Live) -> serde_json::Value {
    let active = live.current();
    let files: Vec<_> = active
        .plugins
        .files
        .iter()
        .map(|f| {
            let roles: Vec<_> = f
                .pools()
                .iter()
                .map(|pool| {
                    serde_json::json!({
                        "role": pool.role().to_string(),
                        "contract": pool.contract().as_str(),
                        // A router keeps one instance whatever the limit says.
                        "max_instances": pool.limits().max_instances,
                        "calls": pool.health().calls.load(Ordering::Relaxed),
                        "failures": pool.health().failures.load(Ordering::Relaxed),
                        "busy": pool.health().saturated.load(Ordering::Relaxed),
                        "health": pool.health().view(),
                    })
                })
                .collect();
            let loaded_at = f
                .loaded_at
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            serde_json::json!({
                "name": &*f.name,
                "file": f.path.display().to_string(),
                "sha256": f.sha256,
                "size": f.size,
                "contract": f.contract().as_str(),
                "loaded_at": loaded_at,
                "limits": {
                    "call_timeout_ms": f.limits.call_timeout.as_millis() as u64,
                    "memory_limit_mib": f.limits.memory_limit >> 20,
                    "max_instances": f.limits.max_instances,
                },
                "capabilities": {
                    "log": true,
                    "http_allow": f.limits.http_allow,
                    "keyvalue": f.limits.keyvalue,
                },
                "roles": roles,
                "adoption": f.adopted.to_json(),
            })
        })
        .collect();
    serde_json::json!({ "generation": active.generation, "plugins": files })
}

/// A scraper or probe that does not send its request line and headers in this
/// long is cut off, so idle sockets cannot pile up.
const HEADER_DEADLINE: Duration = Duration::from_secs(5);

/// Serves for as long as the runtime runs. Each connection is its own task; a
/// failing one (reset, slow headers) is dropped without a log line above debug.
pub async fn serve(listener: TcpListener, live: Option<Arc<Live>>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let live = live.clone();
                tokio::spawn(async move {
                    let handler = move |request| respond(request, live.clone());
                    let result = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_DEADLINE)
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service_fn(handler))
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

async fn respond(
    request: Request<Incoming>,
    live: Option<Arc<Live>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
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
        "/plugins" => match live {
            Some(live) => {
                let mut response = text(StatusCode::OK, plugins_json(&live).to_string());
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                response
            }
            None => text(StatusCode::NOT_FOUND, "no plugins in this process\n"),
        },
        "/readyz" => match metrics().readiness() {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, why),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz, /readyz or /plugins\n",
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
