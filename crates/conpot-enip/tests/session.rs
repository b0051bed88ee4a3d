//! The encapsulation layer and the CIP objects, driven as the listener drives them:
//! golden frames from the specification and from what cpppo, pycomm3 and nmap send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use conpot_core::Value;
use conpot_core::drive::Driver;
use conpot_enip::EnipService;

const IDENTITY: &[u8] = &[0x20, 0x01, 0x24, 0x01];

#[test]
fn list_identity_over_udp_announces_the_persona() {
    let (svc, device) = logix();
    let (mut d, _) = Driver::udp(&svc, 44818, now());
    let step = d.input(&encap(0x63, 0, &[]), now());
    assert_eq!(step.datagrams.len(), 1);
    let r = &step.datagrams[0];
    let (cmd, len, _, status) = header(r);
    assert_eq!((cmd, status, usize::from(len)), (0x63, 0, r.len() - 24));
    assert_eq!(&r[12..20], b"ctx-0001", "sender context echoed");
    assert_eq!(&r[24..28], &[1, 0, 0x0c, 0]);
    let item = &r[30..];
    assert_eq!(&item[..2], &[1, 0], "encapsulation version");
    assert_eq!(
        &item[2..8],
        &[0, 2, 0xaf, 0x12, 192, 0],
        "sockaddr: AF_INET, 44818, the address reached"
    );
    assert_eq!(&item[8..10], &[2, 1]);
    assert_eq!(u16::from_le_bytes([item[18], item[19]]), 1, "vendor Rockwell");
    assert_eq!(u16::from_le_bytes([item[20], item[21]]), 14, "PLC");
    let code = u16::from_le_bytes([item[22], item[23]]);
    assert_eq!(code.to_string(), device.persona.get("product_code").unwrap());
    let fw = device.persona.get("firmware").unwrap();
    assert_eq!(format!("{}.{}", item[24], item[25]), fw);
    let serial = u32::from_le_bytes(item[28..32].try_into().unwrap());
    assert_eq!(format!("{serial:08X}"), device.persona.get("serial").unwrap());
    let n = usize::from(item[32]);
    let name = std::str::from_utf8(&item[33..33 + n]).unwrap();
    assert_eq!(name, device.persona.get("catalog").unwrap());
    assert_ne!(name, "1756-L61/B LOGIX5561");
    assert_eq!(item[33 + n], 3, "state operational");
    assert_eq!(item.len(), 34 + n);
    let ev = step.event("enip.request").unwrap();
    assert_eq!(ev.body.data["command"], "list_identity");
}

#[test]
fn list_identity_works_over_tcp_without_a_session() {
    let (svc, _) = logix();
    let (mut d, _) = Driver::tcp(&svc, 44818, now());
    let r = d.input(&encap(0x63, 0, &[]), now()).bytes;
    assert_eq!(header(&r).3, 0);
    assert_eq!(&r[26..28], &[0x0c, 0]);
}

#[test]
fn list_services_golden() {
    let (svc, _) = logix();
    let (mut d, _) = Driver::udp(&svc, 44818, now());
    let r = d.input(&encap(0x04, 0, &[]), now()).bytes;
    let mut want = encap(0x04, 0, &[]);
    want[2] = 26;
    want.extend_from_slice(&[1, 0, 0x00, 0x01, 20, 0, 1, 0, 0x20, 0x01]);
    want.extend_from_slice(b"Communications\0\0");
    assert_eq!(r, want);
}

#[test]
fn list_interfaces_lists_none() {
    let (svc, _) = logix();
    let (mut d, _) = Driver::tcp(&svc, 44818, now());
    let r = d.input(&encap(0x64, 0, &[]), now()).bytes;
    assert_eq!(&r[24..], &[0, 0]);
    assert_eq!(header(&r).1, 2);
}

#[test]
fn register_session_checks_version_and_repeats() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let r = d.input(&encap(0x65, 0, &[1, 0, 0, 0]), now()).bytes;
    assert_eq!(header(&r).3, 0x03, "a second RegisterSession on the connection");
    let (mut d2, _) = Driver::tcp(&svc, 44818, now());
    let r = d2.input(&encap(0x65, 0, &[2, 0, 0, 0]), now()).bytes;
    assert_eq!(header(&r).3, 0x69, "unsupported protocol version");
    assert_eq!(&r[24..], &[1, 0, 0, 0], "the version supported");
    let r = d2.input(&encap(0x65, 0, &[1, 0]), now()).bytes;
    assert_eq!(header(&r).3, 0x65, "bad length");
    assert!(!d.closed && handle != 0);
}

