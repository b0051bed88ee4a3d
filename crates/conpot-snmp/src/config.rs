//! Building an agent from a template section: native TOML or Conpot's `snmp.xml`.

use conpot_core::Device;
use conpot_core::Value;
use conpot_core::auth;
use conpot_core::databus::Entry;
use conpot_core::template::nav::{Errors, Table};
use conpot_core::template::{ProtocolSection, TemplateError};

use crate::agent::{Community, STATS, SnmpConfig, User};
use crate::message::{SnmpValue, parse_oid};
use crate::mib::{Mib, Source, Ty};
use crate::usm::{AuthProto, PrivProto};

/// Siemens' enterprise number.
const SIEMENS: u32 = 4329;

/// Builds the agent configuration of `section` for `device`.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<SnmpConfig, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(file, t, device, errs),
        |file, x, errs| from_xml(file, x, device, errs),
    )
}

/// How many times the device has started (snmpEngineBoots).
fn boots(device: &Device) -> u32 {
    device
        .databus
        .get(conpot_core::device::KEY_BOOTS, std::time::SystemTime::now())
        .and_then(|v| v.as_i128())
        .and_then(|b| u32::try_from(b).ok())
        .filter(|b| *b > 0)
        .unwrap_or(1)
}

fn mac(device: &Device) -> Option<[u8; 6]> {
    let text = device.persona.get("mac")?;
    let bytes: Vec<u8> = text
        .split([':', '-'])
        .filter_map(|p| u8::from_str_radix(p, 16).ok())
        .collect();
    <[u8; 6]>::try_from(bytes.as_slice()).ok()
}

/// The engine id: enterprise (Siemens) and the MAC address, as RFC 3411 format 3.
fn engine_id(device: &Device) -> Vec<u8> {
    let mut id = (0x8000_0000u32 | SIEMENS).to_be_bytes().to_vec();
    match mac(device) {
        Some(m) => {
            id.push(3);
            id.extend(m);
        }
        None => {
            id.push(4);
            id.extend(device.persona.get("serial").unwrap_or("S7").bytes().take(27));
        }
    }
    id
}

fn databus_value(device: &Device, key: &str, value: Value) -> String {
    if !device.databus.contains(key) {
        device.databus.insert(key, Entry::Value(value));
    }
    key.to_owned()
}

fn databus_text(device: &Device, key: &str, value: &str) -> String {
    if !device.databus.contains(key) {
        device.databus.insert(key, Entry::Value(Value::Str(value.to_owned())));
    }
    key.to_owned()
}

/// The identity texts of the system group.
struct System {
    descr: String,
    object_id: Vec<u32>,
    contact: String,
    name: String,
    location: String,
    services: i64,
}

fn default_system(device: &Device) -> System {
    let p = |k: &str| device.persona.get(k).unwrap_or("").to_owned();
    System {
        descr: format!(
            "Siemens, SIMATIC S7, CPU-300, {}, {}, HW: {}, FW: {}",
            p("module_type"),
            p("order_code"),
            p("hardware"),
            p("firmware")
        ),
        object_id: vec![1, 3, 6, 1, 4, 1, SIEMENS, 6, 1, 2],
        contact: String::new(),
        name: p("hostname"),
        location: p("location"),
        services: 78,
    }
}

