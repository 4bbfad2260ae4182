//! The member codec: one entry to one Redis sorted-set member and back.
//!
//! The Python package joins fields with `:`, so an IPv6 address or a username containing `:` is
//! read back into the wrong fields, and a crafted value can forge another entry's dimensions.
//! This codec is length-prefixed instead, which makes it injective by construction:
//!
//! ```text
//! member := VERSION field*
//! field  := varint(0)                      absent (an `Option` field that is None)
//!         | varint(len + 1) byte{len}      present, `len` bytes of the value's binary form
//! ```
//!
//! `varint` is unsigned LEB128. Values are written by [`FieldValue::encode`]: integers as
//! LEB128 (zigzag for signed), IP addresses as their 4 or 16 bytes, strings as their UTF-8 bytes.
//! Each value is at most its field's limit ([`Field::max_len`](crate::Field::max_len),
//! [`DEFAULT_MAX_LEN`] unless the field sets `#[active_users(max_len = N)]`), so one member is
//! bounded by its fields' limits.
//!
//! **Overlong values never drop the visitor.** A text value longer than its field's limit is
//! cut at the last character boundary within the limit, and the cut is counted in
//! [`Stats::truncated`](crate::Stats::truncated). For an identity field (`index` or
//! `distinct`, like a user id) two long values that differ only after the cut must stay two
//! users, so such a value keeps a shorter prefix followed by `~` and 16 hex digits of a hash
//! of the whole value. A value whose stored form is not text (a type with its own binary
//! encoding) cannot be cut: an optional field is then stored absent, and a required one fails
//! with [`EncodeError::ValueTooLong`].
//!
//! The hash is 64-bit FNV-1a: it keeps long ids that differ apart, but it is not keyed, so
//! someone who can choose two long values of an identity field can find two that merge, or
//! send the stored (cut) form of a long value they know. Values within the limit are never
//! cut and never merge; keep identity fields that come from request headers short with
//! `max_len`, or take identities from your authentication layer.
//!
//! Decoding accepts any bytes and never panics: what does not decode is a [`DecodeError`].
//!
//! # Examples
//!
//! ```
//! use active_users::{ActiveUserEntry, DefaultEntry};
//!
//! let entry = DefaultEntry {
//!     user_id: "alice:admin".into(),
//!     session_id: None,
//!     ip: Some("2001:db8::1".parse().unwrap()),
//!     username: Some("a:b:c".into()),
//! };
//! let member = entry.encode().unwrap();
//! assert_eq!(DefaultEntry::decode(&member).unwrap(), entry);
//! ```

use crate::entry::Field;
use crate::value::{FieldValue, ValueKind};

/// The first byte of every member written by this version of the codec.
pub const VERSION: u8 = 1;

/// The most any field may hold, in bytes of its stored form: the ceiling of
/// `#[active_users(max_len = N)]`, and the longest value the decoder accepts.
pub const MAX_VALUE_LEN: usize = 4096;

/// The smallest `#[active_users(max_len = N)]`: room for a cut identity value's hash.
pub const MIN_MAX_LEN: usize = 32;

/// A field's limit when it sets none: 600 bytes, which holds every username Django accepts
/// (150 characters) in any script, 4-byte characters included, and any user id of that size.
pub const DEFAULT_MAX_LEN: usize = 600;

/// Request text longer than this (64 KiB) is cut here before it is parsed, which bounds the
/// work one header, cookie or query value can cause.
pub const MAX_INPUT_LEN: usize = 64 * 1024;

/// The length of the mark an identity value gets when it is cut: `~` and 16 hex digits.
const HASH_MARK_LEN: usize = 17;

