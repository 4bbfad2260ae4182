//! The coalescing buffer between `record` and the store.
//!
//! One slot per member. A member recorded again while it waits to be written, or within the
//! refresh interval after it was written, costs nothing more. The number of members waiting to
//! be written is bounded; at the bound the oldest waiting member makes room for the new one
//! (the newest state is kept, and the caller counts the drop). Members are written oldest
//! first.
//!
//! Each slot remembers when its member was last recorded (the process's monotonic clock), so
//! that a member written late (the store was down or slow) is written with the time of its
//! request, not the time of the write.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::owners::{Admission, Owners};
pub(crate) use crate::store::Member;

/// Whether the owner cap lets `member` be queued.
fn admits(owners: &mut Option<Owners>, member: &[u8], now: Instant) -> bool {
    owners
        .as_mut()
        .is_none_or(|owners| owners.admit(member, now) != Admission::Refused)
}

/// A member's state. Its fields are cells, changed through a shared reference under the
/// shard's lock, so that one lookup gives both the map's key (the member, queued again
/// without a copy) and its state. Times are nanoseconds since the shard's epoch: a slot takes
/// 24 bytes, and a map entry 40 with its key.
#[derive(Debug, Clone, Default)]
struct Slot {
    /// When the member was last recorded while waiting: the time of the request it stands for.
    seen: Cell<u64>,
    /// When the member was last handed to the store, plus one; 0 if never.
    written: Cell<u64>,
    /// The minute (of the store's clock) plus one, in 32 bits, in which the member was last
    /// added to the unique-visitor sketches; 0 if never. A sketch needs a member once per
    /// minute, however often it is rewritten.
    sketched: Cell<u32>,
    /// Whether the member waits in `dirty`.
    dirty: Cell<bool>,
}

impl Slot {
    /// A slot waiting to be written, for a request at `seen`.
    fn waiting(seen: u64) -> Self {
        let slot = Slot::default();
        slot.seen.set(seen);
        slot.dirty.set(true);
        slot
    }

    /// Whether the member was written less than `refresh` before `now`: recorded again, it
    /// needs no write.
    fn fresh(&self, now: u64, refresh: u64) -> bool {
        let written = self.written.get();
        written != 0 && now.saturating_sub(written - 1) < refresh
    }

    /// The sketch mark of `minute`: it wraps after 2^32 minutes (8,000 years), and a mark that
    /// reads 0 only adds the member to a sketch again.
    fn sketch_mark(minute: u64) -> u32 {
        minute.wrapping_add(1) as u32
    }
}

/// Nanoseconds from `epoch` to `t` (0 for a time before it; saturating after 584 years).
fn ticks(epoch: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds in `d` (saturating).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What the buffer did with an offered member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// It will be written at the next flush.
    Queued,
    /// It will be written at the next flush, and the oldest waiting member was dropped to
    /// make room for it.
    QueuedDroppingOldest,
    /// It was already waiting, or was written less than a refresh interval ago.
    Coalesced,
    /// Its owner (user) already has the most entries allowed within the window.
    Refused,
}

/// Members taken for one write, oldest first, with what the write needs of each.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) members: Vec<Member>,
    /// When each was last recorded.
    pub(crate) seen: Vec<Instant>,
    /// Whether each is new to the current minute's unique-visitor sketches.
    pub(crate) sketch: Vec<bool>,
    /// How many came from each shard (of [`Buffers::take`]), for
    /// [`Buffers::written`]: their shards need not be worked out again.
    pub(crate) per_shard: Vec<usize>,
}

/// How many offers ended each way, counted under the buffer's lock (already held), so that
/// recording from several threads does not contend on shared counters too.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct OfferCounts {
    pub(crate) queued: u64,
    pub(crate) coalesced: u64,
    /// Queued members that pushed the oldest waiting member out.
    pub(crate) dropped: u64,
    pub(crate) refused: u64,
}

#[derive(Debug)]
pub(crate) struct Buffer {
    /// What every offer did.
    pub(crate) counts: OfferCounts,
    slots: HashMap<Member, Slot>,
    /// The members waiting to be written, oldest first; each dirty slot appears here once.
    dirty: VecDeque<Member>,
    /// Members taken by a flush whose write has not finished.
    in_flight: usize,
    /// The most slots of all shards together.
    capacity: usize,
    /// Slots held by all shards together (shared by the shards of a [`Buffers`]): a shard
    /// may hold more than its share while others hold less, so the bound is the whole
    /// buffer's, however the users hash.
    total: Arc<AtomicUsize>,
    /// Members waiting to be written in all shards together (shared like `total`).
    waiting: Arc<AtomicUsize>,
    /// The refresh interval, in nanoseconds.
    refresh: u64,
    /// How long a written member's slot is kept while the buffer is not full, in nanoseconds:
    /// a visitor who returns within it is queued again without a new copy of its member (the
    /// window; at least the refresh interval).
    keep: u64,
    /// The origin of the slots' times.
    epoch: Instant,
    last_prune: u64,
    /// The cap on entries per owner, if any.
    owners: Option<Owners>,
}

