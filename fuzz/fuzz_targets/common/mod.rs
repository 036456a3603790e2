//! Shared by the fuzz targets (each includes it with `mod common;`): a reader that
//! hands out its bytes in seed-dependent chunks, sometimes `Pending`, and a minimal
//! executor for futures whose only await points are such readers.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, ReadBuf};

/// Deterministic chunk sizes from one seed byte (xorshift), so a crash reproduces
/// from its input alone.
pub struct Chunked<'a> {
    data: &'a [u8],
    state: u32,
    /// Whether reads may return `Pending` (every other read when set).
    pending: bool,
    pending_next: bool,
}

impl<'a> Chunked<'a> {
    pub fn new(data: &'a [u8], seed: u8) -> Self {
        Self {
            data,
            state: 0x9e37_79b9 ^ u32::from(seed).wrapping_mul(0x0101_0101),
            pending: seed & 1 == 1,
            pending_next: false,
        }
    }

    fn next_len(&mut self) -> usize {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        // Mostly tiny reads (1-8 bytes), sometimes larger ones (up to 600).
        if x & 0x300 == 0 {
            (x as usize >> 10) % 600 + 1
        } else {
            (x as usize >> 10) % 8 + 1
        }
    }

    pub fn remaining(&self) -> &'a [u8] {
        self.data
    }
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pending && self.pending_next {
            self.pending_next = false;
            return Poll::Pending;
        }
        self.pending_next = true;
        let n = self.next_len().min(buf.remaining()).min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = tail;
        Poll::Ready(Ok(()))
    }
}

/// Polls `fut` once with a no-op waker: `Some` if it finished, `None` if it is
/// pending (the future is then dropped, i.e. cancelled).
pub fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(fut).as_mut().poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Runs `fut` to completion, for futures over readers that never stay pending.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

use bytes::Bytes;
use passage::protocol::FrameReader;

/// How a sequence of reads ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// Clean EOF (`Ok(None)`).
    Eof,
    /// Stopped after the requested number of frames.
    Limit,
    /// The error's message.
    Error(String),
}

/// Reads up to `limit` frames from `src` with `next_frame`, cancelling the read each
/// time the source is pending and checking then that `try_frame` has nothing (the
/// buffer held no complete frame when the read started, and a cancelled read adds
/// nothing). Every frame must be non-empty and within `max` bytes.
pub fn read_frames(
    reader: &mut FrameReader,
    src: &mut Chunked<'_>,
    limit: usize,
    max: usize,
) -> (Vec<Bytes>, End) {
    let mut frames = Vec::new();
    while frames.len() < limit {
        match poll_once(reader.next_frame(src)) {
            None => match reader.try_frame() {
                Ok(None) => {}
                other => panic!("cancelled next_frame left a frame or error behind: {other:?}"),
            },
            Some(Ok(Some(frame))) => {
                assert!(!frame.is_empty(), "empty frame returned");
                assert!(frame.len() <= max, "frame of {} bytes > max {max}", frame.len());
                frames.push(frame);
            }
            Some(Ok(None)) => {
                assert!(reader.buffered().is_empty(), "clean EOF with bytes buffered");
                return (frames, End::Eof);
            }
            Some(Err(e)) => return (frames, End::Error(e.to_string())),
        }
    }
    (frames, End::Limit)
}

/// The same with a plain `&[u8]` reader (reads as much as the buffer has room for,
/// never pending), as the reference.
pub fn read_frames_whole(
    reader: &mut FrameReader,
    src: &mut &[u8],
    limit: usize,
    max: usize,
) -> (Vec<Bytes>, End) {
    let mut frames = Vec::new();
    while frames.len() < limit {
        match block_on(reader.next_frame(src)) {
            Ok(Some(frame)) => {
                assert!(!frame.is_empty(), "empty frame returned");
                assert!(frame.len() <= max, "frame of {} bytes > max {max}", frame.len());
                frames.push(frame);
            }
            Ok(None) => return (frames, End::Eof),
            Err(e) => return (frames, End::Error(e.to_string())),
        }
    }
    (frames, End::Limit)
}

/// `max_frame_len` choices: vanilla's bound, the pre-login bound range, tiny ones.
pub fn pick_max(b: u8) -> usize {
    match b % 5 {
        0 => passage::protocol::frame::VANILLA_MAX_FRAME_LEN,
        1 => 32 * 1024,
        2 => 4096,
        3 => 300,
        _ => 16,
    }
}

use std::fmt::Debug;

use passage::protocol::{Decode, Encode};

/// Decodes `body` as `P`; when that succeeds, the packet re-encodes to a body that
/// decodes to an equal packet, no longer than the input (our encoding is canonical:
/// shortest VarInts) and stable under a second round.
pub fn round_trip<P>(body: &[u8]) -> Option<P>
where
    P: Encode + for<'a> Decode<'a> + PartialEq + Debug,
{
    assert_eq!(<P as Encode>::ID, <P as Decode>::ID, "{}: ids differ", P::NAME);
    let packet = P::decode_body(body).ok()?;
    let mut out = Vec::new();
    packet.encode_body(&mut out);
    let again = P::decode_body(&out)
        .unwrap_or_else(|e| panic!("{}: re-encoded body does not decode: {e}", P::NAME));
    assert_eq!(again, packet, "{}: round trip changed the packet", P::NAME);
    assert!(
        out.len() <= body.len(),
        "{}: re-encoded body is longer ({} > {})",
        P::NAME,
        out.len(),
        body.len()
    );
    let mut out2 = Vec::new();
    again.encode_body(&mut out2);
    assert_eq!(out, out2, "{}: encoding not stable", P::NAME);
    Some(packet)
}

/// For packets carrying an NBT text component, which decodes to JSON and is
/// documented to round-trip only up to that mapping (a bare number or a plain string
/// in `extra` comes back as text): after one encode/decode the packet is normalized,
/// and from then on the round trip must be exact and the bytes stable.
pub fn round_trip_normalizing<P>(body: &[u8]) -> Option<P>
where
    P: Encode + for<'a> Decode<'a> + PartialEq + Debug,
{
    let packet = P::decode_body(body).ok()?;
    let mut first = Vec::new();
    packet.encode_body(&mut first);
    let normalized = P::decode_body(&first)
        .unwrap_or_else(|e| panic!("{}: re-encoded body does not decode: {e}", P::NAME));
    let mut second = Vec::new();
    normalized.encode_body(&mut second);
    let again = P::decode_body(&second)
        .unwrap_or_else(|e| panic!("{}: normalized body does not decode: {e}", P::NAME));
    assert_eq!(again, normalized, "{}: normalized packet not stable", P::NAME);
    assert_eq!(first, second, "{}: normalized encoding not stable", P::NAME);
    Some(packet)
}
