//! The one timed loop of every load mode: `workers` workers, each opening its state once
//! (a connection, a socket, a counter) and then running one step (a request, a whole
//! session, a transfer) back to back until the deadline; every step is counted and the
//! good ones timed. [`tasks`] runs the workers as tokio tasks, [`threads`] as OS threads
//! for the blocking clients.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::load::{Report, merge};

/// What a worker does after a failed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnError {
    /// Counts the error and runs the next step (each step stands alone, e.g. a whole session).
    Next,
    /// Counts the error and ends the worker (its connection is no longer usable).
    Stop,
}

/// The future of one step, borrowing the worker's state.
pub(crate) type StepFuture<'a> = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send + 'a>>;

/// What one worker counted.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    err: u64,
    latencies: Vec<u32>,
}

impl Tally {
    /// A worker that could not open its state: one error, nothing else.
    fn failed() -> Tally {
        Tally {
            err: 1,
            ..Tally::default()
        }
    }

    /// Counts a step begun at `began` with result `r`; says whether the worker goes on.
    fn count<T, E>(&mut self, began: Instant, r: Result<T, E>, on_error: OnError) -> bool {
        match r {
            Ok(_) => {
                self.ok += 1;
                self.latencies
                    .push(began.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                true
            }
            Err(_) => {
                self.err += 1;
                on_error == OnError::Next
            }
        }
    }

    fn into_part(self) -> (u64, u64, Vec<u32>) {
        (self.ok, self.err, self.latencies)
    }
}

/// Runs `workers` tokio tasks for `duration`: task `w` opens its state with `open(w)` (a
/// failure counts one error and ends the task), then runs `step` on it back to back until
/// the deadline; `on_error` says whether a failed step ends the task.
pub(crate) async fn tasks<S, Open, OpenFut, Step>(
    label: &str,
    workers: usize,
    duration: Duration,
    on_error: OnError,
    open: Open,
    step: Step,
) -> Report
where
    S: Send + 'static,
    Open: Fn(usize) -> OpenFut + Clone + Send + 'static,
    OpenFut: Future<Output = std::io::Result<S>> + Send,
    Step: for<'a> Fn(&'a mut S) -> StepFuture<'a> + Clone + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + duration;
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let (open, step) = (open.clone(), step.clone());
        handles.push(tokio::spawn(async move {
            let Ok(mut state) = open(w).await else {
                return Tally::failed();
            };
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let began = Instant::now();
                let r = step(&mut state).await;
                if !tally.count(began, r, on_error) {
                    break;
                }
            }
            tally
        }));
    }
    let mut parts = Vec::with_capacity(workers);
    for h in handles {
        parts.push(h.await.unwrap_or_else(|_| Tally::failed()).into_part());
    }
    merge(label, parts, start.elapsed())
}

/// [`tasks`] for blocking clients: `workers` OS threads, thread `w` opening its state with
/// `open(w)` and running `step` on it back to back until `duration` is over.
pub(crate) fn threads<S, Open, Step>(
    label: &str,
    workers: usize,
    duration: Duration,
    on_error: OnError,
    open: Open,
    step: Step,
) -> Report
where
    Open: Fn(usize) -> std::io::Result<S> + Clone + Send + 'static,
    Step: Fn(&mut S) -> std::io::Result<()> + Clone + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (open, step) = (open.clone(), step.clone());
            std::thread::spawn(move || {
                let Ok(mut state) = open(w) else {
                    return Tally::failed();
                };
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    let began = Instant::now();
                    let r = step(&mut state);
                    if !tally.count(began, r, on_error) {
                        break;
                    }
                }
                tally
            })
        })
        .collect();
    let parts = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|_| Tally::failed()).into_part())
        .collect();
    merge(label, parts, start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_ends_a_worker_at_its_first_error_and_next_goes_on() {
        let stop = threads(
            "t",
            2,
            Duration::from_millis(50),
            OnError::Stop,
            |_| Ok(0u32),
            |n| {
                *n += 1;
                if *n > 3 {
                    Err(std::io::Error::other("x"))
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!((stop.requests, stop.errors, stop.latencies.len()), (6, 2, 6));
        let next = threads(
            "t",
            1,
            Duration::from_millis(30),
            OnError::Next,
            |_| Ok(0u32),
            |n| {
                *n += 1;
                std::thread::sleep(Duration::from_millis(1));
                if *n % 2 == 0 {
                    Err(std::io::Error::other("x"))
                } else {
                    Ok(())
                }
            },
        );
        assert!(next.errors >= 5 && next.requests.abs_diff(next.errors) <= 1, "{next:?}");
    }

    #[test]
    fn a_worker_that_cannot_open_counts_one_error() {
        let r = threads(
            "t",
            3,
            Duration::from_millis(10),
            OnError::Next,
            |w| {
                if w == 1 {
                    Err(std::io::Error::other("no"))
                } else {
                    Ok(())
                }
            },
            |()| Err(std::io::Error::other("step")),
        );
        assert!(r.errors > 1 && r.requests == 0, "{r:?}");
    }

    #[tokio::test]
    async fn tasks_count_and_time_each_step() {
        let r = tasks(
            "t",
            2,
            Duration::from_millis(50),
            OnError::Stop,
            |w| async move { Ok(w) },
            |w| {
                Box::pin(async move {
                    *w += 2;
                    if *w > 6 {
                        Err(std::io::Error::other("done"))
                    } else {
                        Ok(())
                    }
                })
            },
        )
        .await;
        // Worker 0 succeeds at 2, 4, 6; worker 1 at 3, 5; each then fails once.
        assert_eq!(
            (r.requests, r.errors, r.latencies.len(), r.label.as_str()),
            (5, 2, 5, "t")
        );
    }
}
