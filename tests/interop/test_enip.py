"""cpppo, pycomm3 and nmap against the EtherNet/IP service: the embedded `logix` persona
(a ControlLogix 1756-L6x) and Conpot's own default template."""

import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import Conpot, capture, conpot_templates

pycomm3 = pytest.importorskip("pycomm3")
pytest.importorskip("cpppo")

PY = sys.executable


class Logix(Conpot):
    """The binary serving the embedded `logix` template on free ports."""

    def __init__(self, workdir):
        super().__init__(workdir, args=["-t", "logix", "--port", "enip=0"], expect=["enip tcp", "enip udp"])
        self.tcp = self.listening[("enip", "tcp")]
        self.udp = self.listening[("enip", "udp")]

    def persona(self):
        text = next((self.workdir / "state").glob("persona-*.toml")).read_text()
        return dict(re.findall(r'^(\w+) = "(.*)"$', text, re.M))


@pytest.fixture
def logix(tmp_path):
    c = Logix(tmp_path)
    yield c
    assert c.stop() == 0


def cpppo(module, *args):
    r = subprocess.run([PY, "-m", f"cpppo.server.enip.{module}", *args], capture_output=True, text=True, timeout=60)
    return r.stdout + r.stderr


def test_cpppo_list_identity_over_udp_and_tcp(logix):
    name = logix.persona()["catalog"]
    for extra, port in ((["--udp"], logix.udp), ([], logix.tcp)):
        out = cpppo("list_services", *extra, "--list-identity", "-a", f"127.0.0.1:{port}")
        assert f"product_name': '{name}'" in out, out
        assert "vendor_id': 1," in out and "device_type': 14," in out, out
        assert f"product_code': {logix.persona()['product_code']}," in out, out
        assert "service_name': 'Communications'" in out, out
        assert "1756-L61/B LOGIX5561" not in out


def test_cpppo_reads_the_identity_object(logix):
    out = cpppo("get_attribute", "-S", "-a", f"127.0.0.1:{logix.tcp}", "@1/1/7", "@1/1/1", "@1/1")
    name = logix.persona()["catalog"]
    assert f"@0x0001/1/7 == [{len(name)}, " in out, out
    assert "@0x0001/1/1 == [1, 0]" in out, out
    assert "G_A_A      @0x0001/1 == [1, 0, 14, 0" in out, out


def test_cpppo_reads_and_writes_tags(logix):
    out = cpppo("client", "-p", "-a", f"127.0.0.1:{logix.tcp}", "Setpoints[0-1]", "Setpoints[1]=(INT)99",
                "Setpoints[1]", "Nope")
    assert "== [1450, 60]: 'OK'" in out, out
    assert "Setpoints[1][  1-1  ]+  0 == [99]: 'OK'" in out, out
    assert "Nope" in out and "Status 4" in out, out


def test_pycomm3_generic_messaging_on_identity(logix):
    from pycomm3 import CIPDriver, ClassCode, Services

    with CIPDriver(f"127.0.0.1:{logix.tcp}") as d:
        r = d.generic_message(service=Services.get_attributes_all, class_code=ClassCode.identity_object,
                              instance=1, connected=False, unconnected_send=True, route_path=True)
        assert r.error is None, r
        assert r.value[:6] == bytes([1, 0, 14, 0]) + int(logix.persona()["product_code"]).to_bytes(2, "little")
        r = d.generic_message(service=Services.get_attribute_single, class_code=ClassCode.identity_object,
                              instance=1, attribute=7, connected=False)
        assert r.value[1:].decode() == logix.persona()["catalog"]
        r = d.generic_message(service=Services.get_attribute_single, class_code=ClassCode.identity_object,
                              instance=1, attribute=1, connected=True)
        assert r.value == b"\x01\x00"
        r = d.generic_message(service=Services.get_attribute_single, class_code=ClassCode.identity_object,
                              instance=1, attribute=99, connected=False)
        assert r.error and "0x14" in r.error.lower() or "attribute not supported" in str(r.error).lower(), r


