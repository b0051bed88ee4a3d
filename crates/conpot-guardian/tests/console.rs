//! The console driven as the listener drives it, with the command sequences scanners and
//! GasPot's users send: framing, every report's numbers against the others, set commands
//! seen by later reports, and the refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::drive::{Driver, device_and_section};
use conpot_guardian::GuardianService;
use conpot_guardian::computer::checksum_ok;
use conpot_guardian::reply::{self, ReplyKind};

const TEMPLATE: &str = include_str!("../../../templates/guardian_ast/template.toml");

fn service() -> GuardianService {
    let (device, section) = device_and_section(TEMPLATE, "guardian_ast").unwrap();
    GuardianService::build(&section, &device).unwrap()
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_583_200) // 2025-12-01 10:00 UTC
}

fn ask(d: &mut Driver, cmd: &[u8], t: SystemTime) -> String {
    let s = d.input(cmd, t);
    String::from_utf8(s.bytes).unwrap()
}

/// An inventory row: (tank, product, volume, tc volume, ullage, height, water, temp).
type Row = (u8, String, i64, i64, i64, f64, f64, f64);

/// The inventory rows of a report.
fn inventory(text: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut lines = text.split("\r\n").skip_while(|l| !l.starts_with("TANK PRODUCT"));
    lines.next();
    for l in lines {
        if l.trim().is_empty() || l.starts_with('\u{3}') {
            break;
        }
        let n: u8 = l[..3].trim().parse().unwrap();
        let product = l[5..25].trim().to_owned();
        let f: Vec<&str> = l[25..].split_whitespace().collect();
        assert_eq!(f.len(), 6, "{l}");
        rows.push((
            n,
            product,
            f[0].parse().unwrap(),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
            f[4].parse().unwrap(),
            f[5].parse().unwrap(),
        ));
    }
    rows
}

#[test]
fn shodan_probe_gets_the_framed_inventory() {
    let svc = service();
    let (mut d, open) = Driver::tcp(&svc, 10001, now());
    assert!(open.bytes.is_empty(), "the console says nothing first");
    let r = ask(&mut d, b"\x01I20100\n", now());
    assert!(
        r.starts_with("\u{1}\r\nI20100\r\nDEC 1, 2025 10:00 AM\r\n\r\n    "),
        "{r:?}"
    );
    assert!(r.ends_with("\r\n\u{3}"));
    assert!(r.contains("IN-TANK INVENTORY"));
    assert!(!r.contains("STATOIL"), "not Conpot's stock station");
    let rows = inventory(&r);
    assert_eq!(rows.len(), 4);
    let svc_tanks = &svc.console().config.tanks;
    for (row, c) in rows.iter().zip(svc_tanks) {
        let (_, _, vol, tc, ullage, height, water, temp) = row.clone();
        let cap = c.tank.capacity().round() as i64;
        // Product, water and room left add up to the tank.
        let water_vol = conpot_guardian::tanks::volume_at(c.tank.diameter, c.tank.length, water).round() as i64;
        assert!((vol + water_vol + ullage - cap).abs() <= 2, "{row:?} cap {cap}");
        assert!(height > 0.0 && height < c.tank.diameter);
        // Temperature compensation: below 60 F the compensated volume is the larger.
        assert!(if temp < 60.0 { tc >= vol } else { tc <= vol }, "{row:?}");
    }
    let step = d.input(b"", now());
    assert!(step.bytes.is_empty());
}

#[test]
fn several_commands_on_one_connection_and_one_input() {
    let svc = service();
    let (mut d, _) = Driver::tcp(&svc, 10001, now());
    let s = d.input(
        b"\x01I20100\r\n\x01I20200\r\n\x01I20300\r\n\x01I20500\r\n\x01I99900\r\n",
        now(),
    );
    let text = String::from_utf8(s.bytes).unwrap();
    let frames: Vec<&str> = text.split_inclusive('\u{3}').collect();
    assert_eq!(frames.len(), 5, "{text}");
    for (f, code) in frames.iter().zip(["I20100", "I20200", "I20300", "I20500"]) {
        assert!(f.starts_with(&format!("\u{1}\r\n{code}\r\n")), "{f}");
        assert_eq!(reply::parse(f.as_bytes()).kind, ReplyKind::Display);
    }
    assert_eq!(frames[4], "\u{1}9999FF1B\u{3}");
    let cmds: Vec<_> = s
        .events
        .iter()
        .filter(|e| e.event_type == "guardian_ast.command")
        .collect();
    assert_eq!(cmds.len(), 5);
    assert_eq!(cmds[4].body.data.get("reply").unwrap(), "error");
    assert_eq!(cmds[0].body.data.get("report").unwrap(), "IN-TANK INVENTORY");
    assert_eq!(
        cmds[0].body.conpot.as_ref().unwrap().event_type.as_deref(),
        Some("AST I20100")
    );
}

