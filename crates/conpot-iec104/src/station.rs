//! The controlled station: its monitored points and command objects on the databus, and
//! the ASDUs that answer each control-direction request.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::Value;
use conpot_core::databus::Databus;

use crate::apci::MAX_ASDU;
use crate::asdu::{self, Header, cot, ty};

/// What a monitored point reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// M_SP_NA_1.
    Single,
    /// M_DP_NA_1.
    Double,
    /// M_ME_NA_1.
    Normalized,
    /// M_ME_NB_1.
    Scaled,
    /// M_ME_NC_1.
    Float,
    /// M_IT_NA_1.
    Counter,
}

impl Kind {
    /// Parses a kind as templates name it.
    pub fn from_name(s: &str) -> Option<Kind> {
        Some(match s {
            "single" => Kind::Single,
            "double" => Kind::Double,
            "normalized" => Kind::Normalized,
            "scaled" => Kind::Scaled,
            "float" => Kind::Float,
            "counter" => Kind::Counter,
            _ => return None,
        })
    }

    /// The type identification without time tag.
    pub fn type_id(self) -> u8 {
        match self {
            Kind::Single => ty::M_SP_NA_1,
            Kind::Double => ty::M_DP_NA_1,
            Kind::Normalized => ty::M_ME_NA_1,
            Kind::Scaled => ty::M_ME_NB_1,
            Kind::Float => ty::M_ME_NC_1,
            Kind::Counter => ty::M_IT_NA_1,
        }
    }

    /// The type identification with a CP56Time2a tag (spontaneous transmission).
    pub fn timed_type_id(self) -> u8 {
        match self {
            Kind::Single => ty::M_SP_TB_1,
            Kind::Double => ty::M_DP_TB_1,
            Kind::Normalized => ty::M_ME_TD_1,
            Kind::Scaled => ty::M_ME_TE_1,
            Kind::Float => ty::M_ME_TF_1,
            Kind::Counter => ty::M_IT_TB_1,
        }
    }

    /// Whether the kind is a measured value, the kinds a deadband applies to.
    pub fn is_analog(self) -> bool {
        matches!(self, Kind::Normalized | Kind::Scaled | Kind::Float)
    }

    /// The element encoding of `v` (value and quality descriptor).
    pub fn encode(self, v: &Value, out: &mut Vec<u8>) {
        let v = scalar(v);
        let num = number(v);
        match self {
            Kind::Single => out.push(u8::from(v.as_bit().unwrap_or(false))),
            Kind::Double => out.push(if v.as_bit().unwrap_or(false) { 2 } else { 1 }),
            Kind::Normalized | Kind::Scaled => {
                out.extend_from_slice(&(num.clamp(-32768.0, 32767.0) as i16).to_le_bytes());
                out.push(0);
            }
            Kind::Float => {
                out.extend_from_slice(&(num as f32).to_le_bytes());
                out.push(0);
            }
            Kind::Counter => {
                out.extend_from_slice(&(num as i64 as i32).to_le_bytes());
                out.push(0);
            }
        }
    }
}

/// A one-element list (an emulator's drifting value) stands for its element.
fn scalar(v: &Value) -> &Value {
    const ZERO: &Value = &Value::Int(0);
    match v {
        Value::List(l) => l.first().unwrap_or(ZERO),
        other => other,
    }
}

/// The numeric value of `v` (0 when it has none), what deadbands compare.
pub fn number(v: &Value) -> f64 {
    match scalar(v) {
        Value::Float(f) => *f,
        other => other.as_i128().map_or(0.0, |i| i as f64),
    }
}

/// A monitored point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Information object address.
    pub ioa: u32,
    /// What it reports.
    pub kind: Kind,
    /// The databus key of its value.
    pub key: String,
    /// Interrogation group 1..16 (answered to qualifier 20 + group), if any.
    pub group: Option<u8>,
    /// Whether spontaneous reports carry a CP56Time2a tag; `None` takes the station's.
    pub time_tag: Option<bool>,
    /// Whether a change is sent spontaneously (default: yes, except integrated totals,
    /// which an RTU reports on counter interrogation).
    pub spontaneous: bool,
    /// Absolute deadband of a measured value: a change is reported only past it.
    pub deadband: Option<f64>,
    /// Deadband in percent of the last reported value's magnitude.
    pub deadband_percent: Option<f64>,
}

