//! The management console driven line by line: the module's texts for help and every
//! command, sets seen by later gets, errors, and the close after a restart command.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::drive::{Driver, device_and_section};
use conpot_kamstrup::ManagementService;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_119_051)
}

// Conpot's stock state for the keys its tests compare with; the others take the defaults.
const TEMPLATE: &str = r#"
[template]
unit = "382"
vendor = "Kamstrup"
[databus]
kap_a_server_hostname = "kapserver.evilpowerprovider.org"
kap_a_server_ip = "202.202.202.1"
channel_a_meternumber = "A1 06 A1 02 B7 34 12 00 00 03"
channel_b_meternumber = "A1 06 A1 02 B7 34 12 00 00 03"
[protocols.kamstrup_management]
port = 50100
response_time_ms = [0, 0]
"#;

fn open() -> (Driver, conpot_core::Device, Vec<u8>) {
    let (device, section) = device_and_section(TEMPLATE, "kamstrup_management").unwrap();
    let svc = ManagementService::build(&section, &device).unwrap();
    let (d, step) = Driver::tcp(&svc, 50100, t0());
    (d, device, step.bytes)
}

fn say(d: &mut Driver, line: &str) -> String {
    let step = d.input(format!("{line}\r\n").as_bytes(), t0());
    String::from_utf8(step.bytes).unwrap()
}

#[test]
fn banner_and_help() {
    let (mut d, _, banner) = open();
    assert_eq!(banner, b"\r\nWelcome...\r\nConnected to [00:13:EA:00:00:00]\r\n");
    let menu = say(&mut d, "H");
    assert!(menu.starts_with(&format!("{}\r\nService Menu\r\n", "=".repeat(78))));
    assert!(menu.contains("!SI: Set IP (enter either valid IP or 0 to force DHCP)(*1).\r\n"));
    assert!(menu.ends_with("Kamstrup (R)\r\n"));
    assert!(say(&mut d, "H !SD").starts_with("!SD: Set device name (*1).\r\n"));
    assert_eq!(
        say(&mut d, "H !XX"),
        "\r\n? Invalid parameter.\r\nTry 'H cmd' for specific help.\r\n Ie: H !SC\r\n"
    );
    assert_eq!(say(&mut d, "!ZZ"), "\r\n? Command not found.\r\nSend 'H' for help.\r\n");
    assert_eq!(
        say(&mut d, "HELLO"),
        "\r\n? Command not found.\r\nSend 'H' for help.\r\n"
    );
    assert_eq!(say(&mut d, ""), "");
}

#[test]
fn commands_answer_as_the_module_does() {
    let (mut d, _, _) = open();
    assert_eq!(
        say(&mut d, "!AC 0 2 192.168.1.211"),
        "\r\nOK\r\n\r\nDISABLED \r\n [1] 0.0.0.0\r\n [2] 192.168.1.211\r\n [3] 0.0.0.0\r\n [4] 0.0.0.0\r\n [5] 0.0.0.0\r\n"
    );
    assert_eq!(say(&mut d, "!GV"), "\r\nSoftware Version: 5.5 (E5)\r\n");
    assert_eq!(
        say(&mut d, "!SA 192168001002 61000"),
        "\r\nOK\r\nService server addr.: 192.168.1.2:61000\r\n"
    );
    let (mut d, _, _) = open();
    assert_eq!(
        say(&mut d, "!SB 192.168.1.2 61000"),
        "\r\nOK\r\nService server addr.: 202.202.202.1:50 (from DNS)\r\nand fallback KAP to:  192.168.1.2:61000\r\n"
    );
    assert_eq!(
        say(&mut d, "!SB 0"),
        "\r\nOK\r\nService server addr.: 202.202.202.1:50 (from DNS)\r\nNo redundancy."
    );
    assert_eq!(say(&mut d, "!SD"), "\r\nOK");
    assert_eq!(
        say(&mut d, "!SH hosting.kamstrup_meter.dk"),
        "\r\nOK\r\nService server hostname.: hosting.kamstrup_meter.dk\r\n"
    );
    assert_eq!(
        say(&mut d, "!SI 192168001200"),
        "\r\nUse DHCP            : NO\r\n\r\nIP addr.            : 192.168.1.200\r\n"
    );
    assert_eq!(
        say(&mut d, "!SK 3600 60 10"),
        "\r\nOK\r\nSoftware watchdog: ENABLED 3600\r\nKAP Missing warning: ENABLED 60\r\nKeep alive timer (flash setting): ENABLED 10\r\n"
    );
    assert_eq!(say(&mut d, "!SN 192168001200 192168001201 000000000000"), "\r\nOK");
    assert_eq!(
        say(&mut d, "!SP 50 1025 1026 50100"),
        "\r\nOK\r\nKAP on server: 50\r\nChA on module: 1025\r\nChB on module: 1026\r\nCfg on module: 50100\r\n"
    );
    assert_eq!(say(&mut d, "!SS B 115200,8,E,1,L"), "\r\nOK\r\n");
    assert_eq!(
        say(&mut d, "!SS"),
        "\r\nUART A setup : Auto\r\nUART B setup : 115200,8,E,1,L\r\n"
    );
    assert_eq!(say(&mut d, "!SS C 1"), "\r\nInvalid data!\r\n\r\n");
    assert_eq!(say(&mut d, "!RC A 195.215.168.45"), "\r\nOK\r\nStatus: 0100\r\n");
    assert_eq!(say(&mut d, "!WM"), "\r\n\r\nOK\r\n");
    assert_eq!(say(&mut d, "!AS"), "\r\nAlarm server:  DISABLED ");
    assert_eq!(
        say(&mut d, "!AS 10.0.0.5 4001"),
        "\r\nOK\r\nAlarm server:  10.0.0.5:4001 \r\n"
    );
}

