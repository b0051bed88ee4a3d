//! The PostgreSQL transport: the schema of the SQLite sink with `jsonb` bodies, `uuid`,
//! `inet` and `timestamptz` columns, created on start (under an advisory lock, so sensors
//! starting together do not race); each batch is one transaction: a binary `COPY` of the
//! events into a temporary staging table, then one `INSERT ... SELECT` from it that ignores
//! event ids already stored (a batch whose ids or addresses do not parse on this side goes
//! through inserts from column arrays instead, so the server refuses only those events).
//! Batches are pipelined over two connections (the runner's [`Window`]): the next batch is
//! encoded and copied on one while the other still inserts and commits the last, and a
//! batch counts as delivered only once committed. A failure gives up every batch in flight
//! and every connection; the runner spools those batches and sends them again in order on
//! new connections (the event ids keep each event once in the table).

use std::io;
use std::time::Duration;

use std::error::Error as StdError;
use std::net::IpAddr;

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, pin_mut};
use tokio::task::JoinHandle;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls};

use crate::record::Record;
use crate::runner::Window;
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

/// Longest wait for the server on one step (connect, a batch, one event of a batch the
/// server refused).
const STEP: Duration = Duration::from_secs(10);

/// Connections a sink keeps, each with one batch in flight at most: batch N+1 is encoded
/// and its `COPY` sent on the second connection while the first still inserts and commits
/// batch N, so the server's two backends and the sensor work at once. One connection with
/// its requests pipelined would keep a single backend busy (bounded by one core's worth of
/// parsing and indexing), and a `COPY` cannot be queued behind another transaction's
/// statements there anyway: the client waits for the server to accept the copy first.
const CONNECTIONS: usize = 2;

/// The runner's window: one batch per connection (batches are at most 100,000 records).
const WINDOW: Window = Window {
    batches: CONNECTIONS,
    records: CONNECTIONS * 100_000,
};

/// The statement filling the staging table.
const COPY_IN: &str = "COPY events_batch (event_id, time, sensor_id, session_id, protocol, event_type, src_ip, \
                       src_port, dst_ip, dst_port, body) FROM STDIN BINARY";

/// The staging table's rows into the events, repeats of stored event ids ignored.
const FROM_STAGING: &str = "INSERT INTO events SELECT * FROM events_batch ON CONFLICT (event_id) DO NOTHING";

/// The header of a binary `COPY` stream: signature, flags, no header extension.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The trailer of a binary `COPY` stream.
const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// Columns of the events table.
const EVENT_COLUMNS: i16 = 11;

/// A PostgreSQL event database.
pub struct Postgres {
    config: tokio_postgres::Config,
    /// A runtime with a worker thread of its own, so batches in flight advance while the
    /// runner's thread encodes the next one.
    rt: tokio::runtime::Runtime,
    /// Connections with no batch in flight.
    idle: Vec<Client>,
    /// The tasks of the batches started and not settled, oldest first; each gives its
    /// connection back with the outcome.
    in_flight: VecDeque<JoinHandle<(Client, io::Result<()>)>>,
    /// Whether a connection of this sink made the schema since the last failure. Only the
    /// first connection does: `CREATE INDEX IF NOT EXISTS` waits for every transaction
    /// writing the table, so a second connection made while a batch is in flight would
    /// wait for that batch's commit.
    schema_made: bool,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("idle", &self.idle.len())
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

fn err(e: tokio_postgres::Error) -> io::Error {
    io::Error::other(e)
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the PostgreSQL server did not answer in time")
}

/// Whether the server refused the data itself (a bad value, a broken constraint, a value
/// over one of its limits: SQLSTATE classes 22, 23 and 54), which would fail again however
/// often it is sent: then the events go one at a time and only the refused ones are let
/// go. Anything else (the connection, a deadlock, a shutdown, a table dropped under the
/// sink) is worth sending again, on a new connection.
fn refused(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|d| matches!(d.code().code().get(..2), Some("22" | "23" | "54")))
}

/// A batch as it goes to the server, made on the runner's thread so the client's thread
/// only sends it: the events as a binary `COPY` stream (or as records, when something in
/// them does not parse here), the sessions' columns and the captured files.
#[derive(Debug)]
struct Prepared {
    events: Events,
    sessions: Option<SessionColumns>,
    files: Vec<FileRow>,
}

#[derive(Debug)]
enum Events {
    /// The rows of a binary `COPY` (no header or trailer) and where each ends.
    Copy { rows: Bytes, ends: Vec<usize> },
    /// Records inserted from column arrays cast on the server, where the server says which
    /// events it refuses.
    Records(Vec<Record>),
}

