//! The `passage:authentication` (HMAC-signed) and `passage:session` cookies: format, signing and verification.

use std::fmt;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::auth::session_server::ProfileProperty;

/// Cookie key of the signed authentication cookie.
pub const AUTH_COOKIE: &str = "passage:authentication";
/// Cookie key of the unsigned session cookie.
pub const SESSION_COOKIE: &str = "passage:session";
/// Largest cookie payload the protocol carries (Store Cookie / Cookie Response).
pub const MAX_COOKIE_LEN: usize = 5120;

/// Length of the HMAC-SHA256 tag that prefixes the authentication cookie's JSON.
const SIGNATURE_LEN: usize = 32;
/// Smallest JSON document that could be an object (`{}`); anything shorter is not worth a MAC.
const MIN_JSON_LEN: usize = 2;
/// Clock skew tolerated between the Passage instances and backends that share the secret.
const MAX_FUTURE_SKEW_SECS: u64 = 60;
/// Bounds mirroring what the Login Success packet can carry (see `session_server`):
/// a signed cookie is trusted, but one the client would reject is useless to us.
const MAX_USER_NAME_CHARS: usize = 16;
const MAX_PROPERTIES: usize = 16;
const MAX_PROPERTY_NAME_CHARS: usize = 64;
const MAX_SIGNATURE_CHARS: usize = 1024;
/// Handshake `server_address` is a String(255).
const MAX_SERVER_ADDRESS_CHARS: usize = 255;
/// Shortest accepted key: shorter secrets are guessable offline from one captured cookie.
const MIN_SECRET_LEN: usize = 16;
/// Largest secret file we read; a generated secret is ~45 bytes, so this only stops a
/// misconfigured path (a log file, `/dev/urandom`) from being read without end.
const MAX_SECRET_FILE_LEN: u64 = 4096;

type HmacSha256 = Hmac<Sha256>;

/// The shared HMAC key for the authentication cookie.
///
/// Every Passage instance and every backend that validates the cookie must derive the
/// same key from the same `auth_secret` file, so the rule is fixed, and it is the
/// reference implementation's (scrayosnet/passage): **the key is the file's bytes
/// exactly as stored**, not base64-decoded, not trimmed. A file written by
/// `openssl rand -base64 32 > auth_secret`, as the cookie documentation says, gives
/// the 44 base64 characters *and the trailing newline* as the key.
///
/// Passage before this rule used the bytes with surrounding whitespace removed.
/// Cookies signed that way (by an older replica, or a backend that trims) are still
/// accepted: when the file has surrounding whitespace, verification also tries the
/// trimmed key. Signing always uses the file's bytes, so every cookie Passage
/// issues verifies under the reference's rule. The trimmed key must be at least 16
/// bytes long.
pub struct CookieSecret {
    /// The file's bytes: what cookies are signed with.
    key: Vec<u8>,
    /// The bytes with surrounding whitespace removed, when that differs: also
    /// accepted when verifying.
    trimmed: Option<Vec<u8>>,
}

/// How a secret file was read, for the start-up log: enough to tell two replicas'
/// keys apart, never the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyShape {
    /// Bytes in the key (the whole file).
    pub len: usize,
    /// Whether the file ends in whitespace (typically the newline `openssl` and
    /// `echo` write), which is part of the key.
    pub trailing_whitespace: bool,
    /// Whether cookies signed with the whitespace-trimmed key are accepted too.
    pub accepts_trimmed: bool,
}

impl fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieSecret(<redacted>)")
    }
}

impl CookieSecret {
    /// Reads the key from `path` by the rule in the type's documentation.
    ///
    /// Fails, naming the file, if it cannot be read, is larger than 4096 bytes, or the
    /// key without surrounding whitespace is shorter than 16 bytes. Warns if other
    /// users may read it.
    pub fn from_file(path: &Path) -> anyhow::Result<CookieSecret> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open auth secret file {}", path.display()))?;
        warn_if_shared(&file, path);

        // Read one byte past the bound so an oversized file is detected, not truncated.
        let mut raw = Vec::new();
        file.take(MAX_SECRET_FILE_LEN + 1)
            .read_to_end(&mut raw)
            .with_context(|| format!("cannot read auth secret file {}", path.display()))?;
        if raw.len() as u64 > MAX_SECRET_FILE_LEN {
            bail!(
                "auth secret file {} is larger than {MAX_SECRET_FILE_LEN} bytes",
                path.display()
            );
        }

