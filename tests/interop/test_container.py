"""The container image (issue 16): a minimal image built from scratch with buildah around the
statically linked binary, run with podman on loopback, answers pymodbus and snmpget, and its
health check passes. The static binary is built by tests/run-all (CONPOT_STATIC_BIN)."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CONPOT_STATIC_BIN", ROOT / "target" / "x86_64-unknown-linux-gnu" / "debug" / "conpot"))
IMAGE = "localhost/conpot-rs-test:latest"
NAME = "conpot-rs-test"
# This sandbox (and CI) has hybrid cgroups and a low RLIMIT_NPROC: runc with cgroupfs, and
# limits no higher than the host's.
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]


def available():
    if not (shutil.which("buildah") and shutil.which("podman") and BIN.exists()):
        return False
    return True


pytestmark = pytest.mark.skipif(
    not available() and not os.environ.get("CI"),
    reason="buildah, podman or the static binary are missing (tests/run-all builds it)",
)


def run(*cmd, **kw):
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, timeout=120, **kw)


def build_image(tmp_path):
    out = subprocess.run(["file", str(BIN)], capture_output=True, text=True)
    assert "statically linked" in out.stdout or "static-pie linked" in out.stdout, out.stdout
    # Without its debug information, as a release image would hold it.
    binary = tmp_path / "conpot"
    run("strip", "-o", str(binary), str(BIN))
    c = run("buildah", "from", "scratch").stdout.strip()
    try:
        run("buildah", "copy", "--chmod", "0755", c, str(binary), "/conpot")
        run("buildah", "config", "--user", "65532:65532", "--workingdir", "/var/lib/conpot",
            "--volume", "/var/lib/conpot",
            "--healthcheck", "CMD /conpot health --state-dir /var/lib/conpot/state",
            "--entrypoint", '["/conpot", "--state-dir", "/var/lib/conpot/state"]', c)
        run("buildah", "commit", "-q", "--format", "docker", c, IMAGE)
    finally:
        subprocess.run(["buildah", "rm", c], capture_output=True)


def test_minimal_image_answers_modbus_and_snmp(tmp_path):
    build_image(tmp_path)
    size = int(run("podman", "image", "inspect", IMAGE, "--format", "{{.Size}}").stdout.strip())
    assert size < 80 << 20, size  # the binary and nothing else
    state = tmp_path / "state-volume"
    state.mkdir()
    os.chown(state, 65532, 65532)
    subprocess.run(PODMAN + ["rm", "-f", NAME], capture_output=True)
    run(*PODMAN, "run", "-d", "--name", NAME, "--network", "host",
        "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=1024:1024",
        "-v", f"{state}:/var/lib/conpot", IMAGE,
        "--listen-host", "127.0.0.1", "--port", "modbus=15020", "--port", "snmp=16161",
        "--port", "s7comm=0", "--port", "ftp=0", "--port", "tftp=0", "--port", "http=0", "--port", "https=0", "--port", "telnet=0")
    try:
        client = ModbusTcpClient("127.0.0.1", port=15020, timeout=3)
        deadline = time.monotonic() + 20
        while not client.connect() and time.monotonic() < deadline:
            time.sleep(0.2)
        rr = client.read_holding_registers(0, count=2)
        assert not rr.isError(), rr
        client.close()
        out = subprocess.run(["snmpget", "-v2c", "-c", "public", "-On", "-r", "2", "-t", "2",
                              "127.0.0.1:16161", "1.3.6.1.2.1.1.5.0"], capture_output=True, text=True, timeout=20)
        assert ".1.3.6.1.2.1.1.5.0 = STRING" in out.stdout, out
        # The health check of the image: a fresh heartbeat.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            hc = subprocess.run(PODMAN + ["exec", NAME, "/conpot", "health", "--state-dir", "/var/lib/conpot/state"],
                                capture_output=True, text=True, timeout=20)
            if hc.returncode == 0:
                break
            time.sleep(1)
        assert hc.returncode == 0 and "healthy" in hc.stdout, (hc.stdout, hc.stderr)
        # It runs as the image's unprivileged user, and the persona landed in the volume.
        top = run(*PODMAN, "top", NAME, "user").stdout
        assert "65532" in top, top
        assert list((state / "state").glob("persona-*.toml"))
    finally:
        logs = subprocess.run(PODMAN + ["logs", NAME], capture_output=True, text=True).stderr
        subprocess.run(PODMAN + ["rm", "-f", "-t", "2", NAME], capture_output=True)
        print(logs[-2000:])
