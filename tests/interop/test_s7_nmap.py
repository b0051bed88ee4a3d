"""nmap's s7-info against the default persona, captured and decoded by tshark."""

import shutil
import subprocess

import pytest
import snap7

from conftest import capture


def nmap_s7_info(port):
    return subprocess.run(
        ["nmap", "-Pn", "-n", "-p", str(port), "--script", "+s7-info", "127.0.0.1"],
        capture_output=True, text=True, timeout=120,
    ).stdout


def field(out, name):
    for line in out.splitlines():
        line = line.strip("|_ ")
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} missing in {out}")


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is installed by tests/setup-deps")
def test_s7_info_shows_the_persona(conpot):
    out = nmap_s7_info(conpot.ports["s7comm"])
    p = conpot.persona()
    assert "ERROR" not in out and "s7-info" in out, out
    assert field(out, "Module") == p["order_code"]
    assert field(out, "Basic Hardware") == p["order_code"]
    assert "V" + field(out, "Version") == p["firmware"]
    assert field(out, "System Name") == p["system_name"]
    assert field(out, "Module Type") == p["module_type"]
    assert field(out, "Serial Number") == p["serial"]
    assert field(out, "Plant Identification") == p["plant"]
    assert field(out, "Copyright") == p["copyright"]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is installed by tests/setup-deps")
def test_tshark_decodes_every_frame_without_malformed(conpot, tmp_path):
    port = conpot.ports["s7comm"]
    pcap = tmp_path / "s7.pcapng"
    with capture(pcap, f"tcp port {port}"):
        nmap_s7_info(port)
        c = snap7.client.Client()
        c.connect("127.0.0.1", 0, 2, port)
        c.get_cpu_info()
        c.get_order_code()
        c.db_read(1, 0, 16)
        c.db_write(1, 0, bytearray(b"\x01\x02"))
        c.list_blocks()
        c.get_block_info(snap7.type.Block.OB, 1)
        c.upload(1)
        c.plc_stop()
        c.plc_hot_start()
        c.get_plc_datetime()
        c.read_szl(0x0424, 0)
        c.disconnect()
    decode = ["tshark", "-r", str(pcap), "-d", f"tcp.port=={port},tpkt", "-o", "tcp.desegment_tcp_streams:TRUE"]
    s7_frames = subprocess.run(decode + ["-Y", f"s7comm && tcp.srcport=={port}"], capture_output=True, text=True, timeout=60).stdout
    assert len(s7_frames.splitlines()) >= 20, s7_frames
    bad = subprocess.run(decode + ["-Y", f"tcp.srcport=={port} && (_ws.malformed || _ws.expert.severity >= warning)"], capture_output=True, text=True, timeout=60).stdout
    assert bad.strip() == "", bad
