//! The configuration-state packets a transfer router uses: cookies, resource packs,
//! keep-alive, disconnect, finish, the client's settings, the dialog a waiting
//! player sees and the Transfer itself.
//!
//! Ids are the same for every supported version (766..775); only
//! [`ClientInformation`] changes layout (see there), and the dialogs exist from
//! 1.21.6 on ([`ShowDialog::SINCE_PROTOCOL`]).

use serde_json::Value;

use super::codec::{
    DecodeError, Reader, put_bool, put_byte_array, put_i64, put_string, put_uuid, put_varint,
};
use super::frame::{Decode, Encode};
use super::nbt;
use super::{MAX_COOKIE_LEN, MAX_IDENTIFIER_CHARS, put_optional_payload, read_optional_payload};

/// Clientbound 0x00: asks for a cookie stored earlier; the client answers with a
/// [`CookieResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieRequest {
    /// An identifier (`namespace:path`).
    pub key: String,
}

impl CookieRequest {
    pub const ID: i32 = 0x00;
}

impl<'a> Decode<'a> for CookieRequest {
    const ID: i32 = CookieRequest::ID;
    const NAME: &'static str = "configuration cookie request";

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

/// Clientbound 0x02: ends the connection with a message. The reason is a text component
/// in network NBT (see [`nbt`]), unlike the JSON string of the login Disconnect.
///
/// Decoding reads the NBT back as JSON ([`nbt::read_text_component`]), so a round trip
/// gives the same component up to that mapping (plain strings in `extra` come back as
/// `{"text": ...}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigDisconnect {
    pub reason: Value,
}

impl ConfigDisconnect {
    pub const ID: i32 = 0x02;

    /// A disconnect showing `text` as is.
    pub fn text(text: &str) -> Self {
        Self {
            reason: Value::String(text.to_owned()),
        }
    }
}

impl<'a> Decode<'a> for ConfigDisconnect {
    const ID: i32 = ConfigDisconnect::ID;
    const NAME: &'static str = "configuration disconnect";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            reason: nbt::read_text_component(r)?,
        })
    }
}

impl Encode for ConfigDisconnect {
    const ID: i32 = ConfigDisconnect::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        nbt::put_text_component(out, &self.reason);
    }
}

/// Clientbound 0x12 (1.21.6+): shows a notice dialog over the "Joining world"
/// screen, replacing any dialog shown before (that is how it is updated).
///
/// In configuration the body is the dialog itself as nameless network NBT — no
/// registry holder in front, as play has. The notice cannot be closed (no Escape,
/// its one button does nothing: `after_action: "none"`, which the game accepts only
/// with `pause: 0b`), so the player cannot dismiss it into a screen that no longer
/// reacts to a Disconnect; [`ClearDialog`] takes it away.
#[derive(Debug, Clone, PartialEq)]
pub struct ShowDialog {
    pub title: Value,
    /// One `minecraft:plain_message` line per component.
    pub body: Vec<Value>,
    /// The label of the button.
    pub button: Value,
}

impl ShowDialog {
    pub const ID: i32 = 0x12;
    /// The first protocol whose configuration state has dialogs (1.21.6).
    pub const SINCE_PROTOCOL: i32 = 771;
}

impl Encode for ShowDialog {
    const ID: i32 = ShowDialog::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        let mut dialog = nbt::CompoundWriter::root(out);
        dialog
            .string("type", "minecraft:notice")
            .component("title", &self.title)
            .compound_list("body", self.body.len(), |i, line| {
                line.string("type", "minecraft:plain_message")
                    .component("contents", &self.body[i]);
            })
            .bool("can_close_with_escape", false)
            .bool("pause", false)
            .string("after_action", "none")
            .compound("action", |button| {
                button.component("label", &self.button);
            });
        dialog.end();
    }
}

/// Clientbound 0x11 (1.21.6+): takes the dialog away, back to the "Joining world"
/// screen. Sent before a Disconnect, which the client handles only from that screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClearDialog;

impl ClearDialog {
    pub const ID: i32 = 0x11;
}

impl Encode for ClearDialog {
    const ID: i32 = ClearDialog::ID;

    fn encode_body(&self, _out: &mut Vec<u8>) {}
}

/// Clientbound 0x03: configuration is over; the client answers with
/// [`AcknowledgeFinishConfiguration`] and enters the play state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FinishConfiguration;

