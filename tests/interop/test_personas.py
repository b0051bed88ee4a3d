"""Many personas in one process ([[personas]] of the configuration): an S7-300 (the
embedded `default`) on 127.0.0.2, a Kamstrup 382 meter on 127.0.0.3 and a Supermicro BMC
(`ipmi`) on 127.0.0.4, plus a PLC on ::1, each answering real clients (python-snap7,
the KMP client of test_kamstrup.py, ipmitool, pymodbus, an SNMP GET) with its own
identity, and every event naming its persona."""

import os
import pwd
import shutil
import tempfile
import urllib.request
import socket
import subprocess
import time
from pathlib import Path

import pytest
import snap7
from pymodbus.client import ModbusTcpClient

from conftest import Conpot, conpot_bin, read_persona, sensor_config
from test_kamstrup import Kmp, get_register

IPMITOOL = shutil.which("ipmitool") is not None

# SNMP v2c GET of sysDescr.0 with the community `public`.
SNMP_GET_SYSDESCR = bytes.fromhex(
    "302702010104067075626c6963a01a020204d2020100020100300e300c06082b060102010101000500"
)

# Every protocol of each template on any free port, so runs never collide.
DEFAULT_PORTS = "{ s7comm = 0, modbus = 0, snmp = 0, http = 0, https = 0, ftp = 0, tftp = 0, telnet = 0 }"
PERSONAS = f"""
[[personas]]
name = "plc-hall-3"
template = "default"
listen = "127.0.0.2"
ports = {DEFAULT_PORTS}

[[personas]]
name = "meter-7"
template = "kamstrup_382"
listen = "127.0.0.3"
ports = {{ kamstrup_meter = 0, kamstrup_management = 0 }}
sensor_id = "interop-meter"

[[personas]]
name = "bmc-r40"
template = "ipmi"
listen = "127.0.0.4"
ports = {{ ipmi = 0 }}

[[personas]]
name = "plc-v6"
template = "default"
listen = "::1"
ports = {DEFAULT_PORTS}
"""
NAMES = ["plc-hall-3", "meter-7", "bmc-r40", "plc-v6"]


class Fleet(Conpot):
    """One conpot process serving every persona of PERSONAS, its state under `workdir`."""

    def __init__(self, workdir, personas=PERSONAS, extra=""):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg, self.native, self.legacy = sensor_config(
            self.workdir, '[metrics]\nlisten = "127.0.0.1:0"\n' + extra + personas
        )
        self.stderr = self.workdir / "stderr.log"
        with open(self.stderr, "w") as err:
            self.proc = subprocess.Popen(
                [conpot_bin(), "-c", str(cfg)], cwd=self.workdir, stdout=subprocess.PIPE, stderr=err, text=True
            )
        # persona -> protocol -> (host, port); the metrics line comes after every listener.
        self.addr = {}
        self.metrics = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.metrics is None:
            line = self.proc.stdout.readline()
            if not line:
                break
            parts = line.split()
            if len(parts) == 5 and parts[0] == "listening":
                host, port = parts[3].rsplit(":", 1)
                self.addr.setdefault(parts[4], {})[parts[1]] = (host.strip("[]"), int(port))
            elif parts[:3] == ["listening", "metrics", "tcp"]:
                self.metrics = parts[3]
        if self.metrics is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise RuntimeError("conpot did not start: " + self.stderr.read_text())

    def persona(self, name, state=None):
        return read_persona(state or self.workdir / "state" / "personas" / name)


def s7_identity(fleet):
    assert fleet.addr["plc-hall-3"]["s7comm"][0] == "127.0.0.2"
    return s7_identity_at(fleet, "plc-hall-3")


def kmp_serial(fleet):
    host, port = fleet.addr["meter-7"]["kamstrup_meter"]
    assert host == "127.0.0.3"
    k = Kmp.__new__(Kmp)
    k.s = socket.create_connection((host, port), timeout=5)
    k.buf = b""
    _, cmd, payload = k.ask(get_register(1001))
    k.close()
    assert cmd == 0x10
    return int.from_bytes(payload[5:], "big")


