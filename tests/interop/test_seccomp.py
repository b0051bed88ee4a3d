"""The seccomp allow-list (issue 16): on by default in every thread of the running sensor,
off with --no-seccomp, CONPOT_NO_SECCOMP or `[daemon] seccomp = false`, and with it on the
sensor still serves every protocol of its templates to real clients and writes its sinks.
That a forbidden call is really refused is shown in crates/conpot/tests/seccomp.rs (a child
process installs the same filter and tries execve, ptrace, mount, ...)."""

import ftplib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import snap7
from pymodbus.client import ModbusTcpClient

from conftest import Conpot

SQLITE = """
[[sinks]]
type = "sqlite"
path = "{path}"
"""


def status(path):
    fields = {}
    for line in Path(path).read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.strip()
    return fields


def threads(pid):
    """The status of the process and of each of its threads (after the runtime's workers
    and the sink threads have started)."""
    time.sleep(0.5)
    out = [status(f"/proc/{pid}/status")]
    out += [status(t / "status") for t in Path(f"/proc/{pid}/task").iterdir()]
    return out


def test_every_thread_runs_under_the_filter_and_says_so(tmp_path):
    c = Conpot(tmp_path)
    try:
        all_threads = threads(c.proc.pid)
        assert len(all_threads) > 3, "the runtime's workers and the sink threads"
        for st in all_threads:
            assert st["Seccomp"] == "2", st
            assert int(st["Seccomp_filters"]) >= 1, st
            assert st["NoNewPrivs"] == "1", st
    finally:
        assert c.stop() == 0
    ev = [e for e in c.events() if e["event_type"] == "daemon.seccomp"]
    assert len(ev) == 1, ev
    assert ev[0]["data"]["action"] == "errno" and ev[0]["data"]["allowed"] > 100, ev[0]
    assert "seccomp: allow-list of" in c.stderr.read_text()


@pytest.mark.parametrize("how", ["flag", "env", "config"])
def test_off_by_flag_env_or_config(tmp_path, monkeypatch, how):
    args, extra = (), ""
    if how == "flag":
        args = ("--no-seccomp",)
    elif how == "env":
        monkeypatch.setenv("CONPOT_NO_SECCOMP", "1")
    else:
        extra = "[daemon]\nseccomp = false\n"
    c = Conpot(tmp_path, args=args, config_extra=extra)
    try:
        for st in threads(c.proc.pid):
            assert st["Seccomp"] == "0", st
            assert st["Seccomp_filters"] == "0", st
    finally:
        assert c.stop() == 0
    assert not any(e["event_type"] == "daemon.seccomp" for e in c.events())
    assert "seccomp: off" in c.stderr.read_text()


@pytest.mark.parametrize("action", ["kill", "log"])
def test_kill_and_log_actions_from_the_config(tmp_path, action):
    c = Conpot(tmp_path, config_extra=f'[daemon]\nseccomp = "{action}"\n')
    try:
        m = ModbusTcpClient("127.0.0.1", port=c.ports["modbus"], timeout=5, retries=0)
        assert m.connect()
        assert not m.read_holding_registers(0, count=1, device_id=255).isError()
        m.close()
        for st in threads(c.proc.pid):
            assert st["Seccomp"] == "2", st
    finally:
        assert c.stop() == 0
    ev = [e for e in c.events() if e["event_type"] == "daemon.seccomp"]
    assert ev and ev[0]["data"]["action"] == action, ev


