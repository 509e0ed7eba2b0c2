//! WhatsApp transcripts from the reference's examples, parsed end to end.

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{DateOrder, Options, parse};
use crate::import::{Export, Kind, Message};

fn opts(tz: &str) -> Options {
    Options {
        timezone: tz.to_owned(),
        ..Options::default()
    }
}

fn run(text: &str, o: &Options) -> Export {
    parse(text, "chat.txt", o).unwrap_or_else(|e| panic!("{e}"))
}

/// (kind, sender, body) of every message.
fn summary(e: &Export) -> Vec<(Kind, Option<&str>, &str)> {
    e.messages
        .iter()
        .map(|m| (m.kind, m.sender.as_deref(), m.body.as_str()))
        .collect()
}

const ANDROID: &str = "\
18/03/2022, 14:56 - Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them. Tap to learn more.
18/03/2022, 14:56 - Dmitry S created group \"Trip: 2022\"
18/03/2022, 14:57 - Dmitry S added you
18/03/2022, 14:58 - Dmitry S: Hello
everyone, the plan:
18/03/2022, 14:56 the meeting moved
2016-04-29 10:30:00 is a date in a body
18/03/2022, 15:01 - Elon: You deleted this message
18/03/2022, 15:02 - ~\u{202F}Zoé: sample message <This message was edited>
18/03/2022, 15:03 - Dmitry S changed the subject from \"A: B\" to \"C\"
18/03/2022, 15:04 - Elon: \u{200E}IMG-20220318-WA0002.jpg (file attached)
Look at this
18/03/2022, 15:05 - +44 7700 900123: <Media omitted>
18/03/2022, 15:06 - Dmitry S: This message was deleted
";

