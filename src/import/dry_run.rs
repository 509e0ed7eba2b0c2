//! The dry-run JSON document a migration team reviews before a real import. Its shape is
//! documented in the README ("Importing WhatsApp and Telegram history") and kept stable.

use serde_json::{Value, json};

use super::{Export, Message, SourceKind};

/// The whole document: `{"source", "chat", "exporter", "messages", "senders", "warnings"}`.
pub fn document(export: &Export, extra_warnings: &[String]) -> Value {
    let warnings: Vec<&str> = export
        .warnings
        .iter()
        .chain(extra_warnings)
        .map(String::as_str)
        .collect();
    json!({
        "source": export.source.as_str(),
        "chat": export.chat_name,
        "exporter": export.exporter,
        "messages": export.messages.iter().map(|m| message(export.source, m)).collect::<Vec<_>>(),
        "senders": export.sender_names(),
        "warnings": warnings,
    })
}

/// One message.
pub fn message(source: SourceKind, m: &Message) -> Value {
    let mut v = json!({
        "index": m.index,
        "kind": m.kind.as_str(),
        "sender": m.sender,
        "ts_ms": m.ts_ms,
        "body": m.body,
        "edited": m.edited,
        "reply_to": m.reply_to,
        "attachment": m.attachment.as_ref().map(|a| json!({"filename": a.filename})),
        "omitted": m.omitted,
    });
    if source == SourceKind::Telegram
        && let Some(map) = v.as_object_mut()
    {
        map.insert("id".to_owned(), json!(m.id));
    }
    v
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::document;
    use crate::import::{Attachment, Export, Kind, Message, SourceKind};

    #[test]
    fn the_document_has_the_documented_shape() {
        let export = Export {
            source: SourceKind::Telegram,
            chat_name: Some("G".into()),
            chat_key: "tg:1".into(),
            exporter: None,
            messages: vec![Message {
                index: 0,
                id: Some(-999_999_989),
                line: 0,
                kind: Kind::Media,
                sender: Some("Bob".into()),
                sender_id: Some("user2".into()),
                ts_ms: 1_691_650_860_000,
                body: "La salle".into(),
                edited: true,
                reply_to: Some(-999_999_990),
                attachment: Some(Attachment {
                    filename: "photos/p.jpg".into(),
                }),
                omitted: false,
                local_time: String::new(),
                spans: Vec::new(),
            }],
            senders: vec![("user2".into(), "Bob".into())],
            warnings: vec!["w1".into()],
            pinned: Vec::new(),
        };
        assert_eq!(
            document(&export, &["w2".to_owned()]),
            json!({
                "source": "telegram",
                "chat": "G",
                "exporter": null,
                "messages": [{
                    "index": 0, "id": -999_999_989, "kind": "media", "sender": "Bob",
                    "ts_ms": 1_691_650_860_000_i64, "body": "La salle", "edited": true,
                    "reply_to": -999_999_990, "attachment": {"filename": "photos/p.jpg"},
                    "omitted": false
                }],
                "senders": ["Bob"],
                "warnings": ["w1", "w2"],
            })
        );
    }
}
