//! Fuzz target: see `passerelle::fuzzing::mail`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passerelle::fuzzing::mail(data);
});
