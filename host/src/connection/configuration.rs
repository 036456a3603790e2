//! The configuration state: reads the client's settings (locale), routes the
//! player while keeping the connection alive, then sends the Transfer — or a
//! localized Disconnect saying why not.

use std::time::Duration;

use tokio::time::Instant;

use super::{Connection, ConnectionError};
use crate::auth::cookie::{
    AUTH_COOKIE, AuthCookie, Provenance, SESSION_COOKIE, SessionCookie, sign_auth_cookie,
};
use crate::auth::session_server::Profile;
use crate::config::AuthMode;
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
/// Packets we ignore (brand, settings updates, unknown ids) before calling the
/// client abusive. Answers to our own keep-alives are expected and not counted.
const MAX_IGNORED_PACKETS: usize = 64;
/// Keep-alives sent whose answer is still awaited; older ones are forgotten (an
/// answer to a forgotten one counts as an ignored packet).
const MAX_OUTSTANDING_KEEP_ALIVES: usize = 8;

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
    conn.enter("configuration", deadline);
    conn.reader.set_max_frame_len(MAX_CONFIGURATION_FRAME);
    let mut waiting = Waiting::new(conn.shared.config.timeouts.keep_alive());
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
        waiting.tolerate(id, body)?;
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
        && !offer_resource_packs(conn, &locale, deadline, &mut waiting).await?
    {
        return Ok(());
    }

    let routing_started = std::time::Instant::now();
    let outcome = route_keeping_alive(conn, &player, deadline, &mut waiting).await?;
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
            conn.finish().await
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
    waiting: &mut Waiting,
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
    while !pending.is_empty() {
        tokio::select! {
            _ = waiting.ticker.tick() => {
                let keep_alive = waiting.keep_alive();
                conn.send(&keep_alive).await?;
            }
            frame = conn.read_frame(deadline, "configuration") => {
                let Some(frame) = frame? else { return Ok(false) };
                let (id, body) = split_id(&frame)?;
                if id != ResourcePackResponse::ID {
                    waiting.tolerate(id, body)?;
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
            None => {
                let mut fresh = AuthCookie {
                    timestamp: now,
                    client_addr: conn.peer.to_string(),
                    user_name: login.profile.name.clone(),
                    user_id: login.profile.id.hyphenated().to_string(),
                    target: target.id.clone(),
                    profile_properties: login.profile.properties.clone(),
                    extra: serde_json::Map::new(),
                };
                // Authenticated in full just now: record how, for the routers
                // that will judge this cookie later.
                fresh.set_provenance(&Provenance {
                    auth: match shared.config.auth.mode {
                        AuthMode::Online => Provenance::ONLINE,
                        AuthMode::Offline => Provenance::OFFLINE,
                    }
                    .to_owned(),
                    verified_at: now,
                });
                fresh
            }
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
    waiting: &mut Waiting,
) -> Result<Result<Routed, crate::routing::RouteError>, ConnectionError> {
    // The plugin set of this decision, kept to its end even if a reload swaps in
    // another meanwhile.
    let active = conn.shared.live.current();
    let route = active.router.route(player);
    tokio::pin!(route);
    loop {
        tokio::select! {
            outcome = &mut route => return Ok(outcome),
            _ = waiting.ticker.tick() => {
                let keep_alive = waiting.keep_alive();
                conn.send(&keep_alive).await?;
            }
            frame = conn.read_frame(deadline, "configuration") => {
                let Some(frame) = frame? else {
                    return Err(ConnectionError::Io(std::io::ErrorKind::UnexpectedEof.into()));
                };
                let (id, body) = split_id(&frame)?;
                waiting.tolerate(id, body)?;
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(ConnectionError::Timeout("configuration"));
            }
        }
    }
}

/// While the client waits on us (resource packs, routing): keep-alives at
/// `timeouts.keep_alive_ms`, and a bound on what the client sends meanwhile.
struct Waiting {
    ticker: tokio::time::Interval,
    next_id: i64,
    /// Ids of keep-alives sent and not answered yet, oldest first.
    outstanding: std::collections::VecDeque<i64>,
    ignored: usize,
}

impl Waiting {
    fn new(every: Duration) -> Waiting {
        let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Waiting {
            ticker,
            next_id: 1,
            outstanding: std::collections::VecDeque::new(),
            ignored: 0,
        }
    }

    /// The next keep-alive to send; its answer is then expected.
    fn keep_alive(&mut self) -> KeepAlive {
        let id = self.next_id;
        self.next_id += 1;
        if self.outstanding.len() == MAX_OUTSTANDING_KEEP_ALIVES {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back(id);
        KeepAlive { id }
    }

    /// A packet the client may send in configuration that we do not need: the
    /// answer to one of our keep-alives (expected: free, however long the wait),
    /// or brand and other plugin messages, settings updates, unknown ids —
    /// bounded, so a client cannot keep us busy forever.
    fn tolerate(&mut self, id: i32, body: &[u8]) -> Result<(), ConnectionError> {
        if id == KeepAlive::ID {
            let answer = KeepAlive::decode_body(body)?;
            if let Some(i) = self.outstanding.iter().position(|&sent| sent == answer.id) {
                self.outstanding.remove(i);
                return Ok(());
            }
        }
        self.ignored += 1;
        if self.ignored > MAX_IGNORED_PACKETS {
            return Err(DecodeError::UnknownPacket {
                state: "configuration (too many packets)",
                id,
            }
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_to_our_keep_alives_are_free_and_everything_else_is_bounded() {
        let mut waiting = Waiting::new(Duration::from_millis(10));
        // Many more answered keep-alives than the bound.
        for _ in 0..10 * MAX_IGNORED_PACKETS {
            let sent = waiting.keep_alive();
            waiting
                .tolerate(KeepAlive::ID, &sent.id.to_be_bytes())
                .unwrap();
        }
        // An answer to a keep-alive never sent, or sent twice, counts.
        let sent = waiting.keep_alive();
        waiting
            .tolerate(KeepAlive::ID, &sent.id.to_be_bytes())
            .unwrap();
        waiting
            .tolerate(KeepAlive::ID, &sent.id.to_be_bytes())
            .unwrap();
        waiting
            .tolerate(KeepAlive::ID, &424242i64.to_be_bytes())
            .unwrap();
        assert_eq!(waiting.ignored, 2);
        // Up to the bound, other packets are tolerated; the next one is not.
        for _ in 2..MAX_IGNORED_PACKETS {
            waiting.tolerate(0x02, b"brand").unwrap();
        }
        let refused = waiting.tolerate(0x02, b"brand").unwrap_err();
        assert!(
            refused.to_string().contains("too many packets"),
            "{refused}"
        );
        // A malformed keep-alive answer is a malformed packet.
        let mut waiting = Waiting::new(Duration::from_millis(10));
        assert!(waiting.tolerate(KeepAlive::ID, &[1, 2]).is_err());
    }

    #[tokio::test]
    async fn only_the_latest_keep_alives_are_remembered() {
        let mut waiting = Waiting::new(Duration::from_millis(10));
        let first = waiting.keep_alive();
        for _ in 0..MAX_OUTSTANDING_KEEP_ALIVES {
            waiting.keep_alive();
        }
        waiting
            .tolerate(KeepAlive::ID, &first.id.to_be_bytes())
            .unwrap();
        assert_eq!(waiting.ignored, 1, "the oldest answer was forgotten");
    }
}
