//! The configuration state: reads the client's settings (locale), routes the
//! player while keeping the connection alive, then sends the Transfer — or a
//! localized Disconnect saying why not.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::{Connection, ConnectionError};
use crate::auth::cookie::{
    AUTH_COOKIE, AuthCookie, SESSION_COOKIE, SessionCookie, sign_auth_cookie,
};
use crate::auth::session_server::Profile;
use crate::l10n::Message;
use crate::metrics::metrics;
use crate::plugins::bindings::{Player, Target};
use crate::protocol::codec::DecodeError;
use crate::protocol::frame::{Decode, split_id};
use crate::protocol::packets::configuration::{
    AddResourcePack, ClientInformation, ConfigDisconnect, KeepAlive, ResourcePackResponse,
    StoreCookie, Transfer,
};
use crate::protocol::packets::handshake::Handshake;
use crate::routing::Routed;

/// Serverbound configuration packets: plugin messages are the largest we accept.
const MAX_CONFIGURATION_FRAME: usize = 32 * 1024 + 64;
/// How often the client hears from us while plugins work (it gives up after 15 s).
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(2);
/// Packets we ignore (brand, unknown ids) before calling the client abusive.
const MAX_IGNORED_PACKETS: usize = 64;

/// What the login state established.
pub(super) struct LoggedIn {
    pub profile: Profile,
    /// The verified cookie this login came with, if any.
    pub auth_cookie: Option<AuthCookie>,
    pub session: SessionCookie,
}

pub(super) async fn run(
    conn: &mut Connection,
    handshake: &Handshake,
    login: LoggedIn,
) -> Result<(), ConnectionError> {
    let profile = &login.profile;
    let deadline = Instant::now() + conn.shared.config.timeouts.configuration();
    conn.state = "configuration";
    conn.reader.set_max_frame_len(MAX_CONFIGURATION_FRAME);
    let mut ignored = 0usize;
    let locale = loop {
        let Some(frame) = conn.read_frame(deadline, "configuration").await? else {
            return Ok(());
        };
        let (id, body) = split_id(&frame)?;
        if id == ClientInformation::ID {
            break ClientInformation::decode_body(body)?
                .locale
                .to_ascii_lowercase();
        }
        tolerate(id, &mut ignored)?;
    };
    let player = Player {
        name: profile.name.clone(),
        uuid: profile.id.hyphenated().to_string(),
        client_ip: conn.peer.ip().to_string(),
        protocol: handshake.protocol,
        server_address: handshake.normalized_address(),
        server_port: handshake.server_port,
        locale: Some(locale.clone()),
        last_target: login.auth_cookie.as_ref().map(|c| c.target.clone()),
    };

    if !conn.shared.config.resource_packs.is_empty()
        && !offer_resource_packs(conn, &locale, deadline, &mut ignored).await?
    {
        return Ok(());
    }

    let routing_started = std::time::Instant::now();
    let outcome = route_keeping_alive(conn, &player, deadline, &mut ignored).await?;
    metrics().routing_done(routing_started.elapsed());
    match outcome {
        Ok(Routed {
            target,
            reservation,
        }) => {
            tracing::info!(player = %player.name, target = %target.id, host = %target.host, port = target.port, reserved = reservation.is_some(), "transfer");
            // The cookies and the Transfer leave in one write.
            store_cookies(conn, &login, &target);
            let sent = conn
                .send(&Transfer {
                    host: target.host.clone(),
                    port: i32::from(target.port),
                })
                .await;
            if let Err(e) = sent {
                // The player will not arrive: the router may hand the slot out again.
                if let Some(reservation) = reservation {
                    reservation.release().await;
                }
                return Err(e);
            }
            // The client disconnects itself on Transfer; a FIN makes sure the
            // packet is flushed before we forget the connection.
            conn.outcome = "transferred";
            if let Some(started) = conn.login_started {
                metrics().login_done(started.elapsed());
            }
            conn.stream.shutdown().await?;
            Ok(())
        }
        Err(e) => {
            let message = if e.is_plugin_failure() {
                tracing::warn!(player = %player.name, "routing failed: {e}");
                conn.outcome = "plugin_failure";
                Message::PluginFailure
            } else {
                tracing::info!(player = %player.name, "routing found no backend: {e}");
                conn.outcome = "no_target";
                Message::NoServerAvailable
            };
            conn.send(&ConfigDisconnect {
                reason: conn.shared.messages.component(message, Some(&locale)),
            })
            .await
        }
    }
}

