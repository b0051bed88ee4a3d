//! Hostile datagrams: the device neither panics nor answers beyond the amplification cap,
//! and the tag codec reads back what it writes.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::SystemTime;

use conpot_bacnet::BacnetService;
use conpot_bacnet::tag::{Value, put_value, read_app_value};
use conpot_core::drive::Driver;
use conpot_core::wire::Reader;
use proptest::prelude::*;

fn service() -> BacnetService {
    let dir = conpot_testkit::conpot_templates().join("default");
    let template = conpot_core::template::Template::load_dir(&dir).unwrap();
    let device = conpot_core::drive::device_of(&template).unwrap();
    let section = template.protocols.get("bacnet").unwrap().clone();
    BacnetService::build(&section, &device).unwrap()
}

fn datagram(function: u8, npdu: &[u8], apdu: &[u8]) -> Vec<u8> {
    let mut d = vec![0x81, function, 0, 0];
    d.extend(npdu);
    d.extend(apdu);
    let len = (d.len() as u16).to_be_bytes();
    d[2..4].copy_from_slice(&len);
    d
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u32>().prop_map(|u| Value::Unsigned(u64::from(u))),
        any::<i32>().prop_map(|i| Value::Signed(i64::from(i))),
        any::<u32>().prop_map(|b| Value::Real(f32::from_bits(b & 0x7F7F_FFFF))),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::Octets),
        "[a-zA-Z0-9 ]{0,300}".prop_map(Value::Text),
        proptest::collection::vec(any::<bool>(), 0..70).prop_map(Value::Bits),
        any::<u32>().prop_map(Value::Enum),
        (0u16..1024, 0u32..0x40_0000).prop_map(|(t, i)| Value::ObjectId(t, i)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_apdus_are_safe_and_within_the_cap(
        function in prop_oneof![Just(0x0Au8), Just(0x0B), Just(0x04), any::<u8>()],
        control in any::<u8>(),
        apdu in proptest::collection::vec(any::<u8>(), 0..80),
        factor in 1usize..10,
    ) {
        let svc = service();
        let now = SystemTime::UNIX_EPOCH;
        let (mut d, _) = Driver::udp(&svc, 47808, now);
        let dg = datagram(function, &[0x01, control], &apdu);
        d.reply_limit = (dg.len() * factor).max(64);
        let s = d.input(&dg, now);
        prop_assert!(s.bytes.len() <= d.reply_limit);
    }

    #[test]
    fn tagged_values_round_trip(v in value()) {
        let mut b = Vec::new();
        put_value(&mut b, &v);
        prop_assert_eq!(read_app_value(&mut Reader::new(&b)).unwrap(), v);
    }
}
