//! The login state: authentication (encryption request/response), compression, plugin
//! queries, cookies and the Login Success that moves the client to configuration.
//!
//! Ids are the same for every supported version (766..775); only [`LoginSuccess`]
//! changes layout (see there).

use super::codec::{
    DecodeError, Reader, put_bool, put_byte_array, put_string, put_uuid, put_varint,
};
use super::frame::{Decode, Encode};
use super::{MAX_IDENTIFIER_CHARS, put_optional_payload, read_optional_payload};

/// Clientbound 0x00: ends the login with a message. Unlike the configuration-state
/// Disconnect, the reason is a JSON text component in a string: the client may not have
/// the registries it needs to read NBT yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginDisconnect {
    pub reason_json: String,
}

impl LoginDisconnect {
    pub const ID: i32 = 0x00;
    /// Vanilla's limit for a JSON component string, in UTF-16 code units.
    pub const MAX_REASON_CHARS: usize = 262_144;

    /// A disconnect showing `text` as is: plain text, no formatting codes parsed.
    pub fn text(text: &str) -> Self {
        Self {
            reason_json: serde_json::json!({ "text": text }).to_string(),
        }
    }
}

impl<'a> Decode<'a> for LoginDisconnect {
    const ID: i32 = LoginDisconnect::ID;
    const NAME: &'static str = "login disconnect";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            reason_json: r
                .string("login disconnect reason", Self::MAX_REASON_CHARS)?
                .to_owned(),
        })
    }
}

impl Encode for LoginDisconnect {
    const ID: i32 = LoginDisconnect::ID;

    /// Writes the JSON as given: the caller keeps it within [`Self::MAX_REASON_CHARS`].
    fn encode_body(&self, out: &mut Vec<u8>) {
        put_string(out, &self.reason_json);
    }
}

/// Clientbound 0x01: starts online-mode authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionRequest {
    /// Salted into the session-server hash; vanilla sends "".
    pub server_id: String,
    /// RSA public key, X.509 SubjectPublicKeyInfo DER (162 bytes for RSA-1024).
    pub public_key: Vec<u8>,
    /// Random bytes the client must send back encrypted (vanilla: 4).
    pub verify_token: Vec<u8>,
    /// Whether the server will check the session with the session server; false for
    /// proxies that authenticate elsewhere.
    pub should_authenticate: bool,
}

impl EncryptionRequest {
    pub const ID: i32 = 0x01;
    pub const MAX_SERVER_ID_CHARS: usize = 20;
    /// Room for an RSA-4096 key; we send RSA-1024 (162 bytes).
    pub const MAX_PUBLIC_KEY_LEN: usize = 1024;
    pub const MAX_VERIFY_TOKEN_LEN: usize = 256;
}

impl<'a> Decode<'a> for EncryptionRequest {
    const ID: i32 = EncryptionRequest::ID;
    const NAME: &'static str = "encryption request";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            server_id: r
                .string("encryption server id", Self::MAX_SERVER_ID_CHARS)?
                .to_owned(),
            public_key: r
                .byte_array("encryption public key", Self::MAX_PUBLIC_KEY_LEN)?
                .to_vec(),
            verify_token: r
                .byte_array("encryption verify token", Self::MAX_VERIFY_TOKEN_LEN)?
                .to_vec(),
            should_authenticate: r.bool("encryption should authenticate")?,
        })
    }
}

impl Encode for EncryptionRequest {
    const ID: i32 = EncryptionRequest::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_string(out, &self.server_id);
        put_byte_array(out, &self.public_key);
        put_byte_array(out, &self.verify_token);
        put_bool(out, self.should_authenticate);
    }
}

/// One game-profile property, e.g. `textures` (base64 skin data signed by Mojang).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub value: String,
    pub signature: Option<String>,
}

