//! Fuzz target: see `passerelle::fuzzing::xmpp_stanza`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passerelle::fuzzing::xmpp_stanza(data);
});
