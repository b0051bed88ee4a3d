"""The Kamstrup 382: a KMP client written here from the protocol's description (framing,
byte stuffing, CRC-16/CCITT) against the meter on TCP 1025, and Debian's inetutils telnet
against the management console on TCP 50100. Both the embedded `kamstrup_382` template
(`conpot -t kamstrup_382`) and Conpot's own kamstrup_382 folder are run."""

import socket
import time

import pytest

from conftest import Conpot, conpot_templates
from test_telnet import Pty, wait_for

ADDRESS = 0x3F
STUFFED = {0x06, 0x0D, 0x1B, 0x40, 0x80}


def crc16_ccitt(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def frame(command, payload=b"", address=ADDRESS, crc_fix=0):
    body = bytes([address, command]) + payload
    body += (crc16_ccitt(body) ^ crc_fix).to_bytes(2, "big")
    out = bytearray([0x80])
    for b in body:
        out += bytes([0x1B, b ^ 0xFF]) if b in STUFFED else bytes([b])
    out.append(0x0D)
    return bytes(out)


def unframe(raw):
    assert raw[0] == 0x40 and raw[-1] == 0x0D, raw.hex()
    body, i = bytearray(), 1
    while i < len(raw) - 1:
        if raw[i] == 0x1B:
            body.append(raw[i + 1] ^ 0xFF)
            i += 2
        else:
            body.append(raw[i])
            i += 1
    assert crc16_ccitt(bytes(body[:-2])) == int.from_bytes(body[-2:], "big"), raw.hex()
    return body[0], body[1], bytes(body[2:-2])


def registers(payload):
    regs, i = {}, 0
    while i < len(payload):
        rid = int.from_bytes(payload[i:i + 2], "big")
        unit, length, sig = payload[i + 2], payload[i + 3], payload[i + 4]
        mantissa = int.from_bytes(payload[i + 5:i + 5 + length], "big")
        exp = -(sig & 0x3F) if sig & 0x40 else (sig & 0x3F)
        regs[rid] = (unit, length, mantissa * 10 ** exp, payload[i + 5:i + 5 + length])
        i += 5 + length
    return regs


def get_register(*ids):
    return frame(0x10, bytes([len(ids)]) + b"".join(i.to_bytes(2, "big") for i in ids))


def rtc(t):
    g = time.gmtime(t)
    return bytes([0, g.tm_year - 2000, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec, g.tm_wday + 1])


class Kmp:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def send(self, raw):
        self.s.sendall(raw)

    def reply(self, timeout=3):
        self.s.settimeout(timeout)
        while b"\x0d" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise AssertionError("closed")
            self.buf += chunk
        end = self.buf.index(b"\x0d") + 1
        raw, self.buf = self.buf[:end], self.buf[end:]
        return unframe(raw)

    def silent(self, wait=0.8):
        self.s.settimeout(wait)
        try:
            data = self.s.recv(4096)
        except socket.timeout:
            return True
        assert data, "the meter closed the connection"
        return False

    def ask(self, raw):
        self.send(raw)
        return self.reply()

    def close(self):
        self.s.close()


@pytest.fixture
def meter(tmp_path):
    c = Conpot(tmp_path, args=["-t", "kamstrup_382", "--port", "kamstrup_meter=0", "--port", "kamstrup_management=0"],
               expect=["kamstrup_meter", "kamstrup_management"])
    yield c
    c.stop()


def test_every_kmp_command_wrong_address_bad_crc_and_two_requests(meter):
    persona = meter.persona()
    k = Kmp(meter.ports["kamstrup_meter"])
    try:
        # GetRegister, several registers; an unknown one is left out. The meter is slow.
        start = time.monotonic()
        addr, cmd, payload = k.ask(get_register(1001, 1054, 9999, 13, 1205))
        assert time.monotonic() - start >= 0.2
        assert (addr, cmd) == (ADDRESS, 0x10)
        regs = registers(payload)
        assert list(regs) == [1001, 1054, 13, 1205]
        assert regs[1001][2] == int(persona["meter_serial"])
        assert regs[1054][0] == 33 and 215 < regs[1054][2] < 245
        assert regs[13][0] == 2 and regs[13][2] > 0
        assert regs[1205][3] == b"\xff" * 16
        # GetType and GetSerialNo.
        _, cmd, payload = k.ask(frame(0x01))
        assert cmd == 0x01 and int.from_bytes(payload[:2], "big") == 0x0382
        _, cmd, payload = k.ask(frame(0x02))
        assert cmd == 0x02 and int.from_bytes(payload, "big") == int(persona["meter_serial"])
        # SetClock: the RTC register follows.
        _, cmd, payload = k.ask(frame(0x09, rtc(1_700_000_000)))
        assert (cmd, payload) == (0x09, b"")
        clock = registers(k.ask(get_register(1047))[2])[1047][3]
        assert clock[1:4] == bytes([23, 11, 14])
        # The log forms.
        _, cmd, payload = k.ask(frame(0xA1, bytes([0, 3, 1, 0, 13])))
        assert cmd == 0xA1 and payload[0] == 0 and payload[1] == 3
        for command, selector in [(0xA0, rtc(1_699_990_000)), (0xA3, rtc(1_699_990_000)), (0xA2, (207_000).to_bytes(4, "big"))]:
            _, cmd, payload = k.ask(frame(command, bytes([0]) + selector + bytes([2, 1, 0, 13])))
            assert cmd == command and 1 <= payload[1] <= 2
        # Wrong address and bad CRC: silence, the connection stays.
        k.send(frame(0x10, b"\x01\x03\xe9", address=0x01))
        assert k.silent()
        k.send(frame(0x10, b"\x01\x03\xe9", crc_fix=0x0101))
        assert k.silent()
        # Two requests in one segment: two replies in order.
        k.send(get_register(1054) + frame(0x02))
        assert k.reply()[1] == 0x10 and k.reply()[1] == 0x02
    finally:
        k.close()
    evs = wait_for(lambda: [e for e in meter.events() if e["event_type"] == "kamstrup.request"])
    statuses = [e["data"]["status"] for e in evs]
    assert "wrong_address" in statuses and "bad_crc" in statuses
    first = evs[0]["data"]
    assert first["request"]["registers"] == [1001, 1054, 9999, 13, 1205]
    assert first["response"]["registers"][1]["unit"] == "V"


def test_management_console_with_inetutils_telnet(meter):
    persona = meter.persona()
    t = Pty(["telnet", "127.0.0.1", str(meter.ports["kamstrup_management"])])
    try:
        t.expect("Welcome...")
        t.expect(f"Connected to \\[{persona['mac']}\\]")
        t.send("H\r\n")
        t.expect("Kamstrup \\(R\\)")
        t.send("H !SI\r\n")
        t.expect("Same as !SI 192168001200.")
        t.send("!GV\r\n")
        t.expect("Software Version: " + persona["module_firmware"].replace("(", "\\(").replace(")", "\\)"))
        t.send("!SI 192168001200\r\n")
        t.expect("IP addr.            : 192.168.1.200")
        t.send("!SD pumphouse\r\n")
        t.expect("OK")
        t.send("!GC\r\n")
        out = t.expect("Software watchdog: ENABLED 3600")
        assert "Device Name         : pumphouse" in out and "IP addr.            : 192.168.1.200" in out
        t.send("!XY\r\n")
        t.expect("Send 'H' for help.")
        t.send("Q\r\n")
        t.expect("Connection closed by foreign host")
    finally:
        t.close()
    cmds = wait_for(lambda: [e for e in meter.events() if e["event_type"] == "telnet.command"])
    assert any(c["data"]["line"] == "!SD pumphouse" and c["data"]["status"] == "ok" for c in cmds)


def test_partial_input_and_a_megabyte_line_leave_both_services_answering(meter):
    for port in (meter.ports["kamstrup_meter"], meter.ports["kamstrup_management"]):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"\x80\x3f\x10\x01")
        s.close()
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            s.sendall(b"\x80" + b"A" * (1 << 20) + b"\r\n")
        except OSError:
            pass
        s.close()
    k = Kmp(meter.ports["kamstrup_meter"])
    try:
        assert k.ask(frame(0x02))[1] == 0x02
    finally:
        k.close()
    s = socket.create_connection(("127.0.0.1", meter.ports["kamstrup_management"]), timeout=5)
    try:
        s.settimeout(5)
        got = b""
        s.sendall(b"!GV\r\n")
        while b"Software Version" not in got:
            chunk = s.recv(4096)
            assert chunk
            got += chunk
    finally:
        s.close()


