//! A fleet with real processes: three `conpot` sensors publish to one nats-server (the
//! NATS JetStream sink), two `conpot collect` processes share one durable consumer and
//! write to one PostgreSQL (tests/servers/start runs both on loopback). Every event of
//! every sensor is in the database once, although one collector is killed (SIGKILL) in the
//! middle of the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conpot_testkit::process::{self, Proc, server};

fn collector(dir: &Path, nats: &str, pg: &str, stream: &str, prefix: &str, consumer: &str) -> Proc {
    Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_conpot"))
            .args([
                "collect",
                "--nats",
                nats,
                "--stream",
                stream,
                "--subject-prefix",
                prefix,
                "--consumer",
                consumer,
                "--postgres",
                pg,
                "--batch",
                "200",
                "--ack-wait",
                "3",
                "-q",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    )
}

/// Starts a sensor publishing to `stream`; returns it and its Modbus address.
fn sensor(dir: &Path, id: &str, nats: &str, stream: &str, prefix: &str) -> (Proc, SocketAddr) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("c.toml"),
        format!(
            "[sensor]\nid = \"{id}\"\nstate_dir = \"state\"\n\
             [[sinks]]\ntype = \"nats\"\nurl = \"{nats}\"\nstream = \"{stream}\"\nsubject_prefix = \"{prefix}\"\n\
             files_bucket = \"\"\nbatch = 500\n"
        ),
    )
    .unwrap();
    let mut child = Proc::spawn(
        process::conpot(env!("CARGO_BIN_EXE_conpot"))
            .args(["-c", "c.toml", "-q", "--listen-host", "127.0.0.1"])
            .args(process::zero_ports(process::DEFAULT_PROTOCOLS))
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let addr = process::listening(child.stdout(), &["modbus tcp"])[0];
    (child, addr)
}

/// `n` Modbus requests (read 8 coils) on one connection, each answered.
fn traffic(addr: SocketAddr, n: u16) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for i in 0..n {
        let [hi, lo] = i.to_be_bytes();
        let reply = conpot_testkit::modbus::exchange(&mut s, &[hi, lo, 0, 0, 0, 6, 1, 1, 0, 1, 0, 8]);
        assert_eq!(&reply[..2], &[hi, lo]);
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// (rows, distinct event ids, modbus requests) of the sensors in the database.
fn db_counts(pg: &str, sensors: &[String]) -> (i64, i64, i64) {
    rt().block_on(async {
        let (c, conn) = tokio_postgres::connect(pg, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let Ok(row) = c
            .query_one(
                "SELECT count(*), count(DISTINCT event_id), count(*) FILTER (WHERE event_type = 'modbus.request') \
                 FROM events WHERE sensor_id = ANY($1)",
                &[&sensors],
            )
            .await
        else {
            return (0, 0, 0);
        };
        (row.get(0), row.get(1), row.get(2))
    })
}

fn stream_messages(nats: &str, stream: &str) -> u64 {
    rt().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(nats).await.unwrap());
        let mut s = js.get_stream(stream).await.unwrap();
        s.info().await.unwrap().state.messages
    })
}

#[test]
fn three_sensors_two_collectors_one_killed_every_event_once() {
    let (Some(nats), Some(pg)) = (server("CONPOT_TEST_NATS"), server("CONPOT_TEST_PG")) else {
        return;
    };
    let d = std::env::temp_dir().join(format!("conpot-fleet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let stream = format!("FLEET_{run}");
    let prefix = format!("fleet{run}");
    let consumer = format!("collect-{run}");
    let mut collectors = vec![
        collector(&d, &nats, &pg, &stream, &prefix, &consumer),
        collector(&d, &nats, &pg, &stream, &prefix, &consumer),
    ];
    let ids: Vec<String> = (0..3).map(|i| format!("fleet-{run}-{i}")).collect();
    let mut sensors: Vec<(Proc, SocketAddr)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| sensor(&d.join(format!("s{i}")), id, &nats, &stream, &prefix))
        .collect();
    const PER_ROUND: u16 = 500;
    let round = |sensors: &[(Proc, SocketAddr)]| {
        let threads: Vec<_> = sensors
            .iter()
            .map(|(_, a)| {
                let a = *a;
                std::thread::spawn(move || traffic(a, PER_ROUND))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    };
    round(&sensors);
    // The collectors are at work (rows arrive); kill one without warning while traffic flows.
    let deadline = Instant::now() + Duration::from_secs(30);
    while db_counts(&pg, &ids).0 < 500 {
        assert!(Instant::now() < deadline, "the collectors write nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    let written_before = std::thread::scope(|s| {
        let busy = s.spawn(|| round(&sensors));
        std::thread::sleep(Duration::from_millis(150));
        let written = db_counts(&pg, &ids).0;
        let mut killed = collectors.remove(0);
        killed.signal("-KILL");
        killed.wait_exit(Duration::from_secs(10));
        busy.join().unwrap();
        written
    });
    round(&sensors);
    for (p, _) in &mut sensors {
        p.signal("-TERM");
    }
    for (p, _) in &mut sensors {
        p.wait_exit(Duration::from_secs(30));
    }
    let published = stream_messages(&nats, &stream);
    let requests = 3 * 3 * i64::from(PER_ROUND);
    assert!(published as i64 > requests, "{published} messages on the stream");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut counts = db_counts(&pg, &ids);
    while counts.0 < published as i64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        counts = db_counts(&pg, &ids);
    }
    let (rows, distinct, modbus) = counts;
    eprintln!("fleet: {published} on the stream, {rows} rows ({written_before} before the kill)");
    assert_eq!(rows, published as i64, "every event of the stream in the database");
    assert_eq!(rows, distinct, "each once");
    assert_eq!(modbus, requests, "every request of every sensor");
    for c in &mut collectors {
        c.signal("-TERM");
        c.wait_exit(Duration::from_secs(15));
    }
}
