//! Jobs (ROSCTR 1), one file per function group: `setup` (Setup Communication),
//! `read_write` (Read Var / Write Var), `control` (start, stop and the other PI
//! services), `blocks` (upload and download, with the client's answers to the CPU's own
//! download jobs).

mod blocks;
mod control;
pub(crate) mod read_write;
pub(crate) mod setup;

pub(crate) use blocks::{Download, Upload, answer};

use serde_json::json;

use crate::context::{Ctx, ERR_CONTEXT};

/// Job function codes (the first byte of the parameter part).
pub(crate) mod function {
    /// Read Var.
    pub const READ_VAR: u8 = 0x04;
    /// Write Var.
    pub const WRITE_VAR: u8 = 0x05;
    /// Request Download.
    pub const REQUEST_DOWNLOAD: u8 = 0x1A;
    /// Download Block (sent by the CPU).
    pub const DOWNLOAD_BLOCK: u8 = 0x1B;
    /// Download Ended (sent by the CPU).
    pub const DOWNLOAD_ENDED: u8 = 0x1C;
    /// Start Upload.
    pub const START_UPLOAD: u8 = 0x1D;
    /// Upload.
    pub const UPLOAD: u8 = 0x1E;
    /// End Upload.
    pub const END_UPLOAD: u8 = 0x1F;
    /// PI service (PLC control: start, compress, copy RAM to ROM...).
    pub const PI_SERVICE: u8 = 0x28;
    /// PLC Stop.
    pub const PLC_STOP: u8 = 0x29;
    /// Setup Communication.
    pub const SETUP: u8 = 0xF0;
}

/// Handles a job with parameter part `param` and data part `data`.
pub(crate) fn handle(cx: &mut Ctx<'_>, param: &[u8], data: &[u8]) {
    let Some(&f) = param.first() else {
        cx.reply_error(ERR_CONTEXT);
        return cx.malformed("job without a function code".into());
    };
    match f {
        function::SETUP => setup::handle(cx, param),
        function::READ_VAR => read_write::read_var(cx, param),
        function::WRITE_VAR => read_write::write_var(cx, param, data),
        function::PI_SERVICE | function::PLC_STOP => control::handle(cx, f, param),
        function::START_UPLOAD => blocks::start_upload(cx, param),
        function::UPLOAD | function::END_UPLOAD => blocks::upload_step(cx, f, param),
        function::REQUEST_DOWNLOAD => blocks::request_download(cx, param),
        other => {
            cx.reply_error(ERR_CONTEXT);
            let mut d = cx.event("s7.unsupported");
            d.body.request = Some(json!({"function": other}));
            d.body.error = Some(format!("job function {other:#04x} not supported"));
            cx.log(d);
        }
    }
}