/// Why an entry could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A required field's value is longer than its limit and its stored form is not text,
    /// so it cannot be cut (text is cut, never refused).
    #[error(
        "the value of field #{field} is {len} bytes long, more than its limit of {limit}, and its stored form is not text that could be cut"
    )]
    ValueTooLong {
        /// The position of the field in [`ActiveUserEntry::fields`](crate::ActiveUserEntry::fields).
        field: usize,
        /// The length of the value's stored form.
        len: usize,
        /// The field's limit.
        limit: usize,
    },
    /// A hand-written [`encode_fields`](crate::ActiveUserEntry::encode_fields) or
    /// [`encode_request`](crate::ActiveUserEntry::encode_request) wrote another number of
    /// values than the entry has fields: the member would not decode.
    #[error(
        "the entry wrote {written} values for its {fields} fields; every field takes one value, absent or not"
    )]
    WrongFieldCount {
        /// How many values were written.
        written: usize,
        /// How many fields [`ActiveUserEntry::fields`](crate::ActiveUserEntry::fields) lists.
        fields: usize,
    },
    /// All fields together take more bytes than
    /// [`max_entry_len`](crate::ConfigBuilder::max_entry_len) allows.
    #[error("the entry takes {len} bytes with all its fields, more than max_entry_len ({limit})")]
    EntryTooLong {
        /// The length of the encoded entry.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
}

/// Why bytes could not be decoded into an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The member is empty.
    #[error("the member is empty")]
    Empty,
    /// The member was written by another codec version (or is not ours at all).
    #[error("unknown codec version {0} (this build reads version {VERSION})")]
    UnknownVersion(u8),
    /// The member ends in the middle of a field.
    #[error("the member ends in the middle of field #{field}")]
    Truncated {
        /// The position of the field being read.
        field: usize,
    },
    /// A length prefix is malformed or larger than [`MAX_VALUE_LEN`].
    #[error("field #{field} has an invalid length prefix")]
    BadLength {
        /// The position of the field being read.
        field: usize,
    },
    /// A required field is marked absent.
    #[error("required field #{field} is absent")]
    MissingRequired {
        /// The position of the field being read.
        field: usize,
    },
    /// A field's bytes are not a valid value of its type.
    #[error("field #{field} does not hold a valid value of its type")]
    InvalidValue {
        /// The position of the field being read.
        field: usize,
    },
    /// Bytes are left after the last field: the member belongs to an entry with more fields.
    #[error("{0} bytes are left after the last field")]
    TrailingBytes(usize),
    /// The type cannot be decoded (only produced by the stub of a derive that failed).
    #[error("this entry type cannot be decoded")]
    Unsupported,
}

/// Writes the fields of one entry; used by the derived [`encode_fields`](crate::ActiveUserEntry::encode_fields)
/// and [`encode_request`](crate::ActiveUserEntry::encode_request).
#[derive(Debug)]
pub struct Encoder<'a> {
    buf: &'a mut Vec<u8>,
    /// The entry's fields, for each one's limit and whether it is an identity.
    fields: &'static [Field],
    field: usize,
    /// Values cut (or left out) because they were longer than their field's limit.
    cut: usize,
    error: Option<EncodeError>,
}

impl<'a> Encoder<'a> {
    /// An encoder that replaces the contents of `buf` with a member of an entry with these
    /// `fields`, version byte first.
    pub(crate) fn new(buf: &'a mut Vec<u8>, fields: &'static [Field]) -> Self {
        buf.clear();
        buf.push(VERSION);
        Encoder {
            buf,
            fields,
            field: 0,
            cut: 0,
            error: None,
        }
    }

    /// Writes a present value of a required field.
    pub fn put<T: FieldValue>(&mut self, value: &T) {
        self.put_value(value, false);
    }

    /// Writes an optional value: `None` is stored as absent.
    pub fn put_opt<T: FieldValue>(&mut self, value: Option<&T>) {
        match value {
            Some(value) => self.put_value(value, true),
            None => self.put_absent(),
        }
    }

