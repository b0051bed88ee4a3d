//! Feeds arbitrary bytes to a Kamstrup meter session and to its management console, then
//! closes: nothing may panic.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::drive::{Driver, device_and_section};
use conpot_kamstrup::{ManagementService, MeterService};
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = include_str!("../../templates/kamstrup_382/template.toml");

fn services() -> &'static (MeterService, ManagementService) {
    static SVC: OnceLock<(MeterService, ManagementService)> = OnceLock::new();
    SVC.get_or_init(|| {
        let (device, meter) = device_and_section(TEMPLATE, "kamstrup_meter").unwrap_or_else(|_| std::process::abort());
        let (_, console) =
            device_and_section(TEMPLATE, "kamstrup_management").unwrap_or_else(|_| std::process::abort());
        (
            MeterService::build(&meter, &device).unwrap_or_else(|_| std::process::abort()),
            ManagementService::build(&console, &device).unwrap_or_else(|_| std::process::abort()),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::UNIX_EPOCH;
    let (meter, console) = services();
    let (mut d, _) = Driver::tcp(meter, 1025, now);
    for chunk in data.split(|b| *b == 0xFF) {
        d.input(chunk, now);
    }
    d.eof(now);
    let (mut c, _) = Driver::tcp(console, 50100, now);
    c.input(data, now);
    c.eof(now);
});
