//! Target lists written as JSON (a config table, an HTTP answer), and the
//! content-hash revision discovery plugins answer with.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::Target;

/// What to do with keys of a target object other than id, host, port, metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraKeys {
    /// An error naming the key: right for the operator's own config, where a
    /// typo should not pass silently.
    Reject,
    /// Ignored: right for answers of a service that may carry fields of its own.
    Ignore,
}

/// Parses `[{"id", "host", "port" (default 25565), "metadata" (optional)}, ...]`.
/// Metadata values may be strings, numbers or booleans and become strings. Ids
/// must be unique. Errors name the offending element, e.g. `targets[2].port`.
pub fn targets_from_json(
    items: &[serde_json::Value],
    extra: ExtraKeys,
) -> Result<Vec<Target>, String> {
    let targets: Vec<Target> = items
        .iter()
        .enumerate()
        .map(|(i, v)| target(i, v, extra))
        .collect::<Result<_, _>>()?;
    let mut ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("`targets`: id `{}` appears twice", w[0]));
    }
    Ok(targets)
}

fn target(i: usize, v: &serde_json::Value, extra: ExtraKeys) -> Result<Target, String> {
    let key = |k: &str| format!("`targets[{i}].{k}`");
    let obj = v
        .as_object()
        .ok_or_else(|| format!("`targets[{i}]` must be an object (a table)"))?;
    if extra == ExtraKeys::Reject
        && let Some(unknown) = obj
            .keys()
            .find(|k| !["id", "host", "port", "metadata"].contains(&k.as_str()))
    {
        return Err(format!("{}: unknown key", key(unknown)));
    }
    let string = |k: &str| -> Result<String, String> {
        match obj.get(k) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(format!("{} must be a non-empty string", key(k))),
        }
    };
    let port = match obj.get("port") {
        None => 25565,
        Some(p) => p
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{} must be a port number (1-65535)", key("port")))?,
    };
    let metadata = match obj.get("metadata") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
                serde_json::Value::Number(n) => Ok((k.clone(), n.to_string())),
                serde_json::Value::Bool(b) => Ok((k.clone(), b.to_string())),
                _ => Err(format!(
                    "{} must be a string, number or boolean",
                    key(&format!("metadata.{k}"))
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("{} must be an object (a table)", key("metadata"))),
    };
    Ok(Target {
        id: string("id")?,
        host: string("host")?,
        port,
        metadata,
    })
}

/// A revision for a discovery answer: a hash of the list's contents, so every
/// instance (and every replica) gives the same list the same revision.
pub fn revision_of(targets: &[Target]) -> u64 {
    let mut h = DefaultHasher::new();
    for t in targets {
        (&t.id, &t.host, t.port, &t.metadata).hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str, extra: ExtraKeys) -> Result<Vec<Target>, String> {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        targets_from_json(v.as_array().unwrap(), extra)
    }

    #[test]
    fn parses_and_defaults() {
        let t = parse(
            r#"[{"id":"a","host":"10.0.0.1","metadata":{"players":3,"full":false,"region":"eu"}}]"#,
            ExtraKeys::Reject,
        )
        .unwrap();
        assert_eq!(t[0].port, 25565);
        assert!(t[0].metadata.contains(&("players".into(), "3".into())));
        assert!(t[0].metadata.contains(&("full".into(), "false".into())));
    }

    #[test]
    fn errors_name_the_element() {
        let e = parse(
            r#"[{"id":"a","host":"h"},{"id":"b","host":"h","port":0}]"#,
            ExtraKeys::Reject,
        )
        .unwrap_err();
        assert!(e.contains("`targets[1].port`"), "{e}");
        let e = parse(r#"[{"id":"a","host":"h","extra":1}]"#, ExtraKeys::Reject).unwrap_err();
        assert!(e.contains("`targets[0].extra`: unknown key"), "{e}");
        assert!(parse(r#"[{"id":"a","host":"h","extra":1}]"#, ExtraKeys::Ignore).is_ok());
        let e = parse(
            r#"[{"id":"a","host":"h"},{"id":"a","host":"g"}]"#,
            ExtraKeys::Ignore,
        )
        .unwrap_err();
        assert!(e.contains("id `a` appears twice"), "{e}");
        let e = parse(
            r#"[{"id":"a","host":"h","metadata":{"x":[1]}}]"#,
            ExtraKeys::Ignore,
        )
        .unwrap_err();
        assert!(e.contains("metadata.x"), "{e}");
    }

    #[test]
    fn revision_follows_content() {
        let a = parse(r#"[{"id":"a","host":"h"}]"#, ExtraKeys::Ignore).unwrap();
        let b = parse(r#"[{"id":"a","host":"h","port":25566}]"#, ExtraKeys::Ignore).unwrap();
        assert_eq!(revision_of(&a), revision_of(&a.clone()));
        assert_ne!(revision_of(&a), revision_of(&b));
    }
}
