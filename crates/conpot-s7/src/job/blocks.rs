//! Block transfers: upload (0x1D start, 0x1E data, 0x1F end) returns a block's MC7 image;
//! download (0x1A) is accepted, then the CPU asks for the data with its own 0x1B jobs and
//! ends with 0x1C; the block joins the list and its bytes are a captured file.

use conpot_core::protocol::Capture;
use conpot_core::wire::{Reader, WireResult, Writer};
use serde_json::json;

use super::function;
use crate::blocks::{self, Block};
use crate::context::{Ctx, ERR_CONTEXT, ERR_NO_BLOCK, ERR_PROTECTED};
use crate::memory::Area;
use crate::wire::{self, rosctr};

/// Header error: the download is refused (no room for another block, a bad address).
const ERR_DOWNLOAD: u16 = 0xD20E;
/// Bytes before the file name of an upload or download request: function, status, two
/// unknown bytes, the upload id.
const FILE_PREFIX: usize = 8;
/// Bytes before the upload id of an upload step: function, status, two unknown bytes.
const STEP_PREFIX: usize = 4;
/// The mark between the length and the bytes of a block data part.
const BLOCK_DATA_MARK: [u8; 2] = [0x00, 0xFB];
/// Bytes of an MC7 block header, before its code.
const MC7_HEADER_LEN: usize = 36;
/// Offset of the language in an MC7 block header.
const MC7_LANG: usize = 4;
/// Language taken for a downloaded image too short for a header (STL).
const DEFAULT_LANG: u8 = 1;

/// An upload in progress.
#[derive(Debug)]
pub(crate) struct Upload {
    id: u8,
    name: String,
    image: Vec<u8>,
    pos: usize,
}

/// A download in progress.
#[derive(Debug)]
pub(crate) struct Download {
    kind: u8,
    number: u16,
    name: String,
    data: Vec<u8>,
    received: usize,
    address: Vec<u8>,
}

/// Parses a block address `_0TNNNNNX`: a type byte and five ASCII digits.
fn parse_block_address(a: &[u8]) -> Option<(u8, u16)> {
    let mut r = Reader::new(a);
    r.skip(2).ok()?;
    let kind = r.u8().ok()?;
    let number = std::str::from_utf8(r.take(5).ok()?).ok()?.parse::<u16>().ok()?;
    blocks::TYPES.iter().any(|(c, _)| *c == kind).then_some((kind, number))
}

/// The file name (block address) of an upload or download request, and the reader
/// after it.
fn file_name(param: &[u8]) -> WireResult<(&[u8], Reader<'_>)> {
    let mut r = Reader::new(param);
    r.skip(FILE_PREFIX)?;
    let len = usize::from(r.u8()?);
    Ok((r.take(len)?, r))
}

/// Answers Start Upload: the block's size, and an upload id for the steps.
pub(super) fn start_upload(cx: &mut Ctx<'_>, param: &[u8]) {
    let mut d = cx.event("s7.upload");
    let addr = match file_name(param) {
        Ok((addr, _)) => addr,
        Err(e) => {
            d.body.request = Some(json!({"phase": "start", "block": ""}));
            d.body.error = Some(format!("malformed upload request: {e}"));
            cx.reply_error(ERR_CONTEXT);
            return cx.log(d);
        }
    };
    let name = String::from_utf8_lossy(addr).into_owned();
    let found = parse_block_address(addr).and_then(|(kind, number)| {
        let blocks = cx.dev.blocks.read().ok()?;
        blocks.iter().find(|b| b.kind == kind && b.number == number).cloned()
    });
    match found.filter(|_| !cx.protected_read()) {
        Some(block) => {
            let image = if block.kind == blocks::KIND_DB {
                db_image(cx, &block)
            } else {
                block.image()
            };
            let id = cx.conn.ud_seq.wrapping_add(7).max(1);
            let size = format!("{:07}", image.len().min(9_999_999));
            d.body.response = Some(json!({"block": name, "size": image.len()}));
            cx.conn.upload = Some(Upload {
                id,
                name: name.clone(),
                image,
                pos: 0,
            });
            cx.reply(
                0,
                |w| {
                    // Function, status, two unknown bytes, then the upload id.
                    w.put_bytes(&[function::START_UPLOAD, 0x00, 0x01, 0x00])?;
                    w.put_u32_be(u32::from(id))?;
                    let len = w.reserve_u8()?;
                    w.put_bytes(size.as_bytes())?;
                    w.patch_len(len).map(drop)
                },
                wire::empty,
            );
        }
        None => {
            d.body.error = Some(format!("block {name:?} not found"));
            cx.reply_error(ERR_NO_BLOCK);
        }
    }
    d.body.request = Some(json!({"phase": "start", "block": name}));
    cx.log(d);
}

