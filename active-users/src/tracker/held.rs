//! A request's member held across its response, for the middlewares that record after it.

use super::{EncodeError, Outcome, Tracker};
use crate::entry::ActiveUserEntry;
use crate::request::RequestHead;
use std::fmt;

impl<E: ActiveUserEntry> Tracker<E> {
    /// The first half of recording: the exclusion check and the extraction into an encoded
    /// member, counted. The layers call it before the response and [`record_prepared`](Self::record_prepared) after.
    pub(crate) fn prepare(&self, head: &RequestHead<'_>) -> Result<HeldMember, Outcome> {
        self.check(head)?;
        crate::codec::with_scratch(|scratch| match self.encode_request(head, scratch) {
            Some(cut) => Ok(HeldMember::new(cut, scratch)),
            None => Err(Outcome::NoEntry),
        })
    }

    /// Records a member [`prepare`](Self::prepare)d earlier.
    pub(crate) fn record_prepared(&self, prepared: &HeldMember) -> Outcome {
        self.offer_member(prepared.member())
    }
}

/// Members this long or shorter are held inline by [`HeldMember`]: most are (a `DefaultEntry`
/// with a 32-character session id and a 10-digit user id takes about 60 bytes).
const INLINE_MEMBER: usize = 110;

/// A request's member, encoded when the request arrives and recorded when its response says
/// so: the layers hold it across the response. A short member is held inline, so that
/// holding it costs no allocation.
pub(crate) struct HeldMember(HeldInner);

enum HeldInner {
    Inline {
        len: u8,
        cut: u8,
        bytes: [u8; INLINE_MEMBER],
    },
    Heap {
        bytes: Box<[u8]>,
        cut: usize,
    },
    /// The encoding failed: counted as invalid if the response is recorded.
    Invalid(EncodeError),
}

impl HeldMember {
    fn new(cut: Result<usize, EncodeError>, member: &[u8]) -> Self {
        HeldMember(match cut {
            Err(err) => HeldInner::Invalid(err),
            Ok(cut) => match (u8::try_from(member.len()), u8::try_from(cut)) {
                (Ok(len), Ok(cut)) if member.len() <= INLINE_MEMBER => {
                    let mut bytes = [0; INLINE_MEMBER];
                    bytes[..member.len()].copy_from_slice(member);
                    HeldInner::Inline { len, cut, bytes }
                }
                _ => HeldInner::Heap {
                    bytes: member.into(),
                    cut,
                },
            },
        })
    }

    /// The member and how many of its values were cut, or the encoding's error.
    fn member(&self) -> Result<(&[u8], usize), EncodeError> {
        match &self.0 {
            HeldInner::Inline { len, cut, bytes } => {
                Ok((&bytes[..usize::from(*len)], usize::from(*cut)))
            }
            HeldInner::Heap { bytes, cut } => Ok((bytes, *cut)),
            HeldInner::Invalid(err) => Err(err.clone()),
        }
    }
}

impl fmt::Debug for HeldMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            HeldInner::Inline { len, .. } => write!(f, "HeldMember({len} bytes)"),
            HeldInner::Heap { bytes, .. } => write!(f, "HeldMember({} bytes)", bytes.len()),
            HeldInner::Invalid(err) => write!(f, "HeldMember({err})"),
        }
    }
}
