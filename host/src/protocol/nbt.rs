//! Text components as network NBT (the 1.20.3+ nameless-root form): encoding a JSON text
//! component for the configuration-state packets, and a bounded decoder back to JSON.
//!
//! Network NBT writes the root as a tag type byte and its payload, without the name
//! that file NBT carries. Strings are "modified UTF-8" (Java's `DataOutput.writeUTF`):
//! a u16 byte length, NUL as `C0 80`, and characters outside the BMP as a surrogate
//! pair of 3 bytes each.
//!
//! JSON to NBT, as the vanilla game converts components:
//!
//! | JSON | NBT |
//! |---|---|
//! | string | TAG_String |
//! | boolean | TAG_Byte 0/1 |
//! | integer | TAG_Int, TAG_Long outside the `i32` range |
//! | other number | TAG_Double |
//! | object | TAG_Compound (`null` members left out: NBT has no null) |
//! | array | TAG_List of compounds: the arrays of a text component (`extra`, `with`) hold components, and an NBT list holds one tag type, so a plain string item becomes `{"text": item}` |
//! | array of integers only | TAG_Int_Array (e.g. an entity UUID in a hover event) |
//!
//! A root that is an array (a component followed by siblings) becomes its first item
//! with the others appended to its `extra`, which is what the game makes of it. Any
//! other root primitive becomes its text.

use serde_json::{Map, Value};

use super::codec::{DecodeError, Reader, put_u16};

const TAG_END: u8 = 0;
const TAG_BYTE: u8 = 1;
const TAG_SHORT: u8 = 2;
const TAG_INT: u8 = 3;
const TAG_LONG: u8 = 4;
const TAG_FLOAT: u8 = 5;
const TAG_DOUBLE: u8 = 6;
const TAG_BYTE_ARRAY: u8 = 7;
const TAG_STRING: u8 = 8;
const TAG_LIST: u8 = 9;
const TAG_COMPOUND: u8 = 10;
const TAG_INT_ARRAY: u8 = 11;
const TAG_LONG_ARRAY: u8 = 12;

/// Longest NBT string in bytes: its length is a u16.
pub const MAX_STRING_BYTES: usize = u16::MAX as usize;
/// Deepest nesting written or read. Recursion is bounded so that neither a deeply
/// nested value (e.g. from a plugin) nor a hostile packet can exhaust the stack; real
/// components nest a few levels. The game allows 512, far beyond any real message.
pub const MAX_DEPTH: usize = 64;

/// The network NBT of a text component (see the module docs for the mapping).
pub fn text_component(component: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    put_text_component(&mut out, component);
    out
}

/// Appends the network NBT of a text component to `out`.
///
/// Strings longer than [`MAX_STRING_BYTES`] in modified UTF-8 are cut at a character
/// boundary; values nested deeper than [`MAX_DEPTH`] are written as empty compounds.
pub fn put_text_component(out: &mut Vec<u8>, component: &Value) {
    match component {
        Value::Object(map) => {
            out.push(TAG_COMPOUND);
            put_compound(out, map, 1);
        }
        Value::Array(items) => {
            out.push(TAG_COMPOUND);
            put_compound(out, &component_list(items), 1);
        }
        other => {
            out.push(TAG_STRING);
            put_string(out, &plain_text(other));
        }
    }
}

/// The text a primitive stands for in a component, as the game reads it.
fn plain_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A component given as a JSON array: the first item, with the rest as its siblings.
fn component_list(items: &[Value]) -> Map<String, Value> {
    let mut iter = items.iter();
    let mut first = iter.next().map_or_else(Map::new, as_component);
    if iter.len() > 0 {
        let mut extra = match first.remove("extra") {
            Some(Value::Array(extra)) => extra,
            _ => Vec::new(),
        };
        extra.extend(iter.cloned());
        first.insert("extra".to_owned(), Value::Array(extra));
    }
    if !first.contains_key("text") && !first.contains_key("translate") {
        // A compound needs some content key to be a component; "" adds nothing.
        first.insert("text".to_owned(), Value::String(String::new()));
    }
    first
}

/// Any component value as a compound, for lists.
fn as_component(value: &Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map.clone(),
        Value::Array(items) => component_list(items),
        other => Map::from_iter([("text".to_owned(), Value::String(plain_text(other)))]),
    }
}

