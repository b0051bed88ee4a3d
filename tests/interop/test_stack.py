"""What the IP stack shows: the configured TTL on TCP and UDP answers."""

import shutil
import subprocess
import time

import pytest
from pymodbus.client import ModbusTcpClient

from conftest import Conpot


@pytest.mark.skipif(shutil.which("tshark") is None or shutil.which("snmpget") is None, reason="installed by tests/setup-deps")
def test_configured_ttl_on_tcp_and_udp(tmp_path):
    c = Conpot(tmp_path, config_extra="[listen]\nttl = 30\n")
    ports = (c.ports["modbus"], c.ports["snmp"])
    pcap = tmp_path / "ttl.pcapng"
    cap = subprocess.Popen(
        ["tshark", "-q", "-i", "lo", "-f", f"src port {ports[0]} or src port {ports[1]}", "-w", str(pcap)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not pcap.exists():
        time.sleep(0.1)
    time.sleep(1)
    try:
        m = ModbusTcpClient("127.0.0.1", port=ports[0], timeout=5, retries=0)
        assert m.connect()
        assert not m.read_holding_registers(0, count=1, device_id=255).isError()
        m.close()
        subprocess.run(["snmpget", "-v2c", "-c", "public", f"127.0.0.1:{ports[1]}", "1.3.6.1.2.1.1.1.0"], check=True, capture_output=True)
        time.sleep(1)
    finally:
        cap.terminate()
        cap.wait(timeout=20)
        c.stop()
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "ip.proto", "-e", "ip.ttl"], capture_output=True, text=True).stdout
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    assert {r[0] for r in rows} == {"6", "17"}, rows
    assert all(r[1] == "30" for r in rows), rows


@pytest.mark.skipif(shutil.which("nmap") is None or shutil.which("snmpget") is None, reason="installed by tests/setup-deps")
def test_version_scan_leaves_every_service_answering(conpot):
    """nmap -sV throws dozens of foreign probes at every port; afterwards every protocol
    still answers, and the probes are in the log."""
    tcp = f"{conpot.ports['modbus']},{conpot.ports['s7comm']}"
    r = subprocess.run(["nmap", "-sV", "-Pn", "-n", "-p", tcp, "127.0.0.1"], capture_output=True, text=True, timeout=300)
    assert r.stdout.count("open") >= 2, r.stdout
    m = ModbusTcpClient("127.0.0.1", port=conpot.ports["modbus"], timeout=5, retries=0)
    assert m.connect() and not m.read_holding_registers(0, count=1, device_id=255).isError()
    m.close()
    import snap7

    s = snap7.client.Client()
    s.connect("127.0.0.1", 0, 2, conpot.ports["s7comm"])
    assert s.get_cpu_info().ASName.decode() == conpot.persona()["system_name"]
    s.disconnect()
    out = subprocess.run(["snmpget", "-v2c", "-c", "public", f"127.0.0.1:{conpot.ports['snmp']}", "1.3.6.1.2.1.1.5.0"], capture_output=True, text=True).stdout
    assert conpot.persona()["system_name"] in out
    conpot.stop()
    kinds = {e["event_type"] for e in conpot.events()}
    assert "modbus.malformed" in kinds or "modbus.request" in kinds
    assert "s7.malformed" in kinds
