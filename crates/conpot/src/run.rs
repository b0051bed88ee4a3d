//! Running the honeypot: wiring the device's services to listeners and the event sinks,
//! then waiting for a signal to shut down gracefully.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use conpot_core::bus::EventBus;
use conpot_core::config::Config;
use conpot_core::event::{EventDraft, Origin, SessionInfo, Transport};
use conpot_core::metrics::Metrics;
use conpot_core::persona::Persona;
use conpot_core::template::Template;
use serde_json::json;

use crate::setup;
use conpot_net::{BindSpec, Sensor, StdBound};

/// How long shutdown waits for sessions and sinks.
const DRAIN: Duration = Duration::from_secs(5);

/// Checks the template and binds every socket of the plan, before the runtime exists (so
/// privileges can be given up between the two): a port in use names every conflict and
/// nothing is written. Returns the bound sockets, or the exit code.
pub fn bind(config: &Config, template: &Template) -> Result<Vec<(BindSpec, StdBound)>, i32> {
    for w in config.warnings.iter().chain(&template.warnings) {
        tracing::warn!("{w}");
    }
    match setup::coverage(template) {
        Ok(None) => {}
        Ok(Some(skipped)) => tracing::warn!("{skipped}"),
        Err(e) => {
            tracing::error!("{e}");
            return Err(1);
        }
    }
    // The dashboard's settings (issue 16) are checked before anything is bound.
    if let Some(t) = &config.dashboard
        && let Err(e) = conpot_dashboard::DashboardConfig::from_table(t)
    {
        tracing::error!("{e}");
        return Err(1);
    }
    let mut plan = Vec::new();
    for section in template.protocols.values().filter(|s| s.enabled) {
        let Some(transports) = crate::registry::transports(&section.name) else {
            continue;
        };
        // TLS only (a TLS-terminating proxy): bound below as its TLS listener.
        if crate::tls_setup::only(section) {
            continue;
        }
        let host = config.listen.host.as_deref().unwrap_or(&section.host);
        let Ok(ip) = host.parse::<IpAddr>() else {
            tracing::error!("{}: bad listen address `{host}`", section.name);
            return Err(1);
        };
        let port = config.listen.ports.get(&section.name).copied().unwrap_or(section.port);
        for &transport in transports {
            plan.push(BindSpec {
                name: section.name.clone(),
                addr: SocketAddr::new(ip, port),
                transport,
                optional: false,
            });
            if config.listen.ipv6 && ip == IpAddr::from([0, 0, 0, 0]) {
                plan.push(BindSpec {
                    name: section.name.clone(),
                    addr: SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
                    transport,
                    optional: true,
                });
            }
        }
    }
    // TLS listeners (issue 13): a second port of a TCP section, named on its own.
    for l in crate::tls_setup::listeners(template) {
        let Some(section) = template.protocols.get(&l.section) else {
            continue;
        };
        if crate::registry::transports(&l.section).is_none_or(|t| !t.contains(&Transport::Tcp)) {
            tracing::error!("{}: TLS needs a TCP protocol", l.section);
            return Err(1);
        }
        let host = config.listen.host.as_deref().unwrap_or(&section.host);
        let Ok(ip) = host.parse::<IpAddr>() else {
            tracing::error!("{}: bad listen address `{host}`", l.name);
            return Err(1);
        };
        let port = config.listen.ports.get(&l.name).copied().unwrap_or(l.port);
        plan.push(BindSpec {
            name: l.name.clone(),
            addr: SocketAddr::new(ip, port),
            transport: Transport::Tcp,
            optional: false,
        });
        if config.listen.ipv6 && ip == IpAddr::from([0, 0, 0, 0]) {
            plan.push(BindSpec {
                name: l.name.clone(),
                addr: SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
                transport: Transport::Tcp,
                optional: true,
            });
        }
    }
    match conpot_net::bind_all_std(&plan) {
        Ok((bound, warnings)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            Ok(bound)
        }
        Err(failures) => {
            for f in &failures {
                tracing::error!("{f}");
            }
            Err(1)
        }
    }
}

