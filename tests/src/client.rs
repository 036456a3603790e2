//! A Minecraft client for the tests, written from the protocol's byte layouts:
//! framing with optional zlib compression and AES-128-CFB8, and the login
//! sequence up to the configuration state. It shares no code with the router.

use std::io::{Read, Write};
use std::net::SocketAddr;

use aes::Aes128;
use aes::cipher::inout::InOutBuf;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{frame, handshake, string, take_string, take_varint, varint};

type Enc = cfb8::Encryptor<Aes128>;
type Dec = cfb8::Decryptor<Aes128>;

/// One connection in whatever state the test drives it to.
pub struct Client {
    stream: TcpStream,
    /// Received bytes, already decrypted, not yet parsed.
    buf: Vec<u8>,
    enc: Option<Enc>,
    dec: Option<Dec>,
    compression: Option<i32>,
    pub protocol: i32,
    /// Every packet received while compression was on, in order: what the wire
    /// carried, so a test can check the router compressed what it had to.
    pub compressed_frames: Vec<CompressedFrame>,
}

/// How one packet arrived with compression on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressedFrame {
    pub id: i32,
    /// Packet id and body, uncompressed.
    pub size: usize,
    /// Its data length was not 0: the body was zlib-compressed.
    pub compressed: bool,
}

/// AES-128-CFB8 in place, one byte per cipher block.
pub fn cfb8_encrypt(enc: &mut Enc, data: &mut [u8]) {
    let (blocks, tail) = InOutBuf::from(data).into_chunks();
    assert!(tail.is_empty(), "one-byte blocks leave no tail");
    enc.encrypt_blocks_inout_mut(blocks);
}

pub fn cfb8_decrypt(dec: &mut Dec, data: &mut [u8]) {
    let (blocks, tail) = InOutBuf::from(data).into_chunks();
    assert!(tail.is_empty(), "one-byte blocks leave no tail");
    dec.decrypt_blocks_inout_mut(blocks);
}

/// Minecraft's server hash: SHA-1 as a signed big integer in hex.
pub fn minecraft_hash(parts: &[&[u8]]) -> String {
    let mut sha = Sha1::new();
    for p in parts {
        sha.update(p);
    }
    let mut digest: [u8; 20] = sha.finalize().into();
    let negative = digest[0] & 0x80 != 0;
    if negative {
        // Two's complement: invert, then add one from the last byte up.
        let mut carry = true;
        for b in digest.iter_mut().rev() {
            *b = !*b;
            if carry {
                let (v, c) = b.overflowing_add(1);
                *b = v;
                carry = c;
            }
        }
    }
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let trimmed = hex.trim_start_matches('0');
    let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
    if negative {
        format!("-{trimmed}")
    } else {
        trimmed.to_owned()
    }
}

impl Client {
    /// Reads in the configuration state until a Show Dialog arrives, answering
    /// keep-alives and skipping Clear Dialog; the dialog's body lines. Panics
    /// on any other packet, or when none comes `within`.
    pub async fn next_dialog(&mut self, within: std::time::Duration) -> Vec<String> {
        loop {
            let (id, body) = tokio::time::timeout(within, self.recv())
                .await
                .expect("a packet")
                .expect("connection open");
            match id {
                0x04 => self.send(0x04, &body).await.unwrap(),
                0x12 => {
                    let mut r = &body[..];
                    return crate::nbt::dialog_lines(&crate::nbt::read(&mut r).unwrap());
                }
                0x11 => {}
                other => panic!("unexpected packet {other:#x} while waiting"),
            }
        }
    }

    pub async fn connect(addr: SocketAddr, protocol: i32) -> std::io::Result<Client> {
        Client::connect_from(addr, protocol, None).await
    }

