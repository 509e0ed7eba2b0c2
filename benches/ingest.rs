//! Durable ingest: homeserver transactions of 100 events PUT over HTTP/1.1 (one keep-alive
//! connection, one request at a time, as Synapse sends them) to the appservice router backed by
//! a SQLite store on disk; each transaction is committed before the `200`. Next to it, in the
//! same run and on the same disk, the raw SQLite baseline: 100-row transactions with the
//! store's settings (WAL, `synchronous=FULL`) through the same driver, one multi-row `INSERT`
//! per transaction into a table without secondary indexes, nothing else. Between the two, the
//! store alone: the same events handed to `Store::accept_transaction` without HTTP, so the
//! table shows what the schema costs and what the HTTP server and the parsing add.
//!
//! Run with `cargo bench --bench ingest`. The two are interleaved, `ROUNDS` times each; the
//! medians and the spread are printed. CPU is the server side only: the process's CPU time
//! (`/proc/self/stat`, all threads, dead ones included) minus the main thread's, which runs
//! the HTTP client; for the baseline, the whole process's (the main thread only waits). No
//! assertion: figures only.

use std::{path::Path, sync::Arc, time::Instant};

use passerelle::{
    appservice::{AppState, router},
    config::Config,
    runtime::Runtime,
    store::{NewInboxEvent, Store},
};
use sqlx::{
    ConnectOptions, Connection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};

const HS_TOKEN: &str = "bench_hs_token";
const EVENTS_PER_TXN: usize = 100;
const TXNS_PER_ROUND: usize = 500;
const ROUNDS: usize = 7;

/// One `m.room.message` as Synapse pushes it (about 330 bytes).
fn event(txn: usize, i: usize) -> String {
    format!(
        r#"{{"type":"m.room.message","room_id":"!bench{room}:example.org","event_id":"$ev{txn}_{i}_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","sender":"@alice:example.org","origin_server_ts":1700000000000,"content":{{"msgtype":"m.text","body":"message {i} of transaction {txn} with a few words in it"}},"unsigned":{{"age":12}}}}"#,
        room = i % 10
    )
}

