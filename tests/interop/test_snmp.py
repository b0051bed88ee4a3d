"""net-snmp, pysnmp and nmap against the SNMP agent of the default persona."""

import asyncio
import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, Conpot

NET_SNMP = shutil.which("snmpget") is not None
pytestmark = pytest.mark.skipif(not NET_SNMP, reason="net-snmp is installed by tests/setup-deps")

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_LOCATION = "1.3.6.1.2.1.1.6.0"

V3_USERS = [
    # (name, auth, auth password, priv, priv password)
    ("u-none", None, None, None, None),
    ("u-md5", "MD5", "md5-password", None, None),
    ("u-sha", "SHA", "sha1-password", None, None),
    ("u-md5-des", "MD5", "md5-password", "DES", "des-password"),
    ("u-sha-aes", "SHA", "sha1-password", "AES", "aes-password"),
    ("u-sha224-aes", "SHA-224", "sha224-password", "AES", "aes-password"),
    ("u-sha256-des", "SHA-256", "sha256-password", "DES", "des-password"),
    ("u-sha384-aes", "SHA-384", "sha384-password", "AES", "aes-password"),
    ("u-sha512-aes", "SHA-512", "sha512-password", "AES", "aes-password"),
]


def snmp(tool, *args, port, check=True):
    r = subprocess.run(
        [tool, "-On", "-t", "1", "-r", "3", *args[:-1], f"127.0.0.1:{port}", *args[-1]],
        capture_output=True, text=True, timeout=60,
    )
    if check:
        assert r.returncode == 0, r.stderr + r.stdout
    return r


def v2(tool, *oids, port, community="public", check=True):
    return snmp(tool, "-v2c", "-c", community, list(oids), port=port, check=check)


@pytest.fixture
def v3_conpot(tmp_path):
    """The default persona with one v3 user per security level and algorithm."""
    tdir = tmp_path / "template"
    tdir.mkdir()
    text = (ROOT / "templates" / "default" / "template.toml").read_text()
    for name, auth, apw, priv, ppw in V3_USERS:
        text += f'\n[[protocols.snmp.users]]\nname = "{name}"\naccess = "write"\n'
        if auth:
            text += f'auth = "{auth.lower()}"\nauth_password = "{apw}"\n'
        if priv:
            text += f'priv = "{priv.lower()}"\npriv_password = "{ppw}"\n'
    (tdir / "template.toml").write_text(text)
    work = tmp_path / "work"
    work.mkdir()
    c = Conpot(work, args=["-t", str(tdir)], config_extra="[limits]\nudp_answers_per_source = 100000\n")
    yield c
    c.stop()


def walk_oids(out):
    return [line.split(" = ")[0] for line in out.splitlines() if " = " in line and "No more variables" not in line]


def oid_key(oid):
    return [int(x) for x in oid.strip(".").split(".")]


def test_v1_v2c_get_walk_bulkwalk(conpot):
    port = conpot.ports["snmp"]
    p = conpot.persona()
    out = v2("snmpget", SYS_DESCR, "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0", port=port).stdout
    assert p["order_code"] in out and p["module_type"] in out and p["firmware"] in out
    assert p["system_name"] in out
    t1 = int(re.search(r"Timeticks: \((\d+)\)", out).group(1))
    time.sleep(0.5)
    out2 = v2("snmpget", "1.3.6.1.2.1.1.3.0", port=port).stdout
    t2 = int(re.search(r"Timeticks: \((\d+)\)", out2).group(1))
    assert 40 <= t2 - t1 <= 80, ("sysUpTime counts hundredths", t1, t2)
    out = snmp("snmpget", "-v1", "-c", "public", [SYS_DESCR, "1.3.6.1.2.1.2.2.1.6.1"], port=port).stdout
    mac = p["mac"].replace(":", " ").upper()
    assert mac in out.upper()
    walk = v2("snmpwalk", ".1", port=port).stdout
    oids = walk_oids(walk)
    assert len(oids) > 100
    assert [oid_key(o) for o in oids] == sorted(oid_key(o) for o in oids), "walk is ordered"
    assert len(set(oids)) == len(oids)
    assert "No more variables left in this MIB View" in walk
    bulk = v2("snmpbulkwalk", ".1", port=port).stdout
    assert walk_oids(bulk) == oids
    v1walk = snmp("snmpwalk", "-v1", "-c", "public", [".1"], port=port).stdout
    assert len(walk_oids(v1walk)) == len(oids)
    # Missing objects: v2c exceptions, v1 noSuchName.
    out = v2("snmpget", "1.3.6.1.4.1.9.9.0", "1.3.6.1.2.1.1.9.0", port=port).stdout
    assert "No Such Object" in out or "No Such Instance" in out
    out = snmp("snmpget", "-v1", "-c", "public", ["1.3.6.1.4.1.9.9.0"], port=port, check=False)
    assert "noSuchName" in out.stdout + out.stderr


