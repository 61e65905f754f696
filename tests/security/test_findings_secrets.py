"""No secret leaves smtpsniff unmasked unless asked: every output of ``analyze -o`` (each format),
``findings`` (table and JSON lines) and the printed summaries is searched for every password, token
and AUTH initial response the recorded clients sent (from the sidecars)."""
from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd
import pytest

from smtpsniff import cli

from security_common import path_of, sidecar

CAPTURES = ["smtp-auth.pcap", "smtp-auth-mechs.pcap", "smtp-auth-attacks.pcap", "smtp-starttls-attacks.pcap",
            "captures/smtp-sample.pcap"]


def _secrets() -> set[str]:
    out: set[str] = set()
    for name in CAPTURES:
        doc = sidecar(name)
        for value in doc.get("credentials_db", {}).values():
            out.update(value.values() if isinstance(value, dict) else [value])
        for s in doc["sessions"]:
            for a in s["auth"]:
                out.update(v for k, v in a.items() if k in ("password", "token") and v)
                if a.get("initial_response") and a["mechanism"] in ("PLAIN", "XOAUTH2", "OAUTHBEARER"):
                    out.add(a["initial_response"])
                if a["mechanism"] in ("PLAIN", "LOGIN"):
                    out.update(r for r in a["responses"] if len(r) > 8 and base64.b64decode(r, validate=False)
                               .decode("utf-8", "replace").endswith(a.get("password") or "\0\0"))
    out.discard("password")  # a brute-force guess that is also the evidence label "password=********"
    return {s for s in out if len(s) >= 6}


def _formats() -> list[str]:
    parser = cli.build_parser()
    analyze = parser._subparsers._group_actions[0].choices["analyze"]
    return next(a.choices for a in analyze._actions if a.dest == "format")


def _leaks(text: str, secrets: set[str]) -> set[str]:
    return {s for s in secrets if s in text}


@pytest.fixture(scope="module")
def secrets():
    found = _secrets()
    assert {"wonderland", "c@rol-2024", "s3cr3t-Bob!", "ya29.ivan-test-token", "Dave-NTLM-1"} <= found
    return found


def test_no_secret_in_any_output(tmp_path, capsys, secrets):
    files = [str(path_of(name)) for name in CAPTURES]
    written: list[Path] = []
    for fmt in _formats():
        out = tmp_path / fmt
        assert cli.main(["analyze", *files, "-o", str(out), "--format", fmt]) == 0
        written += [p for p in out.rglob("*") if p.is_file()]
    assert cli.main(["findings", *files, "--format", "jsonl"]) == 0
    assert cli.main(["findings", *files]) == 0
    printed = capsys.readouterr().out
    assert "cleartext_auth" in printed and written
    assert not _leaks(printed, secrets)
    for path in written:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            text = "\n".join(str(v) for col in frame.columns for v in frame[col].tolist())
        else:
            text = path.read_bytes().decode("utf-8", "replace")
        assert not _leaks(text, secrets), path.name


def test_show_secrets_does_reveal_them(tmp_path, capsys, secrets):
    files = [str(path_of("smtp-auth.pcap"))]
    assert cli.main(["analyze", *files, "-o", str(tmp_path), "--format", "csv", "--show-secrets"]) == 0
    assert "wonderland" in (tmp_path / "credentials.csv").read_text()
    assert cli.main(["findings", *files, "--format", "jsonl", "--show-secrets"]) == 0
    assert "password=wonderland" in capsys.readouterr().out
