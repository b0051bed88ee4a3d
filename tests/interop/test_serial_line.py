"""The serial device server on real serial lines: socat makes a pseudo-terminal pair, one
end is the device (a pymodbus RTU serial slave) or the master (a pymodbus serial client),
and conpot-rs opens the other end itself as the template's `device`.

(a) bridge to the device, one line shared by two RTU-over-TCP clients at once, each given
its own answers; (b) line mode, the emulated slaves answering a master on the line;
(c) an RFC 2217 client's baud rate applied to the real line (seen with stty); (d) the line
vanishing (socat killed) and coming back."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient

from conftest import Conpot, wait_for

HERE = Path(__file__).resolve().parent




class PtyPair:
    """Two linked pseudo-terminals, `dev` (the device's end) and `line` (conpot-rs's end)."""

    def __init__(self, tmp_path):
        self.dev = tmp_path / "ttyDEV"
        self.line = tmp_path / "ttyLINE"
        self.socat = None
        self.start()

    def start(self):
        self.socat = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.dev}", f"pty,raw,echo=0,link={self.line}"],
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(lambda: self.dev.exists() and self.line.exists(), 5), "socat made no ptys"

    def kill(self):
        if self.socat and self.socat.poll() is None:
            self.socat.kill()
            self.socat.wait()
        wait_for(lambda: not self.line.exists(), 3)


@pytest.fixture
def ptys(tmp_path):
    p = PtyPair(tmp_path)
    yield p
    p.kill()


def holds(pid, tty):
    """Whether process `pid` has the pseudo-terminal `tty` open."""
    real = os.path.realpath(tty)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == real:
                return True
        except OSError:
            pass
    return False


def start_slave(tty):
    slave = subprocess.Popen([sys.executable, str(HERE / "rtu_serial_server.py"), str(tty)], stderr=subprocess.DEVNULL)
    assert wait_for(lambda: holds(slave.pid, tty), 20), "the RTU slave never opened its pty"
    # Opened, then configured and serving: a moment for pymodbus to reach its read loop.
    time.sleep(0.5)
    return slave


def stop(p):
    if p and p.poll() is None:
        p.kill()
        p.wait()


def conpot_with(tmp_path, body, name="t"):
    tdir = tmp_path / name
    tdir.mkdir()
    (tdir / "template.toml").write_text('[template]\nunit = "NPort 5150"\nvendor = "Moxa"\n' + body)
    return Conpot(tmp_path / f"run-{name}", args=["-t", str(tdir), "--port", "serial=0"], expect={"serial"}, mkdir=True)


def bridge(tmp_path, ptys, extra=""):
    return conpot_with(
        tmp_path,
        f"""
[protocols.serial]
port = 0
mode = "bridge"
device = "{ptys.line}"
{extra}
""",
    )


def of_type(conpot, kind):
    return [e for e in conpot.events() if e["event_type"] == kind]


def links(conpot):
    return [e["data"]["state"] for e in of_type(conpot, "serial.link")]


def test_two_tcp_clients_share_the_line_each_gets_its_own_answers(tmp_path, ptys):
    slave = start_slave(ptys.dev)
    conpot = None
    try:
        conpot = bridge(tmp_path, ptys)
        assert wait_for(lambda: "up" in links(conpot), 8)
        errors = []

        def client(addr, rounds):
            c = ModbusTcpClient("127.0.0.1", port=conpot.ports["serial"], framer=FramerType.RTU, timeout=5, retries=0)
            try:
                assert c.connect()
                for i in range(rounds):
                    a = addr + (i % 3)
                    r = c.read_holding_registers(a, count=2, device_id=1)
                    if r.isError() or r.registers != [100 + a, 101 + a]:
                        errors.append((addr, i, r))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append((addr, "raised", e))
            finally:
                c.close()

        threads = [threading.Thread(target=client, args=(a, 15)) for a in (0, 20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        reqs = wait_for(lambda: len(of_type(conpot, "modbus.request")) >= 30 and of_type(conpot, "modbus.request"), 8)
        assert len(reqs) == 30
        # Every request decoded with the line's answer, from both TCP clients.
        assert all(r["data"]["bridged"] and r["request"]["function"] == "read_holding_registers" for r in reqs)
        assert all(r["raw_response"] for r in reqs)
        assert len({r["session_id"] for r in reqs}) == 2
    finally:
        if conpot:
            conpot.stop()
        stop(slave)


def test_line_mode_the_emulated_slaves_answer_a_master_on_the_line(tmp_path, ptys):
    conpot = conpot_with(
        tmp_path,
        f"""
