//! The BMC of one device, shared by every source's session: its identity, chassis power
//! and boot device, its user slots (the device's accounts, as IPMI numbers them, with
//! what attackers changed), the SEL, the sensors, and the bound on open sessions.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use conpot_core::auth::{Attempt, Auth, Privilege, Reason, Secret, Verdict};
use conpot_core::databus::Databus;
use conpot_core::event::EventDraft;

use crate::sensors::Sensor;

/// The protocol name (events, account scope).
pub const PROTOCOL: &str = "ipmi";

/// What the template says about the BMC.
#[derive(Debug, Clone, PartialEq)]
pub struct BmcConfig {
    /// Get Device ID: device id.
    pub device_id: u8,
    /// Device revision (low nibble).
    pub device_revision: u8,
    /// Firmware revision, major (7 bits) and minor (BCD in the reply).
    pub firmware: (u8, u8),
    /// Auxiliary firmware revision bytes.
    pub aux_firmware: [u8; 4],
    /// IANA manufacturer id (20 bits).
    pub manufacturer_id: u32,
    /// Product id.
    pub product_id: u16,
    /// The system GUID.
    pub guid: [u8; 16],
    /// Power state at start.
    pub power_on: bool,
    /// IPMI 1.5 authentication types offered (bit mask of none 0x01, MD2 0x02, MD5 0x04,
    /// password 0x10).
    pub auth_types: u8,
    /// User slots (Get User Access "maximum user ids").
    pub max_users: u8,
    /// Sessions one source may hold at once.
    pub sessions_per_source: usize,
    /// Sessions all sources may hold at once.
    pub max_sessions: usize,
    /// A session idle this long is closed.
    pub session_timeout: Duration,
    /// Response delay profile (ms).
    pub response_time_ms: (u32, u32),
    /// The sensors (SDR repository and readings).
    pub sensors: Vec<Sensor>,
}

/// One user slot: an account of the device as IPMI sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The user id (1-based).
    pub id: u8,
    /// The name (Set User Name changes it).
    pub name: String,
    /// The password, if Set User Password changed it (else the account's).
    pub password: Option<String>,
    /// The account's password as the device holds it.
    pub stored_password: String,
    /// Privilege limit.
    pub privilege: Privilege,
    /// Enabled.
    pub enabled: bool,
    /// The device account this slot came from, while name and enabled flag are the
    /// account's own (then central authentication decides).
    pub account: Option<String>,
    /// The name may not be changed.
    pub fixed: bool,
    /// An attacker changed the slot (name, password, enabled flag or privilege): it is
    /// no longer the account central authentication holds.
    pub touched: bool,
}

impl Slot {
    /// The password a login must prove.
    pub fn password(&self) -> &str {
        self.password.as_deref().unwrap_or(&self.stored_password)
    }

    fn untouched(&self) -> bool {
        !self.touched && self.account.as_deref() == Some(self.name.as_str())
    }
}

/// Chassis and user state that commands change.
#[derive(Debug, Clone)]
pub struct State {
    /// System power.
    pub power_on: bool,
    /// Last Power Event byte of Get Chassis Status.
    pub last_power_event: u8,
    /// Boot flags parameter (5 bytes).
    pub boot_flags: [u8; 5],
    /// Boot info acknowledge parameter.
    pub boot_ack: [u8; 2],
    /// The user slots.
    pub users: Vec<Slot>,
    /// SEL entries (16-byte records).
    pub sel: Vec<[u8; 16]>,
    /// Current SEL/SDR reservation id.
    pub reservation: u16,
    /// Power restore policy (0 always off, 1 previous, 2 always on).
    pub restore_policy: u8,
}

/// Most SEL entries kept.
pub const MAX_SEL: usize = 64;

/// The BMC.
#[derive(Debug)]
pub struct Bmc {
    /// Configuration.
    pub config: BmcConfig,
    /// The device's databus (sensor values).
    pub databus: Arc<Databus>,
    /// Central authentication.
    pub auth: Auth,
    /// Boot time of the device.
    pub boot: SystemTime,
    state: Mutex<State>,
    open_sessions: AtomicUsize,
}

/// How a login ended.
#[derive(Debug, Clone)]
pub struct Login {
    /// The slot logged in to, or why not.
    pub outcome: Result<Slot, Reason>,
    /// The `auth.attempt` event.
    pub event: EventDraft,
}

impl Bmc {
    /// A BMC with `config` over the device's databus and accounts.
    pub fn new(config: BmcConfig, databus: Arc<Databus>, auth: &Auth, boot: SystemTime) -> Bmc {
        let users = slots(auth, config.max_users);
        let power_on = config.power_on;
        let sel = crate::sensors::boot_sel(boot, power_on);
        Bmc {
            config,
            databus,
            auth: auth.clone(),
            boot,
            state: Mutex::new(State {
                power_on,
                last_power_event: 0,
                boot_flags: [0; 5],
                boot_ack: [0, 0],
                users,
                sel,
                reservation: 0,
                restore_policy: 1,
            }),
            open_sessions: AtomicUsize::new(0),
        }
    }

