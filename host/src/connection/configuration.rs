//! The configuration state: reads the client's settings (locale) while tolerating
//! plugin messages, then ends the connection. Routing to a backend (discovery,
//! strategy, cookies, Transfer) is the next step of this state.

use tokio::time::Instant;

use super::{Connection, ConnectionError};
use crate::auth::session_server::Profile;
use crate::l10n::Message;
use crate::protocol::codec::DecodeError;
use crate::protocol::frame::{Decode, split_id};
use crate::protocol::packets::configuration::{
    ClientInformation, ConfigDisconnect, KeepAlive, PluginMessage, ResourcePackResponse,
};
use crate::protocol::packets::handshake::Handshake;

/// Serverbound configuration packets: plugin messages are the largest we accept.
const MAX_CONFIGURATION_FRAME: usize = 32 * 1024 + 64;

pub(super) async fn run(
    conn: &mut Connection,
    _handshake: &Handshake,
    profile: Profile,
) -> Result<(), ConnectionError> {
    let deadline = Instant::now() + conn.shared.config.timeouts.configuration();
    conn.reader.set_max_frame_len(MAX_CONFIGURATION_FRAME);
    let locale = loop {
        let Some(frame) = conn.read_frame(deadline, "configuration").await? else {
            return Ok(());
        };
        let (id, body) = split_id(&frame)?;
        match id {
            ClientInformation::ID => break ClientInformation::decode_body(body)?.locale,
            PluginMessage::ID => {
                PluginMessage::decode_body(body)?;
            }
            KeepAlive::ID => {
                KeepAlive::decode_body(body)?;
            }
            ResourcePackResponse::ID => {
                ResourcePackResponse::decode_body(body)?;
            }
            id => {
                return Err(DecodeError::UnknownPacket {
                    state: "configuration",
                    id,
                }
                .into());
            }
        }
    };
    tracing::info!(player = %profile.name, locale = %locale, "no backend to route to yet");
    conn.send(&ConfigDisconnect {
        reason: Message::NoServerAvailable.component(Some(&locale)),
    })
    .await
}