        let meaningful = raw.trim_ascii();
        if meaningful.is_empty() {
            bail!("auth secret file {} is empty", path.display());
        }
        if meaningful.len() < MIN_SECRET_LEN {
            bail!(
                "auth secret in {} is {} bytes; at least {MIN_SECRET_LEN} are required \
                 (generate one with `passage secret generate`)",
                path.display(),
                meaningful.len()
            );
        }
        Ok(CookieSecret::from_file_bytes(raw))
    }

    /// The key for a secret file's exact bytes (no length check).
    pub fn from_file_bytes(raw: Vec<u8>) -> CookieSecret {
        let trimmed = raw.trim_ascii();
        let trimmed = (trimmed.len() != raw.len()).then(|| trimmed.to_vec());
        CookieSecret { key: raw, trimmed }
    }

    /// Uses `key` exactly as given, and nothing else (no trimmed variant, no
    /// length check); for tests and benchmarks.
    pub fn from_bytes(key: Vec<u8>) -> CookieSecret {
        CookieSecret { key, trimmed: None }
    }

    /// How the key was read (never the key itself).
    pub fn shape(&self) -> KeyShape {
        KeyShape {
            len: self.key.len(),
            trailing_whitespace: self.key.last().is_some_and(u8::is_ascii_whitespace),
            accepts_trimmed: self.trimmed.is_some(),
        }
    }

    fn mac(&self) -> Option<HmacSha256> {
        // HMAC accepts keys of any length, so this never fails; handled rather than unwrapped.
        <HmacSha256 as Mac>::new_from_slice(&self.key).ok()
    }

    /// Whether `tag` is the HMAC of `json` under the key, or under the trimmed key
    /// when the file has one. Each comparison is constant-time.
    fn verifies(&self, json: &[u8], tag: &[u8]) -> bool {
        let under = |key: &[u8]| {
            <HmacSha256 as Mac>::new_from_slice(key).is_ok_and(|mut mac| {
                mac.update(json);
                mac.verify_slice(tag).is_ok()
            })
        };
        under(&self.key) || self.trimmed.as_deref().is_some_and(under)
    }
}

#[cfg(unix)]
fn warn_if_shared(file: &std::fs::File, path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = file.metadata() {
        let mode = meta.permissions().mode();
        // Only "others" bits: a group bit is how Kubernetes (fsGroup) lets a
        // non-root pod read a mounted Secret, and would warn on every start.
        if mode & 0o007 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "auth secret file is accessible to other users; run `chmod 600` on it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_file: &std::fs::File, _path: &Path) {}

/// Contents of the `passage:authentication` cookie, in the seed's field order.
///
/// On the wire: 32-byte HMAC-SHA256(key, json) followed by the compact JSON. All fields
/// are required on decode except `extra`, which defaults to `{}` so that a backend that
/// has no custom data may leave it out. Unknown fields are ignored (and dropped when
/// Passage re-signs). A `signature` of `None` in a profile property is omitted.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AuthCookie {
    /// Unix seconds when the cookie was (re)issued.
    pub timestamp: u64,
    /// The client's address at authentication, `SocketAddr` Display form (`[::1]:25565` for IPv6).
    pub client_addr: String,
    pub user_name: String,
    /// Hyphenated lower-case UUID.
    pub user_id: String,
    /// The backend the player was last sent to.
    pub target: String,
    pub profile_properties: Vec<ProfileProperty>,
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Key in `extra` under which Passage keeps its own fields. Every other key in
/// `extra` belongs to someone else (a backend, a plugin) and is kept as it is.
pub const PASSAGE_EXTRA_KEY: &str = "passage";

/// Passage's own record of the authentication a cookie stands for, in
/// `extra.passage`: written when the player is authenticated in full, and copied
/// unchanged by every refresh (Passage's and, since `extra` is kept, the
/// reference implementation's and any backend's that follows the seed).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// `"online"` (the session server confirmed the player) or `"offline"`.
    pub auth: String,
    /// Unix seconds of that authentication: how long ago the session server was
    /// last asked about this player.
    pub verified_at: u64,
}

impl Provenance {
    pub const ONLINE: &'static str = "online";
    pub const OFFLINE: &'static str = "offline";
}

/// What Passage asks of a cookie beyond the seed's rules (signature, size, fields,
/// expiry, IP), from `auth.mode`, `auth_cookie_max_age_secs` and
/// `auth_cookie_strict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    /// This router authenticates online: a cookie minted in offline mode does not
    /// stand in for a session check.
    pub online: bool,
    /// How long refreshes may carry a cookie without a new session check.
    pub max_age_secs: u64,
    /// Refuse cookies without Passage's record (minted by another
    /// implementation), instead of judging them by the seed's rules alone.
    pub strict: bool,
}

impl CookiePolicy {
    /// Judges a cookie whose signature and seed fields already passed.
    pub fn judge(&self, cookie: &AuthCookie, now_unix: u64) -> Result<(), CookieRejection> {
        let Some(provenance) = cookie.provenance()? else {
            return if self.strict {
                Err(CookieRejection::NoProvenance)
            } else {
                Ok(())
            };
        };
        if self.online && provenance.auth != Provenance::ONLINE {
            return Err(CookieRejection::OfflineMinted);
        }
        if provenance.verified_at > now_unix.saturating_add(MAX_FUTURE_SKEW_SECS) {
            return Err(CookieRejection::FromTheFuture);
        }
        if now_unix > provenance.verified_at.saturating_add(self.max_age_secs) {
            return Err(CookieRejection::SessionCheckDue);
        }
        Ok(())
    }
}

