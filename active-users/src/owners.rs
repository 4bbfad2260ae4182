//! The cap on entries per user: one user (or one client IP) cannot fill the active set with
//! sessions of its own.
//!
//! An entry's owner is the value of the entry type's first `distinct`/`index` field (the
//! user id of `DefaultEntry`), or, when the type has none or the entry leaves it out, of its
//! first IP field. Each tracker remembers, per owner, the entries it recorded for it within
//! the window (a 64-bit keyed hash and a time each); a new entry of an owner that already has
//! the cap's number is refused. The memory is bounded: [`MAX_TRACKED`] entries at most (16
//! bytes each, plus about 80 per owner), beyond which new entries go unchecked until the
//! next sweep, once per window, frees room.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use crate::codec::Decoder;
use crate::secret::SecretKey;

/// The most entries one tracker remembers at once, all owners together.
pub(crate) const MAX_TRACKED: usize = 500_000;

#[derive(Debug)]
pub(crate) struct Owners {
    /// The position of the owner's field in a member, and of the field standing in for it
    /// when an entry leaves it out (the client IP).
    field: Option<usize>,
    fallback: Option<usize>,
    cap: usize,
    window: Duration,
    /// Entries remembered, all owners together, and the most it may remember.
    tracked: usize,
    max_tracked: usize,
    /// The origin of the times kept (milliseconds since it).
    epoch: Instant,
    /// A process-local key, so that a visitor cannot choose values whose hashes collide, and
    /// one for the fallback's values, so that a user and an address never share a hash.
    key: SecretKey,
    fallback_key: SecretKey,
    /// Per owner hash, its entries' hashes with when each was last recorded. The keys are
    /// keyed hashes already, so the map uses them as they are.
    seen: HashMap<u64, Entries, BuildHasherDefault<Prehashed>>,
    last_sweep: Instant,
}

/// One owner's entries: a hash and a time each. Most owners have one, which is kept inline:
/// no allocation per owner, and no second cache miss to reach it.
#[derive(Debug)]
enum Entries {
    One((u64, u64)),
    Many(Vec<(u64, u64)>),
}

impl Default for Entries {
    fn default() -> Self {
        Entries::Many(Vec::new())
    }
}

impl Entries {
    fn as_mut_slice(&mut self) -> &mut [(u64, u64)] {
        match self {
            Entries::One(entry) => std::slice::from_mut(entry),
            Entries::Many(entries) => entries,
        }
    }

    fn len(&self) -> usize {
        match self {
            Entries::One(_) => 1,
            Entries::Many(entries) => entries.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, entry: (u64, u64)) {
        match self {
            Entries::Many(entries) if entries.is_empty() => *self = Entries::One(entry),
            Entries::Many(entries) => entries.push(entry),
            Entries::One(first) => *self = Entries::Many(vec![*first, entry]),
        }
    }

    fn retain(&mut self, keep: impl Fn(&(u64, u64)) -> bool) {
        match self {
            Entries::One(entry) if !keep(entry) => *self = Entries::default(),
            Entries::One(_) => {}
            Entries::Many(entries) => entries.retain(keep),
        }
    }
}

/// The hasher of a map whose keys are keyed 64-bit hashes (under a process-local key, so a
/// visitor cannot choose values whose hashes collide): each key is its own hash, which spares
/// hashing it again.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; any other input is folded in, not lost.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
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
    /// A cap of `cap` entries per owner, the owner being field `field` of each member, or
    /// field `fallback` when that one is absent.
    pub(crate) fn new(
        field: Option<usize>,
        fallback: Option<usize>,
        cap: usize,
        window: Duration,
    ) -> Self {
        let now = Instant::now();
        let key = SecretKey::generate();
        Owners {
            fallback_key: key.for_use(b"fallback"),
            key,
            field,
            fallback,
            cap,
            window,
            tracked: 0,
            max_tracked: MAX_TRACKED,
            epoch: now,
            seen: HashMap::default(),
            last_sweep: now,
        }
    }

    /// The same cap for one of `parts` shards of a buffer: it remembers its part of
    /// [`MAX_TRACKED`].
    pub(crate) fn part_of(mut self, parts: usize) -> Self {
        self.max_tracked = MAX_TRACKED.div_ceil(parts.max(1));
        self
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
        let at = self.millis(now);
        let window = crate::store::ms(self.window);
        if self.tracked >= self.max_tracked && !self.seen.contains_key(&owner) {
            return Admission::Unchecked;
        }
        let entries = self.seen.entry(owner).or_default();
        if let Some(entry) = entries.as_mut_slice().iter_mut().find(|(h, _)| *h == hash) {
            entry.1 = at;
            return Admission::Yes;
        }
        let before = entries.len();
        entries.retain(|(_, seen)| at.saturating_sub(*seen) < window);
        self.tracked -= before - entries.len();
        if entries.len() >= self.cap {
            return Admission::Refused;
        }
        if self.tracked >= self.max_tracked {
            return Admission::Unchecked;
        }
        entries.push((hash, at));
        self.tracked += 1;
        Admission::Yes
    }

