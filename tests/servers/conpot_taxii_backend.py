"""A storage backend for medallion (the TAXII 2.1 server the sink tests post to) that keeps
collections in SQLite, indexed by object id and by the order objects were added.

Why: medallion's MemoryBackend compares every posted object with every object it holds,
deep-copies the whole collection on each request (to answer "does this collection
exist?") and matches every object read against the whole manifest, so a collection of a
few thousand objects takes tens of seconds per request. The outage test of issue 12 posts
1,000 events/s (three STIX objects each) for over a minute. Only the storage is replaced:
medallion's HTTP server, authentication, content negotiation, request-size check, TAXII
envelopes and status resources are unchanged. It is loaded through medallion's documented
backend configuration:
    {"backend": {"module": "conpot_taxii_backend", "module_class": "SQLiteBackend",
                 "filename": "<the metadata file MemoryBackend reads>", "database": "<path>"}}
with this folder on PYTHONPATH (tests/servers/ctl does that).

The metadata (discovery, API roots, collections) is read from the same JSON file as
MemoryBackend's; the objects live in the database, so a restarted server keeps what it
held (as a real server would) and an outage test can read once, at the end.

Semantics kept from TAXII 2.1 (section 3.4 filtering, 3.6 paging): `added_after`,
`match[id]`, `match[type]`, `match[version]` (`last` by default, `first`, `all`, or
timestamps), `match[spec_version]` (latest by default), `limit` and `next`. Objects are
ordered by `date_added`, which is strictly increasing in insertion order, and `next` is
the position after the last object of a page (opaque to clients, never expiring).
"""
import collections
import json
import sqlite3
import threading

from medallion.backends.base import Backend
from medallion.common import (
    create_resource, datetime_to_float, datetime_to_string, determine_spec_version, determine_version,
    float_to_datetime, generate_status, generate_status_details, get_timestamp, string_to_datetime
)
from medallion.exceptions import ProcessingError