#[test]
fn send_rr_data_needs_the_registered_handle() {
    let (svc, _) = logix();
    let gaa = request(0x01, IDENTITY, &[]);
    let (mut d, _) = Driver::tcp(&svc, 44818, now());
    let r = d.input(&rr(0x1234, &gaa), now()).bytes;
    assert_eq!((header(&r).3, r.len()), (0x64, 24), "no session registered");
    let (mut d, handle) = registered(&svc);
    let r = d.input(&rr(handle ^ 1, &gaa), now()).bytes;
    assert_eq!(header(&r).3, 0x64, "wrong handle");
    let r = d.input(&rr(handle, &gaa), now()).bytes;
    assert_eq!(header(&r).2, handle);
    assert_eq!(header(&r).3, 0);
    assert!(!d.closed);
}

#[test]
fn register_and_send_are_refused_over_udp() {
    let (svc, _) = logix();
    let (mut d, _) = Driver::udp(&svc, 44818, now());
    let r = d.input(&encap(0x65, 0, &[1, 0, 0, 0]), now()).bytes;
    assert_eq!(header(&r).3, 0x01);
}

#[test]
fn unknown_commands_get_invalid_command_and_the_session_stays() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let r = d.input(&encap(0x0001, handle, &[]), now()).bytes;
    assert_eq!((header(&r).0, header(&r).3), (0x0001, 0x01));
    let r = d.input(&encap(0x1234, handle, &[9, 9]), now()).bytes;
    assert_eq!(header(&r).3, 0x01);
    assert!(!d.closed);
    let r = d.input(&rr(handle, &request(0x01, IDENTITY, &[])), now()).bytes;
    assert_eq!(cip(&r).1, 0);
}

#[test]
fn nop_is_never_answered() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let step = d.input(&encap(0x00, handle, &[1, 2, 3]), now());
    assert!(step.bytes.is_empty());
    assert_eq!(step.event("enip.request").unwrap().body.data["command"], "nop");
}

#[test]
fn unregister_session_closes_without_reply() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let step = d.input(&encap(0x66, handle, &[]), now());
    assert!(step.bytes.is_empty() && step.close);
}

#[test]
fn a_length_over_the_limit_is_answered_and_closes() {
    let (svc, _) = logix();
    let (mut d, _) = Driver::tcp(&svc, 44818, now());
    let mut m = encap(0x6f, 0, &[]);
    m[2] = 0xff;
    m[3] = 0xff;
    let step = d.input(&m, now());
    assert_eq!(header(&step.bytes).3, 0x65);
    assert!(step.close);
    assert!(step.event("enip.malformed").is_some());
}

#[test]
fn a_split_header_waits_for_the_rest() {
    let (svc, _) = logix();
    let (mut d, _) = Driver::tcp(&svc, 44818, now());
    let m = encap(0x63, 0, &[]);
    assert!(d.input(&m[..10], now()).bytes.is_empty());
    assert_eq!(header(&d.input(&m[10..], now()).bytes).0, 0x63);
}

#[test]
fn identity_get_attributes_all_matches_list_identity() {
    let (svc, device) = logix();
    let (mut d, handle) = registered(&svc);
    let (service, status, ext, data) = cip(&d.input(&rr(handle, &request(0x01, IDENTITY, &[])), now()).bytes);
    assert_eq!((service, status, ext.len()), (0x81, 0, 0));
    assert_eq!(&data[..4], &[1, 0, 14, 0]);
    let name = device.persona.get("catalog").unwrap();
    assert_eq!(data.len(), 15 + name.len());
    assert_eq!(&data[15..], name.as_bytes());
}

#[test]
fn identity_attributes_one_by_one() {
    let (svc, device) = logix();
    let (mut d, handle) = registered(&svc);
    let mut get = |attr: u8| {
        let path = [0x20, 0x01, 0x24, 0x01, 0x30, attr];
        cip(&d.input(&rr(handle, &request(0x0e, &path, &[])), now()).bytes)
    };
    assert_eq!(get(1).3, vec![1, 0]);
    assert_eq!(get(2).3, vec![14, 0]);
    assert_eq!(
        u16::from_le_bytes(get(3).3.try_into().unwrap()).to_string(),
        device.persona.get("product_code").unwrap()
    );
    assert_eq!(get(4).3.len(), 2);
    assert_eq!(get(5).3, vec![0x60, 0x30]);
    assert_eq!(get(6).3.len(), 4);
    assert_eq!(&get(7).3[1..], device.persona.get("catalog").unwrap().as_bytes());
    assert_eq!(get(8).3, vec![3]);
    let (s, status, _, data) = get(42);
    assert_eq!((s, status, data.len()), (0x8e, 0x14, 0), "attribute not supported");
}

