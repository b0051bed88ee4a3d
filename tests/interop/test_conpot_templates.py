"""Conpot's own default template, run as a Conpot user runs it, against real clients."""

import shutil

import pytest
from pymodbus.client import ModbusTcpClient

from conftest import Conpot, conpot_templates
from test_s7_nmap import field, nmap_s7_info


@pytest.fixture
def conpot_default(tmp_path):
    c = Conpot(tmp_path, args=["-t", str(conpot_templates() / "default"), "--port", "enip=0"])
    yield c
    c.stop()


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is installed by tests/setup-deps")
def test_s7_info_version_comes_from_the_persona(conpot_default):
    # The template leaves the firmware version empty: never "0.0.0".
    out = nmap_s7_info(conpot_default.ports["s7comm"])
    assert "ERROR" not in out and "s7-info" in out, out
    assert field(out, "System Name") == "Technodrome"
    version = field(out, "Version")
    assert version != "0.0.0"
    assert "V" + version == conpot_default.persona()["firmware"]


def test_slave_2_serves_the_8_holding_registers_it_declares(conpot_default):
    c = ModbusTcpClient("127.0.0.1", port=conpot_default.ports["modbus"], timeout=5, retries=0)
    assert c.connect()
    hr = c.read_holding_registers(40001, count=8, device_id=2)
    assert not hr.isError() and len(hr.registers) == 8
    past = c.read_holding_registers(40001, count=9, device_id=2)
    assert past.isError() and past.exception_code == 2
    c.close()
