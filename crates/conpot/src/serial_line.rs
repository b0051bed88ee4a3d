//! Wiring of the serial device server's lines: a `[protocols.serial]` section that names
//! a `device` gets the line opened by `conpot-net` (the tty side), with `conpot-serial`'s
//! sans-IO arbiter (bridge mode) or emulated slaves (emulate mode: the honeypot on an
//! RS-485 line) as its logic. The two crates never meet but here.

use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::template::ProtocolSection;
use conpot_net::Sensor;
use conpot_net::serial::{Flow, LineLogic, LineOutput, LineSettings, LineSpec, Parity, Role, serve_line};
use conpot_serial::SerialService;
use conpot_serial::config::Line;
use conpot_serial::line::{self, Arbiter};

/// The termios settings of a template's line.
fn settings(l: &Line) -> LineSettings {
    LineSettings {
        baud: l.baud,
        data_bits: l.data_bits,
        parity: match l.parity.as_str() {
            "even" => Parity::Even,
            "odd" => Parity::Odd,
            "mark" => Parity::Mark,
            "space" => Parity::Space,
            _ => Parity::None,
        },
        stop_bits: l.stop_bits,
        flow: match l.flow.as_str() {
            "rtscts" => Flow::RtsCts,
            "xonxoff" => Flow::XonXoff,
            _ => Flow::None,
        },
    }
}

/// The template's form of termios settings.
fn line_of(s: &LineSettings) -> Line {
    let name = |p: &str| p.to_owned();
    Line {
        baud: s.baud,
        data_bits: s.data_bits,
        parity: name(match s.parity {
            Parity::None => "none",
            Parity::Even => "even",
            Parity::Odd => "odd",
            Parity::Mark => "mark",
            Parity::Space => "space",
        }),
        stop_bits: s.stop_bits,
        flow: name(match s.flow {
            Flow::None => "none",
            Flow::RtsCts => "rtscts",
            Flow::XonXoff => "xonxoff",
        }),
    }
}

/// `conpot-serial`'s arbiter as the logic of a shared line.
struct Arbitrated(Arbiter);

fn copy(from: line::LineOutput, out: &mut LineOutput) {
    out.to_line.extend(from.to_line);
    out.to_clients.extend(from.to_clients);
    out.events.extend(from.events);
}

impl LineLogic for Arbitrated {
    fn attach(&mut self, client: u32) -> bool {
        self.0.attach(client)
    }

    fn detach(&mut self, client: u32) {
        self.0.detach(client);
    }

    fn link(&mut self, up: bool, now: SystemTime, out: &mut LineOutput) {
        let mut o = line::LineOutput::default();
        self.0.link(up, now, &mut o);
        copy(o, out);
    }

    fn client_bytes(&mut self, client: u32, bytes: &[u8], now: SystemTime, out: &mut LineOutput) {
        let mut o = line::LineOutput::default();
        self.0.client_bytes(client, bytes, now, &mut o);
        copy(o, out);
    }

    fn line_bytes(&mut self, bytes: &[u8], now: SystemTime, out: &mut LineOutput) {
        let mut o = line::LineOutput::default();
        self.0.line_bytes(bytes, now, &mut o);
        copy(o, out);
    }

    fn on_timeout(&mut self, now: SystemTime, out: &mut LineOutput) {
        let mut o = line::LineOutput::default();
        self.0.on_timeout(now, &mut o);
        copy(o, out);
    }

    fn deadline(&self) -> Option<SystemTime> {
        self.0.deadline()
    }

    fn control(&self, current: &LineSettings, command: u8, value: &[u8]) -> Option<LineSettings> {
        let mut l = line_of(current);
        conpot_serial::rfc2217::apply(&mut l, command, value).then(|| settings(&l))
    }
}

/// Opens the line of a serial section that names a `device`, if it does: shared by the
/// TCP clients (bridge) or served by the emulated slaves (emulate).
pub fn start(sensor: &Arc<Sensor>, section: &ProtocolSection, device: &Device) {
    let Ok(svc) = SerialService::build(section, device) else {
        return;
    };
    let Some(path) = svc.device_path() else { return };
    let role = match (svc.arbiter(), svc.line_session()) {
        (Some(a), _) => Role::Shared(Box::new(Arbitrated(a))),
        (None, Some(s)) => Role::Served(s),
        (None, None) => return,
    };
    let spec = LineSpec {
        path: path.to_owned(),
        settings: settings(&svc.config().line),
        backoff: conpot_serial::session::backoff,
    };
    tracing::info!("serial line {path} ({} baud)", spec.settings.baud);
    serve_line(Arc::clone(sensor), spec, role);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_between_template_and_termios() {
        for (parity, flow) in [
            ("none", "none"),
            ("even", "rtscts"),
            ("odd", "xonxoff"),
            ("mark", "none"),
            ("space", "none"),
        ] {
            let l = Line {
                baud: 19_200,
                data_bits: 7,
                parity: parity.into(),
                stop_bits: 2,
                flow: flow.into(),
            };
            assert_eq!(line_of(&settings(&l)), l);
        }
        let a = Arbitrated(Arbiter::new(true, std::time::Duration::ZERO, std::time::Duration::ZERO));
        let s = settings(&line_of(&LineSettings {
            baud: 9600,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
            flow: Flow::None,
        }));
        let changed = a.control(&s, 1, &19_200u32.to_be_bytes());
        assert_eq!(changed.map(|c| c.baud), Some(19_200));
        assert_eq!(a.control(&s, 1, &[0, 0, 0, 0]), None);
    }
}
