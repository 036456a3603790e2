//! Packet framing: splitting a byte stream into frames and building outgoing ones,
//! with the optional AES-128-CFB8 encryption and zlib compression layers, plus the
//! `Encode`/`Decode` traits packets implement.
//!
//! Layers on the wire, outermost first: encryption covers every byte; inside it each
//! frame is a VarInt length and then either the payload (packet id + body) or, once
//! compression is on, a VarInt data length (0 = payload follows uncompressed, else the
//! payload's size) and the payload, zlib-compressed when the data length is not 0.
//!
//! Reading, bytes enter the buffer only in `FrameReader::read_more` (decrypted there,
//! exactly once each) and a frame leaves it only in `FrameReader::parse` (inflated
//! there). Writing, every frame is built by [`FrameWriter`] or, for plain frames,
//! [`frame_payload`]. Returned frames are always "packet id + body", whatever the
//! layers, so callers do not change when the layers are switched on.

use std::fmt;
use std::io::Write;

use aes::Aes128;
use aes::cipher::inout::InOutBuf;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use bytes::{Buf, Bytes, BytesMut};
use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::codec::{self, DecodeError, MAX_VARINT_LEN, Reader};

/// Largest frame the vanilla game accepts: the length must fit a 3-byte VarInt.
pub const VANILLA_MAX_FRAME_LEN: usize = (1 << 21) - 1;

/// How much room to make for a read when the size of the next frame is not known yet.
/// Kept small: pre-login packets are tiny and there is one reader per connection.
const READ_CHUNK: usize = 512;

/// Why the next frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("connection closed in the middle of a packet")]
    UnexpectedEof,
    /// The length prefix (or, with compression, the data length) is not a valid
    /// VarInt, negative, or zero where a packet must follow.
    #[error("{0}")]
    Length(DecodeError),
    #[error("frame of {len} bytes exceeds the maximum {max}")]
    TooLarge { len: usize, max: usize },
    /// A compressed frame declares an uncompressed size that is negative, below the
    /// compression threshold, or above the maximum; checked before inflating.
    #[error("compressed frame declares {len} bytes, allowed {min}..={max}")]
    BadCompressedLength { len: i32, min: usize, max: usize },
    /// The zlib data is invalid, or does not inflate to exactly the declared size.
    #[error("compressed frame: {0}")]
    Compression(String),
}

/// Outcome of trying to cut one frame from the buffer.
enum Parse {
    Frame(Bytes),
    /// At least this many more bytes are needed before a frame can be cut.
    Incomplete {
        missing: usize,
    },
}

/// AES-128-CFB8 in one direction, with key = IV = the shared secret as the protocol
/// wants. CFB8 works on 1-byte blocks, so the state carries over between calls and any
/// split of the stream into calls gives the same bytes.
struct Cfb8<C>(Box<C>);

type Decryptor = Cfb8<cfb8::Decryptor<Aes128>>;
type Encryptor = Cfb8<cfb8::Encryptor<Aes128>>;

// Boxed: the expanded AES key is large, and readers and writers get moved around.
impl Decryptor {
    fn new(key: [u8; 16]) -> Self {
        Self(Box::new(cfb8::Decryptor::new(&key.into(), &key.into())))
    }

    fn apply(&mut self, data: &mut [u8]) {
        // The block size is one byte, so the tail after whole blocks is always empty.
        let (blocks, _tail) = InOutBuf::from(data).into_chunks();
        self.0.decrypt_blocks_inout_mut(blocks);
    }
}

impl Encryptor {
    fn new(key: [u8; 16]) -> Self {
        Self(Box::new(cfb8::Encryptor::new(&key.into(), &key.into())))
    }

    fn apply(&mut self, data: &mut [u8]) {
        let (blocks, _tail) = InOutBuf::from(data).into_chunks();
        self.0.encrypt_blocks_inout_mut(blocks);
    }
}

/// Key material must never reach a log line.
impl<C> fmt::Debug for Cfb8<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Aes128Cfb8")
    }
}

/// A threshold from Set Compression: negative means disabled.
fn threshold(threshold: i32) -> Option<usize> {
    usize::try_from(threshold).ok()
}

/// Reads length-prefixed frames from a byte stream.
///
/// Keeps every byte it buffered but did not return, so a state change (e.g. handshake
/// and status request arriving in one TCP segment) never loses data: keep using the same
/// reader across states, and switch encryption and compression on it.
#[derive(Debug)]
pub struct FrameReader {
    /// Plaintext: bytes are decrypted as they enter.
    buf: BytesMut,
    max_frame_len: usize,
    decryptor: Option<Decryptor>,
    compression_threshold: Option<usize>,
}

