//! The handshaking state's one packet: the client's Handshake, which picks the next state.

use super::codec::{DecodeError, Reader, put_string, put_u16, put_varint};
use super::frame::{Decode, Encode};

/// What the client wants to do next; decides the state after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Intent {
    Status = 1,
    Login = 2,
    /// Login after a Transfer packet (1.20.5+): the client may carry our cookies.
    Transfer = 3,
}

impl TryFrom<i32> for Intent {
    type Error = DecodeError;

    fn try_from(value: i32) -> Result<Self, DecodeError> {
        match value {
            1 => Ok(Self::Status),
            2 => Ok(Self::Login),
            3 => Ok(Self::Transfer),
            _ => Err(DecodeError::InvalidValue {
                what: "handshake intent",
                value: i64::from(value),
            }),
        }
    }
}

impl From<Intent> for i32 {
    fn from(intent: Intent) -> i32 {
        intent as i32
    }
}

/// Serverbound 0x00 in the handshaking state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Protocol version of the client (767 for 1.21.1, ...).
    pub protocol: i32,
    /// Host name the client typed, as sent (see [`Self::normalized_address`]).
    pub server_address: String,
    pub server_port: u16,
    pub intent: Intent,
}

impl Handshake {
    pub const ID: i32 = 0x00;
    /// Vanilla's limit for the address, in UTF-16 code units.
    pub const MAX_ADDRESS_CHARS: usize = 255;

    /// The address for routing decisions: anything from the first NUL dropped (Forge
    /// appends "\0FML\0", "\0FML2\0"...; proxies put forwarding data there), one trailing
    /// dot of a fully qualified name removed, and lower-cased since DNS names are
    /// case-insensitive.
    pub fn normalized_address(&self) -> String {
        let host = self
            .server_address
            .split_once('\0')
            .map_or(self.server_address.as_str(), |(host, _)| host);
        let host = host.strip_suffix('.').unwrap_or(host);
        host.to_lowercase()
    }
}

impl<'a> Decode<'a> for Handshake {
    const ID: i32 = Handshake::ID;
    const NAME: &'static str = "handshake";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let protocol = r.varint("handshake protocol version")?;
        let server_address = r
            .string("handshake server address", Self::MAX_ADDRESS_CHARS)?
            .to_owned();
        let server_port = r.u16("handshake server port")?;
        let intent = Intent::try_from(r.varint("handshake intent")?)?;
        Ok(Self {
            protocol,
            server_address,
            server_port,
            intent,
        })
    }
}

/// For test clients and load generators.
impl Encode for Handshake {
    const ID: i32 = Handshake::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_varint(out, self.protocol);
        put_string(out, &self.server_address);
        put_u16(out, self.server_port);
        put_varint(out, self.intent.into());
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::{encode_frame, split_id};
    use super::*;

    fn handshake(address: &str, intent: Intent) -> Handshake {
        Handshake {
            protocol: 767,
            server_address: address.to_owned(),
            server_port: 25565,
            intent,
        }
    }

    /// Built by hand from the layout: length 16, id 0x00, VarInt 767 (0x2ff: low seven
    /// bits 0x7f with the continuation bit, then 0x05), string length 9 + "localhost",
    /// u16 25565 (0x63dd) big-endian, VarInt intent 1.
    const GOLDEN: &[u8] = &[
        0x10, 0x00, 0xff, 0x05, 0x09, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x68, 0x6f, 0x73, 0x74, 0x63,
        0xdd, 0x01,
    ];

    #[test]
    fn golden_frame() {
        let packet = handshake("localhost", Intent::Status);
        assert_eq!(encode_frame(&packet), GOLDEN);

        let (id, body) = split_id(&GOLDEN[1..]).unwrap();
        assert_eq!(id, Handshake::ID);
        assert_eq!(Handshake::decode_body(body), Ok(packet));
    }

    #[test]
    fn round_trip_every_intent() {
        for intent in [Intent::Status, Intent::Login, Intent::Transfer] {
            let packet = Handshake {
                protocol: 775,
                server_address: "Play.Example.COM.\0FML3\0".to_owned(),
                server_port: 1,
                intent,
            };
            let frame = encode_frame(&packet);
            let (id, body) = split_id(frame.get(1..).unwrap()).unwrap();
            assert_eq!(id, 0);
            assert_eq!(Handshake::decode_body(body), Ok(packet));
        }
    }

    #[test]
    fn invalid_intent() {
        for bad in [0, 4, -1, i32::MAX] {
            let mut body = Vec::new();
            put_varint(&mut body, 767);
            put_string(&mut body, "localhost");
            put_u16(&mut body, 25565);
            put_varint(&mut body, bad);
            assert_eq!(
                Handshake::decode_body(&body),
                Err(DecodeError::InvalidValue {
                    what: "handshake intent",
                    value: i64::from(bad)
                })
            );
        }
    }

    #[test]
    fn address_limit() {
        let ok = handshake(&"a".repeat(255), Intent::Login);
        let frame = encode_frame(&ok);
        let (_, body) = split_id(frame.get(2..).unwrap()).unwrap();
        assert_eq!(Handshake::decode_body(body), Ok(ok));

        let mut body = Vec::new();
        handshake(&"a".repeat(256), Intent::Login).encode_body(&mut body);
        assert_eq!(
            Handshake::decode_body(&body),
            Err(DecodeError::TooLong {
                what: "handshake server address",
                len: 256,
                max: 255
            })
        );
    }

    #[test]
    fn truncated_and_trailing() {
        let body = GOLDEN.get(2..).unwrap();
        for cut in 0..body.len() {
            assert!(
                matches!(
                    Handshake::decode_body(body.get(..cut).unwrap()),
                    Err(DecodeError::Truncated { .. })
                ),
                "cut at {cut}"
            );
        }
        let mut long = body.to_vec();
        long.push(0);
        assert_eq!(
            Handshake::decode_body(&long),
            Err(DecodeError::TrailingBytes {
                what: "handshake",
                count: 1
            })
        );
    }

    #[test]
    fn normalized_address() {
        let cases = [
            ("localhost", "localhost"),
            ("Play.Example.COM", "play.example.com"),
            ("play.example.com.", "play.example.com"),
            ("play.example.com\0FML\0", "play.example.com"),
            ("Play.Example.com.\0FML3\0", "play.example.com"),
            ("hub.example.com\u{0}10.0.0.1\u{0}uuid", "hub.example.com"),
            ("", ""),
            (".", ""),
            ("\0FML\0", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(
                handshake(raw, Intent::Status).normalized_address(),
                want,
                "{raw:?}"
            );
        }
    }
}
