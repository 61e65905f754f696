"""The detector registry: kinds, thresholds, severities, one test file per detector."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import smtpsniff
from smtpsniff.findings import DETECTORS, Severity, check_thresholds, detector_modules, kinds, thresholds

ISSUE_KINDS = {
    "cleartext_auth", "auth_before_starttls", "starttls_not_used", "no_tls", "starttls_stripping",
    "starttls_command_injection", "starttls_response_injection", "smtp_smuggling", "early_talker",
    "user_enumeration", "auth_bruteforce", "password_spraying", "open_relay_attempt", "open_relay_accepted",
    "sender_mismatch", "multiple_from", "display_name_spoof", "command_injection"}


def test_kinds_are_stable_snake_case_and_unique():
    all_kinds = kinds()
    assert len(all_kinds) == len(set(all_kinds))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", k) for k in all_kinds)
    assert set(all_kinds) == ISSUE_KINDS | {"helo_mismatch"}


def test_every_detector_has_a_docstring_and_its_own_test_file():
    here = Path(__file__).parent
    tested = {p.stem.removeprefix("test_findings_") for p in here.glob("test_findings_*.py")}
    for name, module in zip(DETECTORS, detector_modules()):
        assert module.__doc__ and callable(module.detect)
        assert name in tested or (name == "starttls_injection" and "starttls_injection" in tested) \
            or (name == "open_relay" and "open_relay" in tested), name


def test_thresholds_named_with_defaults():
    known = thresholds()
    assert known["auth_bruteforce_min_failures"].default == 5
    assert known["spraying_min_users"].default == 5
    assert known["enumeration_min_vrfy"].default == 5
    assert all(t.doc for t in known.values())
    with pytest.raises(ValueError, match="unknown threshold"):
        check_thresholds({"no_such_threshold": 1})
    with pytest.raises(ValueError, match="negative"):
        check_thresholds({"spraying_min_users": -1})


def test_read_rejects_unknown_thresholds():
    with pytest.raises(ValueError, match="unknown threshold"):
        smtpsniff.read(Path(__file__).parents[1] / "data" / "smtp-basic.pcap", thresholds={"bogus": 3})


def test_severity_order():
    assert [s.rank for s in Severity] == [0, 1, 2, 3, 4]
    assert Severity.parse(" HIGH ") is Severity.HIGH
    with pytest.raises(ValueError):
        Severity.parse("urgent")


def test_empty_capture_gives_empty_tables_with_columns():
    from smtpsniff.analysis.schema import columns
    cap = smtpsniff.read(Path(__file__).parents[1] / "data" / "smtp-implicit-tls.pcap")
    assert cap.credentials.empty and list(cap.credentials.columns) == columns("credentials")
    assert list(cap.findings.columns) == columns("findings")
