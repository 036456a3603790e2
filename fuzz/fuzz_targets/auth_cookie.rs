//! The signed `passage:authentication` cookie (and the unsigned session cookie).
//! Byte 0 picks the mode, bytes 1-8 the verification context (clock, expiry,
//! client IP); the rest is the payload.
//! - mode 0: the payload as a returned cookie: `verify_auth_cookie` with a fixed
//!   secret and `SessionCookie::decode` must not panic; a forged tag is refused.
//! - mode 1: the payload as JSON, signed with the secret (HMAC-SHA256, as
//!   `sign_auth_cookie` does): verification must never say the signature is bad;
//!   JSON that is not an `AuthCookie` must be refused as malformed, not panic; an
//!   accepted cookie re-signed with `sign_auth_cookie` verifies to the same cookie.
//! - mode 2: an `AuthCookie` built from the payload's fields, signed with
//!   `sign_auth_cookie`: verifies, or is refused cleanly; when accepted, equal.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use passage::auth::cookie::{
    AuthCookie, CookieRejection, CookieSecret, SessionCookie, sign_auth_cookie,
    verify_auth_cookie,
};
use passage::auth::session_server::ProfileProperty;
use sha2::Sha256;

const KEY: &[u8] = b"fuzzing-secret-0123456789abcdef";

fn secret() -> CookieSecret {
    CookieSecret::from_bytes(KEY.to_vec())
}

fn sign(json: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(KEY).unwrap();
    mac.update(json);
    let mut out = mac.finalize().into_bytes().to_vec();
    out.extend_from_slice(json);
    out
}

/// Pieces of the payload, cut at 0xff bytes, as lossy UTF-8 strings.
fn fields(payload: &[u8]) -> Vec<String> {
    payload
        .split(|&b| b == 0xff)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let [mode, now_b, exp_b, ip_sel, a, b, c, d, payload @ ..] = data else {
        return;
    };
    let now = 1_700_000_000u64 + u64::from(*now_b) * 1000;
    let expiry = u64::from(*exp_b) * 600;
    let ip = match ip_sel % 3 {
        0 => IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)),
        1 => IpAddr::V6(Ipv4Addr::new(*a, *b, *c, *d).to_ipv6_mapped()),
        _ => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, u16::from(*a), u16::from(*b))),
    };
    let secret = secret();
    match mode % 3 {
        0 => {
            let res = verify_auth_cookie(&secret, payload, now, expiry, ip);
            // A random tag matching is as likely as finding an HMAC collision.
            if payload.len() >= 34 && payload.len() <= 5120 && sign(&payload[32..]) != payload {
                assert_eq!(res, Err(CookieRejection::BadSignature), "forged cookie");
            }
            if let Some(s) = SessionCookie::decode(payload) {
                assert_eq!(SessionCookie::decode(&s.encode()), Some(s));
            }
        }
        1 => {
            let signed = sign(payload);
            let res = verify_auth_cookie(&secret, &signed, now, expiry, ip);
            if signed.len() > 5120 {
                assert_eq!(res, Err(CookieRejection::Oversized));
                return;
            }
            assert_ne!(res, Err(CookieRejection::BadSignature), "valid tag refused");
            if payload.len() >= 2 && serde_json::from_slice::<AuthCookie>(payload).is_err() {
                assert_eq!(res, Err(CookieRejection::Malformed), "not an AuthCookie");
            }
            if let Ok(cookie) = res {
                check_resigned(&secret, &cookie, now, expiry, ip);
            }
        }
        _ => {
            let f = fields(payload);
            let get = |i: usize| f.get(i).cloned().unwrap_or_default();
            let mut properties = Vec::new();
            for chunk in f.get(6..).unwrap_or_default().chunks(3).take(20) {
                properties.push(ProfileProperty {
                    name: chunk.first().cloned().unwrap_or_default(),
                    value: chunk.get(1).cloned().unwrap_or_default(),
                    signature: chunk.get(2).cloned(),
                });
            }
            let mut extra = serde_json::Map::new();
            if !get(5).is_empty() {
                extra.insert(get(5), serde_json::Value::String(get(4)));
            }
            let cookie = AuthCookie {
                timestamp: now.wrapping_add(u64::from(*a)).wrapping_sub(u64::from(*b) * 16),
                client_addr: if c & 1 == 0 {
                    format!("{}", std::net::SocketAddr::new(ip, u16::from(*d)))
                } else {
                    get(0)
                },
                user_name: get(1),
                user_id: if c & 2 == 0 {
                    "069a79f4-44e9-4726-a5be-fca90e38aaf5".to_owned()
                } else {
                    get(2)
                },
                target: get(3),
                profile_properties: properties,
                extra,
            };
            if let Ok(signed) = sign_auth_cookie(&secret, &cookie) {
                assert!(signed.len() <= 5120);
                let res = verify_auth_cookie(&secret, &signed, now, expiry, ip);
                assert_ne!(res, Err(CookieRejection::BadSignature));
                assert_ne!(res, Err(CookieRejection::Oversized));
                if let Ok(back) = res {
                    assert_eq!(back, cookie, "signed cookie changed in verification");
                    check_resigned(&secret, &back, now, expiry, ip);
                }
            }
        }
    }
});

fn check_resigned(secret: &CookieSecret, cookie: &AuthCookie, now: u64, expiry: u64, ip: IpAddr) {
    // Unknown fields are dropped on re-signing, so the cookie can only shrink... but
    // `extra` and escapes may re-serialize longer; a too-large result is a clean error.
    if let Ok(signed) = sign_auth_cookie(secret, cookie) {
        let back = verify_auth_cookie(secret, &signed, now, expiry, ip)
            .unwrap_or_else(|e| panic!("re-signed accepted cookie refused: {e}"));
        assert_eq!(&back, cookie, "re-signed cookie changed");
    }
}