impl FinishConfiguration {
    pub const ID: i32 = 0x03;
}

impl<'a> Decode<'a> for FinishConfiguration {
    const ID: i32 = FinishConfiguration::ID;
    const NAME: &'static str = "finish configuration";

    fn decode(_r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self)
    }
}

impl Encode for FinishConfiguration {
    const ID: i32 = FinishConfiguration::ID;

    fn encode_body(&self, _out: &mut Vec<u8>) {}
}

/// 0x04 in both directions, with the same layout: the server sends an id, the client
/// echoes it. A client that stays silent about 15 s after one is dropped by vanilla.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    pub id: i64,
}

impl KeepAlive {
    pub const ID: i32 = 0x04;
}

impl<'a> Decode<'a> for KeepAlive {
    const ID: i32 = KeepAlive::ID;
    const NAME: &'static str = "keep alive";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            id: r.i64("keep alive id")?,
        })
    }
}

impl Encode for KeepAlive {
    const ID: i32 = KeepAlive::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_i64(out, self.id);
    }
}

/// Clientbound 0x09: asks the client to load a resource pack; it answers with
/// [`ResourcePackResponse`]s for that `uuid`.
///
/// Decoding reads the prompt's NBT back as JSON, like [`ConfigDisconnect`].
#[derive(Debug, Clone, PartialEq)]
pub struct AddResourcePack {
    pub uuid: u128,
    pub url: String,
    /// SHA-1 of the pack as 40 lower-case hex digits, or "" to skip the check.
    pub hash: String,
    /// When true, declining disconnects the client.
    pub forced: bool,
    /// Shown on the prompt screen as a text component.
    pub prompt: Option<Value>,
}

impl AddResourcePack {
    pub const ID: i32 = 0x09;
    pub const MAX_URL_CHARS: usize = 32767;
    pub const MAX_HASH_CHARS: usize = 40;
}

impl<'a> Decode<'a> for AddResourcePack {
    const ID: i32 = AddResourcePack::ID;
    const NAME: &'static str = "add resource pack";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            uuid: r.uuid("resource pack uuid")?,
            url: r
                .string("resource pack url", Self::MAX_URL_CHARS)?
                .to_owned(),
            hash: r
                .string("resource pack hash", Self::MAX_HASH_CHARS)?
                .to_owned(),
            forced: r.bool("resource pack forced")?,
            prompt: if r.bool("resource pack has prompt")? {
                Some(nbt::read_text_component(r)?)
            } else {
                None
            },
        })
    }
}

impl Encode for AddResourcePack {
    const ID: i32 = AddResourcePack::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_uuid(out, self.uuid);
        put_string(out, &self.url);
        put_string(out, &self.hash);
        put_bool(out, self.forced);
        put_bool(out, self.prompt.is_some());
        if let Some(prompt) = &self.prompt {
            nbt::put_text_component(out, prompt);
        }
    }
}

/// Clientbound 0x0A: stores a cookie on the client, kept across a [`Transfer`] (but not
/// across a restart of the game).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCookie {
    pub key: String,
    /// At most [`MAX_COOKIE_LEN`] bytes; the client disconnects on a larger one.
    pub payload: Vec<u8>,
}

impl StoreCookie {
    pub const ID: i32 = 0x0A;
}

impl<'a> Decode<'a> for StoreCookie {
    const ID: i32 = StoreCookie::ID;
    const NAME: &'static str = "store cookie";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            key: r.string("cookie key", MAX_IDENTIFIER_CHARS)?.to_owned(),
            payload: r.byte_array("cookie payload", MAX_COOKIE_LEN)?.to_vec(),
        })
    }
}

impl Encode for StoreCookie {
    const ID: i32 = StoreCookie::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_string(out, &self.key);
        put_byte_array(out, &self.payload);
    }
}

/// Clientbound 0x0B: tells the client to reconnect to another server (handshake intent
/// Transfer), keeping its cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub host: String,
    /// Sent as a VarInt, unlike the u16 port of the handshake.
    pub port: i32,
}

impl Transfer {
    pub const ID: i32 = 0x0B;
    pub const MAX_HOST_CHARS: usize = 32767;
}

