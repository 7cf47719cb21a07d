#![no_main]

// Every operation's reply parser: the first byte picks the operation in
// `clerk_core::fuzzing::OPERATIONS`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| clerk_core::fuzzing::reply(data));
