//! The BMC driven as the UDP listener drives it: golden frames from the specification and
//! from what ipmitool and nmap send, whole RMCP+ and IPMI 1.5 logins with a console
//! written here from the specification, and the rules between sources.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::result_large_err
)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use conpot_core::drive::{Driver, Step, device_and_section};
use conpot_core::event::Transport;
use conpot_core::hex;
use conpot_core::protocol::SessionCtx;
use conpot_ipmi::IpmiService;
use conpot_ipmi::crypto::{AuthAlg, ConfAlg, IntegrityAlg, Keys, aes_decrypt, aes_encrypt, md5_authcode, password_key};
use conpot_ipmi::rmcp::{self, encode_request, integrity_pad};

const TEMPLATE: &str = r#"
[template]
unit = "BMC"
vendor = "Test"
description = "test BMC"
protocols = "IPMI"
creator = "test"

[persona]
hostname = "bmc-1"

[protocols.ipmi]
enabled = true
host = "0.0.0.0"
port = 623
manufacturer_id = 10876
product_id = "0x0993"
firmware = "1.73"

[[users]]
name = "ADMIN"
password = "ADMIN"
privilege = "administrator"
scope = ["ipmi"]
ipmi_user_id = "2"

[[users]]
name = "reader"
password = "read-only"
privilege = "user"
scope = ["ipmi"]
ipmi_user_id = "3"

[[users]]
name = "old"
password = "old"
privilege = "administrator"
enabled = false
scope = ["ipmi"]
ipmi_user_id = "4"
"#;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn service() -> IpmiService {
    let (device, section) = device_and_section(TEMPLATE, "ipmi").unwrap();
    IpmiService::build(&section, &device).unwrap()
}

fn from(port: u16) -> SessionCtx {
    SessionCtx {
        transport: Transport::Udp,
        peer: SocketAddr::from(([192, 0, 2, 10], port)),
        local: SocketAddr::from(([192, 0, 2, 1], 623)),
    }
}

/// The IPMI message of an answer in an IPMI 1.5 wrapper without AuthCode.
fn v15_message(d: &[u8]) -> &[u8] {
    let len = usize::from(d[13]);
    &d[14..14 + len]
}

/// The RMCP+ payload of a clear answer.
fn v20_payload(d: &[u8]) -> &[u8] {
    let len = usize::from(u16::from_le_bytes([d[14], d[15]]));
    &d[16..16 + len]
}

fn clear_v20(payload_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = rmcp::IPMI_HEADER.to_vec();
    p.extend(rmcp::v20_header(payload_type, false, false, 0, 0, payload.len()));
    p.extend(payload);
    p
}

/// A console that logs in with RMCP+ as ipmitool does, its computations written from the
/// specification (IPMI v2.0 sections 13.17-13.32).
struct Console {
    auth: AuthAlg,
    integrity: IntegrityAlg,
    conf: ConfAlg,
    console_id: u32,
    bmc_id: u32,
    keys: Option<Keys>,
    seq: u32,
}

impl Console {
    fn new(suite: (u8, u8, u8)) -> Console {
        Console {
            auth: AuthAlg::from_u8(suite.0).unwrap(),
            integrity: IntegrityAlg::from_u8(suite.1).unwrap(),
            conf: ConfAlg::from_u8(suite.2).unwrap(),
            console_id: 0xa0a2_a3a4,
            bmc_id: 0,
            keys: None,
            seq: 1,
        }
    }

    fn open_request(&self, role: u8) -> Vec<u8> {
        let mut p = vec![0x00, role, 0, 0];
        p.extend(self.console_id.to_le_bytes());
        p.extend([0, 0, 0, 8, self.auth.number(), 0, 0, 0]);
        p.extend([1, 0, 0, 8, self.integrity.number(), 0, 0, 0]);
        p.extend([2, 0, 0, 8, self.conf.number(), 0, 0, 0]);
        clear_v20(rmcp::PAYLOAD_OPEN_REQ, &p)
    }

