"""The embedded `proxy` template (`conpot -t proxy`, as T-Pot starts Conpot's): its proxies
are Conpot's, their upstreams the operator's (`--upstream NAME=HOST:PORT`); without any it
refuses to start and names them. Here it relays to a conpot-rs Kamstrup 382: the KMP client
of test_kamstrup and inetutils telnet through the proxy, the proxy's events decoded."""

import socket
import subprocess

import pytest

from conftest import Conpot, conpot_bin
from test_kamstrup import Kmp, frame, get_register, registers
from test_proxy import of_types, wait_for
from test_telnet import Pty


@pytest.fixture
def meter(tmp_path):
    c = Conpot(tmp_path / "meter", args=["-t", "kamstrup_382", "--port", "kamstrup_meter=0",
                                         "--port", "kamstrup_management=0"],
               expect={"kamstrup_meter", "kamstrup_management"}, mkdir=True)
    yield c
    c.stop()


def test_without_upstreams_it_refuses_naming_every_proxy(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[sensor]\nstate_dir = "{tmp_path / "state"}"\n[[sinks]]\ntype = "jsonl"\npath = "{tmp_path / "e.jsonl"}"\n')
    r = subprocess.run([conpot_bin(), "-c", str(cfg), "-t", "proxy", "--listen-host", "127.0.0.1"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    for name in ["proxy.kamstrup_channel_a", "proxy.kamstrup_channel_b", "proxy.kamstrup_telnet", "proxy.ssl_proxy"]:
        assert name in r.stderr, r.stderr
    assert "--upstream NAME=HOST:PORT" in r.stderr and "[listen.upstreams]" in r.stderr


def test_kmp_and_telnet_through_the_embedded_proxy_template(tmp_path, meter):
    persona = meter.persona()
    names = {"proxy.kamstrup_channel_a", "proxy.kamstrup_telnet"}
    proxy = Conpot(
        tmp_path / "proxy",
        args=["-t", "proxy",
              # One upstream from the command line (with the short name), one from the configuration.
              "--upstream", f"kamstrup_channel_a=localhost:{meter.ports['kamstrup_meter']}",
              "--port", "proxy.kamstrup_channel_a=0", "--port", "proxy.kamstrup_telnet=0"],
        config_extra=f'[listen.upstreams]\n"proxy.kamstrup_telnet" = "127.0.0.1:{meter.ports["kamstrup_management"]}"\n',
        expect=names, mkdir=True)
    try:
        # Channel B and the SSL proxy have no upstream: not served, and said so.
        assert "proxy.kamstrup_channel_b" in proxy.stderr.read_text()
        assert set(proxy.ports) == names
        k = Kmp(proxy.ports["proxy.kamstrup_channel_a"])
        try:
            _, cmd, payload = k.ask(get_register(1001))
            assert cmd == 0x10 and registers(payload)[1001][2] == int(persona["meter_serial"])
            _, cmd, payload = k.ask(frame(0x02))
            assert cmd == 0x02 and int.from_bytes(payload, "big") == int(persona["meter_serial"])
        finally:
            k.close()
        t = Pty(["telnet", "127.0.0.1", str(proxy.ports["proxy.kamstrup_telnet"])])
        try:
            t.expect(f"Connected to \\[{persona['mac']}\\]")
            t.send("!GV\r\n")
            t.expect("Software Version: ")
            t.send("Q\r\n")
            t.expect("Connection closed by foreign host")
        finally:
            t.close()
        kmp = wait_for(lambda: len(of_types(proxy, {"kamstrup.request"})) >= 2 and of_types(proxy, {"kamstrup.request"}))
        assert [e["data"]["status"] for e in kmp] == ["ok", "ok"]
        assert kmp[0]["data"]["proxy"] == "Kamstrup Channel A"
        assert kmp[0]["data"]["request"]["registers"] == [1001]
        text = wait_for(lambda: [e for e in of_types(proxy, {"proxy.data"}) if "!GV" in e.get("request", "")])
        assert text[0]["data"]["proxy"] == "Kamstrup telnet"
        # The answer is logged after the request waited for above, once it was relayed.
        assert wait_for(lambda: any("Software Version" in e.get("response", "") for e in of_types(proxy, {"proxy.data"}))), \
            of_types(proxy, {"proxy.data"})
    finally:
        proxy.stop()