    /// Connects from a chosen local address (e.g. 127.0.0.2, to look like
    /// another client IP on loopback).
    pub async fn connect_from(
        addr: SocketAddr,
        protocol: i32,
        source: Option<std::net::IpAddr>,
    ) -> std::io::Result<Client> {
        let stream = match source {
            None => TcpStream::connect(addr).await?,
            Some(ip) => {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(addr).await?
            }
        };
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::new(),
            enc: None,
            dec: None,
            compression: None,
            protocol,
            compressed_frames: Vec::new(),
        })
    }

    pub fn enable_encryption(&mut self, secret: &[u8; 16]) {
        self.enc = Some(Enc::new(secret.into(), secret.into()));
        self.dec = Some(Dec::new(secret.into(), secret.into()));
        // Anything already received after the switch was encrypted.
        if let Some(dec) = self.dec.as_mut() {
            cfb8_decrypt(dec, &mut self.buf);
        }
    }

    pub fn enable_compression(&mut self, threshold: i32) {
        self.compression = (threshold >= 0).then_some(threshold);
    }

    /// Sends raw bytes, encrypting them when encryption is on.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut bytes = bytes.to_vec();
        if let Some(enc) = self.enc.as_mut() {
            cfb8_encrypt(enc, &mut bytes);
        }
        self.stream.write_all(&bytes).await
    }

    /// Frames (and compresses when on) one packet and sends it.
    pub async fn send(&mut self, id: i32, body: &[u8]) -> std::io::Result<()> {
        let wire = match self.compression {
            None => frame(id, body),
            Some(threshold) => {
                let mut payload = Vec::new();
                varint(&mut payload, id);
                payload.extend_from_slice(body);
                let mut inner = Vec::new();
                if payload.len() as i32 >= threshold {
                    varint(&mut inner, payload.len() as i32);
                    let mut z =
                        flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                    z.write_all(&payload)?;
                    inner.extend(z.finish()?);
                } else {
                    varint(&mut inner, 0);
                    inner.extend(payload);
                }
                let mut out = Vec::new();
                varint(&mut out, inner.len() as i32);
                out.extend(inner);
                out
            }
        };
        self.send_raw(&wire).await
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let data = &mut chunk[..n];
        if let Some(dec) = self.dec.as_mut() {
            cfb8_decrypt(dec, data);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Receives one packet: `(id, body)`, decompressed when compression is on.
    pub async fn recv(&mut self) -> std::io::Result<(i32, Vec<u8>)> {
        loop {
            if let Some((len, used)) = peek_varint(&self.buf)
                && self.buf.len() >= used + len
            {
                let payload: Vec<u8> = self.buf.drain(..used + len).skip(used).collect();
                let mut cursor = &payload[..];
                let (packet, compressed) = match self.compression {
                    None => (cursor.to_vec(), None),
                    Some(threshold) => {
                        let data_len = take_varint(&mut cursor) as usize;
                        if data_len == 0 {
                            (cursor.to_vec(), Some(false))
                        } else {
                            // As the vanilla client: a compressed packet must be at
                            // least the threshold ("Badly compressed packet").
                            assert!(
                                data_len >= threshold as usize,
                                "compressed packet of {data_len} bytes is below the threshold {threshold}"
                            );
                            let mut out = Vec::with_capacity(data_len);
                            flate2::read::ZlibDecoder::new(cursor).read_to_end(&mut out)?;
                            assert_eq!(out.len(), data_len, "declared uncompressed size");
                            (out, Some(true))
                        }
                    }
                };
                let mut cursor = &packet[..];
                let id = take_varint(&mut cursor);
                if let Some(compressed) = compressed {
                    self.compressed_frames.push(CompressedFrame {
                        id,
                        size: packet.len(),
                        compressed,
                    });
                }
                return Ok((id, cursor.to_vec()));
            }
            self.fill().await?;
        }
    }

    /// Whether the router closed the connection: reads until EOF, for at most
    /// 30 s, a bound for a hang that no working router comes near (every state
    /// deadline the tests configure is shorter).
    pub async fn closed(&mut self) -> bool {
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            loop {
                let mut chunk = [0u8; 1024];
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}

fn peek_varint(buf: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0u32;
    for (i, b) in buf.iter().take(5).enumerate() {
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value as usize, i + 1));
        }
    }
    None
}