    /// Opens a session and logs in as `user` with `password` at `role`; returns the last
    /// step (RAKP4, or the step that refused).
    fn login(&mut self, d: &mut Driver, user: &str, password: &str, role: u8) -> Result<Step, Step> {
        let s = d.input(&self.open_request(0), t0());
        let open = v20_payload(&s.datagrams[0]).to_vec();
        if open[1] != 0 {
            return Err(s);
        }
        self.bmc_id = u32::from_le_bytes(open[8..12].try_into().unwrap());
        let rm = [0x5au8; 16];
        let mut r1 = vec![0x01, 0, 0, 0];
        r1.extend(self.bmc_id.to_le_bytes());
        r1.extend(rm);
        r1.extend([role, 0, 0, user.len() as u8]);
        r1.extend(user.as_bytes());
        let s = d.input(&clear_v20(rmcp::PAYLOAD_RAKP1, &r1), t0());
        let r2 = v20_payload(&s.datagrams[0]).to_vec();
        if r2[1] != 0 {
            return Err(s);
        }
        let rc: [u8; 16] = r2[8..24].try_into().unwrap();
        let guid: [u8; 16] = r2[24..40].try_into().unwrap();
        let kuid = password_key(password, 20);
        let ulen = [role, user.len() as u8];
        let expect = self.auth.hmac(
            &kuid,
            &[
                &self.console_id.to_le_bytes(),
                &self.bmc_id.to_le_bytes(),
                &rm,
                &rc,
                &guid,
                &ulen,
                user.as_bytes(),
            ],
        );
        let ok = expect == r2[40..];
        let mut r3 = vec![0x02, if ok { 0 } else { 0x0F }, 0, 0];
        r3.extend(self.bmc_id.to_le_bytes());
        r3.extend(
            self.auth
                .hmac(&kuid, &[&rc, &self.console_id.to_le_bytes(), &ulen, user.as_bytes()]),
        );
        let s = d.input(&clear_v20(rmcp::PAYLOAD_RAKP3, &r3), t0());
        let Some(r4) = s.datagrams.first().map(|d| v20_payload(d).to_vec()) else {
            return Err(s);
        };
        if r4[1] != 0 {
            return Err(s);
        }
        let sik = self.auth.hmac(&kuid, &[&rm, &rc, &ulen, user.as_bytes()]);
        let keys = Keys::derive(self.auth, sik);
        let mut icv = self.auth.hmac(&keys.sik, &[&rm, &self.bmc_id.to_le_bytes(), &guid]);
        icv.truncate(self.auth.icv_len());
        assert_eq!(r4[8..], icv[..], "RAKP4 integrity check value");
        self.keys = Some(keys);
        Ok(s)
    }

