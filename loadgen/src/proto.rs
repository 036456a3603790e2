//! One connection, driven with `passage_tests::client::Client` (framing,
//! compression, AES-CFB8): a status ping, or a login through configuration to
//! the Transfer. Everything the server sends is parsed without trusting it:
//! a malformed packet is a `protocol` failure, never a panic.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use passage_tests::client::{Client, minecraft_hash};
use passage_tests::session_server::client_join;
use passage_tests::{frame, handshake, string, varint};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};

use crate::stats::{Failure, Kind};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub protocol: i32,
    /// Sent in the handshake.
    pub server_address: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// A server packet body, read without panicking.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub fn u8(&mut self) -> Result<u8, Failure> {
        let (b, rest) = self
            .buf
            .split_first()
            .ok_or_else(|| Failure::protocol("packet truncated"))?;
        self.buf = rest;
        Ok(*b)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Failure> {
        if n > self.buf.len() {
            return Err(Failure::protocol("packet truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub fn varint(&mut self) -> Result<i32, Failure> {
        let mut value = 0u32;
        for i in 0..5 {
            let b = self.u8()?;
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value as i32);
            }
        }
        Err(Failure::protocol("VarInt longer than 5 bytes"))
    }

    /// A VarInt length, then that many bytes.
    pub fn prefixed(&mut self) -> Result<&'a [u8], Failure> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| Failure::protocol("negative length"))?;
        self.bytes(len)
    }

    pub fn string(&mut self) -> Result<String, Failure> {
        let bytes = self.prefixed()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Failure::protocol("string is not UTF-8"))
    }

    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }
}

/// Runs `fut` under `limit`; past it, a `timeout` failure.
pub async fn within<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result,
        Err(_) => Err(Failure::new(
            Kind::Timeout,
            format!("no answer within {limit:?}"),
        )),
    }
}

/// TCP connect under --connect-timeout: `refused` or `connect` on failure.
pub async fn connect(t: &Target) -> Result<Client, Failure> {
    match tokio::time::timeout(t.connect_timeout, Client::connect(t.addr, t.protocol)).await {
        Err(_) => Err(Failure::new(
            Kind::Connect,
            format!("connect took longer than {:?}", t.connect_timeout),
        )),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(Failure::new(Kind::Refused, e.to_string()))
        }
        Ok(Err(e)) => Err(Failure::new(Kind::Connect, e.to_string())),
        Ok(Ok(client)) => Ok(client),
    }
}

/// One server-list ping: returns the time from before the connect to the pong.
pub async fn status_once(t: &Target, payload: i64) -> Result<Duration, Failure> {
    let started = Instant::now();
    let mut c = connect(t).await?;
    within(t.request_timeout, status_exchange(&mut c, t, payload)).await?;
    Ok(started.elapsed())
}

async fn status_exchange(c: &mut Client, t: &Target, payload: i64) -> Result<(), Failure> {
    // Handshake and Status Request in one write, as clients do.
    let mut first = handshake(t.protocol, &t.server_address, t.addr.port(), 1);
    first.extend(frame(0x00, &[]));
    c.send_raw(&first).await?;
    let (id, body) = c.recv().await?;
    if id != 0x00 {
        return Err(Failure::protocol(format!(
            "expected Status Response (0x00), got {id:#04x}"
        )));
    }
    let mut r = Reader::new(&body);
    let json = r.string()?;
    let status: serde_json::Value = serde_json::from_str(&json)
        .map_err(|e| Failure::protocol(format!("status is not JSON: {e}")))?;
    if !status.is_object() {
        return Err(Failure::protocol("status JSON is not an object"));
    }
    c.send(0x01, &payload.to_be_bytes()).await?;
    let (id, body) = c.recv().await?;
    if id != 0x01 {
        return Err(Failure::protocol(format!(
            "expected Pong (0x01), got {id:#04x}"
        )));
    }
    if body != payload.to_be_bytes() {
        return Err(Failure::protocol("Pong does not echo the Ping payload"));
    }
    Ok(())
}

/// Who logs in, and with what.
#[derive(Debug, Clone)]
pub struct Player<'a> {
    pub name: &'a str,
    pub uuid: u128,
    /// Handshake intent: 2 login, 3 transfer (a reconnect after a Transfer).
    pub intent: i32,
    /// Where to post `join` when the server asks for encryption; `None` skips
    /// it (an offline client), so an online-mode server will refuse the login.
    pub session: Option<SocketAddr>,
    /// Cookies to present when the server asks.
    pub cookies: &'a HashMap<String, Vec<u8>>,
}

