//! The accept loop: a slot per connection (the caps, and shedding when full),
//! one task per connection, and on the stop signal, the drain of connections in
//! flight.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::auth::cookie::CookieSecret;
use crate::auth::session_server::SessionServer;
use crate::config::Config;
use crate::connection;
use crate::crypto::ServerKey;
use crate::l10n::Messages;
use crate::metrics::metrics;
use crate::net::rate_limit::RateLimiter;
use crate::net::slots::Slots;
use crate::net::trusted_networks::TrustedNetworks;
use crate::reload::Live;

/// Services every connection shares.
pub struct Shared {
    /// The configuration read at start-up. Its plugin, routing and status sections
    /// may since have been reloaded: those live in `live`.
    pub config: Config,
    /// The plugins in use, with the router and status service built on them.
    pub live: Arc<Live>,
    /// Generated at start-up, never on a player's login.
    pub server_key: ServerKey,
    pub session: SessionServer,
    pub messages: Messages,
    /// Signs and checks `passage:authentication`; `None` turns cookies off.
    pub cookie_secret: Option<CookieSecret>,
    pub guards: Guards,
    /// Set when the drain begins: players held by a plugin's "wait" are told to
    /// reconnect (to another replica) instead of waiting into the drain deadline.
    pub draining: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    /// Completes once the drain has begun.
    pub async fn drain_begun(&self) {
        let mut draining = self.draining.subscribe();
        // `Err`: the sender is gone, which only happens as the process ends.
        let _ = draining.wait_for(|d| *d).await;
    }
}

/// Per-address budgets and the PROXY protocol's trusted networks, built from the
/// configuration.
pub struct Guards {
    /// `None`: no limit.
    pub status_rate: Option<RateLimiter>,
    pub login_rate: Option<RateLimiter>,
    /// `Some` when the PROXY protocol is enabled.
    pub trusted_proxies: Option<TrustedNetworks>,
}

impl Guards {
    pub fn new(config: &Config) -> anyhow::Result<Guards> {
        let l = &config.limits;
        let limiter = |rate, burst| {
            RateLimiter::from_settings(rate, burst, l.tracked_addresses)
                .map_err(|e| anyhow::anyhow!("limits: {e}"))
        };
        let p = &config.proxy_protocol;
        Ok(Guards {
            status_rate: limiter(l.status_per_second, l.status_burst)?,
            login_rate: limiter(l.login_per_second, l.login_burst)?,
            trusted_proxies: if p.enabled {
                Some(
                    TrustedNetworks::parse(&p.trusted_networks)
                        .map_err(|e| anyhow::anyhow!("proxy_protocol.trusted_networks{e}"))?,
                )
            } else {
                None
            },
        })
    }

    /// Forgets addresses whose budgets are full again; called now and then so
    /// memory follows the load.
    fn sweep(&self) {
        let now = Instant::now();
        for limiter in [&self.status_rate, &self.login_rate].into_iter().flatten() {
            limiter.sweep(now);
        }
    }
}

/// How often the rate limiters drop addresses that carry no information, and the
/// heap is offered back to the OS after a burst.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// At most one warning per this long for each cap.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(10);

/// The players' listener. Every accepted socket inherits from it (on Linux)
/// the options each connection needs: `TCP_NODELAY` (answers leave at once)
/// and a bounded send buffer ([`connection::SEND_BUFFER`]), so setting them
/// costs no system call per connection. Address reuse and the backlog are as
/// `TcpListener::bind` sets them.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.set_send_buffer_size(connection::SEND_BUFFER as u32)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts until `stop` completes, then drains: waits for the connections in
/// flight to finish, at most `shutdown.drain_timeout_ms`. Accept errors (e.g. out
/// of file descriptors) are logged and retried after a pause rather than ending
/// the server.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: impl Future<Output = ()>) {
    let limits = &shared.config.limits;
    let slots = Slots::new(limits.max_connections, limits.max_connections_per_address);
    let mut last_warning: [Option<Instant>; 2] = [None, None];
    let mut reclaimer = crate::memory::Reclaimer::default();
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // The slot is taken here, before any byte is read, so a flood of
                    // sockets costs one accept and one close each. A trusted proxy's
                    // connection is counted under its client once the header says who.
                    let proxied = shared
                        .guards
                        .trusted_proxies
                        .as_ref()
                        .is_some_and(|t| t.contains(peer.ip()));
                    let (slot, shed) = match slots.admit((!proxied).then_some(peer.ip())) {
                        Ok(admitted) => admitted,
                        Err(refusal) => {
                            metrics().rejected(refusal.as_str());
                            let warned = &mut last_warning[refusal as usize];
                            if warned.is_none_or(|t| t.elapsed() >= CAP_WARNING_EVERY) {
                                *warned = Some(Instant::now());
                                tracing::warn!(%peer, "connection refused at accept: {} reached (more are refused without a log line for 10 s)", match refusal {
                                    crate::net::slots::Refusal::MaxConnections => "limits.max_connections, and no connection could be shed",
                                    crate::net::slots::Refusal::PerAddress => "limits.max_connections_per_address for this address",
                                });
                            }
                            drop(stream);
                            continue;
                        }
                    };
                    reclaimer.accepted();
                    tokio::spawn(connection::handle(stream, peer, shared.clone(), slot, shed));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = sweep.tick() => {
                shared.guards.sweep();
                reclaimer.tick(slots.in_use());
            }
            () = &mut stop => break,
        }
    }
    // Unready at once, and no new connections: the load balancer moves on.
    metrics().set_ready(false);
    shared.draining.send_replace(true);
    drop(listener);
    let in_flight = slots.in_use();
    let deadline = shared.config.shutdown.drain_timeout_ms;
    tracing::info!(
        in_flight,
        deadline_ms = deadline,
        "stopped accepting; draining connections in flight"
    );
    // Every slot back means every connection task has finished.
    match tokio::time::timeout(Duration::from_millis(deadline), slots.all_free()).await {
        Ok(()) => tracing::info!("drained: every connection finished"),
        Err(_) => tracing::warn!(
            remaining = slots.in_use(),
            "drain deadline reached; closing the remaining connections"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each connection relies on without setting it itself: an accepted
    /// socket has TCP_NODELAY and the listener's bounded send buffer (the
    /// kernel reports twice the size asked for), not the default's megabytes.
    #[tokio::test]
    #[cfg(target_os = "linux")]
    async fn accepted_sockets_inherit_nodelay_and_the_bounded_send_buffer() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap());
        let sent = socket2::SockRef::from(&accepted)
            .send_buffer_size()
            .unwrap();
        assert_eq!(sent, 2 * connection::SEND_BUFFER);
    }
}
