"""Soak: nmap's service and script scan on every port, then a hostile corpus (mutated
frames over TCP, mutated datagrams over UDP, slow and half-sent frames, resets), and every
service must still answer, with nothing panicked and every log line still JSON.

Bounded: a few hundred inputs per port, each connection closed by us, timeouts of seconds.
"""

import os
import random
import shutil
import socket
import struct
import subprocess
import time

import pytest
import snap7
from pymodbus.client import ModbusTcpClient

MODBUS_READ = bytes.fromhex("000100000006010300000010")
S7_CONNECT = bytes.fromhex("0300001611e00000001400c1020100c2020102c0010a")
S7_SETUP = bytes.fromhex("0300001902f08032010000000000080000f0000001000101e0")
S7_SZL = bytes.fromhex("0300002102f080320700000500000800080001120411440100ff09000400110000")
SNMP_GET = bytes.fromhex("302602010104067075626c6963a019020101020100020100300e300c06082b060102010101000500")


def mutate(rng, frame):
    """One hostile variant of a valid frame: flipped bytes, a cut, a tail, a lie in a length."""
    b = bytearray(frame)
    kind = rng.randrange(5)
    if kind == 0:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:
        b = b[: rng.randrange(1, len(b))]
    elif kind == 2:
        b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
    elif kind == 3 and len(b) > 4:
        i = rng.randrange(len(b) - 1)
        b[i : i + 2] = struct.pack(">H", rng.choice([0, 1, 0xFFFF, len(b) * 7]))
    else:
        b = bytearray(rng.randrange(256) for _ in range(rng.randint(1, 600)))
    return bytes(b)


def tcp_corpus(port, frames, count, rng):
    for i in range(count):
        prefix, frame = frames[i % len(frames)]
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        try:
            s.sendall(prefix + mutate(rng, frame))
            if i % 3 == 0:
                # Reset instead of a clean close: a half-sent frame must still be logged.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                s.shutdown(socket.SHUT_WR)
                try:
                    while s.recv(4096):
                        pass
                except OSError:
                    pass
        except OSError:
            pass
        finally:
            s.close()


def snmp_get(port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(1)
    try:
        for _ in range(5):
            u.sendto(SNMP_GET, ("127.0.0.1", port))
            try:
                data, _ = u.recvfrom(65535)
                return data
            except socket.timeout:
                continue
    finally:
        u.close()
    return None


def services_answer(conpot):
    m = ModbusTcpClient("127.0.0.1", port=conpot.ports["modbus"], timeout=5, retries=0)
    assert m.connect()
    assert not m.read_holding_registers(0, count=4, device_id=1).isError()
    m.close()
    c = snap7.client.Client()
    c.connect("127.0.0.1", 0, 2, conpot.ports["s7comm"])
    assert c.get_cpu_state() == "S7CpuStatusRun"
    c.disconnect()
    reply = snmp_get(conpot.ports["snmp"])
    assert reply is not None and reply[0] == 0x30, reply


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is installed by .ci/run")
def test_scan_then_hostile_corpus_leaves_every_service_answering(conpot):
    ports = conpot.ports
    tcp_ports = ",".join(str(ports[p]) for p in ("modbus", "s7comm"))
    # -A needs raw sockets (OS detection, traceroute); without root, the service and script
    # scans it includes.
    scan = ["-A"] if os.geteuid() == 0 else ["-sV", "-sC"]
    out = subprocess.run(
        ["nmap", "-Pn", "-n", *scan, "-p", f"T:{tcp_ports},U:{ports['snmp']}", "-sU", "-sS" if os.geteuid() == 0 else "-sT", "127.0.0.1"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    services_answer(conpot)

    rng = random.Random(8)
    tcp_corpus(ports["modbus"], [(b"", MODBUS_READ)], 300, rng)
    s7_prefix = S7_CONNECT + S7_SETUP
    tcp_corpus(ports["s7comm"], [(b"", S7_CONNECT), (S7_CONNECT, S7_SETUP), (s7_prefix, S7_SZL)], 300, rng)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(1000):
        u.sendto(mutate(rng, SNMP_GET), ("127.0.0.1", ports["snmp"]))
    u.close()
    # A slow drip and a connection that never reads, side by side with the checks.
    drip = socket.create_connection(("127.0.0.1", ports["modbus"]))
    drip.sendall(MODBUS_READ[:3])
    # The source's UDP budget refills within a second or two.
    time.sleep(2)
    services_answer(conpot)
    drip.close()

    assert conpot.proc.poll() is None, "still running"
    assert conpot.stop() == 0
    text = conpot.stderr.read_text()
    assert "panicked" not in text, text[-2000:]
    events = conpot.events()  # every line parses
    types = {e["event_type"] for e in events}
    assert {"session.open", "session.close", "modbus.request", "snmp.request"} <= types, types
    assert any(e["event_type"].endswith(".malformed") for e in events)
