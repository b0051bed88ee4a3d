//! The IPMI commands a BMC answers, by network function and command (IPMI v2.0
//! appendix G), with the privilege each needs. Session management (challenge,
//! activation, privilege, close) lives with the sessions; everything else is here.

use std::time::{SystemTime, UNIX_EPOCH};

use conpot_core::auth::Privilege;
use conpot_core::event::EventDraft;

use crate::bmc::{Bmc, Slot};
use crate::crypto::SUITES;

/// Network function Chassis.
pub const NETFN_CHASSIS: u8 = 0x00;
/// Network function Sensor/Event.
pub const NETFN_SENSOR: u8 = 0x04;
/// Network function App.
pub const NETFN_APP: u8 = 0x06;
/// Network function Storage.
pub const NETFN_STORAGE: u8 = 0x0A;

/// Completion code: success.
pub const CC_OK: u8 = 0x00;
/// Invalid command.
pub const CC_INVALID_COMMAND: u8 = 0xC1;
/// Request data length invalid.
pub const CC_BAD_LENGTH: u8 = 0xC7;
/// Parameter out of range.
pub const CC_OUT_OF_RANGE: u8 = 0xC9;
/// Requested sensor, data or record not present.
pub const CC_NOT_PRESENT: u8 = 0xCB;
/// Invalid data field in request.
pub const CC_INVALID_DATA: u8 = 0xCC;
/// Insufficient privilege level.
pub const CC_PRIVILEGE: u8 = 0xD4;
/// Cannot execute in the present state.
pub const CC_STATE: u8 = 0xD5;

/// A command this BMC knows: its name (for events) and the privilege it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// Name as events report it.
    pub name: &'static str,
    /// Least session privilege.
    pub privilege: Privilege,
}

const fn k(name: &'static str, privilege: Privilege) -> Known {
    Known { name, privilege }
}

use Privilege::{Administrator as A, Callback as C, Operator as O, User as U};

/// The command `netfn`/`cmd`, if known.
pub fn known(netfn: u8, cmd: u8) -> Option<Known> {
    Some(match (netfn, cmd) {
        (NETFN_APP, 0x01) => k("get_device_id", U),
        (NETFN_APP, 0x02) => k("cold_reset", A),
        (NETFN_APP, 0x03) => k("warm_reset", A),
        (NETFN_APP, 0x04) => k("get_self_test_results", U),
        (NETFN_APP, 0x07) => k("get_acpi_power_state", U),
        (NETFN_APP, 0x08) => k("get_device_guid", U),
        (NETFN_APP, 0x37) => k("get_system_guid", C),
        (NETFN_APP, 0x38) => k("get_channel_auth_capabilities", C),
        (NETFN_APP, 0x39) => k("get_session_challenge", C),
        (NETFN_APP, 0x3A) => k("activate_session", C),
        (NETFN_APP, 0x3B) => k("set_session_privilege", U),
        (NETFN_APP, 0x3C) => k("close_session", C),
        (NETFN_APP, 0x41) => k("get_channel_access", U),
        (NETFN_APP, 0x42) => k("get_channel_info", U),
        (NETFN_APP, 0x43) => k("set_user_access", A),
        (NETFN_APP, 0x44) => k("get_user_access", O),
        (NETFN_APP, 0x45) => k("set_user_name", A),
        (NETFN_APP, 0x46) => k("get_user_name", O),
        (NETFN_APP, 0x47) => k("set_user_password", A),
        (NETFN_APP, 0x54) => k("get_channel_cipher_suites", C),
        (NETFN_CHASSIS, 0x00) => k("get_chassis_capabilities", U),
        (NETFN_CHASSIS, 0x01) => k("get_chassis_status", U),
        (NETFN_CHASSIS, 0x02) => k("chassis_control", O),
        (NETFN_CHASSIS, 0x04) => k("chassis_identify", O),
        (NETFN_CHASSIS, 0x06) => k("set_power_restore_policy", O),
        (NETFN_CHASSIS, 0x08) => k("set_system_boot_options", O),
        (NETFN_CHASSIS, 0x09) => k("get_system_boot_options", O),
        (NETFN_CHASSIS, 0x0F) => k("get_poh_counter", U),
        (NETFN_SENSOR, 0x27) => k("get_sensor_thresholds", U),
        (NETFN_SENSOR, 0x2D) => k("get_sensor_reading", U),
        (NETFN_SENSOR, 0x2F) => k("get_sensor_type", U),
        (NETFN_STORAGE, 0x20) => k("get_sdr_repository_info", U),
        (NETFN_STORAGE, 0x22) => k("reserve_sdr_repository", U),
        (NETFN_STORAGE, 0x23) => k("get_sdr", U),
        (NETFN_STORAGE, 0x40) => k("get_sel_info", U),
        (NETFN_STORAGE, 0x42) => k("reserve_sel", U),
        (NETFN_STORAGE, 0x43) => k("get_sel_entry", U),
        (NETFN_STORAGE, 0x47) => k("clear_sel", O),
        (NETFN_STORAGE, 0x48) => k("get_sel_time", U),
        (NETFN_STORAGE, 0x49) => k("set_sel_time", O),
        _ => return None,
    })
}

