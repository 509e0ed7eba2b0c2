//! Benchmarks against the real peers: end-to-end latency through Synapse and Prosody, memory
//! and startup time of the real binary. Figures only, no timing assertion; run with
//! `scripts/test.sh --test it bench:: -- --ignored --nocapture` (results in
//! `docs/benchmarks.md`).

use std::{
    process::Command,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};

use crate::{
    harness::{Passerelle, User, base_config, enc, http, serial},
    xmpp_peer::{XmppUser, ghost_of, jid_of},
};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// p50, p95, p99 and max of `ms`, as text.
fn percentiles(mut ms: Vec<f64>) -> String {
    if ms.is_empty() {
        return "no samples".into();
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n = {})",
        at(0.5),
        at(0.95),
        at(0.99),
        ms[ms.len() - 1],
        ms.len()
    )
}

/// A `/sync` long-poll on one room, as a Matrix client waits for messages.
struct Sync {
    hs: String,
    token: String,
    since: String,
    filter: String,
}

impl Sync {
    fn new(user: &User, room: &str) -> Self {
        let hs = base_config()
            .homeserver
            .url
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let filter = json!({"room": {"rooms": [room], "timeline": {"limit": 50}, "state": {"lazy_load_members": true}},
                            "presence": {"not_types": ["*"]}, "account_data": {"not_types": ["*"]}})
        .to_string();
        let mut me = Self {
            hs,
            token: user.token().to_owned(),
            since: String::new(),
            filter,
        };
        me.poll(0);
        me
    }