    /// Writes the value that `text` parses to as a `T` (read from a request), without building
    /// the value where the type can help it (a `String` field copies the text). When `text`
    /// does not parse it returns `false`, having written the absent value if the field is
    /// `optional`, and nothing if it is required (the request has no entry then).
    pub fn put_parsed<T: FieldValue>(&mut self, text: &str, optional: bool) -> bool {
        let start = self.buf.len();
        self.buf.push(0);
        if !T::encode_parsed(text, self.buf) {
            self.buf.truncate(start);
            if optional {
                self.put_absent();
            }
            return false;
        }
        self.end_value::<T>(start, optional);
        true
    }

    /// Writes an absent value (of an optional field).
    pub fn put_absent(&mut self) {
        self.buf.push(0);
        self.field += 1;
    }

    /// Writes a value of a field that is `optional` or not (what `put` and `put_opt` do).
    pub(crate) fn put_value<T: FieldValue>(&mut self, value: &T, optional: bool) {
        // Reserve one length byte, write the value after it, then fix the prefix up: most
        // values are shorter than 127 bytes, whose length prefix takes one byte.
        let start = self.buf.len();
        self.buf.push(0);
        value.encode(self.buf);
        self.end_value::<T>(start, optional);
    }

    /// Ends the value whose stored form follows the length byte at `start`: cuts it to the
    /// field's limit, and writes its length.
    fn end_value<T: FieldValue>(&mut self, start: usize, optional: bool) {
        let mut len = self.buf.len() - start - 1;
        let (limit, identity) = self
            .fields
            .get(self.field)
            .map_or((DEFAULT_MAX_LEN, false), |f| {
                (
                    f.max_len.clamp(MIN_MAX_LEN, MAX_VALUE_LEN),
                    f.indexed || f.secret,
                )
            });
        if len > limit {
            self.cut += 1;
            let stored = &self.buf[start + 1..];
            match cut_text::<T>(stored, limit, identity) {
                Some(cut) => {
                    self.buf.truncate(start + 1);
                    self.buf.extend_from_slice(&cut);
                    len = cut.len();
                }
                None if optional => {
                    // Not text: it cannot be cut, and an optional field can do without it.
                    self.buf.truncate(start);
                    self.put_absent();
                    return;
                }
                None => {
                    self.error.get_or_insert(EncodeError::ValueTooLong {
                        field: self.field,
                        len,
                        limit,
                    });
                }
            }
        }
        let tag = len as u64 + 1;
        if tag < 0x80 {
            self.buf[start] = tag as u8;
        } else {
            let mut prefix = Vec::with_capacity(3);
            write_varint(&mut prefix, tag);
            self.buf.splice(start..=start, prefix);
        }
        self.field += 1;
    }

    /// Ends the member: how many values were cut to their limit, or the first error met.
    pub(crate) fn finish(self) -> Result<usize, EncodeError> {
        match self.error {
            Some(err) => Err(err),
            None if self.field != self.fields.len() => Err(EncodeError::WrongFieldCount {
                written: self.field,
                fields: self.fields.len(),
            }),
            None => Ok(self.cut),
        }
    }
}

/// The stored form of a text value cut to `limit` bytes at a character boundary; for an
/// identity, a shorter prefix and `~` with the hash of the whole value. `None` when the stored
/// form is not text, or the type does not read the cut text back.
fn cut_text<T: FieldValue>(stored: &[u8], limit: usize, identity: bool) -> Option<Vec<u8>> {
    if T::KIND != ValueKind::Text {
        return None;
    }
    let text = std::str::from_utf8(stored).ok()?;
    let keep = if identity {
        limit - HASH_MARK_LEN
    } else {
        limit
    };
    let mut end = keep.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = Vec::with_capacity(limit);
    cut.extend_from_slice(&stored[..end]);
    if identity {
        use std::fmt::Write as _;
        let mut mark = String::with_capacity(HASH_MARK_LEN);
        let _ = write!(mark, "~{:016x}", crate::core::fnv1a(stored));
        cut.extend_from_slice(mark.as_bytes());
    }
    T::decode(&cut).is_some().then_some(cut)
}

