//! Primitive wire types (VarInt, VarLong, strings, byte arrays, UUIDs, fixed-width
//! integers): a bounds-checked reader over a complete packet body and the matching writers.
//!
//! Every length read from the wire is checked against a caller-supplied maximum before
//! any data is touched, so a hostile length can neither panic nor allocate.

/// A VarInt encodes an `i32` in at most 5 bytes of 7 bits each.
pub const MAX_VARINT_LEN: usize = 5;
/// A VarLong encodes an `i64` in at most 10 bytes of 7 bits each.
pub const MAX_VARLONG_LEN: usize = 10;

/// Why a packet body (or a frame length) could not be decoded.
///
/// `what` names the field being read, so a log line says which field of which packet
/// was bad without a backtrace.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("{what}: packet ends early")]
    Truncated { what: &'static str },
    #[error("{what}: VarInt longer than 5 bytes")]
    VarIntTooLong { what: &'static str },
    #[error("{what}: VarLong longer than 10 bytes")]
    VarLongTooLong { what: &'static str },
    #[error("{what}: negative length {len}")]
    NegativeLength { what: &'static str, len: i32 },
    #[error("{what}: length {len} exceeds the maximum {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what}: invalid UTF-8")]
    InvalidUtf8 { what: &'static str },
    #[error("{what}: invalid boolean {value}")]
    InvalidBool { what: &'static str, value: u8 },
    #[error("{what}: {count} unexpected trailing bytes")]
    TrailingBytes { what: &'static str, count: usize },
    #[error("{what}: invalid value {value}")]
    InvalidValue { what: &'static str, value: i64 },
    #[error("unknown packet id {id:#04x} in state {state}")]
    UnknownPacket { state: &'static str, id: i32 },
}

/// Cursor over a borrowed, complete packet body.
///
/// Frames are only parsed once fully buffered, so running out of bytes is always an
/// error ([`DecodeError::Truncated`]), never "wait for more".
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Takes exactly `n` bytes or fails without consuming anything.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self
            .buf
            .split_at_checked(n)
            .ok_or(DecodeError::Truncated { what })?;
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let (head, tail) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated { what })?;
        self.buf = tail;
        Ok(*head)
    }

    pub fn varint(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        match peek_varint(self.buf, what)? {
            Some((value, len)) => {
                self.take(len, what)?;
                Ok(value)
            }
            None => Err(DecodeError::Truncated { what }),
        }
    }

    pub fn varlong(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..MAX_VARLONG_LEN {
            let byte = self.u8(what)?;
            // Like the vanilla reader, bits shifted past 64 are dropped rather than
            // rejected; the shift amount itself stays below 64.
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value as i64);
            }
        }
        Err(DecodeError::VarLongTooLong { what })
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let [b] = self.array::<1>(what)?;
        Ok(b)
    }

    pub fn i8(&mut self, what: &'static str) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.array(what)?))
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// A boolean is one byte that must be exactly 0 or 1, as in vanilla.
    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidBool { what, value }),
        }
    }

    /// A UUID is 16 bytes, most significant half first.
    pub fn uuid(&mut self, what: &'static str) -> Result<u128, DecodeError> {
        Ok(u128::from_be_bytes(self.array(what)?))
    }

    /// A VarInt length prefix, checked to be non-negative and at most `max`.
    pub fn length(&mut self, what: &'static str, max: usize) -> Result<usize, DecodeError> {
        let len = self.varint(what)?;
        let len_usize =
            usize::try_from(len).map_err(|_| DecodeError::NegativeLength { what, len })?;
        if len_usize > max {
            return Err(DecodeError::TooLong {
                what,
                len: len_usize,
                max,
            });
        }
        Ok(len_usize)
    }

    /// Minecraft string: VarInt byte length then UTF-8; `max_chars` counts UTF-16 code
    /// units like the vanilla game.
    ///
    /// The byte length is checked (non-negative, at most `max_chars * 3`, the most bytes
    /// `max_chars` UTF-16 units can take in UTF-8) before the data is touched, then the
    /// UTF-8 is validated, then the UTF-16 length is checked.
    pub fn string(&mut self, what: &'static str, max_chars: usize) -> Result<&'a str, DecodeError> {
        let len = self.length(what, max_chars.saturating_mul(3))?;
        let bytes = self.take(len, what)?;
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { what })?;
        let units = utf16_len(s);
        if units > max_chars {
            return Err(DecodeError::TooLong {
                what,
                len: units,
                max: max_chars,
            });
        }
        Ok(s)
    }

    /// VarInt-prefixed byte array of at most `max_len` bytes.
    pub fn byte_array(
        &mut self,
        what: &'static str,
        max_len: usize,
    ) -> Result<&'a [u8], DecodeError> {
        let len = self.length(what, max_len)?;
        self.take(len, what)
    }

    /// Everything not read yet (e.g. a plugin message payload that runs to the end).
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Errors with [`DecodeError::TrailingBytes`] when bytes are left: a packet must be
    /// consumed exactly, otherwise we misread its layout (wrong version?) and must not
    /// act on it.
    pub fn finish(self, what: &'static str) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { what, count }),
        }
    }
}

