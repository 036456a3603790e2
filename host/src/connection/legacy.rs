//! The pre-1.7 server-list ping (first byte 0xFE): answered with the §1 kick string
//! so old clients show the MOTD and "outdated" instead of hanging.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{Connection, ConnectionError};
use crate::plugins::types::StatusRequest;
use crate::protocol::packets::legacy::legacy_kick;

/// What an old client announces as its version is irrelevant: it cannot join.
const LEGACY_PROTOCOL: i32 = 127;
/// How long to drain the rest of the client's ping after answering.
const DRAIN: Duration = Duration::from_millis(500);

pub(super) async fn respond(conn: &mut Connection) -> Result<(), ConnectionError> {
    let request = StatusRequest {
        client_ip: conn.peer.ip().to_string(),
        protocol: 0,
        server_address: String::new(),
        server_port: 0,
    };
    let deadline = tokio::time::Instant::now() + conn.shared.config.timeouts.status();
    conn.enter("status", deadline);
    let active = conn.shared.live.current();
    let answer = tokio::time::timeout_at(deadline, active.status.answer(&request))
        .await
        .map_err(|_| ConnectionError::Timeout("legacy ping"))?;
    let kick = legacy_kick(
        LEGACY_PROTOCOL,
        &answer.version_name,
        &answer.motd_plain,
        answer.online,
        answer.max,
    );
    conn.send_raw(&kick).await?;
    conn.outcome = "ok";
    tracing::debug!("answered a legacy ping");
    // Close gracefully: send FIN, then read and discard what the client still
    // sends (the 1.6 ping has a tail), so the kernel does not reset the connection
    // and destroy the answer before the client read it.
    conn.finish().await?;
    let mut sink = [0u8; 256];
    let _ = tokio::time::timeout(DRAIN, async {
        let mut total = 0usize;
        while total < 4096 {
            match conn.stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
    Ok(())
}