#[test]
fn unknown_classes_instances_and_services_get_their_status() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let mut ask = |req: Vec<u8>| cip(&d.input(&rr(handle, &req), now()).bytes);
    assert_eq!(
        ask(request(0x0e, &[0x20, 0x99, 0x24, 0x01, 0x30, 0x01], &[])).1,
        0x05,
        "unknown class"
    );
    assert_eq!(
        ask(request(0x0e, &[0x20, 0x01, 0x24, 0x07, 0x30, 0x01], &[])).1,
        0x16,
        "unknown instance"
    );
    assert_eq!(ask(request(0x4b, IDENTITY, &[])).1, 0x08, "unknown service");
    assert_eq!(
        ask(request(0x10, &[0x20, 0x01, 0x24, 0x01, 0x30, 0x01], &[1, 0])).1,
        0x0e,
        "not settable"
    );
    assert_eq!(ask(vec![0x0e, 0x09, 0x20]).1, 0x26, "path size");
    assert_eq!(ask(vec![0x0e, 0x01, 0xee, 0x00]).1, 0x04, "segment");
    // Class attributes: revision 1.
    assert_eq!(
        ask(request(0x0e, &[0x20, 0x01, 0x24, 0x00, 0x30, 0x01], &[])).3,
        vec![1, 0]
    );
}

#[test]
fn tcp_ip_and_ethernet_link_come_from_the_persona() {
    let (svc, device) = logix();
    let (mut d, handle) = registered(&svc);
    let mut get = |class: u8, attr: u8| {
        let path = [0x20, class, 0x24, 0x01, 0x30, attr];
        cip(&d.input(&rr(handle, &request(0x0e, &path, &[])), now()).bytes).3
    };
    let cfg = get(0xf5, 5);
    let ip: std::net::Ipv4Addr = device.persona.get("ip_address").unwrap().parse().unwrap();
    assert_eq!(u32::from_le_bytes(cfg[0..4].try_into().unwrap()), u32::from(ip));
    assert_eq!(&cfg[4..8], &[0, 255, 255, 255], "netmask as a little-endian UDINT");
    let host = device.persona.get("hostname").unwrap();
    let h = get(0xf5, 6);
    assert_eq!(usize::from(u16::from_le_bytes([h[0], h[1]])), host.len());
    assert_eq!(&h[2..2 + host.len()], host.as_bytes());
    let mac = get(0xf6, 3);
    let want: Vec<u8> = device
        .persona
        .get("mac")
        .unwrap()
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).unwrap())
        .collect();
    assert_eq!(mac, want);
    assert_eq!(&mac[..3], &[0x00, 0x00, 0xbc]);
    assert_eq!(get(0xf6, 1), vec![100, 0, 0, 0]);
}

/// Unconnected Send wrapping `inner`, routed to backplane `slot` (as pycomm3 and cpppo build it).
fn unconnected_send(inner: &[u8], slot: u8) -> Vec<u8> {
    let mut data = vec![0x0a, 0xf0];
    data.extend_from_slice(&(inner.len() as u16).to_le_bytes());
    data.extend_from_slice(inner);
    if inner.len() % 2 == 1 {
        data.push(0);
    }
    data.extend_from_slice(&[1, 0, 0x01, slot]);
    request(0x52, &[0x20, 0x06, 0x24, 0x01], &data)
}

#[test]
fn unconnected_send_routes_to_the_cpu_slot() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let (s, status, _, data) = cip(&d
        .input(&rr(handle, &unconnected_send(&request(0x01, IDENTITY, &[]), 0)), now())
        .bytes);
    assert_eq!((s, status), (0x81, 0), "the embedded reply is the answer");
    assert_eq!(&data[..2], &[1, 0]);
    let (s, status, ext, data) = cip(&d
        .input(&rr(handle, &unconnected_send(&request(0x01, IDENTITY, &[]), 3)), now())
        .bytes);
    assert_eq!(
        (s, status, ext, data),
        (0xd2, 0x01, vec![0x0312], vec![0]),
        "an empty slot"
    );
}

fn forward_open(large: bool, serial: u16) -> Vec<u8> {
    let mut data = vec![0x0a, 0x0e];
    data.extend_from_slice(&0u32.to_le_bytes());
    data.extend_from_slice(&0x1122_3344u32.to_le_bytes());
    data.extend_from_slice(&serial.to_le_bytes());
    data.extend_from_slice(&0x1337u16.to_le_bytes());
    data.extend_from_slice(&0x4242_4242u32.to_le_bytes());
    data.extend_from_slice(&[1, 0, 0, 0]);
    for _ in 0..2 {
        data.extend_from_slice(&2_000_000u32.to_le_bytes());
        if large {
            data.extend_from_slice(&0x4200_0FA2u32.to_le_bytes());
        } else {
            data.extend_from_slice(&0x43F8u16.to_le_bytes());
        }
    }
    data.push(0xa3);
    data.extend_from_slice(&[3, 0x01, 0x00, 0x20, 0x02, 0x24, 0x01]);
    request(if large { 0x5b } else { 0x54 }, &[0x20, 0x06, 0x24, 0x01], &data)
}

