"""Thresholds of 0 (allowed: only negative values are refused) never stop an analysis: the
group detectors report only groups with something to show, as they do with the defaults."""
from __future__ import annotations

import pytest
from corpus import ROOT

import smtpsniff
from smtpsniff.findings import thresholds

CAPTURES = ["tests/data/smtp-basic.pcap", "tests/data/smtp-auth-attacks.pcap", "tests/data/smtp-enumeration.pcap",
            "tests/data/smtp-relay.pcap", "captures/smtp-sample.pcap"]


@pytest.mark.parametrize("name", CAPTURES)
def test_every_threshold_zero(name):
    zero = smtpsniff.read(ROOT / name, thresholds={t: 0 for t in thresholds()})
    default = smtpsniff.read(ROOT / name)
    for kind in ("user_enumeration", "auth_bruteforce", "password_spraying"):
        found = zero.findings[zero.findings["kind"] == kind]
        assert all(len(frames) > 0 for frames in found["frames"])
        # every group the defaults report is reported with 0 as well (maybe with more in it), and others
        assert len(found) >= (default.findings["kind"] == kind).sum()