/// Sends every configured pack and waits for each one's final answer, keeping
/// the client alive meanwhile. `false` when a forced pack was refused or failed
/// (the player has been told why).
async fn offer_resource_packs(
    conn: &mut Connection,
    locale: &str,
    deadline: Instant,
    ignored: &mut usize,
) -> Result<bool, ConnectionError> {
    let shared = conn.shared.clone();
    let mut pending = std::collections::HashMap::new();
    for pack in &shared.config.resource_packs {
        let id = pack.id();
        pending.insert(id.as_u128(), pack);
        conn.send(&AddResourcePack {
            uuid: id.as_u128(),
            url: pack.url.clone(),
            hash: pack.hash.to_ascii_lowercase(),
            forced: pack.forced,
            prompt: pack
                .prompt
                .as_ref()
                .map(|p| serde_json::json!({ "text": p })),
        })
        .await?;
    }
    let mut ticker = tokio::time::interval_at(Instant::now() + KEEP_ALIVE_EVERY, KEEP_ALIVE_EVERY);
    let mut keep_alive_id = 1_000_000i64;
    while !pending.is_empty() {
        tokio::select! {
            _ = ticker.tick() => {
                keep_alive_id += 1;
                conn.send(&KeepAlive { id: keep_alive_id }).await?;
            }
            frame = conn.read_frame(deadline, "configuration") => {
                let Some(frame) = frame? else { return Ok(false) };
                let (id, body) = split_id(&frame)?;
                if id != ResourcePackResponse::ID {
                    tolerate(id, ignored)?;
                    continue;
                }
                let response = ResourcePackResponse::decode_body(body)?;
                if !response.is_final() {
                    continue;
                }
                let Some(pack) = pending.remove(&response.uuid) else { continue };
                let loaded = response.result == ResourcePackResponse::SUCCESSFULLY_LOADED;
                tracing::debug!(url = %pack.url, result = response.result, "resource pack answered");
                if pack.forced && !loaded {
                    tracing::info!(url = %pack.url, result = response.result, "forced resource pack refused or failed");
                conn.outcome = "resource_pack_declined";
                    conn.send(&ConfigDisconnect {
                        reason: shared.messages.component(Message::ResourcePackRequired, Some(locale)),
                    })
                    .await?;
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// Stores the session cookie, and the signed authentication cookie (refreshed:
/// new timestamp and target, everything else kept) when cookies are on.
fn store_cookies(conn: &mut Connection, login: &LoggedIn, target: &Target) {
    let shared = conn.shared.clone();
    if let Some(secret) = &shared.cookie_secret {
        let now = super::login::unix_now();
        let cookie = match &login.auth_cookie {
            Some(previous) => previous.refreshed(now, &target.id),
            None => AuthCookie {
                timestamp: now,
                client_addr: conn.peer.to_string(),
                user_name: login.profile.name.clone(),
                user_id: login.profile.id.hyphenated().to_string(),
                target: target.id.clone(),
                profile_properties: login.profile.properties.clone(),
                extra: serde_json::Map::new(),
            },
        };
        match sign_auth_cookie(secret, &cookie) {
            Ok(payload) => conn.queue(&StoreCookie {
                key: AUTH_COOKIE.to_owned(),
                payload,
            }),
            Err(e) => tracing::warn!("not storing the auth cookie: {e}"),
        }
    }
    conn.queue(&StoreCookie {
        key: SESSION_COOKIE.to_owned(),
        payload: login.session.encode(),
    });
}

/// Runs routing while answering the client: keep-alives go out every few
/// seconds and whatever the client sends meanwhile is read (so its socket buffer
/// never fills) and checked.
async fn route_keeping_alive(
    conn: &mut Connection,
    player: &Player,
    deadline: Instant,
    ignored: &mut usize,
) -> Result<Result<Routed, crate::routing::RouteError>, ConnectionError> {
    // The plugin set of this decision, kept to its end even if a reload swaps in
    // another meanwhile.
    let active = conn.shared.live.current();
    let route = active.router.route(player);
    tokio::pin!(route);
    let mut ticker = tokio::time::interval_at(Instant::now() + KEEP_ALIVE_EVERY, KEEP_ALIVE_EVERY);
    let mut keep_alive_id = 0i64;
    loop {
        tokio::select! {
            outcome = &mut route => return Ok(outcome),
            _ = ticker.tick() => {
                keep_alive_id += 1;
                conn.send(&KeepAlive { id: keep_alive_id }).await?;
            }
            frame = conn.read_frame(deadline, "configuration") => {
                let Some(frame) = frame? else {
                    return Err(ConnectionError::Io(std::io::ErrorKind::UnexpectedEof.into()));
                };
                let (id, _) = split_id(&frame)?;
                tolerate(id, ignored)?;
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(ConnectionError::Timeout("configuration"));
            }
        }
    }
}

/// Packets a client may send in configuration that we do not need: brand and
/// other plugin messages, keep-alive answers, settings updates, unknown ids.
/// Bounded, so a client cannot keep us busy forever.
fn tolerate(id: i32, ignored: &mut usize) -> Result<(), ConnectionError> {
    *ignored += 1;
    if *ignored > MAX_IGNORED_PACKETS {
        return Err(DecodeError::UnknownPacket {
            state: "configuration (too many packets)",
            id,
        }
        .into());
    }
    Ok(())
}
