//! Data-channel setup and teardown: `PASV`/`EPSV` listeners, `PORT`/`EPRT` connects, `ABOR`.

use std::net::SocketAddr;
use std::time::SystemTime;

use conpot_core::event::EventDraft;
use conpot_core::protocol::{ChannelId, IoRequest, Output};

use crate::transfer::{DataChannel, DataMode};

use super::{FtpSession, PendingListen};

impl FtpSession {
    pub(super) fn new_channel(&mut self) -> ChannelId {
        let id = self.next_channel;
        self.next_channel = self.next_channel.wrapping_add(1).max(1);
        id
    }

    /// Drops the prepared data channel, closing it if the listener opened it.
    pub(super) fn drop_data(&mut self, out: &mut Output) {
        if let Some(d) = self.data.take()
            && d.opened
        {
            out.request(IoRequest::Close { channel: d.id });
        }
    }

    pub(super) fn pasv_cmd(&mut self, extended: bool, line: &[u8], out: &mut Output) {
        self.drop_data(out);
        if !extended && !self.ctx.local.ip().to_canonical().is_ipv4() {
            return self.reply(out, 425, "PASV is IPv4 only; use EPSV.");
        }
        let id = self.new_channel();
        let mut d = DataChannel::new(id, DataMode::Passive);
        d.opened = true;
        self.data = Some(d);
        out.request(IoRequest::OpenDataListener {
            channel: id,
            ports: self.shared.config.data_ports,
        });
        self.listen = Some(PendingListen {
            channel: id,
            extended,
            line: line.to_vec(),
        });
    }

    pub(super) fn active_cmd(&mut self, addr: SocketAddr, extended: bool, out: &mut Output) {
        self.drop_data(out);
        let peer = self.ctx.peer.ip().to_canonical();
        if addr.ip().to_canonical() != peer || addr.port() < 1024 {
            // Connecting anywhere but back to the client would make us a bounce relay.
            let reason = if addr.ip().to_canonical() != peer {
                "bounce"
            } else {
                "privileged_port"
            };
            out.events.push(
                EventDraft::new("ftp.bounce")
                    .with("target", addr.to_string())
                    .with("reason", reason)
                    .with("attack", "bounce"),
            );
            let verb = if extended { "EPRT" } else { "PORT" };
            return self.reply(out, 500, &format!("Illegal {verb} command."));
        }
        let id = self.new_channel();
        self.data = Some(DataChannel::new(id, DataMode::Active(addr)));
        if extended {
            self.reply(out, 200, "EPRT command successful. Consider using EPSV.")
        } else {
            self.reply(out, 200, "PORT command successful. Consider using PASV.")
        }
    }

    pub(super) fn abort_all(&mut self, out: &mut Output) {
        if let Some(t) = self.transfer.take() {
            out.request(IoRequest::Close { channel: t.channel.id });
        }
        self.drop_data(out);
        self.listen = None;
    }

    pub(super) fn abor_cmd(&mut self, now: SystemTime, out: &mut Output) {
        match self.transfer.take() {
            Some(t) => {
                self.cut_short(&t, "aborted", now, out);
                self.reply(out, 426, "Failure writing network stream.");
                self.reply(out, 226, "ABOR successful.");
            }
            None => {
                self.drop_data(out);
                self.reply(out, 225, "No transfer to ABOR.");
            }
        }
    }
}
