//! Login state: byte 0 selects a decoder, the rest is the body; round trip when it
//! decodes. 0-4 are the serverbound packets the router reads (Login Start, Encryption
//! Response, Login Plugin Response, Login Acknowledged, Cookie Response); 5-11 the
//! clientbound ones used by test clients and the load generator (Login Success in
//! both the 767 and 768+ layouts).
#![no_main]

use libfuzzer_sys::fuzz_target;
use passage::protocol::Encode;
use passage::protocol::packets::login::*;

mod common;
use common::round_trip;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    match sel % 12 {
        0 => {
            let _ = round_trip::<LoginStart>(body);
        }
        1 => {
            let _ = round_trip::<EncryptionResponse>(body);
        }
        2 => {
            let _ = round_trip::<LoginPluginResponse>(body);
        }
        3 => {
            let _ = round_trip::<LoginAcknowledged>(body);
        }
        4 => {
            let _ = round_trip::<CookieResponse>(body);
        }
        5 => {
            let _ = round_trip::<LoginDisconnect>(body);
        }
        6 => {
            let _ = round_trip::<EncryptionRequest>(body);
        }
        7 => {
            let _ = round_trip::<LoginSuccess>(body);
        }
        8 => {
            let _ = round_trip::<SetCompression>(body);
        }
        9 => {
            let _ = round_trip::<LoginPluginRequest>(body);
        }
        10 => {
            let _ = round_trip::<CookieRequest>(body);
        }
        _ => {
            // The 766/767 layout, with the trailing strict-error-handling flag.
            if let Ok(p) = LoginSuccess::decode_body_for(body, 767) {
                let mut out = Vec::new();
                p.encode_body(&mut out);
                let again = LoginSuccess::decode_body_for(&out, 767)
                    .unwrap_or_else(|e| panic!("login success (767) re-encoded: {e}"));
                assert_eq!(again, p);
                assert!(out.len() <= body.len());
            }
        }
    }
});
