//! The SQLite transport (Conpot's `[sqlite]`): a database file with the sessions, events
//! and files tables, indexes on time, source and protocol, in WAL mode so readers never
//! block the sensor; each batch is one transaction.

use std::io;
use std::path::Path;

use rusqlite::{Connection, params};

use crate::record::Record;
use crate::sql;

/// The schema, created when missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    sensor_id TEXT NOT NULL,
    protocol TEXT NOT NULL,
    transport TEXT NOT NULL,
    src_ip TEXT,
    src_port INTEGER,
    dst_ip TEXT,
    dst_port INTEGER,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    time TEXT NOT NULL,
    sensor_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    protocol TEXT NOT NULL,
    event_type TEXT NOT NULL,
    src_ip TEXT,
    src_port INTEGER,
    dst_ip TEXT,
    dst_port INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS events_src_ip ON events (src_ip, time);
CREATE INDEX IF NOT EXISTS events_protocol ON events (protocol, time);
CREATE INDEX IF NOT EXISTS events_session ON events (session_id);
CREATE INDEX IF NOT EXISTS sessions_src_ip ON sessions (src_ip);
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL,
    event_id TEXT NOT NULL,
    name TEXT,
    size INTEGER,
    status TEXT
);
";

/// An open SQLite event database.
#[derive(Debug)]
pub struct Sqlite {
    db: Connection,
}

fn err(e: rusqlite::Error) -> io::Error {
    io::Error::other(e)
}

impl Sqlite {
    /// Opens (creating folders, the file and the schema) the database at `path`.
    pub fn open(path: &Path) -> io::Result<Sqlite> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let db = Connection::open(path).map_err(err)?;
        db.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        db.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        db.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        // A database Conpot wrote has an `events` table of its own shape: say so plainly.
        let events_table: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if events_table > 0 && db.prepare("SELECT event_id, body FROM events LIMIT 0").is_err() {
            return Err(io::Error::other(format!(
                "{}: its events table is not ours (a database of Python Conpot?); use another file",
                path.display()
            )));
        }
        db.execute_batch(SCHEMA).map_err(err)?;
        Ok(Sqlite { db })
    }
}

impl crate::Deliver for Sqlite {
    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        let tx = self.db.transaction().map_err(err)?;
        {
            let mut ev = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO events (event_id, time, sensor_id, session_id, protocol, event_type, \
                     src_ip, src_port, dst_ip, dst_port, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(err)?;
            for r in batch {
                ev.execute(params![
                    r.id,
                    r.time,
                    r.sensor,
                    r.session,
                    r.protocol,
                    r.event_type,
                    r.src_ip,
                    r.src_port,
                    r.dst_ip,
                    r.dst_port,
                    r.body
                ])
                .map_err(err)?;
            }
            let mut se = tx
                .prepare_cached(
                    "INSERT INTO sessions (session_id, sensor_id, protocol, transport, src_ip, src_port, dst_ip, \
                     dst_port, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                     ON CONFLICT (session_id) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), \
                     last_seen = max(last_seen, excluded.last_seen)",
                )
                .map_err(err)?;
            for s in sql::sessions(batch) {
                let r = s.record;
                se.execute(params![
                    r.session,
                    r.sensor,
                    r.protocol,
                    r.transport,
                    r.src_ip,
                    r.src_port,
                    r.dst_ip,
                    r.dst_port,
                    s.first,
                    s.last
                ])
                .map_err(err)?;
            }
            let mut fi = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO files (sha256, first_seen, event_id, name, size, status) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(err)?;
            for r in batch {
                if let Some(f) = &r.file {
                    fi.execute(params![
                        f.sha256,
                        r.time,
                        r.id,
                        f.name,
                        f.size.map(|s| s as i64),
                        f.status
                    ])
                    .map_err(err)?;
                }
            }
        }
        tx.commit().map_err(err)
    }
}
