//! Conpot's own `guardian_ast` template folder: it imports, its databus products and
//! station name are what the console prints, and its drawn volume is the level at boot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use conpot_core::drive::{Driver, device_of};
use conpot_core::template::Template;
use conpot_guardian::GuardianService;

#[test]
fn conpot_folder_serves_the_gauge() {
    let dir = conpot_testkit::conpot_templates().join("guardian_ast");
    let template = Template::load_dir(&dir).unwrap();
    let device = device_of(&template).unwrap();
    let section = template.protocols.get("guardian_ast").unwrap();
    let svc = GuardianService::build(section, &device).unwrap();
    let boot = device.boot;
    let (mut d, _) = Driver::tcp(&svc, 10001, boot);
    let r = String::from_utf8(d.input(b"\x01I20100\n", boot).bytes).unwrap();
    assert!(r.contains("    STATOIL STATION\r\n"), "{r}");
    for p in ["SUPER", "UNLEAD", "DIESEL", "PREMIUM"] {
        assert!(r.contains(&format!("  {p:<20}")), "{p}: {r}");
    }
    // Tank 1 holds at boot what Conpot drew for `vol1` (within the tank's fill range).
    let vol1 = device.databus.get("vol1", boot).unwrap().as_i128().unwrap() as i64;
    let row = r.lines().find(|l| l.starts_with("  1  ")).unwrap();
    let printed: i64 = row[25..31].trim().parse().unwrap();
    let cap = svc.console().config.tanks[0].tank.capacity();
    let (lo, hi) = svc.console().config.tanks[0].tank.fill;
    let expect = (vol1 as f64).clamp((lo + 0.01) * cap, (hi - 0.01) * cap);
    // The printed volume leaves out the water at the bottom.
    assert!((printed as f64 - expect).abs() < 0.02 * cap, "{row} vs {vol1}");
    let later = String::from_utf8(d.input(b"\x01I20100\n", boot + Duration::from_secs(7200)).bytes).unwrap();
    assert_ne!(r.lines().nth(12), later.lines().nth(12), "levels move");
}