impl<'a> Decode<'a> for Transfer {
    const ID: i32 = Transfer::ID;
    const NAME: &'static str = "transfer";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            host: r.string("transfer host", Self::MAX_HOST_CHARS)?.to_owned(),
            port: r.varint("transfer port")?,
        })
    }
}

impl Encode for Transfer {
    const ID: i32 = Transfer::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_string(out, &self.host);
        put_varint(out, self.port);
    }
}

/// Serverbound 0x00: the client's settings, sent on entering configuration and on
/// every change.
///
/// The enum-like fields are kept as sent, unchecked, since vanilla maps unknown values
/// to a default rather than rejecting them, and a router only passes them on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInformation {
    /// E.g. "en_us".
    pub locale: String,
    pub view_distance: i8,
    /// 0 full, 1 system messages only, 2 hidden.
    pub chat_mode: i32,
    pub chat_colors: bool,
    /// Bit mask of the displayed skin layers.
    pub skin_parts: u8,
    /// 0 left, 1 right.
    pub main_hand: i32,
    pub text_filtering: bool,
    pub server_listing: bool,
    /// 0 all, 1 decreased, 2 minimal. Present from protocol 768 on, `None` before.
    pub particle_status: Option<i32>,
}

impl ClientInformation {
    pub const ID: i32 = 0x00;
    pub const MAX_LOCALE_CHARS: usize = 16;
}

impl<'a> Decode<'a> for ClientInformation {
    const ID: i32 = ClientInformation::ID;
    const NAME: &'static str = "client information";

    /// Accepts both layouts: the trailing particle status is read when bytes remain
    /// after the older layout's last field, so no protocol number is needed.
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            locale: r
                .string("client locale", Self::MAX_LOCALE_CHARS)?
                .to_owned(),
            view_distance: r.i8("client view distance")?,
            chat_mode: r.varint("client chat mode")?,
            chat_colors: r.bool("client chat colors")?,
            skin_parts: r.u8("client skin parts")?,
            main_hand: r.varint("client main hand")?,
            text_filtering: r.bool("client text filtering")?,
            server_listing: r.bool("client server listing")?,
            particle_status: if r.remaining() > 0 {
                Some(r.varint("client particle status")?)
            } else {
                None
            },
        })
    }
}

impl Encode for ClientInformation {
    const ID: i32 = ClientInformation::ID;

    /// Writes the particle status only when `Some`: set it for protocol 768 and later.
    fn encode_body(&self, out: &mut Vec<u8>) {
        put_string(out, &self.locale);
        out.extend_from_slice(&self.view_distance.to_be_bytes());
        put_varint(out, self.chat_mode);
        put_bool(out, self.chat_colors);
        out.push(self.skin_parts);
        put_varint(out, self.main_hand);
        put_bool(out, self.text_filtering);
        put_bool(out, self.server_listing);
        if let Some(particle_status) = self.particle_status {
            put_varint(out, particle_status);
        }
    }
}

/// Serverbound 0x01: the answer to a [`CookieRequest`]; `payload` is `None` when the
/// client has no cookie under that key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieResponse {
    pub key: String,
    pub payload: Option<Vec<u8>>,
}

impl CookieResponse {
    pub const ID: i32 = 0x01;
}

impl<'a> Decode<'a> for CookieResponse {
    const ID: i32 = CookieResponse::ID;
    const NAME: &'static str = "configuration cookie response";

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

/// Serverbound 0x02: a plugin channel message (e.g. `minecraft:brand`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginMessage {
    pub channel: String,
    /// Runs to the end of the packet (no length prefix).
    pub data: Vec<u8>,
}

impl PluginMessage {
    pub const ID: i32 = 0x02;
    /// Vanilla's limit for serverbound plugin data.
    pub const MAX_DATA_LEN: usize = 32767;
}

impl<'a> Decode<'a> for PluginMessage {
    const ID: i32 = PluginMessage::ID;
    const NAME: &'static str = "plugin message";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let channel = r.string("plugin channel", MAX_IDENTIFIER_CHARS)?.to_owned();
        let len = r.remaining();
        if len > Self::MAX_DATA_LEN {
            return Err(DecodeError::TooLong {
                what: "plugin data",
                len,
                max: Self::MAX_DATA_LEN,
            });
        }
        Ok(Self {
            channel,
            data: r.rest().to_vec(),
        })
    }
}

impl Encode for PluginMessage {
    const ID: i32 = PluginMessage::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_string(out, &self.channel);
        out.extend_from_slice(&self.data);
    }
}

