//! The small values every event is made of, as newtypes that can only hold
//! what they promise: a `StationCode` is always four well-formed segments, a
//! `PublicKey` is always a valid curve point, a `Timestamp` is always a whole
//! second in UTC. Each has exactly one JSON spelling, so the strict decoder's
//! canonical check also pins down how they are written.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer};
use serde::{Serialize, Serializer};

/// A SHA-256 digest written as 64 lowercase hex digits (a form image, a projection).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

/// The identifier of an event: SHA-256 of its signing preimage (see PROTOCOL.md).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub [u8; 32]);

macro_rules! hex32 {
    ($t:ident, $what:literal) => {
        impl $t {
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            pub fn to_hex(&self) -> String {
                to_hex(&self.0)
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                parse_hex32(s)
                    .map($t)
                    .map_err(|e| format!("{}: {e}", $what))
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.to_hex())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(de::Error::custom)
            }
        }
    };
}
hex32!(Digest, "SHA-256 digest");
hex32!(EventId, "event id");

/// Lowercase hex, written with a lookup table (the `hex` crate's iterator was a
/// measurable share of decoding time).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize]);
        out.push(DIGITS[(b & 15) as usize]);
    }
    String::from_utf8(out).expect("invariant: hex digits are ASCII")
}

/// Parses exactly 64 lowercase hex digits. Uppercase is refused so that every
/// value has one spelling.
pub fn parse_hex32(s: &str) -> Result<[u8; 32], String> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!(
            "expected 64 lowercase hex digits, found {:?}",
            truncate(s, 80)
        ));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).expect("invariant: checked to be 64 hex digits");
    Ok(out)
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// An Ed25519 public key in its canonical 32-byte encoding.
///
/// Parsing checks only that the encoding is canonical (the y coordinate is
/// below p, and x = 0 is not written with its sign bit set), which is cheap, so
/// that one point cannot appear under two spellings. Whether the bytes decode to
/// a point on the curve, and whether that point has small order, is decided when
/// the key is used ([`PublicKey::point`], [`PublicKey::is_usable`]): decoding
/// a point costs a field inversion, and a verifier that sees the same key a
/// million times should pay for it once.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, String> {
        let mut y = *bytes;
        let sign = y[31] >> 7;
        y[31] &= 0x7f;
        // p = 2^255 - 19: y >= p exactly when the top 31 bytes are all ones
        // (after masking the sign bit) and the low byte is at least 0xed.
        let y_ge_p = y[1..31].iter().all(|&b| b == 0xff) && y[31] == 0x7f && y[0] >= 0xed;
        // x = 0 only for y = 1 and y = p - 1; its sign bit must then be 0.
        let mut one = [0u8; 32];
        one[0] = 1;
        let mut p_minus_1 = [0xffu8; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        let negative_zero = sign == 1 && (y == one || y == p_minus_1);
        if y_ge_p || negative_zero {
            return Err("public key is not the canonical encoding of a point".to_owned());
        }
        Ok(PublicKey(*bytes))
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// The decoded curve point, or `None` if the bytes are not on the curve.
    pub fn point(&self) -> Option<ed25519_dalek::VerifyingKey> {
        ed25519_dalek::VerifyingKey::from_bytes(&self.0).ok()
    }
    /// True for a key on the curve that is not of small order: the only keys
    /// whose signatures mean anything, and the only ones that may be registered.
    pub fn is_usable(&self) -> bool {
        self.point().is_some_and(|k| !k.is_weak())
    }
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl From<ed25519_dalek::VerifyingKey> for PublicKey {
    fn from(k: ed25519_dalek::VerifyingKey) -> Self {
        PublicKey(k.to_bytes())
    }
}

impl FromStr for PublicKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bytes = parse_hex32(s).map_err(|e| format!("public key: {e}"))?;
        PublicKey::from_bytes(&bytes)
    }
}
impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}
impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}
impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// An Ed25519 signature, 128 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn to_dalek(&self) -> ed25519_dalek::Signature {
        ed25519_dalek::Signature::from_bytes(&self.0)
    }
}
impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Signature({})", to_hex(&self.0))
    }
}
impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}
impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() != 128 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(de::Error::custom(
                "signature: expected 128 lowercase hex digits",
            ));
        }
        let mut out = [0u8; 64];
        hex::decode_to_slice(s, &mut out).expect("invariant: checked to be 128 hex digits");
        Ok(Signature(out))
    }
}

/// Characters allowed in codes and identifiers. They are safe as NATS subject
/// tokens, as file names and in URLs, with nothing to escape.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn check_token(s: &str, max: usize, what: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > max || !s.bytes().all(is_token_char) {
        return Err(format!(
            "{what} {:?}: expected 1 to {max} characters from A-Z a-z 0-9 _ -",
            truncate(s, 80)
        ));
    }
    Ok(())
}