/// A completion code and response data.
pub type Reply = (u8, Vec<u8>);

fn ok(data: impl Into<Vec<u8>>) -> Reply {
    (CC_OK, data.into())
}

fn cc(code: u8) -> Reply {
    (code, Vec::new())
}

/// What a handler may add besides its reply.
pub struct Extra<'a> {
    /// Events to log.
    pub events: &'a mut Vec<EventDraft>,
    /// Sessions open on the BMC (Get Channel Info's active count).
    pub active_sessions: usize,
}

/// Answers a command that is not session management. The caller checked the privilege.
pub fn handle(bmc: &Bmc, netfn: u8, cmd: u8, data: &[u8], now: SystemTime, extra: &mut Extra<'_>) -> Reply {
    match (netfn, cmd) {
        (NETFN_APP, 0x01) => device_id(bmc),
        (NETFN_APP, 0x02 | 0x03) => {
            // The BMC restarts; the host's power stays as it is.
            extra
                .events
                .push(EventDraft::new("ipmi.bmc_reset").with("kind", if cmd == 0x02 { "cold" } else { "warm" }));
            ok([])
        }
        (NETFN_APP, 0x04) => ok([0x55, 0x00]),
        (NETFN_APP, 0x07) => ok([if bmc.state().power_on { 0x00 } else { 0x05 }, 0x00]),
        (NETFN_APP, 0x08 | 0x37) => ok(bmc.config.guid),
        (NETFN_APP, 0x38) => auth_capabilities(bmc, data),
        (NETFN_APP, 0x41) => match data {
            [ch, _] if is_lan(*ch) => ok([0x22, Privilege::Administrator.ipmi()]),
            [_, _] => cc(CC_INVALID_DATA),
            _ => cc(CC_BAD_LENGTH),
        },
        (NETFN_APP, 0x42) => match data {
            [ch] if is_lan(*ch) => {
                let n = u8::try_from(extra.active_sessions.min(63)).unwrap_or(63);
                ok([0x01, 0x04, 0x01, 0x80 | n, 0xF2, 0x1B, 0x00, 0x00, 0x00])
            }
            [_] => cc(CC_INVALID_DATA),
            _ => cc(CC_BAD_LENGTH),
        },
        (NETFN_APP, 0x43) => set_user_access(bmc, data, extra),
        (NETFN_APP, 0x44) => user_access(bmc, data),
        (NETFN_APP, 0x45) => set_user_name(bmc, data, extra),
        (NETFN_APP, 0x46) => match data {
            [uid] if (1..=bmc.config.max_users).contains(uid) => {
                let st = bmc.state();
                let mut name = st
                    .users
                    .iter()
                    .find(|s| s.id == *uid)
                    .map(|s| s.name.as_bytes().to_vec())
                    .unwrap_or_default();
                name.resize(16, 0);
                ok(name)
            }
            [_] => cc(CC_INVALID_DATA),
            _ => cc(CC_BAD_LENGTH),
        },
        (NETFN_APP, 0x47) => set_user_password(bmc, data, extra),
        (NETFN_APP, 0x54) => cipher_suites(data),
        (NETFN_CHASSIS, 0x00) => ok([0x00, 0x20, 0x20, 0x20, 0x20]),
        (NETFN_CHASSIS, 0x01) => {
            let st = bmc.state();
            ok([
                u8::from(st.power_on) | (st.restore_policy << 5),
                st.last_power_event,
                0x40,
                0x00,
            ])
        }
        (NETFN_CHASSIS, 0x02) => chassis_control(bmc, data, now, extra),
        (NETFN_CHASSIS, 0x04) => ok([]),
        (NETFN_CHASSIS, 0x06) => match data {
            [p] if *p <= 2 => {
                bmc.state().restore_policy = *p;
                ok([0x07])
            }
            [3] => ok([0x07]),
            [_] => cc(CC_INVALID_DATA),
            _ => cc(CC_BAD_LENGTH),
        },
        (NETFN_CHASSIS, 0x08) => set_boot_options(bmc, data, extra),
        (NETFN_CHASSIS, 0x09) => boot_options(bmc, data),
        (NETFN_CHASSIS, 0x0F) => {
            let hours = now.duration_since(bmc.boot).map(|d| d.as_secs() / 3600).unwrap_or(0);
            let total = u32::try_from(hours + 19_411).unwrap_or(u32::MAX);
            let mut d = vec![60];
            d.extend(total.to_le_bytes());
            ok(d)
        }
        (NETFN_SENSOR, 0x27 | 0x2D | 0x2F) => sensor(bmc, cmd, data, now),
        (NETFN_STORAGE, 0x20) => {
            let n = u16::try_from(bmc.config.sensors.len()).unwrap_or(u16::MAX);
            let mut d = vec![0x51];
            d.extend(n.to_le_bytes());
            d.extend(0x0800u16.to_le_bytes());
            d.extend(unix(bmc.boot).to_le_bytes());
            d.extend(0u32.to_le_bytes());
            d.push(0x22);
            ok(d)
        }
        (NETFN_STORAGE, 0x22 | 0x42) => {
            let mut st = bmc.state();
            st.reservation = st.reservation.wrapping_add(1).max(1);
            ok(st.reservation.to_le_bytes())
        }
        (NETFN_STORAGE, 0x23) => get_sdr(bmc, data),
        (NETFN_STORAGE, 0x40) => {
            let st = bmc.state();
            let n = u16::try_from(st.sel.len()).unwrap_or(u16::MAX);
            let free = u16::try_from((crate::bmc::MAX_SEL - st.sel.len().min(crate::bmc::MAX_SEL)) * 16).unwrap_or(0);
            let last = st
                .sel
                .last()
                .map_or(0, |r| u32::from_le_bytes([r[3], r[4], r[5], r[6]]));
            let mut d = vec![0x51];
            d.extend(n.to_le_bytes());
            d.extend(free.to_le_bytes());
            d.extend(last.to_le_bytes());
            d.extend(unix(bmc.boot).saturating_sub(41 * 86_400 + 3_611).to_le_bytes());
            d.push(0x02);
            ok(d)
        }
        (NETFN_STORAGE, 0x43) => get_sel_entry(bmc, data),
        (NETFN_STORAGE, 0x47) => match data {
            [_, _, b'C', b'L', b'R', 0xAA] => {
                bmc.state().sel.clear();
                bmc.log_sel(now, 0x10, [0x02, 0xFF, 0xFF]);
                extra.events.push(EventDraft::new("ipmi.sel_cleared"));
                ok([0x01])
            }
            [_, _, b'C', b'L', b'R', 0x00] => ok([0x01]),
            [_, _, _, _, _, _] => cc(CC_INVALID_DATA),
            _ => cc(CC_BAD_LENGTH),
        },
        (NETFN_STORAGE, 0x48) => ok(unix(now).to_le_bytes()),
        (NETFN_STORAGE, 0x49) => match data.len() {
            4 => ok([]),
            _ => cc(CC_BAD_LENGTH),
        },
        _ => cc(CC_INVALID_COMMAND),
    }
}