    /// An IPMI request inside the session, encrypted and signed as negotiated.
    fn request(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Vec<u8> {
        let keys = self.keys.as_ref().unwrap();
        let msg = encode_request(netfn, cmd, (self.seq % 64) as u8, data);
        let payload = if self.conf == ConfAlg::AesCbc128 {
            let iv = [0x11u8; 16];
            let mut p = iv.to_vec();
            p.extend(aes_encrypt(&keys.k2, &iv, &msg).unwrap());
            p
        } else {
            msg
        };
        let authed = self.integrity != IntegrityAlg::None;
        let mut s = rmcp::v20_header(
            0,
            self.conf != ConfAlg::None,
            authed,
            self.bmc_id,
            self.seq,
            payload.len(),
        );
        self.seq += 1;
        s.extend(payload);
        if authed {
            let pad = integrity_pad(s.len());
            s.extend(std::iter::repeat_n(0xFF, pad));
            s.extend([pad as u8, 0x07]);
            let code = self.integrity.mac(&keys.k1, &s);
            s.extend(code);
        }
        let mut p = rmcp::IPMI_HEADER.to_vec();
        p.extend(s);
        p
    }

    /// Checks and opens an answer: completion code and data.
    fn answer(&self, d: &[u8]) -> (u8, Vec<u8>) {
        let keys = self.keys.as_ref().unwrap();
        let session = &d[4..];
        assert_eq!(u32::from_le_bytes(session[2..6].try_into().unwrap()), self.console_id);
        let len = usize::from(u16::from_le_bytes([session[10], session[11]]));
        let payload = &session[12..12 + len];
        if self.integrity != IntegrityAlg::None {
            assert_eq!(session[1] & 0x40, 0x40, "authenticated");
            let n = self.integrity.code_len();
            let signed = &session[..session.len() - n];
            assert_eq!(signed.len() % 4, 0, "pad to four bytes");
            assert_eq!(self.integrity.mac(&keys.k1, signed), session[session.len() - n..]);
        }
        let msg = if self.conf == ConfAlg::AesCbc128 {
            assert_eq!(session[1] & 0x80, 0x80, "encrypted");
            aes_decrypt(&keys.k2, &payload[..16], &payload[16..]).unwrap()
        } else {
            payload.to_vec()
        };
        assert_eq!(rmcp::checksum(&msg[..3]), 0);
        assert_eq!(rmcp::checksum(&msg[3..]), 0);
        (msg[6], msg[7..msg.len() - 1].to_vec())
    }

    fn call(&mut self, d: &mut Driver, netfn: u8, cmd: u8, data: &[u8]) -> (u8, Vec<u8>) {
        let req = self.request(netfn, cmd, data);
        let s = d.input(&req, t0());
        assert_eq!(s.datagrams.len(), 1, "{:?}", s.types());
        self.answer(&s.datagrams[0])
    }
}

#[test]
fn presence_ping_gets_ack_and_pong() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 623, t0());
    // ASF Presence Ping with RMCP sequence 0 (wants an ACK), tag 0xC4.
    let s = d.input(&hex::decode("06000006000011be80c40000").unwrap(), t0());
    assert_eq!(s.datagrams.len(), 2);
    assert_eq!(s.datagrams[0], hex::decode("06000086").unwrap());
    assert_eq!(
        hex::encode(&s.datagrams[1]),
        "06000006000011be40c40010000011be000000008100000000000000"
    );
    assert_eq!(s.types(), ["ipmi.ping"]);
}

#[test]
fn channel_auth_capabilities_as_nmap_and_ipmitool_ask() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 623, t0());
    let s = d.input(
        &hex::decode("0600ff07000000000000000000092018c88100388e04b5").unwrap(),
        t0(),
    );
    // Channel 1, IPMI v2.0 extended data, MD2, MD5 and straight password, non-null users,
    // IPMI 1.5 and 2.0.
    assert_eq!(
        hex::encode(v15_message(&s.datagrams[0])),
        "811c632000380001960403000000000a"
    );
    assert_eq!(
        s.event("ipmi.command").unwrap().body.data["name"],
        "get_channel_auth_capabilities"
    );
}

#[test]
fn every_cipher_suite_logs_in_and_answers() {
    let svc = service();
    for suite in [
        (1, 0, 0),
        (2, 1, 0),
        (3, 1, 1),
        (6, 0, 0),
        (7, 2, 0),
        (8, 2, 1),
        (15, 0, 0),
        (16, 4, 0),
        (17, 4, 1),
    ] {
        let (mut d, _) = Driver::udp(&svc, 623, t0());
        let mut c = Console::new((
            AuthAlg::from_u8(match suite.0 {
                1..=3 => 1,
                6..=8 => 2,
                _ => 3,
            })
            .unwrap()
            .number(),
            suite.1,
            suite.2,
        ));
        let s = c
            .login(&mut d, "ADMIN", "ADMIN", 0x14)
            .unwrap_or_else(|s| panic!("{suite:?}: {:?}", s.events));
        let attempt = s.event("auth.attempt").unwrap();
        assert_eq!(attempt.body.data["success"], true);
        assert_eq!(attempt.body.data["username"], "ADMIN");
        assert!(attempt.body.data["hash"].is_string() && attempt.body.data["salt"].is_string());
        assert_eq!(c.call(&mut d, 6, 0x3B, &[4]), (0, vec![4]), "{suite:?}");
        let (cc, id) = c.call(&mut d, 6, 0x01, &[]);
        assert_eq!(cc, 0);
        // Manufacturer 10876 in three bytes, product 0x0993 in two, firmware 1.73.
        assert_eq!(
            &id[..11],
            &[0x20, 0x01, 0x01, 0x73, 0x02, 0xB7, 0x7C, 0x2A, 0x00, 0x93, 0x09]
        );
    }
}

