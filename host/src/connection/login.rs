//! The login state: Login Start; online authentication (RSA key exchange,
//! AES-128-CFB8, the session server's `hasJoined`) or offline; optional
//! compression; Login Success in the client's version's layout; Login Acknowledged.

use tokio::time::Instant;

use super::{Connection, ConnectionError, configuration};
use crate::auth::cookie::{
    AUTH_COOKIE, AuthCookie, SESSION_COOKIE, SessionCookie, verify_auth_cookie,
};
use crate::auth::offline::offline_uuid;
use crate::auth::session_server::{OutageKind, Profile, ProfileProperty, SessionError};
use crate::config::AuthMode;
use crate::crypto::{decrypt_login, random_verify_token, server_hash};
use crate::l10n::Message;
use crate::metrics::metrics;
use crate::protocol::codec::DecodeError;
use crate::protocol::frame::{Decode, split_id};
use crate::protocol::packets::handshake::{Handshake, Intent};
use crate::protocol::packets::login::{
    CookieRequest, CookieResponse, EncryptionRequest, EncryptionResponse, LoginAcknowledged,
    LoginDisconnect, LoginPluginResponse, LoginStart, LoginSuccess, Property, SetCompression,
};
use crate::telemetry;
use crate::versions;
use tracing::Instrument;

/// Serverbound login packets are small: the largest we expect is a Cookie
/// Response (5120 bytes of payload plus its key).
const MAX_LOGIN_FRAME: usize = 8 * 1024;
/// Packets of the login state we ignore (answers to queries we did not make,
/// cookies we did not ask for) before calling the client abusive.
const MAX_IGNORED_LOGIN_PACKETS: usize = 16;

/// Counts a login packet we ignore; an error past the bound.
fn tolerate(conn: &mut Connection, id: i32) -> Result<(), ConnectionError> {
    conn.ignored += 1;
    if conn.ignored > MAX_IGNORED_LOGIN_PACKETS {
        return Err(DecodeError::UnknownPacket {
            state: "login (too many packets)",
            id,
        }
        .into());
    }
    Ok(())
}

pub(super) async fn run(
    conn: &mut Connection,
    handshake: &Handshake,
) -> Result<(), ConnectionError> {
    let deadline = Instant::now() + conn.shared.config.timeouts.login();
    conn.enter("login", deadline);
    conn.reader.set_max_frame_len(MAX_LOGIN_FRAME);
    if !versions::is_supported(handshake.protocol) {
        tracing::info!(
            protocol = handshake.protocol,
            "login refused: client too old"
        );
        conn.outcome = "outdated_client";
        return disconnect(conn, Message::OutdatedClient).await;
    }
    let Some(start) = conn.read_packet::<LoginStart>(deadline, "login").await? else {
        return Ok(());
    };
    if !valid_name(&start.name) {
        tracing::info!("login refused: invalid player name");
        conn.outcome = "auth_failed";
        return disconnect(conn, Message::FailedToVerify).await;
    }
    tracing::debug!(player = %start.name, "login start");
    conn.login_started = Some(std::time::Instant::now());

    // A client coming back from a Transfer still holds the cookies we stored.
    let (auth_bytes, session_bytes) = if handshake.intent == Intent::Transfer {
        request_cookies(conn, deadline).await?
    } else {
        (None, None)
    };
    let mut session = session_bytes
        .as_deref()
        .and_then(SessionCookie::decode)
        .unwrap_or_else(|| SessionCookie::new(String::new(), 0));
    session.server_address = handshake.normalized_address();
    session.server_port = handshake.server_port;
    tracing::Span::current().record("session", tracing::field::display(session.id));
    telemetry::attribute(&conn.span, "session.id", session.id.to_string());
    if let Some(previous) = session.traceparent() {
        // The player's previous connection through Passage (another replica,
        // perhaps): this trace links to that one.
        telemetry::link_to(&conn.span, previous);
    }
    let auth_cookie = if handshake.intent == Intent::Transfer {
        match auth_bytes {
            Some(bytes) => tracing::debug_span!("cookie_check")
                .in_scope(|| valid_auth_cookie(conn, &bytes, &start.name)),
            None => {
                metrics().cookie(Some("absent"));
                None
            }
        }
    } else {
        None
    };

    let profile = if let Some(cookie) = &auth_cookie {
        // The cookie path: the signature, expiry and IP binding stand in for the
        // session server, and no key exchange is done (SECURITY.md explains why).
        tracing::info!(player = %cookie.user_name, "authenticated by cookie");
        profile_from_cookie(cookie)
    } else {
        match conn.shared.config.auth.mode {
            AuthMode::Online => match authenticate_online(conn, &start, deadline).await? {
                Some(profile) => profile,
                None => return Ok(()),
            },
            AuthMode::Offline => Profile {
                id: offline_uuid(&start.name),
                name: start.name.clone(),
                properties: Vec::new(),
            },
        }
    };
    tracing::info!(player = %profile.name, uuid = %profile.id, "authenticated");
    telemetry::attribute(&conn.span, "player.name", profile.name.clone());
    telemetry::attribute(
        &conn.span,
        "passage.auth",
        if auth_cookie.is_some() {
            "cookie"
        } else {
            "session_server"
        },
    );

    let threshold = conn.shared.config.compression_threshold;
    if threshold >= 0 {
        // Queued: it leaves with Login Success, encoded before compression is on.
        conn.queue(&SetCompression { threshold });
        conn.writer.enable_compression(threshold);
        conn.reader.enable_compression(threshold);
    }
    conn.send(&login_success(handshake.protocol, &profile))
        .await?;

    // Until Login Acknowledged the client may still answer queries we did not
    // make; tolerate those, refuse anything else.
    loop {
        let Some(frame) = conn.read_frame(deadline, "login").await? else {
            return Ok(());
        };
        let (id, body) = split_id(&frame)?;
        match id {
            LoginAcknowledged::ID => {
                LoginAcknowledged::decode_body(body)?;
                break;
            }
            LoginPluginResponse::ID => {
                LoginPluginResponse::decode_body(body)?;
                tolerate(conn, id)?;
            }
            CookieResponse::ID => {
                CookieResponse::decode_body(body)?;
                tolerate(conn, id)?;
            }
            id => return Err(DecodeError::UnknownPacket { state: "login", id }.into()),
        }
    }
    configuration::run(
        conn,
        handshake,
        configuration::LoggedIn {
            profile,
            auth_cookie,
            session,
        },
    )
    .await
}

