//! The one place that knows every protocol: from a template section to a service. A
//! service declares its transports; the binary listens on each of them.

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::event::Transport;
use conpot_core::template::{FileSource, ProtocolSection, TemplateError};

/// A built protocol service, shared by all its listeners.
pub type Service = Arc<dyn conpot_core::protocol::Service>;

/// Builds a service from its section, for the device, with the template's files (page
/// files of HTTP live in the template folder).
type Builder = fn(&ProtocolSection, &Device, &FileSource) -> Result<Service, Vec<TemplateError>>;

/// One protocol this binary serves.
struct Entry {
    name: &'static str,
    transports: &'static [Transport],
    build: Builder,
}

fn arc<S: conpot_core::protocol::Service>(s: S) -> Service {
    Arc::new(s)
}

const TCP: &[Transport] = &[Transport::Tcp];
const UDP: &[Transport] = &[Transport::Udp];
const TCP_UDP: &[Transport] = &[Transport::Tcp, Transport::Udp];

static ENTRIES: &[Entry] = &[
    Entry {
        name: "modbus",
        transports: TCP,
        build: |s, d, _| conpot_modbus::ModbusService::build(s, d).map(arc),
    },
    Entry {
        name: "s7comm",
        transports: TCP,
        build: |s, d, _| conpot_s7::S7Service::build(s, d).map(arc),
    },
    Entry {
        name: "ftp",
        transports: TCP,
        build: |s, d, _| conpot_ftp::FtpService::build(s, d).map(arc),
    },
    Entry {
        name: "tftp",
        transports: UDP,
        build: |s, d, _| conpot_tftp::TftpService::build(s, d).map(arc),
    },
    Entry {
        name: "snmp",
        transports: UDP,
        build: |s, d, _| conpot_snmp::SnmpService::build(s, d).map(arc),
    },
    Entry {
        name: "http",
        transports: TCP,
        build: |s, d, f| conpot_http::HttpService::build(s, d, f).map(arc),
    },
    Entry {
        name: "serial",
        transports: TCP,
        build: |s, d, _| conpot_serial::SerialService::build(s, d).map(arc),
    },
    Entry {
        name: "telnet",
        transports: TCP,
        build: |s, d, _| conpot_telnet::TelnetService::build(s, d).map(arc),
    },
    Entry {
        name: "ipmi",
        transports: UDP,
        build: |s, d, _| conpot_ipmi::IpmiService::build(s, d).map(arc),
    },
    Entry {
        name: "bacnet",
        transports: UDP,
        build: |s, d, _| conpot_bacnet::BacnetService::build(s, d).map(arc),
    },
    Entry {
        name: "enip",
        transports: TCP_UDP,
        build: |s, d, _| conpot_enip::EnipService::build(s, d).map(arc),
    },
    Entry {
        name: "IEC104",
        transports: TCP,
        build: |s, d, _| conpot_iec104::Iec104Service::build(s, d).map(arc),
    },
    // Proxies: `proxy` and every `proxy.NAME` section (one per `<proxy>` of Conpot's
    // proxy.xml), see `family`.
    Entry {
        name: "proxy",
        transports: TCP,
        build: |s, d, _| conpot_proxy::ProxyService::build(s, d).map(arc),
    },
    // Kamstrup 382 (kamstrup helper): the KMP meter and its module's management console.
    Entry {
        name: "kamstrup_meter",
        transports: TCP,
        build: |s, d, _| conpot_kamstrup::MeterService::build(s, d).map(arc),
    },
    Entry {
        name: "kamstrup_management",
        transports: TCP,
        build: |s, d, _| conpot_kamstrup::ManagementService::build(s, d).map(arc),
    },
    // guardian (issue 15)
    Entry {
        name: "guardian_ast",
        transports: TCP,
        build: |s, d, _| conpot_guardian::GuardianService::build(s, d).map(arc),
    },
];

/// The registry name serving the section named `protocol`: the part before a dot, so
/// that `proxy.plant_a` and `proxy.plant_b` are both proxies.
fn family(protocol: &str) -> &str {
    protocol.split_once('.').map_or(protocol, |(f, _)| f)
}

/// The transports the service of `protocol` listens on, known before anything is built
/// so the sockets can be bound before any file is written.
pub fn transports(protocol: &str) -> Option<&'static [Transport]> {
    ENTRIES
        .iter()
        .find(|e| e.name == family(protocol))
        .map(|e| e.transports)
}

/// Builds the service of `section` (its files read from `source`); `None` if the protocol
/// is not implemented.
pub fn build(
    section: &ProtocolSection,
    device: &Device,
    source: &FileSource,
) -> Option<Result<Service, Vec<TemplateError>>> {
    let entry = ENTRIES.iter().find(|e| e.name == family(&section.name))?;
    let built = (entry.build)(section, device, source);
    if let Ok(service) = &built {
        debug_assert_eq!(service.transports(), entry.transports, "{}", entry.name);
    }
    Some(built)
}