#[test]
fn chassis_power_changes_are_visible_and_need_operator() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 623, t0());
    let mut c = Console::new((3, 4, 1));
    c.login(&mut d, "ADMIN", "ADMIN", 0x14).unwrap();
    c.call(&mut d, 6, 0x3B, &[4]);
    assert_eq!(c.call(&mut d, 0, 0x01, &[]).1[0] & 1, 1, "on at start");
    assert_eq!(c.call(&mut d, 0, 0x02, &[0]).0, 0);
    assert_eq!(c.call(&mut d, 0, 0x01, &[]).1[0] & 1, 0, "off after power down");
    assert_eq!(c.call(&mut d, 0, 0x02, &[1]).0, 0);
    assert_eq!(c.call(&mut d, 0, 0x01, &[]).1[0] & 1, 1);

    // Another source, a USER, sees the state but may not change it.
    let (mut d2, _) = Driver::open(&svc, from(41000), t0());
    let mut u = Console::new((3, 4, 1));
    u.login(&mut d2, "reader", "read-only", 0x12).unwrap();
    assert_eq!(u.call(&mut d2, 6, 0x3B, &[2]), (0, vec![2]));
    assert_eq!(u.call(&mut d2, 6, 0x3B, &[4]).0, 0x80, "above the user's limit");
    assert_eq!(u.call(&mut d2, 0, 0x02, &[0]).0, 0xD4);
    assert_eq!(u.call(&mut d2, 0, 0x01, &[]).1[0] & 1, 1);
    assert_eq!(u.call(&mut d2, 0x30, 0x01, &[]).0, 0xC1, "unknown command");
    assert_eq!(u.call(&mut d2, 6, 0x02, &[]).0, 0xD4, "a USER may not reset the BMC");
    let req = c.request(6, 0x02, &[]);
    let s = d.input(&req, t0());
    assert_eq!(c.answer(&s.datagrams[0]).0, 0);
    assert_eq!(s.event("ipmi.bmc_reset").unwrap().body.data["kind"], "cold");
}

#[test]
fn wrong_password_unknown_and_disabled_users_are_refused_and_logged() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 623, t0());
    let s = Console::new((1, 1, 1))
        .login(&mut d, "ADMIN", "guess", 0x14)
        .unwrap_err();
    // Our console sends RAKP3 with an error status, as the specification asks.
    let e = s.event("auth.attempt").unwrap();
    assert_eq!(
        (e.body.data["success"].clone(), e.body.data["reason"].clone()),
        (false.into(), "bad_password".into())
    );
    assert_eq!(e.body.data["method"], "rakp-hmac-sha1");

    let s = Console::new((1, 1, 1)).login(&mut d, "nobody", "x", 0x14).unwrap_err();
    assert_eq!(v20_payload(&s.datagrams[0])[1], 0x0D, "unauthorized name");
    assert_eq!(s.event("auth.attempt").unwrap().body.data["reason"], "unknown_user");

    let s = Console::new((1, 1, 1)).login(&mut d, "old", "old", 0x14).unwrap_err();
    assert_eq!(s.event("auth.attempt").unwrap().body.data["reason"], "disabled");

    let s = Console::new((1, 1, 1))
        .login(&mut d, "reader", "read-only", 0x14)
        .unwrap_err();
    assert_eq!(v20_payload(&s.datagrams[0])[1], 0x0A, "role above the user's limit");
}