impl Property {
    /// Vanilla's limit for each of name, value and signature, in UTF-16 code units.
    pub const MAX_CHARS: usize = 32767;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let name = r.string("property name", Self::MAX_CHARS)?.to_owned();
        let value = r.string("property value", Self::MAX_CHARS)?.to_owned();
        let signature = if r.bool("property has signature")? {
            Some(r.string("property signature", Self::MAX_CHARS)?.to_owned())
        } else {
            None
        };
        Ok(Self {
            name,
            value,
            signature,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_string(out, &self.name);
        put_string(out, &self.value);
        put_bool(out, self.signature.is_some());
        if let Some(signature) = &self.signature {
            put_string(out, signature);
        }
    }
}

/// Clientbound 0x02: the game profile; the client answers with [`LoginAcknowledged`].
///
/// Protocols 766 and 767 (1.20.5 - 1.21.1) end it with a `strict error handling`
/// boolean, later ones do not: `strict_error_handling` is written only when `Some`, and
/// [`Self::for_protocol`] sets it right. The [`Decode`] impl reads the layout of 768 and
/// later; use [`Self::decode_for`] / [`Self::decode_body_for`] when the protocol is
/// known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSuccess {
    pub uuid: u128,
    pub name: String,
    pub properties: Vec<Property>,
    pub strict_error_handling: Option<bool>,
}

impl LoginSuccess {
    pub const ID: i32 = 0x02;
    pub const MAX_NAME_CHARS: usize = 16;
    /// Vanilla allows 16 properties per profile; real profiles have one (`textures`).
    pub const MAX_PROPERTIES: usize = 16;

    /// The packet as `protocol` expects it; strict error handling is requested (as
    /// vanilla does) where the field exists.
    pub fn for_protocol(
        protocol: i32,
        uuid: u128,
        name: String,
        properties: Vec<Property>,
    ) -> Self {
        Self {
            uuid,
            name,
            properties,
            strict_error_handling: Self::has_strict_error_handling(protocol).then_some(true),
        }
    }

    /// Whether `protocol` has the trailing `strict error handling` field: 766 and 767
    /// only (it appeared in 1.20.5 and was removed in 1.21.2).
    pub fn has_strict_error_handling(protocol: i32) -> bool {
        (766..=767).contains(&protocol)
    }

    /// Decodes the layout of `protocol` (see the type docs).
    pub fn decode_for(r: &mut Reader<'_>, protocol: i32) -> Result<Self, DecodeError> {
        let uuid = r.uuid("login success uuid")?;
        let name = r
            .string("login success name", Self::MAX_NAME_CHARS)?
            .to_owned();
        let count = r.length("login success properties", Self::MAX_PROPERTIES)?;
        let mut properties = Vec::with_capacity(count);
        for _ in 0..count {
            properties.push(Property::decode(r)?);
        }
        let strict_error_handling = if Self::has_strict_error_handling(protocol) {
            Some(r.bool("login success strict error handling")?)
        } else {
            None
        };
        Ok(Self {
            uuid,
            name,
            properties,
            strict_error_handling,
        })
    }

    /// [`Self::decode_for`] over a whole body, rejecting trailing bytes.
    pub fn decode_body_for(body: &[u8], protocol: i32) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let packet = Self::decode_for(&mut r, protocol)?;
        r.finish(<Self as Decode>::NAME)?;
        Ok(packet)
    }
}

impl<'a> Decode<'a> for LoginSuccess {
    const ID: i32 = LoginSuccess::ID;
    const NAME: &'static str = "login success";

    /// The layout of protocol 768 and later, without the trailing boolean.
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Self::decode_for(r, 768)
    }
}

impl Encode for LoginSuccess {
    const ID: i32 = LoginSuccess::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_uuid(out, self.uuid);
        put_string(out, &self.name);
        // Bounded by MAX_PROPERTIES in practice; saturating keeps this total.
        put_varint(
            out,
            i32::try_from(self.properties.len()).unwrap_or(i32::MAX),
        );
        for property in &self.properties {
            property.encode(out);
        }
        if let Some(strict) = self.strict_error_handling {
            put_bool(out, strict);
        }
    }
}

/// Clientbound 0x03: from the next frame on, both directions use compressed framing
/// (see `FrameReader::enable_compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetCompression {
    /// Smallest payload that is compressed; negative disables compression.
    pub threshold: i32,
}

impl SetCompression {
    pub const ID: i32 = 0x03;
}

impl<'a> Decode<'a> for SetCompression {
    const ID: i32 = SetCompression::ID;
    const NAME: &'static str = "set compression";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            threshold: r.varint("compression threshold")?,
        })
    }
}

