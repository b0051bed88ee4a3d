//! The `conpot` binary: command line, logging, and the run.

mod cli;
mod commands;
mod embedded;
mod registry;
mod run;
mod setup;

use clap::Parser;

/// Many small, short-lived allocations cross threads (events go from sessions to sink
/// threads); mimalloc keeps that from contending on one lock.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::fmt::writer::MakeWriterExt;

fn main() {
    let cli = cli::Cli::parse();
    let code = match &cli.command {
        Some(cli::Command::Templates) => commands::list_templates(),
        Some(cli::Command::Template {
            action: cli::TemplateAction::Check { path },
        }) => commands::check_template(path),
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
        None => builder.with_writer(std::io::stderr).init(),
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
    config.listen.ports.extend(cli.ports);
    let template = match setup::load_template(cli.template.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    conpot_net::sys::raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(run::run(config, template))
}
