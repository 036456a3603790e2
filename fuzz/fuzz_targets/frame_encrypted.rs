//! FrameReader with AES-128-CFB8 switched on mid-stream, as after Encryption Response.
//!
//! Input: seed (read split), key (16 bytes), mode, then the plaintext stream P. The
//! first `mode & 3` frames of P go on the wire as they are, everything after them
//! encrypted with the key (so the fuzzer still shapes the decrypted frames); mode
//! bit 2 also switches compression on (threshold 64) with the encryption.
//! Checks: no panic; frames non-empty and within max; the frames read are exactly
//! those of P read plainly, with the same outcome, whatever the split, including
//! when encrypted bytes were already buffered when encryption was enabled.
#![no_main]

use aes::Aes128;
use aes::cipher::{AsyncStreamCipher, KeyIvInit};
use libfuzzer_sys::fuzz_target;
use passage::protocol::FrameReader;
use passage::protocol::frame::VANILLA_MAX_FRAME_LEN;

mod common;
use common::{Chunked, End, read_frames, read_frames_whole};

type Enc = cfb8::Encryptor<Aes128>;

const MAX: usize = VANILLA_MAX_FRAME_LEN;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let Some((key, rest)) = rest.split_first_chunk::<16>() else {
        return;
    };
    let Some((&mode, plain)) = rest.split_first() else {
        return;
    };
    let plain_frames = usize::from(mode & 3);
    let compress = mode & 4 != 0;
    let setup = |r: &mut FrameReader| {
        r.enable_encryption(*key);
        if compress {
            r.enable_compression(64);
        }
    };

    // Reference: P read without encryption, the same layers switched on at the
    // same frame.
    let mut whole = FrameReader::new(MAX);
    let mut whole_src = plain;
    let (mut expected, mut expected_end) =
        read_frames_whole(&mut whole, &mut whole_src, plain_frames, MAX);
    if expected_end != End::Limit {
        // P ends (or breaks) before encryption would be switched on: nothing to test.
        return;
    }
    // Where the encrypted part starts: the bytes the plain frames took.
    let split = plain.len() - whole_src.len() - whole.buffered().len();
    if compress {
        whole.enable_compression(64);
    }
    let (more, end) = read_frames_whole(&mut whole, &mut whole_src, usize::MAX, MAX);
    expected.extend(more);
    expected_end = end;

    let mut wire = plain.to_vec();
    Enc::new(key.into(), key.into()).encrypt(&mut wire[split..]);

    let mut reader = FrameReader::new(MAX);
    let mut src = Chunked::new(&wire, seed);
    let (mut frames, mut end) = read_frames(&mut reader, &mut src, plain_frames, MAX);
    assert_eq!(end, End::Limit, "plain frames differ from the reference's");
    setup(&mut reader);
    let (more, e) = read_frames(&mut reader, &mut src, usize::MAX, MAX);
    frames.extend(more);
    end = e;
    assert_eq!(frames, expected, "frames differ from the plaintext's");
    assert_eq!(end, expected_end, "outcome differs from the plaintext's");
});
