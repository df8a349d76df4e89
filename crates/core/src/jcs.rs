//! The canonical encoder (RFC 8785, JCS) for tallylog's own types: what
//! [`crate::json::encode`] runs.
//!
//! tallylog's values hold only objects, arrays, strings, integers, booleans and
//! null, never a float. For those, JCS is compact JSON with every object's
//! members sorted by their names' UTF-16 code units, strings escaped as
//! ECMAScript's `JSON.stringify` escapes them (which is serde_json's escaping:
//! `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other controls as lowercase
//! `\u00xx`, nothing else) and integers in plain decimal.
//!
//! `serde_json_canonicalizer`, which encoded every hashed byte before, re-parses
//! every member name and boxes a writer per call, and was most of the cost of
//! strictly decoding an event (each decode re-encodes to check the canonical
//! form). This encoder writes each object's members into one buffer, sorts
//! their spans, and copies them out. Its output is checked against that crate
//! (kept as the test oracle) over the sample election, the hostile corpus and
//! arbitrary values in `tests/jcs.rs` and the `canonical` fuzz target.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde::ser::{self, Serialize};

/// Why a value has no canonical encoding here.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Encodes `value` canonically, or says why it cannot be (a float, a map
/// whose keys are not strings, or a name twice in one object).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(256);
    value.serialize(Encoder { out: &mut out })?;
    Ok(out)
}

/// Orders member names as JCS does: by UTF-16 code units. For names without
/// characters beyond U+FFFF this is byte order, which is the common case.
fn jcs_order(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// Writes `s` as a JSON string, escaped as JCS requires.
fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes an integer as JCS does: as the IEEE double nearest to it, in
/// ECMAScript's `Number.prototype.toString` form. Up to 2^53 that is the
/// integer itself; beyond, the double's shortest digits padded with zeros
/// (so 2^63 - 1 is written 9223372036854776000), and from 10^21 on in
/// exponent form. tallylog's decoder refuses integers beyond 2^53 - 1, so
/// such output never reads back; it is encoded as JCS says all the same.
fn write_int<I: itoa::Integer + TryInto<i64> + Copy>(out: &mut Vec<u8>, v: I, as_f64: f64) {
    const EXACT: i64 = 1 << 53;
    match v.try_into() {
        Ok(small) if (-EXACT..=EXACT).contains(&small) => {
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        }
        _ => write_integral_double(out, as_f64),
    }
}

/// ECMAScript's form of a double that is an integer of magnitude at least
/// 2^53, from its shortest round-trip digits.
fn write_integral_double(out: &mut Vec<u8>, v: f64) {
    if v < 0.0 {
        out.push(b'-');
    }
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v.abs());
    // ryu writes either `digits.digits` or `d.ddde<exp>`.
    let (mantissa, exp) = match text.split_once('e') {
        Some((m, e)) => (
            m,
            e.parse::<i32>()
                .expect("invariant: ryu writes an integer exponent"),
        ),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).collect();
    // The decimal point sits after `point` digits.
    let mut point = int_part.len() as i32 + exp;
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    while digits.len() > 1 && digits.first() == Some(&b'0') {
        digits.remove(0);
        point -= 1;
    }
    let k = digits.len() as i32;
    if point <= 21 {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', (point - k).max(0) as usize));
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.extend_from_slice(format!("e+{}", point - 1).as_bytes());
    }
}

/// The encoder's integer methods: each writes its integer as [`write_int`] does.
macro_rules! integers {
    ($($method:ident: $t:ty),* $(,)?) => {$(
        fn $method(self, v: $t) -> Result<(), Error> {
            write_int(self.out, v, v as f64);
            Ok(())
        }
    )*};
}

