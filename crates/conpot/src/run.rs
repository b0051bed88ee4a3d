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
use serde_json::json;

use crate::personas::Unit;
use crate::setup;
use conpot_net::{BindSpec, Sensor, StdBound};

/// How long shutdown waits for sessions and sinks.
const DRAIN: Duration = Duration::from_secs(5);

/// The sockets of one unit (persona), in its order.
pub type Bound = Vec<(BindSpec, StdBound)>;

/// Checks every unit's template and binds every socket of every unit, before the runtime
/// exists (so privileges can be given up between the two): a port in use, or claimed by
/// two personas, names every conflict and nothing is written. Returns each unit's bound
/// sockets (in the order of `units`), or the exit code.
pub fn bind(config: &Config, units: &[Unit]) -> Result<Vec<Bound>, i32> {
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    // The dashboard's settings (issue 16) are checked before anything is bound.
    if let Some(t) = &config.dashboard
        && let Err(e) = conpot_dashboard::DashboardConfig::from_table(t)
    {
        tracing::error!("{e}");
        return Err(1);
    }
    let mut plans = Vec::with_capacity(units.len());
    let mut failed = false;
    for unit in units {
        for w in &unit.template.warnings {
            tracing::warn!("{}{w}", unit.prefix());
        }
        match setup::coverage(&unit.template) {
            Ok(None) => {}
            Ok(Some(skipped)) => tracing::warn!("{}{skipped}", unit.prefix()),
            Err(e) => {
                tracing::error!("{}{e}", unit.prefix());
                failed = true;
            }
        }
        match plan(unit) {
            Ok(p) => plans.push((unit.name.clone().unwrap_or_default(), p)),
            Err(e) => {
                tracing::error!("{}{e}", unit.prefix());
                failed = true;
            }
        }
    }
    if failed {
        return Err(1);
    }
    let clashes = crate::personas::conflicts(&plans);
    for c in &clashes {
        tracing::error!("{c}");
    }
    if !clashes.is_empty() {
        return Err(1);
    }
    let mut all = Vec::with_capacity(units.len());
    for (unit, (_, plan)) in units.iter().zip(&plans) {
        match conpot_net::bind_all_std(plan) {
            Ok((bound, warnings)) => {
                for w in warnings {
                    tracing::warn!("{}{w}", unit.prefix());
                }
                all.push(bound);
            }
            Err(failures) => {
                for f in &failures {
                    tracing::error!("{}{f}", unit.prefix());
                }
                failed = true;
            }
        }
    }
    if failed { Err(1) } else { Ok(all) }
}

/// Every socket `unit` listens on: each enabled, served protocol on each of its
/// transports, and each TLS listener, at the unit's address and ports.
fn plan(unit: &Unit) -> Result<Vec<BindSpec>, String> {
    let template = &unit.template;
    let listen = &unit.listen;
    let mut plan = Vec::new();
    let mut push = |name: &str, host: &str, port: u16, transport: Transport| -> Result<(), String> {
        let Ok(ip) = host.parse::<IpAddr>() else {
            return Err(format!("{name}: bad listen address `{host}`"));
        };
        plan.push(BindSpec {
            name: name.to_owned(),
            addr: SocketAddr::new(ip, port),
            transport,
            optional: false,
        });
        if listen.ipv6 && ip == IpAddr::from([0, 0, 0, 0]) {
            plan.push(BindSpec {
                name: name.to_owned(),
                addr: SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
                transport,
                optional: true,
            });
        }
        Ok(())
    };
    for section in template.protocols.values().filter(|s| s.enabled) {
        let Some(transports) = crate::registry::transports(&section.name) else {
            continue;
        };
        // TLS only (a TLS-terminating proxy): bound below as its TLS listener.
        if crate::tls_setup::only(section) {
            continue;
        }
        let host = listen.host.as_deref().unwrap_or(&section.host);
        let port = listen.ports.get(&section.name).copied().unwrap_or(section.port);
        for &transport in transports {
            push(&section.name, host, port, transport)?;
        }
    }
    // TLS listeners (issue 13): a second port of a TCP section, named on its own.
    for l in crate::tls_setup::listeners(template) {
        let Some(section) = template.protocols.get(&l.section) else {
            continue;
        };
        if crate::registry::transports(&l.section).is_none_or(|t| !t.contains(&Transport::Tcp)) {
            return Err(format!("{}: TLS needs a TCP protocol", l.section));
        }
        let host = listen.host.as_deref().unwrap_or(&section.host);
        let port = listen.ports.get(&l.name).copied().unwrap_or(l.port);
        push(&l.name, host, port, Transport::Tcp)?;
    }
    Ok(plan)
}