/// Cuts request text longer than [`MAX_INPUT_LEN`] at a character boundary.
pub(crate) fn bound_input(text: &str) -> &str {
    if text.len() <= MAX_INPUT_LEN {
        return text;
    }
    let mut end = MAX_INPUT_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's reusable encoding buffer (a fresh one if it is already in use).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut Vec::new()),
    })
}

/// Reads the fields of one member; used by the derived [`decode_fields`](crate::ActiveUserEntry::decode_fields).
#[derive(Debug)]
pub struct Decoder<'a> {
    rest: &'a [u8],
    field: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder over a whole member, after checking its version byte.
    pub(crate) fn new(member: &'a [u8]) -> Result<Self, DecodeError> {
        match member.split_first() {
            None => Err(DecodeError::Empty),
            Some((&VERSION, rest)) => Ok(Decoder { rest, field: 0 }),
            Some((&other, _)) => Err(DecodeError::UnknownVersion(other)),
        }
    }

    /// The raw bytes of the next field, `None` when it is absent.
    pub(crate) fn next_raw(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        let field = self.field;
        let (tag, used) = read_varint(self.rest).ok_or(if self.rest.is_empty() {
            DecodeError::Truncated { field }
        } else {
            DecodeError::BadLength { field }
        })?;
        self.rest = &self.rest[used..];
        self.field += 1;
        if tag == 0 {
            return Ok(None);
        }
        let len = usize::try_from(tag - 1).map_err(|_| DecodeError::BadLength { field })?;
        if len > MAX_VALUE_LEN {
            return Err(DecodeError::BadLength { field });
        }
        if self.rest.len() < len {
            return Err(DecodeError::Truncated { field });
        }
        let (value, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(Some(value))
    }

    /// Reads a required value.
    ///
    /// # Errors
    /// When the field is absent, truncated or not a valid `T`.
    pub fn take<T: FieldValue>(&mut self) -> Result<T, DecodeError> {
        let field = self.field;
        match self.next_raw()? {
            Some(bytes) => T::decode(bytes).ok_or(DecodeError::InvalidValue { field }),
            None => Err(DecodeError::MissingRequired { field }),
        }
    }

    /// Reads an optional value.
    ///
    /// # Errors
    /// When the field is truncated or not a valid `T`.
    pub fn take_opt<T: FieldValue>(&mut self) -> Result<Option<T>, DecodeError> {
        let field = self.field;
        match self.next_raw()? {
            Some(bytes) => T::decode(bytes)
                .map(Some)
                .ok_or(DecodeError::InvalidValue { field }),
            None => Ok(None),
        }
    }

    /// Checks that nothing is left.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.rest.len()))
        }
    }
}

/// The text of each indexed field of `member`, read from its stored bytes without the entry
/// type (`None` for the other fields and for absent values), in field order. `None` when a
/// field does not read, or when an indexed field is [`ValueKind::Opaque`]: only its type can
/// say its text.
pub(crate) fn indexed_texts(member: &[u8], fields: &[Field]) -> Option<Vec<Option<String>>> {
    let mut dec = Decoder::new(member).ok()?;
    let mut texts = Vec::with_capacity(fields.len());
    for field in fields {
        let raw = dec.next_raw().ok()?;
        texts.push(match raw {
            Some(bytes) if field.indexed => Some(field.kind.text(bytes)?),
            _ => None,
        });
    }
    dec.finish().ok()?;
    Some(texts)
}