    /// The state, locked (a poisoned lock still holds consistent plain data).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The slot named `name`.
    pub fn slot_named(&self, name: &[u8]) -> Option<Slot> {
        self.state().users.iter().find(|s| s.name.as_bytes() == name).cloned()
    }

    /// Reserves one of the BMC's sessions; false when all are taken.
    pub fn open_session(&self) -> bool {
        let max = self.config.max_sessions;
        self.open_sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .is_ok()
    }

    /// Gives a session back.
    pub fn close_session(&self) {
        let _ = self
            .open_sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.open_sessions.load(Ordering::Acquire)
    }

    /// A login as `name` with `secret`; `verify` says whether the secret proves a password.
    /// Slots still as the device's account are decided by central authentication; slots an
    /// attacker renamed or re-keyed are decided here and recorded the same way.
    pub fn login(
        &self,
        name: &[u8],
        secret: Secret<'_>,
        verify: &dyn Fn(&str) -> Verdict,
        source: IpAddr,
        now: SystemTime,
    ) -> Login {
        let slot = self.slot_named(name);
        let method = match secret {
            Secret::Plain(_) => conpot_core::auth::METHOD_PASSWORD,
            Secret::Proof(p) => p.method,
        };
        match slot {
            Some(s) if s.untouched() => {
                let verifier = |u: &conpot_core::auth::User| verify(&u.password);
                let d = match secret {
                    Secret::Proof(p) => {
                        let proof = conpot_core::auth::Proof {
                            verify: &verifier,
                            ..*p
                        };
                        self.auth.check(PROTOCOL, name, Secret::Proof(&proof), source, now)
                    }
                    plain => self.auth.check(PROTOCOL, name, plain, source, now),
                };
                Login {
                    outcome: d.outcome.map(|_| s),
                    event: d.event,
                }
            }
            other => {
                let outcome = if self.auth.attempts().locked(source, now) {
                    Err(Reason::Locked)
                } else {
                    match other {
                        None => Err(Reason::UnknownUser),
                        Some(s) if !s.enabled => Err(Reason::Disabled),
                        Some(s) => match verify(s.password()) {
                            Verdict::Match => Ok(s),
                            Verdict::Mismatch => Err(Reason::BadPassword),
                            Verdict::Refused(r) => Err(Reason::Refused(r)),
                        },
                    }
                };
                let attempt = Attempt {
                    protocol: PROTOCOL,
                    username: Some(name),
                    secret: &secret,
                    method,
                };
                let event = self.auth.record(&attempt, outcome.as_ref().err().copied(), source, now);
                Login { outcome, event }
            }
        }
    }

    /// A SEL entry for something that happened now (power changes).
    pub fn log_sel(&self, now: SystemTime, sensor_type: u8, data: [u8; 3]) {
        let mut st = self.state();
        if st.sel.len() >= MAX_SEL {
            st.sel.remove(0);
        }
        let id = st
            .sel
            .last()
            .map_or(1, |r| u16::from_le_bytes([r[0], r[1]]).wrapping_add(1));
        st.sel.push(crate::sensors::sel_record(id, now, sensor_type, data));
    }
}

/// The user slots of the accounts that may log in over IPMI, at their `ipmi_user_id` if
/// they have one (else the next free id from 2: id 1 is the anonymous user of real BMCs).
fn slots(auth: &Auth, max: u8) -> Vec<Slot> {
    let mut out: Vec<Slot> = Vec::new();
    let accounts: Vec<_> = auth
        .store()
        .for_protocol(PROTOCOL)
        .filter(|u| !u.anonymous && !u.name.is_empty() && u.name.len() <= 16)
        .collect();
    let wanted = |u: &conpot_core::auth::User| {
        u.param("ipmi_user_id")
            .and_then(|v| v.parse::<u8>().ok())
            .filter(|id| (1..=max).contains(id))
    };
    let make = |u: &conpot_core::auth::User, id: u8| Slot {
        id,
        name: u.name.clone(),
        password: None,
        stored_password: u.password.chars().take(20).collect(),
        privilege: u.privilege,
        enabled: u.enabled,
        account: Some(u.name.clone()),
        fixed: u.param("ipmi_fixed") == Some("true"),
        touched: false,
    };
    for u in &accounts {
        if let Some(id) = wanted(u)
            && !out.iter().any(|s| s.id == id || s.name == u.name)
        {
            out.push(make(u, id));
        }
    }
    for u in &accounts {
        if out.iter().any(|s| s.name == u.name) {
            continue;
        }
        if let Some(id) = (2..=max).find(|id| !out.iter().any(|s| s.id == *id)) {
            out.push(make(u, id));
        }
    }
    out.sort_by_key(|s| s.id);
    out
}
