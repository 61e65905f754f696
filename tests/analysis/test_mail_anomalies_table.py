"""The anomalies table with the mail anomalies added (``mail_tables._with_mail_anomalies``) against
its definition: each message's anomaly copied with the message's session, time and first frame
(``dataclasses.replace``), the anomalies of the mail rows (``extra``) as they are, every row made
by ``frame_from_rows``, then the two tables joined and sorted by time and frame.

On the messages of real captures, with the anomalies the mail rows add in real use
(``date_out_of_range``, ``header_address_limit``) made for some of them, with and without an
anomalies table to add them to.
"""
from __future__ import annotations

import random
from dataclasses import replace

import pandas as pd
import pytest
from corpus import ROOT

import smtpsniff
from smtpsniff.analysis.mail_tables import _anomaly, _with_mail_anomalies, mail_messages
from smtpsniff.analysis.schema import CAT, SCHEMAS
from smtpsniff.analysis.tables import empty_frame, frame_from_rows
from smtpsniff.anomaly import Anomaly, Layer

CAPTURES = ["captures/smtp-sample.pcap", "tests/data/smtp-mime.pcap", "tests/data/smtp-hostile-names.pcap",
            "tests/data/smtp-spoofing.pcap", "tests/data/smtp-smuggling.pcap"]


def definition(anomalies: pd.DataFrame, mail, extra: list[Anomaly]) -> pd.DataFrame:
    found = [replace(a, ts_ns=m.data.ts_ns, frame=m.data.frame, conn_id=m.session_id)
             for m in mail for a in m.parsed.anomalies]
    found.extend(extra)
    if not found:
        return anomalies
    rows = frame_from_rows("anomalies", (
        {"session_id": a.conn_id, "ts": a.ts_ns, "frame": a.frame, "layer": a.layer.value, "kind": a.kind,
         "message": a.message} for a in found))
    merged = pd.concat([anomalies, rows], ignore_index=True) if len(anomalies) else rows
    for column in SCHEMAS["anomalies"]:
        if column.dtype == CAT:
            merged[column.name] = merged[column.name].astype("string").astype("category")
    return merged.sort_values(["ts", "frame"], na_position="last", kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("seed", range(3))
def test_mail_anomalies_added(name, seed):
    cap = smtpsniff.read(ROOT / name, workers=0)
    mail = mail_messages(cap)
    assert mail, name
    rng = random.Random(seed)
    extra = [_anomaly(m, rng.choice(["date_out_of_range", "header_address_limit"]), f"extra {i}")
             for i, m in enumerate(mail) if rng.random() < 0.5]
    extra.append(Anomaly(layer=Layer.MAIL, kind="date_out_of_range", message="no frame", ts_ns=None, frame=None,
                         conn_id=None))
    before = cap.anomalies[cap.anomalies["layer"] != "mail"].reset_index(drop=True)
    for anomalies in (before, empty_frame("anomalies")):
        for chosen, more in ((mail, extra), (mail, []), ((), extra), ((), [])):
            pd.testing.assert_frame_equal(_with_mail_anomalies(anomalies, chosen, more),
                                          definition(anomalies, chosen, more), check_exact=True)