#[test]
fn sets_change_what_gets_show() {
    let (mut d, device, _) = open();
    say(&mut d, "!SI 10.1.2.3");
    say(&mut d, "!SN 8.8.8.8 1.1.1.1 9.9.9.9");
    say(&mut d, "!SP 51 2025 2026");
    say(&mut d, "!SK 7200 90 20");
    let gc = say(&mut d, "!GC");
    for want in [
        "Use DHCP            : NO\r\n",
        "IP addr.            : 10.1.2.3\r\n",
        "DNS Server No. 2: 1.1.1.1\r\n",
        "KAP Server port: 51\r\n",
        "Keep alive timer (flash setting): ENABLED 20\r\n",
        "Software watchdog: ENABLED 7200\r\n",
    ] {
        assert!(gc.contains(want), "{want:?} in {gc:?}");
    }
    say(&mut d, "!SI 0");
    assert!(say(&mut d, "!GC").contains("IP addr.            : 192.168.0.1\r\n"));
    assert_eq!(
        device.databus.get("channel_a_port", t0()).unwrap(),
        conpot_core::Value::Str("2025".into())
    );
}

#[test]
fn invalid_arguments_answer_as_the_module_does() {
    let (mut d, device, _) = open();
    let get = |k: &str| device.databus.get(k, t0()).unwrap().to_string();
    // An invalid port leaves the old one; the valid ones are stored.
    assert_eq!(
        say(&mut d, "!SP 99999 2025 x"),
        "\r\nOK\r\nKAP on server: 50\r\nChA on module: 2025\r\nChB on module: 1027\r\nCfg on module: 50100\r\n"
    );
    assert_eq!(
        say(&mut d, "!SA 10.0.0.9 0"),
        "\r\nOK\r\nService server addr.: 10.0.0.9:50\r\n"
    );
    assert_eq!(
        say(&mut d, "!AS 10.0.0.5 70000"),
        "\r\nOK\r\nAlarm server:  10.0.0.5:4000 \r\n"
    );
    assert_eq!(get("alarm_server_port"), "4000");
    // Without redundancy the reply ends without a line end.
    assert_eq!(
        say(&mut d, "!SB"),
        "\r\n\r\nService server addr.: 10.0.0.9:50 (from DNS)\r\nNo redundancy."
    );
    assert_eq!(
        say(&mut d, "!SB 10.0.0.7 61000"),
        "\r\nOK\r\nService server addr.: 10.0.0.9:50 (from DNS)\r\nand fallback KAP to:  10.0.0.7:61000\r\n"
    );
    // A watchdog of 0 is shown disabled.
    assert_eq!(
        say(&mut d, "!SK 0 60 0"),
        "\r\nOK\r\nSoftware watchdog: DISABLED 0\r\nKAP Missing warning: ENABLED 60\r\nKeep alive timer (flash setting): DISABLED 0\r\n"
    );
    // A name over 20 characters is cut and not acknowledged; one that fits is.
    assert_eq!(say(&mut d, "!SD a name longer than twenty"), "");
    assert_eq!(get("device_name"), "a name longer than t");
    assert_eq!(say(&mut d, "!SD pump house 4"), "\r\nOK");
    assert_eq!(get("device_name"), "pump house 4");
    // Too few fields for !SC: nothing stored, the module restarts (the connection closes).
    for line in ["!SC 0 x", "!SC 1 10.0.0.1 255.0.0.0"] {
        let (mut d, device, _) = open();
        let step = d.input(format!("{line}\r\n").as_bytes(), t0());
        assert!(step.close && step.bytes.is_empty(), "{line}: {:?}", step.bytes);
        assert_eq!(device.databus.get("use_dhcp", t0()).unwrap().to_string(), "YES");
        assert_eq!(device.databus.get("reboot_signal", t0()).unwrap().to_string(), "1");
    }
}

#[test]
fn restart_and_quit_close_without_a_reply() {
    for line in ["!RR", "Q", "!SC 1 0 0 0 1.1.1.1 0 0 10.0.0.1 meter 0", "!SC"] {
        let (mut d, device, _) = open();
        let step = d.input(format!("{line}\r\n").as_bytes(), t0());
        assert!(step.close, "{line}");
        assert!(step.bytes.is_empty(), "{line}: {:?}", step.bytes);
        if line.starts_with("!SC 1") {
            assert_eq!(
                device.databus.get("device_name", t0()).unwrap(),
                conpot_core::Value::Str("meter".into())
            );
        }
    }
}

#[test]
fn the_embedded_template_builds_with_its_persona() {
    let text = include_str!("../../../templates/kamstrup_382/template.toml");
    let (device, section) = device_and_section(text, "kamstrup_management").unwrap();
    let svc = ManagementService::build(&section, &device).unwrap();
    let (mut d, open) = Driver::tcp(&svc, 50100, t0());
    let mac = device.persona.get("mac").unwrap().to_owned();
    assert!(mac.starts_with("00:13:EA:") && mac != "00:13:EA:00:00:00");
    assert!(String::from_utf8(open.bytes).unwrap().contains(&mac));
    let step = d.input(b"!GC\r\n", t0());
    assert!(step.delay >= Duration::from_millis(250));
    let gc = String::from_utf8(step.bytes).unwrap();
    assert!(!gc.contains("evilpowerprovider"), "{gc}");
}
