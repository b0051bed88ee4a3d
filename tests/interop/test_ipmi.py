"""ipmitool (IPMI 1.5 and 2.0), nmap's IPMI scripts and tshark against the embedded
`ipmi` BMC and Conpot's default template."""

import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import ROOT, UDP_UNLIMITED, Conpot, capture, conpot_templates

IPMITOOL = shutil.which("ipmitool") is not None
pytestmark = pytest.mark.skipif(not IPMITOOL, reason="ipmitool is installed by tests/setup-deps")

SUITES = [1, 2, 3, 6, 7, 8, 15, 16, 17]


class Bmc(Conpot):
    """conpot with one template, its IPMI port and events."""

    def __init__(self, workdir, template="ipmi", port=0, extra_args=()):
        super().__init__(workdir, args=["-t", template, "--port", f"ipmi={port}", *extra_args],
                         config_extra=UDP_UNLIMITED, expect=["ipmi"])
        self.port = self.ports["ipmi"]

    def events(self, ty=None):
        return self.events_of(ty)


@pytest.fixture
def bmc(tmp_path):
    b = Bmc(tmp_path)
    yield b
    b.stop()


def ipmi(b, *args, user="ADMIN", password="ADMIN", iface="lanplus", extra=(), check=True):
    r = subprocess.run(
        ["ipmitool", "-I", iface, "-H", "127.0.0.1", "-p", str(b.port), "-U", user, "-P", password,
         "-R", "2", "-N", "1", *extra, *args],
        capture_output=True, text=True, timeout=60,
    )
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.mark.parametrize("suite", SUITES + [None])
def test_lanplus_every_cipher_suite(bmc, suite):
    extra = () if suite is None else ("-C", str(suite))
    r = ipmi(bmc, "chassis", "status", extra=extra)
    assert "System Power         : on" in r.stdout
    r = ipmi(bmc, "mc", "info", extra=extra)
    assert "Manufacturer ID           : 10876" in r.stdout
    assert "IPMI Version              : 2.0" in r.stdout
    assert f"Firmware Revision         : {bmc.persona()['firmware']}" in r.stdout
    product = bmc.persona()["product"].replace("-NT", "-N(T)").replace("X10DRi-T", "X10DRI/T")
    assert f"Product Name              : {product}" in r.stdout, "ipmitool names the persona's board"
    r = ipmi(bmc, "user", "list", extra=extra)
    rows = [l.split() for l in r.stdout.splitlines()[1:]]
    assert ["2", "ADMIN", "true", "true", "true", "ADMINISTRATOR"] in rows
    assert ["4", "svc-backup", "true", "false", "false", "USER"] in rows


def test_power_state_changes_are_visible(bmc):
    assert "Chassis Power is on" in ipmi(bmc, "chassis", "power", "status").stdout
    assert "Down/Off" in ipmi(bmc, "chassis", "power", "off").stdout
    assert "Chassis Power is off" in ipmi(bmc, "chassis", "power", "status").stdout
    assert "Up/On" in ipmi(bmc, "chassis", "power", "on").stdout
    assert "Chassis Power is on" in ipmi(bmc, "chassis", "power", "status").stdout
    assert "Cycle" in ipmi(bmc, "chassis", "power", "cycle").stdout
    assert "Chassis Power is on" in ipmi(bmc, "chassis", "power", "status").stdout
    actions = [e["data"]["action"] for e in bmc.events("ipmi.chassis_control")]
    assert actions == ["power_off", "power_on", "power_cycle"]


def test_users_boot_device_sel_and_sdr(bmc):
    ipmi(bmc, "user", "set", "name", "7", "eve")
    ipmi(bmc, "user", "set", "password", "7", "s3cret-pw")
    ipmi(bmc, "user", "enable", "7")
    assert "Success" in ipmi(bmc, "user", "test", "7", "16", "s3cret-pw").stdout
    assert "password incorrect" in ipmi(bmc, "user", "test", "7", "16", "wrong", check=False).stdout
    r = ipmi(bmc, "chassis", "status", user="eve", password="s3cret-pw", extra=("-L", "USER"))
    assert "System Power" in r.stdout
    assert "Set Boot Device to pxe" in ipmi(bmc, "chassis", "bootdev", "pxe").stdout
    assert "Force PXE" in ipmi(bmc, "chassis", "bootparam", "get", "5").stdout
    r = ipmi(bmc, "sel", "info")
    assert re.search(r"Entries\s+: [1-9]", r.stdout), r.stdout
    assert "System Boot Initiated" in ipmi(bmc, "sel", "list").stdout
    r = ipmi(bmc, "sdr", "list")
    lines = [l for l in r.stdout.splitlines() if "|" in l]
    assert len(lines) == 9 and all(l.rstrip().endswith("ok") for l in lines), r.stdout
    assert any("degrees C" in l for l in lines) and any("RPM" in l for l in lines) and any("Volts" in l for l in lines)


def test_ipmi15_lan_session(bmc):
    r = ipmi(bmc, "chassis", "status", iface="lan")
    assert "System Power         : on" in r.stdout
    methods = {e["data"]["method"] for e in bmc.events("auth.attempt")}
    assert "ipmi15-md5" in methods