/// Serverbound 0x03: the client leaves configuration for the play state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AcknowledgeFinishConfiguration;

impl AcknowledgeFinishConfiguration {
    pub const ID: i32 = 0x03;
}

impl<'a> Decode<'a> for AcknowledgeFinishConfiguration {
    const ID: i32 = AcknowledgeFinishConfiguration::ID;
    const NAME: &'static str = "acknowledge finish configuration";

    fn decode(_r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self)
    }
}

impl Encode for AcknowledgeFinishConfiguration {
    const ID: i32 = AcknowledgeFinishConfiguration::ID;

    fn encode_body(&self, _out: &mut Vec<u8>) {}
}

/// Serverbound 0x06: progress of the resource pack `uuid` (several per pack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourcePackResponse {
    pub uuid: u128,
    /// One of the `ResourcePackResponse::*` result constants (0..=7).
    pub result: i32,
}

impl ResourcePackResponse {
    pub const ID: i32 = 0x06;
    pub const SUCCESSFULLY_LOADED: i32 = 0;
    pub const DECLINED: i32 = 1;
    pub const FAILED_DOWNLOAD: i32 = 2;
    pub const ACCEPTED: i32 = 3;
    pub const DOWNLOADED: i32 = 4;
    pub const INVALID_URL: i32 = 5;
    pub const FAILED_RELOAD: i32 = 6;
    pub const DISCARDED: i32 = 7;

    /// Whether no further response will follow for this pack: all but accepted and
    /// downloaded.
    pub fn is_final(&self) -> bool {
        !matches!(self.result, Self::ACCEPTED | Self::DOWNLOADED)
    }
}

impl<'a> Decode<'a> for ResourcePackResponse {
    const ID: i32 = ResourcePackResponse::ID;
    const NAME: &'static str = "resource pack response";

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let uuid = r.uuid("resource pack uuid")?;
        let result = r.varint("resource pack result")?;
        if !(Self::SUCCESSFULLY_LOADED..=Self::DISCARDED).contains(&result) {
            return Err(DecodeError::InvalidValue {
                what: "resource pack result",
                value: i64::from(result),
            });
        }
        Ok(Self { uuid, result })
    }
}

impl Encode for ResourcePackResponse {
    const ID: i32 = ResourcePackResponse::ID;

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_uuid(out, self.uuid);
        put_varint(out, self.result);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::frame::encode_frame;
    use super::super::test_util::{body_of, round_trip};
    use super::*;

    const UUID: u128 = 0x8667ba71_b85a_4004_af54_457a9734eed7;

    fn settings(particle_status: Option<i32>) -> ClientInformation {
        ClientInformation {
            locale: "en_us".to_owned(),
            view_distance: 12,
            chat_mode: 0,
            chat_colors: true,
            skin_parts: 0x7f,
            main_hand: 1,
            text_filtering: false,
            server_listing: true,
            particle_status,
        }
    }

    /// The recommended queue notice of the dialog research (the published layout of
    /// vanilla's `ClientboundShowDialogPacket` in configuration): 7a's body with its
    /// final end tag replaced by the fields that make it impossible to dismiss.
    #[test]
    fn show_dialog_golden() {
        let packet = ShowDialog {
            title: json!({"text": "Please wait"}),
            body: vec![json!({"text": "You are #3 in the queue"})],
            button: json!({"text": "Waiting..."}),
        };
        let hex = concat!(
            "0a",
            "0800047479706500106d696e6563726166743a6e6f74696365",
            "0800057469746c65000b506c656173652077616974",
            "090004626f64790a00000001",
            "0800047479706500176d696e6563726166743a706c61696e5f6d657373616765",
            "080008636f6e74656e74730017596f7520617265202333",
            "20696e2074686520717565756500",
            "01001563616e5f636c6f73655f776974685f65736361706500",
            "010005706175736500",
            "08000c61667465725f616374696f6e00046e6f6e65",
            "0a0006616374696f6e",
            "0800056c6162656c000a57616974696e672e2e2e00",
            "00",
        );
        let body = body_of(&packet);
        assert_eq!(body.len(), 214);
        assert_eq!(
            body.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            hex
        );
        // Framed without compression: d7 01 12, then the body.
        assert_eq!(&encode_frame(&packet)[..3], [0xd7, 0x01, 0x12]);
        // Read back, it is the dialog described.
        let mut r = Reader::new(&body);
        let read = nbt::read_text_component(&mut r).unwrap();
        assert_eq!(read["type"], "minecraft:notice");
        assert_eq!(read["pause"], false);
        assert_eq!(read["action"]["label"], "Waiting...");
        assert_eq!(read["body"][0]["contents"], "You are #3 in the queue");
    }

