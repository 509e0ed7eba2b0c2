//! `passerelle import`: the dry run on fixture exports (no server needed), and real imports
//! into Synapse, re-run after a full and an interrupted run without duplicates.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;

use crate::harness::{
    Passerelle, User, base_config, base_config_path, enc, http, repo, serial, wait_for,
};

const T: std::time::Duration = std::time::Duration::from_secs(30);

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/import")
}

fn android_txt() -> PathBuf {
    fixtures().join("whatsapp-android/WhatsApp Chat with Trip.txt")
}

fn telegram_dir() -> PathBuf {
    fixtures().join("telegram/ChatExport_2023-08-11")
}

/// Zips the iOS fixture as WhatsApp names it, into `dir`.
fn ios_zip(dir: &Path) -> PathBuf {
    let path = dir.join("WhatsApp Chat - Trip.zip");
    let file = std::fs::File::create(&path).expect("zip file");
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for name in ["_chat.txt", "00000002-PHOTO-2022-03-18-14-58-00.png"] {
        zip.start_file(name, options).expect("entry");
        zip.write_all(&std::fs::read(fixtures().join("whatsapp-ios").join(name)).expect("fixture"))
            .expect("write");
    }
    zip.finish().expect("finish");
    path
}

/// Runs `passerelle import …` with its own database in `target/it/<name>`.
fn passerelle_import(db_dir: &Path, args: &[&str]) -> Output {
    std::fs::create_dir_all(db_dir).expect("dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passerelle"));
    cmd.arg("import")
        .args(args)
        .env("PASSERELLE_DATABASE__PATH", db_dir.join("import.db"))
        .env_remove("PASSERELLE_CONFIG");
    if !args.contains(&"--dry-run") {
        cmd.arg("-c").arg(base_config_path());
    }
    cmd.output().expect("run passerelle")
}

fn dry_run(args: &[&str]) -> Value {
    let dir = repo().join("target/it-dry");
    let out = passerelle_import(&dir, args);
    assert!(
        out.status.success(),
        "passerelle import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = repo().join("target/it").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// (kind, sender, ts_ms, body) of every message of a dry-run document.
fn rows(doc: &Value) -> Vec<(String, Value, i64, String)> {
    doc["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().expect("kind").to_owned(),
                m["sender"].clone(),
                m["ts_ms"].as_i64().expect("ts_ms"),
                m["body"].as_str().expect("body").to_owned(),
            )
        })
        .collect()
}

