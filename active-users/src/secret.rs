//! Keyed hashing of credential fields (`#[active_users(secret)]`).
//!
//! A session cookie is a credential: whoever reads it can act as the user. A field marked
//! `secret` is therefore never written to the store as it is: the tracker replaces its value
//! with 11 characters of base64url, the 64 bits of SipHash-2-4 of the value under the
//! namespace's key. SipHash-2-4 is a pseudorandom function: without the key, the stored text
//! says nothing about the value and no value can be chosen to hit a given text.
//!
//! The key is [`ConfigBuilder::secret_key`](crate::ConfigBuilder::secret_key) when the
//! application sets one; otherwise the first tracker of a namespace generates one and keeps it
//! in the store, where every other tracker of the namespace reads it (a key under the
//! namespace, refreshed with the namespace's description).

use std::fmt;
use std::hash::{BuildHasher, Hasher};

use crate::codec::{DecodeError, Decoder, VERSION};

/// A 128-bit SipHash key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SecretKey {
    k0: u64,
    k1: u64,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// The length of a hashed value: 64 bits in base64url without padding.
pub(crate) const HASHED_LEN: usize = 11;

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl SecretKey {
    /// A key from the operating system's randomness (through std's randomly keyed hasher,
    /// whose keys come from the OS once per thread, mixed with the time and a counter).
    pub(crate) fn generate() -> Self {
        SecretKey {
            k0: random_u64(),
            k1: random_u64(),
        }
    }

    /// The key derived from a configured secret (at least 16 bytes, checked by the config).
    pub(crate) fn derive(secret: &[u8]) -> Self {
        // SipHash under a fixed key is a good mixer; the result is as secret as the input.
        SecretKey {
            k0: 0x6163_7469_7665_2d75,
            k1: 0x7365_7273_2d6b_6579,
        }
        .for_use(secret)
    }

    /// The stored form: 32 hex digits.
    pub(crate) fn to_hex(self) -> String {
        format!("{:016x}{:016x}", self.k0, self.k1)
    }

    /// Whether `bytes` are a stored key: 32 hex digits.
    pub(crate) fn is_stored_form(bytes: &[u8]) -> bool {
        bytes.len() == 32 && bytes.iter().all(u8::is_ascii_hexdigit)
    }

    /// Reads the stored form back; `None` for anything else.
    pub(crate) fn from_hex(bytes: &[u8]) -> Option<Self> {
        if !Self::is_stored_form(bytes) {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?;
        Some(SecretKey {
            k0: u64::from_str_radix(&text[..16], 16).ok()?,
            k1: u64::from_str_radix(&text[16..], 16).ok()?,
        })
    }

    /// SipHash-2-4 of `data` under this key, 64-bit output.
    pub(crate) fn siphash(&self, data: &[u8]) -> u64 {
        let mut v = [
            self.k0 ^ 0x736f_6d65_7073_6575,
            self.k1 ^ 0x646f_7261_6e64_6f6d,
            self.k0 ^ 0x6c79_6765_6e65_7261,
            self.k1 ^ 0x7465_6462_7974_6573,
        ];
        let mut chunks = data.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            compress(&mut v, u64::from_le_bytes(word), 2);
        }
        let mut last = [0; 8];
        let tail = chunks.remainder();
        last[..tail.len()].copy_from_slice(tail);
        // The length's low byte goes in the last word's top byte.
        let word = u64::from_le_bytes(last) | ((data.len() as u64 & 0xff) << 56);
        compress(&mut v, word, 2);
        v[2] ^= 0xff;
        for _ in 0..4 {
            round(&mut v);
        }
        v[0] ^ v[1] ^ v[2] ^ v[3]
    }

    /// The stored text of a secret value: its hash in base64url.
    pub(crate) fn hash_text(&self, value: &[u8]) -> [u8; HASHED_LEN] {
        let hash = self.siphash(value);
        let mut out = [0; HASHED_LEN];
        for (i, slot) in out.iter_mut().enumerate() {
            // 6 bits at a time from the top; the last character carries the low 4 bits.
            let shift = 58_i32 - 6 * i as i32;
            let bits = if shift >= 0 {
                hash >> shift
            } else {
                hash << -shift
            };
            *slot = BASE64URL[(bits & 0x3f) as usize];
        }
        out
    }
}

