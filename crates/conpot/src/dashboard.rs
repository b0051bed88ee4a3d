//! Starting the operator's live dashboard (`[dashboard]` in the TOML configuration; off
//! when absent): its settings checked, its listener bound, its token settled and announced,
//! and its consumer attached to the event bus like a sink.

use std::sync::Arc;

use conpot_core::bus::EventBus;
use conpot_core::config::Config;
use conpot_core::metrics::Metrics;
use conpot_dashboard::auth::Credentials;
use conpot_dashboard::config::{DashboardConfig, TokenOrigin, resolve_token};
use conpot_dashboard::server::{Dashboard, SinkHealth, Sources};

/// A dashboard ready to serve: its listener and itself.
pub struct Prepared {
    /// The bound listener.
    pub listener: tokio::net::TcpListener,
    /// The dashboard.
    pub dashboard: Arc<Dashboard>,
}

/// The dashboard's bus consumer: takes events off its queue until the bus is gone (run it on
/// a thread of its own, as a sink's).
pub type Task = Box<dyn FnOnce() + Send + 'static>;

/// Prepares the dashboard (and its consumer's job) if the configuration asks for one; `Err`
/// (already logged) stops the sensor, since an operator who configured a dashboard expects
/// to find it.
pub async fn prepare(
    config: &Config,
    metrics: &Arc<Metrics>,
    sinks: Vec<SinkHealth>,
    bus: &mut EventBus,
) -> Result<Option<(Prepared, Task)>, ()> {
    let Some(table) = &config.dashboard else {
        return Ok(None);
    };
    let cfg = DashboardConfig::from_table(table).map_err(|e| tracing::error!("{e}"))?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| tracing::error!("cannot listen for the dashboard on {}: {e}", cfg.listen))?;
    let (token, origin) = resolve_token(&cfg, &config.state_dir).map_err(|e| {
        tracing::error!(
            "cannot write the dashboard token in {}: {e}",
            config.state_dir.display()
        )
    })?;
    let addr = listener.local_addr().unwrap_or(cfg.listen);
    match origin {
        TokenOrigin::Configured => tracing::info!("dashboard on http://{addr}/ (the configured token)"),
        TokenOrigin::Generated(path) => tracing::info!(
            "dashboard on http://{addr}/?token={token} (token generated for this start, also in {})",
            path.display()
        ),
    }
    let dashboard = Dashboard::new(
        &config.sensor_id,
        Credentials {
            token,
            basic: cfg.basic.clone(),
        },
        Sources {
            metrics: Arc::clone(metrics),
            // The capture store's folder, as the sensor's FileStore is made in run.rs.
            captures_dir: config.state_dir.join("captures"),
            max_capture: config.limits.max_capture as u64,
            spool_dir: config.state_dir.join(conpot_sinks::SPOOL_DIR),
            sinks,
        },
    );
    let task = Box::new(dashboard.attach(bus, config.limits.event_queue));
    Ok(Some((Prepared { listener, dashboard }, task)))
}
