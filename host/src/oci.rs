//! Plugins as OCI artifacts: a small client of the OCI distribution API for
//! single-layer WebAssembly components, in the layout the CNCF wasm working
//! group specifies and `wasm-pkg-tools` (wkg), Spin and wasmCloud use:
//! an image manifest (`application/vnd.oci.image.manifest.v1+json`) whose config
//! is `application/vnd.wasm.config.v0+json` and whose one layer is
//! `application/wasm`. The detached signature travels as the manifest annotation
//! [`SIGNATURE_ANNOTATION`] (a second layer would make other tools refuse the
//! artifact, and registry 2.8 has no referrers API).
//!
//! A registry is untrusted: the manifest is capped at 4 MiB before it is read,
//! a blob at its descriptor's size (itself capped), and every digest is checked
//! (manifest against the reference and `Docker-Content-Digest`, blobs against
//! their descriptors). Plain HTTP is used only for loopback registries unless
//! the caller says `insecure`. Credentials (optional) come from the caller;
//! Basic and Bearer-token challenges are answered.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The manifest annotation holding the component's `.minisig` text.
pub const SIGNATURE_ANNOTATION: &str = "dev.passage.plugin.signature";
/// The distribution spec lets registries refuse manifests over 4 MiB; so do we.
const MAX_MANIFEST: usize = 4 << 20;
/// The wasm config blob is a few hundred bytes.
const MAX_CONFIG: u64 = 1 << 20;

/// `REGISTRY/REPO[:TAG|@sha256:DIGEST]`. The registry is mandatory: there is
/// no default registry to send a plugin name to by accident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "{}/{}{sep}{}",
            self.registry, self.repository, self.reference
        )
    }
}

impl std::str::FromStr for Reference {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let (registry, rest) = s.split_once('/').context(
            "an OCI reference is REGISTRY/REPOSITORY:TAG (e.g. ghcr.io/acme/round-robin:1.0.0)",
        )?;
        ensure!(
            registry.contains('.') || registry.contains(':') || registry == "localhost",
            "`{registry}` is not a registry host (an OCI reference is REGISTRY/REPOSITORY:TAG)"
        );
        let (repository, reference) = if let Some((repo, digest)) = rest.split_once('@') {
            let hex = digest.strip_prefix("sha256:").unwrap_or_default();
            ensure!(
                hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "`{digest}` is not a sha256: digest"
            );
            (repo, digest.to_owned())
        } else {
            match rest.rsplit_once(':') {
                Some((repo, tag)) if !tag.contains('/') => {
                    ensure!(
                        !tag.is_empty()
                            && tag.len() <= 128
                            && tag
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                        "invalid tag `{tag}`"
                    );
                    (repo, tag.to_owned())
                }
                _ => (rest, "latest".to_owned()),
            }
        };
        ensure!(
            !repository.is_empty()
                && repository.len() <= 255
                && repository.split('/').all(|c| !c.is_empty()
                    && c.bytes().all(|b| b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b"._-".contains(&b))),
            "invalid repository name `{repository}` (lower-case letters, digits, `.`, `_`, `-`, `/`)"
        );
        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            reference,
        })
    }
}

impl Reference {
    /// Whether the registry is on this machine (plain HTTP is allowed then).
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => self
                .registry
                .rsplit_once(':')
                .map_or(self.registry.as_str(), |(h, _)| h),
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

#[derive(Debug, Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A pulled component: its bytes (digest checked), the manifest's digest and
/// annotations.
pub struct Pulled {
    pub wasm: Vec<u8>,
    pub manifest_digest: String,
    pub annotations: BTreeMap<String, String>,
}

pub fn sha256_digest(data: &[u8]) -> String {
    format!(
        "sha256:{}",
        crate::plugins::runtime::hex(&Sha256::digest(data))
    )
}

pub struct Client {
    http: reqwest::Client,
    insecure: bool,
    /// User name and password (or token) for Basic auth and the token endpoint.
    credentials: Option<(String, String)>,
    /// The `Authorization` value that last worked.
    authorization: Mutex<Option<String>>,
}

impl Client {
    /// `insecure`: plain HTTP to any registry (otherwise only to loopback ones).
    pub fn new(credentials: Option<(String, String)>, insecure: bool) -> Result<Client> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("passage/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(300))
            .build()?;
        Ok(Client {
            http,
            insecure,
            credentials,
            authorization: Mutex::new(None),
        })
    }

    fn base(&self, r: &Reference) -> String {
        let scheme = if r.is_loopback() || self.insecure {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}/v2/{}", r.registry, r.repository)
    }