/// Runs until SIGINT or SIGTERM on the sockets [`bind`] bound; returns the exit code.
pub async fn run(
    config: Config,
    template: Template,
    bound: Vec<(BindSpec, StdBound)>,
    started: Instant,
    notifier: crate::notify::Notifier,
) -> i32 {
    // Catch the signals before anything is announced, so a stop right after start is clean.
    let mut stop = match Stop::install() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install signal handlers: {e}");
            return 1;
        }
    };
    let mut bound_listeners = Vec::with_capacity(bound.len());
    for (spec, sock) in bound {
        match sock.into_tokio() {
            Ok(b) => bound_listeners.push((spec, b)),
            Err(e) => {
                tracing::error!("{}: cannot register {}: {e}", spec.name, spec.addr);
                return 1;
            }
        }
    }
    let key = template.persona_key();
    let persona = match Persona::load_or_create(&template.persona, &template.name, &key, &config.state_dir) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("cannot keep the persona in {}: {e}", config.state_dir.display());
            return 1;
        }
    };
    let persona_path = Persona::path(&config.state_dir, &key);
    let boots = Persona::next_boot(&config.state_dir, &key).unwrap_or(1);
    let built = match setup::build(&template, persona, boots) {
        Ok(b) => b,
        Err(errs) => {
            tracing::error!("template errors:\n{}", setup::format_errors(&errs));
            return 1;
        }
    };
    built
        .device
        .vfs
        .set_limits(conpot_core::vfs::VfsLimits::from(&config.limits));

    let mut tls_servers = std::collections::HashMap::new();
    for p in &built.tls {
        match crate::tls_setup::server(p, &config.state_dir, &key) {
            Ok((server, origin)) => {
                match origin {
                    crate::tls_setup::Origin::Operator => {
                        tracing::info!("{}: the operator's certificate", p.listener.name)
                    }
                    crate::tls_setup::Origin::Made(path) => {
                        tracing::info!(
                            "{}: new certificate for this deployment [{}]",
                            p.listener.name,
                            path.display()
                        )
                    }
                    crate::tls_setup::Origin::Kept(path) => {
                        tracing::info!(
                            "{}: this deployment's certificate [{}]",
                            p.listener.name,
                            path.display()
                        )
                    }
                }
                tls_servers.insert(p.listener.name.clone(), (p.listener.section.clone(), server));
            }
            Err(e) => {
                tracing::error!("{e}");
                return 1;
            }
        }
    }
    let origin = Origin {
        sensor_id: Arc::from(config.sensor_id.as_str()),
        persona: Arc::from(built.device.persona.label().as_str()),
        public_ip: config.public_ip.as_deref().map(Arc::from),
        raw_limit: config.limits.raw_limit,
    };
    let metrics = Arc::new(Metrics::default());
    let mut bus = EventBus::new(Arc::clone(&metrics));
    bus.set_queue_limits(conpot_core::bus::QueueLimits::from(&config.limits));
    let mut sink_tasks = Vec::new();
    let reopen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sinks = match conpot_sinks::parse_all(&config.sinks) {
        Ok(s) => s,
        Err(errs) => {
            tracing::error!("configuration errors:\n{}", setup::format_errors(&errs));
            return 1;
        }
    };
    let mut sink_stats = Vec::new();
    for sink in &sinks {
        match conpot_sinks::attach_counted(
            sink,
            &mut bus,
            config.limits.event_queue,
            origin.clone(),
            Arc::clone(&reopen),
            &config.state_dir,
        ) {
            Ok((name, task, stats)) => match spawn_sink(name.clone(), task) {
                Ok(t) => {
                    sink_tasks.push(t);
                    sink_stats.push((name, stats));
                }
                Err(e) => {
                    tracing::error!("cannot start the sink thread: {e}");
                    return 1;
                }
            },
            Err(e) => {
                tracing::error!("cannot open event sink {}: {e}", sink.destination());
                return 1;
            }
        }
    }
    // --- The operator's live dashboard (`[dashboard]`; off by default; issue 16) ---
    let mut dashboard = match crate::dashboard::prepare(&config, &metrics, sink_stats.clone(), &mut bus).await {
        Ok(Some((d, task))) => match spawn_sink("dashboard".into(), task) {
            Ok(t) => {
                sink_tasks.push(t);
                Some(d)
            }
            Err(e) => {
                tracing::error!("cannot start the dashboard thread: {e}");
                return 1;
            }
        },
        Ok(None) => None,
        Err(()) => return 1,
    };
    // --- The Prometheus endpoint (`[metrics] listen`; off by default) ---
    let mut metrics_listener = None;
    if let Some(addr) = &config.metrics_listen {
        let listener = match tokio::net::TcpListener::bind(addr.as_str()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot listen for metrics on {addr}: {e}");
                return 1;
            }
        };
        let exporter = crate::prometheus::Exporter::new(
            Arc::clone(&metrics),
            config.state_dir.join(conpot_sinks::SPOOL_DIR),
            sink_stats,
        );
        let task = exporter.attach(&mut bus, config.limits.event_queue);
        match spawn_sink("metrics".into(), task) {
            Ok(t) => sink_tasks.push(t),
            Err(e) => {
                tracing::error!("cannot start the metrics thread: {e}");
                return 1;
            }
        }
        metrics_listener = Some((listener, exporter));
    }
    // Every event is also a line of the text log, as in Conpot's log (unless -q hides it).
    let text_log = tracing::enabled!(tracing::Level::INFO);
    if text_log {
        let (name, task) =
            conpot_sinks::attach_text_log(&mut bus, config.limits.event_queue, origin.clone(), Arc::clone(&reopen));
        match spawn_sink(name, task) {
            Ok(t) => sink_tasks.push(t),
            Err(e) => {
                tracing::error!("cannot start the sink thread: {e}");
                return 1;
            }
        }
    }
    let captures = conpot_core::capture::FileStore::new(
        config.state_dir.join("captures"),
        config.limits.capture_quota,
        config.limits.max_capture,
    );
    let sensor = Sensor::new(
        origin,
        Arc::new(bus),
        config.limits.clone(),
        config.session_timeout,
        Some(captures),
    );

    // Network personality (issue 16): the template's `[network]`, the operator's TTL over it.
    let network = template.network.with_ttl_override(config.listen.ttl);
    let mut listening = Vec::new();
    for (spec, listener) in &bound_listeners {
        for (option, e) in conpot_net::personality::apply(listener, &network) {
            tracing::warn!("{}: cannot set the network personality's {option}: {e}", spec.name);
        }
        let transport = match spec.transport {
            Transport::Udp => "udp",
            _ => "tcp",
        };
        listening.push((spec.name.clone(), transport, listener.local_addr().unwrap_or(spec.addr)));
    }

    // In tenths of a millisecond: more digits only say how fast the clock is read.
    let ready_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    let p = &built.device.persona;
    tracing::info!(
        "conpot-rs {} ready in {ready_ms:.1} ms: template `{}` ({} {}), persona {} [{}]",
        env!("CARGO_PKG_VERSION"),
        template.name,
        template.meta.vendor,
        template.meta.unit,
        p.label(),
        persona_path.display()
    );
    {
        // One parseable line per listener on stdout (a closed stdout is not an error).
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for (name, transport, addr) in &listening {
            let _ = writeln!(out, "listening {name} {transport} {addr}");
        }
        if let Some((listener, exporter)) = metrics_listener.take() {
            if let Ok(addr) = listener.local_addr() {
                let _ = writeln!(out, "listening metrics tcp {addr}");
            }
            tokio::spawn(crate::prometheus::serve(listener, exporter));
        }
        // The dashboard (issue 16).
        if let Some(d) = dashboard.take() {
            if let Ok(addr) = d.listener.local_addr() {
                let _ = writeln!(out, "listening dashboard tcp {addr}");
            }
            tokio::spawn(d.dashboard.serve(d.listener));
        }
        let _ = out.flush();
    }
    for s in &sinks {
        tracing::info!("events ({}) -> {}", s.encoder, s.destination());
    }
    if text_log {
        tracing::info!("events (text) -> this log");
    }
    let sensor_session = SessionInfo::new("sensor".into(), Transport::None, None, None);
    let listeners_json: Vec<_> = listening
        .iter()
        .map(|(n, t, a)| json!({"protocol": n, "transport": t, "address": a.to_string()}))
        .collect();
    let persona_json: serde_json::Map<String, serde_json::Value> =
        p.values.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    sensor.emit(
        &sensor_session,
        EventDraft::new("sensor.start")
            .with("template", template.name.as_str())
            .with("listeners", listeners_json)
            .with("identity", persona_json)
            .with("ready_ms", ready_ms),
        SystemTime::now(),
    );
    // --- seccomp (issue 16): the filter installed before the runtime, as an event ---
    if let Some(f) = crate::seccomp::installed() {
        sensor.emit(
            &sensor_session,
            EventDraft::new("daemon.seccomp")
                .with("allowed", f.allowed)
                .with("action", f.action.name()),
            SystemTime::now(),
        );
    }
    // --- end seccomp ---
    let udp_limits = conpot_net::UdpLimits {
        answers_per_source: config.limits.udp_answers_per_source,
        amplification: config.limits.udp_amplification,
        max_sessions: config.limits.max_connections,
    };
    let services: std::collections::HashMap<&str, &crate::registry::Service> = built
        .services
        .iter()
        .map(|(sec, svc)| (sec.name.as_str(), svc))
        .collect();
    // Serial lines named by the template open before the listeners, so a bridge's
    // sessions find their shared line.
    for (sec, _) in built.services.iter().filter(|(sec, _)| sec.name == "serial") {
        crate::serial_line::start(&sensor, sec, &built.device);
    }
    for (spec, listener) in bound_listeners {
        if let Some((section, tls)) = tls_servers.get(&spec.name)
            && let Some(service) = services.get(section.as_str())
            && let conpot_net::Bound::Tcp(l) = listener
        {
            conpot_net::serve_tcp_tls(Arc::clone(&sensor), l, Arc::clone(service), tls.clone());
            continue;
        }
        if let Some(service) = services.get(spec.name.as_str()) {
            conpot_net::serve(Arc::clone(&sensor), listener, Arc::clone(service), udp_limits);
        }
    }
    notifier.send(&format!("READY=1\nSTATUS=serving template {}", template.name));
    let state_dir = config.state_dir.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::health::PERIOD);
        let mut warned = false;
        loop {
            tick.tick().await;
            if let Err(e) = crate::health::beat(&state_dir, SystemTime::now())
                && !std::mem::replace(&mut warned, true)
            {
                tracing::warn!("cannot write the heartbeat in {}: {e}", state_dir.display());
            }
        }
    });
    let notifier = Arc::new(notifier);
    if let Some(period) = notifier.watchdog_period() {
        let n = Arc::clone(&notifier);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                n.send("WATCHDOG=1");
            }
        });
    }

    while stop.wait().await == Signal::Hangup {
        tracing::info!("SIGHUP: reopening the event logs");
        reopen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    tracing::info!("shutting down: closing listeners and sessions");
    notifier.send("STOPPING=1");
    sensor.shutdown.cancel();
    sensor.tracker.close();
    if tokio::time::timeout(DRAIN, sensor.tracker.wait()).await.is_err() {
        tracing::warn!("sessions still open after {DRAIN:?}; stopping anyway");
    }
    let counters: serde_json::Map<String, serde_json::Value> = metrics
        .snapshot()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    sensor.emit(
        &sensor_session,
        EventDraft::new("sensor.stop").with("counters", counters),
        SystemTime::now(),
    );
    // Dropping the last handle on the bus closes every sink queue; the sinks drain and flush.
    drop(sensor);
    for (name, task) in sink_tasks {
        if tokio::time::timeout(DRAIN, task).await.is_err() {
            tracing::error!("sink {name} did not finish flushing in {DRAIN:?}");
        }
    }
    // (The counters are in the sensor.stop line of the text log just before.)
    tracing::info!("stopped");
    0
}

/// A sink's drain job on its own thread, awaited (as a blocking task) at shutdown.
type SinkTask = (String, tokio::task::JoinHandle<std::thread::Result<()>>);

/// Starts a sink's drain job `task` on a thread of its own.
fn spawn_sink(name: String, task: impl FnOnce() + Send + 'static) -> std::io::Result<SinkTask> {
    let thread = std::thread::Builder::new().name("conpot-sink".into()).spawn(task)?;
    Ok((name, tokio::task::spawn_blocking(move || thread.join())))
}

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// Stop (SIGINT, SIGTERM).
    Stop,
    /// Reopen the logs (SIGHUP, after log rotation).
    Hangup,
}

/// SIGINT, SIGTERM and SIGHUP, installed once.
struct Stop {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Stop {
    fn install() -> std::io::Result<Stop> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Stop {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn wait(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::Stop,
            _ = self.term.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Hangup,
        }
    }
}
