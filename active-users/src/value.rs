//! [`FieldValue`]: how a field's type is parsed from a request, stored and shown.

use crate::codec::{read_varint, write_varint};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A type that can be the value of an entry field.
///
/// Implemented for `String`, every integer type, `bool`, [`IpAddr`] and, with the `uuid`
/// feature, `uuid::Uuid`. For your own type, implement [`parse`](FieldValue::parse) and
/// [`write_text`](FieldValue::write_text); the stored form defaults to the text.
///
/// The methods must agree: `parse` of the text `write_text` writes gives the same value back,
/// and so does `decode` of what `encode` writes. The codec's injectivity rests on `encode`
/// being injective (two different values never write the same bytes).
///
/// # Examples
///
/// ```
/// use active_users::FieldValue;
///
/// /// A plan name, stored as its lowercase text.
/// #[derive(Debug, Clone, PartialEq)]
/// struct Plan(String);
///
/// impl FieldValue for Plan {
///     fn parse(text: &str) -> Option<Self> {
///         let plan = text.to_ascii_lowercase();
///         matches!(plan.as_str(), "free" | "pro").then_some(Plan(plan))
///     }
///     fn write_text(&self, out: &mut String) {
///         out.push_str(&self.0);
///     }
/// }
///
/// assert_eq!(Plan::parse("PRO"), Some(Plan("pro".into())));
/// assert_eq!(Plan::parse("gold"), None);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the value of an entry field",
    label = "this type does not implement `active_users::FieldValue`",
    note = "fields hold String, integers, bool, IpAddr, Uuid (feature `uuid`) or a type that implements `FieldValue`"
)]
pub trait FieldValue: Sized {
    /// How the stored form reads without the type: what lets a program that does not know your
    /// entry type (the `active-users` command, a [`Reader`](crate::Reader)) show the value.
    /// Defaults to [`ValueKind::Text`], which is right when `encode` is left as it is; a type
    /// that writes its own binary form says [`ValueKind::Opaque`]. A type that says `Text`
    /// promises that its stored form is its text: the value indexes take those bytes as the
    /// value's text without decoding it.
    const KIND: ValueKind = ValueKind::Text;

    /// Parses request text (a header, cookie or query value). `None` makes the field absent.
    fn parse(text: &str) -> Option<Self>;

    /// Appends the value's text form, used in JSON output, grouping and display.
    fn write_text(&self, out: &mut String);

    /// Appends the stored form. Defaults to the text form.
    fn encode(&self, out: &mut Vec<u8>) {
        let mut text = String::new();
        self.write_text(&mut text);
        out.extend_from_slice(text.as_bytes());
    }

    /// Reads the stored form back. Defaults to parsing it as text. `None` when invalid.
    fn decode(bytes: &[u8]) -> Option<Self> {
        std::str::from_utf8(bytes).ok().and_then(Self::parse)
    }

    /// Appends the stored form of the value that request text parses to; `false` (with
    /// nothing appended) when it does not parse. The derive's code records a request this
    /// way, without building the entry. Defaults to [`parse`](FieldValue::parse) then
    /// [`encode`](FieldValue::encode); a type whose stored form is the text itself (as
    /// `String`'s is) copies it instead, and spares the allocation of the value.
    fn encode_parsed(text: &str, out: &mut Vec<u8>) -> bool {
        match Self::parse(text) {
            Some(value) => {
                value.encode(out);
                true
            }
            None => false,
        }
    }
}