def test_pycomm3_logix_driver_lists_reads_and_writes_tags(logix):
    from pycomm3 import LogixDriver

    p = logix.persona()
    with LogixDriver(f"127.0.0.1:{logix.tcp}") as plc:
        assert plc.info["product_name"] == p["catalog"]
        assert plc.info["name"] == p["line"] + "_PLC"
        assert plc.info["revision"] == {"major": int(p["firmware"].split(".")[0]), "minor": int(p["firmware"].split(".")[1])}
        assert set(plc.tags) == {"Line_Name", "Motor_Run", "Motor_Speed", "Tank_Level", "Batch_Count", "Setpoints",
                                 "Recipe_Name", "Pump_1"}
        tags = {t.tag: t for t in plc.read("Tank_Level", "Setpoints{8}", "Line_Name", "Motor_Run")}
        assert tags["Tank_Level"].value == 61.5 and tags["Tank_Level"].type == "REAL"
        assert tags["Setpoints"].value == [1450, 60, 75, 20, 0, 0, 0, 0]
        assert tags["Line_Name"].value == p["line"]
        assert tags["Motor_Run"].value is True
        assert all(not w.error for w in plc.write(("Setpoints[1]", 99), ("Tank_Level", 12.5)))
        back = plc.read("Setpoints[1]", "Tank_Level")
        assert [t.value for t in back] == [99, 12.5]
        bad = plc.read("Nope")
        assert bad.error and bad.value is None