/// How a test client logs in.
#[derive(Debug, Clone)]
pub struct LoginParams {
    pub protocol: i32,
    pub name: String,
    /// Undashed hex UUID the client claims (and joins the session server with).
    pub uuid: u128,
    /// Where the client posts `join`; `None` skips it (as a cracked client would).
    pub session_server: Option<SocketAddr>,
    /// Send a verify token that is not the one the router sent.
    pub wrong_verify_token: bool,
    /// Length of the shared secret to send (16 is right).
    pub secret_len: usize,
    /// Return right after sending the Encryption Response.
    pub stop_after_encryption_response: bool,
    /// Handshake intent: 2 login, 3 transfer (a reconnect after a Transfer).
    pub intent: i32,
    /// Cookies the client holds, returned when the router asks.
    pub cookies: std::collections::HashMap<String, Vec<u8>>,
    /// Local address to connect from.
    pub source_ip: Option<std::net::IpAddr>,
    /// Bytes sent before the handshake (a PROXY protocol header).
    pub prefix: Vec<u8>,
    /// The server address in the handshake (what the player typed).
    pub server_address: String,
}

impl LoginParams {
    /// A reconnect after a Transfer (intent 3) presenting `cookies`; left a
    /// first login when there are none.
    pub fn returning_with(mut self, cookies: &std::collections::HashMap<String, Vec<u8>>) -> Self {
        if !cookies.is_empty() {
            self.intent = 3;
            self.cookies = cookies.clone();
        }
        self
    }

    pub fn new(protocol: i32, name: &str, session_server: Option<SocketAddr>) -> LoginParams {
        LoginParams {
            protocol,
            name: name.to_owned(),
            uuid: 0x8667ba71_b85a_4004_af54_457a9734eed7,
            session_server,
            wrong_verify_token: false,
            secret_len: 16,
            stop_after_encryption_response: false,
            intent: 2,
            cookies: std::collections::HashMap::new(),
            source_ip: None,
            prefix: Vec::new(),
            server_address: "play.example.com".to_owned(),
        }
    }
}

/// What Login Success carried.
#[derive(Debug, Clone)]
pub struct Profile {
    pub uuid: u128,
    pub name: String,
    pub properties: Vec<(String, String, Option<String>)>,
}

#[derive(Debug)]
pub struct LoginTrace {
    pub encrypted: bool,
    pub compression: Option<i32>,
    pub server_id: Option<String>,
}

pub enum LoginOutcome {
    /// Login Success received and Login Acknowledged sent: the connection is in
    /// the configuration state.
    Configuration(Client, Profile, LoginTrace),
    /// The router sent a Login Disconnect with this JSON reason.
    Disconnected(String, LoginTrace),
    /// `stop_after_encryption_response` was set: the Encryption Response is sent
    /// and the client's encryption is on.
    SentEncryptionResponse(Client),
}

