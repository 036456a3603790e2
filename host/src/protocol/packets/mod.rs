//! Packets of the handshaking and status states, and the legacy (pre-1.7) ping answer.

// Shared with the packet modules, which reach them as `super::codec` / `super::frame`.
use super::{codec, frame};

pub mod handshake;
pub mod legacy;
pub mod status;

pub use handshake::{Handshake, Intent};
pub use legacy::{LEGACY_PING, legacy_kick};
pub use status::{PingRequest, PongResponse, StatusRequest, StatusResponse};

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Shared protocol data lives beside the repository (`shared/` next to the clone), so
    /// five levels up from `<repo>/host/src/protocol/packets/`.
    const PACKET_IDS: &str = include_str!("../../../../../shared/protocol/packet-ids.json");

    fn id(version: &Value, group: &str, name: &str) -> i32 {
        let id = version
            .get(group)
            .and_then(|g| g.get(name))
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("{group}.{name} missing for {}", version["minecraft"]));
        i32::try_from(id).unwrap()
    }

    #[test]
    fn ids_match_every_supported_version() {
        let versions: serde_json::Map<String, Value> = serde_json::from_str(PACKET_IDS).unwrap();
        let mut protocols: Vec<i64> = versions
            .values()
            .map(|v| v["protocol"].as_i64().unwrap())
            .collect();
        protocols.sort_unstable();
        assert_eq!(protocols, (766..=775).collect::<Vec<_>>());

        for (name, v) in &versions {
            let checks = [
                ("handshaking.toServer", "set_protocol", Handshake::ID),
                (
                    "handshaking.toServer",
                    "legacy_server_list_ping",
                    i32::from(LEGACY_PING),
                ),
                ("status.toServer", "ping_start", StatusRequest::ID),
                ("status.toServer", "ping", PingRequest::ID),
                ("status.toClient", "server_info", StatusResponse::ID),
                ("status.toClient", "ping", PongResponse::ID),
            ];
            for (group, packet, ours) in checks {
                assert_eq!(id(v, group, packet), ours, "{name}: {group}.{packet}");
            }
        }
    }
}