impl Encode for SetCompression {
    const ID: i32 = SetCompression::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_varint(out, self.threshold);
    }
}

/// Longest plugin payload in login queries and answers, as vanilla allows.
pub const MAX_PLUGIN_DATA_LEN: usize = 1_048_576;

/// Reads a payload that runs to the end of the packet, bounded.
fn rest_bounded(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<u8>, DecodeError> {
    let len = r.remaining();
    if len > MAX_PLUGIN_DATA_LEN {
        return Err(DecodeError::TooLong {
            what,
            len,
            max: MAX_PLUGIN_DATA_LEN,
        });
    }
    Ok(r.rest().to_vec())
}

/// Clientbound 0x04: a plugin query (e.g. Velocity modern forwarding); the client
/// answers with a [`LoginPluginResponse`] carrying the same `message_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPluginRequest {
    pub message_id: i32,
    pub channel: String,
    /// Runs to the end of the packet (no length prefix).
    pub data: Vec<u8>,
}

impl LoginPluginRequest {
    pub const ID: i32 = 0x04;
}

impl<'a> Decode<'a> for LoginPluginRequest {
    const ID: i32 = LoginPluginRequest::ID;
    const NAME: &'static str = "login plugin request";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            message_id: r.varint("login plugin message id")?,
            channel: r
                .string("login plugin channel", MAX_IDENTIFIER_CHARS)?
                .to_owned(),
            data: rest_bounded(r, "login plugin data")?,
        })
    }
}

impl Encode for LoginPluginRequest {
    const ID: i32 = LoginPluginRequest::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_varint(out, self.message_id);
        put_string(out, &self.channel);
        out.extend_from_slice(&self.data);
    }
}

/// Clientbound 0x05: asks for a cookie stored earlier (e.g. before a transfer); the
/// client answers with a [`CookieResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieRequest {
    /// An identifier (`namespace:path`).
    pub key: String,
}

impl CookieRequest {
    pub const ID: i32 = 0x05;
}

impl<'a> Decode<'a> for CookieRequest {
    const ID: i32 = CookieRequest::ID;
    const NAME: &'static str = "login cookie request";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            key: r.string("cookie key", MAX_IDENTIFIER_CHARS)?.to_owned(),
        })
    }
}

impl Encode for CookieRequest {
    const ID: i32 = CookieRequest::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_string(out, &self.key);
    }
}

/// Serverbound 0x00: the first login packet, with the name and UUID the client claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginStart {
    pub name: String,
    pub uuid: u128,
}

impl LoginStart {
    pub const ID: i32 = 0x00;
    pub const MAX_NAME_CHARS: usize = 16;
}

impl<'a> Decode<'a> for LoginStart {
    const ID: i32 = LoginStart::ID;
    const NAME: &'static str = "login start";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r
                .string("login start name", Self::MAX_NAME_CHARS)?
                .to_owned(),
            uuid: r.uuid("login start uuid")?,
        })
    }
}

impl Encode for LoginStart {
    const ID: i32 = LoginStart::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_string(out, &self.name);
        put_uuid(out, self.uuid);
    }
}

/// Serverbound 0x01: the shared secret and our verify token, both RSA-encrypted with
/// our public key (PKCS#1 v1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionResponse {
    pub shared_secret: Vec<u8>,
    pub verify_token: Vec<u8>,
}

impl EncryptionResponse {
    pub const ID: i32 = 0x01;
    /// An RSA-1024 ciphertext is 128 bytes; 256 leaves room for RSA-2048 and no more.
    pub const MAX_LEN: usize = 256;
}

impl<'a> Decode<'a> for EncryptionResponse {
    const ID: i32 = EncryptionResponse::ID;
    const NAME: &'static str = "encryption response";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            shared_secret: r
                .byte_array("encrypted shared secret", Self::MAX_LEN)?
                .to_vec(),
            verify_token: r
                .byte_array("encrypted verify token", Self::MAX_LEN)?
                .to_vec(),
        })
    }
}

impl Encode for EncryptionResponse {
    const ID: i32 = EncryptionResponse::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_byte_array(out, &self.shared_secret);
        put_byte_array(out, &self.verify_token);
    }
}