fn put_compound(out: &mut Vec<u8>, map: &Map<String, Value>, depth: usize) {
    if depth < MAX_DEPTH {
        for (key, value) in map {
            put_named(out, key, value, depth);
        }
    }
    out.push(TAG_END);
}

fn put_named(out: &mut Vec<u8>, key: &str, value: &Value, depth: usize) {
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            put_head(out, TAG_BYTE, key);
            out.push(u8::from(*b));
        }
        Value::Number(n) => match n.as_i64().map(|i| (i, i32::try_from(i))) {
            Some((_, Ok(i))) => {
                put_head(out, TAG_INT, key);
                put_i32(out, i);
            }
            Some((i, Err(_))) => {
                put_head(out, TAG_LONG, key);
                out.extend_from_slice(&i.to_be_bytes());
            }
            // A fraction, or an integer above i64::MAX: only a double can hold it.
            None => {
                put_head(out, TAG_DOUBLE, key);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_be_bytes());
            }
        },
        Value::String(s) => {
            put_head(out, TAG_STRING, key);
            put_string(out, s);
        }
        Value::Array(items) => match int_array(items) {
            Some(ints) => {
                put_head(out, TAG_INT_ARRAY, key);
                put_len(out, ints.len());
                for i in ints {
                    put_i32(out, i);
                }
            }
            None => {
                put_head(out, TAG_LIST, key);
                put_list(out, items, depth + 1);
            }
        },
        Value::Object(map) => {
            put_head(out, TAG_COMPOUND, key);
            put_compound(out, map, depth + 1);
        }
    }
}