macro_rules! token_type {
    ($(#[$m:meta])* $t:ident, $max:expr, $what:literal) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $t(String);
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                check_token(s, $max, $what)?;
                Ok($t(s.to_owned()))
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(de::Error::custom)
            }
        }
    };
}

token_type!(
    /// An election's identifier, e.g. `kh-2023-na`.
    ElectionId, 64, "election id"
);
token_type!(
    /// A party's identifier within an election, e.g. `CPP`.
    PartyId, 32, "party id"
);
token_type!(
    /// A contest's identifier within an election, e.g. `na` or `commune`.
    ContestId, 32, "contest id"
);

/// A place in the election's geography: 1 to 4 `/`-separated segments, for
/// province, district, commune and polling station, each segment a token of
/// at most 16 characters. `12/03/04/0042` is a station; `12/03` a district.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionCode(String);

/// The four levels of the geography, plus the whole election.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    National,
    Province,
    District,
    Commune,
    Station,
}

impl RegionCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
    pub fn depth(&self) -> usize {
        self.segments().count()
    }
    pub fn level(&self) -> Level {
        match self.depth() {
            1 => Level::Province,
            2 => Level::District,
            3 => Level::Commune,
            _ => Level::Station,
        }
    }
    /// The enclosing region, or `None` for a province.
    pub fn parent(&self) -> Option<RegionCode> {
        self.0
            .rsplit_once('/')
            .map(|(p, _)| RegionCode(p.to_owned()))
    }
    /// True when `self` is `other` or lies inside it.
    pub fn within(&self, other: &RegionCode) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.starts_with(&other.0)
                && self.0.as_bytes()[other.0.len()] == b'/')
    }
}

impl FromStr for RegionCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let n = s.split('/').count();
        if n > 4 {
            return Err(format!(
                "region code {:?}: at most 4 segments (province/district/commune/station)",
                truncate(s, 80)
            ));
        }
        for seg in s.split('/') {
            check_token(seg, 16, "region code segment")?;
        }
        Ok(RegionCode(s.to_owned()))
    }
}

/// A polling station: a [`RegionCode`] with exactly four segments.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StationCode(RegionCode);

impl StationCode {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    pub fn region(&self) -> &RegionCode {
        &self.0
    }
}

impl FromStr for StationCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let r: RegionCode = s.parse()?;
        if r.depth() != 4 {
            return Err(format!(
                "station code {:?}: expected province/district/commune/station",
                truncate(s, 80)
            ));
        }
        Ok(StationCode(r))
    }
}

macro_rules! string_serde {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{:?}", self.as_str())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(de::Error::custom)
            }
        }
    };
}
string_serde!(RegionCode);
string_serde!(StationCode);

/// A log's origin: the name its checkpoints are signed under
/// (c2sp.org/tlog-checkpoint). 1 to 255 bytes with no white space and no `+`,
/// as signed-note key names must be.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);

impl Origin {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Origin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty()
            || s.len() > 255
            || s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '+')
        {
            return Err(format!(
                "log origin {:?}: expected 1 to 255 bytes with no white space, control characters or '+'",
                truncate(s, 80)
            ));
        }
        Ok(Origin(s.to_owned()))
    }
}
string_serde!(Origin);

/// Free text written by people (names, reasons, reasoning): non-empty after
/// trimming, at most 16 KiB, no control characters other than newline and tab.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(String);

pub const MAX_TEXT_BYTES: usize = 16 * 1024;

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Text {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("text must not be empty".to_owned());
        }
        if s.len() > MAX_TEXT_BYTES {
            return Err(format!(
                "text is {} bytes, over the limit of {MAX_TEXT_BYTES}",
                s.len()
            ));
        }
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(
                "text must not contain control characters other than newline and tab".to_owned(),
            );
        }
        Ok(Text(s.to_owned()))
    }
}
string_serde!(Text);

/// A point in time, to the second, in UTC, written `YYYY-MM-DDTHH:MM:SSZ`
/// (RFC 3339 with no fraction and no offset other than `Z`). Held as seconds
/// since the Unix epoch so deadlines are plain arithmetic.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Years 1970 to 9999 only: a result form from before the epoch is a typo.
    pub fn from_unix(secs: i64) -> Result<Self, String> {
        if !(0..=253_402_300_799).contains(&secs) {
            return Err(format!("time {secs} is outside 1970-01-01 .. 9999-12-31"));
        }
        Ok(Timestamp(secs))
    }
    pub fn unix(&self) -> i64 {
        self.0
    }
    pub fn plus_hours(&self, hours: u32) -> Timestamp {
        Timestamp(self.0 + i64::from(hours) * 3600)
    }
}

