//! Runnable examples of active-users live next to this file; this library is empty.