/// The image of a DB with its current memory as the code.
fn db_image(cx: &Ctx<'_>, block: &Block) -> Vec<u8> {
    let mut b = block.clone();
    let memory = &cx.dev.config.memory;
    if let Some(size) = memory.areas.get(&Area::Db(block.number)).map(|m| m.size)
        && let Ok(bytes) = memory.read(&cx.dev.databus, Area::Db(block.number), 0, size, cx.now)
    {
        b.code = bytes;
    }
    b.image()
}

/// Answers Upload (the next part of the image) or End Upload.
pub(super) fn upload_step(cx: &mut Ctx<'_>, f: u8, param: &[u8]) {
    let mut r = Reader::new(param);
    let id = r.skip(STEP_PREFIX).and_then(|()| r.u32_be()).ok();
    let mut d = cx.event("s7.upload");
    let valid = cx.conn.upload.as_ref().is_some_and(|u| Some(u32::from(u.id)) == id);
    if !valid {
        d.body.error = Some("no upload in progress with that id".into());
        cx.reply_error(ERR_CONTEXT);
        return cx.log(d);
    }
    if f == function::END_UPLOAD {
        if let Some(u) = cx.conn.upload.take() {
            d.body.request = Some(json!({"phase": "end", "block": u.name, "sent": u.pos}));
        }
        cx.reply(0, |w| w.put_u8(function::END_UPLOAD), wire::empty);
        return cx.log(d);
    }
    // What a part may carry: the PDU less the header, the parameter (function, more
    // follows) and the data header (length, mark).
    let overhead = wire::header::ACK_LEN + 2 + 2 + BLOCK_DATA_MARK.len();
    let room = usize::from(cx.conn.pdu_size).saturating_sub(overhead).max(16);
    let Some(u) = cx.conn.upload.as_mut() else {
        return;
    };
    let chunk = u
        .image
        .get(u.pos..(u.pos + room).min(u.image.len()))
        .unwrap_or_default()
        .to_vec();
    u.pos += chunk.len();
    let more = u.pos < u.image.len();
    d.body.request =
        Some(json!({"phase": "data", "block": u.name, "offset": u.pos - chunk.len(), "length": chunk.len()}));
    cx.reply(
        0,
        |w| w.put_bytes(&[function::UPLOAD, u8::from(more)]),
        |w| put_block_data(w, &chunk),
    );
    cx.log(d);
}

/// Writes a block data part: the length of the bytes, the mark, the bytes.
fn put_block_data(w: &mut Writer<'_>, bytes: &[u8]) -> WireResult<()> {
    let len = w.reserve_u16_be()?;
    w.put_bytes(&BLOCK_DATA_MARK)?;
    let start = w.position();
    w.put_bytes(bytes)?;
    w.patch_len_from(len, start).map(drop)
}

/// Answers Request Download and, if accepted, asks for the first part of the block.
pub(super) fn request_download(cx: &mut Ctx<'_>, param: &[u8]) {
    let parsed = file_name(param).and_then(|(addr, mut r)| {
        // The lengths part ("1" + load size + MC7 size) is optional; if present, whole.
        let sizes = if r.is_empty() {
            &[][..]
        } else {
            let n = usize::from(r.u8()?);
            r.take(n)?
        };
        Ok((addr, sizes))
    });
    let (addr, sizes) = match parsed {
        Ok(v) => v,
        Err(e) => {
            let mut d = cx.event("s7.download");
            d.body.request = Some(json!({"phase": "request", "block": "", "sizes": ""}));
            d.body.error = Some(format!("malformed download request: {e}"));
            cx.reply_error(ERR_CONTEXT);
            return cx.log(d);
        }
    };
    let name = String::from_utf8_lossy(addr).into_owned();
    let mut d = cx.event("s7.download");
    d.body.request = Some(json!({"phase": "request", "block": name, "sizes": String::from_utf8_lossy(sizes)}));
    let full = cx
        .dev
        .blocks
        .read()
        .map(|b| b.len() >= cx.dev.config.max_blocks)
        .unwrap_or(true);
    match parse_block_address(addr) {
        Some((kind, number)) if !cx.protected_write() && !full => {
            cx.reply(0, |w| w.put_u8(function::REQUEST_DOWNLOAD), wire::empty);
            cx.conn.download = Some(Download {
                kind,
                number,
                name,
                data: Vec::new(),
                received: 0,
                address: addr.to_vec(),
            });
            request_block_data(cx, function::DOWNLOAD_BLOCK);
        }
        _ => {
            d.body.error = Some("download refused".into());
            cx.reply_error(if cx.protected_write() {
                ERR_PROTECTED
            } else {
                ERR_DOWNLOAD
            });
        }
    }
    cx.log(d);
}

/// Sends the CPU's own job asking the client for the next part of the download (0x1B)
/// or telling it the download ended (0x1C).
fn request_block_data(cx: &mut Ctx<'_>, f: u8) {
    let Some(dl) = &cx.conn.download else { return };
    let address = dl.address.clone();
    cx.conn.job_ref = cx.conn.job_ref.wrapping_add(1);
    let job_ref = cx.conn.job_ref;
    cx.send(
        rosctr::JOB,
        job_ref,
        None,
        |w| {
            w.put_u8(f)?;
            w.put_fill(0, 7)?;
            let len = w.reserve_u8()?;
            w.put_bytes(&address)?;
            w.patch_len(len).map(drop)
        },
        wire::empty,
    );
}

