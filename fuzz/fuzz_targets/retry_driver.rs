#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clerk_core::fuzzing::retry_driver(data));
