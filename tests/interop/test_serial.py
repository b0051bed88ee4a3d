"""The serial device server with real clients: pymodbus over RTU-over-TCP to the emulated
slaves of the embedded `nport` template, the bridge to a TCP serial server (socat carrying a
pseudo-terminal with a pymodbus RTU serial slave to a TCP port), and pyserial's RFC 2217
client. The real serial lines conpot-rs opens itself are in test_serial_line.py."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymodbus import FramerType
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from conftest import Conpot, free_port, wait_for

HERE = Path(__file__).resolve().parent






def wait_path(p, timeout=5):
    assert wait_for(lambda: Path(p).exists(), timeout), f"{p} never appeared"


@pytest.fixture
def nport(tmp_path):
    c = Conpot(tmp_path, args=["-t", "nport", "--port", "serial=0", "--port", "telnet=0"], expect={"serial", "telnet"})
    yield c
    c.stop()


def rtu_events(conpot):
    return [e for e in conpot.events() if e["event_type"] == "modbus.request" and e["protocol"] == "serial"]


def test_pymodbus_rtu_over_tcp_reaches_the_emulated_slaves(nport):
    c = ModbusTcpClient("127.0.0.1", port=nport.ports["serial"], framer=FramerType.RTU, timeout=3, retries=0)
    assert c.connect()
    meter = c.read_input_registers(0, count=16, device_id=1)
    assert not meter.isError() and all(2250 <= v <= 2350 for v in meter.registers)
    assert not c.write_register(1, 550, device_id=2).isError()
    assert c.read_holding_registers(0, count=3, device_id=2).registers == [250, 550, 30]
    # Nothing on the line answers address 9: the client times out, as on a real line.
    with pytest.raises(ModbusIOException):
        c.read_holding_registers(0, count=1, device_id=9)
    c.close()
    events = wait_for(lambda: len(rtu_events(nport)) >= 4 and rtu_events(nport))
    assert [e["data"]["unit_id"] for e in events[:4]] == [1, 2, 2, 9]
    assert all(e["data"]["framing"] == "rtu" for e in events)
    assert events[3]["data"]["slave_id"] is None and events[3]["response"] == {"reply": "none"}


def test_bridge_to_an_rtu_slave_on_a_pty(tmp_path):
    # socat makes the pseudo-terminal the slave listens on, and carries its other side to
    # a TCP port: the serial server the bridge is configured with.
    tty = tmp_path / "ttyDEV"
    line_port = free_port()
    socat = subprocess.Popen(
        ["socat", f"pty,raw,echo=0,link={tty}", f"tcp-listen:{line_port},bind=127.0.0.1,reuseaddr"],
        stderr=subprocess.DEVNULL,
    )
    slave = None
    conpot = None
    try:
        wait_path(tty)
        slave = subprocess.Popen([sys.executable, str(HERE / "rtu_serial_server.py"), str(tty)], stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        tdir = tmp_path / "bridge"
        tdir.mkdir()
        (tdir / "template.toml").write_text(
            f"""
[template]
unit = "NPort 5150"
vendor = "Moxa"
[protocols.serial]
port = 0
mode = "bridge"
upstream = "127.0.0.1:{line_port}"
"""
        )
        conpot = Conpot(tmp_path / "run", args=["-t", str(tdir), "--port", "serial=0"], expect={"serial"}, mkdir=True)
        c = ModbusTcpClient("127.0.0.1", port=conpot.ports["serial"], framer=FramerType.RTU, timeout=3, retries=0)
        assert c.connect()
        r = c.read_holding_registers(2, count=4, device_id=1)
        assert not r.isError(), r
        assert r.registers == [102, 103, 104, 105]
        assert not c.write_register(0, 4321, device_id=1).isError()
        assert c.read_holding_registers(0, count=1, device_id=1).registers == [4321]
        c.close()
        events = wait_for(lambda: len(rtu_events(conpot)) >= 3 and rtu_events(conpot))
        assert all(e["data"]["bridged"] is True and e["raw_response"] for e in events[:3])
        assert events[0]["request"]["function"] == "read_holding_registers"
        links = [e for e in conpot.events() if e["event_type"] == "serial.link"]
        assert links and links[0]["data"]["state"] == "up"
    finally:
        if conpot:
            conpot.stop()
        for p in (slave, socat):
            if p:
                p.kill()
                p.wait()


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


def test_pyserial_rfc2217_settings_are_applied_and_logged(tmp_path):
    import serial

    tdir = tmp_path / "rfc2217"
    tdir.mkdir()
    (tdir / "template.toml").write_text(
        """
[template]
unit = "NPort 5150"
vendor = "Moxa"
[databus]
holding = [7, 8, 9, 10]
[protocols.serial]
port = 0
rfc2217 = true
[[protocols.serial.modbus.slaves]]
id = 1
blocks = [{ table = "holding_registers", start = 0, size = 4, key = "holding" }]
"""
    )
    conpot = Conpot(tmp_path / "run", args=["-t", str(tdir), "--port", "serial=0"], expect={"serial"}, mkdir=True)
    try:
        port = serial.serial_for_url(f"rfc2217://127.0.0.1:{conpot.ports['serial']}", baudrate=19200, parity="E", timeout=2)
        req = bytes([1, 3, 0, 1, 0, 2])
        port.write(req + crc16(req))
        reply = port.read(9)
        assert reply == bytes([1, 3, 4, 0, 8, 0, 9]) + crc16(bytes([1, 3, 4, 0, 8, 0, 9]))
        port.baudrate = 38400
        port.write(req + crc16(req))
        assert port.read(9) == reply
        port.close()
        settings = wait_for(lambda: [e for e in conpot.events() if e["event_type"] == "serial.settings" and e["data"]["command"] == "set_baudrate"])
        assert [s["data"]["value"] for s in settings][:2] == [19200, 38400]
        parity = [e["data"]["value"] for e in conpot.events() if e["event_type"] == "serial.settings" and e["data"]["command"] == "set_parity"]
        assert parity[0] == "even"
        # The second request's event is published after its reply: wait for it.
        assert len(wait_for(lambda: len(rtu_events(conpot)) >= 2 and rtu_events(conpot))) == 2
    finally:
        conpot.stop()