/// One unit made ready to serve: its device and services, certificates and listeners.
struct Ready {
    built: setup::Built,
    persona_path: std::path::PathBuf,
    tls_servers: std::collections::HashMap<String, (String, conpot_net::TlsServer)>,
    listeners: Vec<(BindSpec, conpot_net::Bound)>,
}

/// Registers a unit's bound sockets with the runtime (on the runtime's thread).
fn register(bound: Bound) -> Result<Vec<(BindSpec, conpot_net::Bound)>, String> {
    let mut listeners = Vec::with_capacity(bound.len());
    for (spec, sock) in bound {
        match sock.into_tokio() {
            Ok(b) => listeners.push((spec, b)),
            Err(e) => return Err(format!("{}: cannot register {}: {e}", spec.name, spec.addr)),
        }
    }
    Ok(listeners)
}

/// [`prepare`]s every unit, spread over the machine's cores (a device, its identity and
/// certificates depend on nothing of another unit's): with 20 personas the start is
/// bounded by the slowest core's share, not the sum. Results in the order of `units`.
fn prepare_all(config: &Config, units: &[Unit]) -> Vec<Result<Ready, String>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, units.len().max(1));
    if workers == 1 {
        return units.iter().map(|u| prepare(config, u)).collect();
    }
    let mut out: Vec<Option<Result<Ready, String>>> = Vec::new();
    out.resize_with(units.len(), || None);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || {
                    units
                        .iter()
                        .enumerate()
                        .skip(w)
                        .step_by(workers)
                        .map(|(i, u)| (i, prepare(config, u)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            // A panic in one worker leaves its units unprepared: reported below.
            for (i, r) in h.join().unwrap_or_default() {
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(r);
                }
            }
        }
    });
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err("preparing the persona failed".to_owned())))
        .collect()
}

/// Builds `unit`'s device from its persona (made or kept in its state folder), with its
/// TLS certificates; the listeners are added by the caller.
fn prepare(config: &Config, unit: &Unit) -> Result<Ready, String> {
    let template = &unit.template;
    let state_dir = &unit.state_dir;
    let t0 = Instant::now();
    let key = template.persona_key();
    let persona = Persona::load_or_create(&template.persona, &template.name, &key, state_dir)
        .map_err(|e| format!("cannot keep the persona in {}: {e}", state_dir.display()))?;
    let persona_path = Persona::path(state_dir, &key);
    let boots = Persona::next_boot(state_dir, &key).unwrap_or(1);
    let t1 = Instant::now();
    let built = setup::build(template, persona, boots)
        .map_err(|errs| format!("template errors:\n{}", setup::format_errors(&errs)))?;
    built
        .device
        .vfs
        .set_limits(conpot_core::vfs::VfsLimits::from(&config.limits));
    let t2 = Instant::now();
    let mut tls_servers = std::collections::HashMap::new();
    for p in &built.tls {
        let (server, origin) = crate::tls_setup::server(p, state_dir, &key)?;
        let name = &p.listener.name;
        match origin {
            crate::tls_setup::Origin::Operator => tracing::info!("{}{name}: the operator's certificate", unit.prefix()),
            crate::tls_setup::Origin::Made(path) => tracing::info!(
                "{}{name}: new certificate for this deployment [{}]",
                unit.prefix(),
                path.display()
            ),
            crate::tls_setup::Origin::Kept(path) => tracing::info!(
                "{}{name}: this deployment's certificate [{}]",
                unit.prefix(),
                path.display()
            ),
        }
        tls_servers.insert(name.clone(), (p.listener.section.clone(), server));
    }
    // What a start spends per persona, for `-v` (the personas benchmark's profile).
    tracing::debug!(
        "{}identity {:.1} ms, device and services {:.1} ms, certificates {:.1} ms",
        unit.prefix(),
        (t1 - t0).as_secs_f64() * 1000.0,
        (t2 - t1).as_secs_f64() * 1000.0,
        t2.elapsed().as_secs_f64() * 1000.0
    );
    Ok(Ready {
        built,
        persona_path,
        tls_servers,
        listeners: Vec::new(),
    })
}

