//! A reader of network NBT (nameless root, as 1.20.2+ sends it), written from
//! the format's description rather than from the router's encoder, so a test
//! checks the router's bytes against the format itself. Enough for dialogs and
//! text components: every tag type, read into JSON (bytes as numbers).

use anyhow::{Context, bail, ensure};

/// Reads one root tag (type byte, then its payload) from `r`.
pub fn read(r: &mut &[u8]) -> anyhow::Result<serde_json::Value> {
    let tag = take(r, 1)?[0];
    payload(r, tag, 0)
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> anyhow::Result<&'a [u8]> {
    ensure!(r.len() >= n, "NBT ends early");
    let (head, rest) = r.split_at(n);
    *r = rest;
    Ok(head)
}

fn int(r: &mut &[u8]) -> anyhow::Result<i32> {
    Ok(i32::from_be_bytes(take(r, 4)?.try_into()?))
}

/// A u16 length, then modified UTF-8 (plain UTF-8 for the texts tests use).
fn string(r: &mut &[u8]) -> anyhow::Result<String> {
    let len = u16::from_be_bytes(take(r, 2)?.try_into()?) as usize;
    String::from_utf8(take(r, len)?.to_vec()).context("NBT string is not UTF-8")
}

fn payload(r: &mut &[u8], tag: u8, depth: usize) -> anyhow::Result<serde_json::Value> {
    ensure!(depth < 64, "NBT nested too deep");
    use serde_json::Value;
    Ok(match tag {
        1 => Value::from(take(r, 1)?[0] as i8),
        2 => Value::from(i16::from_be_bytes(take(r, 2)?.try_into()?)),
        3 => Value::from(int(r)?),
        4 => Value::from(i64::from_be_bytes(take(r, 8)?.try_into()?)),
        5 => Value::from(f32::from_be_bytes(take(r, 4)?.try_into()?)),
        6 => Value::from(f64::from_be_bytes(take(r, 8)?.try_into()?)),
        7 => {
            let n = usize::try_from(int(r)?)?;
            Value::from(take(r, n)?.iter().map(|b| *b as i8).collect::<Vec<_>>())
        }
        8 => Value::from(string(r)?),
        9 => {
            let item = take(r, 1)?[0];
            let n = usize::try_from(int(r)?)?;
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(payload(r, item, depth + 1)?);
            }
            Value::Array(items)
        }
        10 => {
            let mut map = serde_json::Map::new();
            loop {
                let field = take(r, 1)?[0];
                if field == 0 {
                    break;
                }
                let name = string(r)?;
                map.insert(name, payload(r, field, depth + 1)?);
            }
            Value::Object(map)
        }
        11 => {
            let n = usize::try_from(int(r)?)?;
            Value::from((0..n).map(|_| int(r)).collect::<anyhow::Result<Vec<_>>>()?)
        }
        12 => {
            let n = usize::try_from(int(r)?)?;
            let longs = (0..n)
                .map(|_| Ok(i64::from_be_bytes(take(r, 8)?.try_into()?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Value::from(longs)
        }
        other => bail!("unknown NBT tag {other}"),
    })
}

/// The lines of a notice dialog's body (`contents` as plain text).
pub fn dialog_lines(dialog: &serde_json::Value) -> Vec<String> {
    dialog["body"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|line| match &line["contents"] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other["text"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}