/// Adds the system group, the agent's statistics and the engine group.
fn base_mib(device: &Device, sys: &System, mib: &mut Mib, engine: &[u8]) {
    let o = |s: &str| parse_oid(s).unwrap_or_default();
    mib.add(
        o("1.3.6.1.2.1.1.1.0"),
        Ty::Octets,
        Source::Static(SnmpValue::Octets(sys.descr.clone().into_bytes())),
        false,
    );
    mib.add(
        o("1.3.6.1.2.1.1.2.0"),
        Ty::Oid,
        Source::Static(SnmpValue::Oid(sys.object_id.clone())),
        false,
    );
    mib.add(o("1.3.6.1.2.1.1.3.0"), Ty::TimeTicks, Source::Uptime, false);
    for (oid, key, val) in [
        ("1.3.6.1.2.1.1.4.0", "sysContact", &sys.contact),
        ("1.3.6.1.2.1.1.5.0", "sysName", &sys.name),
        ("1.3.6.1.2.1.1.6.0", "sysLocation", &sys.location),
    ] {
        let key = databus_text(device, key, val);
        mib.add(o(oid), Ty::Octets, Source::Databus(key), true);
    }
    mib.add(
        o("1.3.6.1.2.1.1.7.0"),
        Ty::Integer,
        Source::Static(SnmpValue::Integer(sys.services)),
        false,
    );
    mib.add(
        o("1.3.6.1.2.1.1.8.0"),
        Ty::TimeTicks,
        Source::Static(SnmpValue::TimeTicks(0)),
        false,
    );
    for (i, (_, oid)) in STATS.iter().enumerate() {
        mib.add(oid.to_vec(), Ty::Counter32, Source::Stat(i), false);
    }
    mib.add(
        o("1.3.6.1.2.1.11.30.0"),
        Ty::Integer,
        Source::Static(SnmpValue::Integer(2)),
        false,
    );
    mib.add(
        o("1.3.6.1.6.3.10.2.1.1.0"),
        Ty::Octets,
        Source::Static(SnmpValue::Octets(engine.to_vec())),
        false,
    );
    mib.add(
        o("1.3.6.1.6.3.10.2.1.2.0"),
        Ty::Integer,
        Source::Static(SnmpValue::Integer(i64::from(boots(device)))),
        false,
    );
    mib.add(
        o("1.3.6.1.6.3.10.2.1.4.0"),
        Ty::Integer,
        Source::Static(SnmpValue::Integer(1472)),
        false,
    );
}

