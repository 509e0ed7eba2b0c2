//! Fuzz target: see `passerelle::fuzzing::smpp_pdu`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passerelle::fuzzing::smpp_pdu(data);
});
