//! The HTTP client the OTLP exporters send with: the router's own reqwest,
//! driven on the router's tokio runtime.
//!
//! The SDK's batch span processor and periodic metric reader run on threads of
//! their own, outside any tokio runtime, so a tokio-based client cannot be
//! awaited there directly: the request is spawned onto the runtime and its
//! handle awaited, which works from any executor.

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

#[derive(Debug, Clone)]
pub struct RuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    /// Sent with every export (a vendor's API key), from `headers_file`.
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl RuntimeClient {
    pub fn new(
        runtime: tokio::runtime::Handle,
        timeout: std::time::Duration,
        headers: Vec<(http::HeaderName, http::HeaderValue)>,
    ) -> anyhow::Result<RuntimeClient> {
        Ok(RuntimeClient {
            client: reqwest::Client::builder()
                .timeout(timeout)
                // An OTLP receiver is an operator's service: never follow a redirect elsewhere.
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            runtime,
            headers,
        })
    }
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let client = self.client.clone();
        let request: reqwest::Request = request.try_into()?;
        self.runtime
            .spawn(async move {
                let response = client.execute(request).await?;
                let mut answer = Response::builder().status(response.status());
                if let Some(headers) = answer.headers_mut() {
                    *headers = response.headers().clone();
                }
                let body = response.bytes().await?;
                Ok::<_, HttpError>(answer.body(body)?)
            })
            .await?
    }
}

/// `name: value` lines (blank lines and `#` comments skipped); an error names
/// the line.
pub fn parse_headers(text: &str) -> anyhow::Result<Vec<(http::HeaderName, http::HeaderValue)>> {
    let mut headers = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            anyhow::bail!("line {}: expected `name: value`", n + 1);
        };
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| anyhow::anyhow!("line {}: invalid header name", n + 1))?;
        let mut value = http::HeaderValue::from_str(value.trim())
            .map_err(|_| anyhow::anyhow!("line {}: invalid header value", n + 1))?;
        value.set_sensitive(true);
        headers.push((name, value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        let h = parse_headers("# vendor key\nx-api-key: s3cr3t\n\nAuthorization: Bearer a b\n")
            .unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].0, "x-api-key");
        assert!(h[0].1.is_sensitive());
        assert_eq!(h[1].1, "Bearer a b");
        let e = parse_headers("ok: 1\nnot a header\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