/// Adds the interfaces, ip, icmp, tcp and udp groups of a one-port device.
fn standard_mib(device: &Device, mib: &mut Mib) {
    let o = |s: &str| parse_oid(s).unwrap_or_default();
    let st = |v: SnmpValue| Source::Static(v);
    let ctr = |base: u64, rate: f64| Source::Counter { base, rate };
    let p = |k: &str| device.persona.get(k).unwrap_or("").to_owned();
    let seed = device.persona.seed;
    let base = |n: u64| (seed % 97 + 3) * n;
    mib.add(o("1.3.6.1.2.1.2.1.0"), Ty::Integer, st(SnmpValue::Integer(1)), false);
    let ifd = format!(
        "Siemens, SIMATIC S7, {}, {}, PN-IO, X1 P1",
        p("module_type"),
        p("order_code")
    );
    let phys = mac(device).map(|m| m.to_vec()).unwrap_or_default();
    let rows: Vec<(u32, Ty, Source)> = vec![
        (1, Ty::Integer, st(SnmpValue::Integer(1))),
        (2, Ty::Octets, st(SnmpValue::Octets(ifd.into_bytes()))),
        (3, Ty::Integer, st(SnmpValue::Integer(6))),
        (4, Ty::Integer, st(SnmpValue::Integer(1500))),
        (5, Ty::Gauge32, st(SnmpValue::Gauge32(100_000_000))),
        (6, Ty::Octets, st(SnmpValue::Octets(phys))),
        (
            7,
            Ty::Integer,
            Source::Databus(databus_value(device, "ifAdminStatus", Value::Int(1))),
        ),
        (8, Ty::Integer, st(SnmpValue::Integer(1))),
        (9, Ty::TimeTicks, st(SnmpValue::TimeTicks(0))),
        (10, Ty::Counter32, ctr(base(91_331), 1_310.0)),
        (11, Ty::Counter32, ctr(base(812), 11.7)),
        (12, Ty::Counter32, ctr(base(97), 1.4)),
        (13, Ty::Counter32, st(SnmpValue::Counter32(0))),
        (14, Ty::Counter32, st(SnmpValue::Counter32(0))),
        (15, Ty::Counter32, ctr(base(3), 0.02)),
        (16, Ty::Counter32, ctr(base(104_201), 1_522.0)),
        (17, Ty::Counter32, ctr(base(790), 11.2)),
        (18, Ty::Counter32, ctr(base(12), 0.2)),
        (19, Ty::Counter32, st(SnmpValue::Counter32(0))),
        (20, Ty::Counter32, st(SnmpValue::Counter32(0))),
        (21, Ty::Gauge32, st(SnmpValue::Gauge32(0))),
        (22, Ty::Oid, st(SnmpValue::Oid(vec![0, 0]))),
    ];
    for (col, ty, src) in rows {
        mib.add(vec![1, 3, 6, 1, 2, 1, 2, 2, 1, col, 1], ty, src, col == 7);
    }
    // ifAdminStatus: up(1), down(2), testing(3).
    if let Some(o) = mib.objects.get_mut(&vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 7, 1]) {
        o.range = Some((1, 3));
    }
    let ints = [(1, 2), (2, 64), (13, 60)];
    for (n, v) in ints {
        mib.add(
            vec![1, 3, 6, 1, 2, 1, 4, n, 0],
            Ty::Integer,
            st(SnmpValue::Integer(v)),
            false,
        );
    }
    for (n, rate) in [(3, 13.1), (9, 13.0), (10, 12.5)] {
        mib.add(
            vec![1, 3, 6, 1, 2, 1, 4, n, 0],
            Ty::Counter32,
            ctr(base(900), rate),
            false,
        );
    }
    for n in [4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19] {
        mib.add(
            vec![1, 3, 6, 1, 2, 1, 4, n, 0],
            Ty::Counter32,
            st(SnmpValue::Counter32(0)),
            false,
        );
    }
    let ip: [u8; 4] = p("ip_address")
        .parse::<std::net::Ipv4Addr>()
        .map(|a| a.octets())
        .unwrap_or([192, 168, 0, 1]);
    let row = |col: u32| {
        [
            vec![1, 3, 6, 1, 2, 1, 4, 20, 1, col],
            ip.iter().map(|&b| u32::from(b)).collect(),
        ]
        .concat()
    };
    mib.add(row(1), Ty::IpAddress, st(SnmpValue::IpAddress(ip)), false);
    mib.add(row(2), Ty::Integer, st(SnmpValue::Integer(1)), false);
    mib.add(
        row(3),
        Ty::IpAddress,
        st(SnmpValue::IpAddress([255, 255, 255, 0])),
        false,
    );
    mib.add(row(4), Ty::Integer, st(SnmpValue::Integer(1)), false);
    mib.add(row(5), Ty::Integer, st(SnmpValue::Integer(65535)), false);
    for n in 1..=26u32 {
        let src = if matches!(n, 1 | 8 | 14 | 22) {
            ctr(base(40), 0.05)
        } else {
            st(SnmpValue::Counter32(0))
        };
        mib.add(vec![1, 3, 6, 1, 2, 1, 5, n, 0], Ty::Counter32, src, false);
    }
    for (n, v) in [(1, 4), (2, 300), (3, 60_000), (4, 16)] {
        mib.add(
            vec![1, 3, 6, 1, 2, 1, 6, n, 0],
            Ty::Integer,
            st(SnmpValue::Integer(v)),
            false,
        );
    }
    for (n, rate) in [
        (5, 0.001),
        (6, 0.08),
        (7, 0.002),
        (8, 0.004),
        (10, 12.4),
        (11, 11.9),
        (12, 0.01),
    ] {
        mib.add(
            vec![1, 3, 6, 1, 2, 1, 6, n, 0],
            Ty::Counter32,
            ctr(base(50), rate),
            false,
        );
    }
    mib.add(
        vec![1, 3, 6, 1, 2, 1, 6, 9, 0],
        Ty::Gauge32,
        st(SnmpValue::Gauge32(2)),
        false,
    );
    for (n, rate) in [(1, 0.6), (2, 0.01), (3, 0.0), (4, 0.6)] {
        mib.add(
            vec![1, 3, 6, 1, 2, 1, 7, n, 0],
            Ty::Counter32,
            ctr(base(20), rate),
            false,
        );
    }
}