impl FrameReader {
    /// `max_frame_len` bounds the length prefix (packet id + body, or the compressed
    /// form), which is checked before any byte of the body is read or room is made for
    /// it. With compression it also bounds the inflated size.
    pub fn new(max_frame_len: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_frame_len,
            decryptor: None,
            compression_threshold: None,
        }
    }

    /// Changes the bound for frames not yet returned, e.g. tighter before login.
    pub fn set_max_frame_len(&mut self, max: usize) {
        self.max_frame_len = max;
    }

    /// Decrypts everything after the last returned frame with AES-128-CFB8, key = IV =
    /// `key` (the shared secret). Call it once, right after the frame carrying the
    /// Encryption Response was returned.
    ///
    /// Bytes already buffered but not returned were sent after the Encryption Response
    /// (a client may send it and its next packet in one segment), so they are encrypted:
    /// they are decrypted in place now, and every later byte once as it is read.
    pub fn enable_encryption(&mut self, key: [u8; 16]) {
        let mut cipher = Decryptor::new(key);
        cipher.apply(&mut self.buf);
        self.decryptor = Some(cipher);
    }

    /// Expects compressed framing for every frame not yet returned (the frame carrying
    /// Set Compression itself was plain). A negative `threshold` disables it again.
    ///
    /// A compressed frame must declare at least `threshold` bytes (as vanilla checks)
    /// and at most the maximum frame length (never above [`VANILLA_MAX_FRAME_LEN`]).
    /// Vanilla also rejects an uncompressed frame (data length 0) at or above the
    /// threshold; we accept it, since it costs nothing and some clients and proxies
    /// skip compression for packets they pass through.
    pub fn enable_compression(&mut self, threshold: i32) {
        self.compression_threshold = self::threshold(threshold);
    }

    /// Next complete frame (packet id + body, without the length prefix).
    ///
    /// `Ok(None)` on a clean EOF with nothing buffered; [`FrameError::UnexpectedEof`] on
    /// EOF mid-frame. The length is validated (> 0, <= max) as soon as its VarInt is
    /// complete, before the body is read or room is reserved for it.
    ///
    /// Cancellation safe: bytes read before the future is dropped stay buffered, so a
    /// caller may wrap this in `tokio::time::timeout` and call it again.
    pub async fn next_frame<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Option<Bytes>, FrameError> {
        loop {
            let missing = match self.parse()? {
                Parse::Frame(frame) => return Ok(Some(frame)),
                Parse::Incomplete { missing } => missing,
            };
            if self.read_more(r, missing).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::UnexpectedEof)
                };
            }
        }
    }

    /// Ensures at least one byte is buffered (reading if needed) and returns the first
    /// buffered byte, or `None` on EOF. Consumes nothing: used to spot the legacy 0xFE
    /// ping before framing. Cancellation safe like [`Self::next_frame`].
    pub async fn peek_byte<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Option<u8>, FrameError> {
        while self.buf.is_empty() {
            if self.read_more(r, 1).await? == 0 {
                return Ok(None);
            }
        }
        Ok(self.buf.first().copied())
    }

    /// Bytes received but not yet returned as a frame (decrypted if encryption is on).
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Cuts a frame from the buffer without I/O; `Ok(None)` when it is incomplete.
    pub fn try_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        match self.parse()? {
            Parse::Frame(frame) => Ok(Some(frame)),
            Parse::Incomplete { .. } => Ok(None),
        }
    }

    /// The single place a frame is cut from the buffer.
    fn parse(&mut self) -> Result<Parse, FrameError> {
        let Some((len, prefix_len)) =
            codec::peek_varint(&self.buf, "frame length").map_err(FrameError::Length)?
        else {
            return Ok(Parse::Incomplete { missing: 1 });
        };
        let len = self.check_len(len)?;
        // Cannot overflow: len <= max_frame_len and prefix_len <= 5; saturate anyway
        // rather than trust a configurable bound.
        let total = prefix_len.saturating_add(len);
        if let Some(missing) = total.checked_sub(self.buf.len()).filter(|&m| m > 0) {
            return Ok(Parse::Incomplete { missing });
        }
        // The whole frame is buffered (checked above), so neither call can run short.
        self.buf.advance(prefix_len);
        let frame = self.buf.split_to(len).freeze();
        match self.compression_threshold {
            None => Ok(Parse::Frame(frame)),
            Some(threshold) => self.decompress(frame, threshold).map(Parse::Frame),
        }
    }

    fn check_len(&self, len: i32) -> Result<usize, FrameError> {
        const WHAT: &str = "frame length";
        match usize::try_from(len) {
            Err(_) => Err(FrameError::Length(DecodeError::NegativeLength {
                what: WHAT,
                len,
            })),
            // Every packet has at least an id, so an empty frame is malformed.
            Ok(0) => Err(FrameError::Length(DecodeError::InvalidValue {
                what: WHAT,
                value: 0,
            })),
            Ok(len) if len > self.max_frame_len => Err(FrameError::TooLarge {
                len,
                max: self.max_frame_len,
            }),
            Ok(len) => Ok(len),
        }
    }

    /// Undoes compressed framing: data length, then the payload as is (0) or zlib.
    fn decompress(&self, mut frame: Bytes, threshold: usize) -> Result<Bytes, FrameError> {
        const WHAT: &str = "data length";
        let (data_len, prefix_len) = codec::peek_varint(&frame, WHAT)
            .map_err(FrameError::Length)?
            .ok_or(FrameError::Length(DecodeError::Truncated { what: WHAT }))?;
        // `peek_varint` returned a VarInt of `prefix_len` bytes, so they are there.
        frame.advance(prefix_len);
        if data_len == 0 {
            if frame.is_empty() {
                // As for plain frames: every packet has at least an id.
                return Err(FrameError::Length(DecodeError::InvalidValue {
                    what: WHAT,
                    value: 0,
                }));
            }
            return Ok(frame);
        }
        // Vanilla's own bound for serverbound data is 2^21-1 as well; 8 MiB is the
        // clientbound one, and nothing a router reads comes near either.
        let max = self.max_frame_len.min(VANILLA_MAX_FRAME_LEN);
        let declared = usize::try_from(data_len)
            .ok()
            .filter(|&n| n >= threshold && n <= max)
            .ok_or(FrameError::BadCompressedLength {
                len: data_len,
                min: threshold,
                max,
            })?;
        inflate(&frame, declared).map(Bytes::from)
    }

    /// The single place bytes enter the buffer. `missing` is a validated lower bound of
    /// what the current frame still needs, so the room made is bounded by the maximum
    /// frame length, never by an unchecked length from the wire.
    async fn read_more<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        missing: usize,
    ) -> Result<usize, FrameError> {
        self.buf.reserve(missing.max(READ_CHUNK));
        let start = self.buf.len();
        // `read_buf` is cancel safe: bytes are appended only when the read completes.
        let n = r.read_buf(&mut self.buf).await?;
        // Decrypted in the same poll that appended them, with no await in between: a
        // dropped future either appended nothing or has decrypted what it appended, so
        // no byte is ever decrypted twice or skipped.
        if let (Some(cipher), Some(new)) = (&mut self.decryptor, self.buf.get_mut(start..)) {
            cipher.apply(new);
        }
        Ok(n)
    }
}

