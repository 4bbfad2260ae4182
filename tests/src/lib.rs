//! The integration tests of active-users (not published). This library only compiles every
//! Rust block of the workspace README as a doctest, so that the guide stays true.

/// The workspace README's examples.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
