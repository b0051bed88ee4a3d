"""A minimal Modbus RTU slave on a serial port for load runs: answers every 8-byte Read
Holding Registers request to slave 1 with two registers (1, 2), without pymodbus's
per-request cost, so a benchmark through conpot-rs's bridge measures the bridge and the
line, not the slave. Usage: rtu_fixed_slave.py /dev/pts/N"""

import os
import sys
import termios
import tty


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


BODY = bytes([1, 3, 4, 0, 1, 0, 2])
REPLY = BODY + crc16(BODY)

fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
attrs = termios.tcgetattr(fd)
attrs[3] &= ~termios.ECHO
termios.tcsetattr(fd, termios.TCSANOW, attrs)
buf = b""
while True:
    chunk = os.read(fd, 4096)
    if not chunk:
        break
    buf += chunk
    while len(buf) >= 8:
        frame, buf = buf[:8], buf[8:]
        if frame[:2] == b"\x01\x03" and crc16(frame[:6]) == frame[6:]:
            os.write(fd, REPLY)
        else:
            buf = b""
