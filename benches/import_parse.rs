//! Parsing speed of chat exports: a generated 100,000-message WhatsApp transcript and a
//! generated 100,000-message Telegram `result.json`. Run with `cargo bench --bench import_parse`;
//! prints lines (or messages) per second, best of five runs. No assertion: figures only.

use std::{hint::black_box, time::Instant};

use passerelle::import::{telegram, whatsapp};

const MESSAGES: usize = 100_000;

fn whatsapp_export() -> String {
    let mut text = String::with_capacity(MESSAGES * 80);
    for i in 0..MESSAGES {
        let (day, minute) = (1 + (i / 1440) % 28, i % 1440);
        let sender = ["Ann Lee", "Bob", "~\u{202F}Marco", "+44 7700 900123"][i % 4];
        text.push_str(&format!(
            "{}/{day:02}/2023, {:02}:{:02} - {sender}: message number {i} with some words in it\n",
            1 + (i / (1440 * 28)) % 12,
            minute / 60,
            minute % 60
        ));
        if i % 10 == 0 {
            text.push_str("a second line of the same message\n");
        }
    }
    text
}

fn telegram_export() -> String {
    let mut text = String::from(
        "{\n \"name\": \"Bench\",\n \"type\": \"private_supergroup\",\n \"id\": 42,\n \"messages\": [\n",
    );
    for i in 0..MESSAGES {
        if i > 0 {
            text.push_str(",\n");
        }
        text.push_str(&format!(
            "  {{\"id\": {i}, \"type\": \"message\", \"date\": \"2023-08-10T23:11:02\", \"date_unixtime\": \"{}\", \
             \"from\": \"User {}\", \"from_id\": \"user{}\", \"text\": [\"message \", {{\"type\": \"bold\", \"text\": \"{i}\"}}], \
             \"text_entities\": [{{\"type\": \"plain\", \"text\": \"message \"}}, {{\"type\": \"bold\", \"text\": \"{i}\"}}]}}",
            1_691_701_862 + i,
            i % 7,
            i % 7
        ));
    }
    text.push_str("\n ]\n}\n");
    text
}

fn best_of_five(mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut count = 0;
    for _ in 0..5 {
        let start = Instant::now();
        count = black_box(f());
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, count)
}

fn main() {
    let wa = whatsapp_export();
    let lines = wa.lines().count();
    let opts = whatsapp::Options {
        timezone: "UTC".to_owned(),
        ..whatsapp::Options::default()
    };
    let (secs, n) = best_of_five(|| match whatsapp::parse(&wa, "bench.txt", &opts) {
        Ok(e) => e.messages.len(),
        Err(e) => panic!("{e}"),
    });
    println!(
        "whatsapp: {n} messages, {lines} lines, {} MB in {:.3} s: {:.0} lines/s",
        wa.len() / 1_000_000,
        secs,
        lines as f64 / secs
    );
    let tg = telegram_export();
    let (secs, n) = best_of_five(|| {
        match telegram::parse(tg.as_bytes(), "result.json", &telegram::Options::default()) {
            Ok(e) => e.messages.len(),
            Err(e) => panic!("{e}"),
        }
    });
    println!(
        "telegram: {n} messages, {} MB in {:.3} s: {:.0} messages/s",
        tg.len() / 1_000_000,
        secs,
        n as f64 / secs
    );
}
