//! The pre-1.7 server list ping: spotting it and answering with a legacy kick packet.
//!
//! Clients from 1.4 to 1.6 open with the byte 0xFE (1.6 adds `01 FA` and a plugin
//! message, 1.4-1.5 just `01`) instead of a length-prefixed handshake; newer clients
//! fall back to it when the modern ping fails. The answer is a kick packet:
//!
//! ```text
//! 0xFF                       packet id
//! u16 (big-endian)           length of the string in UTF-16 code units
//! UTF-16BE string            "§1\0{protocol}\0{version}\0{motd}\0{online}\0{max}"
//! ```
//!
//! `\0` is U+0000 separating the fields. The string is never longer than
//! [`MAX_LEGACY_KICK_CHARS`]: 1.4-1.6 clients read the kick reason with a 256-unit
//! limit and drop the connection on anything longer. Clients older than 1.4 expect a
//! different ("motd§online§max") format and will show this one garbled; they are long
//! unsupported.

use super::codec::utf16_len;

/// First byte of a legacy server list ping.
pub const LEGACY_PING: u8 = 0xFE;
/// Packet id of the legacy kick that carries the answer.
pub const LEGACY_KICK: u8 = 0xFF;
/// Longest reason string (UTF-16 code units) a 1.4-1.6 client accepts.
pub const MAX_LEGACY_KICK_CHARS: usize = 256;
/// The version name is shown in a small slot; capping it leaves the rest for the MOTD.
const MAX_VERSION_CHARS: usize = 64;

/// Builds the complete legacy kick answering a legacy ping (see the module docs).
///
/// `motd` is plain text (legacy `§` colour codes allowed, not JSON). NULs in
/// `version_name` and `motd` are dropped since they separate fields. The version name is
/// cut to 64 units and the MOTD to whatever fits in [`MAX_LEGACY_KICK_CHARS`].
pub fn legacy_kick(
    protocol: i32,
    version_name: &str,
    motd: &str,
    online: i64,
    max: i64,
) -> Vec<u8> {
    let version: String = version_name.chars().filter(|&c| c != '\0').collect();
    let motd: String = motd.chars().filter(|&c| c != '\0').collect();

    // Everything except the two free-text fields; the numbers are at most 20 units each,
    // so this leaves ample room.
    let fixed = utf16_len(&format!("§1\0{protocol}\0\0\0{online}\0{max}"));
    let budget = MAX_LEGACY_KICK_CHARS.saturating_sub(fixed);
    let version = truncate_utf16(&version, budget.min(MAX_VERSION_CHARS));
    let motd = truncate_utf16(&motd, budget.saturating_sub(utf16_len(version)));

    let reason = format!("§1\0{protocol}\0{version}\0{motd}\0{online}\0{max}");
    let units: Vec<u16> = reason.encode_utf16().collect();
    // At most MAX_LEGACY_KICK_CHARS by construction; saturate rather than assume.
    let len = u16::try_from(units.len()).unwrap_or(u16::MAX);

    let mut out = Vec::with_capacity(3 + 2 * units.len());
    out.push(LEGACY_KICK);
    out.extend_from_slice(&len.to_be_bytes());
    for unit in units {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// Longest prefix of `s` with at most `max` UTF-16 code units, never splitting a
/// character (so never half a surrogate pair).
fn truncate_utf16(s: &str, max: usize) -> &str {
    let mut units = 0;
    for (at, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max {
            return s.get(..at).unwrap_or_default();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a kick back to its string, checking the declared length.
    fn reason(kick: &[u8]) -> String {
        let (&[id, hi, lo], rest) = kick.split_first_chunk::<3>().unwrap();
        assert_eq!(id, 0xff);
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        assert_eq!(rest.len() % 2, 0);
        assert_eq!(usize::from(u16::from_be_bytes([hi, lo])), units.len());
        String::from_utf16(&units).unwrap()
    }

    #[test]
    fn golden_bytes() {
        let kick = legacy_kick(127, "1.21", "A", 1, 20);
        // "§1\0127\01.21\0A\01\020" is 18 UTF-16 units.
        let want: &[u8] = &[
            0xff, 0x00, 0x12, // id, length 18
            0x00, 0xa7, 0x00, b'1', 0x00, 0x00, // "§1\0"
            0x00, b'1', 0x00, b'2', 0x00, b'7', 0x00, 0x00, // "127\0"
            0x00, b'1', 0x00, b'.', 0x00, b'2', 0x00, b'1', 0x00, 0x00, // "1.21\0"
            0x00, b'A', 0x00, 0x00, // "A\0"
            0x00, b'1', 0x00, 0x00, // "1\0"
            0x00, b'2', 0x00, b'0', // "20"
        ];
        assert_eq!(kick, want);
    }

    #[test]
    fn fields_round_trip() {
        let kick = legacy_kick(-1, "Passage 1.20.5+", "§aWelcome ☃ 😀", 0, -5);
        assert_eq!(
            reason(&kick),
            "§1\x00-1\x00Passage 1.20.5+\x00§aWelcome ☃ 😀\x000\x00-5"
        );
    }

    #[test]
    fn long_fields_are_truncated() {
        let motd = "m".repeat(1000);
        let version = "v".repeat(1000);
        let kick = legacy_kick(i32::MIN, &version, &motd, i64::MIN, i64::MAX);
        let text = reason(&kick);
        assert_eq!(text.encode_utf16().count(), MAX_LEGACY_KICK_CHARS);
        let fields: Vec<&str> = text.split('\0').collect();
        assert_eq!(fields.len(), 6);
        assert_eq!(fields[1], i32::MIN.to_string());
        assert_eq!(fields[2], "v".repeat(MAX_VERSION_CHARS));
        assert!(fields[3].chars().all(|c| c == 'm'));
        assert_eq!(fields[4], i64::MIN.to_string());
        assert_eq!(fields[5], i64::MAX.to_string());
    }

    #[test]
    fn truncation_keeps_surrogate_pairs_whole() {
        let motd = "😀".repeat(200);
        let text = reason(&legacy_kick(5, "1", &motd, 1, 2));
        assert!(text.encode_utf16().count() <= MAX_LEGACY_KICK_CHARS);
        assert_eq!(truncate_utf16("a😀", 2), "a");
        assert_eq!(truncate_utf16("a😀", 3), "a😀");
        assert_eq!(truncate_utf16("abc", 0), "");
    }

    #[test]
    fn nuls_cannot_forge_fields() {
        let text = reason(&legacy_kick(5, "1\0x", "a\0b", 1, 2));
        assert_eq!(text, "§1\x005\x001x\0ab\x001\x002");
    }
}
