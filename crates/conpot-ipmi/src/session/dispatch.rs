//! Dispatch of the IPMI commands a session carries, whatever its version, checked against
//! the session's privilege, and Set Session Privilege Level.

use std::time::SystemTime;

use conpot_core::auth::Privilege;
use conpot_core::event::EventDraft;

use crate::commands::{self, CC_BAD_LENGTH, CC_INVALID_COMMAND, CC_INVALID_DATA, CC_PRIVILEGE, Extra, NETFN_APP};
use crate::rmcp::Request;

use super::{IpmiSession, Via};

impl IpmiSession {
    pub(super) fn dispatch(&mut self, req: &Request<'_>, via: Via, now: SystemTime) -> Option<commands::Reply> {
        let (privilege, session) = match via {
            Via::Session(i) => {
                let e = self.sessions.get(i)?;
                (e.privilege, Some((e.id, e.username())))
            }
            _ => (Privilege::Callback, None),
        };
        let known = commands::known(req.netfn, req.cmd);
        let reply = match known {
            None => (CC_INVALID_COMMAND, Vec::new()),
            Some(k) if k.privilege > privilege => (CC_PRIVILEGE, Vec::new()),
            Some(_) => match (req.netfn, req.cmd, via) {
                (NETFN_APP, 0x3B, Via::Session(i)) => self.set_privilege(i, req.data),
                (NETFN_APP, 0x3C, Via::Session(i)) => {
                    let own = self.sessions.get(i).map(|e| e.id);
                    match req.data.get(..4) {
                        Some(id) if Some(u32::from_le_bytes(id.try_into().unwrap_or([0; 4]))) == own => (0, Vec::new()),
                        Some(_) => (0x87, Vec::new()),
                        None => (CC_BAD_LENGTH, Vec::new()),
                    }
                }
                (NETFN_APP, 0x39 | 0x3A, _) => (CC_INVALID_COMMAND, Vec::new()),
                _ => {
                    let mut extra = Extra {
                        events: &mut self.events,
                        active_sessions: self.bmc.sessions(),
                    };
                    commands::handle(&self.bmc, req.netfn, req.cmd, req.data, now, &mut extra)
                }
            },
        };
        let mut event = EventDraft::new("ipmi.command")
            .with("netfn", req.netfn)
            .with("cmd", req.cmd)
            .with("name", known.map_or("unknown", |k| k.name))
            .with("completion_code", reply.0)
            .with("session", session.is_some());
        if let Some((id, user)) = session {
            event = event
                .with("session_id", id)
                .with("username", user)
                .with("privilege", privilege.as_str());
        }
        if known.is_none() {
            event = event.with("data", conpot_core::hex::encode(req.data.get(..64).unwrap_or(req.data)));
        }
        self.events.push(event);
        Some(reply)
    }

    pub(super) fn set_privilege(&mut self, i: usize, data: &[u8]) -> commands::Reply {
        let Some(e) = self.sessions.get_mut(i) else {
            return (CC_INVALID_DATA, Vec::new());
        };
        let [level] = data else {
            return (CC_BAD_LENGTH, Vec::new());
        };
        let level = level & 0x0F;
        if level == 0 {
            return (0, vec![e.privilege.ipmi()]);
        }
        let Some(p) = Privilege::from_ipmi(level) else {
            return (CC_INVALID_DATA, Vec::new());
        };
        let limit = e.slot.as_ref().map_or(Privilege::Callback, |s| s.privilege);
        if p > limit {
            return (0x80, Vec::new());
        }
        if p > e.max_privilege {
            return (0x81, Vec::new());
        }
        e.privilege = p;
        (0, vec![p.ipmi()])
    }
}
