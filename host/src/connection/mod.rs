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
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::Instrument;

use crate::metrics::metrics;
use crate::net::proxy_protocol;
use crate::net::slots::{Shed, ShedSignal, Slot};
use crate::protocol::codec::{DecodeError, Reader};
use crate::protocol::frame::{Decode, Encode, FrameError, FrameReader, FrameWriter, split_id};
use crate::protocol::packets::handshake::{Handshake, Intent};
use crate::server::Shared;
use crate::telemetry;

/// A handshake is tiny: id, VarInt, a 255-char address, u16, VarInt.
const MAX_HANDSHAKE_FRAME: usize = 1 + 5 + 3 + 255 * 3 + 2 + 5;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Send buffer of every client socket (the kernel doubles it for bookkeeping).
/// Everything Passage sends fits several times over but a full status answer
/// (up to ~96 KiB), which simply waits for the client to read.
pub(crate) const SEND_BUFFER: usize = 64 * 1024;

/// Why a connection ended early; logged once when it closes.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("timed out in state {0}")]
    Timeout(&'static str),
    #[error("timed out in state {0} writing to a client that does not read")]
    WriteTimeout(&'static str),
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("malformed packet: {0}")]
    Decode(#[from] DecodeError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the router is full: this connection gave its slot to a newcomer ({})", .0.as_str())]
    Shed(Shed),
}

/// Serves one accepted socket to the end. Never panics on input and never
/// outlives its deadlines. `slot` is this connection's share of the connection
/// caps, given back when the task ends; `shed` fires when the router, full,
/// gives the slot to a newcomer instead, and the connection ends at once.
pub async fn handle(
    mut stream: TcpStream,
    socket_peer: SocketAddr,
    shared: Arc<Shared>,
    mut slot: Slot,
    mut shed: ShedSignal,
) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    // `peer` is the client; with the PROXY protocol that is the address the
    // header carries, and `proxy` is the socket's (the proxy that forwarded it).
    let span = tracing::info_span!(
        "conn",
        id,
        proxy = tracing::field::Empty,
        peer = tracing::field::Empty,
        session = tracing::field::Empty
    );
    async move {
        let shed_signal = async {
            match (&mut shed).await {
                Ok(why) => why,
                // The slot outlives this future: its sender is never dropped unsent.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::pin!(shed_signal);
        let peer = tokio::select! {
            peer = client_address(&mut stream, socket_peer, &shared, &mut slot) => peer,
            why = &mut shed_signal => {
                metrics().shed(why.as_str());
                tracing::debug!("shed before its PROXY header: {}", why.as_str());
                return;
            }
        };
        let Some(peer) = peer else {
            return;
        };
        let metrics = metrics();
        metrics.connection_opened();
        // A bounded send buffer: a client that stops reading pins at most this
        // much kernel memory (not the megabytes autotuning grants a socket), and
        // the state's deadline then ends the write, and the connection. On
        // Linux the socket inherits it and TCP_NODELAY from the listener
        // (`server::listen`); elsewhere they are set here.
        #[cfg(not(target_os = "linux"))]
        {
            let _ = stream.set_nodelay(true);
            let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
        }
        let mut conn = Connection::new(stream, peer, shared, slot, tracing::Span::current());
        let result = tokio::select! {
            result = conn.run() => result,
            why = &mut shed_signal => Err(ConnectionError::Shed(why)),
        };
        let outcome = match &result {
            Ok(()) => conn.outcome,
            Err(ConnectionError::Timeout(_) | ConnectionError::WriteTimeout(_)) => "timeout",
            Err(ConnectionError::Frame(FrameError::UnexpectedEof)) => "client_closed",
            Err(ConnectionError::Frame(FrameError::Io(_)) | ConnectionError::Io(_)) => "io_error",
            Err(ConnectionError::Frame(_) | ConnectionError::Decode(_)) => "malformed",
            Err(ConnectionError::Shed(why)) => {
                metrics.shed(why.as_str());
                "shed"
            }
        };
        metrics.connection_closed(conn.state, outcome);
        telemetry::attribute(&conn.span, "passage.state", conn.state);
        telemetry::attribute(&conn.span, "passage.outcome", outcome);
        if result.is_err() && !matches!(outcome, "client_closed" | "shed") {
            telemetry::failed(&conn.span, outcome);
        }
        match result {
            Ok(()) => tracing::debug!(outcome, "connection done"),
            Err(ConnectionError::Frame(FrameError::UnexpectedEof)) => {
                tracing::debug!("client closed the connection mid-packet")
            }
            Err(e @ (ConnectionError::Timeout(_) | ConnectionError::Shed(_))) => {
                tracing::debug!("closing: {e}")
            }
            Err(e) => tracing::info!("closing: {e}"),
        }
    }
    .instrument(span)
    .await
}

/// The client's address: the socket's peer, or with the PROXY protocol on, the
/// address in the header sent by a trusted proxy. `None` when the connection must
/// be closed (logged and counted here). The header is read in the connection's
/// own task under its own deadline, so a silent socket delays nobody else.
async fn client_address(
    stream: &mut TcpStream,
    socket_peer: SocketAddr,
    shared: &Shared,
    slot: &mut Slot,
) -> Option<SocketAddr> {
    let span = tracing::Span::current();
    let Some(trusted) = &shared.guards.trusted_proxies else {
        span.record("peer", tracing::field::display(socket_peer));
        return Some(socket_peer);
    };
    span.record("proxy", tracing::field::display(socket_peer));
    if !trusted.contains(socket_peer.ip()) {
        metrics().rejected("untrusted_proxy");
        tracing::info!(
            "closing: PROXY protocol is on and this address is not in proxy_protocol.trusted_networks"
        );
        return None;
    }
    let deadline = Duration::from_millis(shared.config.proxy_protocol.header_timeout_ms);
    let header = proxy_protocol::read_header(stream, deadline)
        .instrument(tracing::debug_span!("proxy_header"))
        .await;
    match header {
        Ok(header) => {
            let client = header.client_or(socket_peer);
            span.record("peer", tracing::field::display(client));
            if let Err(refusal) = slot.set_client(client.ip()) {
                metrics().rejected(refusal.as_str());
                tracing::info!(
                    client = %client,
                    "closing: limits.max_connections_per_address reached for the client the PROXY header names"
                );
                return None;
            }
            Some(client)
        }
        Err(e) => {
            metrics().rejected("proxy_header");
            tracing::info!("closing: bad PROXY protocol header: {e}");
            None
        }
    }
}

pub(crate) struct Connection {
    stream: TcpStream,
    reader: FrameReader,
    writer: FrameWriter,
    /// Reused for every packet this connection sends.
    out: Vec<u8>,
    /// The client's address (from the PROXY header when one is used).
    peer: SocketAddr,
    shared: Arc<Shared>,
    /// Where the connection is, and how it ended when it ends without an error:
    /// metrics labels from fixed sets.
    state: &'static str,
    outcome: &'static str,
    /// When Login Start arrived: the login latency runs from there to the Transfer.
    login_started: Option<std::time::Instant>,
    /// The current state's deadline, for writes as for reads: a client that
    /// stops reading cannot hold this connection (its slot, a router's
    /// reservation, its task) past it.
    deadline: Instant,
    /// Its share of the connection caps.
    slot: Slot,
    /// Packets ignored in the current state (bounded by each state).
    ignored: usize,
    /// This connection's span: its trace, when telemetry exports traces.
    span: tracing::Span,
}

impl Connection {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        shared: Arc<Shared>,
        slot: Slot,
        span: tracing::Span,
    ) -> Connection {
        Connection {
            stream,
            reader: FrameReader::new(MAX_HANDSHAKE_FRAME),
            writer: FrameWriter::new(),
            out: Vec::new(),
            peer,
            shared,
            state: "handshake",
            outcome: "client_closed",
            login_started: None,
            deadline: Instant::now(),
            slot,
            ignored: 0,
            span,
        }
    }

    /// Enters `state`, whose reads and writes must be done by `deadline`.
    fn enter(&mut self, state: &'static str, deadline: Instant) {
        self.state = state;
        self.deadline = deadline;
        self.ignored = 0;
    }

    async fn run(&mut self) -> Result<(), ConnectionError> {
        let deadline = Instant::now() + self.shared.config.timeouts.handshake();
        self.enter("handshake", deadline);
        let Some(first) = self.peek_byte(deadline, "handshake").await? else {
            return Ok(()); // connected and closed: a port check
        };
        if first == crate::protocol::packets::legacy::LEGACY_PING {
            self.slot.handshake_done();
            self.state = "status";
            if !self.within_budget(Intent::Status) {
                return Ok(());
            }
            return legacy::respond(self).await;
        }
        let Some(handshake) = self.read_packet::<Handshake>(deadline, "handshake").await? else {
            return Ok(());
        };
        self.slot.handshake_done();
        let address = handshake.normalized_address();
        tracing::debug!(
            protocol = handshake.protocol,
            address = %address,
            port = handshake.server_port,
            intent = ?handshake.intent,
            "handshake"
        );
        telemetry::attribute(
            &self.span,
            "network.protocol.version",
            i64::from(handshake.protocol),
        );
        telemetry::attribute(&self.span, "server.address", address.clone());
        telemetry::attribute(
            &self.span,
            "minecraft.intent",
            match handshake.intent {
                Intent::Status => "status",
                Intent::Login => "login",
                Intent::Transfer => "transfer",
            },
        );
        // Until the next state sets its own deadline, the handshake's applies.
        self.state = match handshake.intent {
            Intent::Status => "status",
            Intent::Login | Intent::Transfer => "login",
        };
        if !self.within_budget(handshake.intent) {
            if handshake.intent != Intent::Status {
                return login::disconnect(self, crate::l10n::Message::RateLimited).await;
            }
            return Ok(());
        }
        match handshake.intent {
            Intent::Status => status::run(self, &handshake, address).await,
            Intent::Login | Intent::Transfer => login::run(self, &handshake).await,
        }
    }

    /// Takes one unit of this client address's budget for `intent`; `false` (logged
    /// and counted, outcome set) when it is spent.
    fn within_budget(&mut self, intent: Intent) -> bool {
        let (limiter, reason) = match intent {
            Intent::Status => (&self.shared.guards.status_rate, "rate_limit_status"),
            Intent::Login | Intent::Transfer => {
                (&self.shared.guards.login_rate, "rate_limit_login")
            }
        };
        let Some(limiter) = limiter else { return true };
        if limiter.check(self.peer.ip(), std::time::Instant::now()) {
            return true;
        }
        metrics().rejected(reason);
        self.outcome = "rate_limited";
        tracing::info!(reason, "closing: over this address's budget");
        false
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

    /// Frames, compresses and encrypts as this connection's state requires, and
    /// writes it with everything queued before it.
    async fn send<P: Encode>(&mut self, packet: &P) -> Result<(), ConnectionError> {
        self.queue(packet);
        self.flush().await
    }

    /// Encodes `packet` now (so compression and encryption switched on later do
    /// not apply to it) but writes it with the next [`Self::send`]/[`Self::flush`]:
    /// packets the client needs together leave in one write, one syscall and one
    /// TCP segment (BENCHMARKS.md: `sendto` was 30 % of a cookie reconnect).
    fn queue<P: Encode>(&mut self, packet: &P) {
        self.writer.encode(packet, &mut self.out);
    }

    async fn flush(&mut self) -> Result<(), ConnectionError> {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            let written = self.write_all(&out).await;
            // Keep the buffer's capacity for the next packet.
            self.out = out;
            self.out.clear();
            written?;
        }
        Ok(())
    }

    async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        self.write_all(bytes).await
    }

    /// Writes by the state's deadline: a client whose window stays closed is
    /// dropped then, like one that stays silent.
    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        match tokio::time::timeout_at(self.deadline, self.stream.write_all(bytes)).await {
            Ok(written) => Ok(written?),
            Err(_) => Err(ConnectionError::WriteTimeout(self.state)),
        }
    }

    /// Sends FIN (everything written is flushed first), by the state's deadline.
    async fn finish(&mut self) -> Result<(), ConnectionError> {
        match tokio::time::timeout_at(self.deadline, self.stream.shutdown()).await {
            Ok(done) => Ok(done?),
            Err(_) => Err(ConnectionError::WriteTimeout(self.state)),
        }
    }
}