/// Decodes a VarInt at the start of `buf` without consuming it.
///
/// Returns `Ok(None)` when `buf` ends before the VarInt does (a frame reader then waits
/// for more bytes), and `Ok(Some((value, encoded_len)))` otherwise.
pub fn peek_varint(buf: &[u8], what: &'static str) -> Result<Option<(i32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().take(MAX_VARINT_LEN).enumerate() {
        // Bits of the 5th byte beyond 32 are dropped, as the vanilla reader does; the
        // shift amount (at most 28) never overflows.
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value as i32, i + 1)));
        }
    }
    if buf.len() >= MAX_VARINT_LEN {
        Err(DecodeError::VarIntTooLong { what })
    } else {
        Ok(None)
    }
}

/// Length of `s` in UTF-16 code units, the unit vanilla's string limits count.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

pub fn put_varint(out: &mut Vec<u8>, value: i32) {
    // Negative numbers are sent as their two's complement, so always 5 bytes.
    let mut v = value as u32;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

pub fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut v = value as u64;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Number of bytes [`put_varint`] writes for `value`.
pub fn varint_len(value: i32) -> usize {
    let bits = 32 - (value as u32).leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Writes a length prefix. Lengths come from our own data, which is bounded far below
/// `i32::MAX`; saturating keeps this total instead of panicking on the impossible case.
fn put_len(out: &mut Vec<u8>, len: usize) {
    put_varint(out, i32::try_from(len).unwrap_or(i32::MAX));
}

/// Writes a string as VarInt byte length + UTF-8. The caller keeps it within the limit
/// the receiving side enforces for that field.
pub fn put_string(out: &mut Vec<u8>, s: &str) {
    put_byte_array(out, s.as_bytes());
}

pub fn put_byte_array(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

pub fn put_uuid(out: &mut Vec<u8>, uuid: u128) {
    out.extend_from_slice(&uuid.to_be_bytes());
}

pub fn put_bool(out: &mut Vec<u8>, b: bool) {
    out.push(u8::from(b));
}

pub fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

pub fn put_i64(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARINT_GOLDEN: &[(i32, &[u8])] = &[
        (0, &[0x00]),
        (1, &[0x01]),
        (2, &[0x02]),
        (127, &[0x7f]),
        (128, &[0x80, 0x01]),
        (255, &[0xff, 0x01]),
        (25565, &[0xdd, 0xc7, 0x01]),
        (2097151, &[0xff, 0xff, 0x7f]),
        (2147483647, &[0xff, 0xff, 0xff, 0xff, 0x07]),
        (-1, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        (-2147483648, &[0x80, 0x80, 0x80, 0x80, 0x08]),
    ];

    #[test]
    fn varint_golden_bytes() {
        for &(value, bytes) in VARINT_GOLDEN {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out, bytes, "encoding {value}");
            assert_eq!(varint_len(value), bytes.len(), "length of {value}");

            let mut r = Reader::new(bytes);
            assert_eq!(r.varint("v"), Ok(value), "decoding {value}");
            r.finish("v").unwrap();
            assert_eq!(peek_varint(bytes, "v"), Ok(Some((value, bytes.len()))));
        }
    }

    #[test]
    fn varint_round_trip() {
        for value in [i32::MIN, -300, -1, 0, 1, 300, 16383, 16384, i32::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert!(out.len() <= MAX_VARINT_LEN);
            assert_eq!(Reader::new(&out).varint("v"), Ok(value));
        }
    }

    #[test]
    fn varint_too_long_is_an_error() {
        // Six bytes: the 5th still has its continuation bit.
        let six = [0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert_eq!(
            Reader::new(&six).varint("v"),
            Err(DecodeError::VarIntTooLong { what: "v" })
        );
        // Exactly five bytes, the last one with a continuation bit: no need to see a
        // sixth to know it is invalid.
        let five = [0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            Reader::new(&five).varint("v"),
            Err(DecodeError::VarIntTooLong { what: "v" })
        );
        assert_eq!(
            peek_varint(&five, "v"),
            Err(DecodeError::VarIntTooLong { what: "v" })
        );
    }

    #[test]
    fn varint_truncated() {
        assert_eq!(
            Reader::new(&[]).varint("v"),
            Err(DecodeError::Truncated { what: "v" })
        );
        assert_eq!(
            Reader::new(&[0x80, 0x80]).varint("v"),
            Err(DecodeError::Truncated { what: "v" })
        );
        assert_eq!(peek_varint(&[0x80, 0x80], "v"), Ok(None));
        assert_eq!(peek_varint(&[], "v"), Ok(None));
    }

    #[test]
    fn varlong_round_trip_and_bounds() {
        for value in [
            i64::MIN,
            -1,
            0,
            1,
            127,
            128,
            i64::from(i32::MAX) + 1,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            put_varlong(&mut out, value);
            assert!(out.len() <= MAX_VARLONG_LEN);
            let mut r = Reader::new(&out);
            assert_eq!(r.varlong("v"), Ok(value));
            r.finish("v").unwrap();
        }
        let mut minus_one = Vec::new();
        put_varlong(&mut minus_one, -1);
        assert_eq!(
            minus_one,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );

        let eleven = [0x80u8; 11];
        assert_eq!(
            Reader::new(&eleven).varlong("v"),
            Err(DecodeError::VarLongTooLong { what: "v" })
        );
        assert_eq!(
            Reader::new(&[0x80]).varlong("v"),
            Err(DecodeError::Truncated { what: "v" })
        );
    }

    #[test]
    fn primitives_round_trip() {
        let uuid = 0x8667ba71_b85a_4004_af54_457a9734eed7_u128;
        let mut out = Vec::new();
        out.push(0xab);
        out.push(0xfe); // i8 -2
        put_u16(&mut out, 25565);
        out.extend_from_slice(&(-5i32).to_be_bytes());
        put_i64(&mut out, -42);
        put_bool(&mut out, true);
        put_bool(&mut out, false);
        put_uuid(&mut out, uuid);
        put_string(&mut out, "héllo");
        put_byte_array(&mut out, &[1, 2, 3]);
        out.extend_from_slice(b"tail");

        // UUIDs are big-endian, most significant 64 bits first.
        assert_eq!(
            out[18..34],
            [
                0x86, 0x67, 0xba, 0x71, 0xb8, 0x5a, 0x40, 0x04, 0xaf, 0x54, 0x45, 0x7a, 0x97, 0x34,
                0xee, 0xd7
            ]
        );

        let mut r = Reader::new(&out);
        assert_eq!(r.u8("a"), Ok(0xab));
        assert_eq!(r.i8("b"), Ok(-2));
        assert_eq!(r.u16("c"), Ok(25565));
        assert_eq!(r.i32("d"), Ok(-5));
        assert_eq!(r.i64("e"), Ok(-42));
        assert_eq!(r.bool("f"), Ok(true));
        assert_eq!(r.bool("g"), Ok(false));
        assert_eq!(r.uuid("h"), Ok(uuid));
        assert_eq!(r.string("i", 5), Ok("héllo"));
        assert_eq!(r.byte_array("j", 3), Ok(&[1u8, 2, 3][..]));
        assert_eq!(r.remaining(), 4);
        assert_eq!(
            r.clone().finish("k"),
            Err(DecodeError::TrailingBytes {
                what: "k",
                count: 4
            })
        );
        assert_eq!(r.rest(), b"tail");
        assert_eq!(r.remaining(), 0);
        r.finish("k").unwrap();
    }

    #[test]
    fn fixed_width_truncated() {
        assert_eq!(
            Reader::new(&[1]).u16("p"),
            Err(DecodeError::Truncated { what: "p" })
        );
        assert_eq!(
            Reader::new(&[0; 7]).i64("p"),
            Err(DecodeError::Truncated { what: "p" })
        );
        assert_eq!(
            Reader::new(&[0; 15]).uuid("p"),
            Err(DecodeError::Truncated { what: "p" })
        );
    }

    #[test]
    fn invalid_bool() {
        assert_eq!(
            Reader::new(&[2]).bool("flag"),
            Err(DecodeError::InvalidBool {
                what: "flag",
                value: 2
            })
        );
    }

    #[test]
    fn negative_lengths_rejected() {
        let mut buf = Vec::new();
        put_varint(&mut buf, -1);
        buf.extend_from_slice(b"abc");
        assert_eq!(
            Reader::new(&buf).string("s", 16),
            Err(DecodeError::NegativeLength { what: "s", len: -1 })
        );
        assert_eq!(
            Reader::new(&buf).byte_array("a", 16),
            Err(DecodeError::NegativeLength { what: "a", len: -1 })
        );

        let mut min = Vec::new();
        put_varint(&mut min, i32::MIN);
        assert_eq!(
            Reader::new(&min).byte_array("a", usize::MAX),
            Err(DecodeError::NegativeLength {
                what: "a",
                len: i32::MIN
            })
        );
    }

    #[test]
    fn huge_lengths_rejected_before_reading() {
        // 0x7fffffff with only a few bytes behind it: rejected by the bound, and even
        // with an unbounded maximum only reported as truncated (nothing is allocated:
        // the reader borrows).
        let mut buf = Vec::new();
        put_varint(&mut buf, i32::MAX);
        buf.extend_from_slice(b"abc");
        assert_eq!(
            Reader::new(&buf).string("s", 32767),
            Err(DecodeError::TooLong {
                what: "s",
                len: i32::MAX as usize,
                max: 32767 * 3
            })
        );
        assert_eq!(
            Reader::new(&buf).byte_array("a", 5120),
            Err(DecodeError::TooLong {
                what: "a",
                len: i32::MAX as usize,
                max: 5120
            })
        );
        assert_eq!(
            Reader::new(&buf).byte_array("a", usize::MAX),
            Err(DecodeError::Truncated { what: "a" })
        );
        // A huge max_chars must not overflow the byte bound.
        assert_eq!(
            Reader::new(&buf).string("s", usize::MAX),
            Err(DecodeError::Truncated { what: "s" })
        );
    }

    #[test]
    fn string_limits_count_utf16_units() {
        let enc = |s: &str| {
            let mut out = Vec::new();
            put_string(&mut out, s);
            out
        };
        // 17 ASCII chars: within 16*3 bytes but over 16 units.
        assert_eq!(
            Reader::new(&enc("aaaaaaaaaaaaaaaaa")).string("name", 16),
            Err(DecodeError::TooLong {
                what: "name",
                len: 17,
                max: 16
            })
        );
        // 49 bytes for max 16: rejected on the byte bound before decoding.
        assert_eq!(
            Reader::new(&enc(&"a".repeat(49))).string("name", 16),
            Err(DecodeError::TooLong {
                what: "name",
                len: 49,
                max: 48
            })
        );
        // "€" is 3 UTF-8 bytes but one UTF-16 unit: 16 of them (48 bytes) fit in 16.
        let euros = "€".repeat(16);
        assert_eq!(
            Reader::new(&enc(&euros)).string("name", 16),
            Ok(euros.as_str())
        );
        // An emoji is 4 UTF-8 bytes and two UTF-16 units (a surrogate pair).
        assert_eq!(
            Reader::new(&enc("😀😀")).string("name", 3),
            Err(DecodeError::TooLong {
                what: "name",
                len: 4,
                max: 3
            })
        );
        assert_eq!(Reader::new(&enc("😀😀")).string("name", 4), Ok("😀😀"));
        assert_eq!(Reader::new(&enc("")).string("name", 0), Ok(""));
    }

    #[test]
    fn string_invalid_utf8_and_truncated() {
        assert_eq!(
            Reader::new(&[2, 0xc3, 0x28]).string("s", 16),
            Err(DecodeError::InvalidUtf8 { what: "s" })
        );
        assert_eq!(
            Reader::new(&[5, b'a', b'b']).string("s", 16),
            Err(DecodeError::Truncated { what: "s" })
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            DecodeError::UnknownPacket {
                state: "status",
                id: 5
            }
            .to_string(),
            "unknown packet id 0x05 in state status"
        );
        assert_eq!(
            DecodeError::TooLong {
                what: "server address",
                len: 300,
                max: 255
            }
            .to_string(),
            "server address: length 300 exceeds the maximum 255"
        );
    }
}