impl Point {
    /// A point with the defaults: no group, the station's time tagging, spontaneous
    /// unless it is a counter, no deadband.
    pub fn new(ioa: u32, kind: Kind, key: impl Into<String>) -> Self {
        Point {
            ioa,
            kind,
            key: key.into(),
            group: None,
            time_tag: None,
            spontaneous: kind != Kind::Counter,
            deadband: None,
            deadband_percent: None,
        }
    }

    /// Whether a value `now` differs enough from `last` reported to be sent: past either
    /// deadband for a measured value that has one, else any change of its encoding.
    pub fn past_deadband(&self, last: f64, now: f64) -> bool {
        if !self.kind.is_analog() || (self.deadband.is_none() && self.deadband_percent.is_none()) {
            return true;
        }
        let delta = (now - last).abs();
        self.deadband.is_some_and(|d| delta > d)
            || self.deadband_percent.is_some_and(|p| delta > last.abs() * p / 100.0)
    }
}

/// A command object: executing it writes `key` (the value of the monitored point it acts on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Information object address.
    pub ioa: u32,
    /// The command type it accepts (45-50).
    pub type_id: u8,
    /// The databus key it writes.
    pub key: String,
}

/// The station's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct StationConfig {
    /// Common address of the ASDU.
    pub common_address: u16,
    /// Monitored points.
    pub points: Vec<Point>,
    /// Command objects.
    pub commands: Vec<Command>,
    /// k: unacknowledged I frames sent before waiting.
    pub k: u16,
    /// w: I frames received before an acknowledgement is sent.
    pub w: u16,
    /// t1: acknowledgement timeout of a sent I frame or TESTFR.
    pub t1: Duration,
    /// t2: the latest an acknowledgement of received I frames is sent.
    pub t2: Duration,
    /// t3: idle time before TESTFR.
    pub t3: Duration,
    /// How often the databus is scanned for spontaneous transmission.
    pub scan: Duration,
    /// Whether spontaneous reports carry a CP56Time2a tag (default yes, as RTUs send
    /// events); interrogation answers never do, as the standard has them.
    pub time_tag: bool,
    /// The device's response time, milliseconds.
    pub response_time_ms: (u32, u32),
}

/// The station: configuration and databus.
#[derive(Debug)]
pub struct Station {
    /// Configuration.
    pub config: StationConfig,
    /// The databus of the points.
    pub databus: Arc<Databus>,
}

/// What a request produced: ASDUs to send in order, and a description for the event.
#[derive(Debug, Default)]
pub struct Answer {
    /// ASDUs, in order.
    pub asdus: Vec<Vec<u8>>,
    /// Outcome for the event (`confirmed`, `negative`, ...).
    pub outcome: &'static str,
}

fn mirror(asdu: &[u8], cause: u8) -> Vec<u8> {
    let mut m = asdu.to_vec();
    if let Some(c) = m.get_mut(2) {
        *c = cause;
    }
    m
}

impl Station {
    /// The current element encoding of `p`.
    pub fn element(&self, p: &Point, now: SystemTime) -> Vec<u8> {
        self.sample(p, now).0
    }

    /// The current element encoding of `p` and its numeric value.
    pub fn sample(&self, p: &Point, now: SystemTime) -> (Vec<u8>, f64) {
        let v = self.databus.get(&p.key, now).unwrap_or(Value::Int(0));
        let mut out = Vec::new();
        p.kind.encode(&v, &mut out);
        (out, number(&v))
    }

    /// Whether `p`'s spontaneous reports carry a time tag.
    pub fn timed(&self, p: &Point) -> bool {
        p.time_tag.unwrap_or(self.config.time_tag)
    }