/// The USM keys of an account of the device: `snmp_auth` (default `sha`; `none` for
/// noAuthNoPriv), `snmp_priv` (`des` or `aes`) with `snmp_priv_password` (default: the
/// password). Keys are localized once here; the agent checks messages against them.
fn usm_user(a: &auth::User, engine: &[u8]) -> Result<User, String> {
    let auth_name = a.param("snmp_auth").unwrap_or("sha");
    let auth = if auth_name == "none" {
        None
    } else {
        let p = AuthProto::parse(auth_name).ok_or_else(|| {
            format!("snmp_auth md5, sha, sha224, sha256, sha384, sha512 or none, found \"{auth_name}\"")
        })?;
        if a.password.len() < 8 {
            return Err("a password of at least 8 characters for SNMPv3".into());
        }
        Some((p, p.localized_key(a.password.as_bytes(), engine)))
    };
    let privacy = match (a.param("snmp_priv"), &auth) {
        (None, _) => None,
        (Some(_), None) => return Err("snmp_priv only together with snmp_auth".into()),
        (Some(name), Some((ap, _))) => {
            let pp = PrivProto::parse(name).ok_or_else(|| format!("snmp_priv des or aes, found \"{name}\""))?;
            let pw = a.param("snmp_priv_password").unwrap_or(&a.password);
            if pw.len() < 8 {
                return Err("a privacy password of at least 8 characters".into());
            }
            Some((pp, ap.localized_key(pw.as_bytes(), engine)))
        }
    };
    Ok(User {
        name: a.name.as_bytes().to_vec(),
        auth,
        privacy,
    })
}

/// Whether a device account is meant for SNMPv3: it names snmp in its scope or has snmp
/// settings. Others (an FTP account valid everywhere, with a short password) are left out
/// rather than refused, since RFC 3414 asks for 8 characters.
fn meant_for_snmp(a: &auth::User) -> bool {
    matches!(&a.scope, auth::Scope::Only(_)) || a.params.keys().any(|k| k.starts_with("snmp_")) || a.password.len() >= 8
}

/// The keys of the SNMP section's own accounts and of the device's accounts for SNMP; a
/// section account may not reuse a device account's name.
fn usm_users(
    device: &Device,
    local: &[(String, auth::User)],
    engine: &[u8],
    file: &str,
    errs: &mut Errors,
) -> Vec<User> {
    let mut users = Vec::new();
    for (path, a) in local {
        if device.auth.store().for_protocol("snmp").any(|d| d.name == a.name) {
            errs.push(
                file,
                &format!("{path}.name"),
                format!("a name no device account uses for snmp (`{}`)", a.name),
            );
        }
        match usm_user(a, engine) {
            Ok(u) => users.push(u),
            Err(e) => errs.push(file, path, e),
        }
    }
    for (i, a) in device
        .auth
        .store()
        .for_protocol("snmp")
        .filter(|a| meant_for_snmp(a))
        .enumerate()
    {
        match usm_user(a, engine) {
            Ok(u) => users.push(u),
            Err(e) => errs.push(file, &format!("users (snmp account {i}, `{}`)", a.name), e),
        }
    }
    users
}

/// The v3 users Conpot's SNMP agent always has.
fn conpot_accounts() -> Vec<auth::User> {
    [
        ("usr-md5-des", "md5", Some("des")),
        ("usr-sha-none", "sha", None),
        ("usr-sha-aes128", "sha", Some("aes")),
    ]
    .into_iter()
    .map(|(name, a, p)| {
        let mut u = auth::User::new(name, "authkey1");
        u.privilege = auth::Privilege::Operator;
        u.params.insert("snmp_auth".into(), a.into());
        if let Some(p) = p {
            u.params.insert("snmp_priv".into(), p.into());
            u.params.insert("snmp_priv_password".into(), "privkey1".into());
        }
        u
    })
    .collect()
}

