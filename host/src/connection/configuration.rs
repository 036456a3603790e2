//! The configuration state: reads the client's settings (locale), asks the
//! admission plugins, offers resource packs, routes the player — holding them,
//! with a dialog where the client can show one, while a plugin says "wait" —
//! while keeping the connection alive, then sends the Transfer, or a localized
//! Disconnect saying why not.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::{Connection, ConnectionError};
use crate::auth::cookie::{
    AUTH_COOKIE, AuthCookie, CookieError, Provenance, SESSION_COOKIE, SessionCookie,
    sign_auth_cookie,
};
use crate::auth::session_server::Profile;
use crate::config::AuthMode;
use crate::l10n::Message;
use crate::metrics::metrics;
use crate::plugins::types::{ExtraPatch, Player, PlayerContext, Target, Wait};
use crate::protocol::codec::DecodeError;
use crate::protocol::frame::{Decode, split_id};
use crate::protocol::packets::configuration::{
    AddResourcePack, ClearDialog, ClientInformation, ConfigDisconnect, KeepAlive,
    ResourcePackResponse, ShowDialog, StoreCookie, Transfer,
};
use crate::protocol::packets::handshake::Handshake;
use crate::routing::{Decision, Reservation, RouteError, Routed};
use crate::telemetry;
use tracing::Instrument;

/// Serverbound configuration packets: plugin messages are the largest we accept.
const MAX_CONFIGURATION_FRAME: usize = 32 * 1024 + 64;
/// Packets we ignore (brand, settings updates, unknown ids) before calling the
/// client abusive. Answers to our own keep-alives are expected and not counted.
const MAX_IGNORED_PACKETS: usize = 64;
/// Keep-alives sent whose answer is still awaited; older ones are forgotten (an
/// answer to a forgotten one counts as an ignored packet).
const MAX_OUTSTANDING_KEEP_ALIVES: usize = 8;
/// How soon a waiting player is routed again, whatever the plugin asked: not in
/// a busy loop, and often enough that a freed seat is noticed.
const MIN_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(30);

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
    let mut deadline = Instant::now() + conn.shared.config.timeouts.configuration();
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
    let context = PlayerContext {
        extra: login
            .auth_cookie
            .as_ref()
            .map(AuthCookie::plugin_extra)
            .unwrap_or_default(),
    };
    // The plugin set of this login, kept to its end even if a reload swaps in
    // another meanwhile.
    let active = conn.shared.live.current();
    let dispatcher = &active.dispatcher;

    if dispatcher.has_admission() {
        let verdict = keep_alive_during(
            conn,
            deadline,
            &mut waiting,
            dispatcher
                .admit(&player, &context)
                .instrument(tracing::debug_span!("admission")),
        )
        .await?;
        let refusal = match verdict {
            Ok(None) => None,
            Ok(Some((plugin, message))) => {
                tracing::info!(player = %player.name, plugin = %plugin, "admission denied");
                conn.outcome = "denied";
                Some(
                    conn.shared
                        .messages
                        .plugin_component(&message, Some(&locale)),
                )
            }
            Err(e) => {
                tracing::warn!(player = %player.name, "admission failed, the player is refused: {e}");
                conn.outcome = "plugin_failure";
                Some(
                    conn.shared
                        .messages
                        .component(Message::PluginFailure, Some(&locale)),
                )
            }
        };
        if let Some(reason) = refusal {
            return conn.send(&ConfigDisconnect { reason }).await;
        }
    }

    if !conn.shared.config.resource_packs.is_empty()
        && !offer_resource_packs(conn, &locale, deadline, &mut waiting)
            .instrument(tracing::debug_span!("resource_packs"))
            .await?
    {
        return Ok(());
    }

    let routing_started = std::time::Instant::now();
    let mut hold = Hold::default();
    let outcome = loop {
        let decision = keep_alive_during(
            conn,
            deadline,
            &mut waiting,
            dispatcher
                .route(&player, &context)
                .instrument(tracing::debug_span!("routing")),
        )
        .await?;
        let (wait, reservation) = match decision {
            Ok(Decision::Wait { wait, reservation }) => (wait, reservation),
            Ok(Decision::Transfer(routed)) => break Routing::Transfer(routed),
            Ok(Decision::Reject { plugin, message }) => break Routing::Reject { plugin, message },
            Err(e) => break Routing::Failed(e),
        };
        hold.keep(reservation).await;
        let now = Instant::now();
        let give_up = match hold.give_up {
            Some(at) => at,
            None => {
                // The first "wait": from now on the wait, not the configuration
                // timeout, bounds this connection (plus that timeout to say goodbye).
                let at = now + conn.shared.config.routing.max_wait();
                hold.give_up = Some(at);
                hold.since = Some(now);
                deadline = deadline.max(at + conn.shared.config.timeouts.configuration());
                conn.enter("waiting", deadline);
                metrics().waiting(1);
                tracing::info!(player = %player.name, position = wait.position, "player waits");
                at
            }
        };
        if now >= give_up {
            break Routing::TimedOut;
        }
        let dialog = (player.protocol >= ShowDialog::SINCE_PROTOCOL)
            .then(|| waiting_dialog(&conn.shared.messages, &locale, &wait))
            .flatten();
        if dialog != hold.shown {
            match &dialog {
                Some(show) => conn.send(show).await?,
                None => conn.send(&ClearDialog).await?,
            }
            hold.shown = dialog;
        }
        let pause = wait
            .retry_after
            .clamp(MIN_RETRY, MAX_RETRY)
            .min(give_up - now);
        tracing::debug!(player = %player.name, pause_ms = pause.as_millis() as u64, position = wait.position, "asking again after a pause");
        let shared = conn.shared.clone();
        let paused = async {
            tokio::select! {
                () = tokio::time::sleep(pause) => false,
                () = shared.drain_begun() => true,
            }
        };
        let pause_span = tracing::debug_span!("wait", position = wait.position);
        if keep_alive_during(conn, deadline, &mut waiting, paused.instrument(pause_span)).await? {
            break Routing::Draining;
        }
        if Instant::now() >= give_up {
            break Routing::TimedOut;
        }
    };
    metrics().routing_done(routing_started.elapsed());
    if let Some(since) = hold.since {
        tracing::info!(player = %player.name, waited_ms = since.elapsed().as_millis() as u64, "wait over");
    }
    if hold.shown.is_some() {
        // The client reacts to a Disconnect only from the "Joining world" screen.
        conn.queue(&ClearDialog);
    }
    let reason = match outcome {
        Routing::Transfer(routed) => {
            let routed = hold.settle(routed).await;
            return transfer(conn, &login, &player, routed).await;
        }
        Routing::Reject { plugin, message } => {
            tracing::info!(player = %player.name, plugin = %plugin, "routing refused the player");
            conn.outcome = "rejected";
            conn.shared
                .messages
                .plugin_component(&message, Some(&locale))
        }
        Routing::Failed(e) => {
            let message = if e.is_plugin_failure() {
                tracing::warn!(player = %player.name, "routing failed: {e}");
                conn.outcome = "plugin_failure";
                Message::PluginFailure
            } else {
                tracing::info!(player = %player.name, "routing found no backend: {e}");
                conn.outcome = "no_target";
                Message::NoServerAvailable
            };
            conn.shared.messages.component(message, Some(&locale))
        }
        Routing::Draining => {
            tracing::info!(player = %player.name, "the router is draining: the waiting player is asked to reconnect");
            conn.outcome = "drained";
            conn.shared
                .messages
                .component(Message::Reconnect, Some(&locale))
        }
        Routing::TimedOut => {
            tracing::info!(player = %player.name, max_wait_ms = conn.shared.config.routing.max_wait_ms, "the player waited routing.max_wait_ms; giving up");
            conn.outcome = "wait_timed_out";
            conn.shared
                .messages
                .component(Message::WaitTimedOut, Some(&locale))
        }
    };
    // A reservation still held is given back as `hold` is dropped.
    conn.send(&ConfigDisconnect { reason }).await
}