/// Parses the client's answer to Download Block: whether more follows, and the bytes.
fn block_data<'a>(param: &[u8], data: &'a [u8]) -> WireResult<(bool, &'a [u8])> {
    let mut p = Reader::new(param);
    p.skip(1)?;
    let more = p.u8()? == 1;
    let mut r = Reader::new(data);
    let len = usize::from(r.u16_be()?);
    r.skip(BLOCK_DATA_MARK.len())?;
    Ok((more, r.take(len)?))
}

/// Handles an acknowledgement from the client (ROSCTR 3): its answers to the CPU's
/// download jobs.
pub(crate) fn answer(cx: &mut Ctx<'_>, param: &[u8], data: &[u8]) {
    let f = param.first().copied();
    if cx.conn.download.is_none() {
        return cx.malformed("acknowledgement with no job outstanding".into());
    }
    match f {
        Some(function::DOWNLOAD_BLOCK) => {
            let (more, chunk) = match block_data(param, data) {
                Ok(v) => v,
                Err(e) => {
                    // The part cannot be read (its bytes are in the event): the CPU ends
                    // the download with what it has.
                    cx.malformed(format!("download block data: {e}"));
                    (false, &[][..])
                }
            };
            let max_block = cx.dev.config.max_block;
            let Some(dl) = cx.conn.download.as_mut() else { return };
            dl.received += chunk.len();
            let room = max_block.saturating_sub(dl.data.len());
            dl.data
                .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            let next = if more && dl.received < 16 * max_block.max(1) {
                function::DOWNLOAD_BLOCK
            } else {
                function::DOWNLOAD_ENDED
            };
            request_block_data(cx, next);
        }
        Some(function::DOWNLOAD_ENDED) => {
            if let Some(dl) = cx.conn.download.take() {
                store(cx, dl);
            }
        }
        other => cx.malformed(match other {
            Some(f) => format!("unexpected acknowledgement of function {f:#04x}"),
            None => "acknowledgement without a function code".into(),
        }),
    }
}

/// Adds a finished download to the CPU's blocks and hands its bytes over as a file.
fn store(cx: &mut Ctx<'_>, dl: Download) {
    let mut header = Reader::new(&dl.data);
    let lang = header.skip(MC7_LANG).and_then(|()| header.u8()).unwrap_or(DEFAULT_LANG);
    let mut block = Block {
        kind: dl.kind,
        number: dl.number,
        lang,
        author: String::new(),
        family: String::new(),
        name: String::new(),
        version: 0x01,
        code: dl.data.get(MC7_HEADER_LEN..).unwrap_or_default().to_vec(),
        modified: (0, 0),
    };
    if block.code.is_empty() {
        block.code = dl.data.clone();
    }
    if let Ok(mut blocks) = cx.dev.blocks.write() {
        blocks.retain(|b| !(b.kind == block.kind && b.number == block.number));
        blocks.push(block);
    }
    let mut d = cx.event("s7.download");
    d.body.request = Some(json!({"phase": "end", "block": dl.name, "size": dl.received}));
    cx.log(d);
    let mut data = serde_json::Map::new();
    data.insert("protocol".into(), "s7comm".into());
    data.insert("block".into(), dl.name.clone().into());
    data.insert("block_type".into(), blocks::type_name(dl.kind).into());
    data.insert("block_number".into(), dl.number.into());
    cx.out.files.push(Capture {
        name: dl.name,
        bytes: dl.data,
        original_len: dl.received,
        data,
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn block_addresses_and_requests() {
        assert_eq!(parse_block_address(b"_0A00001P"), Some((0x41, 1)));
        assert_eq!(parse_block_address(b"_0Z00001P"), None);
        assert_eq!(parse_block_address(b"_0A0001"), None);
        let req = [&[0x1A, 0, 1, 0, 0, 0, 0, 0, 9][..], b"_0A00007P", &[2], b"17"].concat();
        let (addr, mut rest) = file_name(&req).unwrap();
        assert_eq!(addr, b"_0A00007P");
        assert_eq!(rest.u8(), Ok(2));
        for cut in 0..18 {
            assert!(file_name(&req[..cut]).is_err(), "cut at {cut}");
        }
        let (more, bytes) = block_data(&[0x1B, 1], &[0, 3, 0, 0xFB, 7, 8, 9, 10]).unwrap();
        assert!(more);
        assert_eq!(bytes, &[7, 8, 9]);
        assert!(block_data(&[0x1B, 0], &[0, 5, 0, 0xFB, 7, 8]).is_err());
        assert!(block_data(&[0x1B], &[0, 0, 0, 0xFB]).is_err());
    }
}
