//! The PostgreSQL transport: the schema of the SQLite sink with `jsonb` bodies, `uuid`,
//! `inet` and `timestamptz` columns, created on start (under an advisory lock, so sensors
//! starting together do not race); each batch is one transaction of multi-row inserts that
//! ignore event ids already stored. A failed connection is dropped and made again on the
//! next attempt; the runner spools meanwhile.

use std::io;
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};

use crate::record::Record;
use crate::sql;

/// The schema, created when missing.
pub const SCHEMA: &str = "
SELECT pg_advisory_xact_lock(4262017);
CREATE TABLE IF NOT EXISTS sessions (
    session_id uuid PRIMARY KEY,
    sensor_id text NOT NULL,
    protocol text NOT NULL,
    transport text NOT NULL,
    src_ip inet,
    src_port integer,
    dst_ip inet,
    dst_port integer,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    event_id uuid PRIMARY KEY,
    time timestamptz NOT NULL,
    sensor_id text NOT NULL,
    session_id uuid NOT NULL,
    protocol text NOT NULL,
    event_type text NOT NULL,
    src_ip inet,
    src_port integer,
    dst_ip inet,
    dst_port integer,
    body jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS events_src_ip ON events (src_ip, time);
CREATE INDEX IF NOT EXISTS events_protocol ON events (protocol, time);
CREATE INDEX IF NOT EXISTS events_session ON events (session_id);
CREATE INDEX IF NOT EXISTS sessions_src_ip ON sessions (src_ip);
CREATE TABLE IF NOT EXISTS files (
    sha256 text PRIMARY KEY,
    first_seen timestamptz NOT NULL,
    event_id uuid NOT NULL,
    name text,
    size bigint,
    status text
);
";

/// Rows per statement: PostgreSQL takes at most 65,535 parameters in one.
const MAX_ROWS: usize = 2000;

/// Longest wait for the server on one step (connect, a batch).
const STEP: Duration = Duration::from_secs(10);

/// A PostgreSQL event database.
pub struct Postgres {
    config: tokio_postgres::Config,
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("connected", &self.client.is_some())
            .finish()
    }
}

fn err(e: tokio_postgres::Error) -> io::Error {
    io::Error::other(e)
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the PostgreSQL server did not answer in time")
}

/// Owned parameters of one statement.
type Params = Vec<Box<dyn ToSql + Sync + Send>>;

fn values(rows: usize, casts: &[&str]) -> String {
    let mut s = String::with_capacity(rows * casts.len() * 12);
    for row in 0..rows {
        s.push_str(if row == 0 { "(" } else { ",(" });
        for (i, cast) in casts.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("${}{cast}", row * casts.len() + i + 1));
        }
        s.push(')');
    }
    s
}

fn port(p: Option<u16>) -> Option<i32> {
    p.map(i32::from)
}

const EVENT_CASTS: [&str; 11] = [
    "::text::uuid",
    "::text::timestamptz",
    "::text",
    "::text::uuid",
    "::text",
    "::text",
    "::text::inet",
    "::int4",
    "::text::inet",
    "::int4",
    "::text::jsonb",
];

fn event_params(r: &Record, p: &mut Params) {
    p.push(Box::new(r.id.clone()));
    p.push(Box::new(r.time.clone()));
    p.push(Box::new(r.sensor.clone()));
    p.push(Box::new(r.session.clone()));
    p.push(Box::new(r.protocol.clone()));
    p.push(Box::new(r.event_type.clone()));
    p.push(Box::new(r.src_ip.clone()));
    p.push(Box::new(port(r.src_port)));
    p.push(Box::new(r.dst_ip.clone()));
    p.push(Box::new(port(r.dst_port)));
    p.push(Box::new(sql::without_nul_escapes(&r.body).into_owned()));
}

