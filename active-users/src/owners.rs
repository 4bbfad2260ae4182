//! The cap on entries per user: one user (or one client IP) cannot fill the active set with
//! sessions of its own.
//!
//! An entry's owner is the value of the entry type's first `distinct`/`index` field (the
//! user id of `DefaultEntry`), or, for a type without one, of its first IP field. Each
//! tracker remembers, per owner, the entries it recorded for it within the window (64-bit
//! keyed hashes and a time each); a new entry of an owner that already has the cap's number
//! is refused. The memory is bounded: [`MAX_OWNERS`] owners at most, beyond which new owners
//! go unchecked until the next sweep frees room.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::codec::Decoder;
use crate::secret::SecretKey;

/// The most owners one tracker remembers at once.
pub(crate) const MAX_OWNERS: usize = 200_000;

#[derive(Debug)]
pub(crate) struct Owners {
    /// The position of the owner's field in a member.
    field: usize,
    cap: usize,
    window: Duration,
    /// A process-local key, so that a visitor cannot choose values whose hashes collide.
    key: SecretKey,
    /// Per owner hash, its entries' hashes with when each was last recorded.
    seen: HashMap<u64, Vec<(u64, Instant)>>,
    last_sweep: Instant,
}

/// What [`Owners::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Recorded: within the cap, already known, or without an owner.
    Yes,
    /// The owner has the cap's number of other entries within the window.
    Refused,
    /// Recorded without a check: too many owners to remember.
    Unchecked,
}

impl Owners {
    /// A cap of `cap` entries per owner, the owner being field `field` of each member.
    pub(crate) fn new(field: usize, cap: usize, window: Duration) -> Self {
        Owners {
            field,
            cap,
            window,
            key: SecretKey::generate(),
            seen: HashMap::new(),
            last_sweep: Instant::now(),
        }
    }

    /// Whether `member`, recorded at `now`, may be written.
    pub(crate) fn admit(&mut self, member: &[u8], now: Instant) -> Admission {
        let Some(owner) = self.owner_of(member) else {
            return Admission::Yes;
        };
        if now.saturating_duration_since(self.last_sweep) >= self.window {
            self.sweep(now);
        }
        let hash = self.key.siphash(member);
        let window = self.window;
        if self.seen.len() >= MAX_OWNERS && !self.seen.contains_key(&owner) {
            return Admission::Unchecked;
        }
        let entries = self.seen.entry(owner).or_default();
        if let Some(entry) = entries.iter_mut().find(|(h, _)| *h == hash) {
            entry.1 = now;
            return Admission::Yes;
        }
        entries.retain(|(_, at)| now.saturating_duration_since(*at) < window);
        if entries.len() >= self.cap {
            return Admission::Refused;
        }
        entries.push((hash, now));
        Admission::Yes
    }

    /// The keyed hash of the owner's value in `member`; `None` when it is absent.
    fn owner_of(&self, member: &[u8]) -> Option<u64> {
        let mut dec = Decoder::new(member).ok()?;
        for _ in 0..self.field {
            dec.next_raw().ok()?;
        }
        let value = dec.next_raw().ok()??;
        Some(self.key.siphash(value))
    }

    /// Forgets entries older than the window and owners left without any.
    fn sweep(&mut self, now: Instant) {
        let window = self.window;
        self.seen.retain(|_, entries| {
            entries.retain(|(_, at)| now.saturating_duration_since(*at) < window);
            !entries.is_empty()
        });
        if self.seen.capacity() > 4 * self.seen.len().max(1024) {
            self.seen.shrink_to_fit();
        }
        self.last_sweep = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::VERSION;

    /// A member of two text fields: owner, session.
    fn member(owner: &str, session: &str) -> Vec<u8> {
        let mut out = vec![VERSION];
        for value in [owner, session] {
            out.push(value.len() as u8 + 1);
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    #[test]
    fn an_owner_gets_the_cap_and_no_more_within_the_window() {
        let start = Instant::now();
        let window = Duration::from_secs(20);
        let mut owners = Owners::new(0, 3, window);
        for s in ["a", "b", "c"] {
            assert_eq!(owners.admit(&member("u1", s), start), Admission::Yes);
        }
        assert_eq!(owners.admit(&member("u1", "d"), start), Admission::Refused);
        // Known entries keep being recorded; other owners are not affected.
        assert_eq!(owners.admit(&member("u1", "a"), start), Admission::Yes);
        assert_eq!(owners.admit(&member("u2", "d"), start), Admission::Yes);
        // Once the window has passed for the first three, there is room again.
        let later = start + window + Duration::from_secs(1);
        assert_eq!(owners.admit(&member("u1", "d"), later), Admission::Yes);
        assert_eq!(owners.seen.len(), 1, "the sweep forgot u2's old entry");
    }

    #[test]
    fn entries_without_an_owner_are_not_capped() {
        let now = Instant::now();
        let mut owners = Owners::new(0, 1, Duration::from_secs(20));
        let absent = |session: &str| {
            let mut out = vec![VERSION, 0, session.len() as u8 + 1];
            out.extend_from_slice(session.as_bytes());
            out
        };
        for s in ["a", "b", "c"] {
            assert_eq!(owners.admit(&absent(s), now), Admission::Yes);
        }
        assert_eq!(owners.admit(b"not a member", now), Admission::Yes);
    }

    #[test]
    fn too_many_owners_go_unchecked_rather_than_grow_memory() {
        let now = Instant::now();
        let mut owners = Owners::new(0, 1, Duration::from_secs(20));
        for i in 0..MAX_OWNERS {
            owners.seen.insert(i as u64, vec![(0, now)]);
        }
        assert_eq!(owners.admit(&member("new", "a"), now), Admission::Unchecked);
        assert_eq!(owners.seen.len(), MAX_OWNERS);
    }
}
