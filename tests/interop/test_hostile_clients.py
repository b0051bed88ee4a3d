"""Hostile clients against the binary: pipelining clients that never read their answers.
Bounded in count and time."""

import socket
import threading
import time

import pytest

# Read Holding Registers, 64 registers (the default persona holds that many): 137-byte answers.
READ_64 = bytes.fromhex("000100000006010300000040")


def rss_mb(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return 0


def test_forty_clients_that_never_read_keep_the_process_small(conpot):
    port = conpot.ports["modbus"]
    stop = threading.Event()
    socks = []

    def pipeline(s):
        burst = READ_64 * 1000
        try:
            while not stop.is_set():
                s.sendall(burst)
        except OSError:
            pass

    threads = []
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(5)
        socks.append(s)
        t = threading.Thread(target=pipeline, args=(s,), daemon=True)
        t.start()
        threads.append(t)
    # What the clients can grow is the process's anonymous memory; the resident pages of
    # its own code (22 MB of the debug binary these tests run, a few of the release one)
    # do not grow with them. The release binary stays at 57-66 MB of VmRSS here.
    peak = rss = 0
    for _ in range(40):
        time.sleep(0.1)
        peak = max(peak, rss_mb(conpot.proc.pid, "RssAnon"))
        rss = max(rss, rss_mb(conpot.proc.pid))
    stop.set()
    for s in socks:
        s.close()
    assert peak < 80, f"peak anonymous RSS {peak} MB (VmRSS {rss} MB)"
    # Still serving.
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(READ_64)
    reply = c.recv(1024)
    assert reply[7] == 0x03 and len(reply) == 137, reply
    c.close()
    assert conpot.stop() == 0
