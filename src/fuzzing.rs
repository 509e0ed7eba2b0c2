//! Entry points for the fuzz targets in `fuzz/`; compiled only by `cargo fuzz`
//! (`--cfg fuzzing`). Each takes arbitrary bytes and must return without panicking.

/// A homeserver transaction body, as `PUT /transactions/{txnId}` reads it.
pub fn transaction(body: &[u8]) {
    let _ = crate::appservice::transactions::parse("fuzz", body);
}

/// A mail, as the email connector decodes it (MIME, charsets, HTML, delivery reports).
pub fn mail(raw: &[u8]) {
    crate::connectors::email::parse::fuzz(raw);
}

/// An XMPP message stanza, as the XMPP connector reads it.
pub fn xmpp_stanza(data: &[u8]) {
    if let Ok(xml) = std::str::from_utf8(data) {
        crate::connectors::xmpp::stanzas::fuzz(xml);
    }
}
