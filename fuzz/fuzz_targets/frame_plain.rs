//! FrameReader without compression or encryption: arbitrary bytes, split into
//! arbitrary reads (byte 0 seeds the split), with a tight or loose max (byte 1).
//! Checks: no panic; frames non-empty and within max; a cancelled read leaves no
//! frame behind; the same frames and outcome whatever the split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passage::protocol::FrameReader;

mod common;
use common::{Chunked, End, pick_max, read_frames, read_frames_whole};

fuzz_target!(|data: &[u8]| {
    let [seed, max_sel, wire @ ..] = data else {
        return;
    };
    let max = pick_max(*max_sel);

    let mut whole = FrameReader::new(max);
    let (expected, expected_end) = read_frames_whole(&mut whole, &mut &wire[..], usize::MAX, max);

    let mut reader = FrameReader::new(max);
    let mut src = Chunked::new(wire, *seed);
    let (frames, end) = read_frames(&mut reader, &mut src, usize::MAX, max);
    assert_eq!(frames, expected, "frames depend on how the stream was split");
    assert_eq!(end, expected_end, "outcome depends on how the stream was split");
    if end == End::Eof {
        // Every byte was consumed as a frame.
        let total: usize = frames.iter().map(|f| f.len()).sum();
        assert!(total <= wire.len());
    }
});