impl Buffer {
    #[cfg(test)]
    pub(crate) fn new(capacity: usize, refresh: Duration) -> Self {
        Self::sharing(capacity, Arc::default(), Arc::default(), refresh, refresh)
    }

    /// A shard of a buffer of `capacity` slots in all, counted in `total`, of which `waiting`
    /// wait to be written; written members' slots are kept for `keep`.
    fn sharing(
        capacity: usize,
        total: Arc<AtomicUsize>,
        waiting: Arc<AtomicUsize>,
        refresh: Duration,
        keep: Duration,
    ) -> Self {
        let now = Instant::now();
        // A day before now where the clock allows, so that the times of requests made just
        // before the buffer are kept as they are.
        let epoch = now.checked_sub(Duration::from_secs(86_400)).unwrap_or(now);
        Buffer {
            counts: OfferCounts::default(),
            slots: HashMap::new(),
            dirty: VecDeque::new(),
            in_flight: 0,
            capacity,
            total,
            waiting,
            refresh: nanos(refresh),
            keep: nanos(keep.max(refresh)),
            epoch,
            last_prune: ticks(epoch, now),
            owners: None,
        }
    }

    /// The same buffer, refusing new entries of an owner past its cap.
    pub(crate) fn with_owners(mut self, owners: Owners) -> Self {
        self.owners = Some(owners);
        self
    }

