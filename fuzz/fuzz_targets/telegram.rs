//! Fuzz target: see `passerelle::fuzzing::telegram`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passerelle::fuzzing::telegram(data);
});