/// Runs until SIGINT or SIGTERM on the sockets [`bind`] bound for `units`; returns the
/// exit code. Every unit gets its own device (databus, filesystem, credentials, identity,
/// certificates) and events naming it, while the bus, sinks, counters, connection limits,
/// metrics endpoint and heartbeat are the process's.
pub async fn run(
    config: Config,
    units: Vec<Unit>,
    bound: Vec<Bound>,
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
    let mut registered = Vec::with_capacity(units.len());
    for (unit, b) in units.iter().zip(bound) {
        match register(b) {
            Ok(l) => registered.push(l),
            Err(e) => {
                tracing::error!("{}{e}", unit.prefix());
                return 1;
            }
        }
    }
    let mut ready = Vec::with_capacity(units.len());
    for ((unit, made), listeners) in units.iter().zip(prepare_all(&config, &units)).zip(registered) {
        match made {
            Ok(r) => ready.push(Ready { listeners, ..r }),
            Err(e) => {
                tracing::error!("{}{e}", unit.prefix());
                return 1;
            }
        }
    }
    let origins: Vec<Origin> = units
        .iter()
        .zip(&ready)
        .map(|(unit, r)| Origin {
            sensor_id: Arc::from(unit.sensor_id.as_str()),
            persona: Arc::from(
                unit.name
                    .clone()
                    .unwrap_or_else(|| r.built.device.persona.label())
                    .as_str(),
            ),
            public_ip: config.public_ip.as_deref().map(Arc::from),
            raw_limit: config.limits.raw_limit,
        })
        .collect();
    // The sinks' own events (health, drops) name the process: the one persona of `-t`,
    // or `sensor` when it serves several.
    let Some(first_origin) = origins.first() else {
        tracing::error!("nothing to serve");
        return 1;
    };
    let origin = if units.len() == 1 && units.iter().all(|u| u.name.is_none()) {
        first_origin.clone()
    } else {
        Origin {
            sensor_id: Arc::from(config.sensor_id.as_str()),
            persona: Arc::from("sensor"),
            ..first_origin.clone()
        }
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
    // Protocols build Conpot's view of an event only for a sink that writes it.
    conpot_core::event::set_conpot_view_wanted(sinks.iter().any(|s| s.encoder.reads_conpot_view()));
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
    let captures = |state_dir: &std::path::Path| {
        conpot_core::capture::FileStore::new(
            state_dir.join("captures"),
            config.limits.capture_quota,
            config.limits.max_capture,
        )
    };
    // The first persona's sensor holds the shared parts; the others are its siblings.
    let bus = Arc::new(bus);
    let mut sensors: Vec<Arc<Sensor>> = Vec::with_capacity(units.len());
    for (unit, o) in units.iter().zip(origins) {
        let store = Some(captures(&unit.state_dir));
        let sensor = match sensors.first() {
            None => Sensor::new(
                o,
                Arc::clone(&bus),
                config.limits.clone(),
                config.session_timeout,
                store,
            ),
            Some(first) => first.sibling(o, store),
        };
        sensors.push(sensor);
    }
    drop(bus);
    // What the process says of itself (sensor.stop): the one persona, or the sensor.
    let sensor = match sensors.as_slice() {
        [] => {
            tracing::error!("nothing to serve");
            return 1;
        }
        [one] => Arc::clone(one),
        [first, ..] => first.sibling(origin, None),
    };

    let mut listening = Vec::new();
    for (i, (unit, r)) in units.iter().zip(&ready).enumerate() {
        // Network personality (issue 16): each persona's template's `[network]`, the
        // operator's TTL over it.
        let network = unit.template.network.with_ttl_override(config.listen.ttl);
        for (spec, listener) in &r.listeners {
            for (option, e) in conpot_net::personality::apply(listener, &network) {
                tracing::warn!(
                    "{}{}: cannot set the network personality's {option}: {e}",
                    unit.prefix(),
                    spec.name
                );
            }
            let transport = match spec.transport {
                Transport::Udp => "udp",
                _ => "tcp",
            };
            listening.push((
                i,
                spec.name.clone(),
                transport,
                listener.local_addr().unwrap_or(spec.addr),
            ));
        }
    }

    // In tenths of a millisecond: more digits only say how fast the clock is read.
    let ready_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    for (unit, r) in units.iter().zip(&ready) {
        let p = &r.built.device.persona;
        let t = &unit.template;
        tracing::info!(
            "conpot-rs {} ready in {ready_ms:.1} ms: {}template `{}` ({} {}), persona {} [{}]",
            env!("CARGO_PKG_VERSION"),
            unit.prefix(),
            t.name,
            t.meta.vendor,
            t.meta.unit,
            p.label(),
            r.persona_path.display()
        );
    }
    {
        // One parseable line per listener on stdout (a closed stdout is not an error);
        // a persona's name follows its listeners' addresses.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for (i, name, transport, addr) in &listening {
            match units.get(*i).and_then(|u| u.name.as_deref()) {
                Some(persona) => {
                    let _ = writeln!(out, "listening {name} {transport} {addr} {persona}");
                }
                None => {
                    let _ = writeln!(out, "listening {name} {transport} {addr}");
                }
            }
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
    // One sensor.start per persona, from the persona (its template, listeners, identity).
    for (i, ((unit, r), s)) in units.iter().zip(&ready).zip(&sensors).enumerate() {
        let listeners_json: Vec<_> = listening
            .iter()
            .filter(|(u, ..)| *u == i)
            .map(|(_, n, t, a)| json!({"protocol": n, "transport": t, "address": a.to_string()}))
            .collect();
        let persona_json: serde_json::Map<String, serde_json::Value> = r
            .built
            .device
            .persona
            .values
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        s.emit(
            &sensor_session,
            EventDraft::new("sensor.start")
                .with("template", unit.template.name.as_str())
                .with("listeners", listeners_json)
                .with("identity", persona_json)
                .with("ready_ms", ready_ms)
                .with("workers", tokio::runtime::Handle::current().metrics().num_workers()),
            SystemTime::now(),
        );
    }
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
    for (r, s) in ready.into_iter().zip(&sensors) {
        let services: std::collections::HashMap<&str, &crate::registry::Service> = r
            .built
            .services
            .iter()
            .map(|(sec, svc)| (sec.name.as_str(), svc))
            .collect();
        // Serial lines named by the template open before the listeners, so a bridge's
        // sessions find their shared line.
        for (sec, _) in r.built.services.iter().filter(|(sec, _)| sec.name == "serial") {
            crate::serial_line::start(s, sec, &r.built.device);
        }
        for (spec, listener) in r.listeners {
            if let Some((section, tls)) = r.tls_servers.get(&spec.name)
                && let Some(service) = services.get(section.as_str())
                && let conpot_net::Bound::Tcp(l) = listener
            {
                conpot_net::serve_tcp_tls(Arc::clone(s), l, Arc::clone(service), tls.clone());
                continue;
            }
            if let Some(service) = services.get(spec.name.as_str()) {
                conpot_net::serve(Arc::clone(s), listener, Arc::clone(service), udp_limits);
            }
        }
    }
    let status = match units.as_slice() {
        [one] => format!("serving template {}", one.template.name),
        many => format!("serving {} personas", many.len()),
    };
    notifier.send(&format!("READY=1\nSTATUS={status}"));
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
    drop(sensors);
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