/// Asks for our two cookies and waits for both answers. `None` for a cookie the
/// client does not have.
async fn request_cookies(
    conn: &mut Connection,
    deadline: Instant,
) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>), ConnectionError> {
    for key in [AUTH_COOKIE, SESSION_COOKIE] {
        conn.queue(&CookieRequest {
            key: key.to_owned(),
        });
    }
    conn.flush().await?;
    let (mut auth, mut session) = (None, None);
    let mut answered = 0;
    while answered < 2 {
        let Some(frame) = conn.read_frame(deadline, "login").await? else {
            return Ok((None, None));
        };
        let (id, body) = split_id(&frame)?;
        match id {
            CookieResponse::ID => {
                let response = CookieResponse::decode_body(body)?;
                match response.key.as_str() {
                    AUTH_COOKIE => auth = response.payload,
                    SESSION_COOKIE => session = response.payload,
                    _ => {
                        tolerate(conn, id)?;
                        continue;
                    }
                }
                answered += 1;
            }
            LoginPluginResponse::ID => {
                LoginPluginResponse::decode_body(body)?;
                tolerate(conn, id)?;
            }
            id => return Err(DecodeError::UnknownPacket { state: "login", id }.into()),
        }
    }
    Ok((auth, session))
}

/// The authentication cookie, if it is ours, fresh, from this IP and for the
/// player named in Login Start. A rejected cookie is never the player's problem:
/// they simply authenticate in full.
fn valid_auth_cookie(conn: &Connection, bytes: &[u8], name: &str) -> Option<AuthCookie> {
    let Some(secret) = conn.shared.cookie_secret.as_ref() else {
        metrics().cookie(Some("disabled"));
        return None;
    };
    let now = unix_now();
    let config = &conn.shared.config;
    let verdict = verify_auth_cookie(
        secret,
        bytes,
        now,
        config.auth_cookie_expiry_secs,
        conn.peer.ip(),
    )
    .and_then(|cookie| {
        config.cookie_policy().judge(&cookie, now)?;
        Ok(cookie)
    });
    metrics().cookie(match &verdict {
        Ok(cookie) if cookie.user_name.eq_ignore_ascii_case(name) => None,
        Ok(_) => Some("other_player"),
        Err(rejection) => Some(rejection.as_str()),
    });
    match verdict {
        Ok(cookie) if cookie.user_name.eq_ignore_ascii_case(name) => Some(cookie),
        Ok(_) => {
            tracing::info!(
                reason = "other_player",
                "auth cookie rejected; authenticating in full"
            );
            None
        }
        Err(rejection) => {
            tracing::info!(
                reason = rejection.as_str(),
                "auth cookie rejected; authenticating in full"
            );
            None
        }
    }
}

