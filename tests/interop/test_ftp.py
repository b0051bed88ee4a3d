"""FTP with real clients: Python's ftplib, lftp, curl and nmap against the default persona."""

import ftplib
import io
import os
import shutil
import socket
import subprocess

import pytest

from conftest import Conpot


def ftp(conpot, user=None, password=None):
    f = ftplib.FTP()
    greeting = f.connect("127.0.0.1", conpot.ports["ftp"], timeout=10)
    if user is None:
        f.login()
    else:
        f.login(user, password)
    return f, greeting


def stopped_events(conpot):
    """The events, once the sensor stopped (every sink flushed)."""
    assert conpot.stop() == 0
    return conpot.events()


def admin_password(conpot):
    return "Siemens-" + conpot.persona()["hostname"]


def retr(f, path):
    b = io.BytesIO()
    f.retrbinary("RETR " + path, b.write)
    return b.getvalue()


def test_anonymous_login_and_read_only_listing(conpot):
    f, greeting = ftp(conpot)
    assert greeting == f"220 {conpot.persona()['hostname']} FTP server ready."
    assert f.sendcmd("SYST") == "215 UNIX Type: L8"
    lines = []
    f.dir(lines.append)
    assert any(l.startswith("drwxrwxr-x") and l.endswith(" config") for l in lines), lines
    assert "admin    users" in lines[0]
    assert sorted(f.nlst()) == ["config", "firmware", "log"]
    cfg = retr(f, "config/station.cfg").decode()
    assert f"hostname={conpot.persona()['hostname']}" in cfg
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.storbinary("STOR x.bin", io.BytesIO(b"x"))
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.mkd("nope")
    f.quit()
    events = stopped_events(conpot)
    attempts = [e for e in events if e["event_type"] == "auth.attempt"]
    assert attempts and attempts[0]["data"]["method"] == "anonymous"
    assert attempts[0]["data"]["success"] is True
    cmds = [e["data"]["command"] for e in events if e["event_type"] == "ftp.command"]
    assert {"USER", "PASS", "SYST", "PASV", "LIST", "NLST", "RETR", "QUIT"} <= set(cmds)


