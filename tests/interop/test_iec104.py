"""c104, nmap iec-identify and raw APCI against the embedded IEC104 station."""

import re
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import Conpot, capture, wait_for

c104 = pytest.importorskip("c104")


class Station(Conpot):
    """The binary serving the embedded `IEC104` template on free ports."""

    def __init__(self, workdir):
        super().__init__(workdir, args=["-t", "IEC104", "--port", "IEC104=0", "--port", "snmp=0"],
                         expect=["IEC104", "snmp"])
        text = next((self.workdir / "state").glob("persona-*.toml")).read_text()
        self.ca = int(re.search(r'^common_address = "(\d+)"', text, re.M).group(1))


def start_dt(conn):
    """Sends STARTDT and waits for its confirmation: c104's `unmute` returns once the act is
    sent, and lib60870 refuses to send an I frame (the interrogation returns False) until the
    station's STARTDT con has arrived."""
    assert conn.unmute(), "STARTDT sent"
    assert wait_for(lambda: not conn.is_muted), "STARTDT confirmed"


@pytest.fixture
def station(tmp_path):
    s = Station(tmp_path)
    yield s
    assert s.stop() == 0


def recv_apdu(s):
    head = b""
    while len(head) < 2:
        chunk = s.recv(2 - len(head))
        assert chunk, "closed"
        head += chunk
    assert head[0] == 0x68
    body = b""
    while len(body) < head[1]:
        chunk = s.recv(head[1] - len(body))
        assert chunk, "closed"
        body += chunk
    return body


def i_frame(ns, nr, asdu):
    return bytes([0x68, 4 + len(asdu)]) + struct.pack("<HH", ns << 1, nr << 1) + asdu


def test_c104_interrogation_commands_clock_and_counters(station):
    # A debug build under a running capture answers slower than c104's 100 ms default.
    client = c104.Client(command_timeout_ms=3000)
    conn = client.add_connection(ip="127.0.0.1", port=station.ports["IEC104"], init=c104.Init.NONE)
    st = conn.add_station(common_address=station.ca)
    breaker = st.add_point(io_address=1001, type=c104.Type.M_DP_NA_1)
    earth = st.add_point(io_address=1003, type=c104.Type.M_SP_NA_1)
    volt = st.add_point(io_address=2001, type=c104.Type.M_ME_NC_1)
    counter = st.add_point(io_address=3001, type=c104.Type.M_IT_NA_1)
    cmd = st.add_point(io_address=5003, type=c104.Type.C_SC_NA_1)
    client.start()
    try:
        # Init.NONE: the test sends STARTDT itself (c104's own start-up interrogation
        # would race with the one below).
        deadline = time.monotonic() + 5
        while not conn.is_connected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert conn.is_connected
        start_dt(conn)
        assert conn.interrogation(common_address=station.ca, cause=c104.Cot.ACTIVATION, qualifier=c104.Qoi.STATION)
        time.sleep(0.5)
        assert breaker.value == c104.Double.ON
        assert earth.value is False
        assert 109 <= volt.value <= 112
        assert conn.counter_interrogation(common_address=station.ca, cause=c104.Cot.ACTIVATION,
                                          qualifier=c104.Rqt.GENERAL)
        assert conn.clock_sync(common_address=station.ca)
        # Eleven I frames are out by now; let c104 acknowledge them (its w or tick) so the
        # command's confirmation and termination are not held by the k window.
        time.sleep(0.5)
        cmd.value = True
        assert cmd.transmit(cause=c104.Cot.ACTIVATION)
        # The earthing switch closes; its spontaneous report is time-tagged (M_SP_TB_1,
        # which c104 does not take for a point registered as M_SP_NA_1; see the Modbus
        # test below), so a read shows the change.
        deadline = time.monotonic() + 5
        while earth.value is not True and time.monotonic() < deadline:
            assert earth.read()
            time.sleep(0.2)
        assert earth.value is True
        assert volt.read()
    finally:
        client.stop()


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is installed by tests/setup-deps")
def test_nmap_iec_identify(station):
    out = subprocess.run(["nmap", "-Pn", "-n", "-p", str(station.ports["IEC104"]), "--script", "+iec-identify",
                          "127.0.0.1"], capture_output=True, text=True, timeout=120).stdout
    assert f"ASDU address: {station.ca}" in out, out
    assert "Information objects: 7" in out, out
    assert "7720" not in out