def bmc_info(fleet):
    host, port = fleet.addr["bmc-r40"]["ipmi"]
    assert host == "127.0.0.4"
    out = {}
    for cmd in (["mc", "info"], ["mc", "guid"]):
        r = subprocess.run(
            ["ipmitool", "-I", "lanplus", "-H", host, "-p", str(port), "-U", "ADMIN", "-P", "ADMIN",
             "-R", "2", "-N", "1", *cmd],
            capture_output=True, text=True, timeout=60,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        for line in r.stdout.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                out[k.strip()] = v.strip()
    return out


@pytest.fixture(scope="module")
def fleets(tmp_path_factory):
    a = Fleet(tmp_path_factory.mktemp("fleet-a"))
    yield a
    a.stop()


@pytest.mark.skipif(not IPMITOOL, reason="ipmitool is installed by tests/setup-deps")
def test_three_devices_one_process_each_with_its_identity(tmp_path):
    fleet = Fleet(tmp_path / "a")
    try:
        plc = fleet.persona("plc-hall-3")
        serial, system = s7_identity(fleet)
        assert serial == plc["serial"] and system == plc["system_name"]
        meter = fleet.persona("meter-7")
        assert kmp_serial(fleet) == int(meter["meter_serial"])
        bmc = fleet.persona("bmc-r40")
        info = bmc_info(fleet)
        assert info["Firmware Revision"] == bmc["firmware"]
        assert info["Manufacturer ID"] == "10876"
        guid = info["System GUID"]
        # The identities are the personas' own: every device has a different MAC.
        macs = {fleet.persona(n)["mac"] for n in NAMES}
        assert len(macs) == len(NAMES)
    finally:
        assert fleet.stop() == 0
    events = fleet.events()
    # One process: every persona started in the same run, with its own template.
    starts = {e["persona"]: e["data"]["template"] for e in events if e["event_type"] == "sensor.start"}
    assert starts == {"plc-hall-3": "default", "meter-7": "kamstrup_382", "bmc-r40": "ipmi", "plc-v6": "default"}
    by_proto = {}
    for e in events:
        if e["event_type"] == "session.open":
            by_proto.setdefault(e["protocol"], set()).add(e["persona"])
    assert by_proto["s7comm"] == {"plc-hall-3"}
    assert by_proto["kamstrup_meter"] == {"meter-7"}
    assert "bmc-r40" in {e["persona"] for e in events if e["protocol"] == "ipmi"}
    # Conpot's log schema has no persona field: a persona's own sensor_id tells it apart.
    legacy = fleet.events(legacy=True)
    assert {e["sensorid"] for e in legacy if e["data_type"] == "kamstrup_meter"} == {"interop-meter"}
    assert {e["sensorid"] for e in legacy if e["data_type"] == "s7comm"} == {"interop"}

    # A second run with other state folders: other devices.
    other = Fleet(tmp_path / "b")
    try:
        serial2, _ = s7_identity(other)
        assert serial2 != serial
        assert kmp_serial(other) != int(meter["meter_serial"])
        assert bmc_info(other)["System GUID"] != guid
    finally:
        other.stop()
    # The same state folders again: the same devices.
    again = Fleet(tmp_path / "a")
    try:
        assert s7_identity(again)[0] == serial
        assert bmc_info(again)["System GUID"] == guid
    finally:
        again.stop()


def test_a_persona_on_ipv6_loopback_serves_tcp_and_udp(fleets):
    host, port = fleets.addr["plc-v6"]["modbus"]
    assert host == "::1"
    c = ModbusTcpClient("::1", port=port, timeout=5, retries=0)
    assert c.connect()
    r = c.read_holding_registers(0, count=2, device_id=1)
    c.close()
    assert not r.isError(), r
    host, port = fleets.addr["plc-v6"]["snmp"]
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u:
        u.settimeout(5)
        u.sendto(SNMP_GET_SYSDESCR, ("::1", port))
        data, _ = u.recvfrom(1500)
    assert b"Siemens, SIMATIC" in data
    # The v6 PLC is a device of its own, not the v4 one.
    assert fleets.persona("plc-v6")["serial"] != fleets.persona("plc-hall-3")["serial"]
    time.sleep(0.3)
    events = fleets.events()
    v6 = [e for e in events if e["persona"] == "plc-v6" and e["event_type"] == "session.open"]
    assert {e["protocol"] for e in v6} >= {"modbus", "snmp"}
    assert all(e["dst_ip"] == "::1" for e in v6), v6


def test_two_personas_on_one_socket_are_refused_by_name(tmp_path):
    clash = """
[[personas]]
name = "first"
template = "ipmi"
listen = "127.0.0.5"
ports = { ipmi = 16230 }
[[personas]]
name = "second"
template = "ipmi"
listen = "127.0.0.5"
ports = { ipmi = 16230 }
"""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[sensor]\nstate_dir = "{tmp_path / "state"}"\n' + clash)
    r = subprocess.run([conpot_bin(), "-c", str(cfg)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert "persona `second` (ipmi) and persona `first` (ipmi) both listen on udp 127.0.0.5:16230" in r.stderr
    # Refused before anything is written.
    assert not (tmp_path / "state").exists()


def status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.split()
    return fields


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_personas_on_privileged_ports_bind_first_then_drop(monkeypatch):
    """As root with `[daemon] user`: every persona's privileged port is bound before the
    switch, each persona's state folder (one outside the sensor's) is handed over, and the
    metrics endpoint and heartbeat are the one process's."""
    monkeypatch.delenv("CONPOT_ALLOW_ROOT", raising=False)
    nobody = pwd.getpwnam("nobody")
    work = Path(tempfile.mkdtemp(prefix="conpot-personas-priv-"))
    os.chmod(work, 0o755)
    os.chown(work, nobody.pw_uid, nobody.pw_gid)
    own_state = work / "bmc-state"
    personas = f"""
[[personas]]
name = "plc-priv"
template = "default"
listen = "127.0.0.6"
ports = {{ s7comm = 102, modbus = 0, snmp = 0, http = 0, https = 0, ftp = 0, tftp = 0, telnet = 0 }}

[[personas]]
name = "bmc-priv"
template = "ipmi"
listen = "127.0.0.7"
ports = {{ ipmi = 623 }}
state_dir = "{own_state}"
"""
    fleet = Fleet(work, personas=personas, extra='[daemon]\nuser = "nobody"\n')
    try:
        assert fleet.addr["plc-priv"]["s7comm"] == ("127.0.0.6", 102)
        assert fleet.addr["bmc-priv"]["ipmi"] == ("127.0.0.7", 623)
        st = status(fleet.proc.pid)
        assert st["Uid"] == [str(nobody.pw_uid)] * 4, st["Uid"]
        assert int(st["CapEff"][0], 16) == 0 and st["NoNewPrivs"] == ["1"]
        for state in (work / "state", own_state):
            assert state.stat().st_uid == nobody.pw_uid and state.stat().st_mode & 0o077 == 0, state
        serial, _ = s7_identity_at(fleet, "plc-priv")
        assert serial == fleet.persona("plc-priv")["serial"]
        if IPMITOOL:
            r = subprocess.run(
                ["ipmitool", "-I", "lanplus", "-H", "127.0.0.7", "-p", "623", "-U", "ADMIN", "-P", "ADMIN",
                 "-R", "2", "-N", "1", "mc", "info"],
                capture_output=True, text=True, timeout=60,
            )
            assert f"Firmware Revision         : {fleet.persona('bmc-priv', own_state)['firmware']}" in r.stdout, r
        # One metrics endpoint counting every persona's sessions, one heartbeat.
        with urllib.request.urlopen(f"http://{fleet.metrics}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert 'protocol="s7comm"' in text, text[:2000]
        health = subprocess.run([conpot_bin(), "health", "--state-dir", str(work / "state")],
                                capture_output=True, text=True, timeout=10)
        assert health.returncode == 0, health
    finally:
        assert fleet.stop() == 0
        shutil.rmtree(work, ignore_errors=True)


def s7_identity_at(fleet, persona):
    host, port = fleet.addr[persona]["s7comm"]
    c = snap7.client.Client()
    c.connect(host, 0, 2, port)
    info = c.get_cpu_info()
    c.disconnect()
    return info.SerialNumber.decode(), info.ASName.decode()