def test_default_template_serves_every_protocol_and_the_sinks_record(tmp_path):
    db = tmp_path / "events.db"
    c = Conpot(tmp_path, config_extra=SQLITE.format(path=db))
    try:
        persona = c.persona()
        # S7 (python-snap7).
        s7 = snap7.client.Client()
        s7.connect("127.0.0.1", 0, 2, c.ports["s7comm"])
        assert s7.get_cpu_info().SerialNumber.decode() == persona["serial"]
        s7.disconnect()
        # Modbus (pymodbus).
        m = ModbusTcpClient("127.0.0.1", port=c.ports["modbus"], timeout=5, retries=0)
        assert m.connect()
        assert not m.read_holding_registers(0, count=2, device_id=255).isError()
        m.close()
        # SNMP (net-snmp).
        if shutil.which("snmpget"):
            out = subprocess.run(["snmpget", "-v2c", "-c", "public", "-On", f"127.0.0.1:{c.ports['snmp']}",
                                  "1.3.6.1.2.1.1.5.0"], capture_output=True, text=True, timeout=10)
            assert ".1.3.6.1.2.1.1.5.0 = STRING" in out.stdout, out
        # HTTP and HTTPS (curl).
        for scheme, port in (("http", c.ports["http"]), ("https", c.ports["https"])):
            out = subprocess.run(["curl", "-skL", "-o", "/dev/null", "-w", "%{http_code}",
                                  f"{scheme}://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=10)
            assert out.stdout == "200", (scheme, out)
        # FTP (ftplib): the banner and a refused login.
        f = ftplib.FTP()
        assert f.connect("127.0.0.1", c.ports["ftp"], timeout=5).startswith("220")
        with pytest.raises(ftplib.error_perm):
            f.login("admin", "wrong-password")
        f.close()
        # TFTP (tftp-hpa): a file of the device.
        if shutil.which("tftp"):
            r = subprocess.run(["tftp", "127.0.0.1", str(c.ports["tftp"]), "-m", "binary", "-c", "get",
                                "config/station.cfg"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
            assert r.returncode == 0 and (tmp_path / "station.cfg").exists(), r
        # Telnet: the banner.
        t = socket.create_connection(("127.0.0.1", c.ports["telnet"]), timeout=5)
        assert t.recv(256)
        t.close()
        time.sleep(0.5)
    finally:
        assert c.stop() == 0
    events = c.events()
    types = {e["event_type"] for e in events}
    assert {"modbus.request", "http.request", "ftp.command", "file.download", "auth.attempt"} <= types, types
    # A session of every protocol (its listener's port names it).
    opened = {e["dst_port"] for e in events if e["event_type"] == "session.open"}
    for name in ("s7comm", "modbus", "snmp", "http", "https", "ftp", "tftp", "telnet"):
        assert c.ports[name] in opened, (name, sorted(opened))
    rows = sqlite3.connect(db).execute("SELECT event_type, COUNT(*) FROM events GROUP BY event_type").fetchall()
    in_db = dict(rows)
    assert in_db.get("modbus.request", 0) >= 1 and in_db.get("daemon.seccomp") == 1, in_db
    assert "Operation not permitted" not in c.stderr.read_text()


@pytest.mark.skipif(shutil.which("ipmitool") is None, reason="ipmitool is installed by tests/setup-deps")
def test_ipmi_template_serves_ipmitool(tmp_path):
    c = Conpot(tmp_path, args=("-t", "ipmi", "--port", "ipmi=0"), expect=["ipmi"])
    try:
        r = subprocess.run(["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(c.ports["ipmi"]), "-U", "ADMIN",
                            "-P", "ADMIN", "-R", "2", "-N", "1", "mc", "info"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0 and "IPMI Version              : 2.0" in r.stdout, r.stdout + r.stderr
        assert threads(c.proc.pid)[0]["Seccomp"] == "2"
    finally:
        assert c.stop() == 0


BACNET = """
[template]
unit = "AHU"
vendor = "Automated Logic"
description = "air handler controller"
protocols = "BACnet"
creator = "interop"

[protocols.bacnet]
port = 47808
device_instance = 2401
device_name = "ahu-7"
vendor_id = 24
model = "OptiFLEX BACnet Building Controller"
firmware = "6.0.2"
location = "Mech room 2"
"""


def test_bacnet_answers_who_is(tmp_path):
    tdir = tmp_path / "template"
    tdir.mkdir()
    (tdir / "template.toml").write_text(BACNET)
    c = Conpot(tmp_path, args=("-t", str(tdir), "--port", "bacnet=0"), expect=["bacnet"])
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        # BVLC original-unicast, NPDU without routing, unconfirmed Who-Is.
        s.sendto(bytes.fromhex("810a0008010010 08".replace(" ", "")), ("127.0.0.1", c.ports["bacnet"]))
        data, _ = s.recvfrom(1500)
        s.close()
        assert data[0] == 0x81 and data[6:8] == b"\x10\x00", data.hex()  # I-Am
    finally:
        assert c.stop() == 0


NETWORK_SINKS = ["CONPOT_TEST_PG", "CONPOT_TEST_SYSLOG_UDP", "CONPOT_TEST_SYSLOG_TCP", "CONPOT_TEST_SYSLOG_UNIX",
                 "CONPOT_TEST_SYSLOG_TLS", "CONPOT_TEST_SYSLOG_TLS_CA", "CONPOT_TEST_HPFEEDS", "CONPOT_TEST_TAXII",
                 "CONPOT_TEST_NATS"]


def by_name(hostport):
    """`127.0.0.1:port` as `localhost:port`, so the sink resolves a name (glibc's resolver,
    under the filter)."""
    return hostport.replace("127.0.0.1", "localhost")


@pytest.mark.skipif(any(k not in os.environ for k in NETWORK_SINKS), reason="the servers of tests/servers/start")
def test_every_network_sink_delivers_under_the_filter(tmp_path):
    env = os.environ
    udp_port = env["CONPOT_TEST_SYSLOG_UDP"].rsplit(":", 1)[1]
    tcp_port = env["CONPOT_TEST_SYSLOG_TCP"].rsplit(":", 1)[1]
    tls_port = env["CONPOT_TEST_SYSLOG_TLS"].rsplit(":", 1)[1]
    hp_port = env["CONPOT_TEST_HPFEEDS"].rsplit(":", 1)[1]
    extra = f"""
[[sinks]]
type = "sqlite"
path = "{tmp_path / 'events.db'}"
[[sinks]]
type = "postgresql"
url = "{by_name(env['CONPOT_TEST_PG'])}"
[[sinks]]
type = "syslog"
protocol = "udp"
host = "localhost"
port = {udp_port}
[[sinks]]
type = "syslog"
protocol = "tcp"
host = "localhost"
port = {tcp_port}
[[sinks]]
type = "syslog"
protocol = "unix"
path = "{env['CONPOT_TEST_SYSLOG_UNIX']}"
[[sinks]]
type = "syslog"
protocol = "tls"
host = "localhost"
port = {tls_port}
ca_file = "{env['CONPOT_TEST_SYSLOG_TLS_CA']}"
[[sinks]]
type = "hpfeeds"
host = "localhost"
port = {hp_port}
ident = "conpot"
secret = "conpot-secret"
[[sinks]]
type = "taxii"
url = "{by_name(env['CONPOT_TEST_TAXII'])}"
username = "conpot"
password = "conpot"
[[sinks]]
type = "nats"
url = "{by_name(env['CONPOT_TEST_NATS'])}"
stream = "SECCOMPTEST"
subject_prefix = "seccomptest"
[metrics]
listen = "127.0.0.1:0"
"""
    c = Conpot(tmp_path, config_extra=extra)
    try:
        metrics = None
        for line in iter(c.proc.stdout.readline, ""):
            if line.startswith("listening metrics tcp "):
                metrics = line.split()[3]
                break
        assert metrics, "no metrics endpoint"
        m = ModbusTcpClient("127.0.0.1", port=c.ports["modbus"], timeout=5, retries=0)
        assert m.connect()
        assert not m.read_holding_registers(0, count=1, device_id=255).isError()
        m.close()
        delivered = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as r:
                text = r.read().decode()
            delivered = {l.split('"')[1]: int(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                         if l.startswith("conpot_sink_delivered_total{")}
            if len(delivered) == 11 and all(v >= 3 for v in delivered.values()):
                break
            time.sleep(0.3)
        # The conftest's two JSON-lines sinks, SQLite and the eight network sinks: each took
        # sensor.start, daemon.seccomp and the Modbus session's events.
        assert len(delivered) == 11 and all(v >= 3 for v in delivered.values()), delivered
        for st in threads(c.proc.pid):
            assert st["Seccomp"] == "2", st
    finally:
        assert c.stop() == 0
    assert "Operation not permitted" not in c.stderr.read_text()