def test_conpot_kamstrup_382_folder_serves_both_protocols(tmp_path):
    c = Conpot(tmp_path, args=["-t", str(conpot_templates() / "kamstrup_382"),
                               "--port", "kamstrup_meter=0", "--port", "kamstrup_management=0"],
               expect=["kamstrup_meter", "kamstrup_management"])
    try:
        k = Kmp(c.ports["kamstrup_meter"])
        try:
            # Conpot's own template answers register 1001 with its serial, 1033 with kW.
            regs = registers(k.ask(get_register(1001, 1033))[2])
            assert regs[1001][2] == 15085488
            assert regs[1033][0] == 22
        finally:
            k.close()
        s = socket.create_connection(("127.0.0.1", c.ports["kamstrup_management"]), timeout=5)
        try:
            s.settimeout(5)
            got = b""
            while b"Connected to [00:13:EA:00:00:00]" not in got:
                got += s.recv(4096)
            s.sendall(b"!GC\r\n")
            while b"Software watchdog" not in got:
                got += s.recv(4096)
            assert b"Service server hostname.: kapserver.evilpowerprovider.org" in got
        finally:
            s.close()
    finally:
        c.stop()


def test_console_invalid_arguments_answer_as_the_module_does(meter):
    # The replies that depend on an argument's validity (the console language's conditions).
    t = Pty(["telnet", "127.0.0.1", str(meter.ports["kamstrup_management"])])
    try:
        t.expect("Connected to")
        # An invalid port leaves the old one (50), the valid one is stored.
        t.send("!SP 99999 2025\r\n")
        out = t.expect("Cfg on module: 50100")
        assert "KAP on server: 50\r\n" in out and "ChA on module: 2025\r\n" in out
        # A watchdog of 0 is shown disabled.
        t.send("!SK 0 60 0\r\n")
        out = t.expect("Keep alive timer \\(flash setting\\): DISABLED 0")
        assert "Software watchdog: DISABLED 0" in out and "KAP Missing warning: ENABLED 60" in out
        # Without redundancy the !SB reply has no line end after "No redundancy.".
        t.send("!SB 0\r\n")
        t.expect("No redundancy\\.")
        # A name over 20 characters is cut and not acknowledged.
        t.send("!SD a name longer than twenty\r\n")
        t.send("!GC\r\n")
        out = t.expect("Software watchdog: DISABLED 0")
        assert "\r\nOK" not in out.split("Device Name")[0]
        assert "Device Name         : a name longer than t\r\n" in out
        # Too few fields for !SC: the module restarts, the connection closes without a reply.
        t.send("!SC 0 x\r\n")
        out = t.expect("Connection closed by foreign host")
        assert "Command not found" not in out
    finally:
        t.close()
    writes = wait_for(lambda: [e for e in meter.events() if e["event_type"] == "telnet.write"])
    keys = [w["data"]["key"] for w in writes]
    assert "channel_a_port" in keys and "kap_a_server_port" not in keys