#[test]
fn forward_open_then_connected_messages_then_close() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let (s, status, _, data) = cip(&d.input(&rr(handle, &forward_open(false, 7)), now()).bytes);
    assert_eq!((s, status), (0xd4, 0));
    assert_eq!(data.len(), 26);
    let o_t = u32::from_le_bytes(data[0..4].try_into().unwrap());
    assert_eq!(&data[4..8], &0x1122_3344u32.to_le_bytes(), "T->O id echoed");
    assert_eq!(&data[8..10], &7u16.to_le_bytes());
    // Connected Get_Attributes_All.
    let r = d
        .input(&unit(handle, o_t, 5, &request(0x01, IDENTITY, &[])), now())
        .bytes;
    let it = items(&r);
    assert_eq!(it[0], (0xa1, 0x1122_3344u32.to_le_bytes().to_vec()));
    assert_eq!(it[1].0, 0xb1);
    assert_eq!(&it[1].1[..2], &[5, 0], "sequence count echoed");
    assert_eq!(split_cip(&it[1].1[2..]).1, 0);
    // An unknown connection id is dropped.
    assert!(
        d.input(&unit(handle, o_t ^ 0xff, 6, &request(0x01, IDENTITY, &[])), now())
            .bytes
            .is_empty()
    );
    // The same triad again.
    let (_, status, ext, _) = cip(&d.input(&rr(handle, &forward_open(false, 7)), now()).bytes);
    assert_eq!((status, ext), (0x01, vec![0x0100]));
    // Large Forward Open with another serial.
    let (s, status, _, _) = cip(&d.input(&rr(handle, &forward_open(true, 8)), now()).bytes);
    assert_eq!((s, status), (0xdb, 0));
    // Forward Close.
    let mut close = vec![0x0a, 0x0e];
    close.extend_from_slice(&7u16.to_le_bytes());
    close.extend_from_slice(&0x1337u16.to_le_bytes());
    close.extend_from_slice(&0x4242_4242u32.to_le_bytes());
    close.extend_from_slice(&[3, 0, 0x01, 0x00, 0x20, 0x02, 0x24, 0x01]);
    let fc = request(0x4e, &[0x20, 0x06, 0x24, 0x01], &close);
    let (s, status, _, data) = cip(&d.input(&rr(handle, &fc), now()).bytes);
    assert_eq!((s, status, data.len()), (0xce, 0, 10));
    let (_, status, ext, _) = cip(&d.input(&rr(handle, &fc), now()).bytes);
    assert_eq!((status, ext), (0x01, vec![0x0107]), "already closed");
    assert!(
        d.input(&unit(handle, o_t, 7, &request(0x01, IDENTITY, &[])), now())
            .bytes
            .is_empty()
    );
}

#[test]
fn forward_open_to_anything_but_the_router_fails() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let mut fo = forward_open(false, 9);
    let n = fo.len();
    fo[n - 3] = 0x04; // class 4: an assembly (I/O connection)
    let (_, status, ext, data) = cip(&d.input(&rr(handle, &fo), now()).bytes);
    assert_eq!((status, ext, data.len()), (0x01, vec![0x0315], 10));
}

#[test]
fn multiple_service_packet_answers_each() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let a = request(0x0e, &[0x20, 0x01, 0x24, 0x01, 0x30, 0x01], &[]);
    let b = request(0x0e, &[0x20, 0x01, 0x24, 0x01, 0x30, 0x63], &[]);
    let mut data = vec![2, 0, 6, 0, (6 + a.len()) as u8, 0];
    data.extend_from_slice(&a);
    data.extend_from_slice(&b);
    let (s, status, _, body) = cip(&d
        .input(&rr(handle, &request(0x0a, &[0x20, 0x02, 0x24, 0x01], &data)), now())
        .bytes);
    assert_eq!((s, status), (0x8a, 0x1e), "one embedded service failed");
    assert_eq!(&body[..2], &[2, 0]);
    let off1 = usize::from(u16::from_le_bytes([body[2], body[3]]));
    let off2 = usize::from(u16::from_le_bytes([body[4], body[5]]));
    assert_eq!(split_cip(&body[off1..off2]), (0x8e, 0, vec![], vec![1, 0]));
    assert_eq!(split_cip(&body[off2..]).1, 0x14);
}

