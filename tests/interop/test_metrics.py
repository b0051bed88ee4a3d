"""The Prometheus endpoint: `curl` of it parses with prometheus_client's text parser, its
counters move with real traffic (pymodbus), and `conpot status` prints the same numbers."""

import subprocess
import time

from prometheus_client.parser import text_string_to_metric_families
from pymodbus.client import ModbusTcpClient

from conftest import Conpot, conpot_bin


def scrape(port):
    text = subprocess.run(
        ["curl", "-sf", f"http://127.0.0.1:{port}/metrics"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}" if s.labels else "")
            samples[key] = s.value
    return samples


def metrics_port(c):
    while "metrics" not in c.ports:
        parts = c.proc.stdout.readline().split()
        if len(parts) == 4 and parts[0] == "listening":
            c.ports[parts[1]] = int(parts[3].rsplit(":", 1)[1])
    return c.ports["metrics"]


def test_counters_parse_and_move_with_traffic(tmp_path):
    c = Conpot(tmp_path, config_extra='\n[metrics]\nlisten = "127.0.0.1:0"\n')
    try:
        port = metrics_port(c)
        before = scrape(port)
        assert before["conpot_events_published_total"] >= 1, "sensor.start"
        assert before.get('conpot_protocol_requests_total{protocol=modbus}', 0) == 0
        assert "conpot_spool_bytes" in before and "conpot_limit_max_connections_total" in before
        m = ModbusTcpClient("127.0.0.1", port=c.ports["modbus"], timeout=5, retries=0)
        assert m.connect()
        for _ in range(5):
            assert not m.read_coils(0, count=8, device_id=255).isError()
        m.close()
        deadline = time.monotonic() + 10
        while True:
            after = scrape(port)
            if after.get("conpot_protocol_requests_total{protocol=modbus}", 0) >= 5 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert after["conpot_protocol_requests_total{protocol=modbus}"] == 5
        assert after["conpot_protocol_sessions_total{protocol=modbus}"] == 1
        assert after["conpot_connections_accepted_total"] >= before["conpot_connections_accepted_total"] + 1
        assert after["conpot_events_published_total"] >= before["conpot_events_published_total"] + 6
        # Per sink: both JSON-lines files took the events (the counts are read while the sinks
        # may still be writing the last ones, so at least what was published before).
        delivered = {k: v for k, v in after.items() if k.startswith("conpot_sink_delivered_total")}
        assert len(delivered) == 2, delivered
        assert all(v >= before["conpot_events_published_total"] for v in delivered.values()), delivered
        # The sink's spool gauge is there for every configured sink, empty for files.
        assert all(v == 0 for k, v in after.items() if k.startswith("conpot_sink_spool_bytes"))
        status = subprocess.run(
            [conpot_bin(), "status", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=10
        )
        assert status.returncode == 0, status.stderr
        lines = dict(l.rsplit(None, 1) for l in status.stdout.splitlines())
        assert lines['conpot_protocol_requests_total{protocol="modbus"}'] == "5"
    finally:
        c.stop()


def test_no_endpoint_unless_configured(tmp_path):
    c = Conpot(tmp_path)
    try:
        assert "metrics" not in c.ports
        out = subprocess.run([conpot_bin(), "status", "127.0.0.1:1"], capture_output=True, text=True, timeout=10)
        assert out.returncode == 1 and "cannot read the metrics endpoint" in out.stderr
    finally:
        c.stop()
