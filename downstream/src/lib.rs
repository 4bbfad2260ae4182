//! The tests in `tests/` use active-users the way a dependent crate does. This library
//! compiles every Rust block of the workspace README and of the crate's own README as
//! doctests, against the dependencies and features those READMEs tell a user to add (and no
//! more), so that an example that only compiles inside the workspace is caught.

/// The workspace README's examples.
#[cfg(all(doctest, feature = "readme"))]
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadme;

/// The published crate's README's examples.
#[cfg(all(doctest, feature = "readme"))]
#[doc = include_str!("../../active-users/README.md")]
pub struct CrateReadme;