impl FieldValue for String {
    const KIND: ValueKind = ValueKind::Text;
    fn parse(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
    fn write_text(&self, out: &mut String) {
        out.push_str(self);
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        String::from_utf8(bytes.to_vec()).ok()
    }
    fn encode_parsed(text: &str, out: &mut Vec<u8>) -> bool {
        out.extend_from_slice(text.as_bytes());
        true
    }
}

impl FieldValue for bool {
    const KIND: ValueKind = ValueKind::Bool;
    fn parse(text: &str) -> Option<Self> {
        match text {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    }
    fn write_text(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
}

/// Reads a whole slice as one shortest-form varint.
fn decode_varint(bytes: &[u8]) -> Option<u64> {
    match read_varint(bytes) {
        Some((value, used)) if used == bytes.len() => Some(value),
        _ => None,
    }
}

macro_rules! unsigned_value {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const KIND: ValueKind = ValueKind::Unsigned;
            fn parse(text: &str) -> Option<Self> {
                text.parse().ok()
            }
            fn write_text(&self, out: &mut String) {
                out.push_str(&self.to_string());
            }
            fn encode(&self, out: &mut Vec<u8>) {
                write_varint(out, *self as u64);
            }
            fn decode(bytes: &[u8]) -> Option<Self> {
                decode_varint(bytes).and_then(|v| <$t>::try_from(v).ok())
            }
        }
    )*};
}

macro_rules! signed_value {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const KIND: ValueKind = ValueKind::Signed;
            fn parse(text: &str) -> Option<Self> {
                text.parse().ok()
            }
            fn write_text(&self, out: &mut String) {
                out.push_str(&self.to_string());
            }
            fn encode(&self, out: &mut Vec<u8>) {
                let v = *self as i64;
                // zigzag: small magnitudes, positive or negative, take few bytes
                write_varint(out, ((v << 1) ^ (v >> 63)) as u64);
            }
            fn decode(bytes: &[u8]) -> Option<Self> {
                let z = decode_varint(bytes)?;
                let v = ((z >> 1) as i64) ^ -((z & 1) as i64);
                <$t>::try_from(v).ok()
            }
        }
    )*};
}

unsigned_value!(u8, u16, u32, u64, usize);
signed_value!(i8, i16, i32, i64, isize);

impl FieldValue for u128 {
    const KIND: ValueKind = ValueKind::Unsigned128;
    fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
    fn write_text(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(u128::from_be_bytes(bytes.try_into().ok()?))
    }
}

impl FieldValue for i128 {
    const KIND: ValueKind = ValueKind::Signed128;
    fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
    fn write_text(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(i128::from_be_bytes(bytes.try_into().ok()?))
    }
}

impl FieldValue for IpAddr {
    const KIND: ValueKind = ValueKind::Ip;
    fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
    fn write_text(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
        }
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
            return Some(IpAddr::V4(Ipv4Addr::from(v4)));
        }
        let v6 = <[u8; 16]>::try_from(bytes).ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(v6)))
    }
}

#[cfg(feature = "uuid")]
impl FieldValue for uuid::Uuid {
    const KIND: ValueKind = ValueKind::Uuid;
    fn parse(text: &str) -> Option<Self> {
        uuid::Uuid::try_parse(text).ok()
    }
    fn write_text(&self, out: &mut String) {
        out.push_str(&self.hyphenated().to_string());
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        uuid::Uuid::from_slice(bytes).ok()
    }
}

/// How a field's stored form reads, without its Rust type; see [`FieldValue::KIND`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueKind {
    /// UTF-8 text (`String`, and the default for your own types): the stored bytes are what
    /// [`write_text`](FieldValue::write_text) writes, and the value indexes of an `index` or
    /// `distinct` field are written from them as they are.
    Text,
    /// One byte, 0 or 1.
    Bool,
    /// An unsigned LEB128 integer (`u8` to `u64`, `usize`).
    Unsigned,
    /// A zigzag LEB128 integer (`i8` to `i64`, `isize`).
    Signed,
    /// 16 big-endian bytes (`u128`).
    Unsigned128,
    /// 16 big-endian bytes (`i128`).
    Signed128,
    /// 4 or 16 bytes (`IpAddr`).
    Ip,
    /// 16 bytes (`uuid::Uuid`).
    Uuid,
    /// Bytes only the type can read; shown in hexadecimal.
    Opaque,
}

