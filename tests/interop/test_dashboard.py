"""The operator's live dashboard (issue 16) in a real browser: headless Chromium, driven over
the DevTools protocol (aiohttp's WebSocket client), opens it with `?token=` (the cookie flow),
sees a pymodbus session in the live sessions and its request arrive over server-sent events
within 2 seconds; an HTTP request carrying markup shows as text, never as an element; a
screenshot is saved in the test's folder and is not blank. Without the token: 401 (curl)."""

import asyncio
import base64
import ftplib
import hashlib
import io
import os
import socket
import subprocess
import time

import aiohttp
import pytest
from pymodbus.client import ModbusTcpClient

from conftest import Conpot
from test_browser import CHROMIUM, assert_not_blank

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by tests/setup-deps")

TOKEN = "interop-dashboard-token-0123"
DASHBOARD = f'\n[dashboard]\nlisten = "127.0.0.1:0"\ntoken = "{TOKEN}"\n'


def dashboard_port(c):
    while "dashboard" not in c.ports:
        parts = c.proc.stdout.readline().split()
        if not parts:
            raise RuntimeError("no dashboard listener: " + c.stderr.read_text())
        if len(parts) == 4 and parts[0] == "listening":
            c.ports[parts[1]] = int(parts[3].rsplit(":", 1)[1])
    return c.ports["dashboard"]


def curl_status(url, *headers):
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"]
    for h in headers:
        args += ["-H", h]
    return subprocess.run(args + [url], capture_output=True, text=True, timeout=10, check=True).stdout


def start_chromium(tmp_path):
    log = tmp_path / "chromium.log"
    err = open(log, "w")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1024,768",
         "--remote-debugging-port=0", "--remote-allow-origins=*", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=err,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if "DevTools listening on ws://" in line:
                port = int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
                return proc, port
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("chromium did not open its DevTools port: " + log.read_text(errors="replace"))