def test_testfr_and_1000_i_frames_keep_sequence_and_window(station):
    s = socket.create_connection(("127.0.0.1", station.ports["IEC104"]), timeout=5)
    s.sendall(bytes([0x68, 4, 0x43, 0, 0, 0]))
    assert recv_apdu(s) == bytes([0x83, 0, 0, 0]), "TESTFR con"
    s.sendall(bytes([0x68, 4, 0x07, 0, 0, 0]))
    assert recv_apdu(s) == bytes([0x0B, 0, 0, 0])
    ei = recv_apdu(s)
    assert ei[4] == 70
    ours = 1
    for n in range(1000):
        read = bytes([102, 1, 5, 0]) + struct.pack("<H", station.ca) + (2001).to_bytes(3, "little")
        s.sendall(i_frame(n, ours, read))
        # Spontaneous reports of the drifting measurements may come first.
        while True:
            reply = recv_apdu(s)
            ns, nr = struct.unpack("<HH", reply[:4])
            assert ns >> 1 == ours, "our N(S) counts without gaps"
            ours += 1
            if reply[6] == 5:
                break
            assert reply[6] == 3
        assert nr >> 1 == n + 1, "the answer acknowledges the request"
        assert reply[4] == 13
    s.close()


def test_a_one_byte_frame_then_close_leaves_everything_answering(station):
    s = socket.create_connection(("127.0.0.1", station.ports["IEC104"]), timeout=5)
    s.sendall(b"\x68")
    s.close()
    time.sleep(0.3)
    s = socket.create_connection(("127.0.0.1", station.ports["IEC104"]), timeout=5)
    s.sendall(bytes([0x68, 4, 0x43, 0, 0, 0]))
    assert recv_apdu(s) == bytes([0x83, 0, 0, 0])
    s.close()
    if shutil.which("snmpget"):
        r = subprocess.run(["snmpget", "-v2c", "-c", "public", "-t", "1", "-r", "2",
                            f"127.0.0.1:{station.ports['snmp']}", "1.3.6.1.2.1.1.1.0"],
                           capture_output=True, text=True, timeout=30)
        assert "Siemens" in r.stdout, r.stdout + r.stderr


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is installed by tests/setup-deps")
def test_tshark_decodes_every_frame_without_malformed(station, tmp_path):
    port = station.ports["IEC104"]
    pcap = tmp_path / "iec104.pcapng"
    with capture(pcap, f"tcp port {port}"):
        # A scripted exchange of every request type (deterministic under capture load).
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(bytes([0x68, 4, 0x07, 0, 0, 0]))
        ca = struct.pack("<H", station.ca)
        requests = [
            bytes([100, 1, 6, 0]) + ca + bytes([0, 0, 0, 20]),
            bytes([100, 1, 6, 0]) + ca + bytes([0, 0, 0, 21]),
            bytes([101, 1, 6, 0]) + ca + bytes([0, 0, 0, 5]),
            bytes([103, 1, 6, 0]) + ca + bytes([0, 0, 0, 0x10, 0x27, 30, 8, 1, 12, 26]),
            bytes([45, 1, 6, 0]) + ca + (5003).to_bytes(3, "little") + bytes([1]),
            bytes([46, 1, 6, 0]) + ca + (5001).to_bytes(3, "little") + bytes([0x81]),
            bytes([102, 1, 5, 0]) + ca + (2001).to_bytes(3, "little"),
            bytes([100, 1, 6, 0]) + struct.pack("<H", station.ca + 1) + bytes([0, 0, 0, 20]),
        ]
        s.settimeout(0.3)
        got = 0
        buf = b""
        for n, a in enumerate(requests):
            s.sendall(i_frame(n, got, a))
            time.sleep(0.2)
            try:
                buf += s.recv(65536)
            except socket.timeout:
                pass
            while len(buf) >= 2 and len(buf) >= 2 + buf[1]:
                if buf[2] & 1 == 0:
                    got += 1
                buf = buf[2 + buf[1]:]
            s.sendall(bytes([0x68, 4, 0x01, 0]) + struct.pack("<H", got << 1))
        # The earthing switch's time-tagged spontaneous report (the scan runs every second).
        time.sleep(1.5)
        s.sendall(bytes([0x68, 4, 0x43, 0, 0, 0]))
        time.sleep(0.5)
        s.close()
    decode = ["tshark", "-r", str(pcap), "-d", f"tcp.port=={port},iec60870_104"]
    frames = subprocess.run(decode + ["-Y", f"104apci && tcp.srcport=={port}"], capture_output=True, text=True,
                            timeout=60).stdout
    assert len(frames.splitlines()) >= 8, frames
    timed = subprocess.run(decode + ["-Y", f"tcp.srcport=={port} && 104asdu.typeid == 30 && 104asdu.causetx == 3"],
                           capture_output=True, text=True, timeout=60).stdout
    assert timed.strip(), "an M_SP_TB_1 spontaneous report was captured"
    group = subprocess.run(decode + ["-Y", f"tcp.srcport=={port} && 104asdu.causetx == 21"],
                           capture_output=True, text=True, timeout=60).stdout
    assert group.strip(), "group 1 interrogation answered with cause 21"
    bad = subprocess.run(decode + ["-Y", f"tcp.srcport=={port} && (_ws.malformed || _ws.expert.severity >= warning)"],
                         capture_output=True, text=True, timeout=60).stdout
    assert bad.strip() == "", bad


