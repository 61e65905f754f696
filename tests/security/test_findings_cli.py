"""``smtpsniff findings``: JSON lines, the table, --fail-on exit codes, --min-severity, --threshold."""
from __future__ import annotations

import json

import pytest

from smtpsniff import cli
from smtpsniff.commands.common import EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE

from security_common import path_of, read


def _run(capsys, *args):
    code = cli.main(["findings", *map(str, args)])
    return code, capsys.readouterr()


def test_jsonl_is_one_object_per_finding(capsys):
    code, out = _run(capsys, path_of("smtp-auth-attacks.pcap"), "--format", "jsonl")
    rows = [json.loads(line) for line in out.out.splitlines()]
    assert code == EXIT_OK and len(rows) == len(read("smtp-auth-attacks.pcap").findings)
    brute = next(r for r in rows if r["kind"] == "auth_bruteforce")
    assert brute["severity"] == "critical" and brute["capture"] == "smtp-auth-attacks.pcap"
    assert brute["client"].startswith("127.0.0.3:") and brute["server"] == "127.0.0.25:587"
    assert len(brute["sessions"]) == 7 and brute["frame"] == brute["frames"][0] and brute["ts"].endswith("+00:00")


@pytest.mark.parametrize("name,fail_on,expected", [
    ("smtp-auth.pcap", "high", EXIT_FINDINGS), ("smtp-auth.pcap", "critical", EXIT_OK),
    ("smtp-auth-attacks.pcap", "critical", EXIT_FINDINGS), ("smtp-implicit-tls.pcap", "info", EXIT_OK),
    ("smtp-basic.pcap", "info", EXIT_FINDINGS), ("smtp-basic.pcap", "low", EXIT_OK)])
def test_fail_on(capsys, name, fail_on, expected):
    assert _run(capsys, path_of(name), "--format", "jsonl", "--fail-on", fail_on)[0] == expected


def test_min_severity_and_thresholds(capsys):
    _, out = _run(capsys, path_of("smtp-auth-attacks.pcap"), "--format", "jsonl", "--min-severity", "critical")
    assert [json.loads(line)["kind"] for line in out.out.splitlines()] == ["auth_bruteforce"]
    _, out = _run(capsys, path_of("smtp-auth-attacks.pcap"), "--format", "jsonl", "--threshold", "spraying_min_users=7")
    assert "password_spraying" not in out.out and "auth_bruteforce" in out.out


def test_bad_options_and_files(capsys, tmp_path):
    code, out = _run(capsys, path_of("smtp-basic.pcap"), "--threshold", "no_such=3")
    assert code == EXIT_UNUSABLE and "unknown threshold" in out.err
    with pytest.raises(SystemExit) as exc:
        cli.main(["findings", str(path_of("smtp-basic.pcap")), "--threshold", "spraying_min_users"])
    assert exc.value.code == 2
    bad = tmp_path / "not-a-capture.pcap"
    bad.write_bytes(b"hello")
    code, out = _run(capsys, bad)
    assert code == EXIT_UNUSABLE


def test_table_escapes_capture_bytes(capsys):
    code, out = _run(capsys, path_of("smtp-command-injection.pcap"))
    assert code == EXIT_OK and "command_injection" in out.out and "findings:" in out.out
    assert "\x00" not in out.out and "\\x00" in out.out and "\r" not in out.out.replace("\r\n", "\n")


def test_no_findings(capsys):
    code, out = _run(capsys, path_of("smtp-implicit-tls.pcap"))
    assert code == EXIT_OK and out.out.strip() == "no findings"