#[test]
fn android_transcript_messages_senders_and_system_lines() {
    let e = run(ANDROID, &opts("Europe/Paris"));
    assert_eq!(
        summary(&e),
        vec![
            (
                Kind::System,
                None,
                "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them. Tap to learn more."
            ),
            (Kind::System, None, "Dmitry S created group \"Trip: 2022\""),
            (Kind::System, None, "Dmitry S added you"),
            (
                Kind::Text,
                Some("Dmitry S"),
                "Hello\neveryone, the plan:\n18/03/2022, 14:56 the meeting moved\n2016-04-29 10:30:00 is a date in a body"
            ),
            (Kind::Deleted, Some("Elon"), "You deleted this message"),
            (Kind::Text, Some("Zoé"), "sample message"),
            (
                Kind::System,
                None,
                "Dmitry S changed the subject from \"A: B\" to \"C\""
            ),
            (Kind::Media, Some("Elon"), "Look at this"),
            (Kind::Media, Some("+44 7700 900123"), ""),
            (Kind::Deleted, Some("Dmitry S"), "This message was deleted"),
        ]
    );
    assert_eq!(
        e.sender_names(),
        vec!["Dmitry S", "Elon", "Zoé", "+44 7700 900123"]
    );
    // 14:56 in Paris in March is UTC+1.
    assert_eq!(e.messages[0].ts_ms, 1_647_611_760_000);
    assert_eq!(e.messages[3].line, 4);
    assert_eq!(
        e.messages.iter().map(|m| m.index).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert!(e.messages[5].edited);
    assert_eq!(
        e.messages[7]
            .attachment
            .as_ref()
            .map(|a| a.filename.as_str()),
        Some("IMG-20220318-WA0002.jpg")
    );
    assert!(e.messages[8].omitted && e.messages[8].attachment.is_none());
    // Every system line of this transcript is a known one.
    assert!(
        !e.warnings.iter().any(|w| w.contains("not recognised")),
        "{:?}",
        e.warnings
    );
    // "You deleted this message" names the exporter.
    assert_eq!(e.exporter.as_deref(), Some("Elon"));
}

#[test]
fn ios_transcript_with_crlf_marks_and_group_system_lines() {
    let text = "[3/27/22, 21:41:35] Trip: \u{200E}Messages and calls are end-to-end encrypted.\r\n\
                [3/27/22, 21:41:35] Trip: \u{200E}Ali created group “Trip”\r\n\
                [3/27/22, 21:41:40] Dmitry S: Hi\r\nsecond line\r\n\
                \u{200E}[3/27/22, 21:41:55] Dmitry S: \u{200E}<attached: 00000035-PHOTO-2022-03-27-21-41-55.jpg>\r\n\
                \u{200E}[3/27/22, 21:42:01] Ali: \u{200E}image omitted\r\n\
                [3/27/22, 21:43:00] Ali: \u{200E}This message was deleted.\r\n\
                [3/27/22, 21:44:00] Ali: Resume.pdf • \u{200E}2 pages \u{200E}<attached: 00000047-Resume.pdf>\r\n";
    let o = Options {
        chat_name: Some("Trip".to_owned()),
        ..opts("America/New_York")
    };
    let e = run(text, &o);
    assert_eq!(
        summary(&e),
        vec![
            (
                Kind::System,
                None,
                "Messages and calls are end-to-end encrypted."
            ),
            (Kind::System, None, "Ali created group “Trip”"),
            (Kind::Text, Some("Dmitry S"), "Hi\nsecond line"),
            (Kind::Media, Some("Dmitry S"), ""),
            (Kind::Media, Some("Ali"), ""),
            (Kind::Deleted, Some("Ali"), "This message was deleted."),
            (Kind::Media, Some("Ali"), ""),
        ]
    );
    // 21:41:35 EDT (UTC-4) on 2022-03-27 → 01:41:35Z on the 28th.
    assert_eq!(e.messages[0].ts_ms, 1_648_431_695_000);
    assert_eq!(
        e.messages[6]
            .attachment
            .as_ref()
            .map(|a| a.filename.as_str()),
        Some("00000047-Resume.pdf")
    );
    // Without the file name, the chat name is inferred from the system lines' author.
    let e = run(text, &opts("America/New_York"));
    assert_eq!(e.chat_name.as_deref(), Some("Trip"));
    assert_eq!(e.messages[1].kind, Kind::System);
    assert_eq!(e.sender_names(), vec!["Dmitry S", "Ali"]);
}

#[test]
fn twelve_hour_clock_with_narrow_nbsp_and_month_first() {
    let text = "1/4/23, 7:02\u{202F}PM - Ann: evening\n\
                1/4/23, 12:05\u{202F}AM - Ann: just after midnight\n\
                1/13/23, 12:30\u{202F}PM - Bo: noon-ish\n";
    let e = run(text, &opts("UTC"));
    // The 13 in the second field makes the file month-first.
    assert_eq!(e.messages[0].local_time, "2023-01-04T19:02:00");
    assert_eq!(e.messages[1].local_time, "2023-01-04T00:05:00");
    assert_eq!(e.messages[2].local_time, "2023-01-13T12:30:00");
    assert!(!e.warnings.iter().any(|w| w.contains("date order")));
    // Out of order in the file: reported.
    assert!(
        e.warnings
            .iter()
            .any(|w| w.contains("chat.txt:2: dated before line 1")),
        "{:?}",
        e.warnings
    );
}

#[test]
fn ambiguous_date_order_is_reported_and_can_be_overridden() {
    let text = "01/02/2023, 10:00 - Ann: a\n02/02/2023, 10:00 - Ann: b\n";
    let e = run(text, &opts("UTC"));
    assert_eq!(e.messages[0].local_time, "2023-02-01T10:00:00");
    assert!(e.warnings.iter().any(|w| w.contains("--date-order")));
    let o = Options {
        date_order: Some(DateOrder::Mdy),
        ..opts("UTC")
    };
    let e = run(text, &o);
    assert_eq!(e.messages[0].local_time, "2023-01-02T10:00:00");
    assert!(!e.warnings.iter().any(|w| w.contains("--date-order")));
}

#[test]
fn french_and_finnish_joiners_and_spanish_nbsp_meridiem() {
    let e = run("26/09/2019 à 22:39 - Zoé: Salut\n", &opts("Europe/Paris"));
    assert_eq!(e.messages[0].local_time, "2019-09-26T22:39:00");
    let e = run("[13.6.2018 klo 21.25.15] a: m\n", &opts("Europe/Helsinki"));
    assert_eq!(e.messages[0].local_time, "2018-06-13T21:25:15");
    let e = run(
        "20/6/2017 8:28 p.\u{A0}m. - Ana: Hola\n",
        &opts("Europe/Madrid"),
    );
    assert_eq!(e.messages[0].local_time, "2017-06-20T20:28:00");
    assert_eq!(e.messages[0].sender.as_deref(), Some("Ana"));
}

#[test]
fn the_autumn_repeat_is_resolved_by_file_order_and_reported() {
    let text = "29/10/2023, 02:10 - Ann: first pass\n\
                29/10/2023, 02:50 - Ann: still summer time\n\
                29/10/2023, 02:05 - Ann: clocks went back\n";
    let e = run(text, &opts("Europe/Paris"));
    let ts: Vec<i64> = e.messages.iter().map(|m| m.ts_ms).collect();
    assert_eq!(
        ts,
        vec![1_698_538_200_000, 1_698_540_600_000, 1_698_541_500_000]
    );
    assert_eq!(
        e.warnings
            .iter()
            .filter(|w| w.contains("occurs twice in Europe/Paris"))
            .count(),
        3
    );
    // The wall clock went backwards but the real time did not: no reordering reported.
    assert!(!e.warnings.iter().any(|w| w.contains("dated before")));
}

#[test]
fn a_spring_gap_time_fails_naming_the_line() {
    let text = "26/03/2023, 01:59 - Ann: a\n26/03/2023, 02:30 - Ann: b\n";
    let e = parse(text, "chat.txt", &opts("Europe/Paris")).expect_err("gap");
    assert!(e.0.starts_with("chat.txt:2: "), "{e}");
    assert!(e.0.contains("--timezone"), "{e}");
}

#[test]
fn unknown_system_lines_are_kept_and_reported() {
    let e = run("18/03/2022, 14:56 - Something new happened\n", &opts("UTC"));
    assert_eq!(e.messages[0].kind, Kind::System);
    assert_eq!(e.messages[0].body, "Something new happened");
    assert!(
        e.warnings.iter().any(|w| w
            == "chat.txt:1: system line not recognised, kept as it is: Something new happened"),
        "{:?}",
        e.warnings
    );
}

#[test]
fn the_majority_style_wins_and_the_other_is_body_text() {
    let text = "18/03/2022, 14:56 - Ann: quoting an iOS line:\n\
                [3/27/22, 21:41:35] Bo: not a header here\n\
                18/03/2022, 14:57 - Bo: ok\n";
    let e = run(text, &opts("UTC"));
    assert_eq!(e.messages.len(), 2);
    assert_eq!(
        e.messages[0].body,
        "quoting an iOS line:\n[3/27/22, 21:41:35] Bo: not a header here"
    );
}

#[test]
fn bad_input_is_refused_with_the_file_and_line() {
    let e = parse("hello\nworld\n", "notes.txt", &opts("UTC")).expect_err("no header");
    assert!(
        e.0.starts_with("notes.txt: no WhatsApp message header"),
        "{e}"
    );
    let huge = format!(
        "18/03/2022, 14:56 - Ann: {}\n",
        "x".repeat(super::MAX_LINE + 1)
    );
    let e = parse(&huge, "big.txt", &opts("UTC")).expect_err("huge line");
    assert!(e.0.starts_with("big.txt:1: a line of"), "{e}");
    let e = parse(
        "18/03/2022, 14:56 - Ann: a\n",
        "c.txt",
        &opts("Mars/Olympus"),
    )
    .expect_err("zone");
    assert!(e.0.contains("unknown time zone"), "{e}");
}

#[test]
fn chat_keys_depend_on_the_chat_name_only() {
    let a = Options {
        chat_name: Some("Trip".into()),
        ..opts("UTC")
    };
    let short = run("18/03/2022, 14:56 - Ann: a\n", &a);
    let long = run(
        "17/03/2022, 14:56 - Ann: z\n18/03/2022, 14:56 - Ann: a\n",
        &a,
    );
    assert_eq!(short.chat_key, long.chat_key);
    assert!(short.chat_key.starts_with("wa:"));
}

/// Bodies made of arbitrary text survive a round trip through a generated transcript.
#[test]
fn arbitrary_bodies_round_trip_through_a_generated_export() {
    const ALPHABET: &[char] = &[
        'a', 'Z', ' ', ' ', ':', '-', '[', ']', '/', '.', ',', '0', '1', '9', 'é', '€', '😀',
        '\u{202F}', '\u{A0}', '\u{2068}', '\u{2069}', '"', '“', '<', '>', '(', ')', '\n', '~',
    ];
    let mut rng = StdRng::seed_from_u64(6);
    for case in 0..300 {
        let mut text = String::new();
        let mut expected = Vec::new();
        for i in 0..rng.random_range(1..8) {
            let len = rng.random_range(1..40);
            let mut body: String = (0..len)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                .collect();
            // A body starts with visible text and has no empty last line (as exported).
            body.insert(0, 'x');
            body.push('x');
            let sender = ["Ann", "Bo Li", "+44 7700 900123"][i % 3];
            text.push_str(&format!("18/03/2022, 14:{:02} - {sender}: {body}\r\n", i));
            expected.push((sender.to_owned(), body));
        }
        let e = run(&text, &opts("UTC"));
        let got: Vec<(String, String)> = e
            .messages
            .iter()
            .map(|m: &Message| (m.sender.clone().unwrap_or_default(), m.body.clone()))
            .collect();
        assert_eq!(got, expected, "case {case}: {text:?}");
    }
}
