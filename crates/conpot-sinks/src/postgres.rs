//! The PostgreSQL transport: the schema of the SQLite sink with `jsonb` bodies, `uuid`,
//! `inet` and `timestamptz` columns, created on start (under an advisory lock, so sensors
//! starting together do not race); each batch is one transaction of inserts from
//! column arrays that ignore event ids already stored. A failed connection is dropped and made again on the
//! next attempt; the runner spools meanwhile.

use std::io;
use std::time::Duration;

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
        // One array per column, unnested on the server: one small statement per batch
        // however large, where a multi-row VALUES list costs the server a plan of tens of
        // thousands of parameters.
        // Columns borrow the records' text: no copy of a dozen strings per event.
        let col = |f: &dyn Fn(&Record) -> &str| batch.iter().map(f).collect::<Vec<&str>>();
        let opt = |f: &dyn Fn(&Record) -> Option<&str>| batch.iter().map(f).collect::<Vec<Option<&str>>>();
        let port = |f: &dyn Fn(&Record) -> Option<u16>| {
            batch.iter().map(|r| f(r).map(i32::from)).collect::<Vec<Option<i32>>>()
        };
        let ids = col(&|r| &r.id);
        let times = col(&|r| &r.time);
        let sensors = col(&|r| &r.sensor);
        let sessions_col = col(&|r| &r.session);
        let protocols = col(&|r| &r.protocol);
        let types = col(&|r| &r.event_type);
        let src_ip = opt(&|r| r.src_ip.as_deref());
        let src_port = port(&|r| r.src_port);
        let dst_ip = opt(&|r| r.dst_ip.as_deref());
        let dst_port = port(&|r| r.dst_port);
        let cleaned: Vec<std::borrow::Cow<'_, str>> = batch.iter().map(|r| sql::without_nul_escapes(&r.body)).collect();
        let bodies: Vec<&str> = cleaned.iter().map(|b| b.as_ref()).collect();
        tx.execute(
            "INSERT INTO events (event_id, time, sensor_id, session_id, protocol, event_type, src_ip, src_port, \
             dst_ip, dst_port, body) \
             SELECT a::uuid, b::timestamptz, c, d::uuid, e, f, g::inet, h, i::inet, j, k::jsonb \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
             $8::int4[], $9::text[], $10::int4[], $11::text[]) AS t(a, b, c, d, e, f, g, h, i, j, k) \
             ON CONFLICT (event_id) DO NOTHING",
            &[
                &ids,
                &times,
                &sensors,
                &sessions_col,
                &protocols,
                &types,
                &src_ip,
                &src_port,
                &dst_ip,
                &dst_port,
                &bodies,
            ],
        )
        .await?;
        let sessions = sql::sessions(batch);
        if !sessions.is_empty() {
            let scol = |f: &dyn Fn(&sql::SessionRow<'_>) -> String| sessions.iter().map(f).collect::<Vec<String>>();
            let sopt = |f: &dyn Fn(&sql::SessionRow<'_>) -> Option<String>| {
                sessions.iter().map(f).collect::<Vec<Option<String>>>()
            };
            let sport = |f: &dyn Fn(&sql::SessionRow<'_>) -> Option<u16>| {
                sessions
                    .iter()
                    .map(|s| f(s).map(i32::from))
                    .collect::<Vec<Option<i32>>>()
            };
            tx.execute(
                "INSERT INTO sessions AS s (session_id, sensor_id, protocol, transport, src_ip, src_port, dst_ip, \
                 dst_port, first_seen, last_seen) \
                 SELECT a::uuid, b, c, d, e::inet, f, g::inet, h, i::timestamptz, j::timestamptz \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::text[], \
                 $8::int4[], $9::text[], $10::text[]) AS t(a, b, c, d, e, f, g, h, i, j) \
                 ON CONFLICT (session_id) DO UPDATE SET \
                 first_seen = LEAST(s.first_seen, excluded.first_seen), \
                 last_seen = GREATEST(s.last_seen, excluded.last_seen)",
                &[
                    &scol(&|s| s.record.session.clone()),
                    &scol(&|s| s.record.sensor.clone()),
                    &scol(&|s| s.record.protocol.clone()),
                    &scol(&|s| s.record.transport.clone()),
                    &sopt(&|s| s.record.src_ip.clone()),
                    &sport(&|s| s.record.src_port),
                    &sopt(&|s| s.record.dst_ip.clone()),
                    &sport(&|s| s.record.dst_port),
                    &scol(&|s| s.first.to_owned()),
                    &scol(&|s| s.last.to_owned()),
                ],
            )
            .await?;
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
