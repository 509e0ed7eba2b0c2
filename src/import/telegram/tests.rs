//! Telegram exports: the fixture export and the reference's quirks.

use super::{Options, parse};
use crate::import::{Export, Kind};

const FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/import/telegram/ChatExport_2023-08-11/result.json");

fn run(bytes: &[u8], o: &Options) -> Export {
    parse(bytes, "result.json", o).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
#[allow(clippy::type_complexity)] // one tuple per expected row
fn the_fixture_export_reads_as_the_reference_says() {
    let e = run(FIXTURE, &Options::default());
    assert_eq!(e.chat_name.as_deref(), Some("Équipe Lyon"));
    assert_eq!(e.chat_key, "tg:1987654321");
    let rows: Vec<(Option<i64>, Kind, Option<&str>, &str, Option<i64>)> = e
        .messages
        .iter()
        .map(|m| {
            (
                m.id,
                m.kind,
                m.sender.as_deref(),
                m.body.as_str(),
                m.reply_to,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                Some(-999_999_990),
                Kind::System,
                Some("Alice Martin"),
                "Alice Martin created group \"Équipe Lyon\"",
                None
            ),
            (
                Some(-999_999_989),
                Kind::Text,
                Some("Alice Martin"),
                "Bonjour à tous",
                None
            ),
            (
                Some(1),
                Kind::System,
                Some("Alice Martin"),
                "Alice Martin converted the group \"Équipe Lyon\" to a supergroup",
                None
            ),
            (
                Some(2),
                Kind::Text,
                Some("Bob"),
                "Salut Alice, voir https://example.org",
                Some(-999_999_989)
            ),
            (Some(3), Kind::Media, Some("Alice Martin"), "La salle", None),
            (Some(4), Kind::Media, None, "", None),
            (Some(5), Kind::Text, Some("Bob"), "Page\u{c}break", Some(3)),
            (Some(6), Kind::Media, Some("Alice Martin"), "", None),
            (
                Some(7),
                Kind::System,
                Some("Bob"),
                "Bob pinned message 6",
                None
            ),
        ]
    );
    assert_eq!(e.pinned, vec![6]);
    // Formatting is kept for messages that have some.
    let kinds: Vec<&str> = e.messages[3]
        .spans
        .iter()
        .map(|s| s.kind.as_str())
        .collect();
    assert_eq!(kinds, ["plain", "bold", "plain", "link"]);
    assert!(e.messages[1].spans.is_empty());
    // date_unixtime, not the local date.
    assert_eq!(e.messages[4].ts_ms, 1_691_701_862_000);
    assert!(e.messages[6].edited && !e.messages[3].edited);
    assert_eq!(
        e.messages[4]
            .attachment
            .as_ref()
            .map(|a| a.filename.as_str()),
        Some("photos/photo_1@10-08-2023_23-11-02.jpg")
    );
    // The skipped file is not a file name.
    assert!(e.messages[5].attachment.is_none() && e.messages[5].omitted);
    assert_eq!(e.messages[5].sender_id.as_deref(), Some("user333"));
    assert_eq!(
        e.senders,
        vec![
            ("user111".to_owned(), "Alice Martin".to_owned()),
            ("user222".to_owned(), "Bob".to_owned()),
            ("user333".to_owned(), "Deleted Account".to_owned()),
        ]
    );
    let w = e.warnings.join("\n");
    assert!(w.contains("repaired 2 invalid \\x escape(s)"), "{w}");
    assert!(
        w.contains("message 4: file not in the export: (File not included."),
        "{w}"
    );
    assert!(w.contains("message 8: type `unsupported`"), "{w}");
}

#[test]
fn text_arrays_join_without_spaces_when_entities_are_absent() {
    let json = br#"{"name": "c", "id": 1, "messages": [
      {"id": 1, "type": "message", "date": "2021-01-01T10:00:00", "date_unixtime": "1609495200",
       "from": "A", "from_id": "user1", "text": ["a", {"type": "bold", "text": "b"}, "c"]}]}"#;
    let e = run(json, &Options::default());
    assert_eq!(e.messages[0].body, "abc");
}