def test_set_with_read_only_and_read_write_communities(conpot):
    port = conpot.ports["snmp"]
    before = v2("snmpget", SYS_LOCATION, port=port).stdout
    r = snmp("snmpset", "-v2c", "-c", "public", [SYS_LOCATION, "s", "hacked"], port=port, check=False)
    assert "noAccess" in r.stdout + r.stderr
    assert v2("snmpget", SYS_LOCATION, port=port).stdout == before
    snmp("snmpset", "-v2c", "-c", "private", [SYS_LOCATION, "s", "Hall 7, bay 3"], port=port)
    assert '"Hall 7, bay 3"' in v2("snmpget", SYS_LOCATION, port=port).stdout
    r = snmp("snmpset", "-v2c", "-c", "private", [SYS_DESCR, "s", "x"], port=port, check=False)
    assert "notWritable" in r.stdout + r.stderr
    r = snmp("snmpset", "-v2c", "-c", "private", [SYS_LOCATION, "i", "5"], port=port, check=False)
    assert "wrongType" in r.stdout + r.stderr


def test_wrong_community_is_dropped_counted_and_logged(conpot):
    port = conpot.ports["snmp"]
    r = v2("snmpget", SYS_DESCR, port=port, community="letmein", check=False)
    assert r.returncode != 0 and "Timeout" in r.stderr
    out = v2("snmpget", "1.3.6.1.2.1.11.4.0", port=port).stdout
    assert int(out.rsplit(":", 1)[1]) == 4, "the request and its three retries"
    conpot.stop()
    attempts = [e for e in conpot.events() if e["event_type"] == "auth.attempt"]
    assert len(attempts) == 4
    first = attempts[0]["data"]
    assert first["password"] == "letmein" and first["method"] == "snmp-community"
    assert first["success"] is False and first["reason"] == "bad_password"
    assert [a["data"]["attempts"] for a in attempts] == [1, 2, 3, 4], "counted per source"


def test_v3_every_level_and_algorithm(v3_conpot):
    port = v3_conpot.ports["snmp"]
    p = v3_conpot.persona()
    for name, auth, apw, priv, ppw in V3_USERS:
        args = ["-v3", "-u", name]
        if priv:
            args += ["-l", "authPriv", "-a", auth, "-A", apw, "-x", priv, "-X", ppw]
        elif auth:
            args += ["-l", "authNoPriv", "-a", auth, "-A", apw]
        else:
            args += ["-l", "noAuthNoPriv"]
        out = snmp("snmpget", *args, [SYS_DESCR], port=port).stdout
        assert p["order_code"] in out, (name, out)
        walk = snmp("snmpbulkwalk", *args, ["1.3.6.1.2.1.1"], port=port).stdout
        assert len(walk_oids(walk)) == 8, (name, walk)
        snmp("snmpset", *args, [SYS_LOCATION, "s", f"set by {name}"], port=port)
        assert f"set by {name}" in snmp("snmpget", *args, [SYS_LOCATION], port=port).stdout
    # Wrong password: refused, counted, logged.
    r = snmp("snmpget", "-v3", "-u", "u-sha", "-l", "authNoPriv", "-a", "SHA", "-A", "not-the-password", [SYS_DESCR], port=port, check=False)
    assert r.returncode != 0
    r = snmp("snmpget", "-v3", "-u", "nobody", "-l", "noAuthNoPriv", [SYS_DESCR], port=port, check=False)
    assert r.returncode != 0
    v3_conpot.stop()
    attempts = [e["data"] for e in v3_conpot.events() if e["event_type"] == "auth.attempt"]
    assert {"bad_password", "unknown_user"} <= {a["reason"] for a in attempts}
    assert any(a["success"] and a["method"].startswith("snmp-usm-") and a["hash"] for a in attempts)
    assert len({tuple(a) for a in attempts}) == 1, "one field set for every attempt"