/// The sessions of a batch, one array per column.
#[derive(Debug, Default)]
struct SessionColumns {
    id: Vec<String>,
    sensor: Vec<String>,
    protocol: Vec<String>,
    transport: Vec<String>,
    src_ip: Vec<Option<String>>,
    src_port: Vec<Option<i32>>,
    dst_ip: Vec<Option<String>>,
    dst_port: Vec<Option<i32>>,
    first: Vec<String>,
    last: Vec<String>,
}

/// A captured file's row.
#[derive(Debug)]
struct FileRow {
    sha256: String,
    time: String,
    event_id: String,
    name: Option<String>,
    size: Option<i64>,
    status: Option<String>,
}

/// Appends one field of a binary `COPY` row: its length, then its bytes (-1 for NULL).
fn field<T: ToSql>(out: &mut BytesMut, v: &T, ty: &Type) -> io::Result<()> {
    let at = out.len();
    out.put_i32(0);
    match v.to_sql(ty, out).map_err(io::Error::other)? {
        IsNull::Yes => {
            out.truncate(at);
            out.put_i32(-1);
        }
        IsNull::No => {
            let len = i32::try_from(out.len() - at - 4)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a field over 2 GB"))?;
            if let Some(slot) = out.get_mut(at..at + 4) {
                slot.copy_from_slice(&len.to_be_bytes());
            }
        }
    }
    Ok(())
}

impl Prepared {
    /// The batch's rows and columns; the events as a `COPY` stream unless an id, session or
    /// address does not parse here.
    fn of(batch: &[Record]) -> io::Result<Prepared> {
        let events = match Self::copy_rows(batch)? {
            Some((rows, ends)) => Events::Copy { rows, ends },
            None => Events::Records(batch.to_vec()),
        };
        let rows = sql::sessions(batch);
        let sessions = (!rows.is_empty()).then(|| {
            let mut c = SessionColumns::default();
            for s in &rows {
                let r = s.record;
                c.id.push(r.session.clone());
                c.sensor.push(r.sensor.clone());
                c.protocol.push(r.protocol.clone());
                c.transport.push(r.transport.clone());
                c.src_ip.push(r.src_ip.clone());
                c.src_port.push(r.src_port.map(i32::from));
                c.dst_ip.push(r.dst_ip.clone());
                c.dst_port.push(r.dst_port.map(i32::from));
                c.first.push(s.first.to_owned());
                c.last.push(s.last.to_owned());
            }
            c
        });
        let mut files: Vec<FileRow> = batch
            .iter()
            .filter_map(|r| {
                let f = r.file.as_ref()?;
                Some(FileRow {
                    sha256: f.sha256.clone(),
                    time: r.time.clone(),
                    event_id: r.id.clone(),
                    name: f.name.clone(),
                    size: f.size.and_then(|s| i64::try_from(s).ok()),
                    status: f.status.clone(),
                })
            })
            .collect();
        // In one order, so two batches in flight on two connections never wait on each
        // other's rows crosswise (the sessions come sorted by id already).
        files.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        Ok(Prepared {
            events,
            sessions,
            files,
        })
    }

    /// The binary `COPY` rows of `batch` and the end of each; `None` when a record's id,
    /// session or address does not parse here.
    fn copy_rows(batch: &[Record]) -> io::Result<Option<(Bytes, Vec<usize>)>> {
        let ip = |a: &Option<String>| match a {
            None => Some(None),
            Some(s) => s.parse::<IpAddr>().ok().map(Some),
        };
        let mut out = BytesMut::with_capacity(batch.iter().map(|r| r.body.len() + 160).sum());
        let mut ends = Vec::with_capacity(batch.len());
        for r in batch {
            let (Some(id), Some(session), Some(src_ip), Some(dst_ip)) = (
                PgUuid::parse(&r.id),
                PgUuid::parse(&r.session),
                ip(&r.src_ip),
                ip(&r.dst_ip),
            ) else {
                return Ok(None);
            };
            let body = sql::without_nul_escapes(&r.body);
            out.put_i16(EVENT_COLUMNS);
            field(&mut out, &id, &Type::UUID)?;
            field(&mut out, &PgTime(r.time_us), &Type::TIMESTAMPTZ)?;
            field(&mut out, &r.sensor.as_str(), &Type::TEXT)?;
            field(&mut out, &session, &Type::UUID)?;
            field(&mut out, &r.protocol.as_str(), &Type::TEXT)?;
            field(&mut out, &r.event_type.as_str(), &Type::TEXT)?;
            field(&mut out, &src_ip, &Type::INET)?;
            field(&mut out, &r.src_port.map(i32::from), &Type::INT4)?;
            field(&mut out, &dst_ip, &Type::INET)?;
            field(&mut out, &r.dst_port.map(i32::from), &Type::INT4)?;
            field(&mut out, &PgJsonb(body.as_ref()), &Type::JSONB)?;
            ends.push(out.len());
        }
        Ok(Some((out.freeze(), ends)))
    }