#[test]
fn read_and_write_tags_by_symbol() {
    let (svc, device) = logix();
    let (mut d, handle) = registered(&svc);
    let mut ask = |req: Vec<u8>| cip(&d.input(&rr(handle, &req), now()).bytes);
    let (s, status, _, data) = ask(request(0x4c, &symbol("Tank_Level"), &[1, 0]));
    assert_eq!((s, status), (0xcc, 0));
    assert_eq!(&data[..2], &[0xca, 0]);
    assert_eq!(f32::from_le_bytes(data[2..6].try_into().unwrap()), 61.5);
    // Write a DINT array element and read it back; the databus sees it.
    let mut path = symbol("Setpoints");
    path.extend_from_slice(&[0x28, 0x02]);
    let (_, status, _, _) = ask(request(0x4d, &path, &[0xc3, 0, 1, 0, 0x39, 0x05]));
    assert_eq!(status, 0);
    assert_eq!(ask(request(0x4c, &path, &[1, 0])).3, vec![0xc3, 0, 0x39, 0x05]);
    let v = device.databus.get("Setpoints", now()).unwrap();
    let Value::List(l) = v else { panic!("{v:?}") };
    assert_eq!(l[2], Value::Int(1337));
    // Wrong type, past the end, unknown tag.
    assert_eq!(ask(request(0x4d, &path, &[0xc4, 0, 1, 0, 0, 0, 0, 0])).2, vec![0x2107]);
    assert_eq!(ask(request(0x4c, &path, &[9, 0])).2, vec![0x2105]);
    assert_eq!(ask(request(0x4c, &symbol("Nope"), &[1, 0])).1, 0x04);
    // Tags are case-insensitive, as in Logix.
    assert_eq!(ask(request(0x4c, &symbol("motor_run"), &[1, 0])).3, vec![0xc1, 0, 0xff]);
    // A string.
    let name = device.persona.get("line").unwrap();
    let s = ask(request(0x4c, &symbol("Line_Name"), &[1, 0])).3;
    assert_eq!(&s[3..], name.as_bytes());
}

#[test]
fn fragmented_reads_and_writes() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let mut ask = |req: Vec<u8>| cip(&d.input(&rr(handle, &req), now()).bytes);
    let (_, status, _, data) = ask(request(0x52, &symbol("Setpoints"), &[8, 0, 4, 0, 0, 0]));
    assert_eq!(status, 0);
    assert_eq!(&data[..], &[0xc3, 0, 75, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let (_, status, _, _) = ask(request(
        0x53,
        &symbol("Setpoints"),
        &[0xc3, 0, 8, 0, 14, 0, 0, 0, 0x10, 0x00],
    ));
    assert_eq!(status, 0);
    assert_eq!(&ask(request(0x4c, &symbol("Setpoints"), &[8, 0])).3[16..], &[0x10, 0]);
}

#[test]
fn a_databus_change_is_read_over_cip() {
    let (svc, device) = logix();
    let (mut d, handle) = registered(&svc);
    device.databus.set("MotorSpeed", Value::Int(-2));
    let r = cip(&d
        .input(&rr(handle, &request(0x4c, &symbol("Motor_Speed"), &[1, 0])), now())
        .bytes);
    assert_eq!(r.3, vec![0xc4, 0, 0xfe, 0xff, 0xff, 0xff]);
}

#[test]
fn conpot_default_template_serves_enip() {
    let dir = conpot_testkit::conpot_templates().join("default");
    let t = conpot_core::template::Template::load_dir(&dir).expect("Conpot default template loads");
    let device = conpot_core::drive::device_of(&t).unwrap();
    let section = &t.protocols["enip"];
    assert_eq!(section.port, 44818);
    let svc = EnipService::build(section, &device).unwrap();
    let id = &svc.device().config.identity;
    // The template's values, which Conpot ignored.
    assert_eq!(
        (id.vendor_id, id.device_type, id.product_code, id.serial),
        (1, 14, 90, 7_079_450)
    );
    assert_eq!(id.product_name, "1756-L61/B LOGIX5561");
    let (mut d, handle) = registered(&svc);
    let mut ask = |req: Vec<u8>| cip(&d.input(&rr(handle, &req), now()).bytes);
    // cpppo's `@22/1/1`: the SCADA tag, 100, then written to 50.
    let scada = [0x20, 0x16, 0x24, 0x01, 0x30, 0x01];
    assert_eq!(ask(request(0x0e, &scada, &[])).3, vec![100]);
    assert_eq!(ask(request(0x10, &scada, &[50])).1, 0);
    assert_eq!(ask(request(0x0e, &scada, &[])).3, vec![50]);
    assert_eq!(ask(request(0x4c, &symbol("SCADA"), &[1, 0])).3, vec![0xc2, 0, 50]);
    // cpppo's client reads and writes the address with the tag services.
    assert_eq!(ask(request(0x4d, &scada, &[0xc2, 0, 1, 0, 60])).1, 0);
    assert_eq!(ask(request(0x4c, &scada, &[1, 0])).3, vec![0xc2, 0, 60]);
    assert_eq!(device.databus.get("SCADA", now()), Some(Value::Int(60)));
    let float = ask(request(0x0e, &[0x20, 0x16, 0x24, 0x01, 0x30, 0x03], &[])).3;
    assert_eq!(float.len(), 16);
    assert_eq!(f32::from_le_bytes(float[..4].try_into().unwrap()), 0.1);
    assert_eq!(ask(request(0x0e, &[0x20, 0x16, 0x24, 0x01, 0x30, 0x09], &[])).1, 0x14);
}

#[test]
fn events_describe_cip_requests() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let step = d.input(
        &rr(handle, &request(0x0e, &[0x20, 0x01, 0x24, 0x01, 0x30, 0x07], &[])),
        now(),
    );
    let ev = step.event("enip.request").unwrap();
    let req = ev.body.request.as_ref().unwrap();
    assert_eq!(req["cip"][0]["service_name"], "get_attribute_single");
    assert_eq!(req["cip"][0]["class"], 1);
    assert_eq!(req["cip"][0]["attribute"], 7);
    assert!(ev.body.raw_response.is_some());
}

