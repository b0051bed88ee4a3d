"""The Guardian AST / Veeder-Root TLS-350 tank gauge over raw sockets, in the command
sequences Internet scanners (Shodan's `\\x01I20100\\n`) and GasPot's users (one connection
per command, `SOH` + code + newline, read to ETX) send: every report well-formed, its
numbers consistent across reports; set commands seen later; Conpot's folder; hostile input
leaving the other services answering."""

import re
import socket
import struct
import time

import pytest

from conftest import ROOT, Conpot, conpot_templates

SOH, ETX = b"\x01", b"\x03"


def gauge_at(tmp_path, template="guardian_ast", extra=()):
    return Conpot(tmp_path, args=["-t", str(template), "--port", "guardian_ast=0", *extra],
                  expect=["guardian_ast"], mkdir=True)


@pytest.fixture
def gauge(tmp_path):
    c = gauge_at(tmp_path)
    yield c
    c.stop()


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_frame(s):
    """One SOH .. ETX answer."""
    buf = b""
    while ETX not in buf:
        chunk = s.recv(65536)
        assert chunk, f"closed before ETX: {buf!r}"
        buf += chunk
    assert buf.startswith(SOH) and buf.endswith(ETX), buf
    return buf


def ask(port, cmd, end=b"\n"):
    """As GasPot's client: a connection per command."""
    with connect(port) as s:
        s.sendall(SOH + cmd.encode() + end)
        return read_frame(s)


def check_display(frame, code):
    text = frame[1:-1].decode("ascii")
    lines = text.split("\r\n")
    assert lines[0] == "" and lines[1] == code, lines[:3]
    # The console time, as the console prints it.
    assert re.fullmatch(r"[A-Z]{3} \d{1,2}, \d{4} [ \d]\d:\d\d [AP]M", lines[2]), lines[2]
    assert lines[3] == "" and lines[4].startswith("    "), lines[:6]
    return text


def inventory(text):
    rows = {}
    lines = text.split("\r\n")
    start = lines.index("TANK PRODUCT             VOLUME TC VOLUME   ULLAGE   HEIGHT    WATER     TEMP")
    for l in lines[start + 1:]:
        if not l.strip():
            break
        n = int(l[:3])
        f = l[25:].split()
        rows[n] = dict(product=l[5:25].strip(), volume=int(f[0]), tc=int(f[1]), ullage=int(f[2]),
                       height=float(f[3]), water=float(f[4]), temp=float(f[5]))
    return rows


def test_shodan_probe_and_gaspot_client_sequence(gauge):
    port = gauge.ports["guardian_ast"]
    text = check_display(ask(port, "I20100"), "I20100")
    persona = gauge.persona()
    assert f"    {persona['station']}\r\n" in text
    assert "STATOIL" not in text
    inv = inventory(text)
    assert sorted(inv) == [1, 2, 3, 4]
    assert [inv[n]["product"] for n in (1, 2, 3, 4)] == [persona[f"product{n}"] for n in (1, 2, 3, 4)]
    for r in inv.values():
        assert 0 < r["volume"] and 0 < r["height"] < 96 and 40 < r["temp"] < 80
        assert r["tc"] >= r["volume"] if r["temp"] < 60.0 else r["tc"] <= r["volume"]

    # GasPot's HMI walks these reports, a connection each.
    titles = {"I20500": "IN-TANK STATUS", "I10100": "SYSTEM STATUS REPORT", "I11100": "PRIORITY ALARM HISTORY",
              "I20600": "IN-TANK ALARM HISTORY", "I20200": "DELIVERY REPORT", "I20300": "LEAK REPORT",
              "I20700": "IN-TANK DIAGNOSTICS", "I20400": "SHIFT REPORT", "I10200": "SYSTEM CONFIGURATION",
              "I11200": "NON-PRIORITY ALARM HISTORY", "I20800": "TANK TEST RESULTS",
              "I20900": "TANK LEAK TEST HISTORY"}
    reports = {}
    for code, title in titles.items():
        reports[code] = check_display(ask(port, code), code)
        assert f"\r\n{title}\r\n" in reports[code], code

    # Numbers agree across reports (asked within the same minute or two of sales).
    status = reports["I20500"]
    for n, r in inv.items():
        line = next(l for l in status.split("\r\n") if l.startswith(f"{n:>3}    "))
        assert r["product"] in line
        assert ("HIGH WATER ALARM" in line) == (r["water"] > 2.0), line
        assert ("NORMAL" in line) == (line.rstrip().endswith("NORMAL"))
    shift = reports["I20400"].split("\r\n")
    ending = [l.split() for l in shift if "ENDING VALUES" in l]
    for n, f in zip(sorted(inv), ending):
        # A second of sales is a fraction of a gallon; a delivery in progress adds ~6 gal/s.
        assert abs(int(f[2]) - inv[n]["volume"]) <= 40, (f, inv[n])
    config = reports["I10200"]
    for n, r in inv.items():
        cap = int(re.search(rf"TANK {n}: .*?(\d+) GAL", config).group(1))
        assert abs(r["volume"] + r["ullage"] - cap) < 0.02 * cap + 150, (r, cap)
    for n, r in inv.items():
        assert f"T {n}:{r['product']}" in reports["I20200"]
    # The status report's alarms are the ones the system status lists.
    for n, r in inv.items():
        if r["water"] > 2.0:
            assert f"T {n}:HIGH WATER ALARM" in reports["I10100"]


