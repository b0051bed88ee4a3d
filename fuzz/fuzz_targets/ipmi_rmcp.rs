//! The RMCP/IPMI codec alone: decoding any datagram and any IPMI message never panics,
//! and a decoded request's response re-encodes with valid checksums.
#![no_main]

use conpot_ipmi::rmcp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rmcp::decode(data);
    if let Ok(req) = rmcp::decode_request(data) {
        let rsp = rmcp::encode_response(&req, 0, req.data);
        assert_eq!(rmcp::checksum(&rsp[..3]), 0);
        assert_eq!(rmcp::checksum(&rsp[3..]), 0);
    }
});