#[test]
fn the_symbol_listing_and_program_name_serve_logix_drivers() {
    let (svc, device) = logix();
    let (mut d, handle) = registered(&svc);
    let mut ask = |req: Vec<u8>| cip(&d.input(&rr(handle, &req), now()).bytes);
    let name = ask(request(0x01, &[0x20, 0x64, 0x24, 0x01], &[])).3;
    let want = format!("{}_PLC", device.persona.get("line").unwrap());
    assert_eq!(usize::from(u16::from_le_bytes([name[0], name[1]])), want.len());
    assert_eq!(&name[2..2 + want.len()], want.as_bytes());
    // Attributes 1 (name), 2 (type), 8 (dimensions) from instance 0, as pycomm3 asks.
    let (s, status, _, list) = ask(request(
        0x55,
        &[0x20, 0x6b, 0x25, 0x00, 0x00, 0x00],
        &[3, 0, 1, 0, 2, 0, 8, 0],
    ));
    assert_eq!((s, status), (0xd5, 0));
    let mut at = 0;
    let mut names = Vec::new();
    while at < list.len() {
        let id = u32::from_le_bytes(list[at..at + 4].try_into().unwrap());
        let n = usize::from(u16::from_le_bytes([list[at + 4], list[at + 5]]));
        let name = String::from_utf8(list[at + 6..at + 6 + n].to_vec()).unwrap();
        let ty = u16::from_le_bytes([list[at + 6 + n], list[at + 7 + n]]);
        let dim = u32::from_le_bytes(list[at + 8 + n..at + 12 + n].try_into().unwrap());
        names.push((id, name, ty, dim));
        at += 8 + n + 12;
    }
    assert_eq!(names.len(), 8);
    assert_eq!(names[0].0, 1);
    assert_eq!(names[5], (6, "Setpoints".to_owned(), 0x20c3, 8));
    // STRING and the UDT: bit 15 and the template instance.
    assert_eq!(names[6], (7, "Recipe_Name".to_owned(), 0x8fce, 0));
    assert_eq!(names[7], (8, "Pump_1".to_owned(), 0x8100, 0));
    assert_eq!(names[3], (4, "Tank_Level".to_owned(), 0xca, 0));
    // From instance 5 on.
    let (_, _, _, rest) = ask(request(0x55, &[0x20, 0x6b, 0x24, 0x05], &[1, 0, 1, 0]));
    assert_eq!(u32::from_le_bytes(rest[0..4].try_into().unwrap()), 5);
}

#[test]
fn unconnected_send_without_a_route_is_for_this_module() {
    let (svc, _) = logix();
    let (mut d, handle) = registered(&svc);
    let inner = request(0x01, IDENTITY, &[]);
    let mut data = vec![0x0a, 0x05];
    data.extend_from_slice(&(inner.len() as u16).to_le_bytes());
    data.extend_from_slice(&inner);
    data.extend_from_slice(&[0, 0]);
    let (s, status, _, _) = cip(&d
        .input(&rr(handle, &request(0x52, &[0x20, 0x06, 0x24, 0x01], &data)), now())
        .bytes);
    assert_eq!((s, status), (0x81, 0));
}

