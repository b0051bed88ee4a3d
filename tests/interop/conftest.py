"""Starts the real conpot binary on loopback for the interop tests."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The tests run as root in CI; the sensor refuses that unless allowed (its privilege drop is
# tested in test_privilege.py, which clears this).
os.environ.setdefault("CONPOT_ALLOW_ROOT", "1")


def conpot_bin():
    return os.environ.get("CONPOT_BIN", str(ROOT / "target" / "debug" / "conpot"))


_templates = []


def conpot_templates():
    """The folder of Conpot's own templates, found the way the Rust tests find it (one
    implementation, in crates/conpot-testkit: $CONPOT_TEMPLATES, ../shared, or Conpot 0.6.0
    fetched once from PyPI)."""
    if not _templates:
        out = subprocess.run(
            ["cargo", "run", "-q", "--locked", "-p", "conpot-testkit", "--bin", "conpot-templates"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False,
        )
        if out.returncode != 0:
            raise RuntimeError("cannot find Conpot's templates: " + out.stderr)
        _templates.append(Path(out.stdout.strip()))
    return _templates[0]


def sensor_config(workdir, extra=""):
    """Writes `workdir`/config.toml (sensor id, state folder, and the two event logs the
    tests read: native and Conpot's JSON lines) followed by `extra`; returns the paths of
    the file and of the two logs."""
    workdir = Path(workdir)
    native, legacy = workdir / "events.jsonl", workdir / "conpot.json"
    cfg = workdir / "config.toml"
    cfg.write_text(
        f"""
[sensor]
id = "interop"
state_dir = "{workdir / 'state'}"
[[sinks]]
type = "jsonl"
path = "{native}"
format = "native"
[[sinks]]
type = "jsonl"
path = "{legacy}"
format = "conpot-legacy"
"""
        + extra
    )
    return cfg, native, legacy


def read_persona(state):
    """The persona the sensor drew and keeps in the state folder `state`, as a dict."""
    text = next(Path(state).glob("persona-*.toml")).read_text()
    values = {}
    for line in text.splitlines():
        if " = " in line and not line.startswith(("seed", "template")):
            k, v = line.split(" = ", 1)
            values[k.strip()] = json.loads(v)
    return values


class Conpot:
    """A running honeypot with both event encodings written to files."""

    def __init__(self, workdir, args=(), config_extra="", expect=None, mkdir=False, listen_host="127.0.0.1"):
        self.workdir = Path(workdir)
        if mkdir:
            self.workdir.mkdir(parents=True, exist_ok=True)
        cfg, self.native, self.legacy = sensor_config(self.workdir, config_extra)
        # The text log goes to a file: a pipe nobody reads would fill and stall the logger.
        self.stderr = self.workdir / "stderr.log"
        # The embedded default serves FTP, TFTP, Telnet and HTTPS too; Conpot's own default template
        # (-t) has FTP and TFTP but no Telnet. Another template (`expect`) names its
        # protocols and passes its own --port flags.
        # Its HTTPS port (issue 13) too.
        served = ["modbus", "s7comm", "snmp", "ftp", "tftp", "http"] + ([] if "-t" in args else ["telnet", "https"])
        expected = set(served)
        default_ports = [flag for name in served for flag in ("--port", f"{name}=0")]
        if expect is not None:
            expected, default_ports = set(expect), []
        with open(self.stderr, "w") as err:
            self.proc = subprocess.Popen(
                [conpot_bin(), "-c", str(cfg), "--listen-host", listen_host, *default_ports, *args],
                cwd=self.workdir,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        self.ports = {}
        # By name and transport, for a protocol on both TCP and UDP (EtherNet/IP).
        self.listening = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            parts = line.split()
            if len(parts) == 4 and parts[0] == "listening":
                host, port = parts[3].rsplit(":", 1)
                self.ports[parts[1]] = int(port)
                self.listening[(parts[1], parts[2])] = int(port)
                if expected <= self._seen():
                    break
        if not expected <= self._seen():
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise RuntimeError("conpot did not start: " + self.stderr.read_text())

    def _seen(self):
        """What has been listened on, as names (`modbus`) and as name and transport
        (`enip udp`), the two ways `expect` may name a protocol."""
        return self.ports.keys() | {f"{n} {t}" for n, t in self.listening}

    def persona(self):
        return read_persona(self.workdir / "state")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        return self.proc.returncode

    def events(self, legacy=False):
        path = self.legacy if legacy else self.native
        text = path.read_text()
        # Only whole lines: a reader may see the sink's write in progress, up to a page.
        text = text[: text.rfind("\n") + 1]
        return [json.loads(l) for l in text.splitlines() if l.strip()]

    def events_of(self, ty=None, settle=0.3):
        """The native events of type `ty` (all without it), after `settle` seconds for the
        sink to write what the test just caused."""
        time.sleep(settle)
        # Conpot.events itself: the harnesses that use this name their own `events` after it.
        return [e for e in Conpot.events(self) if ty is None or e["event_type"] == ty]


@pytest.fixture
def conpot(tmp_path):
    c = Conpot(tmp_path)
    yield c
    c.stop()


# ---- helpers shared by the test files ----

# A [limits] section that lets one client's UDP flood be answered in full.
UDP_UNLIMITED = "[limits]\nudp_answers_per_source = 100000\n"


def wait_for(fn, timeout=5):
    """Polls `fn` until it returns something true (returned) or `timeout` seconds pass
    (then its last answer is returned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    return fn()


def free_port():
    """A loopback TCP port nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def capture(pcap, bpf):
    """Captures the loopback frames that match the filter `bpf` into `pcap` with tshark
    while the `with` block runs: the block starts once tshark has made the file (and a
    second more), and the capture stops a second after it, so the last answers are in."""
    cap = subprocess.Popen(["tshark", "-q", "-i", "lo", "-f", bpf, "-w", str(pcap)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: Path(pcap).exists(), 20)
    time.sleep(1)
    try:
        yield
    finally:
        time.sleep(1)
        cap.terminate()
        cap.wait(timeout=20)
