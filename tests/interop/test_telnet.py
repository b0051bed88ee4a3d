"""Real Telnet clients against the default persona's console: Debian's inetutils telnet
driven through a pseudo-terminal, telnetlib3, nmap's telnet scripts, and a brute force."""

import asyncio
import os
import pty
import re
import select
import socket
import subprocess
import time

import pytest
import telnetlib3
from pymodbus.client import ModbusTcpClient

from conftest import wait_for


class Pty:
    """A program on a pseudo-terminal, read and written like a user at a keyboard."""

    def __init__(self, argv):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvp(argv[0], argv)
        self.seen = b""

    def expect(self, pattern, timeout=10):
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.seen)
            if m:
                before = self.seen[: m.end()]
                self.seen = self.seen[m.end():]
                return before.decode(errors="replace")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not seen in {self.seen!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"EOF before {pattern!r}: {self.seen!r}")
                self.seen += chunk

    def send(self, text):
        os.write(self.fd, text.encode())

    def close(self):
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def telnet_client(port):
    return Pty(["telnet", "127.0.0.1", str(port)])


def events(conpot, kind):
    return [e for e in conpot.events() if e["event_type"] == kind]




def test_inetutils_telnet_logs_in_runs_commands_and_sees_modbus(conpot):
    persona = conpot.persona()
    host = persona["hostname"]
    password = f"Siemens-{host}"
    port = conpot.ports["telnet"]
    modbus = ModbusTcpClient("127.0.0.1", port=conpot.ports["modbus"], timeout=5, retries=0)
    assert modbus.connect()
    assert not modbus.write_register(5, 1234, device_id=255).isError()

    t = telnet_client(port)
    try:
        t.expect("Siemens SCALANCE XC208")
        t.expect("login: ")
        t.send("admin\r")
        t.expect("Password: ")
        t.send("wrong\r")
        t.expect("Login incorrect")
        t.expect("login: ")
        t.send("admin\r")
        t.expect("Password: ")
        t.send(password + "\r")
        t.expect(re.escape(f"{host}-sw>"))
        t.send("show version\r")
        out = t.expect(re.escape(f"{host}-sw>"))
        assert f"Serial   : {persona['serial']}" in out
        t.send("sh ip int\r")
        out = t.expect(re.escape(f"{host}-sw>"))
        assert persona["mac"] in out
        # A value written over Modbus is what the console shows.
        t.send("show plc register 5\r")
        assert "HR5 1234" in t.expect(re.escape(f"{host}-sw>"))
        t.send("reboot\r")
        assert "% Invalid input detected at '^' marker." in t.expect(re.escape(f"{host}-sw>"))
        # And a write over Telnet is seen over Modbus.
        t.send("enable\r")
        t.expect(re.escape(f"{host}-sw#"))
        t.send("set plc register 6 777\r")
        assert "HR6 777" in t.expect(re.escape(f"{host}-sw#"))
        assert modbus.read_holding_registers(6, count=1, device_id=255).registers == [777]
        t.send("configure terminal\r")
        t.expect(re.escape(f"{host}-sw(config)#"))
        t.send("end\r")
        t.expect(re.escape(f"{host}-sw#"))
        t.send("logout\r")
        t.expect("Connection closed by foreign host")
    finally:
        t.close()
        modbus.close()

    # The sink writes asynchronously: wait for the session's last event.
    assert wait_for(lambda: [e for e in conpot.events() if e["event_type"] == "session.close" and e["protocol"] == "telnet"])
    attempts = [e for e in events(conpot, "auth.attempt") if e["data"]["protocol"] == "telnet"]
    assert [(a["data"]["username"], a["data"]["success"]) for a in attempts] == [("admin", False), ("admin", True)]
    assert attempts[0]["data"]["reason"] == "bad_password"
    commands = events(conpot, "telnet.command")
    lines = [c["data"]["line"] for c in commands]
    assert lines[:3] == ["show version", "sh ip int", "show plc register 5"]
    assert commands[0]["data"]["command"] == "show version" and commands[0]["data"]["output_len"] > 100
    assert [c["data"]["status"] for c in commands if c["data"]["line"] == "reboot"] == ["unknown"]
    writes = events(conpot, "telnet.write")
    assert writes[0]["data"]["key"] == "holding" and writes[0]["data"]["index"] == 6
    # inetutils telnet agreed to our echo and offered its window size and terminal type.
    neg = {(e["data"]["verb"], e["data"]["option"]) for e in events(conpot, "telnet.negotiation")}
    assert ("DO", "ECHO") in neg and ("WILL", "NAWS") in neg and ("WILL", "TTYPE") in neg
    sub = events(conpot, "telnet.subnegotiation")
    assert any(s["data"].get("terminal_type") for s in sub)


