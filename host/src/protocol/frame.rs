//! Packet framing: splitting a byte stream into VarInt-length-prefixed frames, building
//! outgoing frames, and the `Encode`/`Decode` traits packets implement.
//!
//! Frames are uncompressed and unencrypted for now. The layering is kept so both can be
//! added without touching callers: bytes enter the buffer only in
//! [`FrameReader::read_more`] (where AES-CFB8 decryption would run, once per byte), a
//! frame leaves it only in [`FrameReader::parse`] (where decompression would run), and
//! every outgoing frame is built by [`frame_payload`].

use bytes::{Buf, Bytes, BytesMut};
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
    /// The length prefix is not a valid VarInt, negative, or zero.
    #[error("frame length: {0}")]
    Length(DecodeError),
    #[error("frame of {len} bytes exceeds the maximum {max}")]
    TooLarge { len: usize, max: usize },
}

/// Outcome of trying to cut one frame from the buffer.
enum Parse {
    Frame(Bytes),
    /// At least this many more bytes are needed before a frame can be cut.
    Incomplete {
        missing: usize,
    },
}

/// Reads length-prefixed frames from a byte stream.
///
/// Keeps every byte it buffered but did not return, so a state change (e.g. handshake
/// and status request arriving in one TCP segment) never loses data: keep using the same
/// reader across states.
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    max_frame_len: usize,
}

impl FrameReader {
    /// `max_frame_len` bounds the length prefix (packet id + body), which is checked
    /// before any byte of the body is read or room is made for it.
    pub fn new(max_frame_len: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_frame_len,
        }
    }

    /// Changes the bound for frames not yet returned, e.g. tighter before login.
    pub fn set_max_frame_len(&mut self, max: usize) {
        self.max_frame_len = max;
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

    /// Bytes received but not yet returned as a frame.
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
        // Compression would be undone here (data-length VarInt, then zlib), once per frame.
        Ok(Parse::Frame(frame))
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

    /// The single place bytes enter the buffer. `missing` is a validated lower bound of
    /// what the current frame still needs, so the room made is bounded by the maximum
    /// frame length, never by an unchecked length from the wire.
    async fn read_more<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        missing: usize,
    ) -> Result<usize, FrameError> {
        self.buf.reserve(missing.max(READ_CHUNK));
        // `read_buf` is cancel safe: bytes are appended only when the read completes.
        let n = r.read_buf(&mut self.buf).await?;
        // Decryption would run here over the `n` new bytes, in the same poll as the read
        // so that cancellation can never decrypt twice or skip bytes.
        Ok(n)
    }
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

/// Full frame (VarInt length + VarInt id + body) for a packet, uncompressed.
pub fn encode_frame<P: Encode>(packet: &P) -> Vec<u8> {
    let mut payload = Vec::new();
    codec::put_varint(&mut payload, P::ID);
    packet.encode_body(&mut payload);
    frame_payload(&payload)
}

/// Prefixes an encoded payload (packet id + body) with its length. The single place
/// outgoing frames are built, so compression slots in here.
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
}