/// How the routing rounds ended.
enum Routing {
    Transfer(Routed),
    /// A plugin refused the player, with its reason.
    Reject {
        plugin: String,
        message: crate::plugins::types::Message,
    },
    Failed(RouteError),
    /// The player waited `routing.max_wait_ms`.
    TimedOut,
    /// The router began to drain while the player waited.
    Draining,
}

/// What a waiting player holds between rounds.
#[derive(Default)]
struct Hold {
    /// The router's reservation from the last round; released when a later
    /// answer differs, or when this is dropped (the player leaves, gives up).
    reservation: Option<Reservation>,
    /// The dialog on the player's screen.
    shown: Option<ShowDialog>,
    since: Option<Instant>,
    give_up: Option<Instant>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        // However the connection ends, it no longer waits.
        if self.since.is_some() {
            metrics().waiting(-1);
        }
    }
}

impl Hold {
    /// Takes this round's reservation; the previous one is given back unless the
    /// router answered with the same one again.
    async fn keep(&mut self, reservation: Option<Reservation>) {
        let previous = std::mem::replace(&mut self.reservation, reservation);
        if let Some(previous) = previous {
            match &self.reservation {
                Some(now) if now.token() == previous.token() => previous.used(),
                _ => previous.release().await,
            }
        }
    }

    /// The final answer is a transfer: a reservation held from waiting is given
    /// back unless it is the one the transfer carries.
    async fn settle(&mut self, routed: Routed) -> Routed {
        if let Some(previous) = self.reservation.take() {
            match &routed.reservation {
                Some(now) if now.token() == previous.token() => previous.used(),
                _ => previous.release().await,
            }
        }
        routed
    }
}

