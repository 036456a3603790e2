//! The status state: Status Request → Status Response, Ping → Pong, then close.

use tokio::time::Instant;

use super::{Connection, ConnectionError};
use crate::plugins::types::StatusRequest as PluginStatusRequest;
use crate::protocol::codec::{DecodeError, Reader};
use crate::protocol::frame::{Decode, split_id};
use crate::protocol::packets::handshake::Handshake;
use crate::protocol::packets::status::{PingRequest, PongResponse, StatusRequest, StatusResponse};

/// Serverbound status packets are at most an id and an i64.
const MAX_STATUS_FRAME: usize = 16;

pub(super) async fn run(
    conn: &mut Connection,
    handshake: &Handshake,
    address: String,
) -> Result<(), ConnectionError> {
    conn.reader.set_max_frame_len(MAX_STATUS_FRAME);
    let started = std::time::Instant::now();
    let deadline = Instant::now() + conn.shared.config.timeouts.status();
    conn.enter("status", deadline);
    let mut answered = false;
    loop {
        let Some(frame) = conn.read_frame(deadline, "status").await? else {
            return Ok(());
        };
        let (id, body) = split_id(&frame)?;
        let mut r = Reader::new(body);
        match id {
            StatusRequest::ID if !answered => {
                StatusRequest::decode(&mut r)?;
                r.finish("status request")?;
                let request = PluginStatusRequest {
                    client_ip: conn.peer.ip().to_string(),
                    protocol: handshake.protocol,
                    server_address: address.clone(),
                    server_port: handshake.server_port,
                };
                let active = conn.shared.live.current();
                let answer = tokio::time::timeout_at(deadline, active.status.answer(&request))
                    .await
                    .map_err(|_| ConnectionError::Timeout("status"))?;
                tracing::debug!(source = %answer.source, "status answered");
                conn.send(&StatusResponse { json: answer.json }).await?;
                // Answered: a client that leaves without pinging is no failure.
                conn.outcome = "ok";
                answered = true;
            }
            PingRequest::ID => {
                let ping = PingRequest::decode(&mut r)?;
                r.finish("ping")?;
                conn.send(&PongResponse {
                    payload: ping.payload,
                })
                .await?;
                conn.outcome = "ok";
                crate::metrics::metrics().status_done(started.elapsed());
                return Ok(());
            }
            id => {
                return Err(DecodeError::UnknownPacket {
                    state: "status",
                    id,
                }
                .into());
            }
        }
    }
}
