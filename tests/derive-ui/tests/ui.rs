//! Compile-time behaviour of `#[derive(ActiveUserEntry)]`: what compiles, and the error each
//! misuse gets (snapshots in `ui/fail/*.stderr`). Regenerate them with the README's test
//! command and `TRYBUILD=overwrite`, then read every changed line.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