    /// ASDUs reporting `points` with cause `cause`, packed several objects per ASDU.
    pub fn report<'a>(
        &self,
        points: impl Iterator<Item = &'a Point>,
        cause: u8,
        timed: bool,
        now: SystemTime,
    ) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut current: Option<(u8, Vec<u8>, u8)> = None;
        for p in points {
            let type_id = if timed {
                p.kind.timed_type_id()
            } else {
                p.kind.type_id()
            };
            let mut obj = Vec::new();
            asdu::put_ioa(&mut obj, p.ioa);
            obj.extend(self.element(p, now));
            if timed {
                obj.extend_from_slice(&asdu::cp56(now));
            }
            let fits = matches!(&current, Some((t, body, n)) if *t == type_id && body.len() + obj.len() <= MAX_ASDU && *n < 127);
            if !fits && let Some((t, body, n)) = current.take() {
                out.push(self.finish(t, n, cause, body));
            }
            match &mut current {
                Some((_, body, n)) => {
                    body.extend(obj);
                    *n += 1;
                }
                None => current = Some((type_id, obj, 1)),
            }
        }
        if let Some((t, body, n)) = current {
            out.push(self.finish(t, n, cause, body));
        }
        out
    }

    fn finish(&self, type_id: u8, n: u8, cause: u8, body: Vec<u8>) -> Vec<u8> {
        let mut a = Vec::with_capacity(6 + body.len());
        Header {
            type_id,
            vsq: n,
            cot: cause,
            originator: 0,
            ca: self.config.common_address,
        }
        .put(&mut a);
        a.extend(body);
        a
    }

    /// End of initialisation (sent once after the first STARTDT).
    pub fn end_of_init(&self) -> Vec<u8> {
        let mut body = Vec::new();
        asdu::put_ioa(&mut body, 0);
        body.push(0);
        self.finish(ty::M_EI_NA_1, 1, cot::INITIALISED, body)
    }

    /// Answers one control-direction ASDU.
    pub fn handle(&self, raw: &[u8], selected: &mut Option<(u32, u8)>, now: SystemTime) -> Answer {
        let Some((h, objects)) = Header::read(raw) else {
            return Answer {
                asdus: Vec::new(),
                outcome: "malformed",
            };
        };
        let neg = |cause: u8| Answer {
            asdus: vec![mirror(raw, cause | cot::NEGATIVE)],
            outcome: "negative",
        };
        let known = matches!(
            h.type_id,
            ty::C_SC_NA_1
                | ty::C_DC_NA_1
                | ty::C_RC_NA_1
                | ty::C_SE_NA_1
                | ty::C_SE_NB_1
                | ty::C_SE_NC_1
                | ty::C_IC_NA_1
                | ty::C_CI_NA_1
                | ty::C_RD_NA_1
                | ty::C_CS_NA_1
                | ty::C_TS_TA_1
        );
        if !known {
            return neg(cot::UNKNOWN_TYPE);
        }
        let broadcast = h.ca == 0xFFFF && matches!(h.type_id, ty::C_IC_NA_1 | ty::C_CI_NA_1 | ty::C_CS_NA_1);
        if h.ca != self.config.common_address && !broadcast {
            return neg(cot::UNKNOWN_CA);
        }
        let cause = h.cot & 0x3F;
        let Some(ioa) = asdu::ioa(objects) else {
            return Answer {
                asdus: Vec::new(),
                outcome: "malformed",
            };
        };
        let element = objects.get(3..).unwrap_or_default();
        let ours = |mut a: Vec<u8>| {
            if let Some(ca) = a.get_mut(4..6) {
                ca.copy_from_slice(&self.config.common_address.to_le_bytes());
            }
            a
        };
        match h.type_id {
            ty::C_RD_NA_1 => {
                if cause != cot::REQUEST {
                    return neg(cot::UNKNOWN_CAUSE);
                }
                match self.config.points.iter().find(|p| p.ioa == ioa) {
                    Some(p) => Answer {
                        asdus: self.report(std::iter::once(p), cot::REQUEST, false, now),
                        outcome: "read",
                    },
                    None => neg(cot::UNKNOWN_IOA),
                }
            }
            ty::C_IC_NA_1 | ty::C_CI_NA_1 => {
                if cause != cot::ACTIVATION {
                    return neg(cot::UNKNOWN_CAUSE);
                }
                if ioa != 0 {
                    return neg(cot::UNKNOWN_IOA);
                }
                let qualifier = element.first().copied().unwrap_or(0);
                let mut asdus = vec![ours(mirror(raw, cot::ACT_CON))];
                if h.type_id == ty::C_IC_NA_1 {
                    // Station interrogation (20) reports every point; group n (qualifier
                    // and cause 20 + n) the points of that group.
                    if qualifier == cot::INROGEN {
                        asdus.extend(self.report(
                            self.config.points.iter().filter(|p| p.kind != Kind::Counter),
                            cot::INROGEN,
                            false,
                            now,
                        ));
                    } else if (21..=36).contains(&qualifier) {
                        let group = qualifier - cot::INROGEN;
                        asdus.extend(
                            self.report(
                                self.config
                                    .points
                                    .iter()
                                    .filter(|p| p.kind != Kind::Counter && p.group == Some(group)),
                                qualifier,
                                false,
                                now,
                            ),
                        );
                    } else {
                        return neg(cot::ACT_CON);
                    }
                } else {
                    asdus.extend(self.report(
                        self.config.points.iter().filter(|p| p.kind == Kind::Counter),
                        cot::REQCOGEN,
                        false,
                        now,
                    ));
                }
                asdus.push(ours(mirror(raw, cot::ACT_TERM)));
                Answer {
                    asdus,
                    outcome: "interrogated",
                }
            }
            ty::C_CS_NA_1 | ty::C_TS_TA_1 => {
                if cause != cot::ACTIVATION {
                    return neg(cot::UNKNOWN_CAUSE);
                }
                Answer {
                    asdus: vec![ours(mirror(raw, cot::ACT_CON))],
                    outcome: "confirmed",
                }
            }
            _ => self.command(raw, h, ioa, element, cause, selected, now),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn command(
        &self,
        raw: &[u8],
        h: Header,
        ioa: u32,
        element: &[u8],
        cause: u8,
        selected: &mut Option<(u32, u8)>,
        now: SystemTime,
    ) -> Answer {
        let neg = |c: u8| Answer {
            asdus: vec![mirror(raw, c | cot::NEGATIVE)],
            outcome: "negative",
        };
        if cause == cot::DEACTIVATION {
            *selected = None;
            return Answer {
                asdus: vec![mirror(raw, cot::DEACT_CON)],
                outcome: "deactivated",
            };
        }
        if cause != cot::ACTIVATION {
            return neg(cot::UNKNOWN_CAUSE);
        }
        let Some(cmd) = self.config.commands.iter().find(|c| c.ioa == ioa) else {
            return neg(cot::UNKNOWN_IOA);
        };
        if cmd.type_id != h.type_id {
            return neg(cot::UNKNOWN_TYPE);
        }
        // The qualifier's S/E bit: the command byte for single/double/step commands, the
        // QOS byte after the value for set points.
        let (value, qualifier) = match h.type_id {
            ty::C_SC_NA_1 => {
                let b = element.first().copied().unwrap_or(0);
                (Value::Int(i128::from(b & 1)), b)
            }
            ty::C_DC_NA_1 => {
                let b = element.first().copied().unwrap_or(0);
                match b & 3 {
                    1 => (Value::Int(0), b),
                    2 => (Value::Int(1), b),
                    _ => return neg(cot::ACT_CON),
                }
            }
            ty::C_RC_NA_1 => {
                let b = element.first().copied().unwrap_or(0);
                let cur = self.databus.get(&cmd.key, now).and_then(|v| v.as_i128()).unwrap_or(0);
                match b & 3 {
                    1 => (Value::Int(cur - 1), b),
                    2 => (Value::Int(cur + 1), b),
                    _ => return neg(cot::ACT_CON),
                }
            }
            ty::C_SE_NA_1 | ty::C_SE_NB_1 => {
                let (Some(lo), Some(hi)) = (element.first(), element.get(1)) else {
                    return Answer {
                        asdus: Vec::new(),
                        outcome: "malformed",
                    };
                };
                (
                    Value::Int(i128::from(i16::from_le_bytes([*lo, *hi]))),
                    element.get(2).copied().unwrap_or(0),
                )
            }
            _ => {
                let Some(f) = element.first_chunk::<4>() else {
                    return Answer {
                        asdus: Vec::new(),
                        outcome: "malformed",
                    };
                };
                (
                    Value::Float(f64::from(f32::from_le_bytes(*f))),
                    element.get(4).copied().unwrap_or(0),
                )
            }
        };
        if qualifier & 0x80 != 0 {
            *selected = Some((ioa, h.type_id));
            return Answer {
                asdus: vec![mirror(raw, cot::ACT_CON)],
                outcome: "selected",
            };
        }
        *selected = None;
        self.databus.set(&cmd.key, value);
        Answer {
            asdus: vec![mirror(raw, cot::ACT_CON), mirror(raw, cot::ACT_TERM)],
            outcome: "executed",
        }
    }
}