fn unix(t: SystemTime) -> u32 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// The LAN channel: its number (1) or "this channel" (0x0E).
fn is_lan(ch: u8) -> bool {
    matches!(ch & 0x0F, 0x01 | 0x0E)
}

fn bcd(n: u8) -> u8 {
    ((n / 10 % 10) << 4) | (n % 10)
}

fn device_id(bmc: &Bmc) -> Reply {
    let c = &bmc.config;
    let m = c.manufacturer_id.to_le_bytes();
    let p = c.product_id.to_le_bytes();
    let mut d = vec![
        c.device_id,
        c.device_revision & 0x0F,
        c.firmware.0 & 0x7F,
        bcd(c.firmware.1),
        0x02,
        0xB7,
        m[0],
        m[1],
        m[2] & 0x0F,
        p[0],
        p[1],
    ];
    d.extend(c.aux_firmware);
    ok(d)
}

fn auth_capabilities(bmc: &Bmc, data: &[u8]) -> Reply {
    let [ch, level] = data else {
        return cc(CC_BAD_LENGTH);
    };
    if !is_lan(*ch) || !(1..=5).contains(&(level & 0x0F)) {
        return cc(CC_INVALID_DATA);
    }
    let v2 = ch & 0x80 != 0;
    ok([
        0x01,
        bmc.config.auth_types | if v2 { 0x80 } else { 0 },
        0x04,
        if v2 { 0x03 } else { 0x00 },
        0x00,
        0x00,
        0x00,
        0x00,
    ])
}

