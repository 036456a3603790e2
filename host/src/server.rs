//! The accept loop: one task per connection, and a stop signal that ends accepting.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::cookie::CookieSecret;
use crate::auth::session_server::SessionServer;
use crate::config::Config;
use crate::connection;
use crate::crypto::ServerKey;
use crate::l10n::Messages;
use crate::routing::Router;
use crate::status::StatusService;

/// Services every connection shares.
pub struct Shared {
    pub config: Config,
    pub status: StatusService,
    /// Generated at start-up, never on a player's login.
    pub server_key: ServerKey,
    pub session: SessionServer,
    pub router: Router,
    pub messages: Messages,
    /// Signs and checks `passage:authentication`; `None` turns cookies off.
    pub cookie_secret: Option<CookieSecret>,
}

/// Accepts until `stop` completes. Accept errors (e.g. out of file descriptors) are
/// logged and retried after a pause rather than ending the server.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(connection::handle(stream, peer, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut stop => {
                tracing::info!("stopped accepting connections");
                return;
            }
        }
    }
}