    #[test]
    fn styled_dialog_text_is_a_compound_and_clear_is_empty() {
        let packet = ShowDialog {
            title: json!({"text": "Wait", "color": "gold"}),
            body: vec![],
            button: json!("OK"),
        };
        let body = body_of(&packet);
        let read = nbt::read_text_component(&mut Reader::new(&body)).unwrap();
        assert_eq!(read["title"], json!({"text": "Wait", "color": "gold"}));
        assert_eq!(read["body"], json!([]));
        assert_eq!(read["action"]["label"], "OK");
        assert_eq!(encode_frame(&ClearDialog), [0x01, 0x11]);
    }

    #[test]
    fn transfer_golden() {
        let packet = Transfer {
            host: "localhost".to_owned(),
            port: 25566,
        };
        // 25566 = 0x63de: low seven bits 0x5e with the continuation bit (0xde), then
        // 0xc7, then 0x01 (one more than 25565's dd c7 01 in the codec tests).
        assert_eq!(
            encode_frame(&packet),
            [
                0x0e, 0x0b, 0x09, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't', 0xde, 0xc7,
                0x01
            ]
        );
        round_trip(&packet);
    }

    #[test]
    fn client_information_both_layouts() {
        // Before 768: ends with server listing.
        let old = [
            0x05, b'e', b'n', b'_', b'u', b's', // locale
            0x0c, // view distance 12
            0x00, // chat mode full
            0x01, // chat colors
            0x7f, // skin parts
            0x01, // main hand right
            0x00, // text filtering
            0x01, // server listing
        ];
        assert_eq!(body_of(&settings(None)), old);
        assert_eq!(ClientInformation::decode_body(&old), Ok(settings(None)));

        // From 768: particle status follows (2 = minimal).
        let new = [&old[..], &[0x02]].concat();
        assert_eq!(body_of(&settings(Some(2))), new);
        assert_eq!(ClientInformation::decode_body(&new), Ok(settings(Some(2))));

        round_trip(&settings(None));
        round_trip(&settings(Some(0)));
        let odd = ClientInformation {
            view_distance: -1,
            chat_mode: 99,
            particle_status: Some(i32::MIN),
            ..settings(None)
        };
        round_trip(&odd);

        // More than one extra field is not a layout we know.
        let longer = [&new[..], &[0x00]].concat();
        assert!(matches!(
            ClientInformation::decode_body(&longer),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
        let bad_locale = [&[0x11][..], &[b'a'; 17], &old[6..]].concat();
        assert!(matches!(
            ClientInformation::decode_body(&bad_locale),
            Err(DecodeError::TooLong { len: 17, .. })
        ));
        for cut in 0..old.len() {
            assert!(matches!(
                ClientInformation::decode_body(old.get(..cut).unwrap()),
                Err(DecodeError::Truncated { .. })
            ));
        }
    }

    #[test]
    fn disconnect_as_nbt() {
        // "hi" as a TAG_String root after the id.
        assert_eq!(
            encode_frame(&ConfigDisconnect::text("hi")),
            [0x06, 0x02, 0x08, 0x00, 0x02, b'h', b'i']
        );
        round_trip(&ConfigDisconnect::text("Bye ☃ \0 😀"));
        round_trip(&ConfigDisconnect {
            reason: json!({"text": "Server full", "color": "red", "bold": true,
                "extra": [{"text": " try later"}]}),
        });
        assert!(matches!(
            ConfigDisconnect::decode_body(&[0x08, 0x00, 0x05, b'h']),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn add_resource_pack() {
        let mut packet = AddResourcePack {
            uuid: UUID,
            url: "https://example.com/pack.zip".to_owned(),
            hash: "0123456789abcdef0123456789abcdef01234567".to_owned(),
            forced: true,
            prompt: None,
        };
        round_trip(&packet);
        let body = body_of(&packet);
        assert_eq!(body.last_chunk::<2>(), Some(&[0x01, 0x00]));

        packet.prompt = Some(json!({"text": "Please accept"}));
        round_trip(&packet);
        let body = body_of(&packet);
        let hash_end = 16 + 1 + 28 + 1 + 40;
        assert_eq!(
            body.get(hash_end..hash_end + 3),
            Some(&[0x01, 0x01, 0x0a][..])
        );

        let mut long_hash = Vec::new();
        AddResourcePack {
            hash: "a".repeat(41),
            ..packet
        }
        .encode_body(&mut long_hash);
        assert!(matches!(
            AddResourcePack::decode_body(&long_hash),
            Err(DecodeError::TooLong {
                len: 41,
                max: 40,
                ..
            })
        ));
    }

    #[test]
    fn cookies() {
        round_trip(&CookieRequest {
            key: "passage:session".to_owned(),
        });
        assert_eq!(
            encode_frame(&CookieRequest {
                key: "a:b".to_owned()
            }),
            [0x05, 0x00, 0x03, b'a', b':', b'b']
        );
        let store = StoreCookie {
            key: "passage:session".to_owned(),
            payload: vec![0xab; MAX_COOKIE_LEN],
        };
        round_trip(&store);
        assert_eq!(
            encode_frame(&StoreCookie {
                key: "a:b".to_owned(),
                payload: vec![1, 2]
            }),
            [0x08, 0x0a, 0x03, b'a', b':', b'b', 0x02, 1, 2]
        );
        let mut big = Vec::new();
        StoreCookie {
            payload: vec![0; MAX_COOKIE_LEN + 1],
            ..store
        }
        .encode_body(&mut big);
        assert!(matches!(
            StoreCookie::decode_body(&big),
            Err(DecodeError::TooLong { .. })
        ));

        round_trip(&CookieResponse {
            key: "passage:session".to_owned(),
            payload: Some(vec![1, 2, 3]),
        });
        round_trip(&CookieResponse {
            key: "passage:session".to_owned(),
            payload: None,
        });
        assert_eq!(
            encode_frame(&CookieResponse {
                key: "a:b".to_owned(),
                payload: None
            }),
            [0x06, 0x01, 0x03, b'a', b':', b'b', 0x00]
        );
        let mut big = Vec::new();
        CookieResponse {
            key: "a:b".to_owned(),
            payload: Some(vec![0; MAX_COOKIE_LEN + 1]),
        }
        .encode_body(&mut big);
        assert!(matches!(
            CookieResponse::decode_body(&big),
            Err(DecodeError::TooLong {
                len: 5121,
                max: 5120,
                ..
            })
        ));
    }

    #[test]
    fn small_packets() {
        round_trip(&FinishConfiguration);
        round_trip(&AcknowledgeFinishConfiguration);
        assert_eq!(encode_frame(&FinishConfiguration), [0x01, 0x03]);
        assert_eq!(encode_frame(&AcknowledgeFinishConfiguration), [0x01, 0x03]);
        round_trip(&KeepAlive { id: -7 });
        assert_eq!(
            encode_frame(&KeepAlive {
                id: 0x0102030405060708
            }),
            [0x09, 0x04, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        round_trip(&PluginMessage {
            channel: "minecraft:brand".to_owned(),
            data: b"\x07vanilla".to_vec(),
        });
        round_trip(&PluginMessage {
            channel: "x:y".to_owned(),
            data: vec![0; PluginMessage::MAX_DATA_LEN],
        });
        let mut big = Vec::new();
        PluginMessage {
            channel: "x:y".to_owned(),
            data: vec![0; PluginMessage::MAX_DATA_LEN + 1],
        }
        .encode_body(&mut big);
        assert!(matches!(
            PluginMessage::decode_body(&big),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn resource_pack_results() {
        for result in 0..=7 {
            let packet = ResourcePackResponse { uuid: UUID, result };
            round_trip(&packet);
            assert_eq!(packet.is_final(), !matches!(result, 3 | 4));
        }
        for bad in [-1, 8, i32::MAX] {
            let body = body_of(&ResourcePackResponse {
                uuid: UUID,
                result: bad,
            });
            assert_eq!(
                ResourcePackResponse::decode_body(&body),
                Err(DecodeError::InvalidValue {
                    what: "resource pack result",
                    value: i64::from(bad)
                })
            );
        }
    }
}