def test_pycomm3_logix_driver_reads_and_writes_a_string_and_a_udt(logix):
    from pycomm3 import LogixDriver

    p = logix.persona()
    with LogixDriver(f"127.0.0.1:{logix.tcp}") as plc:
        # STRING: the 88-byte structure of template 0x0FCE, listed and read as text.
        info = plc.tags["Recipe_Name"]
        assert info["tag_type"] == "struct" and info["data_type_name"] == "STRING"
        assert info["data_type"]["template"]["structure_handle"] == 0x0FCE
        assert info["data_type"]["template"]["structure_size"] == 88
        tag = plc.read("Recipe_Name")
        assert (tag.value, tag.type, tag.error) == (p["line"] + "_Recipe_04", "STRING", None)
        assert not plc.write("Recipe_Name", "Batch 7 / Brine").error
        assert plc.read("Recipe_Name").value == "Batch 7 / Brine"
        # A UDT discovered through the Template object: its members by name, the whole
        # structure as a dict, a member written and read back, the whole written.
        pump = plc.tags["Pump_1"]
        assert pump["data_type_name"] == "PumpData"
        assert pump["data_type"]["attributes"] == ["Running", "Speed", "Mode", "Flow", "Faults"]
        whole = plc.read("Pump_1")
        assert whole.error is None
        assert whole.value == {"Running": True, "Speed": 1450, "Mode": 2, "Flow": 37.5, "Faults": 0}
        members = plc.read("Pump_1.Speed", "Pump_1.Flow")
        assert [(t.value, t.type) for t in members] == [(1450, "DINT"), (37.5, "REAL")]
        assert not plc.write("Pump_1.Speed", 1200).error
        assert plc.read("Pump_1.Speed").value == 1200
        new = {"Running": False, "Speed": 900, "Mode": 1, "Flow": 2.5, "Faults": 3}
        assert not plc.write("Pump_1", new).error
        assert plc.read("Pump_1").value == new
        assert plc.read("Pump_1.Nope").error


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is installed by tests/setup-deps")
def test_nmap_enip_info_shows_the_persona(logix):
    p = logix.persona()
    for args, port in ((["-sT"], logix.tcp), (["-sU"], logix.udp)):
        out = subprocess.run(["nmap", "-Pn", "-n", *args, "-p", str(port), "--script", "+enip-info", "127.0.0.1"],
                             capture_output=True, text=True, timeout=120).stdout
        assert f"productName: {p['catalog']}" in out, out
        assert "vendor: Rockwell Automation/Allen-Bradley (1)" in out, out
        assert f"productCode: {p['product_code']}" in out, out
        assert f"revision: {p['firmware']}" in out, out
        assert f"serialNumber: 0x{p['serial'].lower()}" in out, out


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is installed by tests/setup-deps")
def test_tshark_decodes_every_frame_without_malformed(logix, tmp_path):
    pcap = tmp_path / "enip.pcapng"
    with capture(pcap, f"tcp port {logix.tcp} or udp port {logix.udp}"):
        cpppo("list_services", "--udp", "--list-identity", "-a", f"127.0.0.1:{logix.udp}")
        cpppo("list_services", "--list-identity", "-a", f"127.0.0.1:{logix.tcp}")
        cpppo("get_attribute", "-S", "-a", f"127.0.0.1:{logix.tcp}", "@1/1/7", "@1/1", "@0xF5/1/5", "@0xF6/1/3", "@0x99/1/1")
        cpppo("client", "-a", f"127.0.0.1:{logix.tcp}", "Setpoints[0-7]", "Setpoints[1]=(INT)7", "Nope")
        from pycomm3 import LogixDriver
        with LogixDriver(f"127.0.0.1:{logix.tcp}") as plc:
            plc.read("Setpoints{8}", "Tank_Level", "Nope")
            plc.write(("Tank_Level", 3.5))
            # The STRING and the UDT (their templates were read when the tag list was).
            plc.read("Recipe_Name", "Pump_1", "Pump_1.Speed")
            plc.write(("Recipe_Name", "Brine"))
    decode = ["tshark", "-r", str(pcap), "-d", f"tcp.port=={logix.tcp},enip", "-d", f"udp.port=={logix.udp},enip",
              "-o", "tcp.desegment_tcp_streams:TRUE"]
    ours = f"(tcp.srcport=={logix.tcp} || udp.srcport=={logix.udp})"
    frames = subprocess.run(decode + ["-Y", f"enip && {ours}"], capture_output=True, text=True, timeout=60).stdout
    assert len(frames.splitlines()) >= 15, frames
    # Pure ACKs (no payload) are left out: under load a client's kernel re-sends a segment
    # the server was slow to acknowledge, and the server's D-SACK is a TCP warning, not ours.
    bad = subprocess.run(decode + ["-Y", f"{ours} && !(tcp && tcp.len == 0) && (_ws.malformed || _ws.expert.severity >= warning)"],
                         capture_output=True, text=True, timeout=60).stdout
    assert bad.strip() == "", bad


def test_conpot_default_template_serves_enip(tmp_path):
    c = Conpot(tmp_path, args=["-t", str(conpot_templates() / "default"), "--port", "enip=0"])
    try:
        # Both enip listeners share the name in `ports`; the start event lists each.
        deadline = time.monotonic() + 5
        port = None
        while port is None and time.monotonic() < deadline:
            time.sleep(0.1)
            for e in c.events():
                for l in e.get("data", {}).get("listeners", []) if e["event_type"] == "sensor.start" else []:
                    if l["protocol"] == "enip" and l["transport"] == "tcp":
                        port = int(l["address"].rsplit(":", 1)[1])
        assert port, c.events()
        out = cpppo("client", "-p", "-a", f"127.0.0.1:{port}", "@22/1/1", "@22/1/1=(SINT)50", "@22/1/1")
        assert "== [100]: 'OK'" in out and "== [50]: 'OK'" in out, out
        out = cpppo("list_services", "--list-identity", "-a", f"127.0.0.1:{port}")
        assert "product_name': '1756-L61/B LOGIX5561'" in out and "product_code': 90," in out, out
    finally:
        c.stop()