impl AuthCookie {
    /// Passage's record in `extra.passage`: `None` when the cookie carries none
    /// (minted by another implementation), an error when it is there but not ours
    /// to read.
    pub fn provenance(&self) -> Result<Option<Provenance>, CookieRejection> {
        match self.extra.get(PASSAGE_EXTRA_KEY) {
            None => Ok(None),
            Some(value) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|_| CookieRejection::Malformed),
        }
    }

    /// Records how and when the player was authenticated in full.
    pub fn set_provenance(&mut self, provenance: &Provenance) {
        self.extra.insert(
            PASSAGE_EXTRA_KEY.to_owned(),
            serde_json::json!({ "auth": provenance.auth, "verified_at": provenance.verified_at }),
        );
    }

    /// The cookie to store on a transfer: only `timestamp` and `target` change, the
    /// identity stays that of the original Mojang authentication.
    pub fn refreshed(&self, now_unix: u64, target: &str) -> AuthCookie {
        AuthCookie {
            timestamp: now_unix,
            target: target.to_owned(),
            ..self.clone()
        }
    }

    /// What plugins see of `extra`: everything but Passage's own key.
    pub fn plugin_extra(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut extra = self.extra.clone();
        extra.remove(PASSAGE_EXTRA_KEY);
        extra
    }

    /// Applies a plugin's change to `extra`: a JSON merge patch (RFC 7396: members
    /// set, `null` removes, objects merge) of at most [`MAX_EXTRA_PATCH`] bytes that
    /// is an object and leaves Passage's own key alone. A refused patch changes
    /// nothing.
    pub fn apply_extra_patch(&mut self, patch: &str) -> Result<(), ExtraPatchError> {
        if patch.len() > MAX_EXTRA_PATCH {
            return Err(ExtraPatchError::TooLarge { len: patch.len() });
        }
        let patch: serde_json::Value =
            serde_json::from_str(patch).map_err(|_| ExtraPatchError::NotJson)?;
        let Some(members) = patch.as_object() else {
            return Err(ExtraPatchError::NotAnObject);
        };
        if members.contains_key(PASSAGE_EXTRA_KEY) {
            return Err(ExtraPatchError::PassageKey);
        }
        let mut extra = serde_json::Value::Object(std::mem::take(&mut self.extra));
        json_patch::merge(&mut extra, &patch);
        if let serde_json::Value::Object(map) = extra {
            self.extra = map;
        }
        Ok(())
    }

    /// Field checks after the signature matched: a signed cookie is trusted, but one we
    /// could not turn into a Login Success is treated as absent.
    fn is_well_formed(&self) -> bool {
        let name_len = utf16_len(&self.user_name);
        let property_ok = |p: &ProfileProperty| {
            utf16_len(&p.name) <= MAX_PROPERTY_NAME_CHARS
                && p.signature
                    .as_deref()
                    .is_none_or(|s| utf16_len(s) <= MAX_SIGNATURE_CHARS)
        };
        // Only the hyphenated form (any case) that the seed shows.
        self.user_id.len() == 36
            && Uuid::try_parse(&self.user_id).is_ok()
            && (1..=MAX_USER_NAME_CHARS).contains(&name_len)
            && self.profile_properties.len() <= MAX_PROPERTIES
            && self.profile_properties.iter().all(property_ok)
    }
}

/// Why an authentication cookie could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum CookieError {
    /// Signed cookie would exceed [`MAX_COOKIE_LEN`]; the caller skips storing it.
    #[error("auth cookie is {len} bytes, over the {MAX_COOKIE_LEN}-byte limit")]
    TooLarge { len: usize },
    #[error("cannot encode auth cookie: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot key HMAC-SHA256")]
    Key,
}

/// Most bytes of one change a plugin makes to a player's `extra`: with the rest
/// of the cookie (profile properties take about 1 KiB), the signed cookie stays
/// within the client's [`MAX_COOKIE_LEN`]. The whole cookie is checked again when
/// signed.
pub const MAX_EXTRA_PATCH: usize = 2048;

/// Why a plugin's change to `extra` was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtraPatchError {
    #[error("the change is {len} bytes, over {MAX_EXTRA_PATCH}")]
    TooLarge { len: usize },
    #[error("the change is not JSON")]
    NotJson,
    #[error("the change is not a JSON object (a merge patch of `extra`'s members)")]
    NotAnObject,
    #[error("the change touches `extra.passage`, which only Passage writes")]
    PassageKey,
}

/// Why a returned authentication cookie was not accepted; the player then does a full
/// Mojang authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CookieRejection {
    #[error("cookie larger than {MAX_COOKIE_LEN} bytes")]
    Oversized,
    #[error("cookie is not a signed, well-formed auth cookie")]
    Malformed,
    #[error("cookie signature does not match")]
    BadSignature,
    #[error("cookie has expired")]
    Expired,
    #[error("cookie timestamp is in the future")]
    FromTheFuture,
    #[error("cookie was issued to another IP address")]
    OtherIp,
    #[error("cookie was minted by a router in offline mode")]
    OfflineMinted,
    #[error("cookie's last session check is older than auth_cookie_max_age_secs")]
    SessionCheckDue,
    #[error("cookie carries no Passage record and auth_cookie_strict is on")]
    NoProvenance,
}

impl CookieRejection {
    /// Fixed, low-cardinality label for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            CookieRejection::Oversized => "oversized",
            CookieRejection::Malformed => "malformed",
            CookieRejection::BadSignature => "bad_signature",
            CookieRejection::Expired => "expired",
            CookieRejection::FromTheFuture => "from_the_future",
            CookieRejection::OtherIp => "other_ip",
            CookieRejection::OfflineMinted => "offline_minted",
            CookieRejection::SessionCheckDue => "session_check_due",
            CookieRejection::NoProvenance => "no_provenance",
        }
    }
}

