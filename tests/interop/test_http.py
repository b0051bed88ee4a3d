"""The device's web server against curl, Python's http.client, nmap and pymodbus."""

import email.utils
import http.client
import shutil
import socket
import subprocess
import time

import pytest
from pymodbus.client import ModbusTcpClient

from conftest import Conpot, conpot_templates


def curl(port, *args, path="/"):
    out = subprocess.run(
        ["curl", "-s", "-S", "--max-time", "10", *args, f"http://127.0.0.1:{port}{path}"],
        capture_output=True, timeout=30,
    )
    return out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace")


def status_of(head):
    return int(head.split("\r\n", 1)[0].split()[1])


def test_get_start_page_with_live_date(conpot):
    port = conpot.ports["http"]
    head, _ = curl(port, "-i")
    assert status_of(head) == 302 and "Location: /Portal0000.htm\r\n" in head
    body, _ = curl(port, "-L")
    p = conpot.persona()
    assert f"<title>{p['system_name']} - Start page</title>" in body
    assert p["module_type"] in body and p["order_code"] in body
    head, _ = curl(port, "-I", path="/Portal0000.htm")
    assert status_of(head) == 200
    date = next(l for l in head.split("\r\n") if l.startswith("Date: "))[6:]
    assert abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time()) < 5
    length = int(next(l for l in head.split("\r\n") if l.startswith("Content-Length: "))[16:])
    assert length == len(body.encode())


def test_methods_options_post_and_errors(conpot):
    port = conpot.ports["http"]
    head, _ = curl(port, "-i", "-X", "OPTIONS")
    assert status_of(head) == 200 and "Allow: GET,HEAD,POST,OPTIONS\r\n" in head
    head, _ = curl(port, "-i", "-X", "PUT", "-d", "x")
    assert status_of(head) == 405
    head, _ = curl(port, "-i", "-d", "user=admin&password=secret", path="/Portal0000.htm")
    assert status_of(head) == 200
    head, _ = curl(port, "-i", path="/nothere.htm")
    assert status_of(head) == 404 and "Error 404" in head
    head, _ = curl(port, "-i", "--path-as-is", path="/../../../etc/passwd")
    assert status_of(head) == 404
    head, _ = curl(port, "-i", "-0", path="/Portal0000.htm")
    assert head.startswith("HTTP/1.1 200 OK\r\n")
    head, _ = curl(port, "-i", "-H", "Transfer-Encoding: chunked", "-d", "chunked=yes", path="/Portal0000.htm")
    assert status_of(head) == 200
    conpot.stop()
    reqs = [e for e in conpot.events() if e["event_type"] == "http.request"]
    post = next(e for e in reqs if e["request"].get("body") == "user=admin&password=secret")
    assert post["request"]["form"] == [["user", "admin"], ["password", "secret"]]
    assert any(e["request"].get("body") == "chunked=yes" for e in reqs)
    trav = next(e for e in reqs if e["request"]["target"] == "/../../../etc/passwd")
    assert trav["data"]["traversal"] == "above_root" and trav["data"]["path"] == "/etc/passwd"
    assert any(e["request"]["version"] == "HTTP/1.0" for e in reqs)


def test_basic_auth_with_the_device_account(conpot):
    port = conpot.ports["http"]
    p = conpot.persona()
    head, _ = curl(port, "-i", path="/Admin.htm")
    assert status_of(head) == 401
    assert f'WWW-Authenticate: Basic realm="SIMATIC {p["module_type"]}"' in head
    head, _ = curl(port, "-i", "-u", "admin:guess", path="/Admin.htm")
    assert status_of(head) == 401
    body, _ = curl(port, "-u", f"admin:Siemens-{p['hostname']}", path="/Admin.htm")
    assert p["ip_address"] in body
    conpot.stop()
    tries = [e for e in conpot.events() if e["event_type"] == "auth.attempt"]
    assert [(t["data"]["protocol"], t["data"]["password"]) for t in tries] == [
        ("http", "guess"), ("http", f"Siemens-{p['hostname']}")]


def test_keep_alive_reuses_one_connection(conpot):
    port = conpot.ports["http"]
    url = f"http://127.0.0.1:{port}/Portal0000.htm"
    out = subprocess.run(["curl", "-s", "-v", "-o", "/dev/null", "-o", "/dev/null", url, url],
                         capture_output=True, text=True, timeout=30)
    assert "Re-using existing connection" in out.stderr or "Reusing existing" in out.stderr, out.stderr
    conpot.stop()
    sessions = {e["session_id"] for e in conpot.events() if e["event_type"] == "http.request"}
    assert len(sessions) == 1


def test_pipelining_with_http_client(conpot):
    port = conpot.ports["http"]
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /Portal0000.htm HTTP/1.1\r\nHost: x\r\n\r\n"
              b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    # One buffered reader for all three answers, as a pipelining client keeps.
    reader = s.makefile("rb")

    class Kept:
        """The reader, not closed by each response when it is read."""

        def __getattr__(self, name):
            return getattr(reader, name)

        def close(self):
            pass

    class Sock:
        def makefile(self, mode):
            return Kept()

    statuses = []
    for method in ("GET", "HEAD", "GET"):
        r = http.client.HTTPResponse(Sock(), method=method)
        r.begin()
        r.read()
        statuses.append(r.status)
    assert statuses == [200, 302, 404]
    assert reader.read() == b""
    s.close()


def test_a_modbus_write_shows_on_the_page(conpot):
    c = ModbusTcpClient("127.0.0.1", port=conpot.ports["modbus"], timeout=5, retries=0)
    assert c.connect()
    assert not c.write_register(0, 31337, device_id=255).isError()
    c.close()
    body, _ = curl(conpot.ports["http"], path="/Portal0000.htm")
    assert '<td id="setpoint">31337</td>' in body


def nmap(port, script):
    return subprocess.run(["nmap", "-Pn", "-n", "-p", str(port), "--script", script, "127.0.0.1"],
                          capture_output=True, text=True, timeout=120).stdout


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is installed by tests/setup-deps")
def test_nmap_http_title_headers_methods(conpot):
    port = conpot.ports["http"]
    p = conpot.persona()
    out = nmap(port, "+http-title,+http-headers,+http-methods")
    assert f"{p['system_name']} - Start page" in out, out
    assert "Requested resource was /Portal0000.htm" in out, out
    assert "X-Frame-Options: SAMEORIGIN" in out, out
    assert "Supported Methods: GET HEAD POST OPTIONS" in out, out


@pytest.fixture
def conpot_default(tmp_path):
    c = Conpot(tmp_path, args=["-t", str(conpot_templates() / "default")])
    yield c
    c.stop()


def test_conpot_default_template_site(conpot_default):
    port = conpot_default.ports["http"]
    head, _ = curl(port, "-i")
    assert status_of(head) == 302 and "Location: /index.html\r\n" in head
    body, _ = curl(port, "-L")
    assert "<TITLE>Overview - Siemens, SIMATIC, S7-200</TITLE>" in body
    assert "<h2>Technodrome</h2>" in body
    alias, _ = curl(port, path="/index.htm")
    assert "Technodrome" in alias
    head, _ = curl(port, "-i", path="/tests/unittest_base.html")
    assert status_of(head) == 404 and "This resource could not be found." in head
    head, _ = curl(port, "-i", "-X", "PUT")
    assert status_of(head) == 501
    head, _ = curl(port, "-I", path="/index.html")
    assert "Set-cookie: path=/\r\n" in head and "1984" not in head