def test_several_commands_one_connection_and_computer_format(gauge):
    port = gauge.ports["guardian_ast"]
    with connect(port) as s:
        s.sendall(b"\x01I20100\r\n\x01I20500\r\n\x01I99900\r\n\x01i20100")
        frames = []
        buf = b""
        while buf.count(ETX) < 4:
            chunk = s.recv(65536)
            assert chunk
            buf += chunk
    frames = [f + ETX for f in buf.split(ETX) if f]
    assert len(frames) == 4
    check_display(frames[0], "I20100")
    check_display(frames[1], "I20500")
    assert frames[2] == b"\x019999FF1B\x03"
    c = frames[3]
    assert c.startswith(b"\x01i20100") and c[-7:-5] == b"&&", c
    assert sum(c[:-5]) + int(c[-5:-1], 16) & 0xFFFF == 0, "checksum"
    inv = inventory(frames[0][1:-1].decode())
    # Tank 1's volume as an IEEE float, eight hex digits after tank, product, status, count.
    vol = struct.unpack(">f", bytes.fromhex(c[26:34].decode()))[0]
    assert abs(vol - inv[1]["volume"]) <= 5


def test_set_label_seen_later_and_events(gauge):
    port = gauge.ports["guardian_ast"]
    with connect(port) as s:
        s.sendall(b"\x01S60203HONEY DIESEL\r\n")
        ack = read_frame(s)
        assert ack.startswith(b"\x01\r\nS60203\r\n")
        s.sendall(b"\x01I20100\r\n")
        assert inventory(read_frame(s)[1:-1].decode())[3]["product"] == "HONEY DIESEL"
    # A later connection sees it too, and Conpot's short form is refused as Conpot's was.
    assert inventory(ask(port, "I20100")[1:-1].decode())[3]["product"] == "HONEY DIESEL"
    assert ask(port, "S6020", end=b"\r\n") == b"\x019999FF1B\x03"
    time.sleep(0.5)
    evs = [e for e in gauge.events() if e["event_type"] == "guardian_ast.command"]
    codes = [e["data"]["code"] for e in evs]
    assert "S60203" in codes and "I20100" in codes and "S6020" in codes, codes
    legacy = [e for e in gauge.events(legacy=True) if str(e.get("event_type", "")).startswith("AST ")]
    assert any(e["event_type"] == "AST I20100" and "IN-TANK INVENTORY" in (e.get("response") or "") for e in legacy)


def test_no_soh_gets_no_report(gauge):
    port = gauge.ports["guardian_ast"]
    with connect(port) as s:
        s.sendall(b"I20100\r\nGET / HTTP/1.0\r\n\r\n")
        s.settimeout(1.0)
        with pytest.raises(socket.timeout):
            s.recv(100)
        # The connection still takes a real command.
        s.settimeout(5)
        s.sendall(b"\x01I20100\n")
        check_display(read_frame(s), "I20100")


def test_conpot_folder_serves_the_gauge(tmp_path):
    c = gauge_at(tmp_path / "conpot", template=conpot_templates() / "guardian_ast", extra=())
    try:
        text = check_display(ask(c.ports["guardian_ast"], "I20100"), "I20100")
        assert "    STATOIL STATION\r\n" in text
        assert [r["product"] for r in inventory(text).values()] == ["SUPER", "UNLEAD", "DIESEL", "PREMIUM"]
    finally:
        assert c.stop() == 0


def test_partial_input_and_a_megabyte_line_leave_services_answering(tmp_path):
    # One persona with the gauge and a Modbus server beside it.
    t = tmp_path / "tpl"
    t.mkdir()
    text = (ROOT / "templates" / "guardian_ast" / "template.toml").read_text()
    text = text.replace("[databus]\n", "[databus]\nhr = [0, 0, 0, 0, 0, 0, 0, 0]\n", 1)
    text += '\n[protocols.modbus]\nport = 5020\n[[protocols.modbus.slaves]]\nid = 1\n' \
            'blocks = [{ table = "holding_registers", start = 0, size = 8, key = "hr" }]\n'
    (t / "template.toml").write_text(text)
    c = Conpot(tmp_path / "run", args=["-t", str(t), "--port", "guardian_ast=0", "--port", "modbus=0"],
               expect=["guardian_ast", "modbus"], mkdir=True)
    try:
        port = c.ports["guardian_ast"]
        # Partial commands, then close: the console does not wait for them.
        for partial in (b"\x01I201", b"\x01S60201NO LINE END", b"\x01"):
            with connect(port) as s:
                s.sendall(partial)
        # A 1 MB line.
        with connect(port) as s:
            s.sendall(b"\x01S60201" + b"A" * (1 << 20))
            s.sendall(b"\n\x01I20100\n")
            text = check_display(read_frame(s), "I20100")
            assert not inventory(text)[1]["product"].startswith("AAAA")
        check_display(ask(port, "I20100"), "I20100")
        with socket.create_connection(("127.0.0.1", c.ports["modbus"]), timeout=5) as m:
            m.sendall(bytes.fromhex("000100000006010300000002"))
            reply = m.recv(256)
            assert reply[:2] == b"\x00\x01" and reply[7] in (0x03, 0x83), reply
        time.sleep(0.5)
        evs = c.events()
        assert any(e["event_type"] == "limit.hit" and "guardian" in str(e) for e in evs)
        assert any(e["event_type"] == "guardian_ast.partial" for e in evs)
    finally:
        assert c.stop() == 0