#[test]
fn reports_agree_with_the_inventory() {
    let svc = service();
    let (mut d, _) = Driver::tcp(&svc, 10001, now());
    let inv = inventory(&ask(&mut d, b"\x01I20100\r\n", now()));
    // The shift report's ending values are the inventory now.
    let shift = ask(&mut d, b"\x01I20400\r\n", now());
    let ending: Vec<&str> = shift.lines().filter(|l| l.contains("ENDING VALUES")).collect();
    assert_eq!(ending.len(), 4, "{shift}");
    for (l, row) in ending.iter().zip(&inv) {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f[2].parse::<i64>().unwrap(), row.2, "{l}");
        assert_eq!(f[3].parse::<i64>().unwrap(), row.3, "{l}");
        assert_eq!(f[4].parse::<i64>().unwrap(), row.4, "{l}");
    }
    // Starting values minus ending values plus deliveries are the totals.
    let starts: Vec<i64> = shift
        .lines()
        .filter(|l| l.contains("STARTING VALUES"))
        .map(|l| l.split_whitespace().nth(4).unwrap().parse().unwrap())
        .collect();
    let deliveries: Vec<i64> = shift
        .lines()
        .filter(|l| l.contains("DELIVERY VALUE"))
        .map(|l| l.split_whitespace().last().unwrap().parse().unwrap())
        .collect();
    let totals: Vec<i64> = shift
        .lines()
        .filter(|l| l.contains("TOTALS"))
        .map(|l| l.split_whitespace().last().unwrap().parse().unwrap())
        .collect();
    for i in 0..4 {
        assert_eq!(starts[i] + deliveries[i] - inv[i].2, totals[i]);
        assert!(totals[i] >= 0, "sales are not negative");
    }
    // The delivery report's amount is its end minus its start.
    let del = ask(&mut d, b"\x01I20201\r\n", now());
    let num = |tag: &str| -> i64 {
        del.lines()
            .find(|l| l.trim_start().starts_with(tag))
            .and_then(|l| {
                l.split_whitespace()
                    .filter(|w| !w.contains(':') && !w.contains('/'))
                    .find_map(|w| w.parse().ok())
            })
            .unwrap()
    };
    assert_eq!(num("END:") - num("START:"), num("AMOUNT:"), "{del}");
    assert!(del.contains(&format!("T 1:{}", inv[0].1)));
    assert!(!del.contains("T 2:"), "tank 01 only");
    // Status names the alarms the readings give, per tank.
    let status = ask(&mut d, b"\x01I20500\r\n", now());
    for row in &inv {
        let expect = if row.6 > 2.0 { "HIGH WATER ALARM" } else { "" };
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{:>3}    ", row.0)))
            .unwrap();
        assert!(line.contains(expect), "{line}");
    }
    // The computer format carries the same volume as a float.
    let c = d.input(b"\x01i20101", now()).bytes;
    assert!(checksum_ok(&c), "{:?}", String::from_utf8_lossy(&c));
    let text = String::from_utf8(c).unwrap();
    assert!(text.starts_with("\u{1}i201012512011000"), "{text}");
    let vol = u32::from_str_radix(&text[26..34], 16).unwrap();
    assert_eq!(f32::from_bits(vol).round() as i64, inv[0].2, "{text}");
}

#[test]
fn set_product_label_is_seen_later_and_by_new_connections() {
    let svc = service();
    let (mut d, _) = Driver::tcp(&svc, 10001, now());
    let ack = ask(&mut d, b"\x01S60202HACKED BY NOBODY\r\n", now());
    assert!(ack.starts_with("\u{1}\r\nS60202\r\n"), "{ack:?}");
    let inv = inventory(&ask(&mut d, b"\x01I20100\r\n", now()));
    assert_eq!(inv[1].1, "HACKED BY NOBODY");
    assert_ne!(inv[0].1, "HACKED BY NOBODY");
    ask(&mut d, b"\x01S60200ALL THE SAME NAME THAT IS LONG\r\n", now());
    let (mut d2, _) = Driver::tcp(&svc, 10001, now());
    let inv = inventory(&ask(&mut d2, b"\x01I20100\r\n", now()));
    assert!(inv.iter().all(|r| r.1 == "ALL THE SAME NAME TH"), "{inv:?}");
    // Station name and console clock.
    ask(&mut d2, b"\x01S60100NEW STATION\r\n", now());
    ask(&mut d2, b"\x01S501002001021530\r\n", now());
    let r = ask(&mut d2, b"\x01I20100\r\n", now() + Duration::from_secs(60));
    assert!(r.contains("\r\n    NEW STATION\r\n"), "{r}");
    assert!(r.contains("JAN 2, 2020  3:31 PM"), "{r}");
}