impl Postgres {
    /// Reads the connection string; the connection is made on the first batch.
    pub fn new(url: &str, name: &str) -> io::Result<Postgres> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{name}: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("conpot-rs");
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(Postgres {
            config,
            rt,
            client: None,
        })
    }

    async fn connect(config: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client.batch_execute(&format!("BEGIN;{SCHEMA}COMMIT;")).await?;
        Ok(client)
    }

    async fn insert(client: &mut Client, batch: &[Record]) -> Result<(), tokio_postgres::Error> {
        let tx = client.transaction().await?;
        for chunk in batch.chunks(MAX_ROWS) {
            let mut p: Params = Vec::with_capacity(chunk.len() * EVENT_CASTS.len());
            for r in chunk {
                event_params(r, &mut p);
            }
            let q = format!(
                "INSERT INTO events (event_id, time, sensor_id, session_id, protocol, event_type, src_ip, src_port, \
                 dst_ip, dst_port, body) VALUES {} ON CONFLICT (event_id) DO NOTHING",
                values(chunk.len(), &EVENT_CASTS)
            );
            let refs: Vec<&(dyn ToSql + Sync)> = p.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect();
            tx.execute(q.as_str(), &refs).await?;
        }
        let all_sessions = sql::sessions(batch);
        for sessions in all_sessions.chunks(MAX_ROWS) {
            let casts = [
                "::text::uuid",
                "::text",
                "::text",
                "::text",
                "::text::inet",
                "::int4",
                "::text::inet",
                "::int4",
                "::text::timestamptz",
                "::text::timestamptz",
            ];
            let mut p: Params = Vec::with_capacity(sessions.len() * casts.len());
            for s in sessions {
                let r = s.record;
                p.push(Box::new(r.session.clone()));
                p.push(Box::new(r.sensor.clone()));
                p.push(Box::new(r.protocol.clone()));
                p.push(Box::new(r.transport.clone()));
                p.push(Box::new(r.src_ip.clone()));
                p.push(Box::new(port(r.src_port)));
                p.push(Box::new(r.dst_ip.clone()));
                p.push(Box::new(port(r.dst_port)));
                p.push(Box::new(s.first.to_owned()));
                p.push(Box::new(s.last.to_owned()));
            }
            let q = format!(
                "INSERT INTO sessions AS s (session_id, sensor_id, protocol, transport, src_ip, src_port, dst_ip, \
                 dst_port, first_seen, last_seen) VALUES {} ON CONFLICT (session_id) DO UPDATE SET \
                 first_seen = LEAST(s.first_seen, excluded.first_seen), \
                 last_seen = GREATEST(s.last_seen, excluded.last_seen)",
                values(sessions.len(), &casts)
            );
            let refs: Vec<&(dyn ToSql + Sync)> = p.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect();
            tx.execute(q.as_str(), &refs).await?;
        }
        for r in batch {
            if let Some(f) = &r.file {
                let size = f.size.and_then(|s| i64::try_from(s).ok());
                tx.execute(
                    "INSERT INTO files (sha256, first_seen, event_id, name, size, status) \
                     VALUES ($1, $2::text::timestamptz, $3::text::uuid, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING",
                    &[&f.sha256, &r.time, &r.id, &f.name, &size, &f.status],
                )
                .await?;
            }
        }
        tx.commit().await
    }
}

impl crate::Deliver for Postgres {
    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        let mut client = match self.client.take() {
            Some(c) if !c.is_closed() => c,
            _ => {
                let config = &self.config;
                self.rt
                    .block_on(async { tokio::time::timeout(STEP, Self::connect(config)).await })
                    .map_err(|_| timed_out())?
                    .map_err(err)?
            }
        };
        let outcome = self
            .rt
            .block_on(async { tokio::time::timeout(STEP, Self::insert(&mut client, batch)).await });
        match outcome {
            Ok(Ok(())) => {
                self.client = Some(client);
                Ok(())
            }
            // The server refused the data itself (not the connection): retrying the batch
            // would fail forever, so store what it takes one record at a time and let the
            // rest go, said in the log.
            Ok(Err(e)) if e.as_db_error().is_some() && !client.is_closed() => {
                let mut refused = 0;
                for r in batch {
                    let one = self.rt.block_on(async {
                        tokio::time::timeout(STEP, Self::insert(&mut client, std::slice::from_ref(r))).await
                    });
                    match one {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) if e.as_db_error().is_some() => {
                            refused += 1;
                            tracing::error!(event_id = %r.id, error = %e, "PostgreSQL refused an event");
                        }
                        Ok(Err(e)) => return Err(err(e)),
                        Err(_) => return Err(timed_out()),
                    }
                }
                tracing::warn!("PostgreSQL refused {refused} of {} events of a batch", batch.len());
                self.client = Some(client);
                Ok(())
            }
            Ok(Err(e)) => Err(err(e)),
            Err(_) => Err(timed_out()),
        }
    }
}