fn from_toml(file: &str, t: &toml::Table, device: &Device, errs: &mut Errors) -> Option<SnmpConfig> {
    let root = Table::new(file, "protocols.snmp", t);
    root.deny_unknown(
        &[
            "communities",
            "users",
            "system",
            "objects",
            "standard_mibs",
            "max_repetitions",
            "response_time_ms",
        ],
        errs,
    );
    let engine = engine_id(device);
    let mut sys = default_system(device);
    if let Some(st) = root.table("system", false, errs) {
        let st = Table::new(file, "protocols.snmp.system", st);
        st.deny_unknown(&["descr", "object_id", "contact", "name", "location", "services"], errs);
        let text = |k: &str, errs: &mut Errors| -> Option<String> {
            let v = st.str(k, false, errs)?;
            match device.persona.render(v) {
                Ok(s) => Some(s),
                Err(e) => {
                    errs.push(file, &st.key(k), format!("known persona fields only: {e}"));
                    None
                }
            }
        };
        if let Some(v) = text("descr", errs) {
            sys.descr = v;
        }
        if let Some(v) = text("object_id", errs) {
            match parse_oid(&v) {
                Some(o) => sys.object_id = o,
                None => errs.push(file, &st.key("object_id"), format!("a dotted OID, found \"{v}\"")),
            }
        }
        if let Some(v) = text("contact", errs) {
            sys.contact = v;
        }
        if let Some(v) = text("name", errs) {
            sys.name = v;
        }
        if let Some(v) = text("location", errs) {
            sys.location = v;
        }
        if let Some(v) = st.int("services", 0, 127, false, errs) {
            sys.services = v;
        }
    }
    let mut mib = Mib::default();
    base_mib(device, &sys, &mut mib, &engine);
    if root.bool("standard_mibs", errs).unwrap_or(true) {
        standard_mib(device, &mut mib);
    }
    for (path, ot) in root.tables("objects", false, errs) {
        let ob = Table::new(file, &path, ot);
        ob.deny_unknown(&["oid", "type", "value", "key", "writable"], errs);
        let (Some(oid), Some(ty)) = (ob.str("oid", true, errs), ob.str("type", true, errs)) else {
            continue;
        };
        let Some(oid) = parse_oid(oid) else {
            errs.push(file, &ob.key("oid"), format!("a dotted OID, found \"{oid}\""));
            continue;
        };
        let Some(ty) = Ty::parse(ty) else {
            errs.push(
                file,
                &ob.key("type"),
                format!("integer, string, oid, ipaddress, counter32, gauge32, timeticks or counter64, found \"{ty}\""),
            );
            continue;
        };
        let writable = ob.bool("writable", errs).unwrap_or(false);
        let source = match (ob.str("key", false, errs), ob.get("value")) {
            (Some(key), _) => {
                if !device.databus.contains(key) {
                    errs.push(file, &ob.key("key"), format!("a databus key named `{key}`"));
                    continue;
                }
                Source::Databus(key.to_owned())
            }
            (None, Some(v)) => {
                let value = match v {
                    toml::Value::String(s) => Value::Str(device.persona.render(s).unwrap_or_else(|_| s.clone())),
                    toml::Value::Integer(i) => Value::Int(i128::from(*i)),
                    other => Value::Str(other.to_string()),
                };
                if writable {
                    let key = format!("snmp_{}", crate::message::oid_string(&oid));
                    device.databus.insert(key.clone(), Entry::Value(value));
                    Source::Databus(key)
                } else {
                    Source::Static(ty.from_value(&value))
                }
            }
            (None, None) => {
                errs.push(file, &path, "a `value` or a databus `key`");
                continue;
            }
        };
        mib.add(oid, ty, source, writable);
    }
    let mut communities = Vec::new();
    match root.array("communities", false, errs) {
        None => communities.push(Community {
            name: b"public".to_vec(),
            write: false,
        }),
        Some(list) => {
            for (i, c) in list.iter().enumerate() {
                let path = format!("protocols.snmp.communities[{i}]");
                let Some(ct) = c.as_table() else {
                    errs.push(file, &path, "a table");
                    continue;
                };
                let ct = Table::new(file, &path, ct);
                ct.deny_unknown(&["name", "access"], errs);
                let Some(name) = ct.str("name", true, errs) else {
                    continue;
                };
                let write = match ct.str("access", false, errs).unwrap_or("read") {
                    "read" | "ro" => false,
                    "write" | "rw" => true,
                    other => {
                        errs.push(
                            file,
                            &ct.key("access"),
                            format!("\"read\" or \"write\", found \"{other}\""),
                        );
                        false
                    }
                };
                communities.push(Community {
                    name: name.as_bytes().to_vec(),
                    write,
                });
            }
        }
    }
    let mut accounts = Vec::new();
    for (path, ut) in root.tables("users", false, errs) {
        let ut = Table::new(file, &path, ut);
        ut.deny_unknown(
            &["name", "auth", "auth_password", "priv", "priv_password", "access"],
            errs,
        );
        let rendered: toml::Table = ut
            .table
            .iter()
            .map(|(k, v)| match v {
                toml::Value::String(s) => (
                    k.clone(),
                    toml::Value::String(device.persona.render(s).unwrap_or_else(|_| s.clone())),
                ),
                other => (k.clone(), other.clone()),
            })
            .collect();
        let ut = Table::new(file, &path, &rendered);
        let Some(name) = ut.str("name", true, errs) else {
            continue;
        };
        let mut account = auth::User::new(name, "");
        let mut param = |k: &str, v: &str| account.params.insert(k.to_owned(), v.to_owned());
        let auth = match ut.str("auth", false, errs) {
            None => None,
            Some(a) => match (AuthProto::parse(a), ut.str("auth_password", true, errs)) {
                (Some(p), Some(pw)) if pw.len() >= 8 => {
                    param("snmp_auth", a);
                    Some((p, pw))
                }
                (None, _) => {
                    errs.push(
                        file,
                        &ut.key("auth"),
                        format!("md5, sha, sha224, sha256, sha384 or sha512, found \"{a}\""),
                    );
                    None
                }
                (_, Some(_)) => {
                    errs.push(file, &ut.key("auth_password"), "at least 8 characters");
                    None
                }
                _ => None,
            },
        };
        if auth.is_none() {
            param("snmp_auth", "none");
        }
        if let Some(p) = ut.str("priv", false, errs) {
            match (PrivProto::parse(p), ut.str("priv_password", true, errs), &auth) {
                (Some(_), Some(pw), Some(_)) if pw.len() >= 8 => {
                    param("snmp_priv", p);
                    param("snmp_priv_password", pw);
                }
                (None, ..) => errs.push(file, &ut.key("priv"), format!("des or aes, found \"{p}\"")),
                (_, _, None) => errs.push(file, &ut.key("priv"), "privacy only together with auth"),
                _ => errs.push(file, &ut.key("priv_password"), "at least 8 characters"),
            }
        }
        if let Some((_, pw)) = auth {
            account.password = pw.to_owned();
        }
        if ut.str("access", false, errs) == Some("write") {
            account.privilege = auth::Privilege::Operator;
        }
        accounts.push((path, account));
    }
    let users = usm_users(device, &accounts, &engine, file, errs);
    let max_repetitions = root.int("max_repetitions", 1, 1000, false, errs).unwrap_or(32) as u32;
    let response_time_ms = root.millis_range("response_time_ms", errs);
    Some(SnmpConfig {
        mib,
        communities,
        users,
        accounts: accounts.into_iter().map(|(_, a)| a).collect(),
        engine_id: engine,
        boots: boots(device),
        max_repetitions,
        response_time_ms,
    })
}

