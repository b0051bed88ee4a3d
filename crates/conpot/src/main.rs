//! The `conpot` binary: command line, logging, and the run.

mod alloc;
mod cli;
mod collect;
mod commands;
// the operator's live dashboard (issue 16)
mod dashboard;
mod embedded;
mod health;
mod import;
mod notify;
mod personas;
mod privilege;
mod prometheus;
mod registry;
mod run;
mod seccomp;
// conpot selftest (issue 16)
mod selftest;
mod serial_line;
mod setup;
mod tls_setup;
// proxy upstreams from the operator (issue 15/16)
mod upstreams;

use clap::Parser;

use tracing_subscriber::fmt::writer::MakeWriterExt;

fn main() {
    alloc::return_memory_promptly();
    let cli = cli::Cli::parse();
    let code = match &cli.command {
        Some(cli::Command::Templates) => commands::list_templates(),
        Some(cli::Command::Health { state_dir, max_age }) => health::check(
            state_dir,
            std::time::Duration::from_secs(*max_age),
            std::time::SystemTime::now(),
        ),
        Some(cli::Command::Template {
            action: cli::TemplateAction::Check { path },
        }) => commands::check_template(path),
        // --- template import (issue 16) ---
        Some(cli::Command::Template {
            action: cli::TemplateAction::Import { dir, out },
        }) => {
            let out = out.clone().unwrap_or_else(|| import::default_out_dir(dir));
            match import::import_dir(dir, &out) {
                Ok(msg) => {
                    println!("{msg}");
                    0
                }
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            }
        }
        // --- end template import ---
        Some(cli::Command::Collect(args)) => collect::main(args),
        // conpot selftest (issue 16)
        Some(cli::Command::Selftest(args)) => selftest::main(args),
        Some(cli::Command::Status { address }) => {
            // The address given, else the one the configuration (-c) serves metrics on.
            let from_config = || {
                setup::load_config(cli.config.as_deref(), false)
                    .ok()
                    .and_then(|c| c.metrics_listen)
            };
            match address.clone().or_else(from_config) {
                Some(a) => prometheus::status(&a),
                None => {
                    eprintln!("conpot status: give the metrics address, or -c the configuration with [metrics] listen");
                    2
                }
            }
        }
        None => start(cli),
    };
    std::process::exit(code);
}

fn start(cli: cli::Cli) -> i32 {
    let level = if cli.verbose {
        tracing::Level::DEBUG
    } else if cli.quiet {
        tracing::Level::WARN
    } else {
        tracing::Level::INFO
    };
    let builder = tracing_subscriber::fmt().with_max_level(level).with_target(false);
    let logfile = match &cli.logfile {
        None => None,
        Some(p) => match std::fs::OpenOptions::new().create(true).append(true).open(p) {
            Ok(f) => Some(std::sync::Mutex::new(f)),
            Err(e) => {
                eprintln!("cannot open log file {}: {e}", p.display());
                return 1;
            }
        },
    };
    match logfile {
        Some(f) => builder.with_writer(std::io::stderr.and(f)).with_ansi(false).init(),
        None => {
            use std::io::IsTerminal;
            let colour = colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
            builder.with_writer(std::io::stderr).with_ansi(colour).init();
        }
    }

    let mut config = match setup::load_config(cli.config.as_deref(), cli.force) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    if let Some(dir) = cli.state_dir {
        config.state_dir = dir;
    }
    if let Some(host) = cli.listen_host {
        config.listen.host = Some(host.to_string());
    }
    // The devices to serve: `[[personas]]` of the configuration, or the one of `-t`
    // (with the proxy upstreams of the configuration and the command line).
    let units = match personas::units(&config, cli.template.as_deref(), &cli.ports, &cli.upstreams) {
        Ok(u) => u,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    conpot_net::sys::raise_fd_limit();
    // Counted before seccomp, which may refuse what finding the cores reads.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let workers = conpot_core::config::worker_threads(config.workers, cores);
    let started = std::time::Instant::now();
    let notifier = notify::Notifier::from_env();
    let bound = match run::bind(&config, &units) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let mut state_dirs = vec![config.state_dir.as_path()];
    state_dirs.extend(
        units
            .iter()
            .map(|u| u.state_dir.as_path())
            .filter(|d| !d.starts_with(&config.state_dir)),
    );
    match privilege::drop_privileges(&config.daemon, cli.allow_root, &state_dirs) {
        Ok(outcome) => {
            if let Some(m) = privilege::describe(&outcome) {
                tracing::info!("{m}");
            }
        }
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    }
    // --- seccomp (issue 16): after binding and the privilege drop, before any thread ---
    if let Err(e) = seccomp::start(config.daemon.seccomp, cli.no_seccomp) {
        tracing::error!("{e}");
        return 1;
    }
    // --- end seccomp ---
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return 1;
        }
    };
    tracing::info!("{workers} runtime worker threads ({cores} cores)");
    runtime.block_on(run::run(config, units, bound, started, notifier))
}

/// Whether the log on stderr is coloured: only on a terminal, and never when `NO_COLOR` is
/// set to anything (no-color.org), so a pipe, a file or journald get plain text.
fn colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(super::colour(true, None));
        assert!(super::colour(true, Some(OsStr::new(""))));
        assert!(!super::colour(true, Some(OsStr::new("1"))));
        assert!(!super::colour(false, None));
    }
}
