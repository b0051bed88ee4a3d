"""A pymodbus Modbus RTU slave on a serial port (a pseudo-terminal in the tests): the
real device behind conpot-rs's serial bridge. Slave 1, holding registers 0.. = 100, 101, ..."""

import sys

from pymodbus import FramerType
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import StartSerialServer

port = sys.argv[1]
device = ModbusDeviceContext(hr=ModbusSequentialDataBlock(1, list(range(100, 164))))
context = ModbusServerContext(devices={1: device}, single=False)
StartSerialServer(context=context, port=port, framer=FramerType.RTU, baudrate=9600)