impl SecretKey {
    /// A key for another use, derived from this one: outputs under the two never coincide.
    pub(crate) fn for_use(&self, name: &[u8]) -> SecretKey {
        let mut tagged = Vec::with_capacity(name.len() + 1);
        tagged.extend_from_slice(name);
        tagged.push(0);
        let k0 = self.siphash(&tagged);
        tagged.push(1);
        SecretKey {
            k0,
            k1: self.siphash(&tagged),
        }
    }

    /// Encrypts or decrypts `data` in place: XOR with SipHash of (nonce, block number) under
    /// this key, a pseudorandom stream for each nonce. Never use a nonce twice with one key.
    #[cfg_attr(not(feature = "api"), allow(dead_code))] // the JSON API seals its cursors
    pub(crate) fn stream_xor(&self, nonce: u64, data: &mut [u8]) {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&nonce.to_le_bytes());
        for (i, chunk) in data.chunks_mut(8).enumerate() {
            block[8..].copy_from_slice(&(i as u64).to_le_bytes());
            let pad = self.siphash(&block).to_le_bytes();
            for (byte, p) in chunk.iter_mut().zip(pad) {
                *byte ^= p;
            }
        }
    }
}

/// 64 random bits from std's randomly keyed hasher (keys from the OS once per thread, a new
/// one per call), mixed with the time: unpredictable, and in practice never repeated.
pub(crate) fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}

/// `bytes` in base64url without padding.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64URL[(n >> (18 - 6 * i)) as usize & 0x3f]));
        }
    }
    out
}