/// Inflates a zlib stream that must expand to exactly `declared` bytes, no more, no
/// less, with nothing after its end.
///
/// The output buffer is exactly `declared` bytes (bounded by the caller) and never
/// grows, so a zlib bomb costs no more memory than an honest frame of that size.
fn inflate(input: &[u8], declared: usize) -> Result<Vec<u8>, FrameError> {
    let broken = |e: flate2::DecompressError| FrameError::Compression(e.to_string());
    let too_big = || {
        FrameError::Compression(format!(
            "inflates to more than the declared {declared} bytes"
        ))
    };
    let mut z = Decompress::new(true);
    let mut out = vec![0u8; declared];
    let mut status = z
        .decompress(input, &mut out, FlushDecompress::Finish)
        .map_err(broken)?;
    let filled = z.total_out() >= u64::try_from(declared).unwrap_or(u64::MAX);
    if status != Status::StreamEnd && filled {
        // Output full but no end seen: either more output is pending (too big) or only
        // the end of the stream is left. One more step into a 1-byte window tells them
        // apart without inflating further; a backend that refuses to continue after a
        // short Finish (miniz_oxide) only does so when output was pending.
        let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
        let rest = input.get(consumed..).unwrap_or_default();
        let mut probe = [0u8; 1];
        status = z
            .decompress(rest, &mut probe, FlushDecompress::Finish)
            .map_err(|_| too_big())?;
    }
    let total_out = z.total_out();
    if total_out > u64::try_from(declared).unwrap_or(u64::MAX) {
        return Err(too_big());
    }
    if status != Status::StreamEnd {
        return Err(FrameError::Compression(format!(
            "zlib stream ends early ({total_out} of {declared} bytes inflated)"
        )));
    }
    if total_out != u64::try_from(declared).unwrap_or(u64::MAX) {
        return Err(FrameError::Compression(format!(
            "inflates to {total_out} bytes, declared {declared}"
        )));
    }
    let trailing = u64::try_from(input.len())
        .unwrap_or(u64::MAX)
        .saturating_sub(z.total_in());
    if trailing > 0 {
        return Err(FrameError::Compression(format!(
            "{trailing} bytes after the end of the zlib stream"
        )));
    }
    Ok(out)
}

/// Builds outgoing frames, with the same optional layers as [`FrameReader`].
///
/// One per connection and direction: the cipher state runs on from frame to frame, so
/// frames must be sent in the order they were encoded.
#[derive(Debug, Default)]
pub struct FrameWriter {
    encryptor: Option<Encryptor>,
    compression_threshold: Option<usize>,
}