/// Encodes `cookie` as `HMAC-SHA256(key, json) || json` with compact JSON.
pub fn sign_auth_cookie(
    secret: &CookieSecret,
    cookie: &AuthCookie,
) -> Result<Vec<u8>, CookieError> {
    let json = serde_json::to_vec(cookie)?;
    let len = SIGNATURE_LEN.saturating_add(json.len());
    if len > MAX_COOKIE_LEN {
        return Err(CookieError::TooLarge { len });
    }
    let mut mac = secret.mac().ok_or(CookieError::Key)?;
    mac.update(&json);
    let tag = mac.finalize().into_bytes();

    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&json);
    Ok(out)
}

/// Checks a returned authentication cookie: size, signature (constant time, before any
/// parsing of attacker-controlled JSON), fields, age and the client's IP.
///
/// `timestamp` may be up to 60 s ahead of `now_unix` (clock skew between servers). The
/// port of `client_addr` is ignored, and an IPv4-mapped IPv6 address equals its IPv4.
pub fn verify_auth_cookie(
    secret: &CookieSecret,
    bytes: &[u8],
    now_unix: u64,
    expiry_secs: u64,
    client_ip: IpAddr,
) -> Result<AuthCookie, CookieRejection> {
    if bytes.len() > MAX_COOKIE_LEN {
        return Err(CookieRejection::Oversized);
    }
    if bytes.len() < SIGNATURE_LEN + MIN_JSON_LEN {
        return Err(CookieRejection::Malformed);
    }
    let (tag, json) = bytes.split_at(SIGNATURE_LEN);
    if !secret.verifies(json, tag) {
        return Err(CookieRejection::BadSignature);
    }

    let cookie: AuthCookie =
        serde_json::from_slice(json).map_err(|_| CookieRejection::Malformed)?;
    if !cookie.is_well_formed() {
        return Err(CookieRejection::Malformed);
    }
    let issued_to = cookie
        .client_addr
        .parse::<SocketAddr>()
        .map_err(|_| CookieRejection::Malformed)?
        .ip();

    if cookie.timestamp > now_unix.saturating_add(MAX_FUTURE_SKEW_SECS) {
        return Err(CookieRejection::FromTheFuture);
    }
    if now_unix > cookie.timestamp.saturating_add(expiry_secs) {
        return Err(CookieRejection::Expired);
    }

    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; compare canonical forms.
    if issued_to.to_canonical() != client_ip.to_canonical() {
        return Err(CookieRejection::OtherIp);
    }
    Ok(cookie)
}

/// Contents of the unsigned `passage:session` cookie.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SessionCookie {
    /// UUIDv4, serialized hyphenated.
    #[serde(with = "hyphenated_uuid")]
    pub id: Uuid,
    /// From the handshake.
    pub server_address: String,
    pub server_port: u16,
    /// Beyond the seed's fields: data for backends. Passage keeps what others
    /// put here and writes `traceparent` (the W3C trace context of the
    /// connection that stored the cookie) when it exports traces. Left out of the
    /// JSON when empty, so without telemetry the cookie is the seed's exactly.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Key of the trace context in `passage:session`'s `extra`.
pub const TRACEPARENT_KEY: &str = "traceparent";

impl SessionCookie {
    /// A new session with a random UUIDv4.
    pub fn new(server_address: impl Into<String>, server_port: u16) -> SessionCookie {
        SessionCookie {
            id: Uuid::new_v4(),
            server_address: server_address.into(),
            server_port,
            extra: serde_json::Map::new(),
        }
    }

    /// The trace context the previous connection left, if any.
    pub fn traceparent(&self) -> Option<&str> {
        self.extra.get(TRACEPARENT_KEY)?.as_str()
    }

    /// Sets (or, with `None`, removes) the trace context.
    pub fn set_traceparent(&mut self, traceparent: Option<String>) {
        match traceparent {
            Some(tp) => {
                self.extra
                    .insert(TRACEPARENT_KEY.to_owned(), serde_json::Value::String(tp));
            }
            None => {
                self.extra.remove(TRACEPARENT_KEY);
            }
        }
    }

    /// Compact JSON, as stored on the client.
    pub fn encode(&self) -> Vec<u8> {
        // Three plain fields serialize infallibly; an empty cookie is the harmless fallback.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a returned session cookie; `None` if oversized, not the expected JSON, or
    /// with an address longer than the handshake allows.
    pub fn decode(bytes: &[u8]) -> Option<SessionCookie> {
        if bytes.len() > MAX_COOKIE_LEN {
            return None;
        }
        let cookie: SessionCookie = serde_json::from_slice(bytes).ok()?;
        (utf16_len(&cookie.server_address) <= MAX_SERVER_ADDRESS_CHARS).then_some(cookie)
    }
}

/// Serde for `Uuid` as a hyphenated string, without needing uuid's `serde` feature.
mod hyphenated_uuid {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use uuid::Uuid;

    pub fn serialize<S: Serializer>(id: &Uuid, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&id.hyphenated())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Uuid, D::Error> {
        // Borrowed when possible; a cookie id has no escapes.
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Uuid::try_parse(&s).map_err(D::Error::custom)
    }
}

/// Length in UTF-16 code units, the unit of Minecraft's string limits.
fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const T: u64 = 1_707_542_400;
    const EXPIRY: u64 = 60;
    const GOLDEN_JSON: &str = concat!(
        r#"{"timestamp":1707542400,"client_addr":"192.168.1.100:54321","user_name":"Steve","#,
        r#""user_id":"8667ba71-b85a-4004-af54-457a9734eed7","target":"lobby-01","#,
        r#""profile_properties":[{"name":"textures","value":"dGV4dHVyZXM=","signature":"c2lnbmF0dXJl"}],"#,
        r#""extra":{}}"#
    );
    /// `python3 -c 'import hmac,hashlib; print(hmac.new(KEY, GOLDEN_JSON, hashlib.sha256).hexdigest())'`
    const GOLDEN_HMAC_HEX: &str =
        "568f7d932de01e87778845bdbe510f2e6f5d425f665b9f66a3384a9519eb79e1";