def test_telnetlib3_negotiates_naws_and_ttype(conpot):
    async def run():
        reader, writer = await telnetlib3.open_connection(
            "127.0.0.1", conpot.ports["telnet"], term="vt220", cols=132, rows=50, connect_minwait=0.5
        )
        data = ""
        deadline = time.monotonic() + 10
        while "login: " not in data and time.monotonic() < deadline:
            data += await asyncio.wait_for(reader.read(1024), 5)
        writer.write("nobody\r\n")
        await asyncio.sleep(0.3)
        writer.close()
        return data

    banner = asyncio.run(run())
    assert "Siemens SCALANCE XC208" in banner
    sub = wait_for(lambda: [s for s in events(conpot, "telnet.subnegotiation") if "width" in s["data"] or "terminal_type" in s["data"]])
    sizes = [(s["data"]["width"], s["data"]["height"]) for s in sub if "width" in s["data"]]
    assert (132, 50) in sizes
    assert "VT220" in [s["data"]["terminal_type"].upper() for s in sub if "terminal_type" in s["data"]]


def test_nmap_banner_and_ntlm_info(conpot, tmp_path):
    port = conpot.ports["telnet"]
    # A data folder whose services file names the port telnet, which telnet-ntlm-info's port
    # rule asks for (nmap finds everything else in its own folder).
    (tmp_path / "nmap-services").write_text(f"telnet\t{port}/tcp\t0.5\n")
    out = subprocess.run(
        ["nmap", "-Pn", "-n", "--datadir", str(tmp_path), "-p", str(port), "--script", "banner,telnet-ntlm-info", "127.0.0.1"],
        capture_output=True, text=True, timeout=120,
    ).stdout
    # nmap wraps the banner line; join it back.
    flat = re.sub(r"\n\|_? ", " ", out)
    assert "Siemens SCALANCE XC208" in flat, out
    assert re.search(rf"{port}/tcp\s+open\s+telnet", out), out
    # A switch has no NTLM: the script's NTLMSSP negotiate goes unanswered, and is logged.
    sub = wait_for(lambda: [e for e in events(conpot, "telnet.subnegotiation") if e["data"]["option"] == "AUTHENTICATION"])
    assert sub and sub[0]["data"]["auth_type"] == "NTLM" and sub[0]["data"]["ntlmssp"] is True, out
    assert "telnet-ntlm-info" not in out


def test_brute_force_of_200_logins_is_fully_logged(conpot):
    port = conpot.ports["telnet"]
    tried = 0
    while tried < 200:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        buf = b""
        here = 0
        try:
            for _ in range(3):
                if tried == 200:
                    break
                here += 1
                while not buf.endswith(b"login: "):
                    chunk = s.recv(4096)
                    assert chunk, buf
                    buf += chunk
                buf = b""
                s.sendall(f"user{tried}\r\n".encode())
                while not buf.endswith(b"Password: "):
                    chunk = s.recv(4096)
                    assert chunk, buf
                    buf += chunk
                buf = b""
                s.sendall(f"pass{tried}\r\n".encode())
                tried += 1
            # The third failure closes the connection; drain to the close.
            while here == 3 and s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        finally:
            s.close()
    attempts = wait_for(lambda: len([e for e in events(conpot, "auth.attempt") if e["data"]["protocol"] == "telnet"]) >= 200 and events(conpot, "auth.attempt"))
    telnet = [e for e in attempts if e["data"]["protocol"] == "telnet"]
    assert len(telnet) == 200
    assert {e["data"]["username"] for e in telnet} == {f"user{i}" for i in range(200)}
    assert {e["data"]["password"] for e in telnet} == {f"pass{i}" for i in range(200)}
    assert all(e["data"]["success"] is False for e in telnet)
    assert max(e["data"]["attempts"] for e in telnet) == 200
