//! One client connection: reads the handshake and hands over to the state it asks
//! for. Owns the socket; every read has a deadline and every error ends only this
//! connection, with a log line.

mod configuration;
mod legacy;
mod login;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::Instrument;

use crate::protocol::codec::{DecodeError, Reader};
use crate::protocol::frame::{Decode, Encode, FrameError, FrameReader, FrameWriter, split_id};
use crate::protocol::packets::handshake::{Handshake, Intent};
use crate::server::Shared;

/// A handshake is tiny: id, VarInt, a 255-char address, u16, VarInt.
const MAX_HANDSHAKE_FRAME: usize = 1 + 5 + 3 + 255 * 3 + 2 + 5;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Why a connection ended early; logged once when it closes.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("timed out in state {0}")]
    Timeout(&'static str),
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("malformed packet: {0}")]
    Decode(#[from] DecodeError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves one accepted socket to the end. Never panics on input and never
/// outlives its deadlines.
pub async fn handle(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("conn", id, peer = %peer, session = tracing::field::Empty);
    async move {
        let _ = stream.set_nodelay(true);
        let mut conn = Connection::new(stream, peer, shared);
        match conn.run().await {
            Ok(()) => tracing::debug!("connection done"),
            Err(ConnectionError::Frame(FrameError::UnexpectedEof)) => {
                tracing::debug!("client closed the connection mid-packet")
            }
            Err(e @ ConnectionError::Timeout(_)) => tracing::debug!("closing: {e}"),
            Err(e) => tracing::info!("closing: {e}"),
        }
    }
    .instrument(span)
    .await
}

pub(crate) struct Connection {
    stream: TcpStream,
    reader: FrameReader,
    writer: FrameWriter,
    /// Reused for every packet this connection sends.
    out: Vec<u8>,
    peer: SocketAddr,
    shared: Arc<Shared>,
}

impl Connection {
    fn new(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> Connection {
        Connection {
            stream,
            reader: FrameReader::new(MAX_HANDSHAKE_FRAME),
            writer: FrameWriter::new(),
            out: Vec::new(),
            peer,
            shared,
        }
    }

    async fn run(&mut self) -> Result<(), ConnectionError> {
        let deadline = Instant::now() + self.shared.config.timeouts.handshake();
        let Some(first) = self.peek_byte(deadline, "handshake").await? else {
            return Ok(()); // connected and closed: a port check
        };
        if first == crate::protocol::packets::legacy::LEGACY_PING {
            return legacy::respond(self).await;
        }
        let Some(handshake) = self.read_packet::<Handshake>(deadline, "handshake").await? else {
            return Ok(());
        };
        let address = handshake.normalized_address();
        tracing::debug!(
            protocol = handshake.protocol,
            address = %address,
            port = handshake.server_port,
            intent = ?handshake.intent,
            "handshake"
        );
        match handshake.intent {
            Intent::Status => status::run(self, &handshake, address).await,
            Intent::Login | Intent::Transfer => login::run(self, &handshake).await,
        }
    }

    /// The first byte the client sent, without consuming it.
    async fn peek_byte(
        &mut self,
        deadline: Instant,
        state: &'static str,
    ) -> Result<Option<u8>, ConnectionError> {
        match tokio::time::timeout_at(deadline, self.reader.peek_byte(&mut self.stream)).await {
            Ok(byte) => Ok(byte?),
            Err(_) => Err(ConnectionError::Timeout(state)),
        }
    }

    /// Reads one complete frame by `deadline`. `None` when the client closed
    /// cleanly between packets.
    async fn read_frame(
        &mut self,
        deadline: Instant,
        state: &'static str,
    ) -> Result<Option<bytes::Bytes>, ConnectionError> {
        match tokio::time::timeout_at(deadline, self.reader.next_frame(&mut self.stream)).await {
            Ok(frame) => Ok(frame?),
            Err(_) => Err(ConnectionError::Timeout(state)),
        }
    }

    /// Reads one packet that must be `P`, consumed exactly.
    async fn read_packet<P>(
        &mut self,
        deadline: Instant,
        state: &'static str,
    ) -> Result<Option<P>, ConnectionError>
    where
        P: for<'a> Decode<'a>,
    {
        let Some(frame) = self.read_frame(deadline, state).await? else {
            return Ok(None);
        };
        let (id, body) = split_id(&frame)?;
        if id != P::ID {
            return Err(DecodeError::UnknownPacket { state, id }.into());
        }
        let mut r = Reader::new(body);
        let packet = P::decode(&mut r)?;
        r.finish(state)?;
        Ok(Some(packet))
    }

    /// Frames, compresses and encrypts as this connection's state requires.
    async fn send<P: Encode>(&mut self, packet: &P) -> Result<(), ConnectionError> {
        self.out.clear();
        self.writer.encode(packet, &mut self.out);
        self.stream.write_all(&self.out).await?;
        Ok(())
    }

    async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }
}
