#![no_main]
//! The invariants are in tests/support/fuzz_checks.rs (shared with the
//! stable replay test tests/fuzz_regressions.rs).
#[path = "../../tests/support/fuzz_checks.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::theme(data));
