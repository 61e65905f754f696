"""A session's ``anomalies`` count is the number of anomaly rows that name it, whatever their layer."""
from __future__ import annotations

import pytest

import smtpsniff
from corpus import SHARED, capture_params, own_captures

HEADER_FLOOD = SHARED / "zeek" / "smtp_mime-header-size-limit" / "mime-header-size-limit.pcap"


def _check(cap) -> None:
    counted = cap.anomalies["session_id"].dropna().value_counts()
    for sid, n in zip(cap.sessions["session_id"], cap.sessions["anomalies"]):
        assert n == counted.get(sid, 0), sid


@pytest.mark.parametrize("path", capture_params(own_captures()))
def test_session_anomaly_counts_match_the_anomalies_table(path):
    _check(smtpsniff.read(path))


def test_mail_anomalies_count_for_their_session():
    if not HEADER_FLOOD.exists():
        pytest.skip(f"{HEADER_FLOOD} is absent")
    cap = smtpsniff.read(HEADER_FLOOD)
    mail = cap.anomalies[cap.anomalies["layer"] == "mail"]
    assert len(mail) and set(mail["session_id"]) <= set(cap.sessions["session_id"])
    _check(cap)