def test_pysnmp_get_walk_set(conpot):
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData, ContextData, ObjectIdentity, ObjectType, OctetString, SnmpEngine,
        UdpTransportTarget, get_cmd, set_cmd, walk_cmd,
    )

    port = conpot.ports["snmp"]

    async def run():
        eng = SnmpEngine()
        t = await UdpTransportTarget.create(("127.0.0.1", port), timeout=2, retries=0)
        err, status, _, vbs = await get_cmd(eng, CommunityData("public"), t, ContextData(), ObjectType(ObjectIdentity(SYS_DESCR)))
        assert err is None and int(status) == 0
        descr = str(vbs[0][1])
        names = []
        async for err, status, _, vbs in walk_cmd(
            eng, CommunityData("public"), t, ContextData(), ObjectType(ObjectIdentity("1.3.6.1.2.1.2")), lexicographicMode=False
        ):
            assert err is None and int(status) == 0
            names += [str(v[0]) for v in vbs]
        err, status, _, vbs = await set_cmd(
            eng, CommunityData("private"), t, ContextData(), ObjectType(ObjectIdentity("1.3.6.1.2.1.1.4.0"), OctetString("ops@plant"))
        )
        assert err is None and int(status) == 0
        return descr, names

    descr, names = asyncio.run(run())
    assert conpot.persona()["order_code"] in descr
    assert "1.3.6.1.2.1.2.2.1.2.1" in names and len(names) == 23
    assert "ops@plant" in v2("snmpget", "1.3.6.1.2.1.1.4.0", port=port).stdout


def test_engine_boots_grow_with_restarts(tmp_path):
    boots = []
    for _ in range(2):
        c = Conpot(tmp_path)
        out = v2("snmpget", "1.3.6.1.6.3.10.2.1.2.0", port=c.ports["snmp"]).stdout
        boots.append(int(out.rsplit(":", 1)[1]))
        assert c.stop() == 0
    assert boots == [1, 2]


def test_nmap_snmp_scripts_show_the_persona(conpot):
    port = conpot.ports["snmp"]
    out = subprocess.run(
        ["nmap", "-sU", "-Pn", "-n", "-p", str(port), "--script", "+snmp-sysdescr,+snmp-info", "127.0.0.1"],
        capture_output=True, text=True, timeout=120,
    ).stdout
    p = conpot.persona()
    assert "enterprise: Siemens" in out, out
    assert "engineIDData: " + p["mac"].replace(":", "").lower() in out, out
    assert p["order_code"] in out and p["module_type"] in out, out


def test_identity_is_the_same_over_snmp_s7_and_modbus(conpot):
    import snap7
    from pymodbus.client import ModbusTcpClient

    descr = v2("snmpget", SYS_DESCR, port=conpot.ports["snmp"]).stdout
    c = snap7.client.Client()
    c.connect("127.0.0.1", 0, 2, conpot.ports["s7comm"])
    order = c.get_order_code()
    info = c.get_cpu_info()
    c.disconnect()
    m = ModbusTcpClient("127.0.0.1", port=conpot.ports["modbus"], timeout=5, retries=0)
    assert m.connect()
    ident = m.read_device_information(read_code=2, object_id=0, device_id=255).information
    m.close()
    assert order.OrderCode.decode() in descr and ident[1].decode() == order.OrderCode.decode()
    assert info.ModuleTypeName.decode() in descr and ident[5].decode() == info.ModuleTypeName.decode()
    fw = "V%d.%d.%d" % (order.V1, order.V2, order.V3)
    assert fw in descr and ident[2].decode() == fw
    sysname = v2("snmpget", "1.3.6.1.2.1.1.5.0", port=conpot.ports["snmp"]).stdout
    assert info.ASName.decode() in sysname


def test_reflection_budget_and_amplification(tmp_path):
    """A GETBULK flood from one source: answers stay within the per-second budget and
    no answer exceeds 8 times its request."""
    conpot = Conpot(tmp_path, config_extra="[limits]\nudp_answers_per_source = 20\nudp_amplification = 8\n")
    port = conpot.ports["snmp"]
    # GetBulk, v2c, community public, max-repetitions 1000, from 1.3.6.1.
    req = bytes.fromhex("302602010104067075626c6963a519020101020100020203e8300d300b06072b060102010101 0500".replace(" ", ""))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    start = time.monotonic()
    for _ in range(400):
        s.sendto(req, ("127.0.0.1", port))
    sizes = []
    while True:
        try:
            sizes.append(len(s.recv(65535)))
        except socket.timeout:
            break
    elapsed = time.monotonic() - start
    assert sizes, "some answers"
    assert len(sizes) <= 20 * (int(elapsed) + 2), (len(sizes), elapsed)
    assert max(sizes) <= 8 * len(req), (max(sizes), len(req))
    conpot.stop()
    hits = [e for e in conpot.events() if e["event_type"] == "limit.hit"]
    assert any(h["data"]["limit"] == "answers_per_source" for h in hits)


