"""nmap's modbus-discover script against the default persona."""

import shutil
import subprocess

import pytest


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is installed by .ci/run")
def test_modbus_discover_shows_the_persona(conpot):
    port = conpot.ports["modbus"]
    out = subprocess.run(
        ["nmap", "-Pn", "-n", "-p", str(port), "--script", "+modbus-discover", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    persona = conpot.persona()
    assert "modbus-discover" in out, out
    assert "sid 0x1" in out, out
    assert f"Device identification: {persona['vendor']} {persona['order_code']} {persona['firmware']}" in out, out
    assert persona["module_type"] in out, out
    assert "error" not in out.lower(), out
    conpot.stop()
    requests = [e for e in conpot.events() if e["event_type"] == "modbus.request"]
    assert {e["data"]["function_code"] for e in requests} >= {17, 43}