/// Serverbound 0x02: the answer to a [`LoginPluginRequest`]; `data` is `None` when the
/// client does not know the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPluginResponse {
    pub message_id: i32,
    /// Runs to the end of the packet (no length prefix) when present.
    pub data: Option<Vec<u8>>,
}

impl LoginPluginResponse {
    pub const ID: i32 = 0x02;
}

impl<'a> Decode<'a> for LoginPluginResponse {
    const ID: i32 = LoginPluginResponse::ID;
    const NAME: &'static str = "login plugin response";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let message_id = r.varint("login plugin message id")?;
        let data = if r.bool("login plugin understood")? {
            Some(rest_bounded(r, "login plugin data")?)
        } else {
            None
        };
        Ok(Self { message_id, data })
    }
}

impl Encode for LoginPluginResponse {
    const ID: i32 = LoginPluginResponse::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_varint(out, self.message_id);
        put_bool(out, self.data.is_some());
        if let Some(data) = &self.data {
            out.extend_from_slice(data);
        }
    }
}

/// Serverbound 0x03: the client got [`LoginSuccess`] and is now in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginAcknowledged;

impl LoginAcknowledged {
    pub const ID: i32 = 0x03;
}

impl<'a> Decode<'a> for LoginAcknowledged {
    const ID: i32 = LoginAcknowledged::ID;
    const NAME: &'static str = "login acknowledged";

    fn decode(_r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self)
    }
}

impl Encode for LoginAcknowledged {
    const ID: i32 = LoginAcknowledged::ID;

    fn encode_body(&self, _out: &mut Vec<u8>) {}
}

/// Serverbound 0x04: the answer to a [`CookieRequest`]; `payload` is `None` when the
/// client has no cookie under that key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieResponse {
    pub key: String,
    pub payload: Option<Vec<u8>>,
}

impl CookieResponse {
    pub const ID: i32 = 0x04;
}

impl<'a> Decode<'a> for CookieResponse {
    const ID: i32 = CookieResponse::ID;
    const NAME: &'static str = "login cookie response";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            key: r.string("cookie key", MAX_IDENTIFIER_CHARS)?.to_owned(),
            payload: read_optional_payload(r)?,
        })
    }
}

