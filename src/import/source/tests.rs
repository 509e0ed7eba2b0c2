//! Reading exports from files, folders and zips, including hostile zips.

use std::{io::Write, path::Path};

use zip::{CompressionMethod, ZipWriter, write::SimpleFileOptions};

use super::{chat_name_from, load_telegram, load_whatsapp, pick_transcript};
use crate::import::{telegram, whatsapp};

fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).expect("create zip");
    let mut zip = ZipWriter::new(file);
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in entries {
        zip.start_file(*name, options).expect("entry");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("finish");
}

fn wa() -> whatsapp::Options {
    whatsapp::Options {
        timezone: "Europe/Paris".to_owned(),
        ..whatsapp::Options::default()
    }
}

const IOS: &str = "[18/03/2022, 14:56:00] Ann: hi\r\n\
                   \u{200E}[18/03/2022, 14:57:00] Ann: \u{200E}<attached: 00000001-PHOTO-café.jpg>\r\n";

#[test]
fn export_file_names_give_the_chat_name() {
    assert_eq!(
        chat_name_from("dl/WhatsApp Chat - Trip.zip").as_deref(),
        Some("Trip")
    );
    assert_eq!(
        chat_name_from("WhatsApp Chat with Ann B.txt").as_deref(),
        Some("Ann B")
    );
    assert_eq!(
        chat_name_from("WhatsApp_Chat_with_Ann.txt").as_deref(),
        Some("Ann")
    );
    assert_eq!(
        chat_name_from("Discussion WhatsApp avec Mairie.txt").as_deref(),
        Some("Mairie")
    );
    assert_eq!(chat_name_from("_chat.txt"), None);
}

#[test]
fn the_transcript_is_picked_in_the_reference_order() {
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        pick_transcript(&names(&[
            "notes.txt",
            "WhatsApp Chat with A.txt",
            "_chat.txt"
        ]))
        .as_deref(),
        Some("_chat.txt")
    );
    assert_eq!(
        pick_transcript(&names(&["notes.txt", "WhatsApp Chat with A.txt"])).as_deref(),
        Some("WhatsApp Chat with A.txt")
    );
    assert_eq!(pick_transcript(&names(&["a.txt", "b.txt"])), None);
    assert_eq!(
        pick_transcript(&names(&["only.txt", "x.jpg"])).as_deref(),
        Some("only.txt")
    );
}

#[test]
fn a_whatsapp_zip_gives_its_transcript_and_media_by_nfc_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zip = dir.path().join("WhatsApp Chat - Trip.zip");
    // The entry is stored in NFD (as macOS writes it); the transcript says NFC.
    write_zip(
        &zip,
        &[
            ("_chat.txt", IOS.as_bytes()),
            ("00000001-PHOTO-cafe\u{301}.jpg", b"JPEG"),
        ],
    );
    let mut loaded = load_whatsapp(&zip, &wa()).expect("loads");
    assert_eq!(loaded.export.chat_name.as_deref(), Some("Trip"));
    assert_eq!(loaded.export.messages.len(), 2);
    let name = loaded.export.messages[1]
        .attachment
        .clone()
        .expect("attachment")
        .filename;
    assert_eq!(
        loaded.media.read(&name, 1024).expect("read"),
        Some(b"JPEG".to_vec())
    );
    assert_eq!(loaded.media.read("missing.jpg", 1024).expect("read"), None);
}

#[test]
fn hostile_zips_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let evil = dir.path().join("evil.zip");
    write_zip(
        &evil,
        &[
            ("_chat.txt", IOS.as_bytes()),
            ("../../etc/cron.d/x", b"boom"),
        ],
    );
    let e = load_whatsapp(&evil, &wa()).err().expect("refused");
    assert!(e.0.contains("points outside the archive"), "{e}");

    let broken = dir.path().join("broken.zip");
    std::fs::write(&broken, b"PK\x03\x04 this is not really a zip").expect("write");
    let e = load_whatsapp(&broken, &wa()).err().expect("refused");
    assert!(e.0.contains("not a readable zip"), "{e}");

    // A small entry that inflates past the cap is cut off, whatever the archive claims.
    let bomb = dir.path().join("bomb.zip");
    let zeros = vec![0u8; 1 << 20];
    write_zip(
        &bomb,
        &[
            ("_chat.txt", IOS.as_bytes()),
            ("00000001-PHOTO-café.jpg", &zeros),
        ],
    );
    let mut loaded = load_whatsapp(&bomb, &wa()).expect("transcript loads");
    let e = loaded
        .media
        .read("00000001-PHOTO-café.jpg", 64 * 1024)
        .expect_err("capped");
    assert!(
        e.0.contains("larger than 65536 bytes once uncompressed"),
        "{e}"
    );
    // Names from the transcript cannot climb out either.
    let e = loaded.media.read("../secret", 10).expect_err("refused");
    assert!(e.0.contains("outside the export"), "{e}");
}

#[test]
fn a_transcript_that_is_not_utf8_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let txt = dir.path().join("WhatsApp Chat with Ann.txt");
    std::fs::write(
        &txt,
        b"18/03/2022, 14:56 - Ann: ok\n18/03/2022, 14:57 - Ann: caf\xe9\n",
    )
    .expect("write");
    let e = load_whatsapp(&txt, &wa()).err().expect("refused");
    assert!(e.0.ends_with(":2: not UTF-8 text; WhatsApp writes UTF-8, so give the file as exported (not re-saved in another encoding)"), "{e}");
}

#[test]
fn a_telegram_zip_resolves_media_relative_to_result_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zip = dir.path().join("export.zip");
    let json = br#"{"name": "G", "id": 5, "messages": [
      {"id": 1, "type": "message", "date_unixtime": "1609495200", "from": "A", "from_id": "user1",
       "photo": "photos/p.jpg", "text": ""}]}"#;
    write_zip(
        &zip,
        &[
            ("ChatExport_2021-01-01/result.json", json),
            ("ChatExport_2021-01-01/photos/p.jpg", b"JPG"),
        ],
    );
    let mut loaded = load_telegram(&zip, &telegram::Options::default()).expect("loads");
    assert_eq!(
        loaded.media.read("photos/p.jpg", 100).expect("read"),
        Some(b"JPG".to_vec())
    );
    let e = load_telegram(dir.path(), &telegram::Options::default())
        .err()
        .expect("no json");
    assert!(e.0.contains("no result.json in this folder"), "{e}");
}