/// Handshake (intent 2), Login Start, then answers whatever the router asks
/// until Login Success or a disconnect.
pub async fn login(addr: SocketAddr, p: &LoginParams) -> anyhow::Result<LoginOutcome> {
    let mut c = Client::connect_from(addr, p.protocol, p.source_ip).await?;
    let mut start = Vec::new();
    string(&mut start, &p.name);
    start.extend_from_slice(&p.uuid.to_be_bytes());
    let mut first = p.prefix.clone();
    first.extend(handshake(
        p.protocol,
        &p.server_address,
        addr.port(),
        p.intent,
    ));
    first.extend(frame(0x00, &start));
    c.send_raw(&first).await?;
    let mut trace = LoginTrace {
        encrypted: false,
        compression: None,
        server_id: None,
    };
    loop {
        let (id, body) = c.recv().await?;
        let mut r = &body[..];
        match id {
            0x00 => return Ok(LoginOutcome::Disconnected(take_string(&mut r), trace)),
            0x01 => {
                let server_id = take_string(&mut r);
                let key_len = take_varint(&mut r) as usize;
                let (key, rest) = r.split_at(key_len);
                r = rest;
                let token_len = take_varint(&mut r) as usize;
                let (token, rest) = r.split_at(token_len);
                r = rest;
                anyhow::ensure!(r.len() == 1, "should-authenticate flag ends the packet");
                let public = RsaPublicKey::from_public_key_der(key)?;
                let mut secret = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
                if let Some(session) = p.session_server {
                    let hash = minecraft_hash(&[server_id.as_bytes(), &secret, key]);
                    let status = crate::session_server::client_join(
                        session,
                        &p.name,
                        &format!("{:032x}", p.uuid),
                        &hash,
                    )
                    .await?;
                    anyhow::ensure!(status == 204, "join answered {status}");
                }
                let mut rng = rand::rngs::OsRng;
                let sent_secret: Vec<u8> = (0..p.secret_len).map(|i| secret[i % 16]).collect();
                let token: Vec<u8> = if p.wrong_verify_token {
                    token.iter().map(|b| b ^ 0xff).collect()
                } else {
                    token.to_vec()
                };
                let enc_secret = public.encrypt(&mut rng, Pkcs1v15Encrypt, &sent_secret)?;
                let enc_token = public.encrypt(&mut rng, Pkcs1v15Encrypt, &token)?;
                let mut resp = Vec::new();
                varint(&mut resp, enc_secret.len() as i32);
                resp.extend(&enc_secret);
                varint(&mut resp, enc_token.len() as i32);
                resp.extend(&enc_token);
                c.send(0x01, &resp).await?;
                c.enable_encryption(&secret);
                if p.stop_after_encryption_response {
                    return Ok(LoginOutcome::SentEncryptionResponse(c));
                }
                trace.encrypted = true;
                trace.server_id = Some(server_id);
            }
            0x02 => {
                let uuid = u128::from_be_bytes(r[..16].try_into()?);
                r = &r[16..];
                let name = take_string(&mut r);
                let count = take_varint(&mut r);
                let mut properties = Vec::new();
                for _ in 0..count {
                    let n = take_string(&mut r);
                    let v = take_string(&mut r);
                    let has_sig = r[0] == 1;
                    r = &r[1..];
                    let sig = has_sig.then(|| take_string(&mut r));
                    properties.push((n, v, sig));
                }
                // 766 and 767 end with `strict error handling`; later versions do not.
                if p.protocol <= 767 {
                    anyhow::ensure!(r == [1], "766/767 Login Success ends with true, got {r:?}");
                } else {
                    anyhow::ensure!(r.is_empty(), "768+ Login Success has no trailing byte");
                }
                c.send(0x03, &[]).await?;
                return Ok(LoginOutcome::Configuration(
                    c,
                    Profile {
                        uuid,
                        name,
                        properties,
                    },
                    trace,
                ));
            }
            0x03 => {
                let threshold = take_varint(&mut r);
                c.enable_compression(threshold);
                trace.compression = Some(threshold);
            }
            0x04 => {
                // Login Plugin Request: answer "not understood".
                let message_id = take_varint(&mut r);
                let mut answer = Vec::new();
                varint(&mut answer, message_id);
                answer.push(0);
                c.send(0x02, &answer).await?;
            }
            0x05 => {
                // Cookie Request: answer with what we hold, if anything.
                let key = take_string(&mut r);
                let mut answer = Vec::new();
                string(&mut answer, &key);
                match p.cookies.get(&key) {
                    Some(payload) => {
                        answer.push(1);
                        varint(&mut answer, payload.len() as i32);
                        answer.extend_from_slice(payload);
                    }
                    None => answer.push(0),
                }
                c.send(0x04, &answer).await?;
            }
            other => anyhow::bail!("unexpected login packet {other:#x}"),
        }
    }
}

/// Client Information as vanilla sends it (with the particle setting from 768 on).
pub fn client_information(locale: &str, protocol: i32) -> Vec<u8> {
    let mut b = Vec::new();
    crate::string(&mut b, locale);
    b.extend_from_slice(&[10]);
    crate::varint(&mut b, 0);
    b.extend_from_slice(&[1, 0x7f]);
    crate::varint(&mut b, 1);
    b.extend_from_slice(&[0, 1]);
    if protocol >= 768 {
        crate::varint(&mut b, 0);
    }
    b
}

/// Logs in with `params`, sends Client Information with `locale`, and returns the
/// router's final configuration packet (Transfer 0x0B or Disconnect 0x02) and the
/// cookies it stored, answering keep-alives on the way.
pub async fn login_to_final_packet(
    addr: SocketAddr,
    params: &LoginParams,
    locale: &str,
) -> anyhow::Result<(i32, Vec<u8>, std::collections::HashMap<String, Vec<u8>>)> {
    let mut client = match login(addr, params).await? {
        LoginOutcome::Configuration(client, ..) => client,
        LoginOutcome::Disconnected(reason, _) => anyhow::bail!("login disconnected: {reason}"),
        LoginOutcome::SentEncryptionResponse(_) => anyhow::bail!("stopped after encryption"),
    };
    client
        .send(0x00, &client_information(locale, params.protocol))
        .await?;
    final_packet(&mut client).await
}

