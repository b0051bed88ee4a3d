//! PLC control: stop (0x29) and the PI services of 0x28 (hot and cold start, compress,
//! copy RAM to ROM, insert and delete blocks).

use conpot_core::wire::{Reader, WireResult};
use serde_json::json;

use super::function;
use crate::context::{Ctx, ERR_CONTEXT, ERR_PROTECTED};

/// Unknown bytes between the function and the parameter block of a PI service.
const PI_SERVICE_FILL: usize = 7;
/// Unknown bytes between the function and the service name of a PLC stop.
const PLC_STOP_FILL: usize = 5;

/// A PI service request: its name and arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct PiService {
    name: String,
    args: Vec<String>,
}

/// Reads a length-prefixed string (one length byte).
fn short_string(r: &mut Reader<'_>) -> WireResult<String> {
    let len = usize::from(r.u8()?);
    Ok(String::from_utf8_lossy(r.take(len)?).into_owned())
}

/// Parses the parameter of a PI service (function, 7 unknown bytes, the length of the
/// argument block, the arguments, then the service name) or of a PLC stop (function,
/// 5 unknown bytes, the service name).
fn parse(function: u8, param: &[u8]) -> WireResult<PiService> {
    let mut r = Reader::new(param);
    r.skip(1)?;
    if function == function::PLC_STOP {
        r.skip(PLC_STOP_FILL)?;
        return Ok(PiService {
            name: short_string(&mut r)?,
            args: Vec::new(),
        });
    }
    r.skip(PI_SERVICE_FILL)?;
    let plen = usize::from(r.u16_be()?);
    let args = String::from_utf8_lossy(r.take(plen)?).into_owned();
    Ok(PiService {
        name: short_string(&mut r)?,
        args: if args.is_empty() { Vec::new() } else { vec![args] },
    })
}

/// What a PI service does.
fn action(function: u8, pi: &PiService) -> &'static str {
    match (function, pi.name.as_str()) {
        (function::PLC_STOP, _) => "stop",
        (function::PI_SERVICE, "P_PROGRAM") if pi.args.iter().any(|a| a.starts_with('C')) => "cold_start",
        (function::PI_SERVICE, "P_PROGRAM") => "hot_start",
        (function::PI_SERVICE, "_GARB") => "compress",
        (function::PI_SERVICE, "_MODU") => "copy_ram_to_rom",
        (function::PI_SERVICE, "_DELE") => "delete_block",
        (function::PI_SERVICE, "_INSE") => "insert_block",
        _ => "unknown",
    }
}

/// Answers a PLC stop or PI service; stop and start change the mode every connection
/// and protocol sees.
pub(super) fn handle(cx: &mut Ctx<'_>, function: u8, param: &[u8]) {
    let (pi, malformed) = match parse(function, param) {
        Ok(pi) => (pi, None),
        Err(e) => (PiService::default(), Some(e)),
    };
    let action = if malformed.is_some() {
        "unknown"
    } else {
        action(function, &pi)
    };
    let mut d = cx.event("s7.plc_control");
    d.body.request = Some(json!({"service": pi.name, "action": action, "arguments": pi.args}));
    if let Some(e) = malformed {
        d.body.error = Some(format!("malformed PI service: {e}"));
    }
    let err = if cx.protected_write() {
        Some(ERR_PROTECTED)
    } else {
        match action {
            "stop" => {
                cx.dev.set_running(false, cx.now);
                None
            }
            "hot_start" | "cold_start" => {
                cx.dev.set_running(true, cx.now);
                None
            }
            "unknown" => Some(ERR_CONTEXT),
            _ => None,
        }
    };
    match err {
        Some(e) => cx.reply_error(e),
        None => cx.reply(0, |w| w.put_u8(function), crate::wire::empty),
    }
    d.body.response = Some(json!({"ok": err.is_none(), "run": cx.dev.running(cx.now)}));
    cx.log(d);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn services_and_their_arguments() {
        let stop = crate::hex("29000000000009505f50524f4752414d");
        let pi = parse(function::PLC_STOP, &stop).unwrap();
        assert_eq!(
            (pi.name.as_str(), action(function::PLC_STOP, &pi)),
            ("P_PROGRAM", "stop")
        );
        let cold = crate::hex(
            "28000000000000fd000243200 9505f50524f4752414d"
                .replace(' ', "")
                .as_str(),
        );
        let pi = parse(function::PI_SERVICE, &cold).unwrap();
        assert_eq!(pi.args, ["C "]);
        assert_eq!(action(function::PI_SERVICE, &pi), "cold_start");
        for cut in 0..stop.len() {
            assert!(parse(function::PLC_STOP, &stop[..cut]).is_err(), "cut at {cut}");
        }
        for cut in 0..cold.len() {
            assert!(parse(function::PI_SERVICE, &cold[..cut]).is_err(), "cut at {cut}");
        }
    }
}