    /// Gives back `n` slots to the whole buffer's count.
    fn release(&self, n: usize) {
        if n > 0 {
            self.total.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// How many members wait for the next flush.
    pub(crate) fn pending(&self) -> usize {
        self.dirty.len()
    }

    /// How many members are not in the store yet: waiting, or being written.
    pub(crate) fn unwritten(&self) -> usize {
        self.dirty.len() + self.in_flight
    }

    /// Reports that `n` taken members were written.
    pub(crate) fn written(&mut self, n: usize) {
        self.in_flight = self.in_flight.saturating_sub(n);
    }

    pub(crate) fn offer(&mut self, member: &[u8], now: Instant) -> Offer {
        let offer = self.place(member, now);
        let counts = &mut self.counts;
        match offer {
            Offer::Queued => counts.queued += 1,
            Offer::QueuedDroppingOldest => {
                counts.queued += 1;
                counts.dropped += 1;
            }
            Offer::Coalesced => counts.coalesced += 1,
            Offer::Refused => counts.refused += 1,
        }
        offer
    }

    fn place(&mut self, member: &[u8], now: Instant) -> Offer {
        // One lookup: the map gives the member it holds as well as its slot, so a returning
        // visitor's member is queued again without a copy.
        let at = ticks(self.epoch, now);
        let Buffer {
            slots,
            owners,
            dirty,
            waiting,
            refresh,
            ..
        } = self;
        if let Some((key, slot)) = slots.get_key_value(member) {
            if slot.dirty.get() {
                // Waiting: it will be written with this, its latest, request time.
                slot.seen.set(slot.seen.get().max(at));
                return Offer::Coalesced;
            }
            if slot.fresh(at, *refresh) {
                return Offer::Coalesced;
            }
            if !admits(owners, member, now) {
                return Offer::Refused;
            }
            slot.dirty.set(true);
            slot.seen.set(at);
            dirty.push_back(Arc::clone(key));
            waiting.fetch_add(1, Ordering::AcqRel);
            return Offer::Queued;
        }
        if !admits(owners, member, now) {
            return Offer::Refused;
        }
        let mut offer = Offer::Queued;
        // A slot below the capacity, or one freed by forgetting written members.
        if !self.reserve_slot() && !self.forget_written(at) {
            if self.waiting.load(Ordering::Acquire) >= self.capacity
                && let Some(oldest) = self.dirty.pop_front()
            {
                // Full of members waiting for the store: the oldest of this shard gives way
                // to the newest, which takes its slot.
                self.slots.remove(&oldest);
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                offer = Offer::QueuedDroppingOldest;
            } else {
                // The other shards hold the rest, partly in clean slots that they forget when
                // they need room or within a refresh interval: nothing waiting gives way to
                // them, and the whole buffer holds more slots for that while.
                self.total.fetch_add(1, Ordering::AcqRel);
            }
        }
        let key = Member::from(member);
        self.dirty.push_back(Arc::clone(&key));
        self.waiting.fetch_add(1, Ordering::AcqRel);
        self.slots.insert(key, Slot::waiting(at));
        offer
    }

    /// Counts one more slot in the whole buffer's total, if it is below the capacity.
    fn reserve_slot(&self) -> bool {
        self.total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t < self.capacity).then_some(t + 1)
            })
            .is_ok()
    }

    /// At the capacity, makes room by forgetting written members, if this shard holds any:
    /// they only remember recent writes, and forgetting them costs a rewrite at most. Those
    /// past their refresh interval go first (they only spare a copy of their member when
    /// their visitor returns), then, if none was, every written one. Gives back all the freed
    /// slots but one, which is the caller's; `false` if there was none to forget.
    fn forget_written(&mut self, now: u64) -> bool {
        if self.dirty.len() >= self.slots.len() {
            return false;
        }
        let before = self.slots.len();
        let refresh = self.refresh;
        self.slots
            .retain(|_, slot| slot.dirty.get() || slot.fresh(now, refresh));
        if self.slots.len() == before {
            self.slots.retain(|_, slot| slot.dirty.get());
        }
        let freed = before - self.slots.len();
        if freed == 0 {
            return false;
        }
        self.release(freed - 1);
        true
    }

    /// Takes up to `max` waiting members, oldest first, marking them written at `now`, and
    /// says of each when it was last recorded and whether it is new to the sketches of
    /// `minute` (then marked as added).
    pub(crate) fn take(&mut self, max: usize, now: Instant, minute: u64) -> Taken {
        let at = ticks(self.epoch, now);
        let mark = Slot::sketch_mark(minute);
        let n = self.dirty.len().min(max);
        let members: Vec<Member> = self.dirty.drain(..n).collect();
        self.waiting.fetch_sub(members.len(), Ordering::AcqRel);
        self.in_flight += members.len();
        let mut seen = Vec::with_capacity(members.len());
        let mut sketch = Vec::with_capacity(members.len());
        for member in &members {
            let (when, new) = match self.slots.get(member) {
                Some(slot) => {
                    slot.dirty.set(false);
                    slot.written.set(at.saturating_add(1));
                    let new = slot.sketched.replace(mark) != mark;
                    let when = self.epoch + Duration::from_nanos(slot.seen.get());
                    (when, new)
                }
                None => (now, true),
            };
            seen.push(when);
            sketch.push(new);
        }
        if at.saturating_sub(self.last_prune) >= self.refresh {
            // A full buffer keeps written members no longer than their refresh interval, so
            // that a shard that took a slot past the capacity (see `place`) gets it back
            // within that interval.
            let keep = if self.total.load(Ordering::Acquire) >= self.capacity {
                self.refresh
            } else {
                self.keep
            };
            let before = self.slots.len();
            self.slots
                .retain(|_, slot| slot.dirty.get() || slot.fresh(at, keep));
            self.release(before - self.slots.len());
            self.last_prune = at;
        }
        Taken {
            members,
            seen,
            sketch,
            per_shard: Vec::new(),
        }
    }

    /// Puts back members whose write failed, with the times they were recorded, as the oldest
    /// waiting ones; returns how many did not fit (the buffer filled with newer members
    /// meanwhile) and were dropped.
    pub(crate) fn restore(
        &mut self,
        members: Vec<Member>,
        seen: Vec<Instant>,
        now: Instant,
    ) -> u64 {
        self.in_flight = self.in_flight.saturating_sub(members.len());
        let mut dropped = 0;
        // In reverse, so that pushing each to the front keeps their order.
        let now = ticks(self.epoch, now);
        for (member, at) in members.into_iter().zip(seen).rev() {
            let at = ticks(self.epoch, at);
            if let Some(slot) = self.slots.get(&member) {
                if slot.dirty.get() {
                    // Recorded again meanwhile: waiting with a newer time already.
                    slot.seen.set(slot.seen.get().max(at));
                } else {
                    // Waiting again, as never written: the failed write did not reach the
                    // sketches either.
                    slot.written.set(0);
                    slot.sketched.set(0);
                    slot.seen.set(at);
                    slot.dirty.set(true);
                    self.dirty.push_front(member);
                    self.waiting.fetch_add(1, Ordering::AcqRel);
                }
                continue;
            }
            // A slot for it, by forgetting written members if need be: they never push out
            // an entry that was never written.
            if !self.reserve_slot() && !self.forget_written(now) {
                dropped += 1;
                continue;
            }
            self.slots.insert(Arc::clone(&member), Slot::waiting(at));
            self.dirty.push_front(member);
            self.waiting.fetch_add(1, Ordering::AcqRel);
        }
        dropped
    }
}

/// Buffers at least this large are split into [`SHARDS`] shards.
const SHARDED_FROM: usize = 8 * 1024;

/// How many shards a large buffer has.
const SHARDS: usize = 8;

/// A shard's lock on a cache line of its own, so that threads recording into different shards
/// do not share one.
#[derive(Debug)]
#[repr(align(128))]
struct Shard(Mutex<Buffer>);

