//! Any bytes in the store: decoding returns an entry or a typed error, and what decodes
//! re-encodes to the same bytes.
#![no_main]

use active_users::{ActiveUserEntry, DefaultEntry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = DefaultEntry::decode(data) {
        let again = entry
            .encode()
            .expect("a decoded entry is within the limits");
        assert_eq!(again, data, "decoding is the inverse of encoding");
    }
});