/// Writes a compound field by field, in the order given: for structures the host
/// builds itself (a dialog), where the game reads any order and a fixed one keeps
/// the bytes comparable with published examples.
pub struct CompoundWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> CompoundWriter<'a> {
    /// The root of network NBT: the compound's type byte, no name. [`end`](Self::end)
    /// closes it.
    pub fn root(out: &'a mut Vec<u8>) -> CompoundWriter<'a> {
        out.push(TAG_COMPOUND);
        CompoundWriter { out }
    }

    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        put_head(self.out, TAG_STRING, key);
        put_string(self.out, value);
        self
    }

    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        put_head(self.out, TAG_BYTE, key);
        self.out.push(u8::from(value));
        self
    }

    /// A text component: `{"text": s}` with nothing else is written as the plain
    /// TAG_String the game itself writes for unstyled text.
    pub fn component(&mut self, key: &str, component: &Value) -> &mut Self {
        match component {
            Value::Object(map)
                if map.len() == 1 && map.get("text").is_some_and(Value::is_string) =>
            {
                self.string(key, map["text"].as_str().unwrap_or_default())
            }
            Value::Object(map) => {
                put_head(self.out, TAG_COMPOUND, key);
                put_compound(self.out, map, 2);
                self
            }
            Value::Array(items) => {
                put_head(self.out, TAG_COMPOUND, key);
                put_compound(self.out, &component_list(items), 2);
                self
            }
            other => self.string(key, &plain_text(other)),
        }
    }

    /// A nested compound, filled by `fill`.
    pub fn compound(&mut self, key: &str, fill: impl FnOnce(&mut CompoundWriter<'_>)) -> &mut Self {
        put_head(self.out, TAG_COMPOUND, key);
        let mut inner = CompoundWriter { out: self.out };
        fill(&mut inner);
        inner.out.push(TAG_END);
        self
    }

    /// A list of `count` compounds, the `i`th filled by `fill(i, ..)`.
    pub fn compound_list(
        &mut self,
        key: &str,
        count: usize,
        mut fill: impl FnMut(usize, &mut CompoundWriter<'_>),
    ) -> &mut Self {
        put_head(self.out, TAG_LIST, key);
        if count == 0 {
            self.out.push(TAG_END);
            put_i32(self.out, 0);
            return self;
        }
        self.out.push(TAG_COMPOUND);
        put_len(self.out, count);
        for i in 0..count {
            let mut inner = CompoundWriter { out: self.out };
            fill(i, &mut inner);
            inner.out.push(TAG_END);
        }
        self
    }

    pub fn end(self) {
        self.out.push(TAG_END);
    }
}

/// A compound entry starts with its tag type and name; the payload follows.
fn put_head(out: &mut Vec<u8>, tag: u8, key: &str) {
    out.push(tag);
    put_string(out, key);
}

/// The items as `i32`s when all are, for a TAG_Int_Array; `None` for an empty array
/// (written as an empty list, as the game does).
fn int_array(items: &[Value]) -> Option<Vec<i32>> {
    items
        .iter()
        .map(|v| v.as_i64().and_then(|i| i32::try_from(i).ok()))
        .collect::<Option<Vec<_>>>()
        .filter(|ints| !ints.is_empty())
}

fn put_list(out: &mut Vec<u8>, items: &[Value], depth: usize) {
    if items.is_empty() || depth >= MAX_DEPTH {
        // An empty list has element type End, as the game writes it.
        out.push(TAG_END);
        put_i32(out, 0);
        return;
    }
    out.push(TAG_COMPOUND);
    put_len(out, items.len());
    for item in items {
        match item {
            Value::Object(map) => put_compound(out, map, depth + 1),
            other => put_compound(out, &as_component(other), depth + 1),
        }
    }
}

fn put_i32(out: &mut Vec<u8>, value: i32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// NBT lengths are i32; ours come from in-memory values and saturate rather than panic.
fn put_len(out: &mut Vec<u8>, len: usize) {
    put_i32(out, i32::try_from(len).unwrap_or(i32::MAX));
}

/// Bytes `c` takes in modified UTF-8.
fn mutf8_len(c: char) -> usize {
    match u32::from(c) {
        0x01..=0x7f => 1,
        0x00 | 0x80..=0x7ff => 2,
        0x800..=0xffff => 3,
        // A surrogate pair, each half 3 bytes.
        _ => 6,
    }
}

/// Writes `s` as a u16 length and modified UTF-8, cut at the last whole character
/// that fits in [`MAX_STRING_BYTES`].
pub fn put_string(out: &mut Vec<u8>, s: &str) {
    let mut len = 0usize;
    let mut end = s.len();
    for (i, c) in s.char_indices() {
        let next = len + mutf8_len(c);
        if next > MAX_STRING_BYTES {
            end = i;
            break;
        }
        len = next;
    }
    put_u16(out, u16::try_from(len).unwrap_or(u16::MAX));
    let mut units = [0u16; 2];
    for c in s.get(..end).unwrap_or_default().chars() {
        for &unit in c.encode_utf16(&mut units).iter() {
            match unit {
                0x01..=0x7f => out.push(unit as u8),
                0x00 | 0x80..=0x7ff => {
                    out.extend_from_slice(&[0xc0 | (unit >> 6) as u8, 0x80 | (unit & 0x3f) as u8])
                }
                _ => out.extend_from_slice(&[
                    0xe0 | (unit >> 12) as u8,
                    0x80 | ((unit >> 6) & 0x3f) as u8,
                    0x80 | (unit & 0x3f) as u8,
                ]),
            }
        }
    }
}

/// Reads a network NBT root back as JSON, for test clients and logs.
///
/// Bytes come back as booleans when 0 or 1 (how components store flags) and as numbers
/// otherwise; other numbers and arrays map the obvious way. The result of
/// [`text_component`] reads back as the component, except that plain strings in lists
/// come back as `{"text": ...}` and an array root as its first item with `extra`.
///
/// Bounded: nesting beyond [`MAX_DEPTH`] is an error, and every count is checked
/// against the bytes left before anything is allocated for it.
pub fn read_text_component(r: &mut Reader<'_>) -> Result<Value, DecodeError> {
    let tag = r.u8("nbt root type")?;
    if tag == TAG_END {
        return Err(DecodeError::InvalidValue {
            what: "nbt root type",
            value: 0,
        });
    }
    read_payload(r, tag, 0)
}

fn read_payload(r: &mut Reader<'_>, tag: u8, depth: usize) -> Result<Value, DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError::TooLong {
            what: "nbt nesting",
            len: depth,
            max: MAX_DEPTH,
        });
    }
    Ok(match tag {
        TAG_BYTE => match r.i8("nbt byte")? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => Value::from(b),
        },
        TAG_SHORT => Value::from(r.u16("nbt short")? as i16),
        TAG_INT => Value::from(r.i32("nbt int")?),
        TAG_LONG => Value::from(r.i64("nbt long")?),
        TAG_FLOAT => Value::from(f32::from_bits(r.i32("nbt float")? as u32)),
        TAG_DOUBLE => Value::from(f64::from_bits(r.i64("nbt double")? as u64)),
        TAG_BYTE_ARRAY => {
            let len = read_count(r, 1)?;
            let bytes = r.take(len, "nbt byte array")?;
            Value::from_iter(bytes.iter().map(|&b| b as i8))
        }
        TAG_STRING => Value::String(read_string(r)?),
        TAG_LIST => {
            let item = r.u8("nbt list type")?;
            // Each item takes at least one byte (an empty compound is just its End), so
            // the count can be checked against the bytes left; End items take none and
            // are only valid in an empty list.
            let len = read_count(r, 1)?;
            if item == TAG_END && len > 0 {
                return Err(DecodeError::InvalidValue {
                    what: "nbt list type",
                    value: 0,
                });
            }
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(read_payload(r, item, depth + 1)?);
            }
            Value::Array(items)
        }
        TAG_COMPOUND => {
            let mut map = Map::new();
            loop {
                let item = r.u8("nbt compound entry type")?;
                if item == TAG_END {
                    break;
                }
                let key = read_string(r)?;
                map.insert(key, read_payload(r, item, depth + 1)?);
            }
            Value::Object(map)
        }
        TAG_INT_ARRAY => {
            let len = read_count(r, 4)?;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(Value::from(r.i32("nbt int array")?));
            }
            Value::Array(items)
        }
        TAG_LONG_ARRAY => {
            let len = read_count(r, 8)?;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(Value::from(r.i64("nbt long array")?));
            }
            Value::Array(items)
        }
        other => {
            return Err(DecodeError::InvalidValue {
                what: "nbt tag type",
                value: i64::from(other),
            });
        }
    })
}