/// Get Channel Cipher Suites: the suite records (or the algorithms), 16 bytes per index.
fn cipher_suites(data: &[u8]) -> Reply {
    let [ch, payload, index, ..] = data else {
        return cc(CC_BAD_LENGTH);
    };
    if !is_lan(*ch) || *payload != 0 {
        return cc(CC_INVALID_DATA);
    }
    let mut records = Vec::new();
    if index & 0x80 != 0 {
        for s in SUITES {
            records.extend([
                0xC0,
                s.id,
                s.auth.number(),
                0x40 | s.integrity.number(),
                0x80 | s.conf.number(),
            ]);
        }
    } else {
        records.extend([0x01, 0x02, 0x03, 0x40, 0x41, 0x42, 0x44, 0x80, 0x81]);
    }
    let at = usize::from(index & 0x3F) * 16;
    let mut d = vec![0x01];
    d.extend(records.iter().skip(at).take(16));
    ok(d)
}

fn user_access(bmc: &Bmc, data: &[u8]) -> Reply {
    let [ch, uid] = data else {
        return cc(CC_BAD_LENGTH);
    };
    let uid = uid & 0x3F;
    if !is_lan(*ch) || !(1..=bmc.config.max_users).contains(&uid) {
        return cc(CC_INVALID_DATA);
    }
    let st = bmc.state();
    let enabled = u8::try_from(st.users.iter().filter(|s| s.enabled).count()).unwrap_or(63) & 0x3F;
    let fixed = u8::try_from(st.users.iter().filter(|s| s.fixed).count()).unwrap_or(63) & 0x3F;
    let (status, access) = match st.users.iter().find(|s| s.id == uid) {
        Some(s) if s.enabled => (0x40, 0x30 | s.privilege.ipmi()),
        Some(s) => (0x80, s.privilege.ipmi()),
        None => (0x00, 0x0F),
    };
    ok([bmc.config.max_users & 0x3F, status | enabled, fixed, access])
}

fn user_event(kind: &str, slot: &Slot) -> EventDraft {
    EventDraft::new("ipmi.user_change")
        .with("change", kind)
        .with("user_id", slot.id)
        .with("username", slot.name.as_str())
        .with("enabled", slot.enabled)
        .with("privilege", slot.privilege.as_str())
}

fn set_user_access(bmc: &Bmc, data: &[u8], extra: &mut Extra<'_>) -> Reply {
    let [ch, uid, limits, ..] = data else {
        return cc(CC_BAD_LENGTH);
    };
    let uid = uid & 0x3F;
    if !is_lan(*ch) || !(1..=bmc.config.max_users).contains(&uid) {
        return cc(CC_INVALID_DATA);
    }
    let Some(privilege) = Privilege::from_ipmi(limits & 0x0F) else {
        return if limits & 0x0F == 0x0F {
            ok([])
        } else {
            cc(CC_INVALID_DATA)
        };
    };
    let mut st = bmc.state();
    let Some(slot) = st.users.iter_mut().find(|s| s.id == uid) else {
        return cc(CC_INVALID_DATA);
    };
    slot.privilege = privilege;
    slot.touched = true;
    extra.events.push(user_event("access", slot));
    ok([])
}

