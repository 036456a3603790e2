//! PROXY protocol v1/v2. Byte 0 seeds how the stream is split into reads (never
//! pending: `read_header` runs on a tokio current-thread runtime for its deadline);
//! the rest is the stream.
//!
//! Checks, besides no panic in `parse_v1`, `parse_v2` and `read_header`:
//! - the header length is what the spec says (v1: through the first CRLF; v2: 16 +
//!   the announced length), and `read_header` succeeds exactly when the parser
//!   accepts those bytes, with the same result: no valid header is refused early;
//! - after a success the stream holds exactly the input minus the header: nothing
//!   past it was consumed.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use passage::net::proxy_protocol::{V2_FIXED_LEN, V2_SIGNATURE, parse_v1, parse_v2, read_header};
use tokio::runtime::{Builder, Runtime};

mod common;
use common::Chunked;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Builder::new_current_thread().enable_time().build().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    // Straight parser calls on the whole input must not panic.
    let _ = parse_v1(input);
    let _ = parse_v2(input);

    // Even seed: Chunked never returns Pending (nothing would wake the runtime).
    let mut src = Chunked::new(input, seed & !1);
    let read = runtime().block_on(read_header(&mut src, Duration::from_secs(5)));
    let remaining = src.remaining();

    // The header as the spec delimits it, and the parser's verdict on it.
    let parsed = if input.starts_with(b"PROXY ") {
        input
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|end| (end + 2, parse_v1(&input[..end + 2])))
    } else if input.starts_with(&V2_SIGNATURE) && input.len() >= V2_FIXED_LEN {
        let len = V2_FIXED_LEN + usize::from(u16::from_be_bytes([input[14], input[15]]));
        (len <= input.len()).then(|| (len, parse_v2(&input[..len])))
    } else {
        None
    };

    match (&read, parsed) {
        (Ok(header), Some((len, Ok(expected)))) => {
            assert_eq!(*header, expected, "read_header and the parser disagree");
            assert_eq!(
                remaining,
                &input[len..],
                "read_header consumed {} bytes, the header is {len}",
                input.len() - remaining.len()
            );
        }
        (Ok(header), other) => {
            panic!("read_header accepted {header:?}, the parser says {other:?}")
        }
        (Err(e), Some((len, Ok(expected)))) => {
            panic!("read_header refused a valid {len}-byte header ({expected:?}): {e}")
        }
        (Err(_), _) => {}
    }
});
