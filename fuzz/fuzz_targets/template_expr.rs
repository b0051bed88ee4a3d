//! Arbitrary text through the template expression parser (it reads Conpot templates).
#![no_main]

use conpot_core::expr::Expr;
use conpot_core::rng::Rng;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(e) = Expr::parse(text)
    {
        let _ = e.eval(&mut Rng::from_seed(0));
    }
});
