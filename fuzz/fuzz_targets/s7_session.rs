//! Arbitrary bytes through an S7 session, raw and after a valid COTP connect and setup.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::protocol::{Output, StreamService};
use conpot_s7::S7Service;
use libfuzzer_sys::fuzz_target;

const DEFAULT: &str = include_str!("../../templates/default/template.toml");
const HANDSHAKE: &str = "0300001611e00000001400c1020100c2020102c0010a0300001902f08032010000000000080000f0000001000101e0";

fn service() -> &'static S7Service {
    static SVC: OnceLock<S7Service> = OnceLock::new();
    SVC.get_or_init(|| {
        let t = conpot_core::template::Template::from_toml("default", DEFAULT).unwrap();
        let p = t.persona.generate("default", 0);
        let d = conpot_core::Device::build(&t, p, SystemTime::UNIX_EPOCH, &mut conpot_core::rng::Rng::from_seed(0)).unwrap();
        S7Service::build(&t.protocols["s7comm"], &d).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let a = "127.0.0.1:1".parse().unwrap();
    let pre = conpot_core::hex::decode(HANDSHAKE).unwrap();
    let with_handshake = data.first().is_some_and(|b| b & 1 == 1);
    let mut s = service().new_session(a, a);
    let mut out = Output::default();
    let prefix: &[u8] = if with_handshake { &pre } else { &[] };
    for chunk in [prefix, data] {
        let mut used = 0;
        while used < chunk.len() && !out.close {
            let n = s.on_data(&chunk[used..], SystemTime::UNIX_EPOCH, &mut out);
            assert!(n <= chunk.len() - used);
            used += n;
            if n == 0 {
                break;
            }
        }
    }
    s.on_eof(&[], SystemTime::UNIX_EPOCH, &mut out);
});