    fn secret() -> CookieSecret {
        CookieSecret::from_bytes(KEY.to_vec())
    }

    fn cookie() -> AuthCookie {
        AuthCookie {
            timestamp: T,
            client_addr: "192.168.1.100:54321".to_owned(),
            user_name: "Steve".to_owned(),
            user_id: "8667ba71-b85a-4004-af54-457a9734eed7".to_owned(),
            target: "lobby-01".to_owned(),
            profile_properties: vec![ProfileProperty {
                name: "textures".to_owned(),
                value: "dGV4dHVyZXM=".to_owned(),
                signature: Some("c2lnbmF0dXJl".to_owned()),
            }],
            extra: serde_json::Map::new(),
        }
    }

    fn client_ip() -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 168, 1, 100))
    }

    fn verify(bytes: &[u8]) -> Result<AuthCookie, CookieRejection> {
        verify_auth_cookie(&secret(), bytes, T, EXPIRY, client_ip())
    }

    /// Signs arbitrary bytes as if they were a cookie's JSON.
    fn sign_raw(json: &[u8]) -> Vec<u8> {
        let mut mac = secret().mac().expect("hmac key");
        mac.update(json);
        let mut out = mac.finalize().into_bytes().to_vec();
        out.extend_from_slice(json);
        out
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn round_trip() {
        let signed = sign_auth_cookie(&secret(), &cookie()).unwrap();
        assert_eq!(verify(&signed), Ok(cookie()));
    }

    #[test]
    fn golden_layout_and_hmac() {
        let signed = sign_auth_cookie(&secret(), &cookie()).unwrap();
        let (tag, json) = signed.split_at(32);
        assert_eq!(std::str::from_utf8(json).unwrap(), GOLDEN_JSON);
        assert_eq!(hex(tag), GOLDEN_HMAC_HEX);
    }

    #[test]
    fn flipped_json_byte_is_bad_signature() {
        let mut signed = sign_auth_cookie(&secret(), &cookie()).unwrap();
        let last = signed.len() - 3;
        signed[last] ^= 0x01;
        assert_eq!(verify(&signed), Err(CookieRejection::BadSignature));
    }

    #[test]
    fn flipped_signature_byte_is_bad_signature() {
        let mut signed = sign_auth_cookie(&secret(), &cookie()).unwrap();
        signed[5] ^= 0x80;
        assert_eq!(verify(&signed), Err(CookieRejection::BadSignature));
    }

    #[test]
    fn other_key_is_bad_signature() {
        let other = CookieSecret::from_bytes(b"fedcba9876543210fedcba9876543210".to_vec());
        let signed = sign_auth_cookie(&other, &cookie()).unwrap();
        assert_eq!(verify(&signed), Err(CookieRejection::BadSignature));
    }

    #[test]
    fn expiry_boundary() {
        let signed = sign_auth_cookie(&secret(), &cookie()).unwrap();
        let at = |now| verify_auth_cookie(&secret(), &signed, now, EXPIRY, client_ip());
        assert!(at(T + EXPIRY).is_ok());
        assert_eq!(at(T + EXPIRY + 1), Err(CookieRejection::Expired));
        // Saturating: a huge expiry never wraps into "expired".
        assert!(verify_auth_cookie(&secret(), &signed, u64::MAX, u64::MAX, client_ip()).is_ok());
    }

    #[test]
    fn future_boundary() {
        let signed = sign_auth_cookie(&secret(), &cookie()).unwrap();
        let at = |now| verify_auth_cookie(&secret(), &signed, now, EXPIRY, client_ip());
        assert!(at(T - 60).is_ok());
        assert_eq!(at(T - 61), Err(CookieRejection::FromTheFuture));
    }

    #[test]
    fn other_ip_rejected_port_ignored() {
        let signed = sign_auth_cookie(&secret(), &cookie()).unwrap();
        let from = |ip| verify_auth_cookie(&secret(), &signed, T, EXPIRY, ip);
        assert_eq!(
            from(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 101))),
            Err(CookieRejection::OtherIp)
        );
        assert_eq!(
            from(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            Err(CookieRejection::OtherIp)
        );

        let mut other_port = cookie();
        other_port.client_addr = "192.168.1.100:1".to_owned();
        let signed = sign_auth_cookie(&secret(), &other_port).unwrap();
        assert_eq!(verify(&signed), Ok(other_port));
    }

    #[test]
    fn ipv4_mapped_ipv6_equals_ipv4() {
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 168, 1, 100).to_ipv6_mapped());
        let signed = sign_auth_cookie(&secret(), &cookie()).unwrap();
        assert!(verify_auth_cookie(&secret(), &signed, T, EXPIRY, mapped).is_ok());

        let mut v6 = cookie();
        v6.client_addr = SocketAddr::new(mapped, 54321).to_string();
        assert_eq!(v6.client_addr, "[::ffff:192.168.1.100]:54321");
        let signed = sign_auth_cookie(&secret(), &v6).unwrap();
        assert!(verify(&signed).is_ok());
    }

    #[test]
    fn ipv6_client() {
        let ip = IpAddr::V6("2001:db8::1".parse().unwrap());
        let mut v6 = cookie();
        v6.client_addr = SocketAddr::new(ip, 25565).to_string();
        let signed = sign_auth_cookie(&secret(), &v6).unwrap();
        assert!(verify_auth_cookie(&secret(), &signed, T, EXPIRY, ip).is_ok());
    }

    #[test]
    fn oversized_before_any_work() {
        assert_eq!(
            verify(&[0u8; MAX_COOKIE_LEN + 1]),
            Err(CookieRejection::Oversized)
        );
    }

    #[test]
    fn too_short_is_malformed() {
        assert_eq!(verify(&[0u8; 10]), Err(CookieRejection::Malformed));
        assert_eq!(verify(&[]), Err(CookieRejection::Malformed));
    }

    #[test]
    fn signed_garbage_is_malformed() {
        assert_eq!(
            verify(&sign_raw(b"not json at all")),
            Err(CookieRejection::Malformed)
        );
        assert_eq!(
            verify(&sign_raw(b"[1,2,3]")),
            Err(CookieRejection::Malformed)
        );
    }

    #[test]
    fn signed_json_missing_user_id_is_malformed() {
        let mut value = serde_json::to_value(cookie()).unwrap();
        value.as_object_mut().unwrap().remove("user_id");
        let json = serde_json::to_vec(&value).unwrap();
        assert_eq!(verify(&sign_raw(&json)), Err(CookieRejection::Malformed));
    }

    #[test]
    fn missing_extra_defaults_to_empty() {
        let mut value = serde_json::to_value(cookie()).unwrap();
        value.as_object_mut().unwrap().remove("extra");
        let json = serde_json::to_vec(&value).unwrap();
        assert_eq!(verify(&sign_raw(&json)), Ok(cookie()));
    }

    #[test]
    fn signed_but_invalid_fields_are_malformed() {
        let cases: [fn(&mut AuthCookie); 5] = [
            |c| c.client_addr = "192.168.1.100".to_owned(),
            |c| c.user_id = "8667ba71b85a4004af54457a9734eed7".to_owned(),
            |c| c.user_id = "not-a-uuid".to_owned(),
            |c| c.user_name = String::new(),
            |c| c.user_name = "a".repeat(17),
        ];
        for mutate in cases {
            let mut bad = cookie();
            mutate(&mut bad);
            let signed = sign_auth_cookie(&secret(), &bad).unwrap();
            assert_eq!(verify(&signed), Err(CookieRejection::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn sign_too_large() {
        let mut big = cookie();
        big.profile_properties[0].value = "A".repeat(MAX_COOKIE_LEN);
        assert!(matches!(
            sign_auth_cookie(&secret(), &big),
            Err(CookieError::TooLarge { len }) if len > MAX_COOKIE_LEN
        ));
    }

    #[test]
    fn refreshed_changes_only_timestamp_and_target() {
        let mut original = cookie();
        original
            .extra
            .insert("rank".to_owned(), serde_json::json!("vip"));
        let refreshed = original.refreshed(T + 30, "survival-02");
        assert_eq!(refreshed.timestamp, T + 30);
        assert_eq!(refreshed.target, "survival-02");
        let restored = AuthCookie {
            timestamp: original.timestamp,
            target: original.target.clone(),
            ..refreshed
        };
        assert_eq!(restored, original);
    }

    #[test]
    fn rejection_labels() {
        assert_eq!(CookieRejection::Oversized.as_str(), "oversized");
        assert_eq!(CookieRejection::BadSignature.as_str(), "bad_signature");
        assert_eq!(CookieRejection::FromTheFuture.as_str(), "from_the_future");
        assert_eq!(CookieRejection::OtherIp.as_str(), "other_ip");
    }

    #[test]
    fn session_cookie_round_trip() {
        let session = SessionCookie::new("play.example.com", 25565);
        assert_eq!(session.id.get_version_num(), 4);
        let bytes = session.encode();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"id":"{}","server_address":"play.example.com","server_port":25565}}"#,
                session.id.hyphenated()
            )
        );
        assert_eq!(SessionCookie::decode(&bytes), Some(session));
    }

    #[test]
    fn session_cookie_garbage_is_none() {
        assert_eq!(SessionCookie::decode(b"garbage"), None);
        assert_eq!(SessionCookie::decode(b"{}"), None);
        assert_eq!(
            SessionCookie::decode(br#"{"id":"nope","server_address":"a","server_port":1}"#),
            None
        );
        assert_eq!(
            SessionCookie::decode(
                br#"{"id":"a1b2c3d4-e5f6-4890-abcd-ef1234567890","server_address":"a","server_port":70000}"#
            ),
            None
        );
        let long = format!(
            r#"{{"id":"a1b2c3d4-e5f6-4890-abcd-ef1234567890","server_address":"{}","server_port":1}}"#,
            "a".repeat(256)
        );
        assert_eq!(SessionCookie::decode(long.as_bytes()), None);
        assert_eq!(SessionCookie::decode(&[b' '; MAX_COOKIE_LEN + 1]), None);
    }

    fn secret_file(contents: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents).unwrap();
        file
    }

    #[test]
    fn secret_file_bytes_are_the_key_exactly_and_the_trimmed_key_is_accepted_too() {
        let key = b"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=";
        let plain = CookieSecret::from_file(secret_file(key).path()).unwrap();
        assert_eq!(plain.key, key);
        assert_eq!(plain.trimmed, None);
        assert_eq!(
            plain.shape(),
            KeyShape {
                len: 44,
                trailing_whitespace: false,
                accepts_trimmed: false
            }
        );
        let mut with_newline = key.to_vec();
        with_newline.extend_from_slice(b"\r\n");
        let newline = CookieSecret::from_file(secret_file(&with_newline).path()).unwrap();
        assert_eq!(newline.key, with_newline, "the newline is part of the key");
        assert_eq!(newline.trimmed.as_deref(), Some(&key[..]));
        assert_eq!(
            newline.shape(),
            KeyShape {
                len: 46,
                trailing_whitespace: true,
                accepts_trimmed: true
            }
        );
        // Signed with the file's bytes; a cookie signed with the trimmed key (as
        // Passage did before) verifies under both secrets.
        let signed = sign_auth_cookie(&newline, &cookie()).unwrap();
        let at = |secret: &CookieSecret, bytes: &[u8]| {
            verify_auth_cookie(secret, bytes, T, EXPIRY, client_ip())
        };
        assert!(at(&newline, &signed).is_ok());
        assert_eq!(at(&plain, &signed), Err(CookieRejection::BadSignature));
        let legacy = sign_auth_cookie(&plain, &cookie()).unwrap();
        assert!(at(&newline, &legacy).is_ok());
        assert!(at(&plain, &legacy).is_ok());
        assert_eq!(format!("{plain:?}"), "CookieSecret(<redacted>)");
    }

    /// `host/testdata/cookie-vectors.json`: cookies minted by the reference router
    /// (scrayosnet/passage v0.3.1) with the exact bytes of its secret file.
    mod reference_vectors {
        use super::*;
        use base64::Engine as _;

        const VECTORS: &str = include_str!("../../testdata/cookie-vectors.json");

        struct Vector {
            file: Vec<u8>,
            cookie: Vec<u8>,
            payload: String,
        }

        fn vectors() -> Vec<Vector> {
            let b64 = |v: &serde_json::Value| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().unwrap())
                    .unwrap()
            };
            let all: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
            let list = all["vectors"].as_array().unwrap();
            assert!(!list.is_empty());
            list.iter()
                .map(|v| Vector {
                    file: b64(&v["secret_file_b64"]),
                    cookie: b64(&v["cookie_b64"]),
                    payload: v["payload"].as_str().unwrap().to_owned(),
                })
                .collect()
        }

        /// The reference's rule, written here on its own: HMAC-SHA256 keyed with
        /// the secret file's bytes exactly as stored, over the JSON after the tag.
        fn reference_verifies(file: &[u8], cookie: &[u8]) -> bool {
            let (tag, json) = cookie.split_at(32);
            let mut mac = <HmacSha256 as Mac>::new_from_slice(file).unwrap();
            mac.update(json);
            mac.verify_slice(tag).is_ok()
        }

        fn ip() -> IpAddr {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }

        #[test]
        fn the_vector_is_what_it_says() {
            for v in vectors() {
                assert!(
                    v.file.ends_with(b"\n"),
                    "made by openssl: a trailing newline"
                );
                assert_eq!(v.file.len(), 45);
                assert_eq!(&v.cookie[32..], v.payload.as_bytes());
                assert!(reference_verifies(&v.file, &v.cookie));
                assert!(!reference_verifies(v.file.trim_ascii(), &v.cookie));
            }
        }

        #[test]
        fn a_reference_cookie_verifies_with_the_key_from_its_file() {
            for v in vectors() {
                let file = secret_file(&v.file);
                let secret = CookieSecret::from_file(file.path()).unwrap();
                let payload: AuthCookie = serde_json::from_str(&v.payload).unwrap();
                // The clock is the test's: ten seconds after the cookie was minted.
                let now = payload.timestamp + 10;
                let cookie = verify_auth_cookie(&secret, &v.cookie, now, 60, ip()).unwrap();
                assert_eq!(cookie, payload);
                // None of Passage's own fields: judged by the seed's rules alone,
                // unless the operator asks for strict cookies.
                assert_eq!(cookie.provenance(), Ok(None));
                let lenient = CookiePolicy {
                    online: true,
                    max_age_secs: 86_400,
                    strict: false,
                };
                assert_eq!(lenient.judge(&cookie, now), Ok(()));
                let strict = CookiePolicy {
                    strict: true,
                    ..lenient
                };
                assert_eq!(
                    strict.judge(&cookie, now),
                    Err(CookieRejection::NoProvenance)
                );
                // Expiry runs against the test's clock, not today's date.
                let at = |now| verify_auth_cookie(&secret, &v.cookie, now, 60, ip());
                assert!(at(payload.timestamp + 60).is_ok());
                assert_eq!(at(payload.timestamp + 61), Err(CookieRejection::Expired));
                assert_eq!(
                    at(payload.timestamp - 61),
                    Err(CookieRejection::FromTheFuture)
                );
                assert_eq!(
                    verify_auth_cookie(
                        &secret,
                        &v.cookie,
                        now,
                        60,
                        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))
                    ),
                    Err(CookieRejection::OtherIp)
                );
            }
        }

        #[test]
        fn a_cookie_passage_signs_with_that_file_verifies_under_the_reference_rule() {
            for v in vectors() {
                let secret = CookieSecret::from_file(secret_file(&v.file).path()).unwrap();
                let mut cookie: AuthCookie = serde_json::from_str(&v.payload).unwrap();
                cookie = cookie.refreshed(cookie.timestamp + 5, "lobby-2");
                cookie.set_provenance(&Provenance {
                    auth: Provenance::ONLINE.to_owned(),
                    verified_at: cookie.timestamp,
                });
                let signed = sign_auth_cookie(&secret, &cookie).unwrap();
                assert!(reference_verifies(&v.file, &signed));
                // And the same file without its newline is another key for the
                // reference, and for Passage.
                let bare = v.file.trim_ascii().to_vec();
                assert!(!reference_verifies(&bare, &signed));
                let bare_secret = CookieSecret::from_file(secret_file(&bare).path()).unwrap();
                assert_eq!(
                    verify_auth_cookie(&bare_secret, &signed, cookie.timestamp, 60, ip()),
                    Err(CookieRejection::BadSignature)
                );
                // A file without the newline signs what the reference verifies with
                // that file, too.
                let signed_bare = sign_auth_cookie(&bare_secret, &cookie).unwrap();
                assert!(reference_verifies(&bare, &signed_bare));
            }
        }
    }

    #[test]
    fn policy_bounds_age_and_auth_mode_of_passage_cookies() {
        let policy = CookiePolicy {
            online: true,
            max_age_secs: 86_400,
            strict: false,
        };
        let mut c = cookie();
        c.set_provenance(&Provenance {
            auth: Provenance::ONLINE.to_owned(),
            verified_at: T,
        });
        // Refreshed any number of times, the session check it stands for ages.
        let c = c.refreshed(T + 86_000, "x");
        assert_eq!(policy.judge(&c, T + 86_400), Ok(()));
        assert_eq!(
            policy.judge(&c, T + 86_401),
            Err(CookieRejection::SessionCheckDue)
        );
        assert_eq!(
            policy.judge(&c, T - 61),
            Err(CookieRejection::FromTheFuture)
        );
        // Minted offline: never a session check for an online router.
        let mut offline = cookie();
        offline.set_provenance(&Provenance {
            auth: Provenance::OFFLINE.to_owned(),
            verified_at: T,
        });
        assert_eq!(
            policy.judge(&offline, T),
            Err(CookieRejection::OfflineMinted)
        );
        let offline_router = CookiePolicy {
            online: false,
            ..policy
        };
        assert_eq!(offline_router.judge(&offline, T), Ok(()));
        // Someone else's key in `extra.passage` is not a record we can trust.
        let mut odd = cookie();
        odd.extra
            .insert(PASSAGE_EXTRA_KEY.to_owned(), serde_json::json!("hello"));
        assert_eq!(policy.judge(&odd, T), Err(CookieRejection::Malformed));
        // Other systems' keys are kept by the refresh and the record with them.
        let mut shared = cookie();
        shared
            .extra
            .insert("backend".to_owned(), serde_json::json!({ "rank": "vip" }));
        shared.set_provenance(&Provenance {
            auth: Provenance::ONLINE.to_owned(),
            verified_at: T,
        });
        let json = serde_json::to_value(shared.refreshed(T + 1, "y")).unwrap();
        assert_eq!(json["extra"]["backend"]["rank"], "vip");
        assert_eq!(json["extra"]["passage"]["auth"], "online");
        assert_eq!(json["extra"]["passage"]["verified_at"], T);
    }

    #[test]
    fn secret_file_too_short_or_empty_is_error() {
        let short = secret_file(b"  short-key \n");
        let err = CookieSecret::from_file(short.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains(&short.path().display().to_string()), "{err}");
        assert!(CookieSecret::from_file(secret_file(b" \n\t").path()).is_err());
        assert!(CookieSecret::from_file(secret_file(&[b'a'; 5000]).path()).is_err());
        assert!(CookieSecret::from_file(Path::new("/nonexistent/auth_secret")).is_err());
    }

    #[test]
    fn extra_patches_merge_and_are_bounded() {
        let mut cookie = cookie();
        cookie.extra = serde_json::from_value(serde_json::json!({
            "passage": {"auth": "online", "verified_at": 1},
            "lobby": {"visits": 1, "color": "red"},
            "old": true,
        }))
        .unwrap();
        cookie
            .apply_extra_patch(r#"{"lobby":{"visits":2,"color":null},"old":null,"new":[1]}"#)
            .unwrap();
        assert_eq!(
            serde_json::Value::Object(cookie.extra.clone()),
            serde_json::json!({
                "passage": {"auth": "online", "verified_at": 1},
                "lobby": {"visits": 2},
                "new": [1],
            })
        );
        assert_eq!(
            serde_json::Value::Object(cookie.plugin_extra()),
            serde_json::json!({"lobby": {"visits": 2}, "new": [1]})
        );
        let before = cookie.clone();
        let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_EXTRA_PATCH));
        for (patch, error) in [
            (big.as_str(), ExtraPatchError::TooLarge { len: big.len() }),
            ("{not json", ExtraPatchError::NotJson),
            ("[1,2]", ExtraPatchError::NotAnObject),
            (r#"{"passage":null}"#, ExtraPatchError::PassageKey),
        ] {
            assert_eq!(cookie.apply_extra_patch(patch), Err(error));
            assert_eq!(cookie, before, "a refused patch changes nothing");
        }
    }
}
