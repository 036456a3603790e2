//! Handshaking state. Byte 0 selects: even = the serverbound Handshake decoder on the
//! rest (round trip when it decodes, and `normalized_address` must not panic); odd =
//! `split_id` + Handshake on the rest as a whole frame (id must be 0), as the
//! connection does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passage::protocol::packets::Handshake;
use passage::protocol::{Decode, split_id};

mod common;
use common::round_trip;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let body = if sel & 1 == 0 {
        rest
    } else {
        match split_id(rest) {
            Ok((id, body)) if id == <Handshake as Decode>::ID => body,
            _ => return,
        }
    };
    if let Some(h) = round_trip::<Handshake>(body) {
        let normalized = h.normalized_address();
        assert!(normalized.len() <= h.server_address.len() * 3);
        assert!(!normalized.contains('\0'));
    }
});
