"""TFTP with real clients (tftp-hpa's tftp, tftpy) against the default persona, and the
files it shares with FTP."""

import ftplib
import io
import logging
import os
import shutil
import socket
import struct
import subprocess
import threading

import pytest
import tftpy

from conftest import Conpot

logging.getLogger("tftpy").setLevel(logging.CRITICAL)

needs_tftp_hpa = pytest.mark.skipif(shutil.which("tftp") is None, reason="tftp-hpa is installed by tests/setup-deps")


@pytest.fixture
def tconpot(tmp_path):
    # The default answer budget (250 datagrams/s per source) paces transfers at 250 blocks/s;
    # raised here so the big files below take a moment, not seconds.
    c = Conpot(tmp_path, config_extra="[limits]\nudp_answers_per_source = 100000\n")
    yield c
    c.stop()


def stopped_events(c):
    assert c.stop() == 0
    return c.events()


def hpa(c, cwd, *commands):
    args = ["tftp", "127.0.0.1", str(c.ports["tftp"]), "-m", "binary"]
    for cmd in commands:
        args += ["-c", *cmd.split()]
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60)


def client(c, **options):
    return tftpy.TftpClient("127.0.0.1", c.ports["tftp"], options=options)


def admin(c):
    f = ftplib.FTP()
    f.connect("127.0.0.1", c.ports["ftp"], timeout=10)
    f.login("admin", "Siemens-" + c.persona()["hostname"])
    return f


@needs_tftp_hpa
def test_tftp_hpa_get_and_put_a_file_over_512_blocks(tconpot, tmp_path):
    r = hpa(tconpot, tmp_path, "get config/station.cfg")
    assert r.returncode == 0, r.stderr
    assert f"hostname={tconpot.persona()['hostname']}" in (tmp_path / "station.cfg").read_text()
    data = os.urandom(600 * 512 + 100)
    (tmp_path / "fw.bin").write_bytes(data)
    r = hpa(tconpot, tmp_path, "put fw.bin log/fw.bin")
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr
    (tmp_path / "fw.bin").unlink()
    r = hpa(tconpot, tmp_path, "get log/fw.bin fw.bin")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "fw.bin").read_bytes() == data
    events = stopped_events(tconpot)
    up = [e["data"] for e in events if e["event_type"] == "file.upload"]
    assert len(up) == 1 and up[0]["protocol"] == "tftp" and up[0]["size"] == len(data)
    assert up[0]["vfs_path"] == "/flash/log/fw.bin" and up[0]["status"] == "stored"
    assert len([e for e in events if e["event_type"] == "file.download"]) == 2
    # Each transfer ran from its own port.
    requests = [e for e in events if e["event_type"] == "tftp.request"]
    assert [r["data"]["opcode"] for r in requests] == ["rrq", "wrq", "rrq"]


def test_tftpy_blksize_and_tsize(tconpot, tmp_path):
    data = os.urandom(2_000_000)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    client(tconpot, blksize=1428, tsize=0).upload("firmware/big.bin", str(src))
    out = tmp_path / "back.bin"
    client(tconpot, blksize=1428, tsize=0).download("firmware/big.bin", str(out))
    assert out.read_bytes() == data
    events = stopped_events(tconpot)
    transfers = [e["data"] for e in events if e["event_type"] == "tftp.transfer"]
    assert [t["blksize"] for t in transfers] == [1428, 1428]
    assert all(t["result"] == "complete" and t["bytes"] == len(data) for t in transfers)
    rrq = [e["data"] for e in events if e["event_type"] == "tftp.request" and e["data"]["opcode"] == "rrq"]
    assert rrq[0]["options"] == {"blksize": "1428", "tsize": "0"}