/// A map key's integer methods: the integer as a decimal string, as serde_json writes it.
macro_rules! key_integers {
    ($($method:ident: $t:ty),* $(,)?) => {$(
        fn $method(self, v: $t) -> Result<String, Error> {
            Ok(v.to_string())
        }
    )*};
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

/// An object being written: its members go into `scratch`, each as its name
/// and the span of its encoded value, and are sorted and written out at the end.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    scratch: Vec<u8>,
    members: Vec<(Cow<'static, str>, usize, usize)>,
    /// The name of a map entry whose value comes next.
    pending: Option<String>,
    /// Also close the `{"variant":` this object is the value of.
    in_variant: bool,
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Vec<u8>, len: usize) -> Object<'a> {
        Object {
            out,
            scratch: Vec::with_capacity(len * 16),
            members: Vec::with_capacity(len),
            pending: None,
            in_variant: false,
        }
    }

    fn member<T: Serialize + ?Sized>(
        &mut self,
        name: Cow<'static, str>,
        value: &T,
    ) -> Result<(), Error> {
        let start = self.scratch.len();
        value.serialize(Encoder {
            out: &mut self.scratch,
        })?;
        self.members.push((name, start, self.scratch.len()));
        Ok(())
    }

    fn finish(mut self) -> Result<(), Error> {
        self.members.sort_by(|a, b| jcs_order(&a.0, &b.0));
        if let Some(w) = self.members.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error(format!("the member {:?} appears twice", w[0].0)));
        }
        self.out.push(b'{');
        for (i, (name, start, end)) in self.members.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, name);
            self.out.push(b':');
            self.out.extend_from_slice(&self.scratch[*start..*end]);
        }
        self.out.push(b'}');
        if self.in_variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// An array being written, or (for enum variants with content) the array or
/// object inside the one-member object `{"variant":…}`.
struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    /// Closing bytes written by `end`.
    close: &'static [u8],
}

impl<'a> Array<'a> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Encoder { out: self.out })
    }

    fn end(self) -> Result<(), Error> {
        self.out.extend_from_slice(self.close);
        Ok(())
    }
}

/// A struct variant: `{"variant":{…}}`.
struct VariantObject<'a> {
    inner: Object<'a>,
}

fn float_error() -> Error {
    Error("floats have no canonical encoding in tallylog".to_owned())
}

impl<'a> ser::Serializer for Encoder<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = VariantObject<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    integers! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        Err(float_error())
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        Err(float_error())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // As serde_json: an array of numbers.
        let mut a = self.serialize_seq(Some(v.len()))?;
        for b in v {
            a.element(b)?;
        }
        a.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        value.serialize(Encoder { out: self.out })?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Array<'a>, Error> {
        self.out.push(b'[');
        Ok(Array {
            out: self.out,
            first: true,
            close: b"]",
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Array<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Array<'a>, Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.extend_from_slice(b":[");
        Ok(Array {
            out: self.out,
            first: true,
            close: b"]}",
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Object<'a>, Error> {
        Ok(Object::new(self.out, len.unwrap_or(8)))
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Object<'a>, Error> {
        Ok(Object::new(self.out, len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantObject<'a>, Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        let mut inner = Object::new(self.out, len);
        inner.in_variant = true;
        Ok(VariantObject { inner })
    }
}

impl ser::SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        Array::end(self)
    }
}

impl ser::SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        Array::end(self)
    }
}

impl ser::SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        Array::end(self)
    }
}