fn profile_from_cookie(cookie: &AuthCookie) -> Profile {
    Profile {
        // verify_auth_cookie checked the shape of user_id.
        id: uuid::Uuid::parse_str(&cookie.user_id).unwrap_or_default(),
        name: cookie.user_name.clone(),
        properties: cookie.profile_properties.clone(),
    }
}

pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The key exchange and the session check. `None` when the player was refused
/// (and told why).
async fn authenticate_online(
    conn: &mut Connection,
    start: &LoginStart,
    deadline: Instant,
) -> Result<Option<Profile>, ConnectionError> {
    let shared = conn.shared.clone();
    let server_id = &shared.config.auth.server_id;
    let token = random_verify_token();
    conn.send(&EncryptionRequest {
        server_id: server_id.clone(),
        public_key: shared.server_key.public_der().to_vec(),
        verify_token: token.to_vec(),
        should_authenticate: true,
    })
    .await?;
    let response = loop {
        let Some(frame) = conn.read_frame(deadline, "login").await? else {
            return Ok(None);
        };
        let (id, body) = split_id(&frame)?;
        match id {
            EncryptionResponse::ID => break EncryptionResponse::decode_body(body)?,
            LoginPluginResponse::ID => {
                LoginPluginResponse::decode_body(body)?;
                tolerate(conn, id)?;
            }
            id => return Err(DecodeError::UnknownPacket { state: "login", id }.into()),
        }
    };
    let secret = match decrypt_login(
        &shared.server_key,
        &response.shared_secret,
        &response.verify_token,
        &token,
    ) {
        Ok(secret) => secret,
        Err(e) => {
            // Every failure takes this one path: the client has switched to its
            // cipher already, and we answer under a random key, so whether the
            // secret's padding was valid never shows in a readable reply
            // (RUSTSEC-2023-0071: no padding oracle).
            tracing::info!("login refused: {e}");
            conn.outcome = "auth_failed";
            let mut decoy = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut decoy);
            conn.writer.enable_encryption(decoy);
            disconnect(conn, Message::FailedToVerify).await?;
            return Ok(None);
        }
    };
    conn.reader.enable_encryption(secret);
    conn.writer.enable_encryption(secret);

    let hash = server_hash(server_id, &secret, shared.server_key.public_der());
    let ip = shared.config.auth.send_client_ip.then(|| conn.peer.ip());
    let asked = std::time::Instant::now();
    let verdict =
        tokio::time::timeout_at(deadline, shared.session.has_joined(&start.name, &hash, ip))
            .instrument(tracing::debug_span!("session_server"))
            .await
            .unwrap_or_else(|_| {
                Err(SessionError::unavailable(
                    OutageKind::Timeout,
                    "login deadline reached",
                ))
            });
    metrics().session_call(
        asked.elapsed(),
        verdict.as_ref().err().map(SessionError::reason),
    );
    match verdict {
        Ok(profile) => Ok(Some(profile)),
        Err(SessionError::NotVerified) => {
            tracing::info!(player = %start.name, "login refused: the session server did not verify the player");
            conn.outcome = "auth_failed";
            disconnect(conn, Message::FailedToVerify).await?;
            Ok(None)
        }
        Err(SessionError::Unavailable(why)) => {
            tracing::warn!(player = %start.name, "login refused: session server unavailable: {why}");
            conn.outcome = "auth_unavailable";
            disconnect(conn, Message::AuthUnavailable).await?;
            Ok(None)
        }
    }
}

fn login_success(protocol: i32, profile: &Profile) -> LoginSuccess {
    LoginSuccess::for_protocol(
        protocol,
        profile.id.as_u128(),
        profile.name.clone(),
        profile
            .properties
            .iter()
            .map(|p: &ProfileProperty| Property {
                name: p.name.clone(),
                value: p.value.clone(),
                signature: p.signature.clone(),
            })
            .collect(),
    )
}

/// Names Mojang issues are 1-16 of `[A-Za-z0-9_]`; offline-mode clients can send
/// anything, so refuse what would be unsafe in logs, cookies and commands.
fn valid_name(name: &str) -> bool {
    (1..=16).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Sends a Login Disconnect with `message` (the client has not told its locale yet).
pub(super) async fn disconnect(
    conn: &mut Connection,
    message: Message,
) -> Result<(), ConnectionError> {
    let reason_json = conn.shared.messages.component(message, None).to_string();
    conn.send(&LoginDisconnect { reason_json }).await
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names() {
        assert!(valid_name("Steve"));
        assert!(valid_name("a_b_c_1234567890"));
        assert!(!valid_name(""));
        assert!(!valid_name("seventeen_chars_x"));
        assert!(!valid_name("bad name"));
        assert!(!valid_name("ünicode"));
    }
}