/// The buffer as the tracker holds it: split into shards by owner (the user; see
/// [`Owners`]), each with its own lock, its part of the capacity and its own cap per owner,
/// so that threads recording different users rarely wait for each other. A buffer smaller
/// than [`SHARDED_FROM`] has one shard, and keeps the exact bound of a single buffer. In a
/// sharded buffer "the oldest waiting member gives way" holds within a shard, and a flush
/// writes what waited in each shard when it started, oldest first within each.
#[derive(Debug)]
pub(crate) struct Buffers {
    shards: Box<[Shard]>,
    /// The owner's field and the one standing in for it, which pick an entry's shard.
    owner: (Option<usize>, Option<usize>),
    /// A process-local key for picking shards, so that a visitor cannot choose values that
    /// all land in one shard (filling its part of the capacity and of the per-user cap's
    /// memory eight times sooner).
    hasher: std::hash::RandomState,
}

impl Buffers {
    /// A buffer of `capacity` members, capped per owner when `owners` makes an [`Owners`]
    /// (one per shard: an owner's members all go to one shard), remembering written members
    /// for `keep` (see [`Buffer::keep`](Buffer)).
    pub(crate) fn new(
        capacity: usize,
        refresh: Duration,
        keep: Duration,
        owner: (Option<usize>, Option<usize>),
        owners: Option<&dyn Fn() -> Owners>,
    ) -> Self {
        let n = if capacity >= SHARDED_FROM { SHARDS } else { 1 };
        let total = Arc::new(AtomicUsize::new(0));
        let waiting = Arc::new(AtomicUsize::new(0));
        let shards = (0..n)
            .map(|_| {
                // One bound for all the shards together: however the users hash, the buffer
                // holds `capacity` members before any gives way.
                let (total, waiting) = (Arc::clone(&total), Arc::clone(&waiting));
                let buffer = Buffer::sharing(capacity, total, waiting, refresh, keep);
                Shard(Mutex::new(match owners {
                    Some(make) => buffer.with_owners(make().part_of(n)),
                    None => buffer,
                }))
            })
            .collect();
        Buffers {
            shards,
            owner,
            hasher: std::hash::RandomState::new(),
        }
    }

    /// The shard of `member`: by its owner's value, or the whole member when it has none,
    /// under a keyed hash.
    fn index_of(&self, member: &[u8]) -> usize {
        use std::hash::BuildHasher as _;
        if self.shards.len() == 1 {
            return 0;
        }
        let key = crate::owners::owner_value(member, self.owner.0, self.owner.1)
            .map_or(member, |(value, _)| value);
        (self.hasher.hash_one(key) % self.shards.len() as u64) as usize
    }

    fn lock(shard: &Mutex<Buffer>) -> MutexGuard<'_, Buffer> {
        // A buffer stays consistent between statements, so a panic elsewhere does not poison
        // its meaning.
        shard.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn each<T>(&self, mut f: impl FnMut(&mut Buffer) -> T) -> impl Iterator<Item = T> {
        self.shards.iter().map(move |s| f(&mut Self::lock(&s.0)))
    }

    /// Offers `member` to its shard; also says how many members wait in that shard, and how
    /// many would make a batch's share there.
    pub(crate) fn offer(&self, member: &[u8], now: Instant, batch: usize) -> (Offer, bool) {
        let mut shard = Self::lock(&self.shards[self.index_of(member)].0);
        let offer = shard.offer(member, now);
        (offer, shard.pending() >= batch.div_ceil(self.shards.len()))
    }

    /// How many members wait for the next flush.
    pub(crate) fn pending(&self) -> usize {
        self.each(|b| b.pending()).sum()
    }

    /// How many members are not in the store yet: waiting, or being written.
    pub(crate) fn unwritten(&self) -> usize {
        self.each(|b| b.unwritten()).sum()
    }

    /// What every offer did and how many members are not in the store yet, all shards
    /// together, each shard locked once.
    pub(crate) fn counts(&self) -> (OfferCounts, usize) {
        let mut all = OfferCounts::default();
        let mut unwritten = 0;
        for (c, u) in self.each(|b| (b.counts, b.unwritten())) {
            all.queued += c.queued;
            all.coalesced += c.coalesced;
            all.dropped += c.dropped;
            all.refused += c.refused;
            unwritten += u;
        }
        (all, unwritten)
    }

    /// How many members wait in each shard: what a flush that starts now has to write.
    pub(crate) fn pending_by_shard(&self) -> Vec<usize> {
        self.each(|b| b.pending()).collect()
    }

    /// Takes up to `max` waiting members, at most `budget[i]` from shard `i`, each shard's
    /// share in proportion to its budget (each shard's oldest first; see [`Buffer::take`]),
    /// and lowers the budgets by what it took. With the budgets from
    /// [`pending_by_shard`](Self::pending_by_shard) at the start of a flush, the flush writes
    /// what was waiting then, however many newer members arrive meanwhile in whichever
    /// shards, and each batch holds about as old members from every shard.
    pub(crate) fn take(
        &self,
        max: usize,
        budget: &mut [usize],
        now: Instant,
        minute: u64,
    ) -> Taken {
        let mut taken = Taken {
            per_shard: vec![0; self.shards.len()],
            ..Taken::default()
        };
        let total: usize = budget.iter().sum();
        for ((shard, budget), count) in self.shards.iter().zip(budget).zip(&mut taken.per_shard) {
            let room = max - taken.members.len();
            if room == 0 || total == 0 {
                break;
            }
            let want = (max.saturating_mul(*budget))
                .div_ceil(total)
                .min(room)
                .min(*budget);
            if want == 0 {
                continue;
            }
            let more = Self::lock(&shard.0).take(want, now, minute);
            // Fewer than wanted: members were dropped meanwhile, and none are left.
            *budget = if more.members.len() < want {
                0
            } else {
                *budget - want
            };
            *count = more.members.len();
            taken.members.extend(more.members);
            taken.seen.extend(more.seen);
            taken.sketch.extend(more.sketch);
        }
        taken
    }

