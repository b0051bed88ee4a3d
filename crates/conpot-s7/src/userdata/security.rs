//! Security (group 5): the password a client sends to lift the protection level, checked
//! by the device's central authentication, and its removal. Every attempt is one
//! `auth.attempt` event with the password tried.

use conpot_core::wire::{Reader, WireResult};

use super::Answer;
use crate::context::Ctx;

/// Subfunction: set (send) the password.
const PASSWORD: u8 = 1;
/// Subfunction: clear the password.
const CLEAR: u8 = 2;
/// Userdata error: the password is wrong.
const UD_ERR_PASSWORD: u16 = 0xD602;

/// Handles group 5 subfunction `sub`; `None` if it is not served.
pub(super) fn handle(cx: &mut Ctx<'_>, sub: u8, payload: &[u8]) -> WireResult<Option<Answer>> {
    Ok(Some(match sub {
        PASSWORD => {
            let tried = decode_password(&Reader::new(payload).array::<8>()?);
            let decision = cx.dev.auth.check_password_only(
                crate::device::PROTOCOL,
                tried.trim_end().as_bytes(),
                cx.conn.peer,
                cx.now,
            );
            let ok = decision.success();
            if let Some(p) = decision.privilege() {
                cx.conn.privilege = Some(p);
            }
            let mut d = decision.event;
            d.body.raw = Some(cx.raw.to_vec());
            cx.log(d);
            Answer::silent(if ok { Ok(Vec::new()) } else { Err(UD_ERR_PASSWORD) })
        }
        CLEAR => {
            cx.conn.privilege = None;
            Answer::logged("s7.password_clear", Ok(Vec::new()))
        }
        _ => return Ok(None),
    }))
}

/// Decodes the 8-byte scrambled password of the security function.
fn decode_password(enc: &[u8; 8]) -> String {
    let mut p = [0u8; 8];
    // Each byte is XORed with 0x55, and from the third on with the scrambled byte two
    // places before it.
    let two_before = [0u8; 2].iter().chain(enc);
    for (slot, (&e, &before)) in p.iter_mut().zip(enc.iter().zip(two_before)) {
        *slot = e ^ 0x55 ^ before;
    }
    String::from_utf8_lossy(&p).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_scrambling() {
        // The scrambling a client applies to "secret  ".
        let plain = b"secret  ";
        let mut enc = [0u8; 8];
        for i in 0..8 {
            enc[i] = if i < 2 {
                plain[i] ^ 0x55
            } else {
                plain[i] ^ 0x55 ^ enc[i - 2]
            };
        }
        assert_eq!(decode_password(&enc), "secret  ");
        assert!(Reader::new(&enc[..7]).array::<8>().is_err());
    }
}
