//! Strict JSON: the one decoder for every byte that is hashed or signed.
//!
//! A ledger that a court may rely on cannot have two byte strings that mean the
//! same event, nor a byte string that one parser reads differently from another.
//! So input is accepted only if it is exactly the canonical encoding (RFC 8785,
//! JCS) of a value of the expected type, and every way of failing that has its own
//! [`DecodeError`] variant and stable reason [`code`](DecodeError::code):
//!
//! 1. size: over the caller's limit is refused before parsing;
//! 2. syntax: not JSON, or trailing bytes, or invalid UTF-8 / lone surrogates;
//! 3. duplicate keys anywhere (serde_json would silently keep the last one);
//! 4. numbers: only integers in the I-JSON safe range `-(2^53-1) ..= 2^53-1`,
//!    because an auditor's JavaScript or Python `float` must read them exactly;
//! 5. typed decoding: unknown fields, missing fields, wrong types, bad values;
//! 6. canonical form: re-encoding the typed value must give back the input bytes
//!    (this catches whitespace, key order, escapes, `null` for an absent field).
//!
//! Encoding goes through [`crate::jcs`], the single encoder.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The largest integer JSON can carry exactly across implementations (I-JSON, RFC 7493).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why bytes were refused by the strict decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("input is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("not valid JSON: {0}")]
    Syntax(String),
    #[error("duplicate key {0:?} in one object")]
    DuplicateKey(String),
    #[error("number {0} cannot be carried exactly by JSON: only integers from -(2^53-1) to 2^53-1 are allowed")]
    InexactNumber(String),
    #[error("unknown field {0:?}")]
    UnknownField(String),
    #[error("missing field {0:?}")]
    MissingField(String),
    #[error("wrong type: {0}")]
    WrongType(String),
    #[error("invalid value: {0}")]
    InvalidValue(String),
    #[error("not in canonical form (RFC 8785 JCS, optional fields omitted rather than null); expected {expected}")]
    NonCanonical { expected: String },
}

impl DecodeError {
    /// A stable, machine-readable reason code. These strings are part of the
    /// protocol (publishers and tests match on them) and never change meaning.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::Syntax(_) => "malformed_json",
            DecodeError::DuplicateKey(_) => "duplicate_key",
            DecodeError::InexactNumber(_) => "inexact_number",
            DecodeError::UnknownField(_) => "unknown_field",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::WrongType(_) => "wrong_type",
            DecodeError::InvalidValue(_) => "invalid_value",
            DecodeError::NonCanonical { .. } => "non_canonical",
        }
    }
}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError::InvalidValue(msg.to_string())
    }
    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        DecodeError::WrongType(format!("found {unexp}, expected {exp}"))
    }
    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        DecodeError::WrongType(format!("found {len} elements, expected {exp}"))
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DecodeError::InvalidValue(format!(
            "unknown value {variant:?}, expected one of {expected:?}"
        ))
    }
    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        DecodeError::UnknownField(field.to_owned())
    }
    fn missing_field(field: &'static str) -> Self {
        DecodeError::MissingField(field.to_owned())
    }
    fn duplicate_field(field: &'static str) -> Self {
        DecodeError::DuplicateKey(field.to_owned())
    }
}

/// Encodes a value canonically (RFC 8785). This is the only encoder of hashed or
/// signed bytes in tallylog.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    crate::jcs::to_vec(value)
        .expect("invariant: tallylog types serialise to JSON without floats or non-string keys")
}

/// Whether every number in `canonical` (the output of [`encode`], so numbers
/// are plain integers and only appear outside strings) is within the I-JSON
/// safe range that [`parse`] enforces. A typed decoder checks the type's own
/// range, not this one; see `SignedEvent::decode`.
pub(crate) fn integers_are_safe(canonical: &[u8]) -> bool {
    let mut i = 0;
    while i < canonical.len() {
        match canonical[i] {
            b'"' => i = after_string(canonical, i),
            b'0'..=b'9' => {
                let mut n: u64 = 0;
                while let Some(d @ b'0'..=b'9') = canonical.get(i) {
                    n = match n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(d - b'0')))
                    {
                        Some(n) if n <= MAX_SAFE_INTEGER => n,
                        _ => return false,
                    };
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    true
}

/// Decodes `bytes` strictly as a `T`; see the module documentation for the rules.
pub fn decode<T>(bytes: &[u8], limit: usize) -> Result<T, DecodeError>
where
    T: for<'de> Deserialize<'de> + Serialize,
{
    let value = parse(bytes, limit)?;
    let typed = from_value::<T>(&value)?;
    let again = encode(&typed);
    if again != bytes {
        return Err(DecodeError::NonCanonical {
            expected: String::from_utf8_lossy(&again).chars().take(200).collect(),
        });
    }
    Ok(typed)
}

/// Parses `bytes` into a JSON value, refusing oversize input, bad syntax,
/// duplicate keys and inexact numbers. Does not check canonical form.
pub fn parse(bytes: &[u8], limit: usize) -> Result<Value, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let ctx = Strict {
        failure: RefCell::new(None),
        numbers: Cell::new(0),
        input: bytes,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictSeed(&ctx)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(v) => Ok(v),
        // The visitor records the precise reason before it returns an error, so
        // that a duplicate key is not reported as a mere syntax error.
        Err(e) => Err(ctx
            .failure
            .into_inner()
            .unwrap_or_else(|| DecodeError::Syntax(e.to_string()))),
    }
}

/// Decodes a typed value from an already strictly parsed JSON value, with
/// [`DecodeError`] categories (serde_json's own `from_value` would flatten them).
pub fn from_value<'a, T: Deserialize<'a>>(value: &'a Value) -> Result<T, DecodeError> {
    T::deserialize(ValueDe(value))
}

/// What the strict visitor shares while it walks one input.
struct Strict<'i> {
    failure: RefCell<Option<DecodeError>>,
    /// Numbers visited so far: serde_json visits them in document order, so
    /// this is the index of the next one among the input's number tokens.
    numbers: Cell<usize>,
    input: &'i [u8],
}