fn from_xml(file: &str, xml: &str, device: &Device, errs: &mut Errors) -> Option<SnmpConfig> {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(d) => d,
        Err(e) => {
            errs.push(file, "", format!("well-formed XML: {e}"));
            return None;
        }
    };
    let engine = engine_id(device);
    let mut sys = default_system(device);
    let now = std::time::SystemTime::now();
    let value_of = |key: &str| device.databus.get(key, now);
    let mut mib = Mib::default();
    let mut extra = Vec::new();
    for mibn in doc.descendants().filter(|n| n.has_tag_name("mib")) {
        let mname = mibn.attribute("name").unwrap_or_default();
        for sym in mibn.children().filter(|n| n.has_tag_name("symbol")) {
            let name = sym.attribute("name").unwrap_or_default();
            let key = sym
                .children()
                .find(|n| n.has_tag_name("value"))
                .and_then(|v| v.text())
                .unwrap_or_default()
                .trim();
            let path = format!("mib[@name='{mname}']/symbol[@name='{name}']");
            let Some((oid, ty, writable)) = crate::symbols::lookup(name) else {
                errs.push(
                    file,
                    &path,
                    format!("a symbol of the supported MIBs (`{name}` is unknown)"),
                );
                continue;
            };
            let Some(v) = value_of(key) else {
                errs.push(file, &path, format!("a databus key named `{key}`"));
                continue;
            };
            match name {
                "sysDescr" => sys.descr = v.to_string(),
                "sysObjectID" => sys.object_id = parse_oid(&v.to_string()).unwrap_or_else(|| sys.object_id.clone()),
                "sysServices" => sys.services = v.as_i128().or_else(|| v.to_string().parse().ok()).unwrap_or(72) as i64,
                "sysContact" | "sysName" | "sysLocation" | "sysUpTime" => {
                    if name != "sysUpTime" && !device.databus.contains(name) {
                        device.databus.insert(name, Entry::Value(v.clone()));
                    }
                    if name != "sysUpTime" && key != name {
                        extra.push((name.to_owned(), key.to_owned()));
                    }
                }
                _ => {
                    let instance = sym.attribute("instance").unwrap_or("0");
                    let Some(inst) = parse_oid(instance) else {
                        errs.push(
                            file,
                            &format!("{path}/@instance"),
                            format!("a dotted instance, found `{instance}`"),
                        );
                        continue;
                    };
                    let full = [oid, inst].concat();
                    let value = if name == "ifPhysAddress" {
                        let text = v.to_string();
                        let hex = text.trim_start_matches("0x");
                        Source::Static(SnmpValue::Octets(
                            conpot_core::hex::decode(hex).unwrap_or_else(|| text.into_bytes()),
                        ))
                    } else {
                        Source::Databus(key.to_owned())
                    };
                    mib.add(full, ty, value, writable);
                }
            }
        }
    }
    base_mib(device, &sys, &mut mib, &engine);
    // Conpot maps sysContact/sysName/sysLocation to keys of other names: read and write those.
    for (name, key) in extra {
        let oid = match name.as_str() {
            "sysContact" => vec![1, 3, 6, 1, 2, 1, 1, 4, 0],
            "sysName" => vec![1, 3, 6, 1, 2, 1, 1, 5, 0],
            _ => vec![1, 3, 6, 1, 2, 1, 1, 6, 0],
        };
        mib.add(oid, Ty::Octets, Source::Databus(key), true);
    }
    let communities = vec![Community {
        name: b"public".to_vec(),
        write: false,
    }];
    let accounts = conpot_accounts();
    let users = accounts.iter().filter_map(|a| usm_user(a, &engine).ok()).collect();
    Some(SnmpConfig {
        mib,
        communities,
        users,
        accounts,
        engine_id: engine,
        boots: boots(device),
        max_repetitions: 32,
        response_time_ms: (0, 0),
    })
}
