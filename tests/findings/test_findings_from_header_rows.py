"""The From detectors read the mail tables' header rows: a row that belongs to no transaction
(trans_index missing, as in a table filtered or built by hand) is passed over, never a crash."""
from __future__ import annotations

import pandas as pd
from corpus import ROOT

import smtpsniff
from smtpsniff.findings.context import DetectionContext
from smtpsniff.findings.headers import _from_tables


def test_header_row_without_transaction_is_passed_over():
    cap = smtpsniff.read(ROOT / "captures/smtp-sample.pcap")
    headers = cap.headers
    from_rows = headers[(headers["part"] == "1") & (headers["name"].str.lower() == "from")]
    assert len(from_rows), "the sample capture has From headers"
    stray = from_rows.iloc[:1].copy()
    stray["trans_index"] = pd.array([pd.NA], dtype=headers["trans_index"].dtype)
    stray["value"] = "Intruder <intruder@elsewhere.test>"
    tables = {"messages": cap.messages, "headers": pd.concat([headers, stray], ignore_index=True)}
    expected = _from_tables(DetectionContext(records=cap.records, credentials=[],
                                             tables={"messages": cap.messages, "headers": headers}))
    got = _from_tables(DetectionContext(records=cap.records, credentials=[], tables=tables))
    assert got == expected
    assert all("intruder@elsewhere.test" not in str(f) for f in got.values())