    /// Milliseconds from the epoch to `now`.
    fn millis(&self, now: Instant) -> u64 {
        crate::store::ms(now.saturating_duration_since(self.epoch))
    }

    /// The keyed hash of the owner's value in `member` (or of the fallback's, tagged apart);
    /// `None` when both are absent.
    fn owner_of(&self, member: &[u8]) -> Option<u64> {
        match owner_value(member, self.field, self.fallback)? {
            (value, false) => Some(self.key.siphash(value)),
            (ip, true) => Some(self.fallback_key.siphash(ip)),
        }
    }

    /// Forgets entries older than the window and owners left without any.
    fn sweep(&mut self, now: Instant) {
        let at = self.millis(now);
        let window = crate::store::ms(self.window);
        let mut tracked = 0;
        self.seen.retain(|_, entries| {
            entries.retain(|(_, seen)| at.saturating_sub(*seen) < window);
            tracked += entries.len();
            !entries.is_empty()
        });
        self.tracked = tracked;
        if self.seen.capacity() > 4 * self.seen.len().max(1024) {
            self.seen.shrink_to_fit();
        }
        self.last_sweep = now;
    }
}

/// The owner's value in `member`: field `field`, or field `fallback` when that one is absent
/// (then with `true`); `None` when both are absent or the member does not decode.
pub(crate) fn owner_value(
    member: &[u8],
    field: Option<usize>,
    fallback: Option<usize>,
) -> Option<(&[u8], bool)> {
    let mut dec = Decoder::new(member).ok()?;
    let last = field.max(fallback)?;
    let (mut owner, mut standing_in) = (None, None);
    for i in 0..=last {
        let value = dec.next_raw().ok()?;
        if Some(i) == field {
            owner = value;
        }
        if Some(i) == fallback {
            standing_in = value;
        }
    }
    match (owner, standing_in) {
        (Some(value), _) => Some((value, false)),
        (None, Some(ip)) => Some((ip, true)),
        (None, None) => None,
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
    fn a_prehashed_key_is_its_own_hash() {
        use std::hash::BuildHasher as _;
        let build = BuildHasherDefault::<Prehashed>::default();
        for key in [0, 1, 0x9e37_79b9_7f4a_7c15, u64::MAX] {
            assert_eq!(build.hash_one(key), key);
        }
    }

    #[test]
    fn an_owners_entries_go_from_none_to_one_inline_to_many_and_back() {
        let mut entries = Entries::default();
        assert!(entries.is_empty());
        entries.push((1, 10));
        assert!(matches!(entries, Entries::One((1, 10))));
        entries.push((2, 20));
        entries.push((3, 30));
        assert_eq!(entries.as_mut_slice(), &[(1, 10), (2, 20), (3, 30)]);
        entries.retain(|&(_, at)| at >= 20);
        assert_eq!(entries.len(), 2);
        entries.retain(|_| false);
        assert!(entries.is_empty());
        entries.push((4, 40));
        entries.retain(|&(_, at)| at > 40);
        assert!(entries.is_empty());
    }

    #[test]
    fn an_owner_gets_the_cap_and_no_more_within_the_window() {
        let start = Instant::now();
        let window = Duration::from_secs(20);
        let mut owners = Owners::new(Some(0), None, 3, window);
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
        assert_eq!(owners.tracked, 1);
    }

    #[test]
    fn an_entry_without_its_owner_is_capped_by_its_fallback_or_not_at_all() {
        let now = Instant::now();
        // Field 0 (absent here) is the owner, field 1 the fallback (say, the client IP).
        let absent = |ip: &str| {
            let mut out = vec![VERSION, 0, ip.len() as u8 + 1];
            out.extend_from_slice(ip.as_bytes());
            out
        };
        let with_session = |ip: &str, session: &str| {
            let mut out = absent(ip);
            out.push(session.len() as u8 + 1);
            out.extend_from_slice(session.as_bytes());
            out
        };
        let mut fallback = Owners::new(Some(0), Some(1), 2, Duration::from_secs(20));
        for s in ["a", "b"] {
            assert_eq!(fallback.admit(&with_session("ip1", s), now), Admission::Yes);
        }
        assert_eq!(
            fallback.admit(&with_session("ip1", "c"), now),
            Admission::Refused
        );
        assert_eq!(
            fallback.admit(&with_session("ip2", "c"), now),
            Admission::Yes
        );
        // A user named like an address is another owner than the address.
        assert_eq!(fallback.admit(&member("ip1", "x"), now), Admission::Yes);
        // Without a fallback, an entry without its owner is not capped.
        let mut none = Owners::new(Some(0), None, 1, Duration::from_secs(20));
        for s in ["a", "b", "c"] {
            assert_eq!(none.admit(&absent(s), now), Admission::Yes);
        }
        assert_eq!(none.admit(b"not a member", now), Admission::Yes);
    }

    #[test]
    fn too_many_entries_go_unchecked_rather_than_grow_memory() {
        let now = Instant::now();
        let mut owners = Owners::new(Some(0), None, 1, Duration::from_secs(20));
        owners.tracked = MAX_TRACKED;
        assert_eq!(owners.admit(&member("new", "a"), now), Admission::Unchecked);
        assert!(owners.seen.is_empty());
    }
}