# A feeder bay whose earthing switch is also a Modbus coil and whose set point is a
# holding register: a Modbus write must reach an IEC 104 master as a time-tagged
# spontaneous report. Groups 1 and 2 split the points for group interrogation.
BAY = """
[template]
unit = "RTU"
vendor = "Siemens"
[persona]
vendor = "Siemens"
[databus]
earth = [0]
setpoint = [500]
voltage = 110.0
[protocols.modbus]
port = 5020
[[protocols.modbus.slaves]]
id = 1
blocks = [
  { table = "coils", start = 0, size = 1, key = "earth" },
  { table = "holding_registers", start = 0, size = 1, key = "setpoint" },
]
[protocols.IEC104]
port = 2404
common_address = 77
points = [
  { ioa = 1001, type = "single", key = "earth", group = 1 },
  { ioa = 2001, type = "scaled", key = "setpoint", group = 2 },
  { ioa = 2002, type = "float", key = "voltage", group = 2, deadband = 0.5 },
]
"""


def test_c104_group_interrogation_and_time_tagged_spontaneous_after_modbus_write(tmp_path):
    from conftest import Conpot
    from pymodbus.client import ModbusTcpClient

    tdir = tmp_path / "template"
    tdir.mkdir()
    (tdir / "template.toml").write_text(BAY)
    bay = Conpot(tmp_path, args=["-t", str(tdir), "--port", "IEC104=0", "--port", "modbus=0"],
                 expect=["IEC104", "modbus"])
    received = []  # (type id, cause) of every ASDU c104 received
    client = c104.Client(command_timeout_ms=3000)
    conn = client.add_connection(ip="127.0.0.1", port=bay.ports["IEC104"], init=c104.Init.NONE)

    def raw(connection: c104.Connection, data: bytes) -> None:
        if len(data) > 8 and data[2] & 1 == 0:
            received.append((data[6], data[8] & 0x3F))

    conn.on_receive_raw(callable=raw)
    st = conn.add_station(common_address=77)
    # The spontaneous report is time-tagged; c104 matches points by type, so the earthing
    # switch is registered as M_SP_TB_1 and the group members as what interrogation sends.
    earth = st.add_point(io_address=1001, type=c104.Type.M_SP_TB_1)
    setpoint = st.add_point(io_address=2001, type=c104.Type.M_ME_NB_1)
    volt = st.add_point(io_address=2002, type=c104.Type.M_ME_NC_1)
    client.start()
    try:
        deadline = time.monotonic() + 5
        while not conn.is_connected and time.monotonic() < deadline:
            time.sleep(0.1)
        start_dt(conn)
        assert conn.interrogation(common_address=77, cause=c104.Cot.ACTIVATION, qualifier=c104.Qoi.GROUP_2)
        deadline = time.monotonic() + 5
        while (100, 10) not in received and time.monotonic() < deadline:
            time.sleep(0.1)
        # Confirmation, the group's two measured values with cause 22 (no time tag),
        # termination; nothing of group 1.
        group = [r for r in received if r[0] != 70]
        assert group == [(100, 7), (11, 22), (13, 22), (100, 10)], group
        assert int(setpoint.value) == 500
        assert volt.value == pytest.approx(110.0)

        m = ModbusTcpClient("127.0.0.1", port=bay.ports["modbus"], timeout=5, retries=0)
        assert m.connect()
        before = time.time()
        assert not m.write_coil(0, True, device_id=1).isError()
        m.close()
        deadline = time.monotonic() + 5
        while earth.value is not True and time.monotonic() < deadline:
            time.sleep(0.1)
        assert earth.value is True
        assert (30, 3) in received, received
        # The CP56Time2a tag is the station's clock at the change (within the 1 s scan).
        stamp = earth.recorded_at.timestamp()
        assert before - 1 <= stamp <= time.time() + 1, (before, stamp)
    finally:
        client.stop()
        assert bay.stop() == 0
