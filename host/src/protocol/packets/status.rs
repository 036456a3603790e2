//! The status state (server list ping): status request/response and ping/pong.

use super::codec::{DecodeError, Reader, put_i64, put_string};
use super::frame::{Decode, Encode};

/// Serverbound 0x00: asks for the server list entry. Has no fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusRequest;

impl StatusRequest {
    pub const ID: i32 = 0x00;
}

impl<'a> Decode<'a> for StatusRequest {
    const ID: i32 = StatusRequest::ID;
    const NAME: &'static str = "status request";

    fn decode(_r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self)
    }
}

impl Encode for StatusRequest {
    const ID: i32 = StatusRequest::ID;

    fn encode_body(&self, _out: &mut Vec<u8>) {}
}

/// Serverbound 0x01: the client measures latency with an opaque payload we echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingRequest {
    pub payload: i64,
}

impl PingRequest {
    pub const ID: i32 = 0x01;
}

impl<'a> Decode<'a> for PingRequest {
    const ID: i32 = PingRequest::ID;
    const NAME: &'static str = "ping request";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            payload: r.i64("ping payload")?,
        })
    }
}

impl Encode for PingRequest {
    const ID: i32 = PingRequest::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_i64(out, self.payload);
    }
}

/// Clientbound 0x00: the server list entry as JSON (version, players, description,
/// favicon...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse {
    pub json: String,
}

impl StatusResponse {
    pub const ID: i32 = 0x00;
    /// The client rejects a longer response (in UTF-16 code units); a large favicon is
    /// what usually hits it.
    pub const MAX_JSON_CHARS: usize = 32767;
}

impl<'a> Decode<'a> for StatusResponse {
    const ID: i32 = StatusResponse::ID;
    const NAME: &'static str = "status response";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            json: r.string("status json", Self::MAX_JSON_CHARS)?.to_owned(),
        })
    }
}

impl Encode for StatusResponse {
    const ID: i32 = StatusResponse::ID;

    /// Writes the JSON as given: the caller keeps it within [`Self::MAX_JSON_CHARS`].
    fn encode_body(&self, out: &mut Vec<u8>) {
        put_string(out, &self.json);
    }
}

/// Clientbound 0x01: echoes the [`PingRequest`] payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PongResponse {
    pub payload: i64,
}

impl PongResponse {
    pub const ID: i32 = 0x01;
}

impl<'a> Decode<'a> for PongResponse {
    const ID: i32 = PongResponse::ID;
    const NAME: &'static str = "pong response";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            payload: r.i64("pong payload")?,
        })
    }
}

impl Encode for PongResponse {
    const ID: i32 = PongResponse::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_i64(out, self.payload);
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use super::super::frame::{FrameReader, VANILLA_MAX_FRAME_LEN, encode_frame, split_id};
    use super::*;

    /// Encodes a packet to a frame, reads it back through a `FrameReader` and decodes it.
    async fn round_trip<P>(packet: &P)
    where
        P: Encode + for<'a> Decode<'a> + PartialEq + Debug,
    {
        let bytes = encode_frame(packet);
        let mut reader = FrameReader::new(VANILLA_MAX_FRAME_LEN);
        let frame = reader.next_frame(&mut &bytes[..]).await.unwrap().unwrap();
        let (id, body) = split_id(&frame).unwrap();
        assert_eq!(id, <P as Encode>::ID);
        assert_eq!(id, <P as Decode>::ID);
        assert_eq!(&P::decode_body(body).unwrap(), packet);
    }

    #[tokio::test]
    async fn round_trips() {
        round_trip(&StatusRequest).await;
        round_trip(&PingRequest { payload: -1 }).await;
        round_trip(&PingRequest { payload: i64::MAX }).await;
        round_trip(&PongResponse {
            payload: 1_700_000_000_123,
        })
        .await;
        round_trip(&StatusResponse {
            json: r#"{"version":{"name":"1.21.4","protocol":769},"description":{"text":"§aHi ☃"}}"#
                .to_owned(),
        })
        .await;
        round_trip(&StatusResponse {
            json: "x".repeat(StatusResponse::MAX_JSON_CHARS),
        })
        .await;
    }

    #[test]
    fn golden_bytes() {
        assert_eq!(encode_frame(&StatusRequest), [0x01, 0x00]);
        assert_eq!(
            encode_frame(&PingRequest {
                payload: 0x0102030405060708
            }),
            [0x09, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(
            encode_frame(&PongResponse { payload: -2 }),
            [0x09, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]
        );
        assert_eq!(
            encode_frame(&StatusResponse {
                json: "{}".to_owned()
            }),
            [0x04, 0x00, 0x02, b'{', b'}']
        );
    }

    #[test]
    fn malformed_bodies() {
        assert_eq!(
            StatusRequest::decode_body(&[0]),
            Err(DecodeError::TrailingBytes {
                what: "status request",
                count: 1
            })
        );
        assert_eq!(
            PingRequest::decode_body(&[0; 7]),
            Err(DecodeError::Truncated {
                what: "ping payload"
            })
        );
        assert_eq!(
            PingRequest::decode_body(&[0; 9]),
            Err(DecodeError::TrailingBytes {
                what: "ping request",
                count: 1
            })
        );

        let mut too_long = Vec::new();
        StatusResponse {
            json: "x".repeat(StatusResponse::MAX_JSON_CHARS + 1),
        }
        .encode_body(&mut too_long);
        assert_eq!(
            StatusResponse::decode_body(&too_long),
            Err(DecodeError::TooLong {
                what: "status json",
                len: StatusResponse::MAX_JSON_CHARS + 1,
                max: StatusResponse::MAX_JSON_CHARS
            })
        );
    }
}
