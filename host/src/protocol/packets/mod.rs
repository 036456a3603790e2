//! Packets of the handshaking, status, login and configuration states, and the legacy
//! (pre-1.7) ping answer.
//!
//! Login and configuration share packet names (Cookie Request, Disconnect...), so their
//! packets are reached through their modules rather than re-exported here.

// Shared with the packet modules, which reach them as `super::codec` / `super::frame`.
use super::{codec, frame, nbt};

pub mod configuration;
pub mod handshake;
pub mod legacy;
pub mod login;
pub mod status;

pub use handshake::{Handshake, Intent};
pub use legacy::{LEGACY_PING, legacy_kick};
pub use status::{PingRequest, PongResponse, StatusRequest, StatusResponse};

/// Longest identifier (`namespace:path`: cookie keys, channels) vanilla reads, in UTF-16
/// code units.
pub const MAX_IDENTIFIER_CHARS: usize = 32767;
/// Longest cookie payload vanilla stores or sends back.
pub const MAX_COOKIE_LEN: usize = 5120;

/// A cookie payload in a Cookie Response: a presence flag, then VarInt-prefixed bytes.
fn read_optional_payload(r: &mut codec::Reader<'_>) -> Result<Option<Vec<u8>>, codec::DecodeError> {
    if r.bool("cookie present")? {
        Ok(Some(
            r.byte_array("cookie payload", MAX_COOKIE_LEN)?.to_vec(),
        ))
    } else {
        Ok(None)
    }
}

fn put_optional_payload(out: &mut Vec<u8>, payload: Option<&[u8]>) {
    codec::put_bool(out, payload.is_some());
    if let Some(payload) = payload {
        codec::put_byte_array(out, payload);
    }
}

/// Helpers shared by the packet modules' tests.
#[cfg(test)]
mod test_util {
    use std::fmt::Debug;

    use super::codec::peek_varint;
    use super::frame::{Decode, Encode, encode_frame, split_id};

    /// The body `packet` encodes to.
    pub fn body_of<P: Encode>(packet: &P) -> Vec<u8> {
        let mut body = Vec::new();
        packet.encode_body(&mut body);
        body
    }

    /// Encodes `packet` as a frame, checks the length prefix and both id consts, and
    /// decodes it back to an equal packet.
    pub fn round_trip<P>(packet: &P)
    where
        P: Encode + for<'a> Decode<'a> + PartialEq + Debug,
    {
        let frame = encode_frame(packet);
        let (len, prefix) = peek_varint(&frame, "len").unwrap().unwrap();
        let payload = frame.get(prefix..).unwrap();
        assert_eq!(usize::try_from(len).unwrap(), payload.len());
        let (id, body) = split_id(payload).unwrap();
        assert_eq!(id, <P as Encode>::ID);
        assert_eq!(id, <P as Decode>::ID);
        assert_eq!(&P::decode_body(body).unwrap(), packet);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Packet ids from public protocol data, copied into the repository
    /// (`host/testdata/README.md` says where they come from).
    const PACKET_IDS: &str = include_str!("../../../testdata/packet-ids.json");

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
                ("login.toClient", "disconnect", login::LoginDisconnect::ID),
                (
                    "login.toClient",
                    "encryption_begin",
                    login::EncryptionRequest::ID,
                ),
                ("login.toClient", "success", login::LoginSuccess::ID),
                ("login.toClient", "compress", login::SetCompression::ID),
                (
                    "login.toClient",
                    "login_plugin_request",
                    login::LoginPluginRequest::ID,
                ),
                ("login.toClient", "cookie_request", login::CookieRequest::ID),
                ("login.toServer", "login_start", login::LoginStart::ID),
                (
                    "login.toServer",
                    "encryption_begin",
                    login::EncryptionResponse::ID,
                ),
                (
                    "login.toServer",
                    "login_plugin_response",
                    login::LoginPluginResponse::ID,
                ),
                (
                    "login.toServer",
                    "login_acknowledged",
                    login::LoginAcknowledged::ID,
                ),
                (
                    "login.toServer",
                    "cookie_response",
                    login::CookieResponse::ID,
                ),
                (
                    "configuration.toClient",
                    "cookie_request",
                    configuration::CookieRequest::ID,
                ),
                (
                    "configuration.toClient",
                    "disconnect",
                    configuration::ConfigDisconnect::ID,
                ),
                (
                    "configuration.toClient",
                    "finish_configuration",
                    configuration::FinishConfiguration::ID,
                ),
                (
                    "configuration.toClient",
                    "keep_alive",
                    configuration::KeepAlive::ID,
                ),
                (
                    "configuration.toClient",
                    "add_resource_pack",
                    configuration::AddResourcePack::ID,
                ),
                (
                    "configuration.toClient",
                    "store_cookie",
                    configuration::StoreCookie::ID,
                ),
                (
                    "configuration.toClient",
                    "transfer",
                    configuration::Transfer::ID,
                ),
                (
                    "configuration.toServer",
                    "settings",
                    configuration::ClientInformation::ID,
                ),
                (
                    "configuration.toServer",
                    "cookie_response",
                    configuration::CookieResponse::ID,
                ),
                (
                    "configuration.toServer",
                    "custom_payload",
                    configuration::PluginMessage::ID,
                ),
                (
                    "configuration.toServer",
                    "finish_configuration",
                    configuration::AcknowledgeFinishConfiguration::ID,
                ),
                (
                    "configuration.toServer",
                    "keep_alive",
                    configuration::KeepAlive::ID,
                ),
                (
                    "configuration.toServer",
                    "resource_pack_receive",
                    configuration::ResourcePackResponse::ID,
                ),
            ];
            for (group, packet, ours) in checks {
                assert_eq!(id(v, group, packet), ours, "{name}: {group}.{packet}");
            }
            // Dialogs exist from 1.21.6 on, at the same ids.
            let protocol = v["protocol"].as_i64().unwrap();
            let dialogs = protocol >= i64::from(configuration::ShowDialog::SINCE_PROTOCOL);
            for (packet, ours) in [
                ("show_dialog", configuration::ShowDialog::ID),
                ("clear_dialog", configuration::ClearDialog::ID),
            ] {
                let listed = v["configuration.toClient"]
                    .get(packet)
                    .and_then(Value::as_i64);
                assert_eq!(
                    listed,
                    dialogs.then_some(i64::from(ours)),
                    "{name}: {packet}"
                );
            }
        }
    }
}
