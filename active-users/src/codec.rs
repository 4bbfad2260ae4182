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
//! Each value is at most [`MAX_VALUE_LEN`] bytes, so one member is bounded by the number of fields.
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

use crate::value::FieldValue;

/// The first byte of every member written by this version of the codec.
pub const VERSION: u8 = 1;

/// The longest value a field may hold, in bytes of its stored form (and of its request text).
///
/// A header, cookie or query value longer than this makes the field absent; an entry built in
/// code with a longer value fails to encode with [`EncodeError::ValueTooLong`]. Values are never
/// cut: two long values that share a prefix would then be stored as the same user.
pub const MAX_VALUE_LEN: usize = 256;

/// Why an entry could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A field's value is longer than [`MAX_VALUE_LEN`] bytes.
    #[error(
        "the value of field #{field} is {len} bytes long, more than the limit of {MAX_VALUE_LEN}"
    )]
    ValueTooLong {
        /// The position of the field in [`ActiveUserEntry::fields`](crate::ActiveUserEntry::fields).
        field: usize,
        /// The length of the value's stored form.
        len: usize,
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

/// Writes the fields of one entry; used by the derived [`encode_fields`](crate::ActiveUserEntry::encode_fields).
#[derive(Debug)]
pub struct Encoder<'a> {
    buf: &'a mut Vec<u8>,
    field: usize,
    error: Option<EncodeError>,
}

impl<'a> Encoder<'a> {
    /// An encoder that replaces the contents of `buf` with a member, version byte first.
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Self {
        buf.clear();
        buf.push(VERSION);
        Encoder {
            buf,
            field: 0,
            error: None,
        }
    }

    /// Writes a present value.
    pub fn put<T: FieldValue>(&mut self, value: &T) {
        // Reserve one length byte, write the value after it, then fix the prefix up: most
        // values are shorter than 127 bytes, whose length prefix takes one byte.
        let start = self.buf.len();
        self.buf.push(0);
        value.encode(self.buf);
        let len = self.buf.len() - start - 1;
        if len > MAX_VALUE_LEN {
            self.error.get_or_insert(EncodeError::ValueTooLong {
                field: self.field,
                len,
            });
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

    /// Writes an optional value: `None` is stored as absent.
    pub fn put_opt<T: FieldValue>(&mut self, value: Option<&T>) {
        match value {
            Some(value) => self.put(value),
            None => {
                self.buf.push(0);
                self.field += 1;
            }
        }
    }

    /// Ends the member: the first error met, if any.
    pub(crate) fn finish(self) -> Result<(), EncodeError> {
        match self.error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
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
        let mut buf = Vec::new();
        let mut enc = Encoder::new(&mut buf);
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

    #[test]
    fn encoder_refuses_values_over_the_limit() {
        let mut buf = Vec::new();
        let mut enc = Encoder::new(&mut buf);
        enc.put(&"x".repeat(MAX_VALUE_LEN));
        enc.put(&"y".repeat(MAX_VALUE_LEN + 1));
        assert_eq!(
            enc.finish(),
            Err(EncodeError::ValueTooLong {
                field: 1,
                len: MAX_VALUE_LEN + 1
            })
        );
    }
}