// Howard Hinnant's days_from_civil / civil_from_days: exact proleptic
// Gregorian calendar arithmetic without a date library.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl FromStr for Timestamp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "time {:?}: expected YYYY-MM-DDTHH:MM:SSZ in UTC",
                truncate(s, 40)
            )
        };
        let b = s.as_bytes();
        let shape = b.len() == 20
            && b.iter().enumerate().all(|(i, &c)| match i {
                4 | 7 => c == b'-',
                10 => c == b'T',
                13 | 16 => c == b':',
                19 => c == b'Z',
                _ => c.is_ascii_digit(),
            });
        if !shape {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> i64 {
            s[r].parse().expect("invariant: checked to be digits")
        };
        let (y, mo, d, h, mi, se) = (
            num(0..4),
            num(5..7),
            num(8..10),
            num(11..13),
            num(14..16),
            num(17..19),
        );
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_len = match mo {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(bad()),
        };
        // Leap seconds (":60") are refused: Unix time has no place for them.
        if d < 1 || d > month_len || h > 23 || mi > 59 || se > 59 {
            return Err(bad());
        }
        Timestamp::from_unix(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let rem = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}
impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}
impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A publisher's own sequence number: 1 for its first event, then +1 each.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

/// A position in the log, from 0.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct LogIndex(pub u64);

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_refuse_impossible_dates() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T12:34:56Z",
            "2023-07-23T17:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            let t: Timestamp = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
        }
        assert_eq!(
            "2023-07-23T17:00:00Z".parse::<Timestamp>().unwrap().unix(),
            1_690_131_600
        );
        for s in [
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-07-23T24:00:00Z",
            "2023-07-23T23:59:60Z",
            "2023-07-23T17:00:00+07:00",
            "2023-07-23T17:00:00.5Z",
            "2023-07-23 17:00:00Z",
            "1969-12-31T23:59:59Z",
            "２023-07-23T17:00:00Z",
        ] {
            assert!(s.parse::<Timestamp>().is_err(), "{s}");
        }
    }

    #[test]
    fn region_codes_know_their_place() {
        let st: StationCode = "12/03/04/0042".parse().unwrap();
        let commune: RegionCode = "12/03/04".parse().unwrap();
        let other: RegionCode = "12/03/0".parse().unwrap();
        assert!(st.region().within(&commune));
        assert!(!st.region().within(&other));
        assert_eq!(st.region().parent().unwrap(), commune);
        assert_eq!(commune.level(), Level::Commune);
        for bad in ["", "12//04", "12/03/04/05/06", "12.03", "a b", "12/03/04/*"] {
            assert!(bad.parse::<RegionCode>().is_err(), "{bad}");
        }
        assert!("12/03/04".parse::<StationCode>().is_err());
    }

    #[test]
    fn public_keys_have_one_encoding() {
        // y = 1 (the identity) encoded canonically, and as y = p + 1.
        let mut canonical = [0u8; 32];
        canonical[0] = 1;
        let mut aliased = [0xffu8; 32];
        aliased[0] = 0xee;
        aliased[31] = 0x7f;
        assert!(!PublicKey::from_bytes(&canonical).unwrap().is_usable());
        assert!(PublicKey::from_bytes(&aliased).is_err());
        // The same point with the sign bit set ("negative zero" x).
        let mut negative = canonical;
        negative[31] |= 0x80;
        assert!(PublicKey::from_bytes(&negative).is_err());
        // Every non-canonical y: p .. 2^255-1.
        for low in 0xedu8..=0xff {
            let mut y = [0xffu8; 32];
            y[0] = low;
            y[31] = 0x7f;
            assert!(PublicKey::from_bytes(&y).is_err(), "{low:#x}");
        }
        let real: PublicKey = crate::keys::test_key(1).verifying_key().into();
        assert!(PublicKey::from_bytes(real.as_bytes()).unwrap().is_usable());
    }

    #[test]
    fn hex_is_lowercase_and_exact() {
        let h = "ab".repeat(32);
        assert!(h.parse::<EventId>().is_ok());
        assert!(h.to_uppercase().parse::<EventId>().is_err());
        assert!(h[..62].parse::<EventId>().is_err());
    }

    #[test]
    fn text_refuses_empty_and_control_characters() {
        assert!("  \n".parse::<Text>().is_err());
        assert!("a\u{0}b".parse::<Text>().is_err());
        assert!("line one\nline two\tend".parse::<Text>().is_ok());
        assert!("x".repeat(MAX_TEXT_BYTES + 1).parse::<Text>().is_err());
    }
}