# Status resources kept for GET .../status/<id>/ (the oldest are forgotten past this).
STATUS_KEPT = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY,        -- insertion order, which is date_added order
    coll TEXT NOT NULL,             -- "<api root>/<collection id>"
    id TEXT NOT NULL,
    version TEXT NOT NULL,          -- modified, created, or date_added (medallion's rule)
    vkey REAL NOT NULL,             -- version as seconds, for first/last
    spec TEXT NOT NULL,
    type TEXT NOT NULL,
    added INTEGER NOT NULL,         -- date_added in microseconds since the epoch
    added_s TEXT NOT NULL,          -- date_added as the server writes it
    body TEXT NOT NULL,
    UNIQUE (coll, id, version)
);
CREATE INDEX IF NOT EXISTS objects_id ON objects (coll, id, vkey);
"""


def _micros(dttm):
    """A datetime as whole microseconds since the epoch (exact, unlike float seconds)."""
    return int(round(datetime_to_float(dttm) * 1e6))


def _split(v):
    return [s for s in v.split(",") if s]


class SQLiteBackend(Backend):
    """medallion's Backend interface over one SQLite database."""

    def __init__(self, **kwargs):
        with open(kwargs["filename"], "r", encoding="utf-8") as f:
            self.meta = json.load(f)
        self.db = sqlite3.connect(kwargs["database"], check_same_thread=False, isolation_level=None)
        self.db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;" + SCHEMA)
        self.lock = threading.Lock()
        self.status = collections.OrderedDict()
        last = self.db.execute("SELECT MAX(added) FROM objects").fetchone()[0]
        self.last_added = last or 0

    # --- metadata ------------------------------------------------------------------------
    def _root(self, api_root):
        return self.meta.get(api_root) if api_root != "/discovery" else None

    def _collection(self, api_root, collection_id):
        root = self._root(api_root)
        for c in (root or {}).get("collections", []):
            if c.get("id") == collection_id:
                return c
        return None

    @staticmethod
    def _public(c):
        return {k: v for k, v in c.items() if k not in ("manifest", "responses", "objects")}

    def server_discovery(self):
        return self.meta.get("/discovery")

    def get_api_root_information(self, api_root):
        root = self._root(api_root)
        return root.get("information") if root else None

    def get_collections(self, api_root):
        root = self._root(api_root)
        if root is None:
            return None
        return create_resource("collections", [self._public(c) for c in root.get("collections", [])])

    def get_collection(self, api_root, collection_id):
        c = self._collection(api_root, collection_id)
        return self._public(c) if c else None

    def get_status(self, api_root, status_id):
        if self._root(api_root) is None:
            return None
        return self.status.get((api_root, status_id))

    # --- writing -------------------------------------------------------------------------
    def add_objects(self, api_root, collection_id, objs, request_time):
        if self._root(api_root) is None:
            return None
        successes, failures = [], []
        coll = "{}/{}".format(api_root, collection_id)
        try:
            with self.lock:
                # date_added strictly increases with insertion order, so `added_after`
                # and the insertion order agree.
                now = max(_micros(get_timestamp()), self.last_added + 1)
                self.last_added = now
                added_s = datetime_to_string(float_to_datetime(now / 1e6))
                self.db.execute("BEGIN")
                try:
                    for o in objs["objects"]:
                        version = determine_version(o, request_time)
                        # An object without `modified` cannot have versions (medallion's
                        # rule): one already held under its id makes it a duplicate.
                        if "modified" not in o and self.db.execute(
                            "SELECT 1 FROM objects WHERE coll = ? AND id = ? LIMIT 1", (coll, o["id"])
                        ).fetchone():
                            failures.append(generate_status_details(o["id"], version, message="Unable to process object"))
                            continue
                        cur = self.db.execute(
                            "INSERT OR IGNORE INTO objects (coll, id, version, vkey, spec, type, added, added_s, body)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (coll, o["id"], version, datetime_to_float(string_to_datetime(version)),
                             determine_spec_version(o), o["type"], now, added_s,
                             json.dumps(o, separators=(",", ":"))),
                        )
                        if cur.rowcount == 1:
                            successes.append(generate_status_details(o["id"], version))
                        else:
                            failures.append(generate_status_details(o["id"], version, message="Unable to process object"))
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
        except Exception as e:
            raise ProcessingError("While processing supplied content, an error occurred", 422, e)
        status = generate_status(datetime_to_string(request_time), "complete", len(successes), len(failures), 0,
                                 successes=successes, failures=failures)
        self.status[(api_root, status["id"])] = status
        while len(self.status) > STATUS_KEPT:
            self.status.popitem(last=False)
        return status

    # --- reading -------------------------------------------------------------------------
    def _select(self, coll, filter_args, allowed, limit, object_id=None, columns="*", versions_filter=True):
        """The rows of one page: (rows, more, next)."""
        where, params = ["o.coll = ?"], [coll]
        if object_id is not None:
            where.append("o.id = ?")
            params.append(object_id)
        nxt = filter_args.get("next")
        if nxt is not None:
            try:
                where.append("o.seq > ?")
                params.append(int(nxt))
            except ValueError:
                raise ProcessingError("The server did not understand the request or filter parameters: 'next' not valid", 400)
        if filter_args.get("added_after"):
            where.append("o.added > ?")
            params.append(_micros(string_to_datetime(filter_args["added_after"])))
        for arg, column in (("match[id]", "id"), ("match[type]", "type")):
            if filter_args.get(arg) and column in allowed:
                vals = _split(filter_args[arg])
                where.append("o.{} IN ({})".format(column, ",".join("?" * len(vals))))
                params.extend(vals)
        if "spec_version" in allowed:
            if filter_args.get("match[spec_version]"):
                vals = _split(filter_args["match[spec_version]"])
                where.append("o.spec IN ({})".format(",".join("?" * len(vals))))
                params.extend(vals)
            else:
                where.append("o.spec = (SELECT MAX(p.spec) FROM objects p WHERE p.coll = o.coll AND p.id = o.id)")
        if "version" in allowed and versions_filter:
            wanted = _split(filter_args.get("match[version]") or "last")
            if "all" not in wanted:
                alts = []
                if "last" in wanted:
                    alts.append("o.vkey = (SELECT MAX(p.vkey) FROM objects p WHERE p.coll = o.coll AND p.id = o.id)")
                if "first" in wanted:
                    alts.append("o.vkey = (SELECT MIN(p.vkey) FROM objects p WHERE p.coll = o.coll AND p.id = o.id)")
                stamps = [datetime_to_float(string_to_datetime(v)) for v in wanted if v not in ("first", "last")]
                if stamps:
                    alts.append("o.vkey IN ({})".format(",".join("?" * len(stamps))))
                    params.extend(stamps)
                where.append("(" + " OR ".join(alts) + ")")
        sql = "SELECT {} FROM objects o WHERE {} ORDER BY o.seq LIMIT ?".format(columns, " AND ".join(where))
        params.append(limit + 1)
        with self.lock:
            rows = self.db.execute(sql, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, more, (str(rows[-1][0]) if more else None)

    @staticmethod
    def _headers(rows, added_s):
        if not rows:
            return {}
        return {"X-TAXII-Date-Added-First": rows[0][added_s], "X-TAXII-Date-Added-Last": rows[-1][added_s]}

    def get_objects(self, api_root, collection_id, filter_args, allowed_filters, limit):
        if self._root(api_root) is None:
            return None
        rows, more, nxt = self._select("{}/{}".format(api_root, collection_id), filter_args, allowed_filters, limit,
                                       columns="o.seq, o.body, o.added_s")
        return create_resource("objects", [json.loads(r[1]) for r in rows], more, nxt), self._headers(rows, 2)

    def get_object(self, api_root, collection_id, object_id, filter_args, allowed_filters, limit):
        if self._root(api_root) is None:
            return None
        with self.lock:
            known = self.db.execute("SELECT 1 FROM objects WHERE coll = ? AND id = ? LIMIT 1",
                                    ("{}/{}".format(api_root, collection_id), object_id)).fetchone()
        if not known:
            raise ProcessingError("Object '{}' not found".format(object_id), 404)
        rows, more, nxt = self._select("{}/{}".format(api_root, collection_id), filter_args, allowed_filters, limit, object_id=object_id,
                                       columns="o.seq, o.body, o.added_s")
        return create_resource("objects", [json.loads(r[1]) for r in rows], more, nxt), self._headers(rows, 2)

    def get_object_manifest(self, api_root, collection_id, filter_args, allowed_filters, limit):
        if self._root(api_root) is None:
            return None
        rows, more, nxt = self._select("{}/{}".format(api_root, collection_id), filter_args, allowed_filters, limit,
                                       columns="o.seq, o.id, o.added_s, o.version, o.spec")
        items = [{"id": r[1], "date_added": r[2], "version": r[3],
                  "media_type": "application/stix+json;version={}".format(r[4])} for r in rows]
        return create_resource("objects", items, more, nxt), self._headers(rows, 2)

    def get_object_versions(self, api_root, collection_id, object_id, filter_args, allowed_filters, limit):
        if self._root(api_root) is None:
            return None
        rows, more, nxt = self._select("{}/{}".format(api_root, collection_id), dict(filter_args, **{"match[version]": "all"}), allowed_filters,
                                       limit, object_id=object_id, columns="o.seq, o.version, o.added_s")
        if not rows and "next" not in filter_args:
            raise ProcessingError("Object '{}' not found".format(object_id), 404)
        versions = sorted((r[1] for r in rows), reverse=True)
        return create_resource("versions", versions, more, nxt), self._headers(rows, 2)

    def delete_object(self, api_root, collection_id, obj_id, filter_args, allowed_filters):
        if self._root(api_root) is None:
            return None
        rows, _, _ = self._select("{}/{}".format(api_root, collection_id), filter_args, allowed_filters, 1 << 30, object_id=obj_id,
                                  columns="o.seq")
        if not rows:
            raise ProcessingError("Object '{}' not found".format(obj_id), 404)
        with self.lock:
            self.db.executemany("DELETE FROM objects WHERE seq = ?", rows)

