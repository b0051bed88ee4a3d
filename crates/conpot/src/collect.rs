//! `conpot collect`: the central collector of a fleet, on its own (no template, no
//! listeners). The work is in [`conpot_sinks::collect`]; this runs it on a thread of its
//! own and stops it cleanly on SIGINT or SIGTERM (the batch in hand is written and
//! acknowledged first).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use conpot_sinks::collect::{CollectSpec, Output, Stats};
use conpot_sinks::nats::{NatsSpec, StreamLimits};

use crate::cli::CollectArgs;

/// Runs the collector until a signal; returns the exit code.
pub fn main(args: &CollectArgs) -> i32 {
    let level = if args.quiet {
        tracing::Level::WARN
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let output = match (&args.postgres, &args.jsonl) {
        (Some(url), _) => Output::Postgres(url.clone()),
        (None, Some(path)) => Output::JsonLines(path.clone()),
        (None, None) => {
            tracing::error!("conpot collect needs --postgres or --jsonl");
            return 2;
        }
    };
    let spec = CollectSpec {
        nats: NatsSpec {
            url: args.nats.clone(),
            user: None,
            password: None,
            token: None,
            stream: args.stream.clone(),
            subject_prefix: args.subject_prefix.clone(),
            limits: StreamLimits::default(),
            files_bucket: None,
            ack_timeout: Duration::from_secs(5),
        },
        consumer: args.consumer.clone(),
        batch: args.batch as usize,
        ack_wait: Duration::from_secs(u64::from(args.ack_wait)),
        output,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Stats::default());
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return 1;
        }
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let worker = {
        let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
        std::thread::Builder::new()
            .name("conpot-collect".into())
            .spawn(move || {
                let r = conpot_sinks::collect::run(&spec, &stop, &stats);
                let _ = done_tx.send(());
                r
            })
    };
    let worker = match worker {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("cannot start the collector thread: {e}");
            return 1;
        }
    };
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            tracing::error!("cannot install the signal handlers");
            stop.store(true, Ordering::Relaxed);
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = done_rx => {}
        }
        stop.store(true, Ordering::Relaxed);
    });
    let result = worker.join();
    let written = stats.written.load(Ordering::Relaxed);
    match result {
        Ok(Ok(())) => {
            tracing::info!("collector stopped: {written} events written");
            0
        }
        Ok(Err(e)) => {
            tracing::error!("collector failed: {e}");
            1
        }
        Err(_) => {
            tracing::error!("the collector thread panicked");
            1
        }
    }
}
