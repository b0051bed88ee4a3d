"""The TAXII 2.1 server the sink tests use (medallion with the SQLite backend of
tests/servers/conpot_taxii_backend.py) as the OASIS TAXII client (PyPI taxii2-client) sees
it: discovery, API roots with their max_content_length, add objects and read the status,
page through a collection (limit/next, the client's as_pages), added_after, type and
version filters, the manifest and an object's versions. The Rust outage test trusts this
server to lose, repeat or reorder nothing; this checks it does not."""

import os
import uuid

import pytest
from taxii2client.v21 import Collection, Server, as_pages

AUTH = {"user": "conpot", "password": "conpot"}


def server_url(var):
    url = os.environ.get(var)
    if not url:
        if os.environ.get("CI") in ("true", "1"):
            pytest.fail(f"{var} is not set: run tests/servers/start and source its env file")
        pytest.skip(f"{var} is not set (tests/servers/start)")
    return url


def address(value):
    # Random ids (not the deterministic ones of STIX): this collection is only for these
    # checks, the sink tests' collections hold what stix2 accepts.
    return {"type": "ipv4-addr", "spec_version": "2.1", "id": f"ipv4-addr--{uuid.uuid4()}", "value": value}


def note(oid, modified, text):
    return {"type": "note", "spec_version": "2.1", "id": oid, "created": "2026-01-01T00:00:00.000Z",
            "modified": modified, "content": text, "object_refs": ["identity--" + str(uuid.uuid4())]}


def test_discovery_lists_both_api_roots_with_their_limits():
    url = server_url("CONPOT_TEST_TAXII_CHECK")
    base = url.split("/api1/")[0]
    server = Server(base + "/taxii2/", **AUTH)  # medallion's discovery endpoint
    limits = {r.url.rstrip("/").rsplit("/", 1)[1]: r.max_content_length for r in server.api_roots}
    assert limits == {"api1": 104857600, "api2": 4096}
    titles = [c.title for c in server.api_roots[0].collections]
    assert titles == ["conpot events", "server checks"]


def test_pages_hold_every_object_once_in_the_order_added():
    col = Collection(server_url("CONPOT_TEST_TAXII_CHECK"), **AUTH)
    mine = [address(f"192.0.2.{i % 250}") for i in range(2500)]
    for k in range(0, len(mine), 1000):
        status = col.add_objects({"objects": mine[k:k + 1000]})
        assert status.status == "complete" and status.success_count == len(mine[k:k + 1000])
    # The same objects again: immutable (no `modified`), so each is a failure, none added.
    again = col.add_objects({"objects": mine[:10]})
    assert (again.success_count, again.failure_count) == (0, 10)
    wanted = {o["id"] for o in mine}
    seen = []
    pages = 0
    for page in as_pages(col.get_objects, per_request=700, type="ipv4-addr"):
        pages += 1
        seen.extend(o["id"] for o in page.get("objects", []) if o["id"] in wanted)
    assert len(seen) == len(wanted) == len(set(seen)), "every object exactly once"
    assert seen == [o["id"] for o in mine], "in the order they were added"
    assert pages >= 4


def test_added_after_and_the_date_added_headers():
    col = Collection(server_url("CONPOT_TEST_TAXII_CHECK"), **AUTH)
    first = [address("198.51.100.1") for _ in range(3)]
    second = [address("198.51.100.2") for _ in range(2)]
    col.add_objects({"objects": first})
    r = col._conn.session.get(col.url + "objects/", params={"match[id]": first[-1]["id"]},
                              headers={"Accept": "application/taxii+json;version=2.1"})
    r.raise_for_status()
    stamp = r.headers["X-TAXII-Date-Added-Last"]
    assert r.headers["X-TAXII-Date-Added-First"] == stamp
    col.add_objects({"objects": second})
    later = col.get_objects(added_after=stamp, type="ipv4-addr").get("objects", [])
    ids = [o["id"] for o in later]
    assert ids[-2:] == [o["id"] for o in second], "what came after, and nothing of the first post"
    assert not {o["id"] for o in first} & set(ids)


def test_versions_last_first_all_and_the_manifest():
    col = Collection(server_url("CONPOT_TEST_TAXII_CHECK"), **AUTH)
    oid = f"note--{uuid.uuid4()}"
    v1, v2 = "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z"
    assert col.add_objects({"objects": [note(oid, v1, "one")]}).success_count == 1
    assert col.add_objects({"objects": [note(oid, v2, "two")]}).success_count == 1
    assert col.add_objects({"objects": [note(oid, v2, "two")]}).failure_count == 1, "same id and version"
    only = lambda **kw: [o["content"] for o in col.get_objects(id=oid, **kw).get("objects", [])]
    assert only() == ["two"], "the last version by default"
    assert only(version="first") == ["one"]
    assert sorted(only(version="all")) == ["one", "two"]
    assert only(version=v1) == ["one"]
    assert col.get_object(oid)["objects"][0]["content"] == "two"
    assert col.object_versions(oid)["versions"] == [v2, v1]
    manifest = col.get_manifest(id=oid, version="all")["objects"]
    assert sorted(m["version"] for m in manifest) == [v1, v2]
    assert all(m["media_type"] == "application/stix+json;version=2.1" for m in manifest)


def test_a_post_over_max_content_length_is_refused():
    url = server_url("CONPOT_TEST_TAXII_SMALL")
    col = Collection(url, **AUTH)
    # Notes (ids of their own), as the sink tests read this collection's observed-data.
    big = {"objects": [note(f"note--{uuid.uuid4()}", "2026-01-01T00:00:00.000Z", "x" * 100) for _ in range(60)]}
    with pytest.raises(Exception) as e:
        col.add_objects(big)
    assert "413" in str(e.value)
    assert col.add_objects({"objects": big["objects"][:5]}).success_count == 5


def test_a_deleted_object_is_gone():
    col = Collection(server_url("CONPOT_TEST_TAXII_CHECK"), **AUTH)
    oid = f"note--{uuid.uuid4()}"
    col.add_objects({"objects": [note(oid, "2026-01-01T00:00:00.000Z", "x")]})
    assert len(col.get_object(oid)["objects"]) == 1
    col.delete_object(oid)
    with pytest.raises(Exception) as e:
        col.get_object(oid)
    assert "404" in str(e.value)
