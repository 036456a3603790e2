//! Configuration state: byte 0 selects a decoder, the rest is the body; round trip
//! when it decodes. 0-5 are the serverbound packets the router reads (Client
//! Information, Cookie Response, Plugin Message, Acknowledge Finish Configuration,
//! Keep Alive, Resource Pack Response); 6-11 the clientbound ones used by test
//! clients (Cookie Request, Disconnect with its NBT reason, Finish Configuration,
//! Add Resource Pack, Store Cookie, Transfer). The two with an NBT text component
//! (Disconnect, Add Resource Pack) round-trip up to the documented NBT-to-JSON
//! mapping: exact and stable from the second round on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passage::protocol::packets::configuration::*;

mod common;
use common::{round_trip, round_trip_normalizing};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    match sel % 12 {
        0 => {
            let _ = round_trip::<ClientInformation>(body);
        }
        1 => {
            let _ = round_trip::<CookieResponse>(body);
        }
        2 => {
            let _ = round_trip::<PluginMessage>(body);
        }
        3 => {
            let _ = round_trip::<AcknowledgeFinishConfiguration>(body);
        }
        4 => {
            let _ = round_trip::<KeepAlive>(body);
        }
        5 => {
            if let Some(r) = round_trip::<ResourcePackResponse>(body) {
                let _ = r.is_final();
            }
        }
        6 => {
            let _ = round_trip::<CookieRequest>(body);
        }
        7 => {
            let _ = round_trip_normalizing::<ConfigDisconnect>(body);
        }
        8 => {
            let _ = round_trip::<FinishConfiguration>(body);
        }
        9 => {
            let _ = round_trip_normalizing::<AddResourcePack>(body);
        }
        10 => {
            let _ = round_trip::<StoreCookie>(body);
        }
        _ => {
            let _ = round_trip::<Transfer>(body);
        }
    }
});
