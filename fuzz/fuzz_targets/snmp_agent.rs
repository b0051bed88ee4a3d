//! Arbitrary datagrams through the SNMP agent (community, USM, every PDU type).
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_snmp::SnmpService;
use libfuzzer_sys::fuzz_target;

const DEFAULT: &str = include_str!("../../templates/default/template.toml");

fn service() -> &'static SnmpService {
    static S: OnceLock<SnmpService> = OnceLock::new();
    S.get_or_init(|| {
        let t = conpot_core::template::Template::from_toml("default", DEFAULT).unwrap();
        let p = t.persona.generate("default", 0);
        let d = conpot_core::Device::build(&t, p, SystemTime::UNIX_EPOCH, &mut conpot_core::rng::Rng::from_seed(0)).unwrap();
        SnmpService::build(&t.protocols["snmp"], &d).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let limit = data.len() * 8 + 64;
    let (reply, _) = service().agent().handle(data, SystemTime::UNIX_EPOCH, limit);
    if let Some(r) = reply {
        assert!(r.len() <= limit);
    }
});
