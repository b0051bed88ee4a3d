//! The `conpot` binary with the network and database sinks: Modbus traffic sent to a
//! running sensor is read back from SQLite, from PostgreSQL and from rsyslog's file (the
//! real servers tests/servers/start runs on loopback), field by field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use conpot_testkit::modbus::once as modbus;
use conpot_testkit::process::{self, Proc, server};

#[test]
fn modbus_traffic_reaches_sqlite_postgresql_and_syslog() {
    let (Some(pg), Some(tcp), Some(syslog_dir)) = (
        server("CONPOT_TEST_PG"),
        server("CONPOT_TEST_SYSLOG_TCP"),
        server("CONPOT_TEST_SYSLOG_DIR"),
    ) else {
        return;
    };
    let d = std::env::temp_dir().join(format!("conpot-sinks-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let sensor = format!("e2e-{}", uuid::Uuid::now_v7().simple());
    let (host, port) = tcp.rsplit_once(':').unwrap();
    std::fs::write(
        d.join("c.toml"),
        format!(
            "[sensor]\nid = \"{sensor}\"\nstate_dir = \"state\"\n\
             [[sinks]]\ntype = \"sqlite\"\npath = \"events.db\"\nformat = \"ecs\"\n\
             [[sinks]]\ntype = \"postgresql\"\nurl = \"{pg}\"\n\
             [[sinks]]\ntype = \"syslog\"\nprotocol = \"tcp\"\nhost = \"{host}\"\nport = {port}\nformat = \"conpot-v1\"\n"
        ),
    )
    .unwrap();
    let mut child = Proc::spawn(
        process::conpot(env!("CARGO_BIN_EXE_conpot"))
            .args(["-c", "c.toml", "-q", "--listen-host", "127.0.0.1"])
            .args(process::zero_ports(&["modbus", "s7comm", "snmp"]))
            .current_dir(&d)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let addr = process::listening(child.stdout(), &["modbus tcp"])[0];
    // Read 8 coils from 1 (unit 1).
    let reply = modbus(addr, &[0, 7, 0, 0, 0, 6, 1, 1, 0, 1, 0, 8]);
    assert_eq!(&reply[..2], &[0, 7]);
    child.terminate(Duration::from_secs(15));

    // SQLite, ECS bodies.
    let db = rusqlite::Connection::open(d.join("events.db")).unwrap();
    let (ip, dport, body): (String, u16, String) = db
        .query_row(
            "SELECT src_ip, dst_port, body FROM events WHERE event_type = 'modbus.request'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((ip.as_str(), dport), ("127.0.0.1", addr.port()));
    let ecs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ecs["event"]["action"], "modbus.request");
    assert_eq!(ecs["source"]["ip"], "127.0.0.1");
    assert_eq!(ecs["observer"]["name"], sensor.as_str());
    assert_eq!(ecs["conpot"]["raw"]["hex"], "000700000006010100010008");
    let event_id = ecs["event"]["id"].as_str().unwrap().to_owned();
    let types: Vec<String> = db
        .prepare("SELECT event_type FROM events ORDER BY time")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for t in [
        "sensor.start",
        "session.open",
        "modbus.request",
        "session.close",
        "sensor.stop",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
    }

    // PostgreSQL, native bodies: the same event under the same id.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (count, raw): (i64, String) = rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&pg, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let n: i64 = c
            .query_one("SELECT count(*) FROM events WHERE sensor_id = $1", &[&sensor])
            .await
            .unwrap()
            .get(0);
        let raw: String = c
            .query_one(
                "SELECT body->>'raw' FROM events WHERE event_id = $1::text::uuid",
                &[&event_id],
            )
            .await
            .unwrap()
            .get(0);
        (n, raw)
    });
    assert_eq!(count as usize, types.len(), "the same events in both databases");
    assert_eq!(raw, "000700000006010100010008");

    // rsyslog: RFC 5424 over TCP, conpot-v1 bodies.
    let path = std::path::Path::new(&syslog_dir).join("tcp.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains(&sensor) && l.contains(&event_id)) {
            break l.to_owned();
        }
        assert!(Instant::now() < deadline, "rsyslog has no line for {event_id}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let f: Vec<&str> = line.split('\t').collect();
    assert_eq!(f[3], sensor);
    assert_eq!(f[6], "modbus.request");
    let v1: serde_json::Value = serde_json::from_str(f[8].trim()).unwrap();
    assert_eq!(v1["event_id"], event_id.as_str());
    assert_eq!(v1["data_type"], "modbus");
    assert_eq!(v1["data"]["request"], "b'000700000006010100010008'");
}