fn transaction(txn: usize) -> String {
    let events: Vec<String> = (0..EVENTS_PER_TXN).map(|i| event(txn, i)).collect();
    format!(r#"{{"events":[{}]}}"#, events.join(","))
}

/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`); 100 on every Linux this runs on.
const TICKS_PER_S: f64 = 100.0;

fn cpu_ticks(stat: &str) -> u64 {
    // Fields after the parenthesised command name: state is the first, utime the 12th, stime the 13th.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

/// CPU ticks of the whole process and of the calling thread.
fn cpu_now() -> (u64, u64) {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    (
        cpu_ticks(&read("/proc/self/stat")),
        cpu_ticks(&read("/proc/thread-self/stat")),
    )
}

/// Server-side CPU (ms) spent since `start`, taken on the client thread: the process's
/// CPU time without the calling thread's.
fn server_cpu_ms(start: (u64, u64)) -> f64 {
    let now = cpu_now();
    let ticks = (now.0 - start.0).saturating_sub(now.1 - start.1);
    ticks as f64 * 1000.0 / TICKS_PER_S
}

/// The whole process's CPU (ms) spent since `start`: for the baseline, whose every thread
/// works for it (the main thread waits in `block_on`).
fn process_cpu_ms(start: (u64, u64)) -> f64 {
    (cpu_now().0 - start.0) as f64 * 1000.0 / TICKS_PER_S
}

struct Sample {
    events_per_s: f64,
    cpu_ms_per_1000: f64,
}

async fn passerelle_round(url: &str, client: &reqwest::Client, round: usize) -> Sample {
    let bodies: Vec<String> = (0..TXNS_PER_ROUND)
        .map(|t| transaction(round * TXNS_PER_ROUND + t))
        .collect();
    let cpu = cpu_now();
    let start = Instant::now();
    for (t, body) in bodies.into_iter().enumerate() {
        let resp = client
            .put(format!("{url}/_matrix/app/v1/transactions/r{round}t{t}"))
            .bearer_auth(HS_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("PUT");
        assert!(resp.status().is_success(), "status {}", resp.status());
        resp.bytes().await.expect("body");
    }
    let secs = start.elapsed().as_secs_f64();
    let events = (TXNS_PER_ROUND * EVENTS_PER_TXN) as f64;
    Sample {
        events_per_s: events / secs,
        cpu_ms_per_1000: server_cpu_ms(cpu) / events * 1000.0,
    }
}

/// The store alone, without HTTP: `accept_transaction` called with the events already split,
/// to show what the schema and the driver cost apart from the HTTP server and the parsing.
async fn store_round(store: &Store, round: usize) -> Sample {
    let txns: Vec<Vec<NewInboxEvent>> = (0..TXNS_PER_ROUND)
        .map(|t| {
            (0..EVENTS_PER_TXN)
                .map(|i| NewInboxEvent {
                    room_id: format!("!bench{}:example.org", i % 10),
                    event_id: Some(format!("$direct{round}_{t}_{i}")),
                    kind: "timeline",
                    payload: event(round * TXNS_PER_ROUND + t, i),
                })
                .collect()
        })
        .collect();
    let cpu = cpu_now();
    let start = Instant::now();
    for (t, events) in txns.iter().enumerate() {
        let stored = store
            .accept_transaction(&format!("direct{round}t{t}"), events)
            .await
            .expect("store");
        assert!(stored, "a new transaction id");
    }
    let secs = start.elapsed().as_secs_f64();
    let events = (TXNS_PER_ROUND * EVENTS_PER_TXN) as f64;
    Sample {
        events_per_s: events / secs,
        cpu_ms_per_1000: process_cpu_ms(cpu) / events * 1000.0,
    }
}

async fn sqlite_round(conn: &mut sqlx::SqliteConnection, round: usize) -> Sample {
    let rows: Vec<Vec<String>> = (0..TXNS_PER_ROUND)
        .map(|t| {
            (0..EVENTS_PER_TXN)
                .map(|i| event(round * TXNS_PER_ROUND + t, i))
                .collect()
        })
        .collect();
    let cpu = cpu_now();
    let start = Instant::now();
    for txn in rows {
        // The cheapest way through the driver: one 100-row statement per commit.
        let mut tx = conn.begin().await.expect("begin");
        let mut insert = sqlx::QueryBuilder::new("INSERT INTO raw (payload) ");
        insert.push_values(txn, |mut row, payload| {
            row.push_bind(payload);
        });
        insert.build().execute(&mut *tx).await.expect("insert");
        tx.commit().await.expect("commit");
    }
    let secs = start.elapsed().as_secs_f64();
    let events = (TXNS_PER_ROUND * EVENTS_PER_TXN) as f64;
    Sample {
        events_per_s: events / secs,
        cpu_ms_per_1000: process_cpu_ms(cpu) / events * 1000.0,
    }
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn report(name: &str, samples: &[Sample]) {
    let (rate, rate_lo, rate_hi) = median(samples.iter().map(|s| s.events_per_s).collect());
    let (cpu, cpu_lo, cpu_hi) = median(samples.iter().map(|s| s.cpu_ms_per_1000).collect());
    println!(
        "{name:<28} {rate:>9.0} events/s (min {rate_lo:.0}, max {rate_hi:.0})   \
         {cpu:>6.2} ms CPU / 1000 events (min {cpu_lo:.2}, max {cpu_hi:.2})"
    );
}

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ingest-server")
        .enable_all()
        .build()
        .expect("server runtime");
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");

    let (url, runtime) = server.block_on(start_passerelle(dir.path()));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let mut raw = server.block_on(open_raw(&dir.path().join("raw.db")));

    // Warm-up: the first round of each is not counted.
    client_rt.block_on(passerelle_round(&url, &client, 0));
    raw = sqlite_on(&server, raw, 0).1;
    store_on(&server, &runtime, 0);

    let (mut ours, mut store, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let (sample, conn) = sqlite_on(&server, raw, round);
        raw = conn;
        baseline.push(sample);
        store.push(store_on(&server, &runtime, round));
        ours.push(client_rt.block_on(passerelle_round(&url, &client, round)));
    }
    println!(
        "{ROUNDS} rounds of {TXNS_PER_ROUND} transactions x {EVENTS_PER_TXN} events, median (min, max):"
    );
    report("raw SQLite (WAL, FULL)", &baseline);
    report("store alone (no HTTP)", &store);
    report("passerelle PUT /transactions", &ours);
    let ratio: Vec<f64> = ours
        .iter()
        .zip(&baseline)
        .map(|(o, b)| o.events_per_s / b.events_per_s)
        .collect();
    let (r, lo, hi) = median(ratio);
    println!("ratio passerelle / raw SQLite: {r:.2} (min {lo:.2}, max {hi:.2})");
}

/// Runs a baseline round on a server worker thread, as passerelle's handlers run.
fn sqlite_on(
    server: &tokio::runtime::Runtime,
    mut conn: sqlx::SqliteConnection,
    round: usize,
) -> (Sample, sqlx::SqliteConnection) {
    server
        .block_on(server.spawn(async move {
            let sample = sqlite_round(&mut conn, round).await;
            (sample, conn)
        }))
        .expect("baseline task")
}

/// Runs a store-only round on a server worker thread.
fn store_on(server: &tokio::runtime::Runtime, runtime: &Arc<Runtime>, round: usize) -> Sample {
    let runtime = runtime.clone();
    server
        .block_on(server.spawn(async move { store_round(runtime.store(), round).await }))
        .expect("store task")
}

async fn start_passerelle(dir: &Path) -> (String, Arc<Runtime>) {
    let text = format!(
        "homeserver:\n  url: http://127.0.0.1:9\n  server_name: example.org\n\
         appservice:\n  as_token: bench_as_token\n  hs_token: {HS_TOKEN}\n  max_body_size: 1 MiB\n\
         connectors:\n  - type: test\n    control_bind: 127.0.0.1:0\n"
    );
    let config = Config::parse(Path::new("bench.yaml"), &text, &[]).expect("config");
    let store = Store::open(&dir.join("passerelle.db"), 2)
        .await
        .expect("store");
    let runtime = Runtime::new(Arc::new(config), store).expect("runtime");
    let app = router(AppState {
        runtime: runtime.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, runtime)
}

async fn open_raw(path: &Path) -> sqlx::SqliteConnection {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .pragma("temp_store", "memory")
        .connect()
        .await
        .expect("raw db");
    sqlx::query("CREATE TABLE raw (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        .execute(&mut conn)
        .await
        .expect("table");
    conn
}
