"""pymodbus, a real third-party client, against the default persona."""

from pymodbus.client import ModbusTcpClient
from pymodbus.pdu import ExceptionResponse

from conftest import wait_for


def client(conpot):
    c = ModbusTcpClient("127.0.0.1", port=conpot.ports["modbus"], timeout=5, retries=0)
    assert c.connect()
    return c


def test_every_function_code(conpot):
    c = client(conpot)
    persona = conpot.persona()
    # 1, 2: bits.
    coils = c.read_coils(0, count=16, device_id=255)
    assert not coils.isError() and len(coils.bits) == 16
    inputs = c.read_discrete_inputs(0, count=8, device_id=255)
    assert not inputs.isError() and len(inputs.bits) == 8
    # 3, 4: registers.
    hr = c.read_holding_registers(0, count=10, device_id=255)
    assert not hr.isError() and len(hr.registers) == 10
    ir = c.read_input_registers(0, count=8, device_id=255)
    assert not ir.isError() and all(2764 <= v <= 24883 for v in ir.registers)
    # 5 then 1: write a coil, read it back.
    assert not c.write_coil(5, True, device_id=255).isError()
    assert c.read_coils(5, count=1, device_id=255).bits[0] is True
    assert not c.write_coil(5, False, device_id=255).isError()
    assert c.read_coils(5, count=1, device_id=255).bits[0] is False
    # 15 then 1.
    pattern = [True, False, True, True, False, False, True, False, True]
    assert not c.write_coils(20, pattern, device_id=255).isError()
    assert c.read_coils(20, count=9, device_id=255).bits[:9] == pattern
    # 6 then 3.
    assert not c.write_register(7, 0xBEEF, device_id=255).isError()
    assert c.read_holding_registers(7, count=1, device_id=255).registers == [0xBEEF]
    # 16 then 3.
    assert not c.write_registers(40, [1, 2, 3, 65535], device_id=255).isError()
    assert c.read_holding_registers(40, count=4, device_id=255).registers == [1, 2, 3, 65535]
    # 8/0: echo.
    echo = c.diag_query_data(b"\x12\x34", device_id=255)
    assert not echo.isError()
    assert echo.message == b"\x12\x34"
    # 17: report server id, run indicator on.
    rsid = c.report_device_id(device_id=255)
    assert not rsid.isError()
    assert rsid.status is True
    assert persona["module_type"] in rsid.identifier.decode()
    assert persona["firmware"] in rsid.identifier.decode()
    # 43/14: basic and regular objects.
    basic = c.read_device_information(read_code=1, object_id=0, device_id=255)
    assert basic.information[0].decode() == persona["vendor"]
    assert basic.information[1].decode() == persona["order_code"]
    assert basic.information[2].decode() == persona["firmware"]
    regular = c.read_device_information(read_code=2, object_id=0, device_id=255)
    assert regular.information[4].decode() == persona["product"]
    assert regular.information[5].decode() == persona["module_type"]
    c.close()


def test_exceptions(conpot):
    c = client(conpot)
    r = c.read_holding_registers(1000, count=2, device_id=255)
    assert isinstance(r, ExceptionResponse) and r.exception_code == 2
    r = c.read_coils(120, count=20, device_id=255)
    assert isinstance(r, ExceptionResponse) and r.exception_code == 2
    r = c.write_register(100, 1, device_id=255)
    assert isinstance(r, ExceptionResponse) and r.exception_code == 2
    r = c.read_device_information(read_code=4, object_id=0x42, device_id=255)
    assert isinstance(r, ExceptionResponse) and r.exception_code == 2
    # The device keeps answering after exceptions, on the same connection.
    assert not c.read_holding_registers(0, count=1, device_id=255).isError()
    c.close()


def test_requests_are_logged_in_both_encodings(conpot):
    c = client(conpot)
    src_port = c.socket.getsockname()[1]
    c.write_registers(10, [11, 22, 33], device_id=255)
    c.read_holding_registers(10, count=3, device_id=255)
    c.close()
    # The server sees the close before it is stopped (else the session ends by shutdown).
    wait_for(lambda: any(e["event_type"] == "session.close" for e in conpot.events() if e["protocol"] == "modbus"))
    assert conpot.stop() == 0
    native = [e for e in conpot.events() if e["protocol"] == "modbus"]
    types = [e["event_type"] for e in native]
    assert types == ["session.open", "modbus.request", "modbus.request", "session.close"]
    write, read = native[1], native[2]
    for e in (write, read):
        assert e["src_ip"] == "127.0.0.1" and e["src_port"] == src_port
        assert e["dst_port"] == conpot.ports["modbus"]
        assert e["data"]["unit_id"] == 255
    assert write["data"]["function_code"] == 16
    assert write["request"]["values"] == [11, 22, 33] and write["request"]["address"] == 10
    assert read["response"]["values"] == [11, 22, 33]
    assert read["raw"].endswith("ff0300 0a0003".replace(" ", ""))
    legacy = [e for e in conpot.events(legacy=True) if e["data_type"] == "modbus"]
    assert [e["event_type"] for e in legacy] == ["NEW_CONNECTION", None, None, "CONNECTION_LOST"]
    assert legacy[1]["request"] == "b'" + write["raw"] + "'"
    assert legacy[2]["response"] == "b'" + read["raw_response"] + "'"
    assert {e["id"] for e in legacy} == {write["session_id"]}
