//! Integration tests of active-users live in `tests/`; this library is empty.
