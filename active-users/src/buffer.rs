//! The coalescing buffer between `record` and the store.
//!
//! One slot per member. A member recorded again while it waits to be written, or within the
//! refresh interval after it was written, costs nothing more. The number of members waiting to
//! be written is bounded; at the bound the oldest waiting member makes room for the new one
//! (the newest state is kept, and the caller counts the drop). Members are written oldest
//! first.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use crate::store::Member;

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// When the member was last handed to the store; `None` if never.
    written_at: Option<Instant>,
    /// Whether the member waits in `dirty`.
    dirty: bool,
    /// The minute (of the store's clock) plus one in which the member was last added to the
    /// unique-visitor sketches; 0 if never. A sketch needs a member once per minute, however
    /// often it is rewritten.
    sketched: u64,
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
}

#[derive(Debug)]
pub(crate) struct Buffer {
    slots: HashMap<Member, Slot>,
    /// The members waiting to be written, oldest first; each dirty slot appears here once.
    dirty: VecDeque<Member>,
    /// Members taken by a flush whose write has not finished.
    in_flight: usize,
    capacity: usize,
    refresh: Duration,
    last_prune: Instant,
}

impl Buffer {
    pub(crate) fn new(capacity: usize, refresh: Duration) -> Self {
        Buffer {
            slots: HashMap::new(),
            dirty: VecDeque::new(),
            in_flight: 0,
            capacity,
            refresh,
            last_prune: Instant::now(),
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
        if let Some(slot) = self.slots.get_mut(member) {
            let fresh = slot
                .written_at
                .is_some_and(|t| now.saturating_duration_since(t) < self.refresh);
            if slot.dirty || fresh {
                return Offer::Coalesced;
            }
            slot.dirty = true;
            let key = self
                .slots
                .get_key_value(member)
                .map_or_else(|| Member::from(member), |(key, _)| Arc::clone(key));
            self.dirty.push_back(key);
            return Offer::Queued;
        }
        let mut offer = Offer::Queued;
        if self.slots.len() >= self.capacity {
            if self.dirty.len() >= self.capacity {
                // Full of members waiting for the store: the oldest gives way to the newest.
                if let Some(oldest) = self.dirty.pop_front() {
                    self.slots.remove(&oldest);
                }
                offer = Offer::QueuedDroppingOldest;
            } else {
                // Clean slots only remember recent writes; forgetting them costs a rewrite at
                // most.
                self.slots.retain(|_, slot| slot.dirty);
            }
        }
        let key = Member::from(member);
        self.dirty.push_back(Arc::clone(&key));
        self.slots.insert(
            key,
            Slot {
                written_at: None,
                dirty: true,
                sketched: 0,
            },
        );
        offer
    }

    /// Takes up to `max` waiting members, oldest first, marking them written at `now`, and
    /// says of each whether it is new to the sketches of `minute` (then marked as added).
    pub(crate) fn take(
        &mut self,
        max: usize,
        now: Instant,
        minute: u64,
    ) -> (Vec<Member>, Vec<bool>) {
        let n = self.dirty.len().min(max);
        let taken: Vec<Member> = self.dirty.drain(..n).collect();
        self.in_flight += taken.len();
        let mut sketch = Vec::with_capacity(taken.len());
        for member in &taken {
            let new = match self.slots.get_mut(member) {
                Some(slot) => {
                    slot.dirty = false;
                    slot.written_at = Some(now);
                    let new = slot.sketched != minute + 1;
                    slot.sketched = minute + 1;
                    new
                }
                None => true,
            };
            sketch.push(new);
        }
        if now.saturating_duration_since(self.last_prune) >= self.refresh {
            let refresh = self.refresh;
            self.slots.retain(|_, slot| {
                slot.dirty
                    || slot
                        .written_at
                        .is_some_and(|t| now.saturating_duration_since(t) < refresh)
            });
            self.last_prune = now;
        }
        (taken, sketch)
    }

    /// Puts back members whose write failed, as the oldest waiting ones; returns how many
    /// did not fit (the buffer filled with newer members meanwhile) and were dropped.
    pub(crate) fn restore(&mut self, members: Vec<Member>) -> u64 {
        self.in_flight = self.in_flight.saturating_sub(members.len());
        let mut dropped = 0;
        // In reverse, so that pushing each to the front keeps their order.
        for member in members.into_iter().rev() {
            match self.slots.get_mut(&member) {
                Some(slot) if slot.dirty => {}
                Some(slot) => {
                    slot.dirty = true;
                    slot.written_at = None;
                    // The failed write did not reach the sketches either.
                    slot.sketched = 0;
                    self.dirty.push_front(member);
                }
                None if self.dirty.len() < self.capacity => {
                    self.slots.insert(
                        Arc::clone(&member),
                        Slot {
                            written_at: None,
                            dirty: true,
                            sketched: 0,
                        },
                    );
                    self.dirty.push_front(member);
                }
                None => dropped += 1,
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_coalesced_until_the_refresh_interval_passes() {
        let start = Instant::now();
        let mut buf = Buffer::new(10, Duration::from_secs(2));
        assert_eq!(buf.offer(b"a", start), Offer::Queued);
        assert_eq!(buf.offer(b"a", start), Offer::Coalesced);
        assert_eq!(buf.take(100, start, 0).0.len(), 1);
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
        let (taken, _) = buf.take(10, now, 0);
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
        let (first, _) = buf.take(2, now, 0);
        assert_eq!(
            first,
            vec![Member::from(&b"1"[..]), Member::from(&b"2"[..])]
        );
        assert_eq!(buf.restore(first), 0);
        let (again, _) = buf.take(10, now, 0);
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
        let (taken, _) = buf.take(10, now, 0);
        assert_eq!(buf.pending(), 0);
        assert_eq!(buf.unwritten(), 2);
        assert_eq!(buf.restore(taken), 0);
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
        assert_eq!(buf.take(10, start, 7).1, [true]);
        // Rewritten after the refresh interval, in the same minute: not sketched again.
        let later = start + refresh;
        buf.offer(b"a", later);
        assert_eq!(buf.take(10, later, 7).1, [false]);
        // The next minute needs it again.
        let next = later + refresh;
        buf.offer(b"a", next);
        let (taken, sketch) = buf.take(10, next, 8);
        assert_eq!(sketch, [true]);
        // A failed write reached no sketch: the retry adds it.
        buf.restore(taken);
        assert_eq!(buf.take(10, next, 8).1, [true]);
    }
}