class Page:
    """One browser tab over the DevTools protocol."""

    def __init__(self, ws):
        self.ws, self.next_id = ws, 0

    async def call(self, method, **params):
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            m = await self.ws.receive_json(timeout=30)
            if m.get("id") == self.next_id:
                assert "error" not in m, m
                return m.get("result", {})

    async def js(self, expression):
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r["result"].get("value")

    async def until(self, expression, seconds):
        """Seconds until `expression` is true in the page (polled every 50 ms), or None."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            if await self.js(f"!!({expression})"):
                return time.monotonic() - t0
            await asyncio.sleep(0.05)
        return None


def send_raw_http(port, target):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: plc\r\n\r\n".encode())
        s.recv(4096)


async def browse(tmp_path, c, port):
    proc, devtools = start_chromium(tmp_path)
    modbus = None
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{devtools}/json/list") as r:
                target = next(t for t in await r.json() if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                await page.call("Emulation.setDeviceMetricsOverride", width=1024, height=768, deviceScaleFactor=1,
                                mobile=False)
                await page.call("Page.navigate", url=f"http://127.0.0.1:{port}/?token={TOKEN}")
                # The redirect dropped the token from the address; the cookie carries it.
                assert await page.until(
                    "document.getElementById('live') && document.getElementById('live').textContent === 'live'", 20
                ) is not None, await page.js("document.documentElement.outerHTML")
                assert "token=" not in await page.js("location.href")

                # A Modbus session, held open while the page is watched.
                modbus = ModbusTcpClient("127.0.0.1", port=c.ports["modbus"], timeout=5, retries=0)
                assert modbus.connect()
                assert not modbus.read_coils(0, count=8, device_id=255).isError()
                event = await page.until("document.querySelector('#events tr.sse[data-type=\"modbus.request\"]')", 2)
                assert event is not None, "no modbus.request over SSE within 2 s"
                row = await page.js(
                    "(() => { const r = document.querySelector('#events tr.sse[data-type=\"modbus.request\"]');"
                    " return [r.textContent, Number(r.dataset.received) - Number(r.dataset.emitted)]; })()"
                )
                assert "modbus" in row[0] and "127.0.0.1" in row[0], row
                assert row[1] < 2000, f"event shown {row[1]} ms after it happened"
                session = await page.until(
                    "[...document.querySelectorAll('#sessions tr.session')].some(r => r.textContent.includes('modbus'))",
                    2.5,
                )
                assert session is not None, await page.js("document.getElementById('sessions').outerHTML")

                # Markup an attacker sends is shown as text, in the live list and in the panels.
                send_raw_http(c.ports["http"], "/<b/id=pwned>owned</b>")
                assert await page.until(
                    "[...document.querySelectorAll('#events tr.sse')].some(r => r.textContent.includes('<b/id=pwned>'))",
                    2,
                ) is not None
                # A login attempt with markup for a user name, then a file handed over by FTP: the
                # login panel shows the name as text, the capture panel links the stored file.
                f = ftplib.FTP()
                f.connect("127.0.0.1", c.ports["ftp"], timeout=10)
                with pytest.raises(ftplib.error_perm):
                    f.login("<i/id=pwned2>", "wrong")
                f.close()
                payload = os.urandom(3000)
                f = ftplib.FTP()
                f.connect("127.0.0.1", c.ports["ftp"], timeout=10)
                f.login("admin", "Siemens-" + c.persona()["hostname"])
                assert f.storbinary("STOR fw.bin", io.BytesIO(payload)).startswith("226")
                f.quit()
                sha = hashlib.sha256(payload).hexdigest()
                assert await page.until(
                    "[...document.querySelectorAll('#logins td')].some(t => t.textContent === '<i/id=pwned2>')", 3
                ) is not None, await page.js("document.getElementById('logins').outerHTML")
                assert await page.until(f"document.querySelector('#captures a[href=\"/captures/{sha}\"]')", 3) is not None
                download = subprocess.run(
                    ["curl", "-sf", "-H", f"Authorization: Bearer {TOKEN}", f"http://127.0.0.1:{port}/captures/{sha}"],
                    capture_output=True, timeout=10, check=True,
                ).stdout
                assert download == payload

                await asyncio.sleep(1.2)  # a panel refresh, and a server-rendered page below
                for pwned in ("pwned", "pwned2"):
                    assert await page.js(f"document.getElementById('{pwned}') === null"), pwned
                assert await page.js("document.querySelectorAll('script').length") == 1

                shot = await page.call("Page.captureScreenshot", format="png")
                path = tmp_path / "dashboard.png"
                path.write_bytes(base64.b64decode(shot["data"]))
                return path
    finally:
        if modbus is not None:
            modbus.close()
        proc.kill()
        proc.wait(timeout=10)


def test_dashboard_live_in_a_browser(tmp_path):
    c = Conpot(tmp_path, config_extra=DASHBOARD)
    try:
        port = dashboard_port(c)
        base = f"http://127.0.0.1:{port}"
        assert curl_status(base + "/") == "401"
        assert curl_status(base + "/events") == "401"
        assert curl_status(base + "/", "Authorization: Bearer wrong-token-000000000") == "401"
        assert curl_status(base + "/", f"Authorization: Bearer {TOKEN}") == "200"
        path = asyncio.run(browse(tmp_path, c, port))
        print(f"screenshot: {path}")
        assert_not_blank(path)
    finally:
        c.stop()
    # The dashboard's own requests are not honeypot events.
    events = c.events()
    assert any(e["event_type"] == "modbus.request" for e in events)
    assert not [e for e in events if e.get("dst_port") == port], "a dashboard request became an event"


def test_generated_token_is_in_the_state_folder_and_the_log(tmp_path):
    c = Conpot(tmp_path, config_extra='\n[dashboard]\nlisten = "127.0.0.1:0"\n')
    try:
        port = dashboard_port(c)
        token_file = tmp_path / "state" / "dashboard.token"
        token = token_file.read_text().strip()
        assert len(token) == 64 and oct(token_file.stat().st_mode & 0o777) == "0o600"
        deadline = time.monotonic() + 5
        while f"token={token}" not in c.stderr.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"token={token}" in c.stderr.read_text()
        base = f"http://127.0.0.1:{port}"
        assert curl_status(base + "/") == "401"
        assert curl_status(base + "/panels", f"Authorization: Bearer {token}") == "200"
    finally:
        c.stop()


def test_non_loopback_listen_is_refused_unless_allowed(tmp_path):
    with pytest.raises(RuntimeError, match="allow_remote"):
        Conpot(tmp_path, config_extra='\n[dashboard]\nlisten = "0.0.0.0:0"\n')
