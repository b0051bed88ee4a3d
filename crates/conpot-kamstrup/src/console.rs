//! The management console of the meter's communication module (`kamstrup_management`, TCP
//! 50100): a banner, `H`/`H !XX` help, the `!XX` get and set commands of the module's
//! firmware and its error texts.
//!
//! The console is written in conpot-telnet's console language (`management.toml`, served
//! by conpot-telnet's engine), not in code: its state is databus keys, so a set command
//! changes what later get commands (and `!GC`) show. A native section may override any key
//! of the console and add or replace commands, as a `[protocols.telnet]` section does over
//! an embedded console.

use conpot_core::Device;
use conpot_core::Value;
use conpot_core::databus::Entry;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, SectionBody, TemplateError};
use conpot_telnet::TelnetService;

/// The console's text, in conpot-telnet's language.
pub const CONSOLE: &str = include_str!("management.toml");

/// The module's state keys and their factory values, used when a template has no such key
/// (the `kap_b_summary` and `reboot_signal` keys are this console's own).
pub const DEFAULTS: &[(&str, &str)] = &[
    ("software_version", "5.5 (E5)"),
    ("access_control_status", "DISABLED"),
    ("access_control_1", "0.0.0.0"),
    ("access_control_2", "0.0.0.0"),
    ("access_control_3", "0.0.0.0"),
    ("access_control_4", "0.0.0.0"),
    ("access_control_5", "0.0.0.0"),
    ("device_name", ""),
    ("nameserver_1", "0.0.0.0"),
    ("nameserver_2", "0.0.0.0"),
    ("nameserver_3", "0.0.0.0"),
    ("mac_address", "00:13:EA:00:00:00"),
    ("use_dhcp", "YES"),
    ("ip_addr", "192.168.1.210"),
    ("ip_gateway", "192.168.1.1"),
    ("ip_subnet", "255.255.255.0"),
    ("ip_addr_dhcp", "192.168.0.1"),
    ("ip_gateway_dhcp", "192.168.0.254"),
    ("ip_subnet_dhcp", "255.255.255.0"),
    ("kap_a_server_hostname", "0 - none"),
    ("kap_a_server_ip", "0.0.0.0"),
    ("kap_a_server_port", "50"),
    ("kap_b_server_ip", "0.0.0.0"),
    ("kap_b_server_port", "50"),
    ("kap_b_summary", "No redundancy."),
    ("channel_a_meternumber", ""),
    ("channel_b_meternumber", ""),
    ("channel_a_port", "1025"),
    ("channel_b_port", "1027"),
    ("kap_ack_server", "NO"),
    ("kap_local_port", "800"),
    ("alarm_server_status", "DISABLED"),
    ("alarm_server_ip", ""),
    ("alarm_server_port", "4000"),
    ("kap_server_lookup", "0 - none"),
    ("software_watchdog", "3600"),
    ("kap_missing_warning", "60"),
    ("keep_alive_timer", "10"),
    ("serial_settings_a", "Auto"),
    ("serial_settings_b", "115200,8,E,1"),
    ("channel_a_connect_socket", "0 - None"),
    ("channel_b_connect_socket", "0 - None"),
    ("reboot_signal", "0"),
];

/// The management console service of one device.
#[derive(Debug, Clone)]
pub struct ManagementService {
    telnet: TelnetService,
    response_time_ms: (u32, u32),
}

/// The module's answer delay when the template sets none (Conpot measured 0.25 s).
pub const DEFAULT_RESPONSE_MS: (u32, u32) = (250, 250);

/// `over`'s keys laid over `base`: `commands` with the same `command` and `args` replace
/// the console's, others are added; every other key replaces the console's.
fn overlay(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        if k == "commands"
            && let (Some(toml::Value::Array(mine)), toml::Value::Array(extra)) = (base.get_mut("commands"), v)
        {
            for c in extra {
                mine.retain(|b| !(b.get("command") == c.get("command") && b.get("args") == c.get("args")));
                mine.push(c.clone());
            }
            continue;
        }
        base.insert(k.clone(), v.clone());
    }
}

impl ManagementService {
    /// Builds the console of `section` for `device`, adding the module's state keys the
    /// template lacks with their factory values.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let mut table: toml::Table = CONSOLE.parse().map_err(|e| {
            vec![TemplateError {
                file: "conpot-kamstrup/management.toml".into(),
                key: String::new(),
                expected: format!("the embedded console to parse: {e}"),
            }]
        })?;
        // Conpot's section has nothing but enabled/host/port, which the core has read.
        let mut response_time_ms = DEFAULT_RESPONSE_MS;
        if let SectionBody::Toml(t) = &section.body {
            let mut t = t.clone();
            if t.contains_key("response_time_ms") {
                let mut errs = conpot_core::template::nav::Errors::default();
                let nav = conpot_core::template::nav::Table::new(&section.file, "protocols.kamstrup_management", &t);
                response_time_ms = nav.millis_range("response_time_ms", &mut errs);
                if !errs.is_empty() {
                    return Err(errs.0);
                }
                t.remove("response_time_ms");
            }
            overlay(&mut table, &t);
        }
        for (key, value) in DEFAULTS {
            if !device.databus.contains(key) {
                device
                    .databus
                    .insert(*key, Entry::Value(Value::Str((*value).to_owned())));
            }
        }
        let console = conpot_telnet::config::from_table(&section.file, &table, device)?;
        Ok(ManagementService {
            telnet: TelnetService::from_console(console, device),
            response_time_ms,
        })
    }

    /// The console served.
    pub fn console(&self) -> &conpot_telnet::Console {
        self.telnet.console()
    }
}

impl Service for ManagementService {
    fn protocol(&self) -> &'static str {
        "kamstrup_management"
    }

    fn response_time(&self) -> (u32, u32) {
        self.response_time_ms
    }

    fn new_session(&self, ctx: &SessionCtx) -> Box<dyn Session> {
        self.telnet.new_session(ctx)
    }
}
