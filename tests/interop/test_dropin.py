"""Drop-in by name: `conpot -t NAME` for T-Pot's Conpot template names serves every protocol of
that template to a real client (one request each), and none of the answers is Conpot's stock
identity (Technodrome, Mouser Factory, 88111222, Venus, STATOIL STATION, 15085488, ...)."""

import ftplib
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest

from conftest import Conpot
from test_guardian import ask, inventory
from test_kamstrup import Kmp, get_register, registers
from test_ipmi import can_bind_623
from test_s7_nmap import nmap_s7_info

NAMES = {
    "default": ["modbus", "s7comm", "snmp", "ftp", "tftp", "http", "telnet", "https"],
    "IEC104": ["IEC104", "snmp"],
    "guardian_ast": ["guardian_ast"],
    "ipmi": ["ipmi"],
    "kamstrup_382": ["kamstrup_meter", "kamstrup_management"],
}

# Conpot's stock identity values (docs: conpot-behaviour.md section 5); none may be served.
STOCK = ["Technodrome", "Mouser Factory", "88111222", "IM151-8 PN/DP CPU", "Venus", "Siemens AG", "CP 443-1 EX40",
         "Siemens, SIMATIC, S7-200", "Siemens, SIMATIC, S7-300", "CP 343-1 IT", "Compagnie Generale des Eaux",
         "STATOIL STATION", "15085488", "00:13:EA:00:00:00", "kapserver.evilpowerprovider.org", "1.3.6.1.4.1.20408",
         "200 FTP server ready", "Authorized personnel only", "7720"]

NMAP = shutil.which("nmap") is not None


def nmap(port, script, udp=False):
    return subprocess.run(["nmap", "-Pn", "-n", *(["-sU"] if udp else []), "-p", str(port), "--script", "+" + script,
                           "127.0.0.1"], capture_output=True, text=True, timeout=120).stdout


def snmpget(port, *oids):
    r = subprocess.run(["snmpget", "-On", "-t", "2", "-r", "2", "-v2c", "-c", "public", f"127.0.0.1:{port}", *oids],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def read_some(port, send=b"", want=1, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        if send:
            s.sendall(send)
        buf = b""
        deadline = time.monotonic() + timeout
        while len(buf) < want and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf


def answers(name, p):
    """One real-client request per protocol; what each answered, as text."""
    out = {}
    if name == "default":
        out["s7comm"] = nmap_s7_info(p["s7comm"]) if NMAP else ""
        if NMAP:
            assert "Serial Number" in out["s7comm"], out["s7comm"]
            out["modbus"] = nmap(p["modbus"], "modbus-discover")
            assert "Device identification" in out["modbus"], out["modbus"]
        out["snmp"] = snmpget(p["snmp"], "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.4.0",
                              "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0")
        r = subprocess.run(["curl", "-s", "-i", f"http://127.0.0.1:{p['http']}/"], capture_output=True, text=True,
                           timeout=30)
        assert r.stdout.startswith("HTTP/1."), r.stdout
        out["http"] = r.stdout
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with urllib.request.urlopen(f"https://127.0.0.1:{p['https']}/", context=ctx, timeout=10) as resp:
            out["https"] = resp.read().decode("utf-8", "replace")
        f = ftplib.FTP()
        f.connect("127.0.0.1", p["ftp"], timeout=5)
        out["ftp"] = f.getwelcome()
        assert out["ftp"].startswith("220"), out["ftp"]
        f.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(b"\x00\x01no-such-file.bin\x00octet\x00", ("127.0.0.1", p["tftp"]))
            reply = s.recv(1500)
        assert reply[:2] in (b"\x00\x03", b"\x00\x05"), reply
        out["tftp"] = reply.decode("latin-1")
        out["telnet"] = read_some(p["telnet"], want=8).decode("latin-1")
        assert out["telnet"], "no Telnet greeting"
    elif name == "IEC104":
        if NMAP:
            out["IEC104"] = nmap(p["IEC104"], "iec-identify")
            assert "ASDU address" in out["IEC104"], out["IEC104"]
        else:
            # STARTDT act -> STARTDT con.
            assert read_some(p["IEC104"], bytes.fromhex("680407000000"), want=6) == bytes.fromhex("68040b000000")
        out["snmp"] = snmpget(p["snmp"], "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0")
    elif name == "guardian_ast":
        text = ask(p["guardian_ast"], "I20100").decode("ascii")
        products = [r["product"] for r in inventory(text).values()]
        assert products != ["SUPER", "UNLEAD", "DIESEL", "PREMIUM"], products
        out["guardian_ast"] = text
    elif name == "ipmi":
        if shutil.which("ipmitool"):
            base = ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(p["ipmi"]), "-R", "2", "-N", "1"]
            r = subprocess.run([*base, "-U", "ADMIN", "-P", "ADMIN", "mc", "info"], capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0 and "Manufacturer ID" in r.stdout, r.stdout + r.stderr
            out["ipmi"] = r.stdout
            stock = subprocess.run([*base, "-U", "Administrator", "-P", "Password", "mc", "info"],
                                   capture_output=True, text=True, timeout=60)
            assert stock.returncode != 0, "Conpot's stock account must not log in"
        else:
            # Get Channel Authentication Capabilities without a session.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                s.sendto(bytes.fromhex("0600ff07000000000000000000092018c88100388e04b5"), ("127.0.0.1", p["ipmi"]))
                out["ipmi"] = s.recv(1500).hex()
    elif name == "kamstrup_382":
        k = Kmp(p["kamstrup_meter"])
        _, _, payload = k.ask(get_register(1001))
        k.close()
        serial = registers(payload)[1001][2]
        assert serial != 15085488
        out["kamstrup_meter"] = str(serial)
        out["kamstrup_management"] = read_some(p["kamstrup_management"], want=20).decode("latin-1")
        assert "Connected to" in out["kamstrup_management"], out["kamstrup_management"]
    return out


@pytest.mark.parametrize("name", list(NAMES))
def test_dropin_name_serves_every_protocol_without_conpots_stock_identity(name, tmp_path):
    protocols = NAMES[name]
    ports = [flag for p in protocols for flag in ("--port", f"{p}=0")]
    c = Conpot(tmp_path, args=["-t", name, *ports], expect=protocols)
    try:
        got = answers(name, c.ports)
    finally:
        assert c.stop() == 0
    for proto, text in got.items():
        for stock in STOCK:
            assert stock not in text, f"{name}/{proto} serves Conpot's stock {stock!r}: {text}"
    # Every protocol answered, and the log saw each one.
    served = {e.get("protocol") or e.get("data_type") for e in c.events()}
    assert set(protocols) - {"https"} <= served | {"https"}, served


@pytest.mark.skipif(not NMAP or not can_bind_623(), reason="nmap's ipmi-version asks port 623")
def test_dropin_ipmi_answers_nmap_ipmi_version(tmp_path):
    c = Conpot(tmp_path, args=["-t", "ipmi", "--port", "ipmi=623"], expect=["ipmi"])
    try:
        out = nmap(623, "ipmi-version", udp=True)
    finally:
        assert c.stop() == 0
    assert "IPMI-2.0" in out, out
    for stock in STOCK:
        assert stock not in out, out
