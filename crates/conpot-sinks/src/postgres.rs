//! The PostgreSQL transport: the schema of the SQLite sink with `jsonb` bodies, `uuid`,
//! `inet` and `timestamptz` columns, created on start (under an advisory lock, so sensors
//! starting together do not race); each batch is one transaction: a binary `COPY` of the
//! events into a temporary staging table, then one `INSERT ... SELECT` from it that ignores
//! event ids already stored (a batch whose ids or addresses do not parse on this side goes
//! through inserts from column arrays instead, so the server refuses only those events). A failed connection is dropped and made again on the
//! next attempt; the runner spools meanwhile.

use std::io;
use std::time::Duration;

use std::error::Error as StdError;
use std::net::IpAddr;

use bytes::{BufMut, BytesMut};
use futures_util::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
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

    /// Writes the batch by binary `COPY` into the staging table and one `INSERT ... SELECT`
    /// from it; `None` (nothing sent) when a record's id, session or address does not parse
    /// here, for the caller to take the column-array path, where the server says which
    /// events it refuses.
    async fn copy_events(
        tx: &tokio_postgres::Transaction<'_>,
        batch: &[Record],
    ) -> Result<Option<()>, tokio_postgres::Error> {
        let mut rows = Vec::with_capacity(batch.len());
        for r in batch {
            let ip = |a: &Option<String>| match a {
                None => Some(None),
                Some(s) => s.parse::<IpAddr>().ok().map(Some),
            };
            let (Some(id), Some(session), Some(src_ip), Some(dst_ip)) = (
                PgUuid::parse(&r.id),
                PgUuid::parse(&r.session),
                ip(&r.src_ip),
                ip(&r.dst_ip),
            ) else {
                return Ok(None);
            };
            rows.push((id, session, src_ip, dst_ip));
        }
        // Made in the batch's own transaction, not once per connection: behind a pooler
        // in transaction mode the next transaction may run on another server session.
        tx.batch_execute(STAGING).await?;
        let sink = tx
            .copy_in(
                "COPY events_batch (event_id, time, sensor_id, session_id, protocol, event_type, src_ip, src_port, \
                 dst_ip, dst_port, body) FROM STDIN BINARY",
            )
            .await?;
        let writer = BinaryCopyInWriter::new(
            sink,
            &[
                Type::UUID,
                Type::TIMESTAMPTZ,
                Type::TEXT,
                Type::UUID,
                Type::TEXT,
                Type::TEXT,
                Type::INET,
                Type::INT4,
                Type::INET,
                Type::INT4,
                Type::JSONB,
            ],
        );
        pin_mut!(writer);
        for (r, (id, session, src_ip, dst_ip)) in batch.iter().zip(&rows) {
            let time = PgTime(r.time_us);
            let src_port = r.src_port.map(i32::from);
            let dst_port = r.dst_port.map(i32::from);
            let body = sql::without_nul_escapes(&r.body);
            let body = PgJsonb(body.as_ref());
            writer
                .as_mut()
                .write(&[
                    id,
                    &time,
                    &r.sensor,
                    session,
                    &r.protocol,
                    &r.event_type,
                    src_ip,
                    &src_port,
                    dst_ip,
                    &dst_port,
                    &body,
                ])
                .await?;
        }
        writer.finish().await?;
        tx.execute(
            "INSERT INTO events SELECT * FROM events_batch ON CONFLICT (event_id) DO NOTHING",
            &[],
        )
        .await?;
        Ok(Some(()))
    }

    async fn insert(client: &mut Client, batch: &[Record]) -> Result<(), tokio_postgres::Error> {
        let tx = client.transaction().await?;
        if Self::copy_events(&tx, batch).await?.is_none() {
            Self::insert_arrays(&tx, batch).await?;
        }
        Self::insert_sessions_files(&tx, batch).await?;
        tx.commit().await
    }

    /// The events of a batch as one insert from column arrays cast on the server.
    async fn insert_arrays(
        tx: &tokio_postgres::Transaction<'_>,
        batch: &[Record],
    ) -> Result<(), tokio_postgres::Error> {
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
        Ok(())
    }

    /// The sessions and captured files a batch names.
    async fn insert_sessions_files(
        tx: &tokio_postgres::Transaction<'_>,
        batch: &[Record],
    ) -> Result<(), tokio_postgres::Error> {
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
        Ok(())
    }
}

/// The staging table of one server session (temporary, so each session has its own and
/// nothing of it is logged), emptied by each commit; made when missing by each batch.
const STAGING: &str = "CREATE TEMP TABLE IF NOT EXISTS events_batch (LIKE events) ON COMMIT DELETE ROWS;";

/// Microseconds between the Unix epoch and PostgreSQL's, 2000-01-01.
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// A `uuid` parsed here from its text, sent as its 16 bytes.
#[derive(Debug)]
struct PgUuid([u8; 16]);

impl PgUuid {
    /// The 32 hex digits of the text form, hyphens anywhere skipped; `None` when anything
    /// else is there or the count is wrong.
    fn parse(s: &str) -> Option<PgUuid> {
        let mut out = [0u8; 16];
        let mut n = 0usize;
        for c in s.bytes().filter(|&c| c != b'-') {
            let d = char::from(c).to_digit(16)?;
            let byte = out.get_mut(n / 2)?;
            *byte = (*byte << 4) | u8::try_from(d).ok()?;
            n += 1;
        }
        (n == 32).then_some(PgUuid(out))
    }
}

impl ToSql for PgUuid {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
    to_sql_checked!();
}

/// A `timestamptz` from the record's microseconds since the Unix epoch.
#[derive(Debug)]
struct PgTime(i64);

impl ToSql for PgTime {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_i64(self.0.saturating_sub(PG_EPOCH_US));
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }
    to_sql_checked!();
}

/// A `jsonb` value: the binary form is a version byte (1) and the JSON text.
#[derive(Debug)]
struct PgJsonb<'a>(&'a str);

impl ToSql for PgJsonb<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }
    to_sql_checked!();
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn bytes(v: &dyn ToSql, ty: &Type) -> Vec<u8> {
        let mut out = BytesMut::new();
        assert!(matches!(v.to_sql_checked(ty, &mut out).unwrap(), IsNull::No));
        out.to_vec()
    }

    #[test]
    fn uuid_text_becomes_its_sixteen_bytes() {
        let u = uuid::Uuid::now_v7();
        assert_eq!(PgUuid::parse(&u.to_string()).unwrap().0, *u.as_bytes());
        assert_eq!(PgUuid::parse(&u.simple().to_string()).unwrap().0, *u.as_bytes());
        assert_eq!(
            bytes(&PgUuid::parse(&u.to_string()).unwrap(), &Type::UUID),
            u.as_bytes()
        );
    }

    #[test]
    fn malformed_uuids_are_refused_here() {
        for bad in [
            "",
            "x",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "g123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcdé",
        ] {
            assert!(PgUuid::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn time_counts_from_postgres_epoch_and_jsonb_has_version_one() {
        assert_eq!(bytes(&PgTime(PG_EPOCH_US), &Type::TIMESTAMPTZ), 0i64.to_be_bytes());
        assert_eq!(
            bytes(&PgTime(PG_EPOCH_US + 1_500_000), &Type::TIMESTAMPTZ),
            1_500_000i64.to_be_bytes()
        );
        assert_eq!(bytes(&PgJsonb("{\"a\":1}"), &Type::JSONB), b"\x01{\"a\":1}");
        assert!(!PgJsonb::accepts(&Type::JSON));
        assert!(!PgUuid::accepts(&Type::TEXT));
    }
}