fn name_of(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

fn set_user_name(bmc: &Bmc, data: &[u8], extra: &mut Extra<'_>) -> Reply {
    let (Some(uid), Some(name)) = (data.first(), data.get(1..)) else {
        return cc(CC_BAD_LENGTH);
    };
    if name.len() != 16 {
        return cc(CC_BAD_LENGTH);
    }
    let uid = uid & 0x3F;
    if !(2..=bmc.config.max_users).contains(&uid) {
        return cc(CC_INVALID_DATA);
    }
    let name = name_of(name);
    let mut st = bmc.state();
    if !name.is_empty() && st.users.iter().any(|s| s.name == name && s.id != uid) {
        return cc(CC_INVALID_DATA);
    }
    let slot = match st.users.iter().position(|s| s.id == uid) {
        Some(i) => match st.users.get_mut(i) {
            Some(s) if s.fixed => return cc(CC_INVALID_DATA),
            Some(s) => s,
            None => return cc(CC_INVALID_DATA),
        },
        None => {
            st.users.push(Slot {
                id: uid,
                name: String::new(),
                password: Some(String::new()),
                stored_password: String::new(),
                privilege: Privilege::User,
                enabled: false,
                account: None,
                fixed: false,
                touched: true,
            });
            st.users.sort_by_key(|s| s.id);
            match st.users.iter_mut().find(|s| s.id == uid) {
                Some(s) => s,
                None => return cc(CC_INVALID_DATA),
            }
        }
    };
    slot.name = name;
    slot.touched = true;
    extra.events.push(user_event("name", slot));
    ok([])
}

fn set_user_password(bmc: &Bmc, data: &[u8], extra: &mut Extra<'_>) -> Reply {
    let [flags, op, password @ ..] = data else {
        return cc(CC_BAD_LENGTH);
    };
    let uid = flags & 0x3F;
    let long = flags & 0x80 != 0;
    if !(1..=bmc.config.max_users).contains(&uid) {
        return cc(CC_INVALID_DATA);
    }
    let op = op & 0x03;
    if op >= 2 && password.len() != if long { 20 } else { 16 } {
        return cc(CC_BAD_LENGTH);
    }
    let mut st = bmc.state();
    let Some(slot) = st.users.iter_mut().find(|s| s.id == uid) else {
        return cc(CC_INVALID_DATA);
    };
    match op {
        0 | 1 => {
            slot.enabled = op == 1;
            slot.touched = true;
            extra
                .events
                .push(user_event(if op == 1 { "enable" } else { "disable" }, slot));
            ok([])
        }
        2 => {
            let new = name_of(password);
            extra.events.push(
                user_event("password", slot).with("password", conpot_core::auth::attempt::escape(new.as_bytes())),
            );
            slot.password = Some(new);
            slot.touched = true;
            ok([])
        }
        _ => {
            let tried = name_of(password);
            let matches = tried == slot.password();
            extra.events.push(
                user_event("test_password", slot)
                    .with("password", conpot_core::auth::attempt::escape(tried.as_bytes()))
                    .with("success", matches),
            );
            if matches {
                ok([])
            } else if !long && slot.password().len() > 16 {
                cc(0x81)
            } else {
                cc(0x80)
            }
        }
    }
}

fn chassis_control(bmc: &Bmc, data: &[u8], now: SystemTime, extra: &mut Extra<'_>) -> Reply {
    let [action, ..] = data else {
        return cc(CC_BAD_LENGTH);
    };
    let (name, on) = match action & 0x0F {
        0 => ("power_off", false),
        1 => ("power_on", true),
        2 => ("power_cycle", true),
        3 => ("hard_reset", true),
        4 => ("diagnostic_interrupt", true),
        5 => ("soft_off", false),
        _ => return cc(CC_INVALID_DATA),
    };
    let was = {
        let mut st = bmc.state();
        let was = st.power_on;
        if action & 0x0F == 4 {
            if !was {
                return cc(CC_STATE);
            }
        } else {
            st.power_on = on;
            if on {
                st.last_power_event = 0x10;
            }
        }
        was
    };
    if was != on {
        bmc.log_sel(now, if on { 0x1D } else { 0x09 }, [0x00, 0xFF, 0xFF]);
    }
    extra.events.push(
        EventDraft::new("ipmi.chassis_control")
            .with("action", name)
            .with("power_before", if was { "on" } else { "off" })
            .with("power", if on { "on" } else { "off" }),
    );
    ok([])
}

/// Boot device names by boot flags selector (bits 5:2 of the second byte).
fn boot_device(selector: u8) -> &'static str {
    match selector {
        0 => "none",
        1 => "pxe",
        2 => "disk",
        3 => "safe",
        4 => "diag",
        5 => "cdrom",
        6 => "bios",
        0x0F => "floppy",
        _ => "other",
    }
}

fn set_boot_options(bmc: &Bmc, data: &[u8], extra: &mut Extra<'_>) -> Reply {
    let [param, rest @ ..] = data else {
        return cc(CC_BAD_LENGTH);
    };
    let mut st = bmc.state();
    match param & 0x7F {
        0 | 1 | 2 | 3 | 6 | 7 => ok([]),
        4 => match rest {
            [mask, v, ..] => {
                for (i, b) in st.boot_ack.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *b = v & (1 << i) | (*b & !(1 << i));
                    }
                }
                ok([])
            }
            _ => cc(CC_BAD_LENGTH),
        },
        5 => {
            let Ok(flags) = <[u8; 5]>::try_from(rest.get(..5).unwrap_or_default()) else {
                return cc(CC_BAD_LENGTH);
            };
            st.boot_flags = flags;
            extra.events.push(
                EventDraft::new("ipmi.boot_device")
                    .with("device", boot_device((flags[1] >> 2) & 0x0F))
                    .with("persistent", flags[0] & 0x40 != 0)
                    .with("efi", flags[0] & 0x20 != 0),
            );
            ok([])
        }
        _ => cc(0x80),
    }
}

