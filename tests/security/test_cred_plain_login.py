"""PLAIN and LOGIN credentials equal what the clients sent (sidecar), and what tshark decodes."""
from __future__ import annotations

import base64
import shutil
import subprocess

import pytest

from security_common import DATA, read, sidecar, shared

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


def _sidecar_auths(name):
    return [a for s in sidecar(name)["sessions"] for a in s["auth"]]


@pytest.mark.parametrize("name", ["smtp-auth.pcap", "smtp-auth-attacks.pcap"])
def test_plain_and_login_equal_the_sidecar(name):
    creds = read(name, show_secrets=True).credentials
    truth = _sidecar_auths(name)
    assert len(creds) == len(truth)
    for row, auth in zip(creds.itertuples(), truth):
        assert row.mechanism == auth["mechanism"]
        assert row.outcome_code == auth["final_code"]
        assert bool(row.success) == auth["success"] == (auth["expected"] == "success")
        assert row.username == auth["username"]
        if auth["mechanism"] in ("PLAIN", "LOGIN"):
            assert row.secret == auth["password"] and row.secret_kind == "password"
            assert row.complete and row.cleartext and not row.tls


def test_login_ignores_the_prompt_text():
    # aiosmtpd prompts "User Name\0" / "Password\0"; Exim (zeek/smtp) "Username:" / "Password:";
    # swaks sends LOGIN with the username on the AUTH line: all decode the same way.
    creds = read("smtp-auth.pcap", show_secrets=True).credentials
    login = creds[creds["mechanism"] == "LOGIN"]
    assert list(login["username"]) == ["carol", "alice", "bob@example.test"]
    assert list(login["secret"]) == ["c@rol-2024", "wonderland", "s3cr3t-Bob!"]


def test_masked_by_default():
    creds = read("smtp-auth.pcap").credentials
    secrets = set(creds["secret"].dropna()) | set(creds["hash"].dropna())
    assert secrets == {"********"}
    commands = read("smtp-auth.pcap").commands
    auth_args = list(commands.loc[commands["verb"] == "AUTH", "argument"])
    assert "PLAIN ********" in auth_args and not any("AGFsaWNl" in a for a in auth_args)


def _tshark_secrets(path, port):
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-d", f"tcp.port=={port},smtp", "-Y",
                          "smtp.auth.username or smtp.auth.password or smtp.auth.username_password",
                          "-T", "fields", "-e", "smtp.auth.username", "-e", "smtp.auth.password",
                          "-e", "smtp.auth.username_password"], capture_output=True, text=True, check=True).stdout
    users, passwords = [], []
    for line in out.splitlines():
        user, password, both = (line.split("\t") + ["", ""])[:3]
        if both:
            _, u, p = base64.b64decode(both).split(b"\x00")
            users.append(u.decode()), passwords.append(p.decode())
        if user:
            users.append(base64.b64decode(user).decode())
        if password:
            passwords.append(base64.b64decode(password).decode())
    return users, passwords


@needs_tshark
@pytest.mark.parametrize("name,port", [("smtp-auth.pcap", 587), ("smtp-auth-attacks.pcap", 587),
                                       ("shared:zeek/smtp/smtp.pcap", 25), ("shared:ndpi/emotet/emotet.pcap", 25),
                                       ("shared:arkime/smtp-data-250/smtp-data-250.pcap", 25)])
def test_cleartext_credentials_equal_tshark(name, port):
    path = DATA / name if not name.startswith("shared:") else shared(name.removeprefix("shared:"))
    if not path.exists():
        pytest.skip(f"{path} is absent")
    users, passwords = _tshark_secrets(path, port)
    creds = read(name, show_secrets=True).credentials
    plain = creds[creds["mechanism"].isin(["PLAIN", "LOGIN"])]
    assert passwords and sorted(plain["secret"]) == sorted(passwords)
    assert sorted(plain["username"]) == sorted(users)