/// Reads configuration packets until the final one (anything but a keep-alive or
/// Store Cookie), answering keep-alives and collecting stored cookies.
pub async fn final_packet(
    client: &mut Client,
) -> anyhow::Result<(i32, Vec<u8>, std::collections::HashMap<String, Vec<u8>>)> {
    let done = final_packet_traced(client, std::time::Duration::from_secs(10)).await?;
    Ok((done.id, done.body, done.cookies))
}

/// How the configuration state ended, and what the client saw on the way.
#[derive(Debug)]
pub struct Configured {
    /// The final packet: Transfer (0x0B) or Disconnect (0x02).
    pub id: i32,
    pub body: Vec<u8>,
    pub cookies: std::collections::HashMap<String, Vec<u8>>,
    /// Keep-alives received (and answered).
    pub keep_alives: usize,
    /// The longest time between two packets from the router.
    pub longest_silence: std::time::Duration,
    /// Show Dialog (0x12) packets, their NBT read back as JSON.
    pub dialogs: Vec<serde_json::Value>,
    /// Clear Dialog (0x11) packets.
    pub cleared: usize,
}

/// Like [`final_packet`], also answering dialogs' packets and timing the
/// silences; fails when the router is silent for `silence` (what a client's
/// read timeout would do).
pub async fn final_packet_traced(
    client: &mut Client,
    silence: std::time::Duration,
) -> anyhow::Result<Configured> {
    let mut done = Configured {
        id: 0,
        body: Vec::new(),
        cookies: std::collections::HashMap::new(),
        keep_alives: 0,
        longest_silence: std::time::Duration::ZERO,
        dialogs: Vec::new(),
        cleared: 0,
    };
    loop {
        let started = std::time::Instant::now();
        let (id, body) = tokio::time::timeout(silence, client.recv())
            .await
            .map_err(|_| anyhow::anyhow!("the router was silent for {silence:?}"))??;
        done.longest_silence = done.longest_silence.max(started.elapsed());
        match id {
            0x04 => {
                done.keep_alives += 1;
                client.send(0x04, &body).await?; // keep-alive answer
            }
            0x0A => {
                let mut r = &body[..];
                let key = crate::take_string(&mut r);
                let len = crate::take_varint(&mut r) as usize;
                anyhow::ensure!(r.len() == len, "Store Cookie payload length");
                done.cookies.insert(key, r.to_vec());
            }
            0x11 => {
                anyhow::ensure!(body.is_empty(), "Clear Dialog has no body");
                done.cleared += 1;
            }
            0x12 => {
                let mut r = &body[..];
                let dialog = crate::nbt::read(&mut r)?;
                anyhow::ensure!(r.is_empty(), "trailing bytes after the dialog");
                done.dialogs.push(dialog);
            }
            _ => {
                done.id = id;
                done.body = body;
                return Ok(done);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfb8_matches_openssl() {
        // printf 'Hello, Minecraft!' | openssl enc -aes-128-cfb8
        //   -K 000102030405060708090a0b0c0d0e0f -iv 000102030405060708090a0b0c0d0e0f | xxd -p
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let mut data = b"Hello, Minecraft!".to_vec();
        let mut enc = Enc::new(&key.into(), &key.into());
        // Split in two calls: the stream state must carry over.
        let (a, b) = data.split_at_mut(5);
        cfb8_encrypt(&mut enc, a);
        cfb8_encrypt(&mut enc, b);
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "42ea5ed4daf864eae7ef5c17728310d5ed");
        let mut dec = Dec::new(&key.into(), &key.into());
        cfb8_decrypt(&mut dec, &mut data);
        assert_eq!(data, b"Hello, Minecraft!");
    }

    #[test]
    fn minecraft_hash_vectors() {
        assert_eq!(
            minecraft_hash(&[b"Notch"]),
            "4ed1f46bbe04bc756bcb17c0c7ce3e4632f06a48"
        );
        assert_eq!(
            minecraft_hash(&[b"jeb_"]),
            "-7c9d5b0044c130109a5d7b5fb5c317c02b4e28c1"
        );
        assert_eq!(
            minecraft_hash(&[b"simon"]),
            "88e16a1019277b15d58faf0541e11910eb756f6"
        );
    }
}
