//! The login state. Until online/offline login lands, every login attempt gets a
//! clear Login Disconnect saying why, instead of a hang.

use super::{Connection, ConnectionError};
use crate::protocol::codec::put_string;
use crate::protocol::frame::Encode;
use crate::protocol::packets::handshake::Handshake;
use crate::versions;

/// Login Disconnect (clientbound 0x00): a JSON text component in a string.
struct LoginDisconnect {
    reason_json: String,
}

impl Encode for LoginDisconnect {
    const ID: i32 = 0x00;
    fn encode_body(&self, out: &mut Vec<u8>) {
        put_string(out, &self.reason_json);
    }
}

pub(super) async fn run(
    conn: &mut Connection,
    handshake: &Handshake,
) -> Result<(), ConnectionError> {
    let text = if versions::is_supported(handshake.protocol) {
        "This router does not accept logins yet.".to_owned()
    } else {
        format!(
            "Please use Minecraft {} or newer to join this server.",
            versions::OLDEST_SUPPORTED_NAME
        )
    };
    tracing::info!(protocol = handshake.protocol, "login refused: {text}");
    let reason_json = serde_json::json!({ "text": text }).to_string();
    conn.send(&LoginDisconnect { reason_json }).await
}