    fn auth_header(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends a request, answering one 401 challenge (Basic or Bearer) and
    /// retrying once.
    async fn send(
        &self,
        method: Method,
        url: Url,
        headers: &[(&str, &str)],
        body: Option<bytes::Bytes>,
        scope: &str,
    ) -> Result<reqwest::Response> {
        let mut attempt = 0;
        loop {
            let mut req = self.http.request(method.clone(), url.clone());
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(body) = &body {
                req = req.body(body.clone());
            }
            if let Some(auth) = self.auth_header() {
                req = req.header(AUTHORIZATION, auth);
            }
            let resp = req
                .send()
                .await
                .with_context(|| format!("{method} {url}"))?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(resp);
            }
            attempt += 1;
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .context("the registry answered 401 without WWW-Authenticate")?
                .to_owned();
            let auth = self.answer(&challenge, scope).await?;
            *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) = Some(auth);
        }
    }

    async fn answer(&self, challenge: &str, scope: &str) -> Result<String> {
        let (kind, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let basic = self.credentials.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        if kind.eq_ignore_ascii_case("basic") {
            return basic.context(
                "the registry wants a user name and password: set PASSAGE_REGISTRY_USERNAME and PASSAGE_REGISTRY_PASSWORD",
            );
        }
        ensure!(
            kind.eq_ignore_ascii_case("bearer"),
            "unsupported registry authentication scheme `{kind}`"
        );
        let params = parse_auth_params(params);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let realm = get("realm").context("Bearer challenge without realm")?;
        let mut url = Url::parse(realm).context("Bearer realm is not a URL")?;
        let realm_loopback = url.host_str().is_some_and(|h| {
            h == "localhost"
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        ensure!(
            url.scheme() == "https" || realm_loopback || self.insecure,
            "refusing to send credentials to a token endpoint over plain HTTP: {realm}"
        );
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = get("service") {
                q.append_pair("service", service);
            }
            q.append_pair("scope", scope);
            if let Some(theirs) = get("scope").filter(|s| *s != scope) {
                q.append_pair("scope", theirs);
            }
        }
        let mut req = self.http.get(url);
        if let Some(basic) = basic {
            req = req.header(AUTHORIZATION, basic);
        }
        let resp = req.send().await.context("token endpoint")?;
        ensure!(
            resp.status().is_success(),
            "the token endpoint answered {}",
            resp.status()
        );
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = serde_json::from_slice(&read_limited(resp, 1 << 20).await?)?;
        let token = t
            .token
            .or(t.access_token)
            .context("the token endpoint answered without a token")?;
        Ok(format!("Bearer {token}"))
    }

    /// The manifest `r` names, checked to be a single-layer wasm artifact.
    pub async fn pull_manifest(&self, r: &Reference) -> Result<(Manifest, String)> {
        let url = Url::parse(&format!("{}/manifests/{}", self.base(r), r.reference))?;
        let scope = format!("repository:{}:pull", r.repository);
        let resp = self
            .send(
                Method::GET,
                url,
                &[(ACCEPT.as_str(), MANIFEST_MEDIA_TYPE)],
                None,
                &scope,
            )
            .await?;
        ensure!(
            resp.status() == StatusCode::OK,
            "{r}: the registry answered {} for the manifest",
            resp.status()
        );
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_limited(resp, MAX_MANIFEST).await?;
        let digest = sha256_digest(&body);
        if r.reference.starts_with("sha256:") {
            ensure!(
                digest == r.reference,
                "{r}: the manifest's digest is {digest}, not the one asked for"
            );
        }
        if let Some(h) = header_digest {
            ensure!(
                h == digest,
                "{r}: the registry says the manifest is {h} but its bytes are {digest}"
            );
        }
        let m: Manifest = serde_json::from_slice(&body)
            .with_context(|| format!("{r}: not an OCI image manifest"))?;
        ensure!(
            m.schema_version == 2,
            "{r}: manifest schemaVersion {} (expected 2)",
            m.schema_version
        );
        ensure!(
            m.media_type.as_deref().unwrap_or(MANIFEST_MEDIA_TYPE) == MANIFEST_MEDIA_TYPE,
            "{r}: not an OCI image manifest ({})",
            m.media_type.as_deref().unwrap_or_default()
        );
        ensure!(
            m.config.media_type == CONFIG_MEDIA_TYPE,
            "{r}: config media type {} is not {CONFIG_MEDIA_TYPE}: not a wasm component artifact",
            m.config.media_type
        );
        ensure!(
            m.layers.len() == 1 && m.layers[0].media_type == LAYER_MEDIA_TYPE,
            "{r}: a wasm component artifact has exactly one {LAYER_MEDIA_TYPE} layer"
        );
        Ok((m, digest))
    }

    /// A blob, refusing more than `desc.size` (itself at most `max`) bytes, its
    /// digest checked.
    pub async fn pull_blob(&self, r: &Reference, desc: &Descriptor, max: u64) -> Result<Vec<u8>> {
        ensure!(
            desc.size <= max,
            "{r}: the blob is {} bytes, over the limit of {max}",
            desc.size
        );
        ensure!(
            desc.digest.len() == 71
                && desc.digest.starts_with("sha256:")
                && desc.digest[7..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{r}: unsupported digest `{}`",
            desc.digest
        );
        let url = Url::parse(&format!("{}/blobs/{}", self.base(r), desc.digest))?;
        let scope = format!("repository:{}:pull", r.repository);
        // reqwest follows the usual 307 to object storage and drops
        // Authorization when the host changes.
        let resp = self.send(Method::GET, url, &[], None, &scope).await?;
        ensure!(
            resp.status() == StatusCode::OK,
            "{r}: the registry answered {} for blob {}",
            resp.status(),
            desc.digest
        );
        let data = read_limited(resp, desc.size as usize).await?;
        ensure!(
            data.len() as u64 == desc.size,
            "{r}: blob {} is {} bytes, its descriptor says {}",
            desc.digest,
            data.len(),
            desc.size
        );
        let found = sha256_digest(&data);
        ensure!(
            found == desc.digest,
            "{r}: the blob's bytes are {found}, not {} as the manifest says",
            desc.digest
        );
        Ok(data)
    }

    /// Pulls the component `r` names (at most `max` bytes).
    pub async fn pull_component(&self, r: &Reference, max: u64) -> Result<Pulled> {
        let (manifest, manifest_digest) = self.pull_manifest(r).await?;
        let config = self.pull_blob(r, &manifest.config, MAX_CONFIG).await?;
        let config: serde_json::Value = serde_json::from_slice(&config)
            .with_context(|| format!("{r}: the wasm config blob is not JSON"))?;
        let wasm = self.pull_blob(r, &manifest.layers[0], max).await?;
        if let Some(layers) = config["layerDigests"].as_array() {
            ensure!(
                layers
                    .iter()
                    .any(|d| d.as_str() == Some(&manifest.layers[0].digest)),
                "{r}: the config's layerDigests do not name the layer"
            );
        }
        Ok(Pulled {
            wasm,
            manifest_digest,
            annotations: manifest.annotations.unwrap_or_default(),
        })
    }

    async fn push_blob(
        &self,
        r: &Reference,
        data: bytes::Bytes,
        media_type: &str,
    ) -> Result<Descriptor> {
        let digest = sha256_digest(&data);
        let scope = format!("repository:{}:pull,push", r.repository);
        let size = data.len() as u64;
        let desc = Descriptor {
            media_type: media_type.to_owned(),
            digest: digest.clone(),
            size,
            annotations: None,
        };
        let head = Url::parse(&format!("{}/blobs/{digest}", self.base(r)))?;
        if self
            .send(Method::HEAD, head, &[], None, &scope)
            .await?
            .status()
            == StatusCode::OK
        {
            return Ok(desc);
        }
        let start = Url::parse(&format!("{}/blobs/uploads/", self.base(r)))?;
        let resp = self
            .send(Method::POST, start.clone(), &[], None, &scope)
            .await?;
        ensure!(
            resp.status() == StatusCode::ACCEPTED,
            "{r}: starting an upload, the registry answered {}",
            resp.status()
        );
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .context("the registry started an upload without a Location")?;
        let mut url = start.join(location)?;
        url.query_pairs_mut().append_pair("digest", &digest);
        let resp = self
            .send(
                Method::PUT,
                url,
                &[(CONTENT_TYPE.as_str(), "application/octet-stream")],
                Some(data),
                &scope,
            )
            .await?;
        ensure!(
            resp.status() == StatusCode::CREATED,
            "{r}: finishing an upload, the registry answered {}",
            resp.status()
        );
        Ok(desc)
    }

    /// Pushes `wasm` with its wasm config blob, then the manifest under
    /// `r.reference`; the manifest's digest.
    pub async fn push_component(
        &self,
        r: &Reference,
        wasm: Vec<u8>,
        config_json: Vec<u8>,
        annotations: BTreeMap<String, String>,
        title: &str,
    ) -> Result<String> {
        let mut layer = self.push_blob(r, wasm.into(), LAYER_MEDIA_TYPE).await?;
        layer.annotations = Some(
            [(
                "org.opencontainers.image.title".to_owned(),
                title.to_owned(),
            )]
            .into(),
        );
        let config = self
            .push_blob(r, config_json.into(), CONFIG_MEDIA_TYPE)
            .await?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.to_owned()),
            config,
            layers: vec![layer],
            annotations: (!annotations.is_empty()).then_some(annotations),
        };
        let body = serde_json::to_vec(&manifest)?;
        ensure!(
            body.len() <= MAX_MANIFEST,
            "the manifest would be over 4 MiB"
        );
        let digest = sha256_digest(&body);
        let url = Url::parse(&format!("{}/manifests/{}", self.base(r), r.reference))?;
        let scope = format!("repository:{}:pull,push", r.repository);
        let resp = self
            .send(
                Method::PUT,
                url,
                &[(CONTENT_TYPE.as_str(), MANIFEST_MEDIA_TYPE)],
                Some(body.into()),
                &scope,
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            let status = resp.status();
            let text = read_limited(resp, 4096).await.unwrap_or_default();
            bail!(
                "{r}: the registry refused the manifest: {status}: {}",
                String::from_utf8_lossy(&text)
            );
        }
        Ok(digest)
    }
}

/// The wasm OCI config blob for a component (the fields `oci-wasm` writes).
pub fn wasm_config(wasm: &[u8], imports: &[String], exports: &[String], created: &str) -> Vec<u8> {
    let config = serde_json::json!({
        "created": created,
        "author": null,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [sha256_digest(wasm)],
        "component": {"exports": exports, "imports": imports, "target": null},
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

/// Reads a response body, failing as soon as it exceeds `max` bytes.
async fn read_limited(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>> {
    if let Some(n) = resp.content_length() {
        ensure!(n <= max as u64, "the registry's answer is over {max} bytes");
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        ensure!(
            out.len() + chunk.len() <= max,
            "the registry's answer is over {max} bytes"
        );
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `realm="https://x/token",service="reg",scope="repository:a/b:pull,push"` →
/// pairs. Quoted values may contain commas (scopes do).
fn parse_auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let name = name.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n)
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            (v, &q[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        out.push((name, value));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// Now as RFC 3339 (UTC, seconds), for the config blob's `created`.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_keep_commas_inside_quotes() {
        let p = parse_auth_params(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        );
        assert_eq!(
            p[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(p[1], ("service".into(), "registry.docker.io".into()));
        assert_eq!(
            p[2],
            ("scope".into(), "repository:samalba/my-app:pull,push".into())
        );
    }

    #[test]
    fn references_parse_and_print() {
        let r: Reference = "ghcr.io/acme/plugins/round-robin:1.2.0".parse().unwrap();
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.reference.as_str()
            ),
            ("ghcr.io", "acme/plugins/round-robin", "1.2.0")
        );
        assert!(!r.is_loopback());
        let digest = format!("sha256:{}", "ab".repeat(32));
        let r: Reference = format!("127.0.0.1:5000/p/x@{digest}").parse().unwrap();
        assert_eq!(r.reference, digest);
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/p/x@{digest}"));
        assert!(r.is_loopback());
        let r: Reference = "localhost:5000/p/x".parse().unwrap();
        assert_eq!((r.reference.as_str(), r.is_loopback()), ("latest", true));
        assert!(
            "[::1]:5000/p/x:1"
                .parse::<Reference>()
                .unwrap()
                .is_loopback()
        );
        for bad in [
            "acme/x:1",
            "ghcr.io/Acme/x:1",
            "ghcr.io/x@sha256:12",
            "ghcr.io/x:bad tag",
            "ghcr.io/",
        ] {
            assert!(bad.parse::<Reference>().is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback_unless_insecure() {
        let remote: Reference = "ghcr.io/acme/x:1".parse().unwrap();
        let local: Reference = "127.0.0.1:5000/acme/x:1".parse().unwrap();
        let strict = Client::new(None, false).unwrap();
        assert_eq!(strict.base(&remote), "https://ghcr.io/v2/acme/x");
        assert_eq!(strict.base(&local), "http://127.0.0.1:5000/v2/acme/x");
        let insecure = Client::new(None, true).unwrap();
        assert_eq!(insecure.base(&remote), "http://ghcr.io/v2/acme/x");
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }
}
