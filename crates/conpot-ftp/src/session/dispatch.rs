//! Command dispatch: which verbs are known, allowed before login or need an argument,
//! and the small commands answered in place (`FEAT`, `OPTS`, `HELP`, `SITE`, server `STAT`).

use std::time::SystemTime;

use conpot_core::protocol::Output;
use conpot_core::vfs::VPath;

use crate::listing::FACTS;
use crate::reply;
use crate::transfer::{parse_eprt, parse_port};

use super::paths::FsOp;
use super::{BEFORE_LOGIN, COMMANDS, FtpSession};

impl FtpSession {
    pub(super) fn dispatch(&mut self, verb: &str, arg: Option<&[u8]>, line: &[u8], now: SystemTime, out: &mut Output) {
        let text = arg.map(|a| String::from_utf8_lossy(a).into_owned());
        let known = COMMANDS.contains(&verb) || matches!(verb, "PBSZ" | "PROT" | "ACCT" | "SMNT" | "CCC");
        if !known {
            return self.reply(out, 500, "Unknown command.");
        }
        if self.account.is_none() && !BEFORE_LOGIN.contains(&verb) {
            return self.reply(out, 530, "Please login with USER and PASS.");
        }
        let needs_arg = matches!(
            verb,
            "USER"
                | "CWD"
                | "XCWD"
                | "MKD"
                | "XMKD"
                | "RMD"
                | "XRMD"
                | "DELE"
                | "RNFR"
                | "RNTO"
                | "RETR"
                | "STOR"
                | "APPE"
                | "SIZE"
                | "MDTM"
                | "TYPE"
                | "MODE"
                | "STRU"
                | "PORT"
                | "EPRT"
                | "REST"
                | "SITE"
                | "OPTS"
                | "AUTH"
        );
        let arg_text = text.clone().unwrap_or_default();
        if needs_arg && arg_text.trim().is_empty() {
            return self.reply(out, 501, "Syntax error in parameters or arguments.");
        }
        match verb {
            "USER" => self.user_cmd(arg.unwrap_or_default(), out),
            "PASS" => self.pass_cmd(arg.unwrap_or_default(), now, out),
            "QUIT" => {
                self.abort_all(out);
                self.reply(out, 221, "Goodbye.");
                out.close = true;
            }
            "REIN" => {
                self.abort_all(out);
                self.account = None;
                self.user = None;
                self.cwd = VPath::root();
                self.rest = None;
                self.rnfr = None;
                self.ascii = true;
                self.reply(out, 220, "Service ready for new user.");
            }
            "NOOP" => self.reply(out, 200, "NOOP ok."),
            "SYST" => {
                let syst = self.shared.config.syst.clone();
                self.reply(out, 215, &syst)
            }
            "FEAT" => {
                let mlst = FACTS.iter().map(|f| format!("{f}*;")).collect::<String>();
                let lines = [
                    "EPRT".to_owned(),
                    "EPSV".into(),
                    "MDTM".into(),
                    format!("MLST {mlst}"),
                    "PASV".into(),
                    "REST STREAM".into(),
                    "SIZE".into(),
                    "TVFS".into(),
                    "UTF8".into(),
                ];
                reply::multi(
                    &mut out.bytes,
                    211,
                    "Features:",
                    lines.iter().map(String::as_str),
                    "End",
                );
            }
            "OPTS" => self.opts_cmd(&arg_text, out),
            "HELP" => self.help_cmd(text.as_deref(), out),
            "AUTH" => self.reply(out, 534, "Local policy on server does not allow TLS or SSL."),
            "PBSZ" | "PROT" | "CCC" => self.reply(out, 503, "Security data exchange not completed."),
            "ACCT" | "SMNT" => self.reply(out, 502, "Command not implemented."),
            "STAT" => match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                None => self.stat_server(out),
                Some(_) if self.account.is_none() => self.reply(out, 530, "Please login with USER and PASS."),
                Some(p) => self.stat_path(p, now, out),
            },
            "PWD" | "XPWD" => {
                let q = reply::quote_path(self.cwd.as_str());
                self.reply(out, 257, &format!("{q} is the current directory"))
            }
            "CWD" | "XCWD" => self.cwd_cmd(&arg_text, now, out),
            "CDUP" | "XCUP" => self.cwd_cmd("..", now, out),
            "MKD" | "XMKD" => self.mkd_cmd(&arg_text, now, out),
            "RMD" | "XRMD" => self.simple_fs(&arg_text, now, out, FsOp::Rmd),
            "DELE" => self.simple_fs(&arg_text, now, out, FsOp::Dele),
            "RNFR" => self.rnfr_cmd(&arg_text, now, out),
            "RNTO" => self.rnto_cmd(&arg_text, now, out),
            "SITE" => self.site_cmd(&arg_text, now, out),
            "TYPE" => match arg_text.trim().to_ascii_uppercase().as_str() {
                "A" | "A N" => {
                    self.ascii = true;
                    self.reply(out, 200, "Switching to ASCII mode.")
                }
                "I" | "L 8" | "L8" => {
                    self.ascii = false;
                    self.reply(out, 200, "Switching to Binary mode.")
                }
                _ => self.reply(out, 504, "Unrecognised TYPE command."),
            },
            "MODE" => match arg_text.trim().to_ascii_uppercase().as_str() {
                "S" => self.reply(out, 200, "Mode set to S."),
                "B" | "C" => self.reply(out, 504, "Bad MODE command."),
                _ => self.reply(out, 501, "Unrecognised MODE type."),
            },
            "STRU" => match arg_text.trim().to_ascii_uppercase().as_str() {
                "F" => self.reply(out, 200, "Structure set to F."),
                "R" | "P" => self.reply(out, 504, "Bad STRU command."),
                _ => self.reply(out, 501, "Unrecognised STRU type."),
            },
            "ALLO" => self.reply(out, 202, "ALLO command ignored."),
            "REST" => match arg_text.trim().parse::<u64>() {
                Ok(n) => {
                    self.rest = Some(n);
                    self.reply(out, 350, &format!("Restart position accepted ({n})."))
                }
                Err(_) => self.reply(out, 501, "Bad REST argument."),
            },
            "SIZE" => self.size_cmd(&arg_text, now, out),
            "MDTM" => self.mdtm_cmd(&arg_text, now, out),
            "PASV" => self.pasv_cmd(false, line, out),
            "EPSV" => match arg_text.trim().to_ascii_uppercase().as_str() {
                "" | "1" | "2" => self.pasv_cmd(true, line, out),
                "ALL" => self.reply(out, 200, "EPSV ALL ok."),
                _ => self.reply(out, 522, "Network protocol not supported, use (1,2)."),
            },
            "PORT" => match parse_port(&arg_text) {
                Some(addr) => self.active_cmd(addr, false, out),
                None => self.reply(out, 501, "Illegal PORT command."),
            },
            "EPRT" => match parse_eprt(&arg_text) {
                Some(addr) => self.active_cmd(addr, true, out),
                None => self.reply(out, 522, "Bad EPRT argument; use (1,2)."),
            },
            "ABOR" => self.abor_cmd(now, out),
            "LIST" | "NLST" | "MLSD" => self.list_cmd(verb, text.as_deref().unwrap_or_default(), now, out),
            "MLST" => self.mlst_cmd(text.as_deref().unwrap_or_default(), now, out),
            "RETR" => self.retr_cmd(&arg_text, now, out),
            "STOR" => self.store_cmd("STOR", Some(&arg_text), now, out),
            "APPE" => self.store_cmd("APPE", Some(&arg_text), now, out),
            "STOU" => self.store_cmd("STOU", text.as_deref(), now, out),
            _ => self.reply(out, 502, "Command not implemented."),
        }
    }

    pub(super) fn site_cmd(&mut self, arg: &str, _now: SystemTime, out: &mut Output) {
        let mut words = arg.trim().splitn(3, ' ');
        let sub = words.next().unwrap_or_default().to_ascii_uppercase();
        match sub.as_str() {
            "HELP" => self.reply(out, 214, "CHMOD HELP"),
            "CHMOD" => {
                let (Some(mode), Some(path)) = (words.next(), words.next()) else {
                    return self.reply(out, 501, "SITE CHMOD needs 2 arguments.");
                };
                let mode = match u32::from_str_radix(mode, 8) {
                    Ok(m) if !mode.is_empty() && mode.len() <= 4 => m,
                    _ => return self.reply(out, 501, "Bad SITE CHMOD mode."),
                };
                let Some(p) = self.path(path, out) else {
                    return self.reply(out, 550, "SITE CHMOD command failed.");
                };
                if !self.may_write() {
                    return self.reply(out, 550, "Permission denied.");
                }
                match self.shared.view.chmod(&self.who(), &p, mode) {
                    Ok(()) => self.reply(out, 200, "SITE CHMOD command ok."),
                    Err(e) => self.fs_error(out, e, &p, "SITE CHMOD command failed."),
                }
            }
            _ => self.reply(out, 500, "Unknown SITE command."),
        }
    }

    pub(super) fn opts_cmd(&mut self, arg: &str, out: &mut Output) {
        let (name, value) = arg.trim().split_once(' ').unwrap_or((arg.trim(), ""));
        match name.to_ascii_uppercase().as_str() {
            "UTF8" | "UTF-8" => self.reply(out, 200, "Always in UTF8 mode."),
            "MLST" => {
                let wanted: Vec<String> = value.split(';').map(|f| f.trim().to_ascii_lowercase()).collect();
                let mut chosen = String::new();
                for (i, fact) in FACTS.iter().enumerate() {
                    let on = wanted.iter().any(|w| w == fact);
                    if let Some(slot) = self.facts.get_mut(i) {
                        *slot = on;
                    }
                    if on {
                        chosen.push_str(fact);
                        chosen.push(';');
                    }
                }
                self.reply(out, 200, &format!("MLST OPTS {chosen}"))
            }
            _ => self.reply(out, 501, "Option not understood."),
        }
    }

    pub(super) fn help_cmd(&mut self, arg: Option<&str>, out: &mut Output) {
        if let Some(cmd) = arg.map(str::trim).filter(|a| !a.is_empty()) {
            let cmd = cmd.to_ascii_uppercase();
            return if COMMANDS.contains(&cmd.as_str()) {
                self.reply(out, 214, &format!("Syntax: {cmd}"))
            } else {
                self.reply(out, 502, "Unknown command.")
            };
        }
        let lines: Vec<String> = COMMANDS
            .chunks(8)
            .map(|c| c.iter().map(|n| format!("{n:<5}")).collect::<Vec<_>>().join(" "))
            .collect();
        reply::multi(
            &mut out.bytes,
            214,
            "The following commands are recognized.",
            lines.iter().map(String::as_str),
            "Help OK.",
        );
    }

    pub(super) fn stat_server(&mut self, out: &mut Output) {
        let c = &self.shared.config;
        let mut lines = vec![format!("Connected to {}", self.ctx.peer.ip())];
        match (&self.account, &self.user) {
            (Some(a), _) => lines.push(format!("Logged in as {}", a.user.name)),
            (None, Some(_)) => lines.push("Waiting for password".into()),
            (None, None) => lines.push("Waiting for username".into()),
        }
        lines.push(format!("TYPE: {}", if self.ascii { "ASCII" } else { "BINARY" }));
        lines.push(format!("Session timeout in seconds is {}", c.idle_timeout.as_secs()));
        lines.push("Control connection is plain text".into());
        lines.push("Data connections will be plain text".into());
        match &self.transfer {
            Some(t) => lines.push(format!("Data connection open: {} bytes transferred", t.bytes())),
            None => lines.push("No data connection".into()),
        }
        lines.push(c.banner.clone());
        reply::multi(
            &mut out.bytes,
            211,
            "FTP server status:",
            lines.iter().map(String::as_str),
            "End of status",
        );
    }
}