    /// The events of the batch one by one, each alone (no sessions or files).
    fn each(&self) -> Vec<(String, Prepared)> {
        let alone = |events| Prepared {
            events,
            sessions: None,
            files: Vec::new(),
        };
        match &self.events {
            Events::Copy { rows, ends } => {
                let mut start = 0;
                ends.iter()
                    .map(|&end| {
                        let row = rows.slice(start..end);
                        start = end;
                        // The row's first field is the event id: a count, a length, 16 bytes.
                        let id = row
                            .get(6..22)
                            .and_then(|b| uuid::Uuid::from_slice(b).ok())
                            .map_or_else(String::new, |u| u.to_string());
                        (
                            id,
                            alone(Events::Copy {
                                ends: vec![row.len()],
                                rows: row,
                            }),
                        )
                    })
                    .collect()
            }
            Events::Records(records) => records
                .iter()
                .map(|r| (r.id.clone(), alone(Events::Records(vec![r.clone()]))))
                .collect(),
        }
    }

    /// The sessions and files alone, once the events went one by one.
    fn extras(self) -> Prepared {
        Prepared {
            events: Events::Records(Vec::new()),
            sessions: self.sessions,
            files: self.files,
        }
    }
}

impl Postgres {
    /// Reads the connection string; the connections are made on the first batches.
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
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("conpot-postgres")
            .enable_all()
            .build()?;
        Ok(Postgres {
            config,
            rt,
            idle: Vec::new(),
            in_flight: VecDeque::new(),
            schema_made: false,
        })
    }

    async fn connect(config: &tokio_postgres::Config, schema: bool) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        if schema {
            client.batch_execute(&format!("BEGIN;{SCHEMA}COMMIT;")).await?;
        }
        Ok(client)
    }

    /// An idle connection, or a new one.
    fn client(&mut self) -> io::Result<Client> {
        while let Some(c) = self.idle.pop() {
            if !c.is_closed() {
                return Ok(c);
            }
        }
        let (config, schema) = (&self.config, !self.schema_made);
        let client = self
            .rt
            .block_on(async { tokio::time::timeout(STEP, Self::connect(config, schema)).await })
            .map_err(|_| timed_out())?
            .map_err(err)?;
        self.schema_made = true;
        Ok(client)
    }

    /// Forgets every batch in flight and every connection (after a failure): the runner
    /// sends those batches again, on new connections. A transaction cut short is rolled
    /// back by the server when its connection goes.
    fn give_up(&mut self) {
        for task in self.in_flight.drain(..) {
            task.abort();
        }
        self.idle.clear();
        // The next connection makes the schema again (the tables may have been dropped).
        self.schema_made = false;
    }

    /// Stores the batch: one transaction; when the server refuses data in it, each event
    /// in a transaction of its own (only the refused ones are let go, said in the log),
    /// then the sessions and files.
    async fn store(client: &Client, p: Prepared) -> io::Result<()> {
        let e = match tokio::time::timeout(STEP, Self::write(client, &p)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) if refused(&e) && !client.is_closed() => e,
            Ok(Err(e)) => return Err(err(e)),
            Err(_) => return Err(timed_out()),
        };
        tracing::debug!(error = %e, "PostgreSQL refused a batch; storing its events one by one");
        let each = p.each();
        let total = each.len();
        let mut refused_events = 0;
        for (id, one) in each {
            match tokio::time::timeout(STEP, Self::write(client, &one)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) if refused(&e) && !client.is_closed() => {
                    refused_events += 1;
                    tracing::error!(event_id = %id, error = %e, "PostgreSQL refused an event");
                }
                Ok(Err(e)) => return Err(err(e)),
                Err(_) => return Err(timed_out()),
            }
        }
        match tokio::time::timeout(STEP, Self::write(client, &p.extras())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) if refused(&e) && !client.is_closed() => {
                tracing::error!(error = %e, "PostgreSQL refused the sessions or files of a batch");
            }
            Ok(Err(e)) => return Err(err(e)),
            Err(_) => return Err(timed_out()),
        }
        tracing::warn!("PostgreSQL refused {refused_events} of {total} events of a batch");
        Ok(())
    }

    /// One transaction: the events, then the sessions (after the events: a second batch in
    /// flight updating the same session waits for the first one's commit only there, its
    /// `COPY` and insert done meanwhile), the files, the commit. Rolled back on failure
    /// while the connection lives, for the next transaction on it.
    async fn write(client: &Client, p: &Prepared) -> Result<(), tokio_postgres::Error> {
        // The staging table is made in the batch's own transaction, not once per
        // connection: behind a pooler in transaction mode the next transaction may run on
        // another server session.
        let begin = match &p.events {
            Events::Copy { .. } => {
                "BEGIN; CREATE TEMP TABLE IF NOT EXISTS events_batch (LIKE events) ON COMMIT DELETE ROWS"
            }
            Events::Records(_) => "BEGIN",
        };
        client.batch_execute(begin).await?;
        let outcome = async {
            match &p.events {
                Events::Copy { rows, .. } => Self::copy_events(client, rows.clone()).await?,
                Events::Records(records) if !records.is_empty() => Self::insert_arrays(client, records).await?,
                Events::Records(_) => {}
            }
            if let Some(s) = &p.sessions {
                Self::insert_sessions(client, s).await?;
            }
            for f in &p.files {
                client
                    .execute(
                        "INSERT INTO files (sha256, first_seen, event_id, name, size, status) \
                         VALUES ($1, $2::text::timestamptz, $3::text::uuid, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING",
                        &[&f.sha256, &f.time, &f.event_id, &f.name, &f.size, &f.status],
                    )
                    .await?;
            }
            client.batch_execute("COMMIT").await
        }
        .await;
        if outcome.is_err() && !client.is_closed() {
            let _ = client.batch_execute("ROLLBACK").await;
        }
        outcome
    }

    /// The binary `COPY` of the rows into the staging table and one `INSERT ... SELECT`
    /// from it.
    async fn copy_events(client: &Client, rows: Bytes) -> Result<(), tokio_postgres::Error> {
        let sink = client.copy_in::<_, Bytes>(COPY_IN).await?;
        pin_mut!(sink);
        sink.feed(Bytes::from_static(COPY_HEADER)).await?;
        sink.feed(rows).await?;
        sink.feed(Bytes::from_static(COPY_TRAILER)).await?;
        sink.as_mut().finish().await?;
        client.batch_execute(FROM_STAGING).await
    }

    /// The events of a batch as one insert from column arrays cast on the server.
    async fn insert_arrays(client: &Client, batch: &[Record]) -> Result<(), tokio_postgres::Error> {
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
        client
            .execute(
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

    /// The sessions a batch names, their first and last times widened.
    async fn insert_sessions(client: &Client, s: &SessionColumns) -> Result<(), tokio_postgres::Error> {
        client
            .execute(
                "INSERT INTO sessions AS s (session_id, sensor_id, protocol, transport, src_ip, src_port, dst_ip, \
                 dst_port, first_seen, last_seen) \
                 SELECT a::uuid, b, c, d, e::inet, f, g::inet, h, i::timestamptz, j::timestamptz \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::text[], \
                 $8::int4[], $9::text[], $10::text[]) AS t(a, b, c, d, e, f, g, h, i, j) \
                 ON CONFLICT (session_id) DO UPDATE SET \
                 first_seen = LEAST(s.first_seen, excluded.first_seen), \
                 last_seen = GREATEST(s.last_seen, excluded.last_seen)",
                &[
                    &s.id,
                    &s.sensor,
                    &s.protocol,
                    &s.transport,
                    &s.src_ip,
                    &s.src_port,
                    &s.dst_ip,
                    &s.dst_port,
                    &s.first,
                    &s.last,
                ],
            )
            .await?;
        Ok(())
    }
}

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
    /// Stores `batch` and waits for its commit (the spool's drain and `conpot collect` use
    /// this; nothing else is in flight then).
    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        crate::runner::start_and_settle(self, batch)
    }

    fn window(&self) -> Option<Window> {
        Some(WINDOW)
    }

    fn start(&mut self, batch: &[Record]) -> io::Result<()> {
        let started = Prepared::of(batch).and_then(|p| {
            let client = self.client()?;
            let task = self.rt.spawn(async move {
                let outcome = Self::store(&client, p).await;
                (client, outcome)
            });
            self.in_flight.push_back(task);
            Ok(())
        });
        if started.is_err() {
            self.give_up();
        }
        started
    }

    fn settle(&mut self, wait: bool) -> Option<io::Result<()>> {
        match crate::runner::settle_oldest(&self.rt, &mut self.in_flight, wait)? {
            Ok((client, Ok(()))) => {
                self.idle.push(client);
                Some(Ok(()))
            }
            Ok((_, Err(e))) | Err(e) => {
                self.give_up();
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn record(n: u8, src_ip: Option<&str>, sha: Option<&str>) -> Record {
        Record {
            id: uuid::Uuid::now_v7().to_string(),
            time: "2026-01-01T00:00:00.000000Z".into(),
            time_us: 1_767_225_600_000_000 + i64::from(n),
            sensor: "s1".into(),
            session: uuid::Uuid::now_v7().to_string(),
            protocol: "modbus".into(),
            transport: "tcp".into(),
            event_type: "modbus.request".into(),
            src_ip: src_ip.map(str::to_owned),
            src_port: Some(4000),
            dst_ip: None,
            dst_port: None,
            file: sha.map(|s| crate::record::FileRef {
                sha256: s.into(),
                name: None,
                size: Some(3),
                status: Some("stored".into()),
            }),
            body: format!("{{\"n\":{n}}}"),
        }
    }

    /// Reads the binary `COPY` row at the front of `row`: its fields (`None` for NULL).
    fn fields(row: &[u8]) -> Vec<Option<Vec<u8>>> {
        let count = i16::from_be_bytes([row[0], row[1]]);
        let mut at = 2;
        let mut out = Vec::new();
        for _ in 0..count {
            let len = i32::from_be_bytes(row[at..at + 4].try_into().unwrap());
            at += 4;
            if len < 0 {
                out.push(None);
            } else {
                out.push(Some(row[at..at + len as usize].to_vec()));
                at += len as usize;
            }
        }
        assert_eq!(at, row.len(), "the row ends where its fields do");
        out
    }

    #[test]
    fn copy_rows_hold_every_field_in_binary_and_split_by_event() {
        let batch = [
            record(1, Some("198.51.100.4"), None),
            record(2, None, None),
            record(3, Some("2001:db8::1"), None),
        ];
        let p = Prepared::of(&batch).unwrap();
        let Events::Copy { rows, ends } = &p.events else {
            panic!("parsed records go by COPY")
        };
        assert_eq!(ends.len(), 3);
        assert_eq!(ends.last(), Some(&rows.len()));
        let first = fields(&rows[..ends[0]]);
        assert_eq!(first.len(), usize::try_from(EVENT_COLUMNS).unwrap());
        assert_eq!(
            first[0].as_deref(),
            Some(uuid::Uuid::parse_str(&batch[0].id).unwrap().as_bytes().as_slice())
        );
        assert_eq!(first[2].as_deref(), Some(b"s1".as_slice()));
        // inet: family 2 (IPv4), 32 bits, not a cidr, 4 bytes.
        assert_eq!(first[6].as_deref(), Some([2, 32, 0, 4, 198, 51, 100, 4].as_slice()));
        assert_eq!(first[7].as_deref(), Some(4000i32.to_be_bytes().as_slice()));
        assert_eq!(first[8], None, "no destination: NULL");
        assert_eq!(first[10].as_deref(), Some(b"\x01{\"n\":1}".as_slice()));
        assert_eq!(fields(&rows[ends[0]..ends[1]])[6], None);
        assert_eq!(fields(&rows[ends[1]..ends[2]])[6].as_ref().map(Vec::len), Some(4 + 16));
        // One by one, each row alone with its event id, for the log of a refusal.
        let each = p.each();
        let ids: Vec<&str> = each.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, batch.iter().map(|r| r.id.as_str()).collect::<Vec<_>>());
        for ((_, one), r) in each.iter().zip(&batch) {
            let Events::Copy { rows, ends } = &one.events else {
                panic!("a COPY row")
            };
            assert_eq!(ends, &vec![rows.len()]);
            assert_eq!(
                fields(rows)[1].as_deref(),
                Some((r.time_us - PG_EPOCH_US).to_be_bytes().as_slice())
            );
            assert!(one.sessions.is_none() && one.files.is_empty());
        }
    }

    #[test]
    fn a_record_that_does_not_parse_sends_the_batch_as_records_and_files_go_in_digest_order() {
        let batch = [
            record(1, Some("198.51.100.4"), Some(&"b".repeat(64))),
            record(2, Some("not-an-address"), Some(&"a".repeat(64))),
        ];
        let p = Prepared::of(&batch).unwrap();
        assert!(matches!(&p.events, Events::Records(r) if r == &batch.to_vec()));
        let digests: Vec<&str> = p.files.iter().map(|f| f.sha256.as_str()).collect();
        assert_eq!(digests, ["a".repeat(64), "b".repeat(64)]);
        let sessions = p.sessions.as_ref().unwrap();
        assert_eq!(sessions.id.len(), 2, "one row per session named");
    }

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