/// Appends `value` as unsigned LEB128.
pub(crate) fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads an unsigned LEB128 value in its shortest form; returns it and the bytes used.
pub(crate) fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        let part = u64::from(byte & 0x7f);
        if i == 9 && part > 1 {
            return None; // more than 64 bits
        }
        value |= part << (7 * i);
        if byte & 0x80 == 0 {
            // A final zero byte after a continuation is a longer spelling of a shorter number.
            if i > 0 && byte == 0 {
                return None;
            }
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ActiveUserEntry;

    /// An entry with an indexed field of every kind that is not opaque, a cut identity, and
    /// fields that are not indexed.
    #[derive(Debug, crate::ActiveUserEntry)]
    struct EveryKind {
        #[from_header("a")]
        #[active_users(distinct, max_len = 32)]
        text: String,
        #[from_header("b")]
        #[active_users(index)]
        flag: Option<bool>,
        #[from_header("c")]
        #[active_users(distinct)]
        unsigned: Option<u64>,
        #[from_header("d")]
        #[active_users(index)]
        signed: Option<i32>,
        #[from_header("e")]
        #[active_users(distinct)]
        wide: Option<u128>,
        #[from_header("f")]
        #[active_users(distinct)]
        narrow: Option<i128>,
        #[from_client_ip]
        #[active_users(index)]
        ip: Option<std::net::IpAddr>,
        #[from_header("g")]
        plain: Option<String>,
    }

    proptest::proptest! {
        /// The value indexes are written from the stored bytes: their texts must be what the
        /// type itself writes after decoding, for every kind, cut or not.
        #[test]
        fn indexed_texts_from_stored_bytes_are_the_types_own_texts(
            text in "\\PC{0,40}",
            flag in proptest::option::of(proptest::bool::ANY),
            unsigned in proptest::option::of(proptest::num::u64::ANY),
            signed in proptest::option::of(proptest::num::i32::ANY),
            wide in proptest::option::of(proptest::num::u128::ANY),
            narrow in proptest::option::of(proptest::num::i128::ANY),
            ip in proptest::option::of(proptest::prelude::any::<std::net::IpAddr>()),
            plain in proptest::option::of("\\PC{0,10}"),
        ) {
            let entry = EveryKind { text, flag, unsigned, signed, wide, narrow, ip, plain };
            let member = entry.encode().expect("encodes");
            let decoded = EveryKind::decode(&member).expect("decodes");
            let texts = indexed_texts(&member, EveryKind::fields()).expect("reads");
            for ((field, fast), typed) in EveryKind::fields().iter().zip(texts).zip(decoded.values()) {
                let expected = if field.indexed { typed } else { None };
                proptest::prop_assert_eq!(fast, expected, "field {}", field.name);
            }
        }
    }

    #[test]
    fn indexed_texts_leave_an_opaque_indexed_field_to_its_type() {
        let fields = [Field {
            name: "o",
            optional: false,
            indexed: true,
            grouped: false,
            hidden: false,
            secret: false,
            kind: ValueKind::Opaque,
            max_len: 64,
        }];
        assert_eq!(indexed_texts(&[VERSION, 2, 7], &fields), None);
        let plain = [Field {
            indexed: false,
            ..fields[0]
        }];
        assert_eq!(indexed_texts(&[VERSION, 2, 7], &plain), Some(vec![None]));
        assert_eq!(indexed_texts(&[VERSION, 2], &plain), None, "truncated");
    }

    #[test]
    fn varint_round_trips_and_rejects_overlong_forms() {
        for value in [0, 1, 127, 128, 255, 300, 16_383, 16_384, u64::MAX] {
            let mut buf = Vec::new();
            write_varint(&mut buf, value);
            assert_eq!(read_varint(&buf), Some((value, buf.len())));
        }
        assert_eq!(read_varint(&[0x80, 0x00]), None);
        assert_eq!(read_varint(&[0xff; 11]), None);
        assert_eq!(read_varint(&[0x80]), None);
        assert_eq!(read_varint(&[]), None);
    }

    #[test]
    fn decoder_rejects_bad_members_without_panicking() {
        assert_eq!(Decoder::new(&[]).err(), Some(DecodeError::Empty));
        assert_eq!(
            Decoder::new(&[9]).err(),
            Some(DecodeError::UnknownVersion(9))
        );
        let mut dec = Decoder::new(&[VERSION, 5, b'a']).expect("version ok");
        assert_eq!(
            dec.take::<String>(),
            Err(DecodeError::Truncated { field: 0 })
        );
        let mut dec = Decoder::new(&[VERSION, 0]).expect("version ok");
        assert_eq!(
            dec.take::<String>(),
            Err(DecodeError::MissingRequired { field: 0 })
        );
        let mut dec = Decoder::new(&[VERSION, 2, 0xff]).expect("version ok");
        assert_eq!(
            dec.take::<String>(),
            Err(DecodeError::InvalidValue { field: 0 })
        );
    }

    #[test]
    fn long_values_get_multi_byte_length_prefixes() {
        #[derive(Debug, crate::ActiveUserEntry)]
        struct TwoTexts {
            #[from_header("a")]
            a: String,
            #[from_header("b")]
            b: String,
        }
        let mut buf = Vec::new();
        let mut enc = Encoder::new(&mut buf, TwoTexts::fields());
        enc.put(&"a".repeat(200));
        enc.put(&"b".to_owned());
        enc.finish().expect("within the limit");
        // version, 2-byte prefix (201), 200 bytes, 1-byte prefix (2), 1 byte
        assert_eq!(buf.len(), 1 + 2 + 200 + 1 + 1);
        let mut dec = Decoder::new(&buf).expect("version");
        assert_eq!(dec.take::<String>(), Ok("a".repeat(200)));
        assert_eq!(dec.take::<String>(), Ok("b".to_owned()));
        dec.finish().expect("nothing left");
    }

    fn field(max_len: usize, indexed: bool) -> Field {
        crate::__private::field(
            "f",
            true,
            indexed,
            false,
            false,
            false,
            ValueKind::Text,
            max_len,
        )
    }

    #[test]
    fn overlong_text_is_cut_at_a_character_boundary() {
        static FIELDS: std::sync::OnceLock<Vec<Field>> = std::sync::OnceLock::new();
        let fields = FIELDS.get_or_init(|| vec![field(32, false), field(32, true)]);
        // 20 two-byte characters: 40 bytes, cut to 16 characters (32 bytes).
        let long = "ж".repeat(20);
        let mut buf = Vec::new();
        let mut enc = Encoder::new(&mut buf, fields);
        enc.put(&long);
        enc.put(&long);
        assert_eq!(enc.finish(), Ok(2));
        let mut dec = Decoder::new(&buf).expect("version");
        assert_eq!(dec.take::<String>(), Ok("ж".repeat(16)));
        // The identity keeps 15 bytes (7 characters) and a hash of the whole value.
        let id = dec.take::<String>().expect("identity");
        assert_eq!(id.len(), 14 + 17);
        assert!(
            id.starts_with(&"ж".repeat(7)) && id.as_bytes()[14] == b'~',
            "{id}"
        );
        dec.finish().expect("nothing left");

        // Two identities that differ only after the cut stay different; the same value cuts
        // the same way every time.
        let ids = |tail: &str| {
            let mut buf = Vec::new();
            let mut enc = Encoder::new(&mut buf, &fields[1..]);
            enc.put(&format!("{long}{tail}"));
            enc.finish().expect("cut");
            buf
        };
        assert_ne!(ids("a"), ids("b"));
        assert_eq!(ids("a"), ids("a"));
    }

    #[test]
    fn a_value_that_is_not_text_is_left_out_or_refused_when_over_the_limit() {
        static FIELDS: std::sync::OnceLock<Vec<Field>> = std::sync::OnceLock::new();
        let fields = FIELDS.get_or_init(|| vec![field(32, false), field(32, false)]);
        /// Binary stored form: cannot be cut.
        #[derive(Debug, PartialEq)]
        struct Blob(Vec<u8>);
        impl FieldValue for Blob {
            const KIND: ValueKind = ValueKind::Opaque;
            fn parse(_: &str) -> Option<Self> {
                None
            }
            fn write_text(&self, _: &mut String) {}
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0);
            }
            fn decode(bytes: &[u8]) -> Option<Self> {
                Some(Blob(bytes.to_vec()))
            }
        }
        let blob = Blob(vec![7; 40]);
        let mut buf = Vec::new();
        let mut enc = Encoder::new(&mut buf, fields);
        enc.put_opt(Some(&blob));
        enc.put(&"ok".to_owned());
        assert_eq!(enc.finish(), Ok(1));
        let mut dec = Decoder::new(&buf).expect("version");
        assert_eq!(dec.take_opt::<Blob>(), Ok(None), "left out");
        assert_eq!(dec.take::<String>().as_deref(), Ok("ok"));

        let mut enc = Encoder::new(&mut buf, fields);
        enc.put(&blob);
        assert_eq!(
            enc.finish(),
            Err(EncodeError::ValueTooLong {
                field: 0,
                len: 40,
                limit: 32
            })
        );
    }

    #[test]
    fn input_is_bounded_at_a_character_boundary() {
        let text = format!("{}ж", "a".repeat(MAX_INPUT_LEN - 1));
        assert_eq!(bound_input(&text).len(), MAX_INPUT_LEN - 1);
        assert_eq!(bound_input("short"), "short");
    }

    /// A hand-written entry whose `encode_fields` writes one value for its two fields.
    #[derive(Debug)]
    struct ForgetsAField;

    impl crate::ActiveUserEntry for ForgetsAField {
        fn fields() -> &'static [crate::Field] {
            static FIELDS: std::sync::OnceLock<Vec<crate::Field>> = std::sync::OnceLock::new();
            FIELDS.get_or_init(|| {
                ["n", "name"]
                    .map(|name| {
                        crate::__private::field(
                            name,
                            true,
                            false,
                            false,
                            false,
                            false,
                            ValueKind::Text,
                            DEFAULT_MAX_LEN,
                        )
                    })
                    .to_vec()
            })
        }
        fn extract(_: &crate::RequestHead<'_>, _: &crate::ExtractContext) -> Option<Self> {
            Some(ForgetsAField)
        }
        fn encode_fields(&self, enc: &mut Encoder<'_>) {
            enc.put_absent();
        }
        fn decode_fields(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
            dec.take_opt::<u64>()?;
            dec.take_opt::<String>()?;
            Ok(ForgetsAField)
        }
        fn write_values(&self, out: &mut Vec<Option<String>>) {
            out.extend([None, None]);
        }
    }

    #[test]
    fn a_member_with_a_value_missing_is_refused_not_stored_undecodable() {
        let mut member = Vec::new();
        assert_eq!(
            crate::entry::encode_counting_cuts(&ForgetsAField, &mut member),
            Err(EncodeError::WrongFieldCount {
                written: 1,
                fields: 2
            })
        );
        let tracker: crate::Tracker<ForgetsAField> = tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(async {
                crate::Tracker::new(crate::Config::default(), crate::MemoryStore::new())
            })
            .expect("tracker");
        let request = http::Request::get("/").body(()).expect("request");
        assert!(matches!(
            tracker.record(&request),
            crate::Outcome::Invalid(EncodeError::WrongFieldCount { .. })
        ));
        assert_eq!(tracker.stats().invalid, 1);
    }

    #[test]
    fn an_optional_value_that_does_not_parse_is_written_absent() {
        let fields = EveryKind::fields();
        let mut member = Vec::new();
        let mut enc = Encoder::new(&mut member, &fields[..2]);
        enc.put_parsed::<String>("x", false);
        assert!(!enc.put_parsed::<bool>("not a bool", true));
        assert_eq!(enc.finish(), Ok(0));
        let mut dec = Decoder::new(&member).expect("version");
        assert_eq!(dec.take::<String>(), Ok("x".to_owned()));
        assert_eq!(dec.take_opt::<bool>(), Ok(None));
        // A required one writes nothing: the request has no entry.
        let mut member = Vec::new();
        let mut enc = Encoder::new(&mut member, &fields[..1]);
        assert!(!enc.put_parsed::<u64>("x", false));
        assert_eq!(member, [VERSION]);
    }
}
