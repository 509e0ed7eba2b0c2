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

/// Bytes from an SMPP SMSC, as the SMPP link decodes them.
pub fn smpp_pdu(data: &[u8]) {
    crate::connectors::sms::smpp::pdu::fuzz(data);
}

/// A WhatsApp transcript, as `passerelle import whatsapp` parses it.
pub fn whatsapp(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let options = crate::import::whatsapp::Options {
        timezone: "Europe/Paris".to_owned(),
        date_order: None,
        exporter: None,
        chat_name: Some("fuzz".to_owned()),
    };
    let _ = crate::import::whatsapp::parse(text, "fuzz.txt", &options);
}

/// A Telegram `result.json`, invalid escapes and all, as `passerelle import telegram` reads it.
pub fn telegram(data: &[u8]) {
    let _ = crate::import::telegram::escapes::repair(data);
    let options = crate::import::telegram::Options {
        timezone: Some("Europe/Paris".to_owned()),
    };
    let _ = crate::import::telegram::parse(data, "result.json", &options);
}