/// A login that ended in a Transfer.
#[derive(Debug)]
pub struct Transferred {
    /// From before the connect to the Transfer.
    pub latency: Duration,
    /// Store Cookie packets received, by key.
    pub cookies: HashMap<String, Vec<u8>>,
    /// The server asked for encryption (a full, not a cookie, authentication).
    pub encrypted: bool,
}

/// Connect, login, configuration, until the Transfer.
pub async fn login_once(t: &Target, p: &Player<'_>) -> Result<Transferred, Failure> {
    let started = Instant::now();
    let mut c = connect(t).await?;
    let (cookies, encrypted) = within(t.request_timeout, async {
        let encrypted = login(&mut c, t, p).await?;
        let cookies = configuration(&mut c, t.protocol, p.cookies).await?;
        Ok((cookies, encrypted))
    })
    .await?;
    Ok(Transferred {
        latency: started.elapsed(),
        cookies,
        encrypted,
    })
}

/// The login state up to Login Success, answered with Login Acknowledged.
/// Returns whether the server asked for encryption.
async fn login(c: &mut Client, t: &Target, p: &Player<'_>) -> Result<bool, Failure> {
    let mut start = Vec::new();
    string(&mut start, p.name);
    start.extend_from_slice(&p.uuid.to_be_bytes());
    let mut first = handshake(t.protocol, &t.server_address, t.addr.port(), p.intent);
    first.extend(frame(0x00, &start));
    c.send_raw(&first).await?;
    let mut encrypted = false;
    loop {
        let (id, body) = c.recv().await?;
        let mut r = Reader::new(&body);
        match id {
            0x00 => {
                let reason = r.string()?;
                return Err(Failure::new(Kind::disconnect(&json_text(&reason)), reason));
            }
            0x01 => {
                if encrypted {
                    return Err(Failure::protocol("a second Encryption Request"));
                }
                let server_id = r.string()?;
                let key = r.prefixed()?;
                let token = r.prefixed()?;
                let public = RsaPublicKey::from_public_key_der(key)
                    .map_err(|e| Failure::protocol(format!("server public key: {e}")))?;
                let mut secret = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
                if let Some(session) = p.session {
                    let hash = minecraft_hash(&[server_id.as_bytes(), &secret, key]);
                    let status = client_join(session, p.name, &format!("{:032x}", p.uuid), &hash)
                        .await
                        .map_err(|e| Failure::new(Kind::Io, format!("session server join: {e}")))?;
                    if status != 204 {
                        return Err(Failure::protocol(format!(
                            "session server join answered {status}"
                        )));
                    }
                }
                let mut rng = rand::rngs::OsRng;
                let mut encrypt = |data: &[u8]| {
                    public
                        .encrypt(&mut rng, Pkcs1v15Encrypt, data)
                        .map_err(|e| Failure::protocol(format!("RSA: {e}")))
                };
                let enc_secret = encrypt(&secret)?;
                let enc_token = encrypt(token)?;
                let mut answer = Vec::new();
                varint(&mut answer, enc_secret.len() as i32);
                answer.extend(&enc_secret);
                varint(&mut answer, enc_token.len() as i32);
                answer.extend(&enc_token);
                c.send(0x01, &answer).await?;
                c.enable_encryption(&secret);
                encrypted = true;
            }
            0x02 => {
                // Login Success: the profile is the server's business here.
                c.send(0x03, &[]).await?;
                return Ok(encrypted);
            }
            0x03 => {
                let threshold = r.varint()?;
                c.enable_compression(threshold);
            }
            0x04 => {
                // Login Plugin Request: "not understood".
                let message_id = r.varint()?;
                let mut answer = Vec::new();
                varint(&mut answer, message_id);
                answer.push(0);
                c.send(0x02, &answer).await?;
            }
            0x05 => {
                let key = r.string()?;
                c.send(0x04, &cookie_response(&key, p.cookies)).await?;
            }
            other => {
                return Err(Failure::protocol(format!(
                    "unexpected login packet {other:#04x}"
                )));
            }
        }
    }
}

fn cookie_response(key: &str, cookies: &HashMap<String, Vec<u8>>) -> Vec<u8> {
    let mut answer = Vec::new();
    string(&mut answer, key);
    match cookies.get(key) {
        Some(payload) => {
            answer.push(1);
            varint(&mut answer, payload.len() as i32);
            answer.extend_from_slice(payload);
        }
        None => answer.push(0),
    }
    answer
}