#[test]
fn dry_run_of_an_android_transcript_prints_the_documented_json() {
    let txt = android_txt();
    let doc = dry_run(&[
        "whatsapp",
        txt.to_str().expect("path"),
        "--timezone",
        "America/New_York",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(doc["source"], "whatsapp");
    assert_eq!(doc["chat"], "Trip");
    assert_eq!(
        doc["senders"],
        serde_json::json!(["Ann Lee", "Marco", "Bob"])
    );
    let e2e = "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them. Tap to learn more.";
    let s = |n: &str| Value::String(n.to_owned());
    assert_eq!(
        rows(&doc),
        vec![
            ("system".into(), Value::Null, 1_679_871_480_000, e2e.into()),
            (
                "system".into(),
                Value::Null,
                1_679_871_600_000,
                "Ann Lee created group \"Trip: Lyon\"".into()
            ),
            (
                "system".into(),
                Value::Null,
                1_679_871_660_000,
                "Ann Lee added you".into()
            ),
            (
                "text".into(),
                s("Ann Lee"),
                1_679_871_720_000,
                "Welcome!\nBring boots.".into()
            ),
            ("text".into(), s("Ann Lee"), 1_679_871_720_000, "ok".into()),
            ("text".into(), s("Ann Lee"), 1_679_871_720_000, "ok".into()),
            (
                "media".into(),
                s("Marco"),
                1_679_871_900_000,
                "The view".into()
            ),
            ("media".into(), s("Bob"), 1_679_871_960_000, String::new()),
            (
                "deleted".into(),
                s("Bob"),
                1_679_872_020_000,
                "You deleted this message".into()
            ),
            (
                "text".into(),
                s("Marco"),
                1_679_872_080_000,
                "see you at 8".into()
            ),
            (
                "system".into(),
                Value::Null,
                1_679_890_500_000,
                "Ann Lee changed the subject from \"Trip: Lyon\" to \"Trip\"".into()
            ),
        ]
    );
    let m = &doc["messages"];
    assert_eq!(m[6]["attachment"]["filename"], "IMG-20230326-WA0001.png");
    assert_eq!(m[7]["attachment"], Value::Null);
    assert_eq!(m[9]["edited"], true);
    assert_eq!(m[3]["index"], 3);
    assert_eq!(m[3]["reply_to"], Value::Null);
    assert_eq!(doc["exporter"], "Bob");
    assert!(
        doc["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("40,000")))
    );
}

#[test]
fn dry_run_of_an_ios_zip_and_a_telegram_folder() {
    let dir = fresh_dir("import-dry-zip");
    let zip = ios_zip(&dir);
    let doc = dry_run(&[
        "whatsapp",
        zip.to_str().expect("path"),
        "--timezone",
        "Europe/Paris",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(doc["chat"], "Trip");
    assert_eq!(doc["senders"], serde_json::json!(["Dmitry S", "Elon"]));
    let kinds: Vec<&str> = doc["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(
        kinds,
        [
            "system", "system", "text", "media", "deleted", "media", "text"
        ]
    );
    assert_eq!(doc["messages"][1]["body"], "Dmitry S created group “Trip”");
    assert_eq!(doc["messages"][2]["ts_ms"], 1_647_611_830_000_i64);
    assert_eq!(doc["messages"][2]["body"], "Bonjour à tous\nOn part à 8h.");
    assert_eq!(doc["messages"][4]["body"], "This message was deleted.");
    assert_eq!(doc["messages"][6]["body"], "Résumé: OK");
    assert_eq!(doc["messages"][6]["edited"], true);

    let tg = telegram_dir();
    let doc = dry_run(&[
        "telegram",
        tg.to_str().expect("path"),
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(doc["source"], "telegram");
    let m = &doc["messages"];
    assert_eq!(m[1]["id"], -999_999_989_i64);
    assert_eq!(m[3]["reply_to"], -999_999_989_i64);
    assert_eq!(m[3]["body"], "Salut Alice, voir https://example.org");
    assert_eq!(
        m[4]["attachment"]["filename"],
        "photos/photo_1@10-08-2023_23-11-02.jpg"
    );
    assert_eq!(m[5]["sender"], Value::Null);
    assert_eq!(m[0]["kind"], "system");
    assert_eq!(m[0]["sender"], "Alice Martin");
}

#[test]
fn bad_input_exits_non_zero_with_a_clear_message() {
    let dir = fresh_dir("import-bad");
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "just some notes\n").expect("write");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "whatsapp".into(),
                notes.display().to_string(),
                "--timezone".into(),
                "Europe/Paris".into(),
                "--dry-run".into(),
            ],
            "no WhatsApp message header found",
        ),
        (
            vec![
                "whatsapp".into(),
                android_txt().display().to_string(),
                "--timezone".into(),
                "Paris".into(),
                "--dry-run".into(),
            ],
            "unknown time zone `Paris`",
        ),
        (
            vec![
                "telegram".into(),
                notes.display().to_string(),
                "--dry-run".into(),
            ],
            "not a Telegram JSON export",
        ),
        (
            vec![
                "whatsapp".into(),
                dir.join("missing.zip").display().to_string(),
                "--timezone".into(),
                "UTC".into(),
                "--dry-run".into(),
            ],
            "cannot open",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = passerelle_import(&dir, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // --timezone is required for WhatsApp.
    let out = passerelle_import(
        &dir,
        &[
            "whatsapp",
            android_txt().to_str().expect("path"),
            "--dry-run",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timezone"));
}

/// A running passerelle, so that the homeserver delivers the import's events to the appservice
/// as it would in production (and does not back off from an unreachable appservice, which
/// would delay the tests that follow).
fn running_passerelle(name: &str) -> Passerelle {
    let p = Passerelle::start(name, &[]);
    p.wait_ready(T);
    p
}

/// Runs a real import; returns its stdout (the report).
fn real_import(db_dir: &Path, args: &[&str]) -> String {
    let out = passerelle_import(db_dir, args);
    assert!(
        out.status.success(),
        "passerelle import failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The room id named in a report (`Room <id>: …`; v12 room ids have no server part).
fn room_of(report: &str) -> String {
    report
        .lines()
        .find_map(|l| {
            l.strip_prefix("Room ")?
                .split(": ")
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no room in the report:\n{report}"))
}

/// Joins the room the import invited `user` to and returns its imported messages.
fn imported(user: &User, room: &str) -> Vec<Value> {
    if !user.joined_rooms().contains(&room.to_owned()) {
        user.join(room);
    }
    user.events(room)
        .into_iter()
        .filter(|e| e["type"] == "m.room.message")
        .collect()
}

fn download(user: &User, mxc: &str) -> Vec<u8> {
    let rest = mxc.strip_prefix("mxc://").expect("mxc");
    let hs = base_config()
        .homeserver
        .url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let token = user.token();
    http()
        .get(format!("{hs}/_matrix/client/v1/media/download/{rest}"))
        .bearer_auth(token)
        .send()
        .expect("download")
        .bytes()
        .expect("bytes")
        .to_vec()
}

#[test]
fn a_whatsapp_zip_with_media_is_imported_once_even_when_run_again() {
    let _serial = serial();
    let _passerelle = running_passerelle("import-wa-run");
    let dir = fresh_dir("import-wa");
    let zip = ios_zip(&dir);
    let staff = User::register("importer");
    let args = [
        "whatsapp",
        zip.to_str().expect("path"),
        "--timezone",
        "Europe/Paris",
        "--room-name",
        "Trip (archive)",
        "--invite",
        staff.user_id.as_str(),
    ];
    let report = real_import(&dir, &args);
    assert!(
        report.contains("7 messages sent now, 0 already sent before"),
        "{report}"
    );
    let room = room_of(&report);
    wait_for("the staff member's invitation", T, || {
        staff.invites().contains(&room).then_some(())
    });
    let events = imported(&staff, &room);
    let state = |t: &str| {
        staff.get_json(&format!(
            "/_matrix/client/v3/rooms/{}/state/{t}/",
            enc(&room)
        ))
    };
    assert_eq!(state("m.room.name")["name"], "Trip (archive)");
    let topic = state("m.room.topic")["topic"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        topic.contains("WhatsApp chat \"Trip\"") && topic.contains("WhatsApp Chat - Trip.zip"),
        "{topic}"
    );

    // The 7 messages then the report, in order, with the original times.
    let got: Vec<(String, i64, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["sender"].as_str().unwrap_or_default().to_owned(),
                e["origin_server_ts"].as_i64().unwrap_or_default(),
                e["content"]["msgtype"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["content"]["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(got.len(), 8, "{got:#?}");
    let bot = base_config().bot_user_id();
    let dmitry = got[2].0.clone();
    let elon = got[3].0.clone();
    assert!(dmitry.starts_with("@_import_") && elon.starts_with("@_import_") && dmitry != elon);
    assert_eq!(staff.display_name(&dmitry).as_deref(), Some("Dmitry S"));
    assert_eq!(staff.display_name(&elon).as_deref(), Some("Elon"));
    let expected: Vec<(&str, i64, &str, &str)> = vec![
        (
            &bot,
            1_647_611_760_000,
            "m.notice",
            "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them.",
        ),
        (
            &bot,
            1_647_611_761_000,
            "m.notice",
            "Dmitry S created group “Trip”",
        ),
        (
            &dmitry,
            1_647_611_830_000,
            "m.text",
            "Bonjour à tous\nOn part à 8h.",
        ),
        (
            &elon,
            1_647_611_880_000,
            "m.image",
            "00000002-PHOTO-2022-03-18-14-58-00.png",
        ),
        (
            &elon,
            1_647_611_970_000,
            "m.notice",
            "This message was deleted.",
        ),
        (
            &dmitry,
            1_647_612_000_000,
            "m.notice",
            "(media not included in the export)",
        ),
        (&dmitry, 1_647_612_060_000, "m.text", "Résumé: OK (edited)"),
    ];
    for (i, (sender, ts, msgtype, body)) in expected.iter().enumerate() {
        assert_eq!(
            (
                got[i].0.as_str(),
                got[i].1,
                got[i].2.as_str(),
                got[i].3.as_str()
            ),
            (*sender, *ts, *msgtype, *body),
            "event {i}"
        );
    }
    assert!(got[7].3.starts_with("Import report"), "{}", got[7].3);
    // Each ghost joined just before its first message, backdated too.
    let join_ts = |ghost: &str| {
        staff
            .events(&room)
            .into_iter()
            .find(|e| {
                e["type"] == "m.room.member"
                    && e["state_key"] == ghost
                    && e["content"]["membership"] == "join"
            })
            .and_then(|e| e["origin_server_ts"].as_i64())
    };
    assert_eq!(join_ts(&dmitry), Some(1_647_611_829_999));
    assert_eq!(join_ts(&elon), Some(1_647_611_879_999));
    // The photo is the fixture's bytes.
    let mxc = events[3]["content"]["url"].as_str().expect("url");
    assert_eq!(
        download(&staff, mxc),
        std::fs::read(fixtures().join("whatsapp-ios/00000002-PHOTO-2022-03-18-14-58-00.png"))
            .expect("fixture")
    );

    // Run again: nothing new is sent.
    let again = real_import(&dir, &args);
    assert!(
        again.contains("0 messages sent now, 7 already sent before"),
        "{again}"
    );
    assert_eq!(room_of(&again), room);
    assert_eq!(imported(&staff, &room).len(), 8, "nothing was duplicated");
}

#[test]
fn an_interrupted_telegram_import_resumes_without_duplicates_and_links_replies() {
    let _serial = serial();
    let _passerelle = running_passerelle("import-tg-run");
    let dir = fresh_dir("import-tg");
    let staff = User::register("tgimporter");
    let bob = User::register("tgbob");
    let map = dir.join("senders.yaml");
    std::fs::write(&map, format!("user222: \"{}\"\n", bob.user_id)).expect("map");
    let tg = telegram_dir();
    let args = vec![
        "telegram",
        tg.to_str().expect("path"),
        "--map",
        map.to_str().expect("path"),
        "--invite",
        staff.user_id.as_str(),
    ];
    // Stop after 4 messages, as an interruption would.
    let mut first = args.clone();
    first.extend(["--limit", "4"]);
    let report = real_import(&dir, &first);
    assert!(
        report.contains("4 messages sent now, 0 already sent before; stopped early"),
        "{report}"
    );
    let room = room_of(&report);
    assert!(
        !staff.invites().contains(&room),
        "invitations wait for the end"
    );
    let report = real_import(&dir, &args);
    assert!(
        report.contains("5 messages sent now, 4 already sent before"),
        "{report}"
    );
    assert!(report.contains("stands in for"), "{report}");
    wait_for("the mapped user's invitation", T, || {
        bob.invites().contains(&room).then_some(())
    });

    let events = imported(&staff, &room);
    let ids: Vec<i64> = events
        .iter()
        .filter_map(|e| e["content"]["org.passerelle.import"]["key"].as_str())
        .map(|k| {
            k.rsplit(':')
                .next()
                .and_then(|id| id.parse().ok())
                .expect("key")
        })
        .collect();
    assert_eq!(
        ids,
        vec![-999_999_990, -999_999_989, 1, 2, 3, 4, 5, 6, 7],
        "each message once, in order"
    );
    let by_key = |id: i64| {
        events
            .iter()
            .find(|e| e["content"]["org.passerelle.import"]["key"] == format!("tg:1987654321:{id}"))
            .unwrap_or_else(|| panic!("message {id}"))
    };
    // Replies point at the imported events, including a negative (migrated) id.
    assert_eq!(
        by_key(2)["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        by_key(-999_999_989)["event_id"]
    );
    assert_eq!(
        by_key(5)["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        by_key(3)["event_id"]
    );
    assert_eq!(by_key(5)["content"]["body"], "Page\u{c}break (edited)");
    assert_eq!(by_key(2)["content"]["format"], "org.matrix.custom.html");
    assert_eq!(
        by_key(2)["content"]["formatted_body"],
        "Salut <strong>Alice</strong>, voir <a href=\"https://example.org\">https://example.org</a>"
    );
    assert_eq!(by_key(3)["origin_server_ts"], 1_691_701_862_000_i64);
    assert_eq!(by_key(3)["content"]["msgtype"], "m.image");
    assert_eq!(by_key(3)["content"]["body"], "La salle");
    assert_eq!(by_key(6)["content"]["msgtype"], "m.file");
    assert_eq!(by_key(4)["content"]["msgtype"], "m.notice");
    assert_eq!(by_key(-999_999_990)["sender"], base_config().bot_user_id());
    assert_eq!(
        staff
            .display_name(by_key(2)["sender"].as_str().expect("sender"))
            .as_deref(),
        Some("Bob")
    );
    let pinned = staff.get_json(&format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.pinned_events/",
        enc(&room)
    ));
    assert_eq!(pinned["pinned"], serde_json::json!([by_key(6)["event_id"]]));
    let notes = by_key(6)["content"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert_eq!(download(&staff, &notes), b"Ordre du jour\n1. Salle\n");
}

/// Import speed against the local Synapse: prints messages per second, asserts only that
/// every message was sent. Run with
/// `scripts/test.sh --test it import_throughput -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: run on demand, prints a figure"]
fn import_throughput() {
    let _serial = serial();
    let _passerelle = running_passerelle("import-throughput-run");
    let dir = fresh_dir("import-throughput");
    const N: usize = 2_000;
    let mut text = String::new();
    for i in 0..N {
        let sender = ["Ann", "Bob", "Chloé", "Dmitry"][i % 4];
        text.push_str(&format!(
            "{:02}/01/2023, {:02}:{:02} - {sender}: message {i}\n",
            1 + i / 1440,
            (i % 1440) / 60,
            i % 60
        ));
    }
    let txt = dir.join("WhatsApp Chat with Bench.txt");
    std::fs::write(&txt, text).expect("write");
    let cpu_before = children_cpu_seconds();
    let start = std::time::Instant::now();
    let report = real_import(
        &dir,
        &["whatsapp", txt.to_str().expect("path"), "--timezone", "UTC"],
    );
    let secs = start.elapsed().as_secs_f64();
    assert!(
        report.contains(&format!("{N} messages sent now")),
        "{report}"
    );
    let cpu = children_cpu_seconds() - cpu_before;
    println!(
        "import: {N} messages into Synapse in {secs:.1} s: {:.0} messages/s; passerelle used {cpu:.1} s of CPU",
        N as f64 / secs
    );
}

/// CPU seconds (user + system) of this process's waited-for children, from /proc (Linux,
/// 100 clock ticks per second).
fn children_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(Vec::new(), |(_, rest)| rest.split(' ').collect());
    // After the command name: cutime and cstime are fields 16 and 17 of the whole line.
    let ticks: u64 = [13, 14]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    ticks as f64 / 100.0
}

/// A crash between a send and its ledger entry: the re-run sends the same transaction id
/// again and the homeserver answers with the event it already has, so nothing is doubled.
#[test]
fn a_send_whose_ledger_entry_was_lost_is_not_doubled() {
    let _serial = serial();
    let _passerelle = running_passerelle("import-crash-window-run");
    let dir = fresh_dir("import-crash-window");
    let staff = User::register("crashwin");
    let txt = android_txt();
    let args = [
        "whatsapp",
        txt.to_str().expect("path"),
        "--timezone",
        "America/New_York",
        "--invite",
        staff.user_id.as_str(),
    ];
    let mut first = args.to_vec();
    first.extend(["--limit", "5"]);
    let report = real_import(&dir, &first);
    let room = room_of(&report);
    // Forget the last sent message, as if the process died right after the homeserver took it.
    let forgotten = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let store = passerelle::store::Store::open(&dir.join("import.db"), 1)
                .await
                .expect("ledger");
            let done = sqlx::query(
                "DELETE FROM import_ledger WHERE source_key = \
                 (SELECT source_key FROM import_ledger WHERE source_key NOT LIKE 'join:%' \
                  ORDER BY sent_at DESC, rowid DESC LIMIT 1)",
            )
            .execute(store.pool())
            .await
            .expect("delete");
            store.close().await;
            done.rows_affected()
        });
    assert_eq!(forgotten, 1);
    let report = real_import(&dir, &args);
    assert!(
        report.contains("7 messages sent now, 4 already sent before"),
        "{report}"
    );
    wait_for("the invitation", T, || {
        staff.invites().contains(&room).then_some(())
    });
    let bodies: Vec<String> = imported(&staff, &room)
        .iter()
        .filter(|e| e["content"]["org.passerelle.import"].is_object())
        .map(|e| e["content"]["body"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(bodies.len(), 11, "{bodies:#?}");
    // The two identical "ok" messages of the same minute are both there, once each.
    assert_eq!(bodies.iter().filter(|b| *b == "ok").count(), 2);
    assert_eq!(bodies[2], "Ann Lee added Bob", "\"you\" is the exporter");
}