[databus]
holding = [7, 8, 9, 10]
[protocols.serial]
port = 0
device = "{ptys.line}"
[[protocols.serial.modbus.slaves]]
id = 3
blocks = [{{ table = "holding_registers", start = 0, size = 4, key = "holding" }}]
""",
    )
    try:
        assert wait_for(lambda: "up" in links(conpot), 8)
        c = ModbusSerialClient(str(ptys.dev), framer=FramerType.RTU, baudrate=9600, timeout=2, retries=0)
        assert c.connect()
        assert c.read_holding_registers(1, count=3, device_id=3).registers == [8, 9, 10]
        assert not c.write_register(0, 77, device_id=3).isError()
        assert c.read_holding_registers(0, count=1, device_id=3).registers == [77]
        c.close()
        # The same databus over TCP (RTU over TCP, the emulated mode).
        t = ModbusTcpClient("127.0.0.1", port=conpot.ports["serial"], framer=FramerType.RTU, timeout=3, retries=0)
        assert t.connect()
        assert t.read_holding_registers(0, count=1, device_id=3).registers == [77]
        t.close()
        reqs = wait_for(lambda: len(of_type(conpot, "modbus.request")) >= 4 and of_type(conpot, "modbus.request"), 8)
        on_line = [r for r in reqs if r["data"].get("line") == str(ptys.line)]
        assert len(on_line) == 3 and all(r["data"]["framing"] == "rtu" for r in on_line)
    finally:
        conpot.stop()


def stty_speed(tty):
    out = subprocess.run(["stty", "-F", str(tty), "speed"], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_rfc2217_baud_is_applied_to_the_real_line(tmp_path, ptys):
    import serial

    slave = start_slave(ptys.dev)
    conpot = None
    try:
        conpot = bridge(tmp_path, ptys, "rfc2217 = true")
        assert wait_for(lambda: "up" in links(conpot), 8)
        assert stty_speed(ptys.line) == 9600
        port = serial.serial_for_url(f"rfc2217://127.0.0.1:{conpot.ports['serial']}", baudrate=19200, timeout=3)
        assert wait_for(lambda: stty_speed(ptys.line) == 19200, 8), stty_speed(ptys.line)
        # Requests still reach the device and come back.
        req = bytes([1, 3, 0, 4, 0, 1])
        crc = 0xFFFF
        for b in req:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        port.write(req + crc.to_bytes(2, "little"))
        reply = port.read(7)
        assert reply[:5] == bytes([1, 3, 2, 0, 104]), reply
        port.close()
        applied = [e for e in of_type(conpot, "serial.settings") if "applied" in e["data"]]
        assert any(e["data"]["applied"] and e["data"]["settings"]["baud"] == 19200 for e in applied), applied
        asked = [e for e in of_type(conpot, "serial.settings") if e["data"].get("command") == "set_baudrate"]
        assert asked and asked[0]["data"]["value"] == 19200 and asked[0]["data"]["forwarded"] is True
    finally:
        if conpot:
            conpot.stop()
        stop(slave)


def test_a_vanished_line_goes_down_and_comes_back(tmp_path, ptys):
    slave = start_slave(ptys.dev)
    conpot = None
    try:
        conpot = bridge(tmp_path, ptys)
        assert wait_for(lambda: "up" in links(conpot), 8)
        c = ModbusTcpClient("127.0.0.1", port=conpot.ports["serial"], framer=FramerType.RTU, timeout=3, retries=0)
        assert c.connect()
        assert c.read_holding_registers(0, count=1, device_id=1).registers == [100]
        stop(slave)
        ptys.kill()
        assert wait_for(lambda: links(conpot)[-1:] == ["down"], 8), links(conpot)
        down = of_type(conpot, "serial.link")[-1]["data"]
        assert down["device"] == str(ptys.line) and down["reason"] and down["retry_ms"] >= 1000
        ptys.start()
        slave = start_slave(ptys.dev)
        assert wait_for(lambda: links(conpot)[-1:] == ["up"], 20), links(conpot)
        # The same TCP client is answered again by the device on the new line.
        assert c.read_holding_registers(1, count=1, device_id=1).registers == [101]
        c.close()
        assert conpot.proc.poll() is None
    finally:
        if conpot:
            conpot.stop()
        stop(slave)
