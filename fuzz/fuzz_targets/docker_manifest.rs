//! Fuzz target: see `checks::docker_manifest`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::docker_manifest(data));