impl Encode for CookieResponse {
    const ID: i32 = CookieResponse::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_string(out, &self.key);
        put_optional_payload(out, self.payload.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::encode_frame;
    use super::super::test_util::{body_of, round_trip};
    use super::*;

    /// 8667ba71-b85a-4004-af54-457a9734eed7.
    const UUID: u128 = 0x8667ba71_b85a_4004_af54_457a9734eed7;
    const UUID_BYTES: [u8; 16] = [
        0x86, 0x67, 0xba, 0x71, 0xb8, 0x5a, 0x40, 0x04, 0xaf, 0x54, 0x45, 0x7a, 0x97, 0x34, 0xee,
        0xd7,
    ];

    fn textures() -> Property {
        Property {
            name: "textures".to_owned(),
            value: "ewogICJ0aW1lc3RhbXAiIDog".to_owned(),
            signature: Some("c2lnbmF0dXJl".to_owned()),
        }
    }

    #[test]
    fn login_start_golden() {
        let packet = LoginStart {
            name: "Steve".to_owned(),
            uuid: UUID,
        };
        let mut want = vec![0x17, 0x00, 0x05, b'S', b't', b'e', b'v', b'e'];
        want.extend_from_slice(&UUID_BYTES);
        assert_eq!(encode_frame(&packet), want);
        round_trip(&packet);
    }

    #[test]
    fn encryption_request_golden() {
        let packet = EncryptionRequest {
            server_id: String::new(),
            public_key: vec![0x30, 0x81, 0x9f],
            verify_token: vec![1, 2, 3, 4],
            should_authenticate: true,
        };
        assert_eq!(
            encode_frame(&packet),
            [
                0x0c, 0x01, // length, id
                0x00, // server id ""
                0x03, 0x30, 0x81, 0x9f, // public key
                0x04, 1, 2, 3, 4,    // verify token
                0x01, // should authenticate
            ]
        );
        round_trip(&packet);

        let mut long_id = Vec::new();
        EncryptionRequest {
            server_id: "x".repeat(21),
            ..packet
        }
        .encode_body(&mut long_id);
        assert!(matches!(
            EncryptionRequest::decode_body(&long_id),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn login_success_per_protocol() {
        let for_767 = LoginSuccess::for_protocol(767, UUID, "Steve".to_owned(), vec![]);
        let for_768 = LoginSuccess::for_protocol(768, UUID, "Steve".to_owned(), vec![]);
        assert_eq!(for_767.strict_error_handling, Some(true));
        assert_eq!(for_768.strict_error_handling, None);
        for protocol in [766, 767] {
            assert!(LoginSuccess::has_strict_error_handling(protocol));
        }
        for protocol in [765, 768, 769, 775] {
            assert!(!LoginSuccess::has_strict_error_handling(protocol));
        }

        // uuid, "Steve", 0 properties, then (767 only) strict error handling = true.
        let mut body_768 = UUID_BYTES.to_vec();
        body_768.extend_from_slice(&[0x05, b'S', b't', b'e', b'v', b'e', 0x00]);
        let mut body_767 = body_768.clone();
        body_767.push(0x01);
        assert_eq!(body_of(&for_767), body_767);
        assert_eq!(body_of(&for_768), body_768);
        assert_eq!(encode_frame(&for_767).first(), Some(&25));
        assert_eq!(encode_frame(&for_768).first(), Some(&24));

        assert_eq!(LoginSuccess::decode_body_for(&body_767, 767), Ok(for_767));
        assert_eq!(
            LoginSuccess::decode_body_for(&body_767, 766)
                .unwrap()
                .strict_error_handling,
            Some(true)
        );
        assert_eq!(
            LoginSuccess::decode_body_for(&body_768, 768),
            Ok(for_768.clone())
        );
        assert_eq!(LoginSuccess::decode_body(&body_768), Ok(for_768));
        // The wrong layout for the protocol is caught, not misread.
        assert!(matches!(
            LoginSuccess::decode_body_for(&body_767, 768),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
        assert!(matches!(
            LoginSuccess::decode_body_for(&body_768, 767),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn login_success_with_properties() {
        let unsigned = Property {
            name: "x".to_owned(),
            value: "y".repeat(Property::MAX_CHARS),
            signature: None,
        };
        let packet = LoginSuccess::for_protocol(
            775,
            UUID,
            "Alex_123".to_owned(),
            vec![textures(), unsigned],
        );
        round_trip(&packet);
        let body = body_of(&packet);
        // After uuid and name: count 2, "textures", value, has signature, signature.
        assert_eq!(body.get(25..27), Some(&[0x02, 0x08][..]));
        for protocol in [766, 767] {
            let packet = LoginSuccess::for_protocol(protocol, 1, "a".to_owned(), vec![textures()]);
            assert_eq!(
                LoginSuccess::decode_body_for(&body_of(&packet), protocol),
                Ok(packet)
            );
        }

        let mut too_many = LoginSuccess::for_protocol(768, UUID, "Steve".to_owned(), vec![]);
        too_many.properties = vec![textures(); LoginSuccess::MAX_PROPERTIES + 1];
        assert!(matches!(
            LoginSuccess::decode_body(&body_of(&too_many)),
            Err(DecodeError::TooLong {
                len: 17,
                max: 16,
                ..
            })
        ));
        // A huge count with nothing behind it is refused on the bound.
        let mut huge = UUID_BYTES.to_vec();
        huge.extend_from_slice(&[0x01, b'a', 0xff, 0xff, 0xff, 0xff, 0x07]);
        assert!(matches!(
            LoginSuccess::decode_body(&huge),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn clientbound_round_trips() {
        round_trip(&LoginDisconnect::text("Bye \"you\" ☃"));
        assert_eq!(
            LoginDisconnect::text("a\"b").reason_json,
            r#"{"text":"a\"b"}"#
        );
        round_trip(&LoginDisconnect {
            reason_json: "x".repeat(LoginDisconnect::MAX_REASON_CHARS),
        });
        round_trip(&SetCompression { threshold: 256 });
        round_trip(&SetCompression { threshold: -1 });
        assert_eq!(
            encode_frame(&SetCompression { threshold: 256 }),
            [0x03, 0x03, 0x80, 0x02]
        );
        round_trip(&LoginPluginRequest {
            message_id: 7,
            channel: "velocity:player_info".to_owned(),
            data: vec![1, 2, 3],
        });
        round_trip(&LoginPluginRequest {
            message_id: -1,
            channel: String::new(),
            data: vec![],
        });
        round_trip(&CookieRequest {
            key: "passage:session".to_owned(),
        });
        assert_eq!(
            encode_frame(&CookieRequest {
                key: "a:b".to_owned()
            }),
            [0x05, 0x05, 0x03, b'a', b':', b'b']
        );
    }

    #[test]
    fn serverbound_round_trips() {
        round_trip(&EncryptionResponse {
            shared_secret: vec![0xaa; 128],
            verify_token: vec![0xbb; 128],
        });
        round_trip(&LoginPluginResponse {
            message_id: 7,
            data: Some(vec![9; 100]),
        });
        round_trip(&LoginPluginResponse {
            message_id: 8,
            data: Some(vec![]),
        });
        round_trip(&LoginPluginResponse {
            message_id: 9,
            data: None,
        });
        round_trip(&LoginAcknowledged);
        assert_eq!(encode_frame(&LoginAcknowledged), [0x01, 0x03]);
        round_trip(&CookieResponse {
            key: "passage:session".to_owned(),
            payload: Some(vec![0x5a; super::super::MAX_COOKIE_LEN]),
        });
        round_trip(&CookieResponse {
            key: "passage:session".to_owned(),
            payload: None,
        });
        assert_eq!(
            encode_frame(&CookieResponse {
                key: "a:b".to_owned(),
                payload: Some(vec![7])
            }),
            [0x08, 0x04, 0x03, b'a', b':', b'b', 0x01, 0x01, 0x07]
        );
    }

    #[test]
    fn serverbound_bounds() {
        let mut body = Vec::new();
        EncryptionResponse {
            shared_secret: vec![0; EncryptionResponse::MAX_LEN + 1],
            verify_token: vec![],
        }
        .encode_body(&mut body);
        assert!(matches!(
            EncryptionResponse::decode_body(&body),
            Err(DecodeError::TooLong {
                len: 257,
                max: 256,
                ..
            })
        ));

        let mut body = Vec::new();
        LoginStart {
            name: "a".repeat(17),
            uuid: 0,
        }
        .encode_body(&mut body);
        assert!(matches!(
            LoginStart::decode_body(&body),
            Err(DecodeError::TooLong {
                len: 17,
                max: 16,
                ..
            })
        ));

        let mut body = Vec::new();
        LoginPluginResponse {
            message_id: 1,
            data: Some(vec![0; MAX_PLUGIN_DATA_LEN + 1]),
        }
        .encode_body(&mut body);
        assert!(matches!(
            LoginPluginResponse::decode_body(&body),
            Err(DecodeError::TooLong { .. })
        ));
        // Not-understood answers carry nothing after the flag.
        assert!(matches!(
            LoginPluginResponse::decode_body(&[0x01, 0x00, 0x05]),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
        assert!(matches!(
            LoginPluginResponse::decode_body(&[0x01, 0x02]),
            Err(DecodeError::InvalidBool { value: 2, .. })
        ));

        let mut body = Vec::new();
        CookieResponse {
            key: "a:b".to_owned(),
            payload: Some(vec![0; super::super::MAX_COOKIE_LEN + 1]),
        }
        .encode_body(&mut body);
        assert!(matches!(
            CookieResponse::decode_body(&body),
            Err(DecodeError::TooLong {
                len: 5121,
                max: 5120,
                ..
            })
        ));

        // Truncated anywhere: an error, never a panic.
        let body = body_of(&LoginStart {
            name: "Steve".to_owned(),
            uuid: UUID,
        });
        for cut in 0..body.len() {
            assert!(matches!(
                LoginStart::decode_body(body.get(..cut).unwrap()),
                Err(DecodeError::Truncated { .. })
            ));
        }
        assert!(matches!(
            LoginAcknowledged::decode_body(&[0]),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }
}