#[test]
fn a_console_that_stops_after_rakp2_is_logged_with_the_code_it_got() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 623, t0());
    let c = Console::new((1, 1, 1));
    let open = d.input(&c.open_request(0), t0());
    let bmc_id = &v20_payload(&open.datagrams[0])[8..12];
    let mut r1 = vec![0, 0, 0, 0];
    r1.extend(bmc_id);
    r1.extend([7u8; 16]);
    r1.extend([0x14, 0, 0, 5]);
    r1.extend(b"ADMIN");
    let s = d.input(&clear_v20(rmcp::PAYLOAD_RAKP1, &r1), t0());
    let code = hex::encode(&v20_payload(&s.datagrams[0])[40..]);
    assert!(s.event("auth.attempt").is_none(), "not yet");
    let later = d.advance(t0() + Duration::from_secs(5));
    let e = later.event("auth.attempt").unwrap();
    assert_eq!(e.body.data["reason"], "no_rakp3");
    assert_eq!(e.body.data["hash"], code.as_str(), "the hash a dumping tool captured");
}

#[test]
fn cipher_zero_is_refused_and_logged() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 623, t0());
    // What nmap's ipmi-cipher-zero sends: Open Session with algorithms 0/0/0.
    let s = d.input(&Console::new((0, 0, 0)).open_request(4), t0());
    let p = v20_payload(&s.datagrams[0]);
    assert_eq!(p[1], 0x11, "no cipher suite match");
    assert_eq!(p.len(), 12);
    assert_eq!(s.event("ipmi.cipher_zero").unwrap().body.data["attack"], "cipher_zero");
}

fn v15(auth: u8, seq: u32, sid: u32, code: Option<&[u8; 16]>, msg: &[u8]) -> Vec<u8> {
    rmcp::wrap_v15(auth, seq, sid, code, msg)
}

#[test]
fn ipmi15_md5_session_with_per_message_authcodes() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 623, t0());
    let mut name = b"ADMIN".to_vec();
    name.resize(16, 0);
    let mut data = vec![rmcp::AUTH_MD5];
    data.extend(&name);
    let s = d.input(&v15(0, 0, 0, None, &encode_request(6, 0x39, 1, &data)), t0());
    let m = v15_message(&s.datagrams[0]);
    assert_eq!(m[6], 0);
    let temp = u32::from_le_bytes(m[7..11].try_into().unwrap());
    let challenge = &m[11..27];
    let mut act = vec![rmcp::AUTH_MD5, 4];
    act.extend(challenge);
    act.extend(0x1234u32.to_le_bytes());
    let msg = encode_request(6, 0x3A, 2, &act);
    let code = md5_authcode("ADMIN", temp, &msg, 0);
    let s = d.input(&v15(rmcp::AUTH_MD5, 0, temp, Some(&code), &msg), t0());
    assert_eq!(s.event("auth.attempt").unwrap().body.data["method"], "ipmi15-md5");
    let d0 = &s.datagrams[0];
    let m = &d0[30..30 + usize::from(d0[29])];
    assert_eq!(m[6], 0, "activated");
    let sid = u32::from_le_bytes(m[8..12].try_into().unwrap());
    let inbound = u32::from_le_bytes(m[12..16].try_into().unwrap());
    let msg = encode_request(0, 0x01, 3, &[]);
    let code = md5_authcode("ADMIN", sid, &msg, inbound);
    let s = d.input(&v15(rmcp::AUTH_MD5, inbound, sid, Some(&code), &msg), t0());
    let d0 = &s.datagrams[0];
    let m = &d0[30..30 + usize::from(d0[29])];
    assert_eq!(&m[6..8], &[0, 0x21], "power on, restore policy previous");
    let seq = u32::from_le_bytes(d0[5..9].try_into().unwrap());
    assert_eq!(seq, 0x1234, "our sequence starts where the console asked");
    assert_eq!(d0[13..29], md5_authcode("ADMIN", sid, m, seq), "our AuthCode");

    // A wrong AuthCode is discarded as a real BMC does.
    let s = d.input(&v15(rmcp::AUTH_MD5, inbound + 1, sid, Some(&[0; 16]), &msg), t0());
    assert!(s.datagrams.is_empty());
    assert_eq!(s.types(), ["ipmi.bad_authcode"]);
}