def test_refused_logins_are_logged(bmc):
    host = bmc.persona()["hostname"]
    for user, pw, reason in [("ADMIN", "wrong", "no_rakp3"), ("nobody", "x", "unknown_user"),
                             ("svc-backup", "Backup2019!", "disabled")]:
        r = ipmi(bmc, "chassis", "status", user=user, password=pw, extra=("-L", "USER"), check=False)
        assert r.returncode != 0
    r = ipmi(bmc, "chassis", "status", iface="lan", password="wrong", check=False)
    assert r.returncode != 0
    time.sleep(3.5)
    # One more datagram wakes nothing: the handshake timer fired on its own.
    evs = bmc.events("auth.attempt")
    got = {(e["data"]["username"], e["data"]["reason"]) for e in evs}
    assert ("nobody", "unknown_user") in got
    assert ("svc-backup", "disabled") in got
    assert ("ADMIN", "bad_password") in got, got  # IPMI 1.5: a wrong MD5 AuthCode
    rakp = [e for e in evs if e["data"]["reason"] == "no_rakp3"]
    assert rakp and rakp[0]["data"]["hash_alg"] == "hmac-sha256" and len(rakp[0]["data"]["salt"]) > 100
    # A USER login may read but not power off.
    r = ipmi(bmc, "chassis", "power", "off", user="monitor", password=f"n4gios-{host}", extra=("-L", "USER"),
             check=False)
    assert "Insufficient privilege level" in r.stdout + r.stderr
    assert "Chassis Power is on" in ipmi(bmc, "chassis", "power", "status").stdout


def test_a_sessionless_request_leaves_other_clients_served(bmc):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    # Get Chassis Status outside any session: a real BMC drops it.
    s.sendto(bytes.fromhex("0600ff070000000000000000000720001481040100" + "7b"), ("127.0.0.1", bmc.port))
    with pytest.raises(socket.timeout):
        s.recv(512)
    s.sendto(bytes.fromhex("0600ff07000000000000000000092018c88100388e04b5"), ("127.0.0.1", bmc.port))
    assert len(s.recv(512)) == 30
    assert "System Power" in ipmi(bmc, "chassis", "status").stdout


def can_bind_623():
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 623))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(shutil.which("nmap") is None or not can_bind_623(), reason="nmap's IPMI scripts want port 623")
def test_nmap_ipmi_version_and_cipher_zero(tmp_path):
    b = Bmc(tmp_path, port=623)
    try:
        r = subprocess.run(
            ["nmap", "-n", "-sU", "-p", "623", "--script", "ipmi-version,ipmi-cipher-zero",
             "--script-args", "vulns.showall", "127.0.0.1"],
            capture_output=True, text=True, timeout=120,
        )
        assert "IPMI-2.0" in r.stdout, r.stdout
        assert "UserAuth: password, md5" in r.stdout
        assert "NOT VULNERABLE" in r.stdout, r.stdout
        assert b.events("ipmi.cipher_zero")
    finally:
        b.stop()


@pytest.mark.skipif(shutil.which("tshark") is None or os.geteuid() != 0, reason="tshark captures as root")
def test_tshark_decodes_every_frame(tmp_path, bmc):
    pcap = tmp_path / "ipmi.pcap"
    with capture(pcap, f"udp port {bmc.port}"):
        ipmi(bmc, "chassis", "status", extra=("-C", "3"))
        ipmi(bmc, "chassis", "status", extra=("-C", "1"))
        ipmi(bmc, "chassis", "status", iface="lan")
        ipmi(bmc, "chassis", "status", password="wrong", check=False)
    r = subprocess.run(["tshark", "-r", str(pcap), "-d", f"udp.port=={bmc.port},rmcp", "-V"],
                       capture_output=True, text=True, timeout=60)
    frames = r.stdout.count("\nFrame ")
    assert frames > 20, r.stdout[-2000:]
    assert "Malformed" not in r.stdout, [l for l in r.stdout.splitlines() if "Malformed" in l][:5]
    assert "Intelligent Platform Management" in r.stdout


def test_conpot_default_template_serves_ipmi(tmp_path):
    # Every listener of the folder on a free port: its fixed ones (EtherNet/IP's 44818, BACnet's
    # 47808, ...) may be taken on the machine at that moment.
    others = ("modbus", "s7comm", "snmp", "enip", "bacnet", "ftp", "http", "tftp")
    b = Bmc(tmp_path, template=str(conpot_templates() / "default"),
            extra_args=tuple(a for p in others for a in ("--port", f"{p}=0")))
    try:
        r = ipmi(b, "user", "list", user="Administrator", password="Password")
        assert "User1" in r.stdout and "CALLBACK" in r.stdout
        assert "System Power" in ipmi(b, "chassis", "status", user="User1", password="U1Password",
                                      extra=("-L", "USER")).stdout
        r = ipmi(b, "chassis", "status", user="Operator", password="OpPassword", check=False)
        assert r.returncode != 0, "Operator is inactive in Conpot's template"
    finally:
        b.stop()