#[test]
fn refusals_and_noise() {
    let svc = service();
    let (mut d, _) = Driver::tcp(&svc, 10001, now());
    assert_eq!(ask(&mut d, b"\x01S6020\r\n", now()), "\u{1}9999FF1B\u{3}");
    assert_eq!(
        ask(&mut d, b"\x01S60209X\r\n", now()),
        "\u{1}9999FF1B\u{3}",
        "no tank 9"
    );
    assert_eq!(
        ask(&mut d, b"\x01S60201\r\n", now()),
        "\u{1}9999FF1B\u{3}",
        "empty label"
    );
    assert_eq!(
        ask(&mut d, b"\x01I10105\r\n", now()),
        "\u{1}9999FF1B\u{3}",
        "system report of a tank"
    );
    assert_eq!(ask(&mut d, b"\x01X12345", now()), "\u{1}9999FF1B\u{3}");
    let s = d.input(b"I20100\r\nGET / HTTP/1.0\r\n\r\n", now());
    assert!(s.bytes.is_empty(), "no SOH, no report");
    assert_eq!(s.types(), vec!["guardian_ast.ignored"]);
    // Every report the console has, in both letter cases where it has them.
    for f in [
        101, 102, 111, 112, 201, 202, 203, 204, 205, 206, 207, 208, 209, 214, 251, 301, 302, 501, 601, 602, 609,
    ] {
        let r = ask(&mut d, format!("\x01I{f}00").as_bytes(), now());
        assert_eq!(reply::parse(r.as_bytes()).kind, ReplyKind::Display, "{f}: {r}");
        assert!(r.len() > 60 && r.len() < 8192, "{f}");
    }
    for f in [201, 202, 205, 602] {
        let r = d.input(format!("\x01i{f}00").as_bytes(), now()).bytes;
        assert!(checksum_ok(&r), "{f}");
    }
}

#[test]
fn partial_input_waits_and_long_lines_are_cut() {
    let svc = service();
    let (mut d, _) = Driver::tcp(&svc, 10001, now());
    assert!(d.input(b"\x01I201", now()).bytes.is_empty());
    let r = ask(&mut d, b"00", now());
    assert!(r.starts_with("\u{1}\r\nI20100"));
    let s = d.input(b"\x01I20", now());
    assert!(s.bytes.is_empty());
    let s = d.eof(now());
    assert_eq!(s.types(), vec!["guardian_ast.partial"]);

    let (mut d, _) = Driver::tcp(&svc, 10001, now());
    let mut long = b"\x01S60201".to_vec();
    long.extend(std::iter::repeat_n(b'A', 1 << 20));
    let mut events = Vec::new();
    for chunk in long.chunks(64 * 1024) {
        let s = d.input(chunk, now());
        assert!(s.bytes.is_empty());
        assert!(d.buffered().len() < 1024, "the session holds no long line");
        events.extend(s.events);
    }
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "limit.hit");
    let r = ask(&mut d, b"\n\x01I20100\r\n", now());
    assert!(r.starts_with("\u{1}\r\nI20100"), "the connection still answers");
    let inv = inventory(&r);
    assert!(
        inv.iter().all(|row| !row.1.starts_with("AAAA")),
        "the cut command did nothing"
    );
}

#[test]
fn levels_drift_over_time_and_stay_consistent() {
    let svc = service();
    let (mut d, _) = Driver::tcp(&svc, 10001, now());
    let a = inventory(&ask(&mut d, b"\x01I20100\r\n", now()));
    let b = inventory(&ask(&mut d, b"\x01I20100\r\n", now()));
    assert_eq!(a, b, "the same instant prints the same figures");
    let later = now() + Duration::from_secs(3 * 3600);
    let c = inventory(&ask(&mut d, b"\x01I20100\r\n", later));
    assert_ne!(a, c, "three hours of sales move the levels");
    for (x, y) in a.iter().zip(&c) {
        // Fuel is sold, or a delivery came: either way the temperature barely moves.
        assert!((x.7 - y.7).abs() < 1.5, "{x:?} {y:?}");
    }
}

#[test]
#[ignore = "prints every report, for reading"]
fn print_reports() {
    let svc = service();
    let (mut d, _) = Driver::tcp(&svc, 10001, now());
    for f in [
        101, 102, 111, 112, 201, 202, 203, 204, 205, 206, 207, 208, 209, 214, 251, 301, 302, 501, 601, 602, 609,
    ] {
        println!(
            "{}",
            ask(&mut d, format!("\x01I{f}00").as_bytes(), now()).replace('\r', "")
        );
    }
    println!("{}", String::from_utf8_lossy(&d.input(b"\x01i20100", now()).bytes));
}