impl ser::SerializeTupleVariant for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        Array::end(self)
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.pending = Some(key.serialize(KeyName)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let name = self
            .pending
            .take()
            .ok_or_else(|| Error("a map value came without its key".to_owned()))?;
        self.member(Cow::Owned(name), value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.member(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for VariantObject<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.inner.member(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.inner.finish()
    }
}

/// Map keys must be strings (as in JSON); integer and character keys are
/// written as strings, as serde_json writes them.
struct KeyName;

fn key_error() -> Error {
    Error("a map key that is not a string has no canonical encoding".to_owned())
}

impl ser::Serializer for KeyName {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = ser::Impossible<String, Error>;
    type SerializeTuple = ser::Impossible<String, Error>;
    type SerializeTupleStruct = ser::Impossible<String, Error>;
    type SerializeTupleVariant = ser::Impossible<String, Error>;
    type SerializeMap = ser::Impossible<String, Error>;
    type SerializeStruct = ser::Impossible<String, Error>;
    type SerializeStructVariant = ser::Impossible<String, Error>;

    fn serialize_str(self, v: &str) -> Result<String, Error> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, Error> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, Error> {
        value.serialize(self)
    }
    key_integers! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64
    }
    fn serialize_bool(self, _: bool) -> Result<String, Error> {
        Err(key_error())
    }
    fn serialize_f32(self, _: f32) -> Result<String, Error> {
        Err(key_error())
    }
    fn serialize_f64(self, _: f64) -> Result<String, Error> {
        Err(key_error())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, Error> {
        Err(key_error())
    }
    fn serialize_none(self) -> Result<String, Error> {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, Error> {
        Err(key_error())
    }
    fn serialize_unit(self) -> Result<String, Error> {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Error> {
        Err(key_error())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Error> {
        Err(key_error())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_error())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_error())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_error())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_error())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_error())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(key_error())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_error())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;
    use serde_json::json;

    use super::to_vec;

    /// The JCS crate this encoder replaced is the oracle.
    fn agrees<T: Serialize>(value: &T) {
        let ours = to_vec(value).expect("encodes");
        let oracle = serde_json_canonicalizer::to_vec(value).expect("the oracle encodes");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&oracle)
        );
    }

    #[derive(Serialize)]
    enum Shapes {
        Unit,
        Newtype(u8),
        Tuple(u8, String),
        Struct { z: i64, a: Option<bool> },
    }

    #[derive(Serialize)]
    struct Everything {
        zeta: Vec<Shapes>,
        alpha: BTreeMap<String, u64>,
        numbers: (i8, i16, i32, i64, u8, u16, u32, u64),
        wide: (i128, u128, i64, u64, i64, u128, u128),
        ints_as_keys: BTreeMap<u32, bool>,
        nothing: Option<u8>,
        unit: (),
        ch: char,
        bytes: serde_bytes_like::Bytes,
    }

    mod serde_bytes_like {
        pub struct Bytes(pub Vec<u8>);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
    }

    #[test]
    fn agrees_with_the_jcs_crate_on_every_shape() {
        let all_controls: String = (0u8..0x20).map(char::from).collect();
        agrees(&Everything {
            zeta: vec![
                Shapes::Unit,
                Shapes::Newtype(7),
                Shapes::Tuple(1, "t".into()),
                Shapes::Struct { z: -5, a: None },
                Shapes::Struct {
                    z: 0,
                    a: Some(true),
                },
            ],
            alpha: [
                ("\u{1f600}", 1),
                ("\u{fb33}", 2),
                ("é", 3),
                ("E", 4),
                ("", 5),
                ("\u{7f}\"\\/", 6),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            numbers: (
                i8::MIN,
                i16::MIN,
                i32::MIN,
                i64::MIN,
                255,
                65535,
                u32::MAX,
                u64::MAX,
            ),
            wide: (
                i128::MIN,
                u128::MAX,
                1 << 53,
                (1 << 53) + 1,
                -(1 << 53) - 1,
                10u128.pow(21),
                10u128.pow(21) - 1,
            ),
            ints_as_keys: [(10, true), (9, false), (100, true)].into_iter().collect(),
            nothing: None,
            unit: (),
            ch: '\n',
            bytes: serde_bytes_like::Bytes(vec![0, 1, 255]),
        });
        agrees(&json!({
            "s": all_controls,
            "u": "\u{2028}\u{2029}\u{feff}ü€𝄞 \\u0041",
            "n": [null, true, false, 0, -1, 9007199254740991u64, []],
            "o": {"b": {"d": {}, "c": []}, "a": "x"},
        }));
    }

    proptest::proptest! {
        #[test]
        fn agrees_on_any_integer(a: i64, b: u64, c: i128, d: u128, shift in 0u32..64) {
            agrees(&(a, b, c, d, a >> shift, b >> shift, (b >> shift) as i64));
        }

        #[test]
        fn agrees_on_any_string_and_key(s: String, k: String, v: Vec<String>) {
            let m: BTreeMap<String, Vec<String>> = [(k, v.clone()), (s.clone(), v)].into_iter().collect();
            agrees(&(s, m));
        }
    }

    #[test]
    fn agrees_on_the_sample_election() {
        for ev in crate::sample::events() {
            let value: serde_json::Value = serde_json::from_slice(ev.bytes()).expect("json");
            agrees(&value);
            assert_eq!(to_vec(&value).expect("encodes"), ev.bytes());
        }
    }

    #[test]
    fn refuses_what_has_no_canonical_form() {
        assert!(to_vec(&1.5f64).is_err());
        assert!(to_vec(&json!({"a": 0.5})).is_err());
        let bool_keys: BTreeMap<bool, u8> = [(true, 1)].into_iter().collect();
        assert!(to_vec(&bool_keys).is_err());
        struct Twice;
        impl Serialize for Twice {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("k", &1)?;
                m.serialize_entry("k", &2)?;
                m.end()
            }
        }
        let e = to_vec(&Twice).unwrap_err().to_string();
        assert!(e.contains("\"k\" appears twice"), "{e}");
    }
}