fn boot_options(bmc: &Bmc, data: &[u8]) -> Reply {
    let [param, _, _] = data else {
        return cc(CC_BAD_LENGTH);
    };
    let st = bmc.state();
    let mut d = vec![0x01, param & 0x7F];
    match param & 0x7F {
        0 => d.push(0x00),
        3 => d.push(0x00),
        4 => d.extend(st.boot_ack),
        5 => d.extend(st.boot_flags),
        _ => return cc(0x80),
    }
    ok(d)
}

fn sensor(bmc: &Bmc, cmd: u8, data: &[u8], now: SystemTime) -> Reply {
    let [number, ..] = data else {
        return cc(CC_BAD_LENGTH);
    };
    let Some(s) = bmc.config.sensors.iter().find(|s| s.number == *number) else {
        return cc(CC_NOT_PRESENT);
    };
    match cmd {
        0x2D => ok(s.reading(&bmc.databus, now)),
        0x2F => ok([s.sdr(0).get(12).copied().unwrap_or(0), 0x01]),
        _ => {
            let r = s.sdr(0);
            // Lower non-critical, critical, non-recoverable, then the upper ones.
            let t = |i: usize| r.get(i).copied().unwrap_or(0);
            ok([0x3F, t(41), t(40), t(39), t(38), t(37), t(36)])
        }
    }
}

/// Reads `[offset, offset + count)` of a record (count 0xFF: all of it).
fn slice(record: &[u8], offset: u8, count: u8) -> Option<Vec<u8>> {
    let start = usize::from(offset);
    let end = if count == 0xFF {
        record.len()
    } else {
        (start + usize::from(count)).min(record.len())
    };
    record.get(start..end).map(<[u8]>::to_vec)
}

fn record_request(data: &[u8]) -> Option<(u16, u8, u8)> {
    let [_, _, lo, hi, offset, count] = data else {
        return None;
    };
    Some((u16::from_le_bytes([*lo, *hi]), *offset, *count))
}

fn get_sdr(bmc: &Bmc, data: &[u8]) -> Reply {
    let Some((id, offset, count)) = record_request(data) else {
        return cc(CC_BAD_LENGTH);
    };
    let n = bmc.config.sensors.len();
    let index = match id {
        0 => 0,
        0xFFFF => n.saturating_sub(1),
        id => usize::from(id) - 1,
    };
    let Some(sensor) = bmc.config.sensors.get(index) else {
        return cc(CC_NOT_PRESENT);
    };
    let record = sensor.sdr(u16::try_from(index + 1).unwrap_or(u16::MAX));
    let next = if index + 1 >= n {
        0xFFFF
    } else {
        u16::try_from(index + 2).unwrap_or(0xFFFF)
    };
    let Some(part) = slice(&record, offset, count) else {
        return cc(CC_OUT_OF_RANGE);
    };
    let mut d = next.to_le_bytes().to_vec();
    d.extend(part);
    ok(d)
}

fn get_sel_entry(bmc: &Bmc, data: &[u8]) -> Reply {
    let Some((id, offset, count)) = record_request(data) else {
        return cc(CC_BAD_LENGTH);
    };
    let st = bmc.state();
    let ids: Vec<u16> = st.sel.iter().map(|r| u16::from_le_bytes([r[0], r[1]])).collect();
    let index = match id {
        0 if !ids.is_empty() => Some(0),
        0xFFFF => ids.len().checked_sub(1),
        id => ids.iter().position(|i| *i == id),
    };
    let Some((index, record)) = index.and_then(|i| st.sel.get(i).map(|r| (i, r))) else {
        return cc(CC_NOT_PRESENT);
    };
    let next = ids.get(index + 1).copied().unwrap_or(0xFFFF);
    let Some(part) = slice(record, offset, count) else {
        return cc(CC_OUT_OF_RANGE);
    };
    let mut d = next.to_le_bytes().to_vec();
    d.extend(part);
    ok(d)
}