    /// Reports that taken members were written: `per_shard[i]` of them from shard `i`, as
    /// [`Taken::per_shard`] counts them.
    pub(crate) fn written(&self, per_shard: &[usize]) {
        for (shard, &n) in self.shards.iter().zip(per_shard) {
            if n > 0 {
                Self::lock(&shard.0).written(n);
            }
        }
    }

    /// Puts back members whose write failed (see [`Buffer::restore`]); returns how many were
    /// dropped.
    pub(crate) fn restore(&self, members: Vec<Member>, seen: Vec<Instant>) -> u64 {
        let now = Instant::now();
        if let [shard] = &*self.shards {
            return Self::lock(&shard.0).restore(members, seen, now);
        }
        let mut per_shard: Vec<(Vec<Member>, Vec<Instant>)> =
            vec![Default::default(); self.shards.len()];
        for (member, at) in members.into_iter().zip(seen) {
            let i = self.index_of(&member);
            per_shard[i].0.push(member);
            per_shard[i].1.push(at);
        }
        self.shards
            .iter()
            .zip(per_shard)
            .map(|(shard, (members, seen))| Self::lock(&shard.0).restore(members, seen, now))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A buffer of one shard that keeps written members' slots for `keep`.
    fn keeping(capacity: usize, refresh: Duration, keep: Duration) -> Buffer {
        Buffer::sharing(capacity, Arc::default(), Arc::default(), refresh, keep)
    }

    #[test]
    fn a_visitor_back_after_the_refresh_interval_is_queued_again_without_a_new_copy() {
        let start = Instant::now();
        let refresh = Duration::from_secs(2);
        let mut buf = keeping(10, refresh, Duration::from_secs(20));
        assert_eq!(buf.offer(b"a", start), Offer::Queued);
        let first = buf.take(10, start, 0).members;
        // Past the refresh interval and a prune, within the window: written again, and the
        // member queued is the allocation the buffer already held.
        let later = start + 3 * refresh;
        assert_eq!(buf.take(10, later, 0).members.len(), 0);
        assert_eq!(buf.offer(b"a", later), Offer::Queued);
        let again = buf.take(10, later, 0).members;
        assert_eq!(again.len(), 1);
        assert!(Arc::ptr_eq(&first[0], &again[0]));
        // Past the window, the prune forgets it.
        let gone = later + Duration::from_secs(21);
        assert_eq!(buf.take(10, gone, 0).members.len(), 0);
        assert_eq!(buf.slots.len(), 0);
        assert_eq!(buf.total.load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_full_buffer_forgets_slots_past_their_refresh_interval_before_fresh_ones() {
        let start = Instant::now();
        let refresh = Duration::from_secs(2);
        let mut buf = keeping(3, refresh, Duration::from_secs(20));
        buf.offer(b"a", start);
        buf.offer(b"b", start);
        buf.take(10, start, 0);
        let t3 = start + Duration::from_secs(3);
        buf.offer(b"c", t3);
        buf.take(10, t3, 0);
        // Full of clean slots: a and b are past their refresh interval, c is not.
        let t4 = start + Duration::from_secs(4);
        assert_eq!(buf.offer(b"d", t4), Offer::Queued);
        assert_eq!(buf.slots.len(), 2);
        assert_eq!(buf.offer(b"c", t4), Offer::Coalesced);
        assert_eq!(buf.offer(b"a", t4), Offer::Queued);
        assert_eq!(buf.total.load(Ordering::Acquire), 3);
        // Nothing clean is past its interval now: every clean one goes, the waiting stay.
        let t4b = t4 + Duration::from_millis(1);
        buf.take(10, t4b, 0);
        assert_eq!(buf.offer(b"e", t4b), Offer::Queued);
        assert_eq!(buf.slots.len(), 1);
        assert_eq!(buf.pending(), 1);
    }

    #[test]
    fn a_full_buffer_keeps_written_members_only_for_their_refresh_interval() {
        let start = Instant::now();
        let refresh = Duration::from_secs(2);
        let mut buf = keeping(2, refresh, Duration::from_secs(20));
        buf.offer(b"a", start);
        buf.offer(b"b", start);
        buf.take(10, start, 0);
        // Full: the next prune forgets both, though the window has not passed.
        let later = start + 2 * refresh;
        assert_eq!(buf.take(10, later, 0).members.len(), 0);
        assert_eq!(buf.slots.len(), 0);
        assert_eq!(buf.total.load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_failed_write_put_back_into_a_full_buffer_makes_written_members_give_way() {
        let now = Instant::now();
        let mut buf = keeping(4, Duration::from_secs(2), Duration::from_secs(20));
        buf.offer(b"a", now);
        buf.offer(b"b", now);
        let failing = buf.take(10, now, 0);
        // While a and b are being written, the buffer fills and forgets their slots.
        buf.offer(b"c", now);
        buf.offer(b"d", now);
        assert_eq!(buf.offer(b"e", now), Offer::Queued);
        assert!(!buf.slots.contains_key(&b"a"[..]));
        // c, d and e are written; f waits: the buffer is full, of one waiting member and
        // three that only remember their writes.
        let written = buf.take(10, now, 0);
        buf.written(written.members.len());
        buf.offer(b"f", now);
        assert_eq!(buf.total.load(Ordering::Acquire), 4);
        // The write of a and b failed: they come back, and the written members give way.
        assert_eq!(buf.restore(failing.members, failing.seen, now), 0);
        assert_eq!(buf.pending(), 3);
        let again: Vec<Member> = buf.take(10, now, 0).members;
        assert_eq!(
            again,
            [b"a", b"b", b"f"].map(|m| Member::from(&m[..])).to_vec()
        );
    }

    #[test]
    fn a_slot_and_its_key_take_40_bytes() {
        // Half of what a slot of `Instant`s took: at 100,000 visitors, 4 MB less for each
        // request's lookup to miss the cache in.
        assert_eq!(std::mem::size_of::<(Member, Slot)>(), 40);
    }

    #[test]
    fn repeats_are_coalesced_until_the_refresh_interval_passes() {
        let start = Instant::now();
        let mut buf = Buffer::new(10, Duration::from_secs(2));
        assert_eq!(buf.offer(b"a", start), Offer::Queued);
        assert_eq!(buf.offer(b"a", start), Offer::Coalesced);
        assert_eq!(buf.take(100, start, 0).members.len(), 1);
        assert_eq!(
            buf.offer(b"a", start + Duration::from_secs(1)),
            Offer::Coalesced
        );
        assert_eq!(
            buf.offer(b"a", start + Duration::from_secs(3)),
            Offer::Queued
        );
    }

    #[test]
    fn when_full_the_oldest_waiting_member_gives_way() {
        let now = Instant::now();
        let mut buf = Buffer::new(2, Duration::from_secs(2));
        assert_eq!(buf.offer(b"a", now), Offer::Queued);
        assert_eq!(buf.offer(b"b", now), Offer::Queued);
        assert_eq!(buf.offer(b"c", now), Offer::QueuedDroppingOldest);
        assert_eq!(buf.pending(), 2);
        let taken = buf.take(10, now, 0).members;
        assert_eq!(
            taken,
            vec![Member::from(&b"b"[..]), Member::from(&b"c"[..])]
        );
        // Written slots are forgotten before anything waiting is dropped.
        assert_eq!(buf.offer(b"d", now), Offer::Queued);
        assert_eq!(buf.offer(b"e", now), Offer::Queued);
    }

    #[test]
    fn members_are_written_oldest_first() {
        let now = Instant::now();
        let mut buf = Buffer::new(10, Duration::from_secs(2));
        for m in [b"1", b"2", b"3"] {
            buf.offer(m, now);
        }
        let first = buf.take(2, now, 0);
        assert_eq!(
            first.members,
            vec![Member::from(&b"1"[..]), Member::from(&b"2"[..])]
        );
        assert_eq!(buf.restore(first.members, first.seen, now), 0);
        let again = buf.take(10, now, 0).members;
        let want: Vec<Member> = [b"1", b"2", b"3"]
            .iter()
            .map(|m| Member::from(&m[..]))
            .collect();
        assert_eq!(again, want);
    }

    #[test]
    fn failed_writes_are_put_back() {
        let now = Instant::now();
        let mut buf = Buffer::new(4, Duration::from_secs(2));
        buf.offer(b"a", now);
        buf.offer(b"b", now);
        let taken = buf.take(10, now, 0);
        assert_eq!(buf.pending(), 0);
        assert_eq!(buf.unwritten(), 2);
        assert_eq!(buf.restore(taken.members, taken.seen, now), 0);
        assert_eq!(buf.unwritten(), 2);
        assert_eq!(buf.pending(), 2);
        assert_eq!(buf.offer(b"a", now), Offer::Coalesced);
    }

    #[test]
    fn a_member_goes_to_the_sketches_once_per_minute() {
        let start = Instant::now();
        let refresh = Duration::from_secs(2);
        let mut buf = Buffer::new(10, refresh);
        buf.offer(b"a", start);
        assert_eq!(buf.take(10, start, 7).sketch, [true]);
        // Rewritten after the refresh interval, in the same minute: not sketched again.
        let later = start + refresh;
        buf.offer(b"a", later);
        assert_eq!(buf.take(10, later, 7).sketch, [false]);
        // The next minute needs it again.
        let next = later + refresh;
        buf.offer(b"a", next);
        let taken = buf.take(10, next, 8);
        assert_eq!(taken.sketch, [true]);
        // A failed write reached no sketch: the retry adds it.
        buf.restore(taken.members, taken.seen, start);
        assert_eq!(buf.take(10, next, 8).sketch, [true]);
    }

    #[test]
    fn a_member_keeps_the_time_of_its_latest_request_until_written() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut buf = Buffer::new(10, Duration::from_secs(2));
        buf.offer(b"a", start);
        // Recorded again while waiting: the newer request time counts.
        buf.offer(b"a", start + second);
        // Taken late (the store was down): the time is still the request's.
        let taken = buf.take(10, start + 10 * second, 0);
        assert_eq!(taken.seen, [start + second]);
        // A failed write keeps it; a retry much later still carries it.
        buf.restore(taken.members, taken.seen, start);
        assert_eq!(buf.take(10, start + 60 * second, 0).seen, [start + second]);
    }

    /// A member of two text fields, the first (the user) being the owner.
    fn member(user: &str, session: &str) -> Vec<u8> {
        let mut m = vec![crate::codec::VERSION];
        for value in [user, session] {
            m.push(value.len() as u8 + 1);
            m.extend_from_slice(value.as_bytes());
        }
        m
    }

    fn sharded(owners: Option<&dyn Fn() -> Owners>) -> Buffers {
        Buffers::new(
            100_000,
            Duration::from_secs(2),
            Duration::from_secs(2),
            (Some(0), None),
            owners,
        )
    }

    #[test]
    fn a_large_buffer_spreads_members_over_shards_and_a_flush_takes_them_all() {
        let now = Instant::now();
        let buffers = sharded(None);
        assert_eq!(buffers.shards.len(), SHARDS);
        for i in 0..1000 {
            let m = member(&format!("user{}", i % 100), &format!("s{i}"));
            assert_eq!(buffers.offer(&m, now, 1000).0, Offer::Queued);
        }
        let used = buffers.each(|b| b.pending() > 0).filter(|&u| u).count();
        assert!(used > SHARDS / 2, "only {used} shards used");
        let mut budget = buffers.pending_by_shard();
        let taken = buffers.take(600, &mut budget, now, 0);
        assert_eq!(taken.members.len(), 600);
        assert_eq!(buffers.pending(), 400);
        assert_eq!(buffers.unwritten(), 1000);
        let rest = buffers.take(10_000, &mut budget, now, 0);
        assert_eq!(rest.members.len(), 400);
        let all: HashSet<Member> = taken.members.iter().chain(&rest.members).cloned().collect();
        assert_eq!(all.len(), 1000);
        buffers.written(&taken.per_shard);
        buffers.written(&rest.per_shard);
        assert_eq!(buffers.unwritten(), 0);
        let (counts, _) = buffers.counts();
        assert_eq!((counts.queued, counts.coalesced), (1000, 0));
    }

    #[test]
    fn one_users_entries_share_a_shard_so_the_cap_per_user_is_exact() {
        let now = Instant::now();
        let owners = || Owners::new(Some(0), None, 3, Duration::from_secs(60));
        let buffers = sharded(Some(&owners));
        for user in ["alice", "bob", "carol"] {
            let offers: Vec<Offer> = (0..10)
                .map(|i| buffers.offer(&member(user, &format!("s{i}")), now, 1000).0)
                .collect();
            assert_eq!(offers.iter().filter(|&&o| o == Offer::Queued).count(), 3);
            assert_eq!(offers.iter().filter(|&&o| o == Offer::Refused).count(), 7);
        }
        assert_eq!(buffers.counts().0.refused, 21);
    }

    #[test]
    fn failed_writes_go_back_to_their_own_shards() {
        let now = Instant::now();
        let buffers = sharded(None);
        let members: Vec<Vec<u8>> = (0..500).map(|i| member(&format!("u{i}"), "s")).collect();
        for m in &members {
            buffers.offer(m, now, 1000);
        }
        let taken = buffers.take(10_000, &mut buffers.pending_by_shard(), now, 0);
        assert_eq!(buffers.restore(taken.members, taken.seen), 0);
        assert_eq!((buffers.pending(), buffers.unwritten()), (500, 500));
        // Each is waiting again in the shard that a new record of it looks in.
        for m in &members {
            assert_eq!(buffers.offer(m, now, 1000).0, Offer::Coalesced);
        }
    }

    #[test]
    fn a_small_buffer_is_one_shard_with_an_exact_bound() {
        let now = Instant::now();
        let buffers = Buffers::new(
            3,
            Duration::from_secs(2),
            Duration::from_secs(2),
            (Some(0), None),
            None,
        );
        assert_eq!(buffers.shards.len(), 1);
        for i in 0..4 {
            buffers.offer(&member(&format!("u{i}"), "s"), now, 1000);
        }
        assert_eq!(buffers.pending(), 3);
        assert_eq!(buffers.counts().0.dropped, 1);
        let taken = buffers.take(10, &mut buffers.pending_by_shard(), now, 0);
        assert_eq!(taken.members[0].as_ref(), member("u1", "s").as_slice());
    }

    #[test]
    fn a_flush_takes_what_waited_when_it_started_before_anything_newer() {
        let now = Instant::now();
        let buffers = sharded(None);
        let old: HashSet<Vec<u8>> = (0..2000).map(|i| member(&format!("old{i}"), "s")).collect();
        for m in &old {
            buffers.offer(m, now, usize::MAX);
        }
        let mut budget = buffers.pending_by_shard();
        // Newer members arrive in every shard while the flush runs.
        for i in 0..2000 {
            buffers.offer(&member(&format!("new{i}"), "s"), now, usize::MAX);
        }
        let mut taken = Vec::new();
        for _ in 0..2 {
            taken.extend(buffers.take(1000, &mut budget, now, 0).members);
        }
        let newer = taken.iter().filter(|m| !old.contains(m.as_ref())).count();
        let distinct: HashSet<&Member> = taken.iter().collect();
        assert_eq!((taken.len(), distinct.len(), newer), (2000, 2000, 0));
        assert_eq!(buffers.take(1000, &mut budget, now, 0).members.len(), 0);
        assert_eq!(buffers.pending(), 2000);
    }

    #[test]
    fn a_sharded_buffer_holds_its_whole_capacity_however_the_users_hash() {
        let now = Instant::now();
        let capacity = 8192;
        let buffers = Buffers::new(
            capacity,
            Duration::from_secs(2),
            Duration::from_secs(2),
            (Some(0), None),
            None,
        );
        // Exactly the capacity, with the store down: nothing gives way, though the shards
        // hold unequal numbers (each its own share would have dropped a few hundred).
        for i in 0..capacity {
            let (offer, _) = buffers.offer(&member(&format!("u{i}"), "s"), now, usize::MAX);
            assert_eq!(offer, Offer::Queued, "member {i}");
        }
        let sizes = buffers.pending_by_shard();
        assert!(sizes.iter().max() > sizes.iter().min(), "{sizes:?}");
        assert_eq!(buffers.counts().0.dropped, 0);
        // Written, then all back within the refresh interval: every repeat is coalesced,
        // none forgotten for want of room.
        let mut budget = buffers.pending_by_shard();
        let taken = buffers.take(usize::MAX, &mut budget, now, 0);
        assert_eq!(taken.members.len(), capacity);
        buffers.written(&taken.per_shard);
        for i in 0..capacity {
            let (offer, _) = buffers.offer(&member(&format!("u{i}"), "s"), now, usize::MAX);
            assert_eq!(offer, Offer::Coalesced, "member {i}");
        }
        // One more new member makes room by forgetting a shard's written members, and the
        // store-down bound gives way one at a time past the whole capacity.
        let (offer, _) = buffers.offer(&member("new", "s"), now, usize::MAX);
        assert_eq!(offer, Offer::Queued);
    }

    #[test]
    fn recent_writes_remembered_by_other_shards_never_push_out_an_unwritten_entry() {
        let now = Instant::now();
        let capacity = 8192;
        let buffers = Buffers::new(
            capacity,
            Duration::from_secs(60),
            Duration::from_secs(60),
            (Some(0), None),
            None,
        );
        for i in 0..capacity {
            buffers.offer(&member(&format!("u{i}"), "s"), now, usize::MAX);
        }
        let mut budget = buffers.pending_by_shard();
        let taken = buffers.take(usize::MAX, &mut budget, now, 0);
        buffers.written(&taken.per_shard);
        // New users of one shard only: it forgets its own recent writes, then fills with
        // entries waiting to be written while the other shards still remember theirs. Only
        // 2,000 wait, far from the capacity: none may give way.
        let mut offered = 0;
        for i in 0.. {
            let m = member(&format!("n{i}"), "s");
            if buffers.index_of(&m) != 0 {
                continue;
            }
            let (offer, _) = buffers.offer(&m, now, usize::MAX);
            assert_eq!(offer, Offer::Queued, "new member {offered}");
            offered += 1;
            if offered == 2000 {
                break;
            }
        }
        assert_eq!(buffers.counts().0.dropped, 0);
        assert_eq!(buffers.pending(), 2000);
    }

    #[test]
    fn a_capacity_that_does_not_divide_by_the_shards_is_still_the_bound() {
        let now = Instant::now();
        let buffers = Buffers::new(
            8193,
            Duration::from_secs(2),
            Duration::from_secs(2),
            (Some(0), None),
            None,
        );
        for i in 0..20_000 {
            buffers.offer(&member(&format!("u{i}"), "s"), now, usize::MAX);
        }
        assert_eq!(buffers.pending(), 8193);
    }
}