/// An i32 element count, checked to be non-negative and to fit in the bytes left when
/// each element takes `min_size` bytes.
fn read_count(r: &mut Reader<'_>, min_size: usize) -> Result<usize, DecodeError> {
    const WHAT: &str = "nbt length";
    let len = r.i32(WHAT)?;
    let len = usize::try_from(len).map_err(|_| DecodeError::NegativeLength { what: WHAT, len })?;
    let max = r.remaining() / min_size;
    if len > max {
        return Err(DecodeError::TooLong {
            what: WHAT,
            len,
            max,
        });
    }
    Ok(len)
}

/// A modified UTF-8 string. Unpaired surrogates (valid in Java) become U+FFFD; byte
/// sequences that are not modified UTF-8 are an error.
fn read_string(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    const WHAT: &str = "nbt string";
    let len = usize::from(r.u16(WHAT)?);
    let bytes = r.take(len, WHAT)?;
    let is_cont = |b: u8| b & 0xc0 == 0x80;
    let low6 = |b: u8| u16::from(b & 0x3f);
    let mut units: Vec<u16> = Vec::with_capacity(len);
    let mut rest = bytes;
    while !rest.is_empty() {
        let (unit, tail) = match rest {
            [b @ 0x00..=0x7f, tail @ ..] => (u16::from(*b), tail),
            [b @ 0xc0..=0xdf, c, tail @ ..] if is_cont(*c) => {
                ((u16::from(b & 0x1f) << 6) | low6(*c), tail)
            }
            [b @ 0xe0..=0xef, c1, c2, tail @ ..] if is_cont(*c1) && is_cont(*c2) => (
                (u16::from(b & 0x0f) << 12) | (low6(*c1) << 6) | low6(*c2),
                tail,
            ),
            _ => return Err(DecodeError::InvalidUtf8 { what: WHAT }),
        };
        units.push(unit);
        rest = tail;
    }
    Ok(String::from_utf16_lossy(&units))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read_back(bytes: &[u8]) -> Value {
        let mut r = Reader::new(bytes);
        let value = read_text_component(&mut r).unwrap();
        r.finish("nbt").unwrap();
        value
    }

    #[test]
    fn golden_string_root() {
        assert_eq!(text_component(&json!("hi")), [0x08, 0x00, 0x02, 0x68, 0x69]);
        assert_eq!(read_back(&[0x08, 0x00, 0x02, 0x68, 0x69]), json!("hi"));
        assert_eq!(text_component(&json!("")), [0x08, 0x00, 0x00]);
    }

    #[test]
    fn golden_compound_root() {
        let bytes = [
            0x0a, 0x08, 0x00, 0x04, 0x74, 0x65, 0x78, 0x74, 0x00, 0x02, 0x68, 0x69, 0x00,
        ];
        assert_eq!(text_component(&json!({"text": "hi"})), bytes);
        assert_eq!(read_back(&bytes), json!({"text": "hi"}));
    }

    #[test]
    fn golden_modified_utf8() {
        // "a", NUL, "é", "€", U+1F600 (surrogates D83D DE00), "z".
        let bytes = [
            0x08, 0x00, 0x0f, // type, length 15
            0x61, // a
            0xc0, 0x80, // NUL
            0xc3, 0xa9, // é
            0xe2, 0x82, 0xac, // €
            0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80, // 😀 as two 3-byte surrogates
            0x7a, // z
        ];
        assert_eq!(text_component(&json!("a\0é€😀z")), bytes);
        assert_eq!(read_back(&bytes), json!("a\0é€😀z"));
    }

    #[test]
    fn golden_compound_with_every_kind() {
        // Keys in sorted order, so the bytes are the same whether or not serde_json's
        // `preserve_order` feature is on somewhere in the build.
        let component = json!({
            "big": 4_294_967_296_i64,
            "bold": true,
            "color": "red",
            "extra": ["a", {"italic": false, "text": "b"}],
            "gone": null,
            "hover_event": {"action": "show_entity", "uuid": [1, -2, 3, 4]},
            "n": 7,
            "x": 0.5,
        });
        let bytes = text_component(&component);
        let mut want = vec![0x0a];
        want.extend_from_slice(&[0x04, 0x00, 0x03, b'b', b'i', b'g']);
        want.extend_from_slice(&4_294_967_296_i64.to_be_bytes());
        want.extend_from_slice(&[0x01, 0x00, 0x04, b'b', b'o', b'l', b'd', 0x01]);
        want.extend_from_slice(&[0x08, 0x00, 0x05, b'c', b'o', b'l', b'o', b'r']);
        want.extend_from_slice(&[0x00, 0x03, b'r', b'e', b'd']);
        // extra: list of 2 compounds; "a" became {"text":"a"}.
        want.extend_from_slice(&[0x09, 0x00, 0x05, b'e', b'x', b't', b'r', b'a', 0x0a]);
        want.extend_from_slice(&[0, 0, 0, 2]);
        want.extend_from_slice(&[0x08, 0x00, 0x04, b't', b'e', b'x', b't', 0x00, 0x01, b'a']);
        want.push(0x00);
        want.extend_from_slice(&[0x01, 0x00, 0x06, b'i', b't', b'a', b'l', b'i', b'c', 0x00]);
        want.extend_from_slice(&[0x08, 0x00, 0x04, b't', b'e', b'x', b't', 0x00, 0x01, b'b']);
        want.push(0x00);
        // "gone": null is left out.
        want.extend_from_slice(&[0x0a, 0x00, 0x0b]);
        want.extend_from_slice(b"hover_event");
        want.extend_from_slice(&[0x08, 0x00, 0x06]);
        want.extend_from_slice(b"action");
        want.extend_from_slice(&[0x00, 0x0b]);
        want.extend_from_slice(b"show_entity");
        want.extend_from_slice(&[0x0b, 0x00, 0x04, b'u', b'u', b'i', b'd', 0, 0, 0, 4]);
        want.extend_from_slice(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 3, 0, 0, 0, 4]);
        want.push(0x00);
        want.extend_from_slice(&[0x03, 0x00, 0x01, b'n', 0, 0, 0, 7]);
        want.extend_from_slice(&[0x06, 0x00, 0x01, b'x']);
        want.extend_from_slice(&0.5f64.to_be_bytes());
        want.push(0x00);
        assert_eq!(bytes, want);

        assert_eq!(
            read_back(&bytes),
            json!({
                "bold": true,
                "color": "red",
                "extra": [{"text": "a"}, {"text": "b", "italic": false}],
                "n": 7,
                "x": 0.5,
                "big": 4_294_967_296_i64,
                "hover_event": {"action": "show_entity", "uuid": [1, -2, 3, 4]},
            })
        );
    }

    #[test]
    fn array_root_and_primitives() {
        assert_eq!(
            read_back(&text_component(&json!(["a", {"text": "b"}, "c"]))),
            json!({"text": "a", "extra": [{"text": "b"}, {"text": "c"}]})
        );
        assert_eq!(
            read_back(&text_component(
                &json!([{"translate": "k", "extra": ["x"]}, "y"])
            )),
            json!({"translate": "k", "extra": [{"text": "x"}, {"text": "y"}]})
        );
        assert_eq!(read_back(&text_component(&json!([]))), json!({"text": ""}));
        assert_eq!(read_back(&text_component(&json!(42))), json!("42"));
        assert_eq!(read_back(&text_component(&json!(true))), json!("true"));
        assert_eq!(read_back(&text_component(&Value::Null)), json!(""));
        // An empty list is written with element type End, and reads back empty.
        assert_eq!(
            read_back(&text_component(&json!({"text": "", "extra": []}))),
            json!({"text": "", "extra": []})
        );
    }

    #[test]
    fn long_strings_are_cut_at_a_character() {
        let bytes = text_component(&json!("a".repeat(70_000)));
        assert_eq!(bytes.get(1..3), Some(&[0xff, 0xff][..]));
        assert_eq!(bytes.len(), 3 + MAX_STRING_BYTES);

        // 21845 "€" are 65535 bytes exactly; one more does not fit, nor would half of
        // an emoji after "a" + 21844 "€" (65533 bytes).
        let euros = "€".repeat(21_846);
        let bytes = text_component(&json!(euros));
        assert_eq!(bytes.len(), 3 + 65_535);
        let s = format!("a{}😀", "€".repeat(21_844));
        let bytes = text_component(&json!(s));
        assert_eq!(bytes.get(1..3), Some(&[0xff, 0xfd][..]));
        assert_eq!(read_back(&bytes), json!(format!("a{}", "€".repeat(21_844))));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut deep = json!({"text": "leaf"});
        for _ in 0..200 {
            deep = json!({"text": "", "extra": [deep]});
        }
        let bytes = text_component(&deep);
        // Written, with the part beyond the limit dropped; and it reads back.
        let back = read_back(&bytes);
        assert_eq!(back["text"], "");

        // A hostile input nested past the limit is refused, not recursed into.
        let mut evil = vec![0x0a];
        for _ in 0..MAX_DEPTH + 1 {
            evil.extend_from_slice(&[0x0a, 0x00, 0x00]);
        }
        evil.extend(std::iter::repeat_n(0x00, MAX_DEPTH + 2));
        assert!(matches!(
            read_text_component(&mut Reader::new(&evil)),
            Err(DecodeError::TooLong {
                what: "nbt nesting",
                ..
            })
        ));
    }

    #[test]
    fn malformed_nbt() {
        let read = |bytes: &[u8]| read_text_component(&mut Reader::new(bytes));
        assert!(matches!(read(&[]), Err(DecodeError::Truncated { .. })));
        assert!(matches!(
            read(&[0x00]),
            Err(DecodeError::InvalidValue { .. })
        ));
        assert!(matches!(
            read(&[0x0d]),
            Err(DecodeError::InvalidValue { .. })
        ));
        // A list claiming 2^31-1 compounds with nothing behind it: no allocation.
        assert!(matches!(
            read(&[0x09, 0x0a, 0x7f, 0xff, 0xff, 0xff]),
            Err(DecodeError::TooLong { .. })
        ));
        assert!(matches!(
            read(&[0x0b, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::NegativeLength { .. })
        ));
        // Non-empty list of End tags (End items take no bytes).
        assert!(matches!(
            read(&[0x09, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00]),
            Err(DecodeError::InvalidValue { .. })
        ));
        // Bad modified UTF-8: a lone continuation byte, a cut 3-byte sequence.
        assert!(matches!(
            read(&[0x08, 0x00, 0x01, 0x80]),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
        assert!(matches!(
            read(&[0x08, 0x00, 0x02, 0xe2, 0x82]),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
        assert!(matches!(
            read(&[0x08, 0x00, 0x05, b'a']),
            Err(DecodeError::Truncated { .. })
        ));
        // A lone surrogate (legal in Java) reads as U+FFFD.
        assert_eq!(
            read_back(&[0x08, 0x00, 0x03, 0xed, 0xa0, 0xbd]),
            json!("\u{fffd}")
        );
    }
}
