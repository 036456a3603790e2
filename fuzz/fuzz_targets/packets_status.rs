//! Status state: byte 0 selects the serverbound decoder (Status Request, Ping
//! Request), or a clientbound one (Status Response, Pong Response) used by test
//! clients; the rest is the body. Round trip when it decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passage::protocol::packets::{PingRequest, PongResponse, StatusRequest, StatusResponse};

mod common;
use common::round_trip;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    match sel % 4 {
        0 => {
            let _ = round_trip::<StatusRequest>(body);
        }
        1 => {
            let _ = round_trip::<PingRequest>(body);
        }
        2 => {
            let _ = round_trip::<StatusResponse>(body);
        }
        _ => {
            let _ = round_trip::<PongResponse>(body);
        }
    }
});