/// The bytes of base64url text without padding; `None` for anything else (another
/// alphabet, padding, a length no encoding has, bits set past the end).
pub(crate) fn from_base64url(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = BASE64URL.iter().position(|&a| a == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1;
        // The bits past the last byte must be zero: one text per byte string.
        if n & ((1 << (24 - 8 * bytes)) - 1) != 0 {
            return None;
        }
        for i in 0..bytes {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

fn compress(v: &mut [u64; 4], word: u64, rounds: usize) {
    v[3] ^= word;
    for _ in 0..rounds {
        round(v);
    }
    v[0] ^= word;
}

fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// `member` with the value of every field that `secret` marks replaced by its keyed hash
/// (absent values stay absent). `secret[i]` is field `i`'s flag.
///
/// # Errors
/// When `member` does not decode as a member with `secret.len()` fields.
pub(crate) fn hash_secrets(
    member: &[u8],
    secret: &[bool],
    key: &SecretKey,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(member.len());
    hash_secrets_into(member, secret, key, &mut out)?;
    Ok(out)
}

/// [`hash_secrets`] into `out`, replacing its contents and reusing its allocation.
///
/// # Errors
/// As [`hash_secrets`]; `out` then holds an incomplete member.
pub(crate) fn hash_secrets_into(
    member: &[u8],
    secret: &[bool],
    key: &SecretKey,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let mut dec = Decoder::new(member)?;
    out.clear();
    out.push(VERSION);
    for &is_secret in secret {
        match dec.next_raw()? {
            None => out.push(0),
            Some(value) if is_secret => {
                out.push(HASHED_LEN as u8 + 1);
                out.extend_from_slice(&key.hash_text(value));
            }
            Some(value) => {
                crate::codec::write_varint(out, value.len() as u64 + 1);
                out.extend_from_slice(value);
            }
        }
    }
    dec.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference key 00 01 .. 0f.
    fn reference_key() -> SecretKey {
        SecretKey {
            k0: 0x0706_0504_0302_0100,
            k1: 0x0f0e_0d0c_0b0a_0908,
        }
    }

    #[test]
    fn siphash_matches_the_reference_vectors() {
        // SipHash-2-4 with 64-bit output, key 00..0f, message 00 01 .. (len-1), from the
        // reference implementation's test vectors (Aumasson and Bernstein, 2012).
        let expected: [(usize, u64); 6] = [
            (0, 0x726f_db47_dd0e_0e31),
            (1, 0x74f8_39c5_93dc_67fd),
            (7, 0xab02_00f5_8b01_d137),
            (8, 0x93f5_f579_9a93_2462),
            (15, 0xa129_ca61_49be_45e5),
            (63, 0x958a_324c_eb06_4572),
        ];
        let message: Vec<u8> = (0..64).collect();
        for (len, hash) in expected {
            assert_eq!(
                reference_key().siphash(&message[..len]),
                hash,
                "length {len}"
            );
        }
    }

    #[test]
    fn hashed_text_is_base64url_of_the_hash() {
        let key = reference_key();
        let text = key.hash_text(b"");
        // 0x726fdb47dd0e0e31 in 6-bit groups from the top.
        assert_eq!(&text, b"cm_bR90ODjE");
        assert!(text.iter().all(|b| BASE64URL.contains(b)));
    }

    #[test]
    fn base64url_round_trips_and_refuses_other_texts() {
        for len in 0..20_usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
            let text = base64url(&bytes);
            assert_eq!(text.len(), (len * 4).div_ceil(3));
            assert_eq!(from_base64url(&text), Some(bytes));
        }
        assert_eq!(
            base64url(&0x726f_db47_dd0e_0e31_u64.to_be_bytes()),
            "cm_bR90ODjE"
        );
        for bad in ["A", "AB=", "A+B/", "AB", "ABC", "a b"] {
            // "AB" and "ABC" carry bits past the end of their last byte.
            assert_eq!(from_base64url(bad), None, "{bad}");
        }
        assert_eq!(from_base64url("AA"), Some(vec![0]));
    }

    #[test]
    fn the_stream_round_trips_and_hides_the_data() {
        let key = reference_key().for_use(b"cursor");
        assert_ne!(key, reference_key());
        let plain = b"\x01\x03abc\x00\x04\x7f\x00\x00\x01 a member of some length".to_vec();
        let mut sealed = plain.clone();
        key.stream_xor(7, &mut sealed);
        assert_ne!(sealed, plain);
        let mut other = plain.clone();
        key.stream_xor(8, &mut other);
        assert_ne!(other, sealed, "another nonce, another stream");
        key.stream_xor(7, &mut sealed);
        assert_eq!(sealed, plain);
        assert_ne!(random_u64(), random_u64());
    }

    #[test]
    fn keys_round_trip_and_differ() {
        let a = SecretKey::generate();
        let b = SecretKey::generate();
        assert_ne!(a, b);
        assert_eq!(SecretKey::from_hex(a.to_hex().as_bytes()), Some(a));
        assert_eq!(SecretKey::from_hex(b"not a key"), None);
        assert_eq!(SecretKey::from_hex(&[b'g'; 32]), None);
        assert_eq!(format!("{a:?}"), "SecretKey(..)");
        assert_eq!(
            SecretKey::derive(b"0123456789abcdef"),
            SecretKey::derive(b"0123456789abcdef")
        );
        assert_ne!(
            SecretKey::derive(b"0123456789abcdef"),
            SecretKey::derive(b"0123456789abcdeg")
        );
    }

    #[test]
    fn only_secret_fields_are_replaced() {
        let key = reference_key();
        // Three fields: "user", absent, "sess".
        let member = [
            VERSION, 5, b'u', b's', b'e', b'r', 0, 5, b's', b'e', b's', b's',
        ];
        let hashed = hash_secrets(&member, &[false, true, true], &key).unwrap();
        let mut dec = Decoder::new(&hashed).unwrap();
        assert_eq!(dec.next_raw().unwrap(), Some(&b"user"[..]));
        assert_eq!(dec.next_raw().unwrap(), None);
        assert_eq!(dec.next_raw().unwrap(), Some(&key.hash_text(b"sess")[..]));
        dec.finish().unwrap();
        assert!(hash_secrets(&member, &[false, true], &key).is_err());
        assert!(hash_secrets(&[], &[true], &key).is_err());
    }
}
