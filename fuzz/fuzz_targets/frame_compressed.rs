//! FrameReader with compressed framing (threshold from the input, switched on after
//! a few plain frames as after Set Compression).
//!
//! Input: seed (read split), max selector, threshold selector, mode, then data.
//! - raw mode: data is the wire. Checks: no panic; frames non-empty, within max and
//!   vanilla's bound; the same frames and outcome whatever the read split.
//! - writer mode: data is cut into payloads that `FrameWriter` frames and compresses;
//!   the reader must return exactly those payloads, then a clean EOF.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passage::protocol::frame::VANILLA_MAX_FRAME_LEN;
use passage::protocol::{FrameReader, FrameWriter};

mod common;
use common::{Chunked, End, pick_max, read_frames, read_frames_whole};

fn threshold(b: u8) -> i32 {
    match b % 6 {
        0 => 0,
        1 => 1,
        2 => 64,
        3 => 256,
        4 => -1,
        _ => i32::from(b) * 16,
    }
}

fuzz_target!(|data: &[u8]| {
    let [seed, max_sel, thr_sel, mode, rest @ ..] = data else {
        return;
    };
    let threshold = threshold(*thr_sel);
    // Frames read before compression is switched on.
    let plain_frames = usize::from(mode >> 1 & 3);

    if mode & 1 == 0 {
        let max = pick_max(*max_sel);
        let mut whole = FrameReader::new(max);
        let mut whole_src = rest;
        let (mut expected, mut expected_end) =
            read_frames_whole(&mut whole, &mut whole_src, plain_frames, max);
        if expected_end == End::Limit {
            whole.enable_compression(threshold);
            let (more, end) = read_frames_whole(&mut whole, &mut whole_src, usize::MAX, max);
            expected.extend(more);
            expected_end = end;
        }

        let mut reader = FrameReader::new(max);
        let mut src = Chunked::new(rest, *seed);
        let (mut frames, mut end) = read_frames(&mut reader, &mut src, plain_frames, max);
        if end == End::Limit {
            reader.enable_compression(threshold);
            let (more, e) = read_frames(&mut reader, &mut src, usize::MAX, max);
            frames.extend(more);
            end = e;
        }
        assert_eq!(frames, expected, "frames depend on how the stream was split");
        assert_eq!(end, expected_end, "outcome depends on how the stream was split");
    } else {
        // Payloads: a length byte (scaled by 1 or 37 to cross thresholds), then that
        // many bytes, repeated to fill when the input runs short.
        let mut payloads = Vec::new();
        let mut it = rest;
        while let [len, tail @ ..] = it {
            let scale = if len & 0x80 != 0 { 37 } else { 1 };
            let n = usize::from(len & 0x7f) * scale;
            let take = n.min(tail.len());
            let mut body = tail[..take].to_vec();
            body.resize(n, len.wrapping_mul(3));
            payloads.push(body);
            it = &tail[take..];
        }
        let mut writer = FrameWriter::new();
        let mut wire = Vec::new();
        for (i, body) in payloads.iter().enumerate() {
            if i == plain_frames {
                writer.enable_compression(threshold);
            }
            writer.encode_raw(0x42, body, &mut wire);
        }
        let max = VANILLA_MAX_FRAME_LEN;
        let mut reader = FrameReader::new(max);
        let mut src = Chunked::new(&wire, *seed);
        let (mut frames, mut end) = read_frames(&mut reader, &mut src, plain_frames, max);
        if end == End::Limit {
            reader.enable_compression(threshold);
            let (more, e) = read_frames(&mut reader, &mut src, usize::MAX, max);
            frames.extend(more);
            end = e;
        }
        assert_eq!(end, End::Eof, "FrameWriter output not read back");
        assert_eq!(frames.len(), payloads.len());
        for (frame, body) in frames.iter().zip(&payloads) {
            assert_eq!(frame.first(), Some(&0x42));
            assert_eq!(&frame[1..], &body[..], "payload changed in the round trip");
        }
    }
});
