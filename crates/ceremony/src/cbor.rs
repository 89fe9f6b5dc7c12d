//! The little CBOR (RFC 8949) the UR types here need: definite-length unsigned and negative
//! integers, byte and text strings, arrays, maps, tags, booleans and null. Indefinite lengths
//! and floats are refused.

use crate::Error;

/// A decoded CBOR item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Unsigned integer.
    Uint(u64),
    /// Negative integer `-1 - n`.
    Neg(u64),
    /// Byte string.
    Bytes(Vec<u8>),
    /// Text string.
    Text(String),
    /// Array.
    Array(Vec<Value>),
    /// Map, in encoded order.
    Map(Vec<(Value, Value)>),
    /// Tagged item.
    Tag(u64, Box<Value>),
    /// Boolean.
    Bool(bool),
    /// Null.
    Null,
}

impl Value {
    /// The value under an unsigned-integer map key.
    pub fn get(&self, key: u64) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| *k == Value::Uint(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Strips any tags.
    pub fn untagged(&self) -> &Value {
        match self {
            Value::Tag(_, v) => v.untagged(),
            v => v,
        }
    }
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.push(m | 24);
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Encodes a value.
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Uint(n) => head(out, 0, *n),
        Value::Neg(n) => head(out, 1, *n),
        Value::Bytes(b) => {
            head(out, 2, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::Text(t) => {
            head(out, 3, t.len() as u64);
            out.extend_from_slice(t.as_bytes());
        }
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            for i in items {
                encode(i, out);
            }
        }
        Value::Map(entries) => {
            head(out, 5, entries.len() as u64);
            for (k, val) in entries {
                encode(k, out);
                encode(val, out);
            }
        }
        Value::Tag(t, inner) => {
            head(out, 6, *t);
            encode(inner, out);
        }
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Null => out.push(0xf6),
    }
}

/// Decodes exactly one item filling the whole input.
pub fn decode(bytes: &[u8], what: &str) -> Result<Value, Error> {
    let mut pos = 0usize;
    let v = decode_at(bytes, &mut pos, what, 0)?;
    if pos != bytes.len() {
        return Err(Error::malformed(
            what,
            format!("{} trailing bytes after cbor item", bytes.len() - pos),
        ));
    }
    Ok(v)
}

fn take<'a>(bytes: &'a [u8], pos: &mut usize, n: usize, what: &str) -> Result<&'a [u8], Error> {
    let end = pos
        .checked_add(n)
        .filter(|e| *e <= bytes.len())
        .ok_or_else(|| Error::malformed(what, format!("cbor truncated at byte {pos}")))?;
    let s = &bytes[*pos..end];
    *pos = end;
    Ok(s)
}

fn decode_at(bytes: &[u8], pos: &mut usize, what: &str, depth: usize) -> Result<Value, Error> {
    if depth > 32 {
        return Err(Error::malformed(what, "cbor nested too deeply"));
    }
    let start = *pos;
    let b = take(bytes, pos, 1, what)?[0];
    let major = b >> 5;
    let info = b & 0x1f;
    let arg = match info {
        0..=23 => u64::from(info),
        24 => u64::from(take(bytes, pos, 1, what)?[0]),
        25 => u64::from(u16::from_be_bytes([
            take(bytes, pos, 1, what)?[0],
            take(bytes, pos, 1, what)?[0],
        ])),
        26 => {
            let s = take(bytes, pos, 4, what)?;
            u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        }
        27 => {
            let s = take(bytes, pos, 8, what)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_be_bytes(a)
        }
        _ => {
            return Err(Error::malformed(
                what,
                format!("unsupported cbor encoding 0x{b:02x} at byte {start}"),
            ))
        }
    };
    let len =
        |a: u64| usize::try_from(a).map_err(|_| Error::malformed(what, "cbor length too large"));
    Ok(match major {
        0 => Value::Uint(arg),
        1 => Value::Neg(arg),
        2 => Value::Bytes(take(bytes, pos, len(arg)?, what)?.to_vec()),
        3 => Value::Text(
            String::from_utf8(take(bytes, pos, len(arg)?, what)?.to_vec()).map_err(|_| {
                Error::malformed(what, format!("cbor text at byte {start} is not utf-8"))
            })?,
        ),
        4 => {
            let n = len(arg)?;
            let mut items = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                items.push(decode_at(bytes, pos, what, depth + 1)?);
            }
            Value::Array(items)
        }
        5 => {
            let n = len(arg)?;
            let mut entries = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                let k = decode_at(bytes, pos, what, depth + 1)?;
                let v = decode_at(bytes, pos, what, depth + 1)?;
                entries.push((k, v));
            }
            Value::Map(entries)
        }
        6 => Value::Tag(arg, Box::new(decode_at(bytes, pos, what, depth + 1)?)),
        _ => match info {
            20 => Value::Bool(false),
            21 => Value::Bool(true),
            22 => Value::Null,
            _ => {
                return Err(Error::malformed(
                    what,
                    format!("unsupported cbor simple value at byte {start}"),
                ))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_nested_items() {
        let v = Value::Map(vec![
            (Value::Uint(1), Value::Text("wsh(x)".repeat(50))),
            (
                Value::Uint(2),
                Value::Array(vec![Value::Tag(
                    40303,
                    Box::new(Value::Bytes(vec![1; 300])),
                )]),
            ),
            (Value::Uint(3), Value::Bool(true)),
        ]);
        let mut out = Vec::new();
        encode(&v, &mut out);
        assert_eq!(decode(&out, "t").unwrap(), v);
        assert!(decode(&out[..out.len() - 1], "t").is_err());
    }
}
