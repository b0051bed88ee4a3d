"""A TLS-terminating proxy (issue 15): curl and openssl s_client speak TLS to the proxy,
which decodes the plaintext and relays it to the upstream in plaintext (conpot-rs's HTTP)
or over TLS of its own (conpot-rs's HTTPS, `upstream_tls`), the proxy's events carrying the
plaintext and the TLS events HTTPS logs."""

import subprocess

import pytest

from conftest import Conpot
from test_https import curl_tls
from test_proxy import of_types, wait_for


@pytest.fixture
def device(tmp_path):
    c = Conpot(tmp_path / "device", mkdir=True)
    yield c
    c.stop()


def tls_proxy(tmp_path, name, body):
    t = tmp_path / f"{name}-template"
    t.mkdir()
    (t / "template.toml").write_text(
        f"""
[template]
unit = "Proxy"
vendor = "None"
[persona]
vendor = "Example"
hostname = "gw-0042"
[protocols."proxy.web"]
port = 0
decoder = "ascii"
{body}
[protocols."proxy.web".tls]
only = true
"""
    )
    return Conpot(tmp_path / name, args=["-t", str(t)], expect={"proxy.web"}, mkdir=True)


def test_curl_through_a_tls_terminating_proxy_to_plain_http(tmp_path, device):
    proxy = tls_proxy(tmp_path, "p1", f'upstream = "127.0.0.1:{device.ports["http"]}"')
    try:
        body, err, rc = curl_tls(proxy.ports["proxy.web"], "--tlsv1.3", host="gw-0042")
        assert rc == 0, err
        assert "SSL connection using TLSv1.3" in err, err
        assert f"{device.persona()['system_name']} - Start page" in body
        data = wait_for(lambda: [e for e in of_types(proxy, {"proxy.data"}) if "GET /Portal0000.htm" in e.get("request", "")])
        assert data, of_types(proxy, {"proxy.data"})
        assert "Host: gw-0042:" in data[0]["request"]
        # The log may be a moment behind the reply curl got: the sensor answers first.
        assert wait_for(lambda: any("Start page" in e.get("response", "") for e in of_types(proxy, {"proxy.data"}))), \
            of_types(proxy, {"proxy.data"})
        hello = wait_for(lambda: of_types(proxy, {"tls.hello"}))
        assert hello[0]["data"]["sni"] == "gw-0042"
        hs = wait_for(lambda: of_types(proxy, {"tls.handshake"}))
        assert hs and hs[0]["data"]["version"] == "TLSv1.3"
        # The device saw a plain request from the proxy.
        req = wait_for(lambda: of_types(device, {"http.request"}))
        assert req[0]["data"]["path"] == "/Portal0000.htm"
    finally:
        proxy.stop()


def test_curl_and_openssl_through_tls_on_both_sides(tmp_path, device):
    proxy = tls_proxy(tmp_path, "p2", f'upstream = "127.0.0.1:{device.ports["https"]}"\nupstream_tls = true\nupstream_verify = false')
    try:
        port = proxy.ports["proxy.web"]
        body, err, rc = curl_tls(port, "--tlsv1.2", "--tls-max", "1.2")
        assert rc == 0, err
        assert "SSL connection using TLSv1.2" in err, err
        assert "Start page" in body
        sc = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet"],
                            input=b"GET /Portal0000.htm HTTP/1.0\r\n\r\n", capture_output=True, timeout=30)
        assert b"HTTP/1.0 200" in sc.stdout or b"HTTP/1.1 200" in sc.stdout, sc.stdout[:300]
        assert wait_for(lambda: len([e for e in of_types(proxy, {"proxy.data"}) if "GET /Portal0000.htm" in e.get("request", "")]) >= 2), \
            of_types(proxy, {"proxy.data"})
        # The responses are logged after they are relayed (and the two connections' events in
        # either order): wait for one.
        assert wait_for(lambda: any("Start page" in e.get("response", "") for e in of_types(proxy, {"proxy.data"}))), \
            of_types(proxy, {"proxy.data"})
        up = wait_for(lambda: of_types(proxy, {"proxy.upstream_tls"}))
        assert up[0]["data"]["verified"] is False and up[0]["data"]["version"].startswith("TLSv1_")
        # The device's HTTPS logged the proxy's own TLS handshake and the requests.
        assert wait_for(lambda: of_types(device, {"tls.handshake"}))
        assert len(wait_for(lambda: len(of_types(device, {"http.request"})) >= 2 and of_types(device, {"http.request"}))) >= 2
    finally:
        proxy.stop()


