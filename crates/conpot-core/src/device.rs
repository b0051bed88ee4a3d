//! The device: the state every protocol of one persona shares (identity, databus,
//! accounts, files).

use std::sync::Arc;
use std::time::SystemTime;

use crate::databus::{Databus, Entry};
use crate::emulators::{Counter, CurrentDatetime, Drift, Emulator, RandomBits, RandomFloat, RandomInt, Uptime};
use crate::persona::Persona;
use crate::rng::Rng;
use crate::template::{DatabusSpec, EmulatorSpec, Template, TemplateError};
use crate::value::Value;

/// Databus key holding how many times the device has started (1 on a fresh deployment).
pub const KEY_BOOTS: &str = "device_boots";

/// One emulated device: its persona and the databus all its protocols share.
#[derive(Debug, Clone)]
pub struct Device {
    /// Template name.
    pub template: String,
    /// Identity values.
    pub persona: Arc<Persona>,
    /// Shared key/value store.
    pub databus: Arc<Databus>,
    /// When the device "booted" (process start).
    pub boot: SystemTime,
    /// Accounts every protocol shares (persona references resolved) and the login
    /// attempt counters: what FTP, Telnet, IPMI, SNMPv3 and S7 check logins against.
    pub auth: Arc<crate::auth::Auth>,
    /// The device's files, which FTP, TFTP and HTTP share (see [`crate::vfs`]).
    pub vfs: Arc<crate::vfs::Vfs>,
}

impl Device {
    /// Builds the device of `template` with `persona`, evaluating every databus value
    /// once (emulators are computed on each read later). `rng` draws the random initial
    /// values; `boot` is the device's start time.
    pub fn build(
        template: &Template,
        persona: Persona,
        boot: SystemTime,
        rng: &mut Rng,
    ) -> Result<Device, Vec<TemplateError>> {
        let databus = Arc::new(Databus::new());
        let mut errs = Vec::new();
        let file = if template.conpot_xml {
            "template.xml"
        } else {
            "template.toml"
        };
        for (key, spec) in &template.databus {
            let entry = match spec {
                DatabusSpec::Value(v) => Entry::Value(v.clone()),
                DatabusSpec::Expr(e) => Entry::Value(e.eval(rng)),
                DatabusSpec::Text(t) => match persona.render(t) {
                    Ok(s) => Entry::Value(Value::Str(s)),
                    Err(e) => {
                        errs.push(TemplateError {
                            file: template.source.label(file),
                            key: format!("databus.{key}"),
                            expected: e.to_string(),
                        });
                        continue;
                    }
                },
                DatabusSpec::Emulator(em) => Entry::Emulator(emulator(em, boot)),
            };
            databus.insert(key.clone(), entry);
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let vfs = crate::vfs::Vfs::build(&template.filesystem, &persona, Arc::clone(&databus), boot)?;
        let users = template
            .auth
            .store
            .map_texts(|s| persona.render(s).unwrap_or_else(|_| s.to_owned()));
        let auth = crate::auth::Auth::new(users, template.auth.policy);
        Ok(Device {
            template: template.name.clone(),
            persona: Arc::new(persona),
            databus,
            boot,
            auth: Arc::new(auth),
            vfs: Arc::new(vfs),
        })
    }
}

fn emulator(spec: &EmulatorSpec, boot: SystemTime) -> Arc<dyn Emulator> {
    match *spec {
        EmulatorSpec::Uptime(unit) => Arc::new(Uptime { boot, unit }),
        EmulatorSpec::RandomInt(min, max) => Arc::new(RandomInt { min, max }),
        EmulatorSpec::RandomFloat(min, max, digits) => Arc::new(RandomFloat { min, max, digits }),
        EmulatorSpec::RandomBits(len) => Arc::new(RandomBits { len }),
        EmulatorSpec::Counter(base, rate, modulus) => Arc::new(Counter {
            base,
            rate,
            start: boot,
            modulus,
        }),
        EmulatorSpec::Datetime => Arc::new(CurrentDatetime),
        EmulatorSpec::Drift { len, min, max, period } => Arc::new(Drift {
            len,
            min,
            max,
            period,
            start: boot,
        }),
    }
}
