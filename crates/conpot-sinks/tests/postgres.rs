//! The PostgreSQL sink against Debian's PostgreSQL on loopback (tests/servers/start):
//! schema made on start, rows read back field by field in two encoders, duplicates
//! ignored, and an outage: the server stopped, events spooled, the server started again,
//! every event stored once; with a tiny spool the loss is counted as `events.dropped`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use tokio_postgres::NoTls;

/// Runs `f` with a client of `url` on a runtime of its own.
fn query<T>(url: &str, f: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        f(&client).await
    })
}

fn count(url: &str, sensor: &str) -> i64 {
    query(url, async |c| {
        // Before the sink's first connection the table may not exist yet: none stored.
        c.query_one("SELECT count(*) FROM events WHERE sensor_id = $1", &[&sensor])
            .await
            .map_or(0, |r| r.get(0))
    })
}

#[test]
fn postgresql_stores_events_sessions_and_files_in_native_and_ecs() {
    let Some(url) = server("CONPOT_TEST_PG") else { return };
    for format in ["native", "ecs"] {
        let d = tmp(&format!("pg-{format}"));
        let sensor = unique(&format!("pg-{format}"));
        let spec = spec(&[
            ("type", "postgresql".into()),
            ("url", url.clone().into()),
            ("format", format.into()),
            ("batch", 100.into()),
        ]);
        let o = origin(&sensor);
        let run = Running::start(&spec, o.clone(), &d, 10_000);
        let s = session(41000);
        let first = request(&o, &s, 0);
        run.publish(first.clone());
        for n in 1..300 {
            run.publish(request(&o, &s, n));
        }
        run.publish(upload(&o, &s));
        run.publish(first.clone());
        let metrics = run.finish();
        assert_eq!(metrics.events_failed.load(Ordering::Relaxed), 0);
        assert_eq!(count(&url, &sensor), 301, "{format}: every event once");
        let id = first.event_id.hyphenated().to_string();
        let sid = s.id.hyphenated().to_string();
        query(&url, async |c| {
            let row = c
                .query_one(
                    "SELECT time::text, session_id::text, protocol, event_type, host(src_ip), src_port, host(dst_ip), \
                     dst_port, body FROM events WHERE event_id = $1::text::uuid",
                    &[&id],
                )
                .await
                .unwrap();
            assert_eq!(row.get::<_, String>(1), sid);
            assert_eq!(row.get::<_, String>(2), "modbus");
            assert_eq!(row.get::<_, String>(3), "modbus.request");
            assert_eq!(row.get::<_, String>(4), "198.51.100.4");
            assert_eq!(row.get::<_, i32>(5), 41000);
            assert_eq!(row.get::<_, String>(6), "10.0.0.5");
            assert_eq!(row.get::<_, i32>(7), 502);
            let body: String = c
                .query_one("SELECT body::text FROM events WHERE event_id = $1::text::uuid", &[&id])
                .await
                .unwrap()
                .get(0);
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            match format {
                "native" => {
                    assert_eq!(body["event_id"], id);
                    assert_eq!(body["src_ip"], "198.51.100.4");
                    assert_eq!(body["request"]["note"], "x\u{fffd}y", "jsonb holds no NUL");
                    assert_eq!(body["raw"], "0001000000060101");
                }
                _ => {
                    assert_eq!(body["event"]["id"], id);
                    assert_eq!(body["source"]["ip"], "198.51.100.4");
                    assert_eq!(body["destination"]["port"], 502);
                    assert_eq!(body["network"]["protocol"], "modbus");
                    assert_eq!(body["observer"]["name"], sensor.as_str());
                }
            }
            let jsonb: i64 = c
                .query_one(
                    "SELECT count(*) FROM events WHERE sensor_id = $1 AND jsonb_typeof(body) = 'object'",
                    &[&sensor],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(jsonb, 301);
            let srow = c
                .query_one(
                    "SELECT sensor_id, transport, first_seen <= last_seen FROM sessions WHERE session_id = $1::text::uuid",
                    &[&sid],
                )
                .await
                .unwrap();
            assert_eq!(srow.get::<_, String>(0), sensor);
            assert_eq!(srow.get::<_, String>(1), "tcp");
            assert!(srow.get::<_, bool>(2));
            let f = c
                .query_one(
                    "SELECT name, size, status FROM files WHERE sha256 = $1",
                    &[&"ab".repeat(32)],
                )
                .await
                .unwrap();
            assert_eq!(f.get::<_, String>(0), "OB1");
            assert_eq!(f.get::<_, i64>(1), 12);
        });
    }
}

fn ctl(action: &str) {
    let ctl = std::env::var("CONPOT_TEST_SERVERS_CTL").expect("CONPOT_TEST_SERVERS_CTL");
    let st = std::process::Command::new(ctl)
        .args([action, "pg-outage"])
        .status()
        .unwrap();
    assert!(st.success(), "ctl {action} pg-outage");
}

/// The outage cluster is stopped while events flow; they wait in the spool and arrive
/// once, in full, after it is started again. (A few seconds and a few thousand events,
/// not the 60 s at 1,000 events/s.)
#[test]
fn postgresql_outage_spools_and_delivers_every_event_once() {
    let Some(url) = server("CONPOT_TEST_PG_OUTAGE") else {
        return;
    };
    let d = tmp("pg-outage");
    let sensor = unique("pg-outage");
    let spec = spec(&[
        ("type", "postgresql".into()),
        ("url", url.clone().into()),
        ("batch", 200.into()),
        ("retry_min_ms", 50.into()),
        ("retry_max_ms", 400.into()),
    ]);
    let o = origin(&sensor);
    let run = Running::start(&spec, o.clone(), &d, 100_000);
    let s = session(42000);
    let mut n = 0;
    for _ in 0..500 {
        run.publish(request(&o, &s, n));
        n += 1;
    }
    wait_for(20, || (count(&url, &sensor) == 500).then_some(())).expect("first events stored");
    ctl("stop");
    for _ in 0..2000 {
        run.publish(request(&o, &s, n));
        n += 1;
        if n % 200 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // The sink has noticed and spooled.
    let spool = d.join("spool");
    let spooled = wait_for(10, || {
        std::fs::read_dir(&spool)
            .ok()?
            .filter_map(Result::ok)
            .find(|f| f.path().extension().is_some_and(|x| x == "spool") && f.metadata().is_ok_and(|m| m.len() > 0))
    });
    assert!(spooled.is_some(), "events are spooled during the outage");
    std::thread::sleep(Duration::from_millis(500));
    ctl("start");
    for _ in 0..500 {
        run.publish(request(&o, &s, n));
        n += 1;
    }
    let all = wait_for(30, || (count(&url, &sensor) == 3000).then_some(()));
    let metrics = run.finish();
    assert!(all.is_some(), "stored {} of 3000", count(&url, &sensor));
    assert_eq!(count(&url, &sensor), 3000);
    let distinct: i64 = query(&url, async |c| {
        c.query_one(
            "SELECT count(DISTINCT body->'data'->>'n') FROM events WHERE sensor_id = $1",
            &[&sensor],
        )
        .await
        .unwrap()
        .get(0)
    });
    assert_eq!(distinct, 3000, "every event, none twice");
    assert_eq!(metrics.events_dropped.load(Ordering::Relaxed), 0);

    // The same with a spool too small for the outage: the loss is counted and reported.
    let d = tmp("pg-outage-tiny");
    let sensor = unique("pg-tiny");
    let spec = common::spec(&[
        ("type", "postgresql".into()),
        ("url", url.clone().into()),
        ("retry_min_ms", 50.into()),
        ("retry_max_ms", 200.into()),
        ("spool_bytes", 20_000.into()),
    ]);
    let o = origin(&sensor);
    let run = Running::start(&spec, o.clone(), &d, 100_000);
    ctl("stop");
    for n in 0..200 {
        run.publish(request(&o, &s, n));
    }
    std::thread::sleep(Duration::from_millis(300));
    ctl("start");
    let reported = wait_for(20, || {
        query(&url, async |c| {
            c.query_opt(
                "SELECT (body->'data'->>'dropped_total')::bigint FROM events WHERE sensor_id = $1 \
                 AND event_type = 'events.dropped' ORDER BY time DESC LIMIT 1",
                &[&sensor],
            )
            .await
            .unwrap()
            .map(|r| r.get::<_, i64>(0))
        })
    });
    // Nudge the sink so the report goes out if the queue went quiet.
    run.publish(request(&o, &s, 10_000));
    let metrics = run.finish();
    let dropped = metrics.events_dropped.load(Ordering::Relaxed) as i64;
    assert!(dropped > 0, "a tiny spool loses events");
    let stored = count(&url, &sensor);
    let reported = reported.expect("an events.dropped event reached the database");
    assert!(reported > 0);
    // Stored requests plus dropped ones account for every request (the reports are extra).
    let requests: i64 = query(&url, async |c| {
        c.query_one(
            "SELECT count(*) FROM events WHERE sensor_id = $1 AND event_type = 'modbus.request'",
            &[&sensor],
        )
        .await
        .unwrap()
        .get(0)
    });
    assert_eq!(
        requests + dropped,
        201,
        "stored {requests}, dropped {dropped}, rows {stored}"
    );
}

/// The binary `COPY` path ignores ids already stored, in the table and within the batch;
/// a batch with an address the sensor cannot parse goes through the server's casts,
/// which refuse that one event and store the rest.
#[test]
fn postgresql_copy_ignores_duplicates_and_refuses_only_bad_events() {
    use conpot_sinks::Deliver;
    use conpot_sinks::record::Record;
    let Some(url) = server("CONPOT_TEST_PG") else { return };
    let sensor = unique("pg-copy");
    let o = origin(&sensor);
    let s = session(41001);
    let rec = |n| Record::new(conpot_sinks::Encoder::Native, &request(&o, &s, n)).unwrap();
    let mut pg = conpot_sinks::postgres::Postgres::new(&url, "test").unwrap();
    let mut batch: Vec<Record> = (0..50).map(rec).collect();
    batch.push(batch[0].clone());
    pg.deliver(&batch).unwrap();
    assert_eq!(count(&url, &sensor), 50, "a duplicate within the batch is stored once");
    pg.deliver(&batch[..10]).unwrap();
    assert_eq!(count(&url, &sensor), 50, "a batch delivered again adds nothing");
    let mut mixed: Vec<Record> = (50..60).map(rec).collect();
    mixed[3].src_ip = Some("not-an-address".into());
    let bad = mixed[3].id.clone();
    pg.deliver(&mixed).unwrap();
    assert_eq!(count(&url, &sensor), 59, "only the bad event is refused");
    let time = query(&url, async |c| {
        c.query_one(
            "SELECT (extract(epoch FROM time) * 1000000)::bigint, count(*) OVER () FROM events \
             WHERE event_id = $1::text::uuid OR event_id = $2::text::uuid",
            &[&batch[1].id, &bad],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
    });
    assert_eq!(time, batch[1].time_us, "the binary time is the record's");
}

/// A connection of the test's own that keeps a session's row locked until dropped or
/// rolled back: a batch of the sink that names the session copies and inserts its events,
/// then waits at the session's update, uncommitted, with its connection still open.
struct RowLock {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl RowLock {
    fn take(url: &str, session: &str) -> RowLock {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
            tokio::spawn(async move {
                let _ = conn.await;
            });
            client.batch_execute("BEGIN").await.unwrap();
            let locked = client
                .execute(
                    "SELECT 1 FROM sessions WHERE session_id = $1::text::uuid FOR UPDATE",
                    &[&session],
                )
                .await
                .unwrap();
            assert_eq!(locked, 1, "the session's row exists");
            client
        });
        RowLock { rt, client }
    }

    fn release(self) {
        // The connection's task runs only inside the runtime: drive the rollback there.
        self.rt.block_on(self.client.batch_execute("ROLLBACK")).unwrap();
    }
}

/// Backends of the connections named `app` that wait on a lock.
fn waiting(url: &str, app: &str) -> i64 {
    query(url, async |c| {
        c.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
            &[&app],
        )
        .await
        .unwrap()
        .get(0)
    })
}

/// Ends the server's backends of the connections named `app`; how many.
fn terminate(url: &str, app: &str) -> i64 {
    query(url, async |c| {
        c.query_one(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .get(0)
    })
}

fn distinct_n(url: &str, sensor: &str) -> i64 {
    query(url, async |c| {
        c.query_one(
            "SELECT count(DISTINCT body->'data'->>'n') FROM events WHERE sensor_id = $1",
            &[&sensor],
        )
        .await
        .unwrap()
        .get(0)
    })
}

/// Two batches in flight on the transport's two connections when the server ends both
/// backends: the oldest settles as failed, the later one is given back with it (nothing
/// is left in flight), neither left a row, and sending them again (and the first, already
/// stored, batch once more) stores every event exactly once.
#[test]
fn postgresql_pipeline_cut_by_terminated_backends_gives_every_batch_back() {
    use conpot_sinks::Deliver;
    use conpot_sinks::record::Record;
    let Some(url) = server("CONPOT_TEST_PG") else { return };
    let sensor = unique("pg-pipe");
    // The sink's connections carry the sensor id as their name, for pg_stat_activity.
    let sink_url = format!("{url}?application_name={sensor}");
    let o = origin(&sensor);
    let s = session(41002);
    let rec = |n| Record::new(conpot_sinks::Encoder::Native, &request(&o, &s, n)).unwrap();
    let batches: Vec<Vec<Record>> = (0..3u64).map(|b| (b * 100..b * 100 + 100).map(rec).collect()).collect();
    let mut pg = conpot_sinks::postgres::Postgres::new(&sink_url, "test").unwrap();
    assert!(
        pg.window().is_some_and(|w| w.batches >= 2),
        "the transport is pipelined"
    );
    pg.start(&batches[0]).unwrap();
    assert!(matches!(pg.settle(true), Some(Ok(()))));
    assert_eq!(count(&url, &sensor), 100);

    let lock = RowLock::take(&url, &batches[0][0].session);
    pg.start(&batches[1]).unwrap();
    pg.start(&batches[2]).unwrap();
    assert!(pg.settle(false).is_none(), "the batches wait for the session's row");
    wait_for(10, || (waiting(&url, &sensor) == 2).then_some(())).expect("both batches in flight at once");
    assert_eq!(terminate(&url, &sensor), 2);
    lock.release();
    assert!(matches!(pg.settle(true), Some(Err(_))), "the oldest batch failed");
    assert!(pg.settle(true).is_none(), "the later batch was given back with it");
    assert_eq!(count(&url, &sensor), 100, "the cut transactions left nothing");

    // Sent again in order, on new connections; the stored batch once more adds nothing.
    for b in [&batches[1], &batches[2], &batches[0]] {
        pg.deliver(b).unwrap();
    }
    assert_eq!(count(&url, &sensor), 300);
    assert_eq!(distinct_n(&url, &sensor), 300, "every event once");
}

/// The whole sink: while batches are in flight the server ends the sink's backends twice;
/// the runner spools what was in flight and sends it again, and the table ends with every
/// event exactly once, nothing counted lost.
#[test]
fn postgresql_sink_loses_and_repeats_nothing_when_backends_are_terminated_mid_pipeline() {
    let Some(url) = server("CONPOT_TEST_PG") else { return };
    let d = tmp("pg-pipe-runner");
    let sensor = unique("pg-piperun");
    let sink_url = format!("{url}?application_name={sensor}");
    let spec = spec(&[
        ("type", "postgresql".into()),
        ("url", sink_url.into()),
        ("batch", 200.into()),
        ("retry_min_ms", 50.into()),
        ("retry_max_ms", 200.into()),
    ]);
    let o = origin(&sensor);
    let run = Running::start(&spec, o.clone(), &d, 100_000);
    let s = session(42001);
    let session_id = s.id.to_string();
    let mut n = 0;
    let mut publish = |k: u64| {
        for _ in 0..k {
            run.publish(request(&o, &s, n));
            n += 1;
        }
    };
    publish(1000);
    for round in 0..2 {
        // Everything so far stored: the spool is empty and the sink pipelines again.
        let stored = 1000 + round * 2500;
        wait_for(30, || (count(&url, &sensor) == stored).then_some(()))
            .unwrap_or_else(|| panic!("round {round}: stored {} of {stored}", count(&url, &sensor)));
        let lock = RowLock::take(&url, &session_id);
        publish(2000);
        wait_for(10, || (waiting(&url, &sensor) == 2).then_some(()))
            .unwrap_or_else(|| panic!("round {round}: two batches in flight"));
        assert_eq!(terminate(&url, &sensor), 2, "round {round}");
        lock.release();
        publish(500);
    }
    let total = 1000 + 2 * 2500;
    let all = wait_for(30, || (count(&url, &sensor) == total).then_some(()));
    let metrics = run.finish();
    assert!(all.is_some(), "stored {} of {total}", count(&url, &sensor));
    assert_eq!(count(&url, &sensor), total);
    assert_eq!(distinct_n(&url, &sensor), total, "every event, none twice");
    assert_eq!(metrics.events_dropped.load(Ordering::Relaxed), 0);
    assert_eq!(metrics.events_failed.load(Ordering::Relaxed), 0);
}
