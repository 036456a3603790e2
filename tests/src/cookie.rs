//! The `passage:authentication` cookie from the tests' side, written from its
//! published layout (`HMAC-SHA256(key, json) || json`, the JSON of the original
//! Passage documentation), sharing no code with the router: tests mint cookies
//! with the timestamps they choose, and check the ones the router stores.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of the HMAC-SHA256 tag before the JSON.
pub const TAG_LEN: usize = 32;

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// `HMAC-SHA256(key, json) || json` for `json` serialized compactly.
pub fn sign(key: &[u8], json: &serde_json::Value) -> Vec<u8> {
    let body = serde_json::to_vec(json).expect("JSON");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(&body);
    let mut out = mac.finalize().into_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// The JSON of a cookie whose tag verifies under `key`; `None` when it does not.
pub fn verify(key: &[u8], cookie: &[u8]) -> Option<serde_json::Value> {
    let (tag, body) = cookie.split_at_checked(TAG_LEN)?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(body);
    mac.verify_slice(tag).ok()?;
    serde_json::from_slice(body).ok()
}