#[test]
fn logix_string_reads_writes_and_is_described_by_its_template() {
    let (svc, device) = logix();
    let (mut d, handle) = registered(&svc);
    let mut ask = |req: Vec<u8>| cip(&d.input(&rr(handle, &req), now()).bytes);
    let line = device.persona.get("line").unwrap();
    let text = format!("{line}_Recipe_04");
    // A read: 0x02A0, the handle 0x0FCE, LEN, 82 characters, two pad bytes.
    let (s, status, _, data) = ask(request(0x4c, &symbol("Recipe_Name"), &[1, 0]));
    assert_eq!((s, status), (0xcc, 0));
    assert_eq!(&data[..8], &[0xa0, 0x02, 0xce, 0x0f, text.len() as u8, 0, 0, 0]);
    assert_eq!(data.len(), 4 + 88);
    assert_eq!(&data[8..8 + text.len()], text.as_bytes());
    // A write of the whole structure, then the databus. pycomm3 sends its request twice
    // in one message; a controller takes the structure's bytes and ignores the rest.
    let mut w = vec![0xa0, 0x02, 0xce, 0x0f, 1, 0, 5, 0, 0, 0];
    w.extend_from_slice(b"Brine");
    w.resize(10 + 88, 0);
    assert_eq!(
        ask(request(0x4d, &symbol("Recipe_Name"), &w[..90])).1,
        0x13,
        "too short"
    );
    w.extend_from_slice(&[0x55; 24]);
    assert_eq!(ask(request(0x4d, &symbol("Recipe_Name"), &w)).1, 0);
    assert_eq!(
        device.databus.get("RecipeName", now()),
        Some(Value::Str("Brine".into()))
    );
    // Another handle is a type mismatch.
    w[2] = 0x01;
    assert_eq!(ask(request(0x4d, &symbol("Recipe_Name"), &w)).2, vec![0x2107]);
    // The template object: definition size (41 template bytes + 23, in words), structure
    // size, member count, handle.
    let (_, status, _, attrs) = ask(request(
        0x03,
        &[0x20, 0x6c, 0x25, 0x00, 0xce, 0x0f],
        &[4, 0, 4, 0, 5, 0, 2, 0, 1, 0],
    ));
    assert_eq!(status, 0);
    assert_eq!(
        attrs,
        vec![
            4, 0, 4, 0, 0, 0, 16, 0, 0, 0, 5, 0, 0, 0, 88, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0xce, 0x0f
        ]
    );
    // Read Template as pycomm3 asks (definition size * 4 - 21 bytes), and a part of it
    // with "partial transfer".
    let tpath = [0x20, 0x6c, 0x25, 0x00, 0xce, 0x0f];
    let (_, status, _, t) = ask(request(0x4c, &tpath, &[0, 0, 0, 0, 43, 0]));
    assert_eq!(status, 0);
    let (_, status, _, part) = ask(request(0x4c, &tpath, &[0, 0, 0, 0, 27, 0]));
    assert_eq!((status, part.len()), (6, 27));
    assert_eq!(&t[16..], b"ASCIISTRING82;n\0LEN\0DATA\0");
    // STRING's members: LEN, and DATA as SINT elements (at most 82 of them).
    let mut len = symbol("Recipe_Name");
    len.extend_from_slice(&symbol("LEN"));
    assert_eq!(ask(request(0x4c, &len, &[1, 0])).3, vec![0xc4, 0, 5, 0, 0, 0]);
    let mut data = symbol("Recipe_Name");
    data.extend_from_slice(&symbol("DATA"));
    assert_eq!(ask(request(0x4c, &data, &[3, 0])).3, vec![0xc2, 0, b'B', b'r', b'i']);
    assert_eq!(ask(request(0x4c, &data, &[83, 0])).2, vec![0x2105]);
    // The symbol list shows it as a structure of template 0x0FCE.
    let (_, _, _, list) = ask(request(0x55, &[0x20, 0x6b, 0x25, 0x00, 0, 0], &[1, 0, 2, 0]));
    assert!(list.windows(2).any(|w| w == [0xce, 0x8f]), "{list:02x?}");
}