#[test]
fn older_exports_without_date_unixtime_need_a_zone() {
    let json = br#"{"name": "c", "id": 1, "messages": [
      {"id": 1, "type": "message", "date": "2021-10-31T02:30:00", "from": "A", "from_id": "user1", "text": "one"},
      {"id": 2, "type": "message", "date": "2021-10-31T02:10:00", "from": "A", "from_id": "user1", "text": "two"}]}"#;
    let e = parse(json, "result.json", &Options::default()).expect_err("no zone");
    assert!(
        e.0.contains("no date_unixtime") && e.0.contains("--timezone"),
        "{e}"
    );
    let o = Options {
        timezone: Some("Europe/Paris".to_owned()),
    };
    let e = run(json, &o);
    // 02:30 CEST (first reading) then 02:10 CET: the wall clock went back.
    assert_eq!(e.messages[0].ts_ms, 1_635_640_200_000);
    assert_eq!(e.messages[1].ts_ms, 1_635_642_600_000);
    assert_eq!(
        e.warnings
            .iter()
            .filter(|w| w.contains("occurs twice"))
            .count(),
        2
    );
}

#[test]
fn cross_chat_replies_are_dropped_with_a_warning() {
    let json = br#"{"name": "c", "id": 1, "messages": [
      {"id": 1, "type": "message", "date_unixtime": "1609495200", "from": "A", "from_id": "user1",
       "reply_to_message_id": 77, "reply_to_peer_id": "channel5", "text": "x"}]}"#;
    let e = run(json, &Options::default());
    assert_eq!(e.messages[0].reply_to, None);
    assert!(e.warnings.iter().any(|w| w.contains("another chat")));
}

#[test]
fn bad_json_and_whole_account_exports_are_refused_clearly() {
    let e = parse(
        b"{\n \"messages\": [\n  {\"id\": }\n ]\n}",
        "result.json",
        &Options::default(),
    )
    .expect_err("bad json");
    assert!(e.0.starts_with("result.json:3:"), "{e}");
    let e = parse(
        br#"{"about": "x", "chats": {"list": []}}"#,
        "result.json",
        &Options::default(),
    )
    .expect_err("account export");
    assert!(e.0.contains("whole-account export"), "{e}");
}

/// Arbitrary texts, written the way Telegram Desktop writes them (control characters as
/// invalid `\xNN` escapes, text split into entity runs), come back unchanged.
#[test]
fn arbitrary_texts_round_trip_through_a_generated_export() {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    const ALPHABET: &[char] = &[
        'a', 'Z', ' ', '"', '\\', '/', '\n', '\t', '\u{0}', '\u{c}', '\u{1f}', 'é', '😀', 'x',
    ];
    /// Telegram Desktop's `SerializeString`: `\n`, `\r`, `\t`, `"` and `\` escaped properly,
    /// other control characters as `\xNN`.
    fn tdesktop_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
    let mut rng = StdRng::seed_from_u64(7);
    for case in 0..200 {
        let runs: Vec<String> = (0..rng.random_range(1..4))
            .map(|_| {
                (0..rng.random_range(0..12))
                    .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                    .collect()
            })
            .collect();
        let entities: Vec<String> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let kind = if i % 2 == 0 { "plain" } else { "bold" };
                format!("{{\"type\": \"{kind}\", \"text\": {}}}", tdesktop_string(r))
            })
            .collect();
        let json = format!(
            "{{\"name\": \"c\", \"id\": 1, \"messages\": [{{\"id\": 1, \"type\": \"message\", \
             \"date_unixtime\": \"1609495200\", \"from\": \"A\", \"from_id\": \"user1\", \
             \"text\": \"\", \"text_entities\": [{}]}}]}}",
            entities.join(", ")
        );
        let e = parse(json.as_bytes(), "result.json", &Options::default())
            .unwrap_or_else(|err| panic!("case {case}: {err}\n{json}"));
        assert_eq!(e.messages[0].body, runs.concat(), "case {case}: {json}");
    }
}
