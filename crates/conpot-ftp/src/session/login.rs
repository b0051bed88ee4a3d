//! Login: `USER`/`PASS` against the template's accounts, and who the session acts as
//! in the virtual file system.

use std::time::SystemTime;

use conpot_core::auth::Secret;
use conpot_core::event::EventDraft;
use conpot_core::protocol::Output;
use conpot_core::vfs::{Principal, VPath};

use crate::reply;

use super::{Account, FtpSession};

impl FtpSession {
    pub(super) fn user_cmd(&mut self, name: &[u8], out: &mut Output) {
        if self.account.is_some() {
            return self.reply(out, 530, "Can't change to another user.");
        }
        self.user = Some(name.get(..name.len().min(256)).unwrap_or_default().to_vec());
        self.reply(out, 331, "Please specify the password.");
    }

    pub(super) fn pass_cmd(&mut self, pw: &[u8], now: SystemTime, out: &mut Output) {
        if self.account.is_some() {
            return self.reply(out, 230, "Already logged in.");
        }
        let Some(user) = self.user.take() else {
            return self.reply(out, 503, "Login with USER first.");
        };
        let auth = &self.shared.device.auth;
        let decision = auth.check("ftp", &user, Secret::Plain(pw), self.ctx.peer.ip(), now);
        out.events.push(decision.event.clone());
        match decision.outcome {
            Ok(account) => {
                let store = auth.store();
                let mut groups: Vec<String> = store.groups_of(&account).map(|g| g.name.clone()).collect();
                for g in &account.groups {
                    if !groups.contains(g) {
                        groups.push(g.clone());
                    }
                }
                let who = Principal::new(account.name.clone(), groups);
                self.account = Some(Account { user: account, who });
                self.cwd = VPath::root();
                let motd = &self.shared.config.motd;
                if motd.is_empty() {
                    self.reply(out, 230, "Login successful.");
                } else {
                    let first = motd.first().map(String::as_str).unwrap_or_default();
                    reply::multi(
                        &mut out.bytes,
                        230,
                        first,
                        motd.iter().skip(1).map(String::as_str),
                        "Login successful.",
                    );
                }
            }
            Err(_) => {
                self.failures += 1;
                self.reply(out, 530, "Login incorrect.");
                if self.failures >= self.shared.config.max_login_attempts {
                    out.events.push(
                        EventDraft::new("ftp.login_limit")
                            .with("failures", self.failures)
                            .with("max_login_attempts", self.shared.config.max_login_attempts),
                    );
                    self.abort_all(out);
                    out.close = true;
                }
            }
        }
    }

    pub(super) fn who(&self) -> Principal {
        self.account
            .as_ref()
            .map(|a| a.who.clone())
            .unwrap_or_else(|| Principal::new("", [""; 0]))
    }

    pub(super) fn may_write(&self) -> bool {
        self.account.as_ref().is_some_and(|a| a.user.privilege.may_write())
    }

    pub(super) fn user_name(&self) -> Option<String> {
        self.account.as_ref().map(|a| a.user.name.clone())
    }
}
