"""Least privilege (issue 16): started as root on privileged ports, the sensor binds them,
switches to the configured account with no capability and no_new_privs, and still serves
every protocol; as root without an account it refuses."""

import ftplib
import os
import pwd
import socket
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

from conftest import Conpot, conpot_bin

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")


def status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.split()
    return fields


def test_root_on_privileged_ports_switches_to_the_user_and_still_serves(monkeypatch):
    monkeypatch.delenv("CONPOT_ALLOW_ROOT", raising=False)
    nobody = pwd.getpwnam("nobody")
    work = Path(tempfile.mkdtemp(prefix="conpot-priv-"))
    os.chmod(work, 0o755)
    os.chown(work, nobody.pw_uid, nobody.pw_gid)
    c = Conpot(work, args=("--port", "modbus=502", "--port", "snmp=161", "--port", "s7comm=102"),
               config_extra='[daemon]\nuser = "nobody"\n')
    try:
        assert c.ports["modbus"] == 502 and c.ports["snmp"] == 161 and c.ports["s7comm"] == 102
        # Every thread of the process: the account, no capability, no_new_privs.
        for task in Path(f"/proc/{c.proc.pid}/task").iterdir():
            st = status(f"{c.proc.pid}/task/{task.name}")
            assert st["Uid"] == [str(nobody.pw_uid)] * 4, st["Uid"]
            assert st["Gid"] == [str(nobody.pw_gid)] * 4, st["Gid"]
            assert st["Groups"] == [str(nobody.pw_gid)], st["Groups"]
            for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                assert int(st[cap][0], 16) == 0, (cap, st[cap])
            assert st["NoNewPrivs"] == ["1"]
        # The state folder is the account's and private.
        state = work / "state"
        assert state.stat().st_uid == nobody.pw_uid and state.stat().st_mode & 0o077 == 0
        # Still serving: Modbus, SNMP, S7 (COTP connect), FTP, HTTP, Telnet.
        s = socket.create_connection(("127.0.0.1", 502), timeout=5)
        s.sendall(bytes.fromhex("000100000006010300000002"))
        assert s.recv(64)[7] == 0x03
        s.close()
        out = subprocess.run(["snmpget", "-v2c", "-c", "public", "-On", "127.0.0.1:161", "1.3.6.1.2.1.1.5.0"],
                             capture_output=True, text=True, timeout=10)
        assert ".1.3.6.1.2.1.1.5.0 = STRING" in out.stdout, out
        s = socket.create_connection(("127.0.0.1", 102), timeout=5)
        s.sendall(bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102"))
        assert s.recv(64)[5] == 0xD0  # COTP connection confirm
        s.close()
        ftp = ftplib.FTP()
        assert ftp.connect("127.0.0.1", c.ports["ftp"], timeout=5).startswith("220")
        ftp.close()
        with urllib.request.urlopen(f"http://127.0.0.1:{c.ports['http']}/", timeout=5) as r:
            assert r.status == 200
        t = socket.create_connection(("127.0.0.1", c.ports["telnet"]), timeout=5)
        assert t.recv(256)
        t.close()
    finally:
        assert c.stop() == 0
    events = c.events()
    assert any(e["event_type"] == "modbus.request" for e in events)
    assert "switched to uid" in c.stderr.read_text()


def test_root_without_a_user_refuses_with_a_clear_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CONPOT_ALLOW_ROOT"}
    out = subprocess.run([conpot_bin(), "--state-dir", str(tmp_path / "state"), "--listen-host", "127.0.0.1",
                          *[a for n in ("modbus", "s7comm", "snmp", "ftp", "tftp", "http", "https", "telnet") for a in ("--port", f"{n}=0")]],
                         capture_output=True, text=True, timeout=20, env=env, cwd=tmp_path)
    assert out.returncode == 1
    assert "refusing to run as root" in out.stderr and "[daemon] user" in out.stderr and "--allow-root" in out.stderr
    # Nothing was written: the refusal comes before the persona and the logs.
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "conpot-events.jsonl").exists()