#[test]
fn sessionless_requests_from_one_source_leave_others_served() {
    let svc = service();
    let (mut a, _) = Driver::open(&svc, from(40001), t0());
    let (mut b, _) = Driver::open(&svc, from(40002), t0());
    // A session-less command that needs a session: ignored, nothing kept.
    let s = a.input(&v15(0, 0, 0, None, &encode_request(0, 0x01, 1, &[])), t0());
    assert!(s.datagrams.is_empty());
    let s = a.input(
        &hex::decode("0600ff07000000000000000000092018c88100388e04b5").unwrap(),
        t0(),
    );
    assert_eq!(s.datagrams.len(), 1);
    let mut c = Console::new((3, 4, 1));
    c.login(&mut b, "ADMIN", "ADMIN", 0x14).unwrap();
    assert_eq!(c.call(&mut b, 0, 0x01, &[]).0, 0);
}

#[test]
fn sessions_per_source_are_bounded_and_expire() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 623, t0());
    let c = Console::new((1, 1, 1));
    for _ in 0..10 {
        let s = d.input(&c.open_request(0), t0());
        assert_eq!(v20_payload(&s.datagrams[0])[1], 0);
    }
    assert_eq!(svc.bmc().sessions(), 4, "the source's oldest handshakes made room");
    d.advance(t0() + Duration::from_secs(10));
    assert_eq!(svc.bmc().sessions(), 0, "handshakes that went nowhere expired");
}

#[test]
fn users_can_be_named_keyed_tested_and_enabled() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 623, t0());
    let mut c = Console::new((1, 1, 1));
    c.login(&mut d, "ADMIN", "ADMIN", 0x14).unwrap();
    c.call(&mut d, 6, 0x3B, &[4]);
    let mut name = b"eve".to_vec();
    name.resize(16, 0);
    assert_eq!(c.call(&mut d, 6, 0x45, &[[7].as_slice(), &name].concat()).0, 0);
    let mut pw = b"s3cret".to_vec();
    pw.resize(16, 0);
    assert_eq!(c.call(&mut d, 6, 0x47, &[[7, 2].as_slice(), &pw].concat()).0, 0);
    assert_eq!(
        c.call(&mut d, 6, 0x47, &[[7, 3].as_slice(), &pw].concat()).0,
        0,
        "test matches"
    );
    let mut wrong = b"nope".to_vec();
    wrong.resize(16, 0);
    assert_eq!(c.call(&mut d, 6, 0x47, &[[7, 3].as_slice(), &wrong].concat()).0, 0x80);
    assert_eq!(c.call(&mut d, 6, 0x47, &[7, 1]).0, 0, "enable");
    let (cc, name_back) = c.call(&mut d, 6, 0x46, &[7]);
    assert_eq!((cc, &name_back[..3]), (0, &b"eve"[..]));
    let (_, access) = c.call(&mut d, 6, 0x44, &[1, 7]);
    assert_eq!(access[1] & 0xC0, 0x40, "enabled");
    assert_eq!(
        c.call(&mut d, 6, 0x45, &[[2].as_slice(), &name].concat()).0,
        0xCC,
        "name taken"
    );

    let (mut d2, _) = Driver::open(&svc, from(40100), t0());
    let mut e = Console::new((1, 1, 1));
    let s = e.login(&mut d2, "eve", "s3cret", 0x12).unwrap();
    assert_eq!(s.event("auth.attempt").unwrap().body.data["success"], true);
}