/// Client Information with locale en_us, in the layout of `protocol` (a
/// trailing particle-status VarInt from 768 on).
pub fn client_information(protocol: i32) -> Vec<u8> {
    let mut b = Vec::new();
    string(&mut b, "en_us");
    b.push(10); // view distance
    varint(&mut b, 0); // chat mode: enabled
    b.push(1); // chat colors
    b.push(0x7f); // displayed skin parts
    varint(&mut b, 1); // main hand: right
    b.push(0); // text filtering
    b.push(1); // allow server listings
    if protocol >= 768 {
        varint(&mut b, 0); // particle status: all
    }
    b
}

/// The configuration state: the client's brand and information, then answers
/// until the Transfer. Returns the cookies stored on the way.
async fn configuration(
    c: &mut Client,
    protocol: i32,
    held: &HashMap<String, Vec<u8>>,
) -> Result<HashMap<String, Vec<u8>>, Failure> {
    let mut brand = Vec::new();
    string(&mut brand, "minecraft:brand");
    string(&mut brand, "vanilla");
    c.send(0x02, &brand).await?;
    c.send(0x00, &client_information(protocol)).await?;
    let mut stored = HashMap::new();
    loop {
        let (id, body) = c.recv().await?;
        let mut r = Reader::new(&body);
        match id {
            0x00 => {
                // Cookie Request: what we hold, preferring what was just stored.
                let key = r.string()?;
                let source = if stored.contains_key(&key) {
                    &stored
                } else {
                    held
                };
                c.send(0x01, &cookie_response(&key, source)).await?;
            }
            0x02 => {
                let text = nbt_text(r.rest()).unwrap_or_else(|| "(unreadable text)".to_owned());
                return Err(Failure::new(Kind::disconnect(&text), text));
            }
            0x03 => {
                return Err(Failure::protocol(
                    "Finish Configuration instead of a Transfer (not a transfer router?)",
                ));
            }
            0x04 => c.send(0x04, &body).await?, // Keep Alive
            0x05 => c.send(0x05, &body).await?, // Ping -> Pong
            0x09 => {
                // Add Resource Pack: accepted, then loaded.
                let uuid = r.bytes(16)?;
                for result in [3, 0] {
                    let mut answer = uuid.to_vec();
                    varint(&mut answer, result);
                    c.send(0x06, &answer).await?;
                }
            }
            0x0A => {
                let key = r.string()?;
                let payload = r.prefixed()?;
                stored.insert(key, payload.to_vec());
            }
            0x0B => {
                let _host = r.string()?;
                let _port = r.varint()?;
                return Ok(stored);
            }
            0x0E => {
                // Known Packs: we know none.
                let mut answer = Vec::new();
                varint(&mut answer, 0);
                c.send(0x07, &answer).await?;
            }
            _ => {} // plugin messages, registries, tags, features, links...
        }
    }
}

/// The visible text of a chat component in JSON (Login Disconnect).
pub fn json_text(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(o)) => {
            let mut text = o
                .get("text")
                .or_else(|| o.get("translate"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            if let Some(serde_json::Value::Array(extra)) = o.get("extra") {
                for part in extra {
                    text.push_str(&json_text(&part.to_string()));
                }
            }
            text
        }
        _ => json.to_owned(),
    }
}

/// The text of a network-NBT chat component (Configuration Disconnect): a
/// string root, or a compound's `text` (else `translate`). `None` if malformed.
pub fn nbt_text(body: &[u8]) -> Option<String> {
    let mut r = Reader::new(body);
    match r.u8().ok()? {
        0x08 => nbt_string(&mut r),
        0x0a => {
            let mut translate = None;
            loop {
                let tag = r.u8().ok()?;
                if tag == 0x00 {
                    return translate;
                }
                let name = nbt_string(&mut r)?;
                if tag == 0x08 {
                    let value = nbt_string(&mut r)?;
                    match name.as_str() {
                        "text" => return Some(value),
                        "translate" => translate = Some(value),
                        _ => {}
                    }
                } else {
                    skip_nbt(&mut r, tag, 0)?;
                }
            }
        }
        _ => None,
    }
}

fn nbt_string(r: &mut Reader<'_>) -> Option<String> {
    let len = u16::from_be_bytes(r.bytes(2).ok()?.try_into().ok()?);
    Some(String::from_utf8_lossy(r.bytes(usize::from(len)).ok()?).into_owned())
}