/// What a waiting player sees (1.21.6+): the plugin's message and their
/// position, under a localized title. `None` when the plugin gave neither, so
/// the player sees the loading screen.
fn waiting_dialog(
    messages: &crate::l10n::Messages,
    locale: &str,
    wait: &Wait,
) -> Option<ShowDialog> {
    if wait.message.is_none() && wait.position.is_none() {
        return None;
    }
    let mut body = Vec::new();
    if let Some(message) = &wait.message {
        body.push(messages.plugin_component(message, Some(locale)));
    }
    if let Some(position) = wait.position {
        let line = messages
            .text(Message::QueuePosition, Some(locale))
            .replace("{position}", &position.to_string());
        body.push(serde_json::json!({ "text": line }));
    }
    Some(ShowDialog {
        title: messages.component(Message::WaitingTitle, Some(locale)),
        body,
        button: messages.component(Message::WaitingButton, Some(locale)),
    })
}

/// Sends the cookies and the Transfer (in one write) and closes.
async fn transfer(
    conn: &mut Connection,
    login: &LoggedIn,
    player: &Player,
    routed: Routed,
) -> Result<(), ConnectionError> {
    let Routed {
        target,
        plugin,
        reservation,
        extra,
    } = routed;
    tracing::info!(player = %player.name, plugin = %plugin, target = %target.id, host = %target.host, port = target.port, reserved = reservation.is_some(), "transfer");
    telemetry::attribute(&conn.span, "passage.target", target.id.clone());
    telemetry::attribute(&conn.span, "passage.plugin", plugin.clone());
    store_cookies(conn, login, &target, &plugin, extra.as_ref());
    let transfer = Transfer {
        host: target.host.clone(),
        port: i32::from(target.port),
    };
    conn.send(&transfer)
        .instrument(tracing::debug_span!("transfer", target = %target.id))
        .await?;
    // The packet is on its way: the player takes the reserved seat. (Had the
    // write failed, the reservation would be given back as it is dropped.)
    if let Some(reservation) = reservation {
        reservation.used();
    }
    // The client disconnects itself on Transfer; a FIN makes sure the packet is
    // flushed before we forget the connection.
    conn.outcome = "transferred";
    if let Some(started) = conn.login_started {
        metrics().login_done(started.elapsed());
    }
    conn.finish().await
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
/// new timestamp and target, everything else kept; `extra` changed as the
/// plugin asked) when cookies are on.
fn store_cookies(
    conn: &mut Connection,
    login: &LoggedIn,
    target: &Target,
    plugin: &str,
    extra: Option<&ExtraPatch>,
) {
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
        let signed = match extra {
            None => sign_auth_cookie(secret, &cookie),
            Some(patch) => {
                let mut changed = cookie.clone();
                match changed.apply_extra_patch(patch) {
                    Err(e) => {
                        tracing::warn!(plugin = %plugin, "the player's data is stored unchanged: {e}");
                        sign_auth_cookie(secret, &cookie)
                    }
                    Ok(()) => match sign_auth_cookie(secret, &changed) {
                        Err(CookieError::TooLarge { len }) => {
                            tracing::warn!(
                                plugin = %plugin,
                                bytes = len,
                                "the player's data is stored unchanged: with the change the cookie would be {len} bytes, over the client's limit"
                            );
                            sign_auth_cookie(secret, &cookie)
                        }
                        other => other,
                    },
                }
            }
        };
        match signed {
            Ok(payload) => conn.queue(&StoreCookie {
                key: AUTH_COOKIE.to_owned(),
                payload,
            }),
            Err(e) => tracing::warn!("not storing the auth cookie: {e}"),
        }
    } else if extra.is_some() {
        tracing::debug!(
            plugin = %plugin,
            "the player's data is not kept: cookies are off (no auth secret)"
        );
    }
    // A backend that reads the session cookie continues this trace from it, and
    // the next connection through Passage links to it.
    let mut session = login.session.clone();
    session.set_traceparent(telemetry::traceparent(&conn.span));
    conn.queue(&StoreCookie {
        key: SESSION_COOKIE.to_owned(),
        payload: session.encode(),
    });
}

/// Runs `work` (a plugin call, a pause) while answering the client: keep-alives
/// go out every few seconds and whatever the client sends meanwhile is read (so
/// its socket buffer never fills) and checked. The client leaving or the
/// deadline passing ends the wait (and drops `work`).
async fn keep_alive_during<F: Future>(
    conn: &mut Connection,
    deadline: Instant,
    waiting: &mut Waiting,
    work: F,
) -> Result<F::Output, ConnectionError> {
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return Ok(done),
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