struct StrictSeed<'c>(&'c Strict<'c>);

impl StrictSeed<'_> {
    fn fail<E: de::Error>(&self, why: DecodeError) -> E {
        let msg = why.to_string();
        self.0.failure.borrow_mut().get_or_insert(why);
        E::custom(msg)
    }
    /// Counts a number; returns its index in the input.
    fn next_number(&self) -> usize {
        let n = self.0.numbers.get();
        self.0.numbers.set(n + 1);
        n
    }
}

/// The position just after the JSON string that opens at `open` (a `"`), in
/// text whose strings are well formed up to there; the end if it never closes.
fn after_string(input: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while i < input.len() && input[i] != b'"' {
        i += if input[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// The text of the `n`th number token (from 0) of JSON text that is valid up
/// to it. serde_json gives `-0` and `-0.0` alike as the float -0.0, and only
/// the text tells an integer that is merely not canonical from a fraction.
fn nth_number(input: &[u8], n: usize) -> Option<&[u8]> {
    let (mut i, mut seen) = (0, 0);
    while i < input.len() {
        match input[i] {
            b'"' => i = after_string(input, i),
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < input.len()
                    && matches!(input[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                if seen == n {
                    return Some(&input[start..i]);
                }
                seen += 1;
            }
            _ => i += 1,
        }
    }
    None
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        self.next_number();
        if n.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(self.fail(DecodeError::InexactNumber(n.to_string())));
        }
        Ok(Value::from(n))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        self.next_number();
        if n > MAX_SAFE_INTEGER {
            return Err(self.fail(DecodeError::InexactNumber(n.to_string())));
        }
        Ok(Value::from(n))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        let at = self.next_number();
        // `-0` is an integer, exactly zero, just not written canonically
        // (PROTOCOL.md §1): read it as 0 and let the canonical check refuse it.
        if n == 0.0 && nth_number(self.0.input, at) == Some(b"-0") {
            return Ok(Value::from(0u64));
        }
        Err(self.fail(DecodeError::InexactNumber(n.to_string())))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictSeed(self.0))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(self.fail(DecodeError::DuplicateKey(key)));
            }
            let v = map.next_value_seed(StrictSeed(self.0))?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// A serde deserializer over a borrowed JSON value whose error type is
/// [`DecodeError`], so that unknown, missing and mistyped fields stay distinct.
#[derive(Clone, Copy)]
struct ValueDe<'a>(&'a Value);

impl<'de> IntoDeserializer<'de, DecodeError> for ValueDe<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for ValueDe<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => v.visit_u64(u),
                (None, Some(i)) => v.visit_i64(i),
                // Strict parsing never produces a float; refuse one anyway
                // rather than pass an inexact number on.
                (None, None) => Err(DecodeError::InexactNumber(n.to_string())),
            },
            Value::String(s) => v.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = de::value::SeqDeserializer::new(items.iter().map(ValueDe));
                let out = v.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Object(map) => {
                let mut m = de::value::MapDeserializer::new(
                    map.iter().map(|(k, val)| (k.as_str(), ValueDe(val))),
                );
                let out = v.visit_map(&mut m)?;
                m.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::String(s) => v.visit_enum(s.as_str().into_deserializer()),
            other => Err(DecodeError::WrongType(format!(
                "found {}, expected a string naming a variant",
                kind_of(other)
            ))),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DecodeError> {
        v.visit_newtype_struct(self)
    }

    /// Every struct of the protocol is a JSON object. serde's derived structs
    /// would also read an array of the fields in order, which is the wrong
    /// JSON type (PROTOCOL.md §3.3 step 5), not merely a non-canonical spelling.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Object(_) => self.deserialize_any(v),
            other => Err(DecodeError::WrongType(format!(
                "found {}, expected an object",
                kind_of(other)
            ))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
        ignored_any
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        a: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        b: Option<String>,
        m: BTreeMap<String, u64>,
    }

    fn dec(s: &str) -> Result<Sample, DecodeError> {
        decode::<Sample>(s.as_bytes(), 1024)
    }

    #[test]
    fn accepts_the_canonical_form_only() {
        let ok = dec(r#"{"a":1,"b":"x","m":{"p":2,"q":3}}"#).unwrap();
        assert_eq!(ok.a, 1);
        assert_eq!(ok.m["q"], 3);
        for (input, code) in [
            (r#"{ "a":1,"m":{}}"#, "non_canonical"),
            (r#"{"m":{},"a":1}"#, "non_canonical"),
            (r#"{"a":1,"b":null,"m":{}}"#, "non_canonical"),
            (r#"{"a":1,"b":"\u0078","m":{}}"#, "non_canonical"),
            (r#"{"a":1,"m":{}} "#, "non_canonical"),
            (r#"{"a":1,"a":1,"m":{}}"#, "duplicate_key"),
            (r#"{"a":1,"m":{"p":1,"p":1}}"#, "duplicate_key"),
            (r#"{"a":1.0,"m":{}}"#, "inexact_number"),
            (r#"{"a":1e3,"m":{}}"#, "inexact_number"),
            (r#"{"a":9007199254740992,"m":{}}"#, "inexact_number"),
            (r#"{"a":-9007199254740992,"m":{}}"#, "inexact_number"),
            (
                r#"{"a":123456789012345678901234567890,"m":{}}"#,
                "inexact_number",
            ),
            (r#"{"a":1,"m":{},"z":0}"#, "unknown_field"),
            (r#"{"m":{}}"#, "missing_field"),
            (r#"{"a":"1","m":{}}"#, "wrong_type"),
            (r#"{"a":-1,"m":{}}"#, "invalid_value"),
            (r#"{"a":1,"m":[]}"#, "wrong_type"),
            // An array of the fields in order is not the object they belong in.
            (r#"[1,null,{}]"#, "wrong_type"),
            // -0 is the integer 0 written non-canonically; -0.0 is a fraction.
            (r#"{"a":-0,"m":{}}"#, "non_canonical"),
            (r#"{"a":1,"m":{"p":-0}}"#, "non_canonical"),
            (r#"{"a":-0.0,"m":{}}"#, "inexact_number"),
            (r#"{"a":-0e0,"m":{}}"#, "inexact_number"),
            (r#"{"a":0,"b":"-0","m":{"-0":-0.5}}"#, "inexact_number"),
            (r#"{"a":1,"m":{}"#, "malformed_json"),
            (r#"{"a":1,"m":{}}{}"#, "malformed_json"),
            (r#"{"a":1,"b":"\ud800","m":{}}"#, "malformed_json"),
            ("", "malformed_json"),
        ] {
            let got = dec(input).expect_err(input);
            assert_eq!(got.code(), code, "{input}: {got}");
        }
        let big = format!(r#"{{"a":1,"b":"{}","m":{{}}}}"#, "x".repeat(2000));
        assert_eq!(dec(&big).unwrap_err().code(), "too_large");
    }

    #[test]
    fn invalid_utf8_is_a_syntax_error() {
        let bytes = b"{\"a\":1,\"b\":\"\xff\",\"m\":{}}";
        assert_eq!(
            decode::<Sample>(bytes, 1024).unwrap_err().code(),
            "malformed_json"
        );
    }

    #[test]
    fn safe_integer_bounds_are_inclusive() {
        let max = format!(r#"{{"a":{MAX_SAFE_INTEGER},"m":{{}}}}"#);
        assert_eq!(dec(&max).unwrap().a, MAX_SAFE_INTEGER);
    }

    #[test]
    fn encoder_sorts_keys_like_rfc8785_section_3_2_3() {
        // The RFC's own example: keys sort by UTF-16 code units, so U+1F600 (a
        // surrogate pair starting 0xD83D) sorts before U+FB33, unlike UTF-8 order.
        let input = r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#;
        let v: Value = serde_json::from_str(input).unwrap();
        let out = String::from_utf8(encode(&v)).unwrap();
        let order: Vec<usize> = [
            "\\r",
            "\"1\"",
            "\u{80}",
            "\u{f6}",
            "\u{20ac}",
            "\u{1f600}",
            "\u{fb33}",
        ]
        .iter()
        .map(|k| out.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
        assert!(out.starts_with("{\"\\r\":\"Carriage Return\","), "{out}");
    }
}