impl FrameWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Encrypts every byte encoded from now on with AES-128-CFB8, key = IV = `key`.
    pub fn enable_encryption(&mut self, key: [u8; 16]) {
        self.encryptor = Some(Encryptor::new(key));
    }

    /// Uses compressed framing from the next frame on: payloads of at least
    /// `threshold` bytes are zlib-compressed, smaller ones sent with data length 0. A
    /// negative `threshold` disables it again.
    pub fn enable_compression(&mut self, threshold: i32) {
        self.compression_threshold = self::threshold(threshold);
    }

    /// Appends the complete wire bytes of `packet` to `out`.
    pub fn encode<P: Encode>(&mut self, packet: &P, out: &mut Vec<u8>) {
        let mut payload = Vec::new();
        codec::put_varint(&mut payload, P::ID);
        packet.encode_body(&mut payload);
        self.frame(&payload, out);
    }

    /// Appends the complete wire bytes of a packet given as id and encoded body, e.g.
    /// one relayed or built outside the [`Encode`] types.
    pub fn encode_raw(&mut self, id: i32, body: &[u8], out: &mut Vec<u8>) {
        let mut payload = Vec::with_capacity(MAX_VARINT_LEN.saturating_add(body.len()));
        codec::put_varint(&mut payload, id);
        payload.extend_from_slice(body);
        self.frame(&payload, out);
    }

    fn frame(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        match self.compression_threshold {
            None => codec::put_byte_array(out, payload),
            Some(threshold) => {
                let mut inner = Vec::with_capacity(MAX_VARINT_LEN.saturating_add(payload.len()));
                let compressed = if payload.len() >= threshold {
                    zlib(payload)
                } else {
                    None
                };
                match compressed {
                    Some(compressed) => {
                        // Our payloads are far below i32::MAX; saturate rather than panic.
                        codec::put_varint(
                            &mut inner,
                            i32::try_from(payload.len()).unwrap_or(i32::MAX),
                        );
                        inner.extend_from_slice(&compressed);
                    }
                    None => {
                        inner.push(0);
                        inner.extend_from_slice(payload);
                    }
                }
                codec::put_byte_array(out, &inner);
            }
        }
        if let (Some(cipher), Some(new)) = (&mut self.encryptor, out.get_mut(start..)) {
            cipher.apply(new);
        }
    }
}

/// zlib at the default level, like vanilla. `None` only if writing to a `Vec` failed,
/// which it cannot; the caller then sends the payload uncompressed, which is valid.
fn zlib(payload: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = ZlibEncoder::new(
        Vec::with_capacity(payload.len() / 2 + 16),
        Compression::default(),
    );
    encoder.write_all(payload).ok()?;
    encoder.finish().ok()
}

/// A packet we can write: its id in its state and direction, and its body encoder.
///
/// Clientbound packets implement it for the router; serverbound ones implement it too
/// so test clients and load generators can speak the protocol.
pub trait Encode {
    const ID: i32;
    fn encode_body(&self, out: &mut Vec<u8>);
}

/// A packet we can read from a complete frame's body (the bytes after the id).
pub trait Decode<'a>: Sized {
    const ID: i32;
    /// Names the packet in errors (e.g. trailing bytes).
    const NAME: &'static str = "packet";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError>;

    /// Decodes a whole body and rejects trailing bytes: a packet that does not end
    /// where its layout says was misread and must not be acted on.
    fn decode_body(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let packet = Self::decode(&mut r)?;
        r.finish(Self::NAME)?;
        Ok(packet)
    }
}

/// Full frame (VarInt length + VarInt id + body) for a packet, uncompressed and
/// unencrypted: for the states before Set Compression / encryption.
pub fn encode_frame<P: Encode>(packet: &P) -> Vec<u8> {
    let mut payload = Vec::new();
    codec::put_varint(&mut payload, P::ID);
    packet.encode_body(&mut payload);
    frame_payload(&payload)
}

/// Prefixes an encoded payload (packet id + body) with its length: a plain frame.
pub fn frame_payload(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_VARINT_LEN + payload.len());
    // Same layout as a byte array: VarInt length, then the bytes.
    codec::put_byte_array(&mut out, payload);
    out
}