def raw_windowed_get(port, name, blksize, window):
    """RFC 7440 download with a window (neither tftp-hpa nor tftpy speaks windowsize)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    req = b"\0\1" + name.encode() + b"\0octet\0blksize\0" + str(blksize).encode() + b"\0windowsize\0" + str(window).encode() + b"\0tsize\0" + b"0\0"
    s.sendto(req, ("127.0.0.1", port))
    pkt, server = s.recvfrom(70000)
    assert pkt[:2] == b"\0\6", pkt
    fields = pkt[2:].split(b"\0")
    opts = dict(zip(fields[0::2], fields[1::2]))
    s.sendto(b"\0\4\0\0", server)
    data, expected, bursts = b"", 1, 0
    while True:
        got = 0
        last_len = blksize
        while got < window:
            pkt, frm = s.recvfrom(70000)
            assert frm == server
            op, block = struct.unpack("!HH", pkt[:4])
            assert op == 3 and block == expected & 0xFFFF
            data += pkt[4:]
            expected += 1
            got += 1
            last_len = len(pkt) - 4
            if last_len < blksize:
                break
        bursts += 1
        s.sendto(struct.pack("!HH", 4, (expected - 1) & 0xFFFF), server)
        if last_len < blksize:
            return opts, data, bursts


def test_windowsize_8(tconpot, tmp_path):
    data = os.urandom(1428 * 80 + 7)
    f = admin(tconpot)
    f.storbinary("STOR firmware/w.bin", io.BytesIO(data))
    f.quit()
    opts, got, bursts = raw_windowed_get(tconpot.ports["tftp"], "firmware/w.bin", 1428, 8)
    assert opts == {b"blksize": b"1428", b"windowsize": b"8", b"tsize": str(len(data)).encode()}
    assert got == data
    assert bursts == 11  # 81 blocks in windows of 8


def test_two_transfers_at_once(tconpot, tmp_path):
    blobs = {f"log/t{i}.bin": os.urandom(400_000 + i) for i in range(2)}
    for name, blob in blobs.items():
        (tmp_path / name.replace("/", "_")).write_bytes(blob)
    errors = []

    def put(name):
        try:
            client(tconpot, blksize=512).upload(name, str(tmp_path / name.replace("/", "_")))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=put, args=(n,)) for n in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    f = admin(tconpot)
    for name, blob in blobs.items():
        b = io.BytesIO()
        f.retrbinary("RETR " + name, b.write)
        assert b.getvalue() == blob
    f.quit()
    events = stopped_events(tconpot)
    starts = [e["timestamp"] for e in events if e["event_type"] == "tftp.request"]
    ends = [e["timestamp"] for e in events if e["event_type"] == "tftp.transfer"]
    assert len(starts) == 2 and max(starts) < min(ends), "the transfers overlapped"


def test_ftp_upload_is_served_over_tftp(tconpot, tmp_path):
    f = admin(tconpot)
    f.storbinary("STOR log/from_ftp.txt", io.BytesIO(b"written over FTP\n"))
    f.quit()
    out = tmp_path / "x.txt"
    client(tconpot).download("/log/from_ftp.txt", str(out))
    assert out.read_bytes() == b"written over FTP\n"


def tftp_error(port, packet):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(packet, ("127.0.0.1", port))
    pkt, _ = s.recvfrom(1000)
    op, code = struct.unpack("!HH", pkt[:4])
    assert op == 5, pkt
    return code


def test_escapes_and_errors(tconpot):
    port = tconpot.ports["tftp"]
    assert tftp_error(port, b"\0\1../../etc/passwd\0octet\0") == 1  # jailed: no such file
    assert tftp_error(port, b"\0\1/etc/shadow\0octet\0") == 1
    assert tftp_error(port, b"\0\1" + b"a" * 300 + b"\0octet\0") == 2
    assert tftp_error(port, b"\0\1a\\b\0octet\0") == 2
    assert tftp_error(port, b"\0\1x\0mail\0") == 4
    assert tftp_error(port, b"\0\4\0\1") == 5
    assert tftp_error(port, b"\0\2nodir/x\0octet\0") == 1
    # More than a file may hold: disk full, before any data is sent.
    assert tftp_error(port, b"\0\2big.bin\0octet\0tsize\0" + str(9 << 20).encode() + b"\0") == 3
    events = stopped_events(tconpot)
    assert any(e["event_type"] == "fs.escape" for e in events)
    reasons = {e["data"]["reason"] for e in events if e["event_type"] == "fs.refused"}
    assert {"name_too_long", "backslash"} <= reasons
