//! Conpot's view of an SNMP request is built only while a sink reads it. A test binary of
//! its own: the switch is process-wide, and the other tests expect it on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::SystemTime;

use conpot_core::Device;
use conpot_snmp::SnmpService;
use conpot_snmp::message::{self, Pdu, SnmpValue, VarBind, pdu_tag};

const DEFAULT: &str = include_str!("../../../templates/default/template.toml");

/// The drafts of one v2c GET of sysDescr.0.
fn get_sys_descr(svc: &SnmpService) -> Vec<conpot_core::event::EventDraft> {
    let pdu = Pdu {
        kind: pdu_tag::GET,
        request_id: 9,
        error_status: 0,
        error_index: 0,
        varbinds: vec![VarBind {
            oid: message::parse_oid("1.3.6.1.2.1.1.1.0").unwrap(),
            value: SnmpValue::Null,
        }],
        dropped_varbinds: 0,
    };
    let bytes = message::encode_community(1, b"public", &pdu);
    let (reply, events) = svc.agent().handle(&bytes, SystemTime::now(), 65_000);
    assert!(reply.is_some());
    events
}

#[test]
fn the_conpot_view_is_built_only_while_a_sink_reads_it() {
    let t = conpot_core::template::Template::from_toml("default", DEFAULT).unwrap();
    let p = t.persona.generate("default", 4);
    let d = Device::build(&t, p, SystemTime::now(), &mut conpot_core::rng::Rng::from_seed(4)).unwrap();
    let svc = SnmpService::build(&t.protocols["snmp"], &d).unwrap();

    let on = get_sys_descr(&svc);
    let view = on[0].body.conpot.as_ref().expect("built by default");
    assert_eq!(view.event_type.as_deref(), Some("SNMPv2 Get"));
    assert_eq!(view.request["oid"], "1.3.6.1.2.1.1.1.0");

    conpot_core::event::set_conpot_view_wanted(false);
    let off = get_sys_descr(&svc);
    assert_eq!(off[0].event_type, "snmp.request");
    assert!(off[0].body.conpot.is_none());
    // The native body is the same either way.
    assert_eq!(off[0].body.request, on[0].body.request);
    assert_eq!(off[0].body.response, on[0].body.response);

    conpot_core::event::set_conpot_view_wanted(true);
    assert!(get_sys_descr(&svc)[0].body.conpot.is_some());
}