/// Splits a frame into (packet id, body).
pub fn split_id(frame: &[u8]) -> Result<(i32, &[u8]), DecodeError> {
    let mut r = Reader::new(frame);
    let id = r.varint("packet id")?;
    Ok((id, r.rest()))
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use tokio::io::{AsyncWriteExt, ReadBuf};

    use super::*;

    /// Handshake (protocol 767, "localhost", 25565, status) as a client sends it.
    const HANDSHAKE: &[u8] = &[
        0x10, 0x00, 0xff, 0x05, 0x09, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't', 0x63,
        0xdd, 0x01,
    ];
    const STATUS_REQUEST: &[u8] = &[0x01, 0x00];

    /// Yields one byte per read, with a `Pending` before each, like the slowest
    /// possible network.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        ready: bool,
    }

    impl Trickle {
        fn new(data: &[u8]) -> Self {
            Self {
                data: data.to_vec(),
                pos: 0,
                ready: false,
            }
        }
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if !self.ready {
                self.ready = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.ready = false;
            if let Some(&b) = self.data.get(self.pos) {
                buf.put_slice(&[b]);
                self.pos += 1;
            }
            Poll::Ready(Ok(()))
        }
    }

    /// Fails any read: proves the frame reader stopped before reading further.
    struct Explode;

    impl AsyncRead for Explode {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Err(io::Error::other("read past the length prefix")))
        }
    }

    #[tokio::test]
    async fn two_frames_in_one_segment() {
        let segment = [HANDSHAKE, STATUS_REQUEST].concat();
        let mut src = &segment[..];
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);

        let first = reader.next_frame(&mut src).await.unwrap().unwrap();
        assert_eq!(&first[..], &HANDSHAKE[1..]);
        // The status request came with the handshake and is already buffered.
        assert_eq!(reader.buffered(), STATUS_REQUEST);
        let second = reader.next_frame(&mut src).await.unwrap().unwrap();
        assert_eq!(&second[..], &[0x00]);
        assert!(reader.next_frame(&mut src).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn frames_split_into_single_bytes() {
        let segment = [HANDSHAKE, STATUS_REQUEST, HANDSHAKE].concat();
        let mut src = Trickle::new(&segment);
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);

        let mut got = Vec::new();
        while let Some(frame) = reader.next_frame(&mut src).await.unwrap() {
            got.push(frame.to_vec());
        }
        assert_eq!(
            got,
            [
                HANDSHAKE[1..].to_vec(),
                STATUS_REQUEST[1..].to_vec(),
                HANDSHAKE[1..].to_vec()
            ]
        );
    }

    #[tokio::test]
    async fn zero_length_rejected() {
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        let err = reader.next_frame(&mut &[0x00, 0x00][..]).await.unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::Length(DecodeError::InvalidValue { value: 0, .. })
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn negative_length_rejected() {
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        let mut src = AsyncReadExt::chain(&[0xff, 0xff, 0xff, 0xff, 0x0f][..], Explode);
        let err = reader.next_frame(&mut src).await.unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::Length(DecodeError::NegativeLength { len: -1, .. })
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn overlong_length_varint_rejected() {
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        let mut src = Trickle::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).chain(Explode);
        let err = reader.next_frame(&mut src).await.unwrap_err();
        assert!(
            matches!(err, FrameError::Length(DecodeError::VarIntTooLong { .. })),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn huge_length_rejected_before_body() {
        // 0x7fffffff, then a reader that fails if asked for the body.
        let prefix = [0xff, 0xff, 0xff, 0xff, 0x07];
        for trickle in [false, true] {
            let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
            let err = if trickle {
                reader
                    .next_frame(&mut Trickle::new(&prefix).chain(Explode))
                    .await
            } else {
                reader
                    .next_frame(&mut AsyncReadExt::chain(&prefix[..], Explode))
                    .await
            }
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    FrameError::TooLarge {
                        len: 0x7fff_ffff,
                        max: VANILLA_MAX_FRAME_LEN
                    }
                ),
                "{err:?}"
            );
            assert!(reader.buf.capacity() <= 4096, "{}", reader.buf.capacity());
        }
    }

    #[tokio::test]
    async fn max_frame_len_is_inclusive_and_adjustable() {
        let mut reader = FrameReader::new(16);
        let mut src = HANDSHAKE; // frame length exactly 16
        assert!(reader.next_frame(&mut src).await.unwrap().is_some());

        let mut reader = FrameReader::new(64);
        reader.set_max_frame_len(15);
        let mut src = HANDSHAKE;
        let err = reader.next_frame(&mut src).await.unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { len: 16, max: 15 }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn eof_mid_frame() {
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        let err = reader.next_frame(&mut &HANDSHAKE[..5]).await.unwrap_err();
        assert!(matches!(err, FrameError::UnexpectedEof), "{err:?}");

        // EOF inside the length prefix itself.
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        let err = reader.next_frame(&mut &[0x80][..]).await.unwrap_err();
        assert!(matches!(err, FrameError::UnexpectedEof), "{err:?}");
    }

    #[tokio::test]
    async fn clean_eof() {
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        assert!(reader.next_frame(&mut &[][..]).await.unwrap().is_none());
        assert_eq!(reader.peek_byte(&mut &[][..]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn peek_byte_keeps_the_byte() {
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        let mut src = Trickle::new(HANDSHAKE);
        assert_eq!(reader.peek_byte(&mut src).await.unwrap(), Some(0x10));
        assert_eq!(reader.peek_byte(&mut src).await.unwrap(), Some(0x10));
        let frame = reader.next_frame(&mut src).await.unwrap().unwrap();
        assert_eq!(&frame[..], &HANDSHAKE[1..]);

        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        let mut legacy = &[0xfe, 0x01, 0xfa][..];
        assert_eq!(reader.peek_byte(&mut legacy).await.unwrap(), Some(0xfe));
        assert_eq!(reader.buffered(), &[0xfe, 0x01, 0xfa]);
    }

    #[tokio::test]
    async fn next_frame_is_cancellation_safe() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);

        client.write_all(&HANDSHAKE[..7]).await.unwrap();
        let timed_out =
            tokio::time::timeout(Duration::from_millis(20), reader.next_frame(&mut server)).await;
        assert!(timed_out.is_err(), "frame cannot be complete yet");
        assert_eq!(reader.buffered(), &HANDSHAKE[..7]);

        client.write_all(&HANDSHAKE[7..]).await.unwrap();
        drop(client);
        let frame = reader.next_frame(&mut server).await.unwrap().unwrap();
        assert_eq!(&frame[..], &HANDSHAKE[1..]);
        assert!(reader.next_frame(&mut server).await.unwrap().is_none());
    }

    #[test]
    fn try_frame_without_io() {
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        assert!(reader.try_frame().unwrap().is_none());
        reader.buf.extend_from_slice(&HANDSHAKE[..3]);
        assert!(reader.try_frame().unwrap().is_none());
        reader.buf.extend_from_slice(&HANDSHAKE[3..]);
        reader.buf.extend_from_slice(STATUS_REQUEST);
        assert_eq!(&reader.try_frame().unwrap().unwrap()[..], &HANDSHAKE[1..]);
        assert_eq!(&reader.try_frame().unwrap().unwrap()[..], &[0x00]);
        assert!(reader.try_frame().unwrap().is_none());
        assert!(reader.buffered().is_empty());
    }

    struct Blob(Vec<u8>);

    impl Encode for Blob {
        const ID: i32 = 0x42;
        fn encode_body(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0);
        }
    }

    #[tokio::test]
    async fn encode_frame_round_trip() {
        assert_eq!(encode_frame(&Blob(vec![7, 8])), [0x03, 0x42, 7, 8]);

        // 200 bytes of body + 1 of id: a two-byte length prefix (201 = c9 01).
        let big = Blob(vec![0xaa; 200]);
        let bytes = encode_frame(&big);
        assert_eq!(bytes[..3], [0xc9, 0x01, 0x42]);

        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        let frame = reader.next_frame(&mut &bytes[..]).await.unwrap().unwrap();
        let (id, body) = split_id(&frame).unwrap();
        assert_eq!(id, Blob::ID);
        assert_eq!(body, &big.0[..]);
    }

    #[test]
    fn split_id_errors() {
        assert_eq!(
            split_id(&[]),
            Err(DecodeError::Truncated { what: "packet id" })
        );
        assert_eq!(split_id(&[0x00]), Ok((0, &[][..])));
    }

    const KEY: [u8; 16] = [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
        0x0f,
    ];

    /// Reads every frame from `src` back as (id, body) until a clean EOF.
    async fn read_all<R: AsyncRead + Unpin>(
        reader: &mut FrameReader,
        src: &mut R,
    ) -> Vec<(i32, Vec<u8>)> {
        let mut got = Vec::new();
        while let Some(frame) = reader.next_frame(src).await.unwrap() {
            let (id, body) = split_id(&frame).unwrap();
            got.push((id, body.to_vec()));
        }
        got
    }

    fn blobs() -> Vec<Blob> {
        vec![
            Blob(vec![]),
            Blob(vec![1, 2, 3]),
            Blob(vec![0xaa; 63]),
            Blob(vec![0xbb; 64]),
            Blob((0..=255).cycle().take(5000).collect()),
        ]
    }

    fn expected() -> Vec<(i32, Vec<u8>)> {
        blobs().into_iter().map(|b| (Blob::ID, b.0)).collect()
    }

    /// Writes `blobs()` with `writer`, then reads them back with `reader`, once in one
    /// piece and once a byte at a time.
    async fn round_trip(setup: impl Fn(&mut FrameWriter, &mut FrameReader)) -> Vec<u8> {
        let mut writer = FrameWriter::new();
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        setup(&mut writer, &mut reader);
        let mut wire = Vec::new();
        for blob in blobs() {
            writer.encode(&blob, &mut wire);
        }
        assert_eq!(read_all(&mut reader, &mut &wire[..]).await, expected());

        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        setup(&mut FrameWriter::new(), &mut reader);
        assert_eq!(
            read_all(&mut reader, &mut Trickle::new(&wire)).await,
            expected()
        );
        wire
    }

    #[tokio::test]
    async fn writer_plain_matches_encode_frame() {
        let wire = round_trip(|_, _| {}).await;
        let plain: Vec<u8> = blobs().iter().flat_map(encode_frame).collect();
        assert_eq!(wire, plain);

        let mut raw = Vec::new();
        FrameWriter::new().encode_raw(0x42, &[7, 8], &mut raw);
        assert_eq!(raw, [0x03, 0x42, 7, 8]);
    }

    #[tokio::test]
    async fn writer_compressed_round_trip() {
        let setup = |w: &mut FrameWriter, r: &mut FrameReader| {
            w.enable_compression(64);
            r.enable_compression(64);
        };
        round_trip(setup).await;

        // Below the threshold (id + 3 bytes = 4 < 64): sent as is, data length 0.
        let mut wire = Vec::new();
        let mut writer = FrameWriter::new();
        writer.enable_compression(64);
        writer.encode(&Blob(vec![1, 2, 3]), &mut wire);
        assert_eq!(wire, [0x05, 0x00, 0x42, 1, 2, 3]);

        // Id + 63 bytes = 64: at the threshold, so compressed (and it shrinks).
        wire.clear();
        writer.encode(&Blob(vec![0xaa; 63]), &mut wire);
        assert_eq!(wire.get(1), Some(&64), "data length = uncompressed size");
        assert_eq!(
            wire.get(2..4),
            Some(&[0x78, 0x9c][..]),
            "zlib, default level"
        );
        assert!(wire.len() < 30, "{}", wire.len());

        // Threshold 0 compresses everything; a negative one switches compression off.
        writer.enable_compression(0);
        wire.clear();
        writer.encode(&Blob(vec![]), &mut wire);
        assert_eq!(wire.get(1), Some(&1));
        writer.enable_compression(-1);
        wire.clear();
        writer.encode(&Blob(vec![]), &mut wire);
        assert_eq!(wire, [0x01, 0x42]);
    }

    #[tokio::test]
    async fn writer_encrypted_round_trip() {
        let setup = |w: &mut FrameWriter, r: &mut FrameReader| {
            w.enable_encryption(KEY);
            r.enable_encryption(KEY);
        };
        let wire = round_trip(setup).await;
        let plain: Vec<u8> = blobs().iter().flat_map(encode_frame).collect();
        assert_eq!(wire.len(), plain.len());
        assert_ne!(wire, plain);
    }

    #[tokio::test]
    async fn writer_compressed_and_encrypted_round_trip() {
        round_trip(|w, r| {
            w.enable_compression(256);
            w.enable_encryption(KEY);
            r.enable_compression(256);
            r.enable_encryption(KEY);
        })
        .await;
    }

    #[test]
    fn cfb8_known_answer() {
        // Independently computed with
        // `openssl enc -aes-128-cfb8 -K 000102030405060708090a0b0c0d0e0f -iv <same>`
        // (and Python `cryptography`): key = IV as the protocol uses it.
        const PLAIN: &[u8] = b"Passage: AES-128-CFB8, key = IV.";
        const CIPHER: [u8; 32] = [
            0x5a, 0x0f, 0xe6, 0x55, 0xb4, 0xef, 0xba, 0x1c, 0x23, 0x24, 0x6a, 0xb2, 0x6b, 0x08,
            0xd1, 0x65, 0x8d, 0xd8, 0xbc, 0x6c, 0x61, 0x2e, 0x69, 0x77, 0x83, 0xad, 0x35, 0xa0,
            0xdb, 0x13, 0x04, 0x57,
        ];
        let mut buf = PLAIN.to_vec();
        Encryptor::new(KEY).apply(&mut buf);
        assert_eq!(buf, CIPHER);

        // The state carries across calls: any split gives the same bytes.
        let mut dec = Decryptor::new(KEY);
        let (a, b) = buf.split_at_mut(5);
        dec.apply(a);
        dec.apply(&mut []);
        dec.apply(b);
        assert_eq!(buf, PLAIN);

        let mut enc = Encryptor::new(KEY);
        let mut pieces = PLAIN.to_vec();
        for byte in pieces.chunks_mut(1) {
            enc.apply(byte);
        }
        assert_eq!(pieces, CIPHER);
        assert_eq!(format!("{enc:?}"), "Aes128Cfb8");
    }

    #[tokio::test]
    async fn encryption_enabled_with_bytes_already_buffered() {
        // The client sends its Encryption Response (plain) and, encrypted, its next
        // packets in the same segment: the reader buffers them all in one read (all
        // fit in its first 512-byte read).
        let mut writer = FrameWriter::new();
        let mut wire = Vec::new();
        writer.encode(&Blob(vec![1; 10]), &mut wire);
        let first_len = wire.len();
        writer.enable_encryption(KEY);
        writer.encode(&Blob(vec![2; 200]), &mut wire);
        writer.encode(&Blob(vec![3; 5]), &mut wire);

        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        let (mut client, mut server) = tokio::io::duplex(4096);
        client.write_all(&wire).await.unwrap();
        drop(client);
        let first = reader.next_frame(&mut server).await.unwrap().unwrap();
        assert_eq!(&first[..], &[&[0x42][..], &[1; 10]].concat()[..]);
        assert_eq!(
            reader.buffered(),
            wire.get(first_len..).unwrap(),
            "one read"
        );

        reader.enable_encryption(KEY);
        assert_eq!(reader.buffered().get(..3), Some(&[0xc9, 0x01, 0x42][..]));
        let got = read_all(&mut reader, &mut server).await;
        assert_eq!(got, [(0x42, vec![2; 200]), (0x42, vec![3; 5])]);
    }

    /// A compressed frame by hand: data length, then `zdata` as given.
    fn compressed_frame(declared: i32, zdata: &[u8]) -> Vec<u8> {
        let mut inner = Vec::new();
        codec::put_varint(&mut inner, declared);
        inner.extend_from_slice(zdata);
        frame_payload(&inner)
    }

    fn zlib_of(data: &[u8]) -> Vec<u8> {
        zlib(data).unwrap()
    }

    async fn read_compressed(frame: &[u8], max: usize) -> Result<Option<Bytes>, FrameError> {
        let mut reader = FrameReader::new(max);
        reader.enable_compression(256);
        reader.next_frame(&mut &frame[..]).await
    }

    fn compression_error(result: Result<Option<Bytes>, FrameError>, needle: &str) {
        match result {
            Err(FrameError::Compression(msg)) => assert!(msg.contains(needle), "{msg}"),
            other => panic!("expected a compression error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn inflated_size_must_match_declared() {
        let data = vec![0x42; 1000];
        let ok = compressed_frame(1000, &zlib_of(&data));
        assert_eq!(
            &read_compressed(&ok, VANILLA_MAX_FRAME_LEN)
                .await
                .unwrap()
                .unwrap()[..],
            &data[..]
        );

        // Declares fewer bytes than it inflates to: stopped at the declared size.
        let more = compressed_frame(999, &zlib_of(&data));
        compression_error(
            read_compressed(&more, VANILLA_MAX_FRAME_LEN).await,
            "more than",
        );
        assert!(matches!(
            inflate(&zlib_of(&data), 999),
            Err(FrameError::Compression(_))
        ));

        // Declares more bytes than it inflates to.
        let fewer = compressed_frame(1001, &zlib_of(&data));
        compression_error(
            read_compressed(&fewer, VANILLA_MAX_FRAME_LEN).await,
            "1000 bytes, declared 1001",
        );
    }

    #[tokio::test]
    async fn declared_size_checked_before_inflating() {
        // Not zlib at all: only the declared size can be what is rejected.
        let garbage = [0xff; 8];
        for (declared, max) in [(4097, 4096), (VANILLA_MAX_FRAME_LEN as i32 + 1, usize::MAX)] {
            let frame = compressed_frame(declared, &garbage);
            let err = read_compressed(&frame, max.max(frame.len()))
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    FrameError::BadCompressedLength { len, min: 256, max: m }
                        if len == declared && m == max.min(VANILLA_MAX_FRAME_LEN)
                ),
                "{err:?}"
            );
        }
        for declared in [255, 1, -1, i32::MIN] {
            let err = read_compressed(&compressed_frame(declared, &garbage), 4096)
                .await
                .unwrap_err();
            assert!(
                matches!(err, FrameError::BadCompressedLength { len, .. } if len == declared),
                "{err:?}"
            );
        }
    }

    #[tokio::test]
    async fn zlib_bomb_rejected() {
        let bomb = zlib_of(&vec![0; 10 << 20]);
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        let frame = compressed_frame(1000, &bomb);
        compression_error(
            read_compressed(&frame, VANILLA_MAX_FRAME_LEN).await,
            "more than",
        );
        // Even declaring the most allowed is far from enough.
        let frame = compressed_frame(VANILLA_MAX_FRAME_LEN as i32, &bomb);
        compression_error(
            read_compressed(&frame, VANILLA_MAX_FRAME_LEN).await,
            "more than",
        );
    }

    #[tokio::test]
    async fn bad_zlib_rejected() {
        assert!(matches!(
            read_compressed(&compressed_frame(300, &[0xde; 40]), 4096).await,
            Err(FrameError::Compression(_))
        ));

        let data = vec![7; 300];
        let mut trailing = zlib_of(&data);
        trailing.extend_from_slice(b"junk");
        compression_error(
            read_compressed(&compressed_frame(300, &trailing), 4096).await,
            "4 bytes after the end",
        );

        let whole = zlib_of(&data);
        let cut = whole.get(..whole.len() - 4).unwrap(); // adler32 missing
        assert!(matches!(
            read_compressed(&compressed_frame(300, cut), 4096).await,
            Err(FrameError::Compression(_))
        ));
        let mut bad_sum = whole.clone();
        if let Some(last) = bad_sum.last_mut() {
            *last ^= 1;
        }
        assert!(matches!(
            read_compressed(&compressed_frame(300, &bad_sum), 4096).await,
            Err(FrameError::Compression(_))
        ));
    }

    #[tokio::test]
    async fn uncompressed_frames_in_compressed_framing() {
        // At or above the threshold but sent uncompressed: accepted (see
        // `enable_compression`).
        let payload = [&[0x42][..], &[9; 299]].concat();
        let frame = compressed_frame(0, &payload);
        let got = read_compressed(&frame, 4096).await.unwrap().unwrap();
        assert_eq!(&got[..], &payload[..]);

        // Data length 0 and nothing after it: no packet id.
        let err = read_compressed(&[0x01, 0x00], 4096).await.unwrap_err();
        assert!(matches!(err, FrameError::Length(_)), "{err:?}");
        // Data length VarInt cut short by the end of the frame.
        let err = read_compressed(&[0x01, 0x80], 4096).await.unwrap_err();
        assert!(
            matches!(err, FrameError::Length(DecodeError::Truncated { .. })),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn compression_applies_to_buffered_frames_and_can_be_disabled() {
        // Set Compression is followed at once by compressed frames from the peer.
        let mut wire = encode_frame(&Blob(vec![1]));
        let mut writer = FrameWriter::new();
        writer.enable_compression(16);
        writer.encode(&Blob(vec![5; 40]), &mut wire);
        let mut src = &wire[..];
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        assert_eq!(
            &reader.next_frame(&mut src).await.unwrap().unwrap()[..],
            &[0x42, 1]
        );
        reader.enable_compression(16);
        let frame = reader.next_frame(&mut src).await.unwrap().unwrap();
        assert_eq!(&frame[..], &[&[0x42][..], &[5; 40]].concat()[..]);

        reader.enable_compression(-5);
        let frame = reader
            .next_frame(&mut &encode_frame(&Blob(vec![2]))[..])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&frame[..], &[0x42, 2]);
    }
}
