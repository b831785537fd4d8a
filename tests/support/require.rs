//! Tests that cannot silently pass: a test whose prerequisite is missing (tmux,
//! python3, the shared fixtures) prints why it skips, and fails instead where
//! `TRAINWATT_REQUIRE_ALL=1` is set (CI sets it in `.ci/run`).
//!
//! Usable on its own: `#[path = "support/require.rs"] mod require;`.
#![allow(dead_code)]

/// The variable that turns a skip into a failure.
pub const REQUIRE_ALL: &str = "TRAINWATT_REQUIRE_ALL";

/// Whether a missing prerequisite must fail the test here.
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL).is_ok_and(|v| v == "1")
}

/// `true` when the test can run. When `prereq_ok` is false, prints the skip
/// reason (`what` names the missing thing) and returns `false` (the caller
/// returns), or panics when [`REQUIRE_ALL`] is `1`.
pub fn require(prereq_ok: bool, what: &str) -> bool {
    if prereq_ok {
        return true;
    }
    if require_all() {
        panic!("{what} is missing and {REQUIRE_ALL}=1: this test must run here, not skip");
    }
    eprintln!("skipping: {what} is missing (set {REQUIRE_ALL}=1 to make this a failure)");
    false
}

/// Whether `program args…` runs and exits successfully.
pub fn runs(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
