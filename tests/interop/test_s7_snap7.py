"""python-snap7, a real third-party client, against the default persona's S7 CPU."""

from datetime import datetime, timedelta

import snap7
from pymodbus.client import ModbusTcpClient
from snap7.type import Area, Block


def client(conpot):
    c = snap7.client.Client()
    c.connect("127.0.0.1", 0, 2, conpot.ports["s7comm"])
    assert c.get_connected()
    return c


def szl_mode(c):
    szl = c.read_szl(0x0424, 0)
    data = bytes(b & 0xFF for b in szl.Data[: szl.Header.LengthDR])
    return data[4 + 3]


def test_identity(conpot):
    persona = conpot.persona()
    c = client(conpot)
    assert c.get_pdu_length() == 240
    info = c.get_cpu_info()
    assert info.ASName.decode() == persona["system_name"]
    assert info.ModuleName.decode() == persona["module_type"]
    assert info.ModuleTypeName.decode() == persona["module_type"]
    assert info.SerialNumber.decode() == persona["serial"]
    assert info.Copyright.decode() == persona["copyright"]
    oc = c.get_order_code()
    assert oc.OrderCode.decode() == persona["order_code"]
    assert "V%d.%d.%d" % (oc.V1, oc.V2, oc.V3) == persona["firmware"]
    assert c.get_cpu_state() == "S7CpuStatusRun"
    c.disconnect()


def test_memory_round_trips_and_is_shared_with_modbus(conpot):
    c = client(conpot)
    c.db_write(1, 10, bytearray(b"\xbe\xef\x00\x2a"))
    assert c.db_read(1, 10, 4) == bytearray(b"\xbe\xef\x00\x2a")
    for area in (Area.MK, Area.PE, Area.PA):
        c.write_area(area, 0, 1, bytearray(b"\xa5\x5a"))
        assert c.read_area(area, 0, 1, 2) == bytearray(b"\xa5\x5a"), area
    c.disconnect()
    # DB1 is the holding registers, Q the coils: Modbus sees the S7 writes.
    m = ModbusTcpClient("127.0.0.1", port=conpot.ports["modbus"], timeout=5, retries=0)
    assert m.connect()
    assert m.read_holding_registers(5, count=2, device_id=255).registers == [0xBEEF, 0x002A]
    bits = m.read_coils(8, count=16, device_id=255).bits
    assert bits[:8] == [True, False, True, False, False, True, False, True]  # 0xA5, LSB first
    m.close()


def test_blocks(conpot):
    c = client(conpot)
    blocks = c.list_blocks()
    assert blocks.OBCount == 3 and blocks.FCCount == 2 and blocks.FBCount == 1 and blocks.DBCount == 2
    assert c.list_blocks_of_type(Block.OB, 10) == [1, 82, 100]
    info = c.get_block_info(Block.OB, 1)
    assert info.BlkNumber == 1 and info.MC7Size == 412
    data = c.upload(2)
    assert len(data) == 128 + 36
    c.download(bytearray(b"\x70\x70\x01\x01\x05\x0a\x00\x09" + bytes(28) + b"attacker logic"), 9)
    assert c.list_blocks().DBCount == 3
    c.disconnect()
    assert conpot.stop() == 0
    uploads = [e for e in conpot.events() if e["event_type"] == "file.upload"]
    assert len(uploads) == 1 and uploads[0]["data"]["status"] == "stored"
    assert uploads[0]["data"]["block"] == "_0A00009P"
    stored = conpot.workdir / "state" / "captures" / uploads[0]["data"]["sha256"]
    assert stored.read_bytes().endswith(b"attacker logic")


def test_stop_start_and_clock(conpot):
    c = client(conpot)
    assert szl_mode(c) == 0x08
    c.plc_stop()
    assert szl_mode(c) == 0x04
    other = client(conpot)  # the mode belongs to the CPU, not the connection
    assert szl_mode(other) == 0x04
    other.disconnect()
    c.plc_hot_start()
    assert szl_mode(c) == 0x08
    now = datetime.now()
    assert abs(c.get_plc_datetime() - now) < timedelta(seconds=5)
    target = datetime(2031, 3, 4, 5, 6, 7)
    c.set_plc_datetime(target)
    assert abs(c.get_plc_datetime() - target) < timedelta(seconds=5)
    c.disconnect()
    conpot.stop()
    controls = [e["request"]["action"] for e in conpot.events() if e["event_type"] == "s7.plc_control"]
    assert controls == ["stop", "hot_start"]
