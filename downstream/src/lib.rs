//! Nothing here: the tests in `tests/` use active-users the way a dependent crate does.
