"""bacpypes3, nmap bacnet-info and tshark against the BACnet/IP device of Conpot's
`default` template and of a native template with writable objects."""

import asyncio
import os
import shutil
import subprocess

import pytest

from conftest import UDP_UNLIMITED, Conpot, capture, conpot_templates

bacpypes3 = pytest.importorskip("bacpypes3")
from bacpypes3.apdu import ErrorRejectAbortNack  # noqa: E402
from bacpypes3.app import Application  # noqa: E402
from bacpypes3.argparse import SimpleArgumentParser  # noqa: E402
from bacpypes3.pdu import Address  # noqa: E402
from bacpypes3.primitivedata import ObjectIdentifier  # noqa: E402

# nmap's bacnet-info binds its own socket to port 47808: the device listens on another
# loopback address so the answers reach nmap and not the device itself.
HOST = "127.0.0.2"

NATIVE = """
[template]
unit = "AHU"
vendor = "Automated Logic"
description = "air handler controller"
protocols = "BACnet"
creator = "interop"

[persona]
hostname = "ahu-7"

[protocols.bacnet]
port = 47808
device_instance = 2401
device_name = "{persona.hostname}"
vendor_id = 24
model = "OptiFLEX BACnet Building Controller"
firmware = "6.0.2"
location = "Mech room 2"

[[protocols.bacnet.objects]]
type = "analog-input"
instance = 1
name = "Supply Air Temp"
units = 62
value = 13.5

[[protocols.bacnet.objects]]
type = "analog-value"
instance = 5
name = "Setpoint"
key = "setpoint"
units = 62
value = 21.0
"""


class Device(Conpot):
    """conpot serving `template` with BACnet on its standard port, on HOST."""

    def __init__(self, workdir, template, extra_args=()):
        super().__init__(workdir, args=["-t", template, "--port", "bacnet=47808", *extra_args],
                         config_extra=UDP_UNLIMITED, expect=["bacnet"], listen_host=HOST)

    def events(self, ty):
        return self.events_of(ty)


@pytest.fixture
def native(tmp_path):
    tdir = tmp_path / "template"
    tdir.mkdir()
    (tdir / "template.toml").write_text(NATIVE)
    work = tmp_path / "work"
    work.mkdir()
    d = Device(work, str(tdir))
    yield d
    d.stop()


@pytest.fixture
def conpot_default(tmp_path):
    d = Device(tmp_path, str(conpot_templates() / "default"),
               ("--port", "modbus=0", "--port", "s7comm=0", "--port", "snmp=0", "--port", "ipmi=0"))
    yield d
    d.stop()


def run(coro_fn):
    async def main():
        args = SimpleArgumentParser().parse_args(["--address", "127.0.0.1/8:47809", "--instance", "999"])
        app = Application.from_args(args)
        try:
            return await coro_fn(app, Address(HOST))
        finally:
            app.close()

    return asyncio.run(main())


def test_bacpypes3_conpot_default(conpot_default):
    async def go(app, t):
        dev = ObjectIdentifier("device,36113")
        out = {
            "iams": await app.who_is(address=t, timeout=2),
            "in_range": await app.who_is(36000, 37000, address=t, timeout=2),
            "out_of_range": await app.who_is(1, 100, address=t, timeout=2),
            "id": await app.read_property(t, dev, "objectIdentifier"),
            "name": await app.read_property(t, dev, "objectName"),
            "vendor": await app.read_property(t, dev, "vendorIdentifier"),
            "vendor_name": await app.read_property(t, dev, "vendorName"),
            "objects": await app.read_property(t, dev, "objectList"),
            "pv": await app.read_property(t, ObjectIdentifier("analogInput,14"), "presentValue"),
            "rpm": await app.read_property_multiple(
                t, [dev, ["objectName", "modelName"], ObjectIdentifier("analogInput,14"), ["all"]]),
            "rpm_all": await app.read_property_multiple(t, [dev, ["all"]]),
        }
        try:
            await app.read_property(t, ObjectIdentifier("analogInput,99"), "presentValue")
            out["unknown"] = None
        except ErrorRejectAbortNack as e:  # the error the device sent
            out["unknown"] = str(e)
        return out

    r = run(go)
    assert len(r["iams"]) == 1 and len(r["in_range"]) == 1 and r["out_of_range"] == []
    assert tuple(r["id"]) == (8, 36113) or str(r["id"]) == "device,36113"
    assert r["name"] == "Technodrome", "Conpot's SystemName key resolved through the databus"
    assert (r["vendor"], r["vendor_name"]) == (18, "Alerton / Honeywell")
    assert [str(o) for o in r["objects"]] == ["device,36113", "binary-input,12", "analog-input,14"]
    assert r["pv"] == 68.0
    assert any(v == "VAV-DD Controller" for *_, v in r["rpm"])
    assert len(r["rpm_all"]) > 20, "the whole device object, in segments"
    assert "unknown-object" in r["unknown"]


def test_bacpypes3_write_then_read_back(native):
    async def go(app, t):
        av = ObjectIdentifier("analogValue,5")
        before = await app.read_property(t, av, "presentValue")
        await app.write_property(t, av, "presentValue", 23.5, priority=8)
        after = await app.read_property(t, av, "presentValue")
        prio = (len(await app.read_property(t, av, "priorityArray")),
                getattr(await app.read_property(t, av, "priorityArray", 8), "real", None))
        try:
            await app.write_property(t, ObjectIdentifier("analogInput,1"), "presentValue", 1.0)
            denied = None
        except ErrorRejectAbortNack as e:
            denied = str(e)
        return before, after, prio, denied

    before, after, prio, denied = run(go)
    assert (before, after) == (21.0, 23.5)
    assert prio == (16, 23.5)
    assert "write-access-denied" in denied
    writes = [e for e in native.events("bacnet.request") if e["data"].get("service") == "write-property"]
    assert writes and writes[0]["data"]["priority"] == 8


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is installed by tests/setup-deps")
def test_nmap_bacnet_info(native):
    r = subprocess.run(["nmap", "-n", "-sU", "-p", "47808", "--script", "bacnet-info", HOST],
                       capture_output=True, text=True, timeout=120)
    assert "Vendor ID: Automated Logic Corporation (24)" in r.stdout, r.stdout
    assert "Object-identifier: 2401" in r.stdout
    assert "Object Name: ahu-7" in r.stdout
    assert "Model Name: OptiFLEX BACnet Building Controller" in r.stdout
    assert "Firmware: 6.0.2" in r.stdout
    assert "Location: Mech room 2" in r.stdout


@pytest.mark.skipif(shutil.which("tshark") is None or os.geteuid() != 0, reason="tshark captures as root")
def test_tshark_decodes_every_frame(tmp_path, conpot_default):
    pcap = tmp_path / "bacnet.pcap"
    with capture(pcap, "udp port 47808"):
        test_bacpypes3_conpot_default(conpot_default)
    r = subprocess.run(["tshark", "-r", str(pcap), "-V"], capture_output=True, text=True, timeout=60)
    assert r.stdout.count("BACnet APDU") > 10, r.stdout[-2000:]
    assert "Malformed" not in r.stdout, [l for l in r.stdout.splitlines() if "Malformed" in l][:5]
