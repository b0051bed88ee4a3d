//! Arbitrary bytes through the BER message decoder; what decodes re-encodes.
#![no_main]

use conpot_snmp::message::{Message, encode_community};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Message::Community { version, community, pdu }) = Message::decode(data) {
        let again = encode_community(version, &community, &pdu);
        assert!(Message::decode(&again).is_ok());
    }
});