def test_user_session_every_command(conpot):
    f, _ = ftp(conpot, "admin", admin_password(conpot))
    assert "UTF8" in f.sendcmd("FEAT")
    f.sendcmd("OPTS UTF8 ON")
    assert f.pwd() == "/"
    assert f.mkd("upload") == "/upload"
    f.cwd("upload")
    assert f.pwd() == "/upload"
    payload = os.urandom(300_000)
    assert f.storbinary("STOR fw.bin", io.BytesIO(payload)).startswith("226")
    assert retr(f, "fw.bin") == payload
    assert f.size("fw.bin") == len(payload)
    assert len(f.sendcmd("MDTM fw.bin").split()[1]) == 14
    f.storbinary("APPE fw.bin", io.BytesIO(b"tail"))
    assert f.size("fw.bin") == len(payload) + 4
    # REST: resume a download at an offset.
    b = io.BytesIO()
    f.retrbinary("RETR fw.bin", b.write, rest=1000)
    assert b.getvalue() == payload[1000:] + b"tail"
    facts = dict(f.mlsd())
    assert facts["fw.bin"]["type"] == "file" and facts["fw.bin"]["size"] == str(len(payload) + 4)
    assert facts["fw.bin"]["unix.owner"] == "admin"
    f.rename("fw.bin", "fw.old")
    assert f.nlst() == ["fw.old"]
    f.delete("fw.old")
    f.cwd("..")
    f.rmd("upload")
    assert "upload" not in f.nlst()
    # EPSV instead of PASV.
    resp = f.sendcmd("EPSV")
    assert resp.startswith("229 Entering Extended Passive Mode (|||"), resp
    port = int(resp.split("|||")[1].split("|")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as data:
        assert f.sendcmd("NLST").startswith("150")
        listing = b""
        while chunk := data.recv(4096):
            listing += chunk
    assert f.voidresp().startswith("226")
    assert b"config\r\n" in listing
    # Active mode: the server connects back to us.
    f.set_pasv(False)
    assert retr(f, "config/station.cfg").startswith(b";")
    f.quit()
    events = stopped_events(conpot)
    uploads = [e for e in events if e["event_type"] == "file.upload"]
    assert {u["data"]["command"] for u in uploads} == {"STOR", "APPE"}
    assert all(u["data"]["protocol"] == "ftp" and u["data"]["user"] == "admin" for u in uploads)
    assert uploads[0]["data"]["status"] == "stored" and uploads[0]["data"]["size"] == len(payload)
    downloads = [e for e in events if e["event_type"] == "file.download"]
    assert any(d["data"]["path"] == "/upload/fw.bin" for d in downloads)
    transfers = [e for e in events if e["event_type"] == "ftp.transfer"]
    assert any(t["data"]["mode"] == "active" for t in transfers)
    assert any(t["data"]["bytes"] == len(payload) and t["data"]["direction"] == "upload" for t in transfers)
    passwords = [e["data"]["argument"] for e in events if e["event_type"] == "ftp.command" and e["data"]["command"] == "PASS"]
    assert passwords == [admin_password(conpot)]


def test_bad_passwords_are_attempts_and_the_connection_closes(conpot):
    f = ftplib.FTP()
    f.connect("127.0.0.1", conpot.ports["ftp"], timeout=10)
    for pw in ["a", "b"]:
        with pytest.raises(ftplib.error_perm, match="^530"):
            f.login("admin", pw)
    with pytest.raises(ftplib.error_perm, match="^530"):
        f.login("admin", "c")
    with pytest.raises((EOFError, OSError, ftplib.Error)):
        f.sendcmd("NOOP")
    attempts = [e["data"] for e in stopped_events(conpot) if e["event_type"] == "auth.attempt"]
    assert [a["password"] for a in attempts] == ["a", "b", "c"]
    assert all(a["reason"] == "bad_password" for a in attempts)


def test_escapes_are_jailed_or_refused(conpot):
    f, _ = ftp(conpot, "admin", admin_password(conpot))
    with pytest.raises(ftplib.error_perm, match="^550"):
        retr(f, "../../etc/passwd")
    f.cwd("../../..")
    assert f.pwd() == "/"
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.size("/etc/passwd")
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.mkd("x" * 300)
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.sendcmd("DELE a\\b")
    f.quit()
    events = stopped_events(conpot)
    assert sum(e["event_type"] == "fs.escape" for e in events) >= 2
    reasons = {e["data"]["reason"] for e in events if e["event_type"] == "fs.refused"}
    assert {"name_too_long", "backslash"} <= reasons


def test_bounce_port_is_refused_and_logged(conpot):
    with socket.create_connection(("127.0.0.1", conpot.ports["ftp"]), timeout=5) as s:
        r = s.makefile("rb")
        r.readline()
        s.sendall(b"USER anonymous\r\nPASS x@y\r\n")
        r.readline(), r.readline()
        s.sendall(b"PORT 192,0,2,99,0,80\r\n")
        assert r.readline().startswith(b"500 Illegal PORT command.")
        s.sendall(b"EPRT |1|198.51.100.1|8080|\r\n")
        assert r.readline().startswith(b"500 Illegal EPRT command.")
        s.sendall(b"QUIT\r\n")
        r.readline()
    bounces = [e["data"] for e in stopped_events(conpot) if e["event_type"] == "ftp.bounce"]
    assert [b["target"] for b in bounces] == ["192.0.2.99:80", "198.51.100.1:8080"]


def test_quota_exhaustion_is_disk_full_and_the_file_is_captured(conpot):
    f, _ = ftp(conpot, "admin", admin_password(conpot))
    big = os.urandom(9 << 20)  # over the 8 MiB a file may have
    with pytest.raises(ftplib.error_perm, match="^552"):
        f.storbinary("STOR huge.bin", io.BytesIO(big))
    assert "huge.bin" not in f.nlst()
    f.quit()
    up = [e for e in stopped_events(conpot) if e["event_type"] == "file.upload"]
    assert len(up) == 1
    assert up[0]["data"]["refused"] == "file_too_large"
    assert up[0]["data"]["original_size"] == len(big)
    assert up[0]["data"]["status"] == "stored"


@pytest.mark.skipif(shutil.which("lftp") is None, reason="lftp is installed by tests/setup-deps")
def test_lftp_mirrors_a_folder(conpot, tmp_path):
    out = tmp_path / "mirror"
    pw = admin_password(conpot)
    cmd = f"set ftp:passive-mode on; set net:max-retries 1; open -u admin,{pw} -p {conpot.ports['ftp']} 127.0.0.1; mirror / {out}; bye"
    r = subprocess.run(["lftp", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (out / "config" / "station.cfg").read_text().startswith(";")
    assert (out / "firmware" / "README.TXT").exists()
    assert (out / "log" / "diag_buffer.txt").exists()
    # And mirror back up (reverse mirror: uploads through lftp).
    (out / "firmware" / "NEW.UPD").write_bytes(b"\x00\x01payload")
    cmd = f"open -u admin,{pw} -p {conpot.ports['ftp']} 127.0.0.1; mirror -R {out}/firmware /firmware; bye"
    r = subprocess.run(["lftp", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    f, _ = ftp(conpot, "admin", pw)
    assert retr(f, "/firmware/NEW.UPD") == b"\x00\x01payload"
    f.quit()


@pytest.mark.parametrize("active", [False, True])
def test_curl_upload_and_download(conpot, tmp_path, active):
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(100_000))
    base = f"ftp://127.0.0.1:{conpot.ports['ftp']}"
    auth = ["-u", f"admin:{admin_password(conpot)}"]
    mode = ["-P", "-"] if active else []
    r = subprocess.run(["curl", "-sS", *mode, *auth, "-T", str(src), f"{base}/log/"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["curl", "-sS", *mode, *auth, f"{base}/log/payload.bin"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == src.read_bytes()
    r = subprocess.run(["curl", "-sS", *mode, f"{base}/config/"], capture_output=True, text=True, timeout=30)
    assert "station.cfg" in r.stdout


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is installed by tests/setup-deps")
def test_nmap_ftp_anon_and_syst_show_the_persona(conpot):
    port = conpot.ports["ftp"]
    out = subprocess.run(
        ["nmap", "-Pn", "-n", "-sV", "-p", str(port), "--script", "ftp-anon,ftp-syst,banner", "127.0.0.1"],
        capture_output=True, text=True, timeout=180,
    ).stdout
    host = conpot.persona()["hostname"]
    assert "Anonymous FTP login allowed (FTP code 230)" in out, out
    assert "config" in out and "firmware" in out
    # ftp-syst hides the canonical "UNIX Type: L8"; STAT carries the device's name.
    syst = out.split("ftp-syst:", 1)[1]
    assert "FTP server status:" in syst and f"{host} FTP server ready." in syst, out
    assert f"banner: 220 {host} FTP server ready." in out, out
