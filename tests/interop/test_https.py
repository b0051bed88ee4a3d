"""The device's web site over HTTPS (curl, openssl s_client, nmap ssl-cert) and HTTP Digest
login (curl --digest), with the TLS and login events they leave."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import Conpot

ROOT = Path(__file__).resolve().parents[2]


def curl_tls(port, *args, path="/Portal0000.htm", host="127.0.0.1"):
    out = subprocess.run(
        ["curl", "-s", "-S", "-v", "--max-time", "10", "--insecure",
         "--resolve", f"{host}:{port}:127.0.0.1", *args, f"https://{host}:{port}{path}"],
        capture_output=True, timeout=30,
    )
    return out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace"), out.returncode


def certificate(port):
    """The certificate the listener shows, as openssl x509 -text prints it, and its SHA-256."""
    sc = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}"],
                        input=b"", capture_output=True, timeout=30)
    pem = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", sc.stdout, re.S)
    assert pem, sc.stdout.decode(errors="replace")
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-fingerprint", "-sha256"],
                          input=pem.group(0), capture_output=True, timeout=30).stdout.decode()
    fp = re.search(r"Fingerprint=([0-9A-F:]+)", text).group(1)
    return text, fp


def test_curl_over_tls12_and_tls13(conpot):
    port = conpot.ports["https"]
    p = conpot.persona()
    body, err, rc = curl_tls(port, "--tlsv1.2", "--tls-max", "1.2")
    assert rc == 0, err
    assert "SSL connection using TLSv1.2" in err, err
    assert f"{p['system_name']} - Start page" in body
    body, err, rc = curl_tls(port, "--tlsv1.3")
    assert rc == 0, err
    assert "SSL connection using TLSv1.3" in err, err
    assert "ALPN: server accepted http/1.1" in err, err
    assert f"{p['system_name']} - Start page" in body
    # The same site as on the HTTP port.
    plain = subprocess.run(["curl", "-s", f"http://127.0.0.1:{conpot.ports['http']}/Portal0000.htm"],
                           capture_output=True, timeout=30).stdout.decode()
    assert re.sub(r"\d\d:\d\d:\d\d", "", plain) == re.sub(r"\d\d:\d\d:\d\d", "", body)


def test_tls_events_name_the_client(conpot):
    port = conpot.ports["https"]
    p = conpot.persona()
    host = p["hostname"]
    _, err, rc = curl_tls(port, "--tlsv1.3", host=host)
    assert rc == 0, err
    # Plain HTTP on the TLS port is a failed handshake.
    subprocess.run(["curl", "-s", "--max-time", "5", f"http://127.0.0.1:{port}/"], capture_output=True, timeout=30)
    conpot.stop()
    events = conpot.events()
    hello = next(e for e in events if e["event_type"] == "tls.hello")
    d = hello["data"]
    assert d["sni"] == host
    assert d["alpn"] == ["h2", "http/1.1"]
    assert "TLSv1.3" in d["versions"] and d["max_version"] == "TLSv1.3"
    assert re.fullmatch(r"[0-9a-f]{32}", d["ja3"])
    assert d["ja3_text"].startswith("771,")
    assert re.fullmatch(r"t13d\d{4}h2_[0-9a-f]{12}_[0-9a-f]{12}", d["ja4"]), d["ja4"]
    hs = next(e for e in events if e["event_type"] == "tls.handshake")
    assert hs["session_id"] == hello["session_id"]
    assert hs["data"]["version"] == "TLSv1.3" and hs["data"]["sni"] == host
    assert hs["data"]["cipher"].startswith("TLS13_")
    req = next(e for e in events if e["event_type"] == "http.request" and e["session_id"] == hello["session_id"])
    assert req["data"]["path"] == "/Portal0000.htm" and req["data"]["status"] == 200
    fail = next(e for e in events if e["event_type"] == "tls.failure")
    assert fail["data"]["hello"] == "not TLS"
    assert fail["data"]["first_text"].startswith("GET / HTTP/1.1")


def test_openssl_shows_a_certificate_of_this_deployment(tmp_path):
    a = Conpot(tmp_path / "a", mkdir=True)
    try:
        p = a.persona()
        text, fp_a = certificate(a.ports["https"])
        assert f"Subject: CN = {p['hostname']}, O = Siemens, OU = SIMATIC S7-300 {p['module_type']}" in text, text
        assert f"serialNumber = {p['mac']}" in text
        assert f"DNS:{p['hostname']}, IP Address:{p['ip_address']}" in text
        assert "Issuer: CN = " + p["hostname"] in text
        assert "ASN1 OID: prime256v1" in text
        not_before = re.search(r"Not Before: (.*)", text).group(1)
        assert "2015" not in text
    finally:
        a.stop()
    assert list((tmp_path / "a" / "state" / "tls").glob("*.key"))
    # Restarted: the same certificate.
    again = Conpot(tmp_path / "a")
    try:
        _, fp_again = certificate(again.ports["https"])
        assert fp_again == fp_a
        assert re.search(r"Not Before: (.*)", certificate(again.ports["https"])[0]).group(1) == not_before
    finally:
        again.stop()
    # Another deployment: another certificate.
    b = Conpot(tmp_path / "b", mkdir=True)
    try:
        _, fp_b = certificate(b.ports["https"])
        assert fp_b != fp_a
    finally:
        b.stop()


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is installed by tests/setup-deps")
def test_nmap_ssl_cert_shows_the_persona(conpot):
    port = conpot.ports["https"]
    p = conpot.persona()
    out = subprocess.run(["nmap", "-Pn", "-n", "-p", str(port), "--script", "+ssl-cert", "127.0.0.1"],
                         capture_output=True, text=True, timeout=120).stdout
    assert f"Subject: commonName={p['hostname']}/organizationName=Siemens" in out, out
    assert f"Subject Alternative Name: DNS:{p['hostname']}, IP Address:{p['ip_address']}" in out, out
    assert "Public Key type: ec" in out, out


def digest_template(tmp_path):
    """The embedded default with two pages behind Digest (MD5; SHA-256 and MD5)."""
    text = (ROOT / "templates" / "default" / "template.toml").read_text()
    text += '''
[[protocols.http.pages]]
path = "/digest-md5.htm"
content = "md5 ok {persona.hostname}"
auth = "digest"
realm = "S7 Web"

[[protocols.http.pages]]
path = "/digest-sha256.htm"
content = "sha256 ok {persona.hostname}"
auth = "digest"
realm = "S7 Web"
algorithms = ["SHA-256", "MD5"]
'''
    d = tmp_path / "digest-template"
    d.mkdir()
    (d / "template.toml").write_text(text)
    return d


def test_curl_digest_login(tmp_path):
    tpl = digest_template(tmp_path)
    ports = [f for n in ("modbus", "s7comm", "snmp", "ftp", "tftp", "http", "telnet", "https")
             for f in ("--port", f"{n}=0")]
    c = Conpot(tmp_path, args=["-t", str(tpl), *ports], expect=["http", "https"])
    try:
        port = c.ports["http"]
        p = c.persona()
        good = f"admin:Siemens-{p['hostname']}"

        def get(path, *args):
            out = subprocess.run(["curl", "-s", "-i", "--max-time", "10", *args, f"http://127.0.0.1:{port}{path}"],
                                 capture_output=True, timeout=30)
            return out.stdout.decode(errors="replace")

        head = get("/digest-md5.htm")
        assert head.startswith("HTTP/1.1 401")
        assert 'WWW-Authenticate: Digest realm="S7 Web", qop="auth", algorithm=MD5, nonce="' in head
        assert get("/digest-md5.htm", "--digest", "-u", good).endswith(f"md5 ok {p['hostname']}")
        assert "HTTP/1.1 401" in get("/digest-md5.htm", "--digest", "-u", "admin:guess").split("\r\n\r\n")[-2]
        ok = get("/digest-sha256.htm", "--digest", "-u", good)
        assert ok.endswith(f"sha256 ok {p['hostname']}"), ok
        # Over HTTPS too.
        body, err, rc = curl_tls(c.ports["https"], "--digest", "-u", good, path="/digest-md5.htm")
        assert rc == 0 and body == f"md5 ok {p['hostname']}", err
    finally:
        c.stop()
    tries = [e["data"] for e in c.events() if e["event_type"] == "auth.attempt"]
    assert [(t["username"], t["method"], t["success"], t["reason"]) for t in tries] == [
        ("admin", "http-digest-md5", True, None),
        ("admin", "http-digest-md5", False, "bad_password"),
        ("admin", "http-digest-sha256", True, None),
        ("admin", "http-digest-md5", True, None),
    ], tries
    assert all(t["protocol"] == "http" and t["hash_alg"] in ("MD5", "SHA-256") for t in tries)
