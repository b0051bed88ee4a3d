"""A real browser (headless Debian chromium) loads the device's start page: of the default
persona over HTTP and HTTPS, and of Conpot's default template. The screenshot is not blank
and the device's name is in the DOM the browser built."""

import shutil
import struct
import subprocess
import zlib

import pytest

from conftest import Conpot, conpot_templates

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by tests/setup-deps")


def chromium(tmp_path, *args):
    profile = tmp_path / "chromium-profile"
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--ignore-certificate-errors", f"--user-data-dir={profile}",
         "--window-size=1024,768", *args],
        capture_output=True, timeout=120,
    )
    return out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace")


def png_pixels(data):
    """The rows of an 8-bit, non-interlaced RGB or RGBA PNG as bytes per row (PNG filters undone)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def assert_not_blank(path):
    width, height, bpp, rows = png_pixels(path.read_bytes())
    assert (width, height) == (1024, 768)
    pixels = [row[i:i + 3] for row in rows for i in range(0, len(row), bpp)]
    counts = {}
    for px in pixels:
        counts[px] = counts.get(px, 0) + 1
    background = max(counts, key=counts.get)
    # A rendered page has text in more than a handful of colours (anti-aliasing), and a
    # part of the window differs from its background (a few lines of text are 1 %).
    differing = len(pixels) - counts[background]
    assert len(counts) > 20, len(counts)
    assert differing > len(pixels) // 200, (differing, len(pixels))


def load(tmp_path, url, name):
    dom, err = chromium(tmp_path, "--dump-dom", url)
    shot = tmp_path / f"{name}.png"
    chromium(tmp_path, f"--screenshot={shot}", url)
    assert shot.exists(), err
    assert_not_blank(shot)
    return dom


def test_default_persona_start_page_in_a_browser(conpot, tmp_path):
    p = conpot.persona()
    for scheme, port in (("http", conpot.ports["http"]), ("https", conpot.ports["https"])):
        dom = load(tmp_path, f"{scheme}://127.0.0.1:{port}/", f"default-{scheme}")
        assert f"<title>{p['system_name']} - Start page</title>" in dom, dom[:2000]
        assert p["system_name"] in dom and p["module_type"] in dom
    conpot.stop()
    requests = [e for e in conpot.events() if e["event_type"] == "http.request"]
    agents = {v for e in requests for n, v in e["request"]["headers"] if n.lower() == "user-agent"}
    assert any("HeadlessChrome" in a or "Chrome" in a for a in agents), agents
    assert any(e["event_type"] == "tls.handshake" for e in conpot.events())


def test_conpot_default_template_start_page_in_a_browser(tmp_path):
    c = Conpot(tmp_path, args=["-t", str(conpot_templates() / "default")])
    try:
        dom = load(tmp_path, f"http://127.0.0.1:{c.ports['http']}/", "conpot-default")
    finally:
        c.stop()
    assert "Overview - Siemens, SIMATIC, S7-200" in dom, dom[:2000]
    assert "Technodrome" in dom