#[test]
fn sdr_sel_and_sensor_readings() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 623, t0());
    let mut c = Console::new((1, 1, 1));
    c.login(&mut d, "ADMIN", "ADMIN", 0x14).unwrap();
    let (cc, info) = c.call(&mut d, 0x0A, 0x20, &[]);
    assert_eq!((cc, info[0]), (0, 0x51));
    let count = u16::from_le_bytes([info[1], info[2]]);
    let (_, res) = c.call(&mut d, 0x0A, 0x22, &[]);
    let mut id = 0u16;
    let mut seen = 0;
    while id != 0xFFFF {
        let mut req = res.clone();
        req.extend(id.to_le_bytes());
        req.extend([0, 0xFF]);
        let (cc, rec) = c.call(&mut d, 0x0A, 0x23, &req);
        assert_eq!(cc, 0);
        id = u16::from_le_bytes([rec[0], rec[1]]);
        let number = rec[2 + 7];
        let (cc, reading) = c.call(&mut d, 0x04, 0x2D, &[number]);
        assert_eq!((cc, reading.len()), (0, 4));
        seen += 1;
    }
    assert_eq!(seen, count);
    let (cc, sel) = c.call(&mut d, 0x0A, 0x40, &[]);
    assert_eq!((cc, sel[1]), (0, 2), "log cleared, system boot");
    assert_eq!(c.call(&mut d, 0x04, 0x2D, &[0xEE]).0, 0xCB);
}

/// An IPMI 1.5 activation with `auth` (MD2, or none when the template offers it).
fn activate15(svc: &IpmiService, auth: u8, password: &str) -> Step {
    let (mut d, _) = Driver::udp(svc, 623, t0());
    let mut data = vec![auth];
    let mut name = b"ADMIN".to_vec();
    name.resize(16, 0);
    data.extend(&name);
    let s = d.input(&v15(0, 0, 0, None, &encode_request(6, 0x39, 1, &data)), t0());
    let m = v15_message(&s.datagrams[0]);
    assert_eq!(m[6], 0, "challenge for type {auth}");
    let temp = u32::from_le_bytes(m[7..11].try_into().unwrap());
    let mut act = vec![auth, 4];
    act.extend(&m[11..27]);
    act.extend(1u32.to_le_bytes());
    let msg = encode_request(6, 0x3A, 2, &act);
    let code = conpot_ipmi::crypto::md2_authcode(password, temp, &msg, 0);
    let code = (auth != rmcp::AUTH_NONE).then_some(code);
    d.input(&v15(auth, 0, temp, code.as_ref(), &msg), t0())
}

#[test]
fn ipmi15_md2_and_none() {
    let svc = service();
    let s = activate15(&svc, rmcp::AUTH_MD2, "ADMIN");
    let e = s.event("auth.attempt").unwrap();
    assert_eq!(
        (e.body.data["method"].clone(), e.body.data["success"].clone()),
        ("ipmi15-md2".into(), true.into())
    );
    let s = activate15(&svc, rmcp::AUTH_MD2, "wrong");
    assert!(s.datagrams.is_empty(), "a wrong AuthCode is discarded");
    assert_eq!(s.event("auth.attempt").unwrap().body.data["reason"], "bad_password");

    // None is offered only when the template says so.
    let (mut d, _) = Driver::udp(&svc, 623, t0());
    let mut data = vec![rmcp::AUTH_NONE];
    data.extend([0u8; 16]);
    let s = d.input(&v15(0, 0, 0, None, &encode_request(6, 0x39, 1, &data)), t0());
    assert_eq!(v15_message(&s.datagrams[0])[6], 0xCC);
    let text = TEMPLATE.replace(
        "firmware = \"1.73\"",
        "firmware = \"1.73\"\nauth_types = [\"none\", \"md5\"]",
    );
    let (device, section) = device_and_section(&text, "ipmi").unwrap();
    let open = IpmiService::build(&section, &device).unwrap();
    let s = activate15(&open, rmcp::AUTH_NONE, "anything");
    let e = s.event("auth.attempt").unwrap();
    assert_eq!(
        (e.body.data["method"].clone(), e.body.data["success"].clone()),
        ("ipmi15-none".into(), true.into())
    );
}