    /// One sync; returns the timeline events of the room.
    fn poll(&mut self, timeout_ms: u64) -> Vec<Value> {
        let mut url = format!(
            "{}/_matrix/client/v3/sync?timeout={timeout_ms}&filter={}",
            self.hs,
            enc(&self.filter)
        );
        if !self.since.is_empty() {
            url.push_str(&format!("&since={}", enc(&self.since)));
        }
        let resp: Value = http()
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .expect("sync")
            .json()
            .expect("json");
        self.since = resp["next_batch"].as_str().unwrap_or_default().to_owned();
        resp["rooms"]["join"]
            .as_object()
            .into_iter()
            .flat_map(|rooms| rooms.values())
            .flat_map(|r| {
                r["timeline"]["events"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// Matrix→XMPP and XMPP→Matrix, one message at a time, alternating, so each direction is
/// measured under the same load. Next to it: Synapse's own push time, from the client's send
/// to the transaction's arrival at passerelle (`inbox.received_at`, stamped on arrival).
#[test]
#[ignore = "benchmark: run on demand, prints figures"]
fn latency() {
    let _serial = serial();
    let n = env_or("BENCH_MESSAGES", 300);
    let mut p = Passerelle::start("bench-latency", &[]);
    p.wait_ready(Duration::from_secs(60));
    let staff = User::register("bench");
    let mut carol = XmppUser::login("carol");
    let ghost = ghost_of(&carol.jid);
    let room = staff.direct_chat(&ghost);
    let staff_jid = jid_of(&staff.user_id);
    let mut sync = Sync::new(&staff, &room);

    // Warm-up: a few messages each way, not counted.
    let warm = 5;
    let (mut m2x, mut x2m, mut x2m_to_ts) = (Vec::new(), Vec::new(), Vec::new());
    let mut sent_at = std::collections::BTreeMap::new();
    for i in 0..n + warm {
        let body = format!("bench m2x {i}");
        let wall = now_ms();
        let t0 = Instant::now();
        staff.send_text(&room, &body);
        carol.wait_body(&body);
        let m2x_ms = t0.elapsed().as_secs_f64() * 1000.0;
        sent_at.insert(body, wall);
        carol.seen.clear();

        let body = format!("bench x2m {i}");
        let wall = now_ms();
        let t0 = Instant::now();
        carol.send(&staff_jid, &body);
        let event = loop {
            let events = sync.poll(10_000);
            if let Some(e) = events
                .into_iter()
                .find(|e| e["sender"] == ghost && e["content"]["body"] == body)
            {
                break e;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "XMPP message {i} never reached the room"
            );
        };
        let x2m_ms = t0.elapsed().as_secs_f64() * 1000.0;
        if i >= warm {
            m2x.push(m2x_ms);
            x2m.push(x2m_ms);
            if let Some(ts) = event["origin_server_ts"].as_i64() {
                x2m_to_ts.push((ts - wall) as f64);
            }
        }
    }
    assert!(p.terminate(), "clean exit");

    // Synapse's push: client send (wall clock) → transaction stored by passerelle.
    let db = p.dir.join("passerelle.db");
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sqlite3, sys\n\
             for body, at in sqlite3.connect(sys.argv[1]).execute(\"SELECT json_extract(payload, '$.content.body'), received_at FROM inbox WHERE kind = 'timeline'\"):\n\
             \x20   print(json.dumps([body, at]))",
        )
        .arg(&db)
        .output()
        .expect("python3 reads the database");
    let mut push = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(Value::Array(pair)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let (Some(body), Some(at)) = (pair[0].as_str(), pair[1].as_i64()) else {
            continue;
        };
        let skip = body
            .strip_prefix("bench m2x ")
            .and_then(|i| i.parse::<usize>().ok())
            .is_none_or(|i| i < warm);
        if !skip && let Some(wall) = sent_at.get(body) {
            push.push((at - wall) as f64);
        }
    }
    println!("latency, {n} messages each way, one at a time:");
    println!(
        "  Synapse send → appservice push (client send to passerelle's receipt, ms clock): {}",
        percentiles(push)
    );
    println!(
        "  Matrix→XMPP end to end (Matrix send to XMPP client receipt): {}",
        percentiles(m2x)
    );
    println!(
        "  XMPP→Matrix end to end (XMPP send to Matrix /sync receipt): {}",
        percentiles(x2m)
    );
    println!(
        "  XMPP→Matrix to the event's origin_server_ts (ms clock): {}",
        percentiles(x2m_to_ts)
    );
}

/// VmRSS of `pid`, in MiB.
/// A process's resident memory (MiB): in all, its private part (heap, stacks: `RssAnon`) and
/// the part mapped from files (the executable and libraries, shared with the page cache:
/// `RssFile`), from `/proc/<pid>/status`.
fn rss_mib(pid: u32) -> Rss {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    Rss {
        total: field("VmRSS:"),
        private: field("RssAnon:"),
        file: field("RssFile:"),
    }
}

/// Resident memory, MiB.
#[derive(Clone, Copy)]
struct Rss {
    total: f64,
    private: f64,
    file: f64,
}

/// The largest mappings of a process by resident size (`/proc/<pid>/smaps`), for
/// `BENCH_SMAPS=1`: where the resident memory is, without another tool.
fn largest_mappings(pid: u32, count: usize) -> Vec<String> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut maps: Vec<(u64, String)> = Vec::new();
    let mut name = String::new();
    for line in smaps.lines() {
        if let Some(kb) = line.strip_prefix("Rss:") {
            let kb = kb.trim().trim_end_matches(" kB").parse().unwrap_or(0);
            maps.push((kb, name.clone()));
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-'))
        {
            // "start-end perms offset dev inode [path]": the path, or the kind of region.
            name = line
                .split_whitespace()
                .nth(5)
                .unwrap_or("[anonymous]")
                .to_owned();
        }
    }
    maps.sort_by_key(|m| std::cmp::Reverse(m.0));
    maps.into_iter()
        .take(count)
        .map(|(kb, name)| format!("{kb:>7} kB  {name}"))
        .collect()
}

/// The real binary started by hand, so that nothing polls it but the timer; killed on drop.
struct Timed(std::process::Child);

impl Drop for Timed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts passerelle on a database in `target/it/<name>` (prepared by `before_start`) and
/// polls `/ready` every 5 ms; returns the process and the time from spawn to ready.
fn start_timed(name: &str, before_start: impl FnOnce(&std::path::Path)) -> (Timed, f64) {
    let dir = crate::harness::repo().join("target/it").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    before_start(&dir);
    let log = std::fs::File::create(dir.join("passerelle.log")).expect("log");
    let t0 = Instant::now();
    let child = Command::new(crate::harness::passerelle_bin())
        .args(["run", "-c"])
        .arg(crate::harness::base_config_path())
        .env("PASSERELLE_DATABASE__PATH", dir.join("passerelle.db"))
        .env(
            "PASSERELLE_CONNECTORS__0__RECORD_PATH",
            dir.join("sent.jsonl"),
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn passerelle");
    let p = Timed(child);
    let url = format!("http://{}/ready", base_config().appservice.bind);
    let client = http();
    while !client
        .get(&url)
        .send()
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(t0.elapsed() < Duration::from_secs(60), "never ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    (p, t0.elapsed().as_secs_f64() * 1000.0)
}

/// RSS idle and with 10,000 ghosts and 10,000 portals in the database, and startup time to
/// `/ready`, each over `BENCH_RUNS` starts.
#[test]
#[ignore = "benchmark: run on demand, prints figures"]
fn memory_and_startup() {
    let _serial = serial();
    let runs = env_or("BENCH_RUNS", 5);
    let rows = env_or("BENCH_ROWS", 10_000);
    let (mut idle, mut loaded, mut start_empty, mut start_loaded) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (p, ms) = start_timed("bench-memory-empty", |_| {});
        start_empty.push(ms);
        std::thread::sleep(Duration::from_secs(5));
        idle.push(rss_mib(p.0.id()));
        if std::env::var_os("BENCH_SMAPS").is_some() {
            println!("largest mappings when idle:");
            for line in largest_mappings(p.0.id(), 12) {
                println!("  {line}");
            }
        }
        drop(p);

        let (p, ms) = start_timed("bench-memory-loaded", |dir| fill(dir, rows));
        start_loaded.push(ms);
        std::thread::sleep(Duration::from_secs(5));
        // Some traffic so the caches see the rows: user queries on every 10th ghost.
        let token = base_config().appservice.hs_token.expose().to_owned();
        let client = http();
        for i in (0..rows).step_by(10) {
            let user = format!("@_test_bench{i}:{}", base_config().homeserver.server_name);
            let _ = client
                .get(format!(
                    "http://{}/_matrix/app/v1/users/{}",
                    base_config().appservice.bind,
                    enc(&user)
                ))
                .bearer_auth(&token)
                .send();
        }
        loaded.push(rss_mib(p.0.id()));
        drop(p);
    }
    let summary = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        format!(
            "median {:.1} (min {:.1}, max {:.1}, n = {})",
            v[v.len() / 2],
            v[0],
            v[v.len() - 1],
            v.len()
        )
    };
    println!("memory and startup, {runs} starts each:");
    for (what, rss) in [
        ("idle".to_owned(), idle),
        (format!("with {rows} ghosts and {rows} portals"), loaded),
    ] {
        println!(
            "  RSS {what} (MiB): {}",
            summary(rss.iter().map(|r| r.total).collect())
        );
        println!(
            "    private (RssAnon): {}",
            summary(rss.iter().map(|r| r.private).collect())
        );
        println!(
            "    mapped from files (RssFile): {}",
            summary(rss.iter().map(|r| r.file).collect())
        );
    }
    println!(
        "  startup to /ready, empty database (ms): {}",
        summary(start_empty)
    );
    println!(
        "  startup to /ready, {rows} ghosts and portals (ms): {}",
        summary(start_loaded)
    );
}

/// Fills a fresh database in `dir` with `rows` ghosts and `rows` portals of the test connector.
fn fill(dir: &std::path::Path, rows: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = passerelle::store::Store::open(&dir.join("passerelle.db"), 1)
            .await
            .expect("store");
        let server = base_config().homeserver.server_name.clone();
        let mut tx = store.pool().begin().await.expect("begin");
        for i in 0..rows {
            sqlx::query(
                "INSERT INTO ghosts (connector, remote_id, user_id, display_name, registered, updated_at) \
                 VALUES ('test', $1, $2, $3, 1, 0)",
            )
            .bind(format!("bench{i}"))
            .bind(format!("@_test_bench{i}:{server}"))
            .bind(format!("Bench contact {i}"))
            .execute(&mut *tx)
            .await
            .expect("ghost");
            sqlx::query(
                "INSERT INTO portals (connector, conversation, room_id, created_at) VALUES ('test', $1, $2, 0)",
            )
            .bind(format!("bench{i}"))
            .bind(format!("!bench{i}:{server}"))
            .execute(&mut *tx)
            .await
            .expect("portal");
        }
        tx.commit().await.expect("commit");
        store.close().await;
    });
}