def test_legacy_log_keeps_conpots_snmp_records(conpot):
    port = conpot.ports["snmp"]
    v2("snmpget", SYS_DESCR, port=port)
    snmp("snmpset", "-v2c", "-c", "private", [SYS_LOCATION, "s", "Hall 2"], port=port)
    conpot.stop()
    legacy = [e for e in conpot.events(legacy=True) if e["data_type"] == "snmp" and e["event_type"] and e["event_type"].startswith("SNMP")]
    get = next(e for e in legacy if e["event_type"] == "SNMPv2 Get")
    assert get["request"] == {"oid": SYS_DESCR, "val": ""}
    assert conpot.persona()["order_code"] in get["response"]["val"]
    put = next(e for e in legacy if e["event_type"] == "SNMPv2 Set")
    assert put["request"] == {"oid": SYS_LOCATION, "val": "Hall 2"} and put["response"]["val"] == "Hall 2"


def test_v3_account_from_the_shared_credential_store(conpot):
    """The default template's `[[credentials]]` admin account is an SNMPv3 user."""
    p = conpot.persona()
    args = ["-v3", "-u", "admin", "-l", "authPriv", "-a", "SHA", "-A", f"Siemens-{p['hostname']}", "-x", "AES", "-X", f"Simatic-{p['hostname']}"]
    out = snmp("snmpget", *args, [SYS_DESCR], port=conpot.ports["snmp"]).stdout
    assert p["order_code"] in out


def test_getbulk_flood_cannot_amplify_the_log(tmp_path):
    """Issue 8, finding 4: a GETBULK flood from one source. Answers over the budget are not
    sent and not logged as answered: each logged request says whether its answer left, the
    suppressed ones carry no response, the rest are summarised per second, and the log
    grows far less than the flood (documented in docs/configuration.md)."""
    conpot = Conpot(tmp_path)
    port = conpot.ports["snmp"]
    req = bytes.fromhex("302602010104067075626c6963a519020101020100020203e8300d300b06072b060102010101 0500".replace(" ", ""))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setblocking(False)
    sent = answers = 0
    start = time.monotonic()
    # Paced at 4,000 a second, so the socket buffer does not drop what the sensor must count.
    while time.monotonic() - start < 3 and sent < 12_000:
        if sent > (time.monotonic() - start) * 4_000:
            time.sleep(0.001)
        try:
            s.sendto(req, ("127.0.0.1", port))
            sent += 1
        except BlockingIOError:
            pass
        try:
            while True:
                s.recv(65535)
                answers += 1
        except BlockingIOError:
            pass
    time.sleep(0.5)
    assert conpot.stop() == 0
    log_bytes = conpot.native.stat().st_size
    events = conpot.events()
    requests = [e for e in events if e["event_type"] == "snmp.request"]
    summaries = [e for e in events if e["event_type"] == "udp.suppressed"]
    assert sent > 5_000, sent
    assert summaries, "the flood is summarised"
    # Every datagram the sensor received (the kernel may drop some of the flood) is either
    # logged or counted in a summary.
    received = sum(e["data"]["datagrams"] for e in events if e["event_type"] == "session.close" and e["protocol"] == "snmp")
    assert received > sent / 2, (received, sent)
    assert sum(e["data"]["requests"] for e in summaries) + len(requests) == received
    suppressed = [e for e in requests if e["data"].get("answer") == "suppressed"]
    assert suppressed and all("response" not in e or e["response"] is None for e in suppressed)
    answered = [e for e in requests if e["data"].get("answer") != "suppressed"]
    # Only what left is logged as answered (slack for answers the client's socket dropped).
    assert len(answered) <= answers * 1.03 + 5, (len(answered), answers)
    # The log grows with the answers sent (at most the budget, 250 a second), never with
    # the flood: past them, a few events a second (the first suppressed request in full, a
    # summary) whatever the source sends.
    assert len(answered) <= 250 * 5, len(answered)
    lines = conpot.native.read_text().splitlines()
    answered_ids = {e["event_id"] for e in answered}
    answered_bytes = sum(len(l) + 1 for l, e in zip(lines, events) if e["event_id"] in answered_ids)
    rest = log_bytes - answered_bytes
    assert rest < 5 * 4 * 2048, (rest, len(suppressed), len(summaries))
    assert rest < sent * len(req) / 20, (rest, sent)