impl ValueKind {
    /// The name used in stored schemas: `text`, `bool`, `unsigned`, `signed`, `u128`, `i128`,
    /// `ip`, `uuid` or `opaque`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Text => "text",
            ValueKind::Bool => "bool",
            ValueKind::Unsigned => "unsigned",
            ValueKind::Signed => "signed",
            ValueKind::Unsigned128 => "u128",
            ValueKind::Signed128 => "i128",
            ValueKind::Ip => "ip",
            ValueKind::Uuid => "uuid",
            ValueKind::Opaque => "opaque",
        }
    }

    /// The kind of a name written by [`as_str`](ValueKind::as_str); an unknown name (from a
    /// newer version) reads as `Opaque`.
    pub fn from_name(name: &str) -> Self {
        [
            ValueKind::Text,
            ValueKind::Bool,
            ValueKind::Unsigned,
            ValueKind::Signed,
            ValueKind::Unsigned128,
            ValueKind::Signed128,
            ValueKind::Ip,
            ValueKind::Uuid,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
        .unwrap_or(ValueKind::Opaque)
    }

    /// The text of a stored value of this kind. Bytes that do not read as the kind are shown in
    /// hexadecimal (`0x…`), so nothing is hidden or lost.
    pub fn render(self, bytes: &[u8]) -> String {
        self.text(bytes).unwrap_or_else(|| {
            let hex: String = bytes.iter().map(|x| format!("{x:02x}")).collect();
            format!("0x{hex}")
        })
    }

    /// The text of a stored value of this kind, as the kind's type writes it; `None` for
    /// bytes that do not read as the kind, and always for `Opaque` (only the type can say).
    pub(crate) fn text(self, bytes: &[u8]) -> Option<String> {
        fn text<T: FieldValue>(bytes: &[u8]) -> Option<String> {
            let mut out = String::new();
            T::decode(bytes)?.write_text(&mut out);
            Some(out)
        }
        match self {
            // The stored form of text is the text: one copy, no parse.
            ValueKind::Text => std::str::from_utf8(bytes).ok().map(str::to_owned),
            ValueKind::Bool => text::<bool>(bytes),
            ValueKind::Unsigned => text::<u64>(bytes),
            ValueKind::Signed => text::<i64>(bytes),
            ValueKind::Unsigned128 => text::<u128>(bytes),
            ValueKind::Signed128 => text::<i128>(bytes),
            ValueKind::Ip => text::<IpAddr>(bytes),
            ValueKind::Uuid => <[u8; 16]>::try_from(bytes).ok().map(|b| {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                )
            }),
            ValueKind::Opaque => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: FieldValue + PartialEq + std::fmt::Debug>(value: T) {
        let mut bytes = Vec::new();
        value.encode(&mut bytes);
        assert_eq!(T::decode(&bytes).as_ref(), Some(&value), "stored form");
        let mut text = String::new();
        value.write_text(&mut text);
        assert_eq!(T::parse(&text).as_ref(), Some(&value), "text form");
    }

    #[test]
    fn builtin_values_round_trip() {
        round_trip(String::new());
        round_trip("ä:b\0\n".to_owned());
        round_trip(true);
        round_trip(false);
        for v in [0u64, 1, 127, 128, u64::MAX] {
            round_trip(v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            round_trip(v);
        }
        round_trip(i8::MIN);
        round_trip(u128::MAX);
        round_trip(i128::MIN);
        round_trip("10.0.0.1".parse::<IpAddr>().expect("ip"));
        round_trip("::ffff:10.0.0.1".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn out_of_range_stored_integers_are_invalid() {
        let mut bytes = Vec::new();
        300u64.encode(&mut bytes);
        assert_eq!(u8::decode(&bytes), None);
        assert_eq!(u8::decode(&[]), None);
        assert_eq!(bool::decode(&[2]), None);
        assert_eq!(IpAddr::decode(&[1, 2, 3]), None);
    }

    #[test]
    fn small_integers_are_stored_in_few_bytes() {
        let mut bytes = Vec::new();
        12_345u64.encode(&mut bytes);
        assert_eq!(bytes.len(), 2);
        bytes.clear();
        (-3i32).encode(&mut bytes);
        assert_eq!(bytes.len(), 1);
    }
}
