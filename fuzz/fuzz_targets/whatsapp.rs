//! Fuzz target: see `passerelle::fuzzing::whatsapp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passerelle::fuzzing::whatsapp(data);
});