#[test]
fn a_udt_is_read_whole_and_by_member_and_written_by_member() {
    let (svc, device) = logix();
    let (mut d, handle) = registered(&svc);
    let mut ask = |req: Vec<u8>| cip(&d.input(&rr(handle, &req), now()).bytes);
    let (_, status, _, attrs) = ask(request(
        0x03,
        &[0x20, 0x6c, 0x25, 0x00, 0x00, 0x01],
        &[2, 0, 5, 0, 1, 0],
    ));
    assert_eq!(status, 0);
    assert_eq!(&attrs[..10], &[2, 0, 5, 0, 0, 0, 20, 0, 0, 0]);
    let handle_of = [attrs[14], attrs[15]];
    // Whole: Running (0xFF), pad, Speed 1450, Mode 2, pad, Flow 37.5, Faults 0, pad.
    let (_, status, _, data) = ask(request(0x4c, &symbol("Pump_1"), &[1, 0]));
    assert_eq!(status, 0);
    let mut want = vec![
        0xa0,
        0x02,
        handle_of[0],
        handle_of[1],
        0xff,
        0,
        0,
        0,
        0xaa,
        0x05,
        0,
        0,
        2,
        0,
        0,
        0,
    ];
    want.extend_from_slice(&37.5f32.to_le_bytes());
    want.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(data, want);
    // One member, read and written; the member's databus key changes.
    let mut speed = symbol("Pump_1");
    speed.extend_from_slice(&symbol("speed"));
    assert_eq!(ask(request(0x4c, &speed, &[1, 0])).3, vec![0xc4, 0, 0xaa, 0x05, 0, 0]);
    assert_eq!(
        ask(request(0x4d, &speed, &[0xc4, 0, 1, 0, 0xb0, 0x04, 0, 0, 9, 9])).1,
        0
    );
    assert_eq!(device.databus.get("Pump1.Speed", now()), Some(Value::Int(1200)));
    assert_eq!(ask(request(0x4d, &speed, &[0xc3, 0, 1, 0, 0xb0, 0x04])).2, vec![0x2107]);
    let mut nope = symbol("Pump_1");
    nope.extend_from_slice(&symbol("Nope"));
    assert_eq!(ask(request(0x4c, &nope, &[1, 0])).1, 0x04);
    // The whole structure written.
    let mut w = vec![0xa0, 0x02, handle_of[0], handle_of[1], 1, 0];
    w.extend_from_slice(&[0, 0, 0, 0, 0x84, 0x03, 0, 0, 1, 0, 0, 0]);
    w.extend_from_slice(&2.5f32.to_le_bytes());
    w.extend_from_slice(&[3, 0, 0, 0]);
    assert_eq!(ask(request(0x4d, &symbol("Pump_1"), &w)).1, 0);
    assert_eq!(device.databus.get("Pump1.Faults", now()), Some(Value::Int(3)));
    assert_eq!(device.databus.get("Pump1.Running", now()), Some(Value::Bool(false)));
    // The template names the type and its members.
    let (_, status, _, t) = ask(request(
        0x4c,
        &[0x20, 0x6c, 0x25, 0x00, 0x00, 0x01],
        &[0, 0, 0, 0, 200, 0],
    ));
    assert_eq!(status, 0);
    assert_eq!(&t[..8], &[0, 0, 0xc1, 0, 0, 0, 0, 0]);
    assert_eq!(&t[40..], b"PumpData;n\0Running\0Speed\0Mode\0Flow\0Faults\0");
}

#[test]
fn structure_definitions_are_checked() {
    let builds = |extra: &str| {
        let t = format!(
            "[template]\nunit = \"PLC\"\nvendor = \"Rockwell\"\n[databus]\ntext = \"a\"\n\
             [protocols.enip]\nport = 44818\n[protocols.enip.identity]\nvendor_id = 1\ndevice_type = 14\n\
             product_code = 55\nrevision = \"20.11\"\nserial = 1\nproduct_name = \"x\"\n{extra}"
        );
        let (device, section) = conpot_core::drive::device_and_section(&t, "enip").unwrap();
        EnipService::build(&section, &device).is_ok()
    };
    let udt = "[[protocols.enip.structures]]\nname = \"Valve\"\nmembers = [{ name = \"Open\", type = \"BOOL\" }]\n";
    assert!(builds(""));
    assert!(builds(&format!(
        "{udt}[[protocols.enip.tags]]\nname = \"V1\"\ntype = \"Valve\"\nkey = \"v1\"\n\
         [[protocols.enip.tags]]\nname = \"T\"\ntype = \"STRING\"\nkey = \"text\"\n"
    )));
    for bad in [
        // An SSTRING member, a duplicate member, a name taken by an atomic type, an
        // array of structures, a STRING tag without its databus key, an unknown type.
        "[[protocols.enip.structures]]\nname = \"A\"\nmembers = [{ name = \"S\", type = \"SSTRING\" }]\n".to_owned(),
        "[[protocols.enip.structures]]\nname = \"A\"\nmembers = [{ name = \"S\", type = \"INT\" }, { name = \"s\", type = \"DINT\" }]\n".to_owned(),
        "[[protocols.enip.structures]]\nname = \"DINT\"\nmembers = [{ name = \"S\", type = \"INT\" }]\n".to_owned(),
        format!("{udt}[[protocols.enip.tags]]\nname = \"V1\"\ntype = \"Valve\"\nkey = \"v1\"\nelements = 4\n"),
        "[[protocols.enip.tags]]\nname = \"T\"\ntype = \"STRING\"\nkey = \"missing\"\n".to_owned(),
        "[[protocols.enip.tags]]\nname = \"T\"\ntype = \"Pump\"\nkey = \"text\"\n".to_owned(),
    ] {
        assert!(!builds(&bad), "{bad}");
    }
}
