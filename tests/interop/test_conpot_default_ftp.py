"""FTP and TFTP of Conpot's own default template (ftp/ftp.xml, tftp/tftp.xml)."""

import ftplib
import io
import os

import pytest
import tftpy

from conftest import Conpot, conpot_templates


@pytest.fixture
def conpot_default(tmp_path):
    c = Conpot(tmp_path, args=["-t", str(conpot_templates() / "default")])
    yield c
    c.stop()


def test_its_users_banner_motd_and_files(conpot_default):
    f = ftplib.FTP()
    # RFC 959's 220, where Conpot greets with 200.
    assert f.connect("127.0.0.1", conpot_default.ports["ftp"], timeout=10) == "220 FTP server ready."
    reply = f.login("nobody", "nobody")
    assert reply.startswith("230") and "Technodrome - Mouser Factory" in reply
    assert f.sendcmd("SYST") == "215 UNIX Type: L8 Version: Siemens"
    lines = []
    f.dir(lines.append)
    assert any(l.startswith("-rwxrwxrwx") and "nobody   ftp" in l and l.endswith("ftp_data.txt") for l in lines), lines
    payload = os.urandom(5000)
    f.storbinary("STOR upload.bin", io.BytesIO(payload))
    b = io.BytesIO()
    f.retrbinary("RETR upload.bin", b.write)
    assert b.getvalue() == payload
    f.quit()
    f = ftplib.FTP()
    f.connect("127.0.0.1", conpot_default.ports["ftp"], timeout=10)
    assert f.login("test_user", "test").startswith("230")
    f.quit()
    f = ftplib.FTP()
    f.connect("127.0.0.1", conpot_default.ports["ftp"], timeout=10)
    assert f.login().startswith("230")  # anon_login enabled
    f.quit()


def test_tftp_serves_its_root(conpot_default, tmp_path):
    src = tmp_path / "cfg.txt"
    src.write_bytes(b"uploaded\n")
    c = tftpy.TftpClient("127.0.0.1", conpot_default.ports["tftp"])
    c.upload("cfg.txt", str(src))
    out = tmp_path / "back.txt"
    tftpy.TftpClient("127.0.0.1", conpot_default.ports["tftp"]).download("cfg.txt", str(out))
    assert out.read_bytes() == b"uploaded\n"
    assert conpot_default.stop() == 0
    up = [e["data"] for e in conpot_default.events() if e["event_type"] == "file.upload"]
    assert up and up[0]["vfs_path"] == "/data/tftp/cfg.txt"