def test_a_verified_upstream_with_the_wrong_name_is_refused(tmp_path, device):
    crt = next((device.workdir / "state" / "tls").glob("*.crt"))
    host = device.persona()["hostname"]
    good = tls_proxy(tmp_path, "p3", f'upstream = "127.0.0.1:{device.ports["https"]}"\nupstream_tls = true\n'
                                     f'upstream_ca = "{crt}"\nupstream_sni = "{host}"')
    try:
        body, err, rc = curl_tls(good.ports["proxy.web"])
        assert rc == 0 and "Start page" in body, err
        up = wait_for(lambda: of_types(good, {"proxy.upstream_tls"}))
        assert up[0]["data"]["verified"] is True and up[0]["data"]["server_name"] == host
    finally:
        good.stop()
    bad = tls_proxy(tmp_path, "p4", f'upstream = "127.0.0.1:{device.ports["https"]}"\nupstream_tls = true\n'
                                    f'upstream_ca = "{crt}"\nupstream_sni = "not-{host}"')
    try:
        _, _, rc = curl_tls(bad.ports["proxy.web"])
        assert rc != 0
        ev = wait_for(lambda: [e for e in of_types(bad, {"proxy.upstream"}) if e["data"]["state"] == "failed"])
        assert ev[0]["data"]["reason"] == "tls"
        err = of_types(bad, {"proxy.upstream_tls"})
        assert err and "error" in err[0]["data"]
    finally:
        bad.stop()


def test_conpots_ssl_proxy_terminates_and_relays_over_tls(tmp_path, device):
    # Conpot's proxy folder with its "SSL proxy" pointed at the device's HTTPS: TLS on both legs.
    import re
    import shutil

    from conftest import conpot_templates

    t = tmp_path / "proxy-folder"
    shutil.copytree(conpot_templates() / "proxy", t)
    xml = (t / "proxy" / "proxy.xml").read_text()
    xml = re.sub(
        r"(<proxy name=\"SSL proxy\".*?<proxy_host>)[^<]*(</proxy_host>\s*<proxy_port>)[^<]*",
        rf"\g<1>127.0.0.1\g<2>{device.ports['https']}", xml, flags=re.S)
    (t / "proxy" / "proxy.xml").write_text(xml)
    names = ["proxy.kamstrup_channel_a", "proxy.kamstrup_channel_b", "proxy.kamstrup_telnet", "proxy.ssl_proxy"]
    ports = [f for n in names for f in ("--port", f"{n}=0")]
    c = Conpot(tmp_path / "copy", args=["-t", str(t), *ports], expect=set(names), mkdir=True)
    try:
        # Conpot's ssl/ files are not shipped: said so, and a certificate of this deployment is used.
        assert "made for this deployment" in c.stderr.read_text()
        body, err, rc = curl_tls(c.ports["proxy.ssl_proxy"])
        assert rc == 0 and "Start page" in body, err
        hs = wait_for(lambda: of_types(c, {"tls.handshake"}))
        assert hs[0]["data"]["version"].startswith("TLSv1.")
        up = wait_for(lambda: of_types(c, {"proxy.upstream_tls"}))
        assert up[0]["data"]["verified"] is False
        raw = wait_for(lambda: [e for e in of_types(c, {"proxy.data"}) if e["data"]["direction"] == "to_upstream"])
        assert bytes.fromhex(raw[0]["raw"]).startswith(b"GET /Portal0000.htm HTTP/1.1")
    finally:
        c.stop()