fn nbt_len(r: &mut Reader<'_>) -> Option<usize> {
    let n = i32::from_be_bytes(r.bytes(4).ok()?.try_into().ok()?);
    usize::try_from(n).ok()
}

/// Skips one payload of `tag`.
fn skip_nbt(r: &mut Reader<'_>, tag: u8, depth: u32) -> Option<()> {
    if depth > 32 {
        return None;
    }
    match tag {
        0x01 => {
            r.bytes(1).ok()?;
        }
        0x02 => {
            r.bytes(2).ok()?;
        }
        0x03 | 0x05 => {
            r.bytes(4).ok()?;
        }
        0x04 | 0x06 => {
            r.bytes(8).ok()?;
        }
        0x07 => {
            let n = nbt_len(r)?;
            r.bytes(n).ok()?;
        }
        0x08 => {
            nbt_string(r)?;
        }
        0x09 => {
            let inner = r.u8().ok()?;
            let n = nbt_len(r)?;
            for _ in 0..n {
                skip_nbt(r, inner, depth + 1)?;
            }
        }
        0x0a => loop {
            let inner = r.u8().ok()?;
            if inner == 0x00 {
                break;
            }
            nbt_string(r)?;
            skip_nbt(r, inner, depth + 1)?;
        },
        0x0b => {
            let n = nbt_len(r)?;
            r.bytes(n.checked_mul(4)?).ok()?;
        }
        0x0c => {
            let n = nbt_len(r)?;
            r.bytes(n.checked_mul(8)?).ok()?;
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nbt_str(s: &str) -> Vec<u8> {
        let mut b = (s.len() as u16).to_be_bytes().to_vec();
        b.extend_from_slice(s.as_bytes());
        b
    }

    #[test]
    fn reader_never_panics_on_truncation() {
        let mut r = Reader::new(&[0x05, b'a']);
        assert!(r.string().is_err());
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(r.varint().is_err());
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(r.prefixed().is_err(), "negative length");
        let mut r = Reader::new(&[]);
        assert!(r.u8().is_err());
        let mut r = Reader::new(&[0xac, 0x02, 0x02, b'h', b'i']);
        assert_eq!(r.varint().unwrap(), 300);
        assert_eq!(r.string().unwrap(), "hi");
        assert!(r.rest().is_empty());
    }

    #[test]
    fn nbt_text_of_string_and_compound_roots() {
        let mut root = vec![0x08];
        root.extend(nbt_str("Bye"));
        assert_eq!(nbt_text(&root).as_deref(), Some("Bye"));

        // {color: "red", bold: 1b, extra: [], text: "Full"}
        let mut c = vec![0x0a];
        c.push(0x08);
        c.extend(nbt_str("color"));
        c.extend(nbt_str("red"));
        c.push(0x01);
        c.extend(nbt_str("bold"));
        c.push(1);
        c.push(0x09);
        c.extend(nbt_str("extra"));
        c.push(0x0a);
        c.extend(0i32.to_be_bytes());
        c.push(0x08);
        c.extend(nbt_str("text"));
        c.extend(nbt_str("Full"));
        c.push(0x00);
        assert_eq!(nbt_text(&c).as_deref(), Some("Full"));

        let mut t = vec![0x0a, 0x08];
        t.extend(nbt_str("translate"));
        t.extend(nbt_str("multiplayer.disconnect.kicked"));
        t.push(0x00);
        assert_eq!(
            nbt_text(&t).as_deref(),
            Some("multiplayer.disconnect.kicked")
        );

        assert_eq!(nbt_text(&[]), None);
        assert_eq!(nbt_text(&[0x0a, 0x08, 0x00]), None, "truncated");
        assert_eq!(nbt_text(&[0x03, 0, 0, 0, 1]), None);
    }

    #[test]
    fn json_text_of_components() {
        assert_eq!(json_text(r#""plain""#), "plain");
        assert_eq!(
            json_text(r#"{"text":"a","extra":[{"text":"b"},"c"]}"#),
            "abc"
        );
        assert_eq!(
            json_text(r#"{"translate":"multiplayer.disconnect.outdated_client"}"#),
            "multiplayer.disconnect.outdated_client"
        );
        assert_eq!(json_text("not json"), "not json");
    }

    #[test]
    fn client_information_layout_follows_the_protocol() {
        let old = client_information(767);
        let new = client_information(768);
        assert_eq!(new.len(), old.len() + 1, "particle status from 768 on");
        assert_eq!(&old[..6], b"\x05en_us");
    }
}
