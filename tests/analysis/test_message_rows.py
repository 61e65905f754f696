"""The values the mail tables take from a message alone (:mod:`smtpsniff.analysis.message_rows`):
made where the message is parsed, in this process or a worker, and joined with the session's own
values by the mail tables.  The oracle is the parse itself, read field by field, and the tables
built from records whose message is replaced by one made to raise each note."""
from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from corpus import ROOT

from smtpsniff.analysis import capture, message_rows, workers
from smtpsniff.analysis.message_rows import PARSED_COLUMNS, parse_row
from smtpsniff.analysis.reading import ReadOptions
from smtpsniff.capture.files import open_capture
from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail import parse_message
from smtpsniff.pipeline import SmtpPipeline

#: To and Cc of three mailboxes each, and a Date after 2262 (no table timestamp holds it).
NOTED = (b"From: Ann <ann@example.test>\r\nTo: a@example.test, b@example.test, c@example.test\r\n"
         b"Cc: d@example.test, e@example.test, f@example.test\r\nDate: Mon, 1 Jan 2300 00:00:00 +0000\r\n"
         b"Subject: noted\r\n\r\nbody\r\n")


def records_with(content: bytes) -> list:
    """The records of a capture with one message, its content replaced by ``content``."""
    with open_capture(ROOT / "tests" / "data" / "smtp-auth.pcap") as reader:
        records = SmtpPipeline().feed_all(reader).sessions
    bundle = next(r for r in records if r.messages)
    data = replace(bundle.messages[0], content=content, size=len(content))
    return [replace(bundle, messages=(data,))]


def test_values_are_the_parse_read_field_by_field():
    row = parse_row(NOTED, DEFAULT_LIMITS, True)
    p = parse_message(NOTED)
    assert row.parsed == p
    values = dict(zip(PARSED_COLUMNS, row.values, strict=True))
    assert values["sha256"] == row.sha256 == hashlib.sha256(NOTED).hexdigest()
    assert values["from"] == "Ann <ann@example.test>" and values["from_addr"] == "ann@example.test"
    assert values["to"] == ["a@example.test", "b@example.test", "c@example.test"]
    assert values["subject"] == p.subject == "noted"
    assert values["date"] is None and values["date_raw"] == p.date_raw
    assert values["part_count"] == len(p.parts) and values["attachment_count"] == 0
    assert row.notes == (("date_out_of_range", "Date 2300-01-01T00:00:00+00:00 is outside the years 1677-2262 "
                                               "a table timestamp can hold; see date_raw"),)


def test_notes_in_order_and_lists_cut():
    limits = replace(DEFAULT_LIMITS, max_header_addresses=2)
    row = parse_row(NOTED, limits, True)
    values = dict(zip(PARSED_COLUMNS, row.values, strict=True))
    assert values["to"] == ["a@example.test", "b@example.test"] and values["cc"] == ["d@example.test", "e@example.test"]
    assert [kind for kind, _ in row.notes] == ["header_address_limit", "header_address_limit", "date_out_of_range"]
    assert row.notes[0][1] == "3 To mailboxes; max_header_addresses=2 kept"
    assert row.notes[1][1] == "3 Cc mailboxes; max_header_addresses=2 kept"


@pytest.mark.parametrize("where", ["here", "worker"])
def test_notes_become_the_messages_anomalies(where):
    """The notes are anomalies of the message's session, at its time and frame, whether the row was
    made here or by a worker."""
    limits = replace(DEFAULT_LIMITS, max_header_addresses=2)
    records = records_with(NOTED)
    if where == "worker":
        pool = workers.Workers(limits, 1, start_after_sessions=0, start_after_messages=1, batch_messages=1)
        with pool:
            pool.add(records[0])
            tables = capture.build_tables(records, options=ReadOptions(limits=limits, parse=pool.parse))
        assert pool.stats.messages_by_workers == 1
    else:
        tables = capture.build_tables(records, options=ReadOptions(limits=limits))
    data, session_id = records[0].messages[0], records[0].session.session_id
    mail = tables["anomalies"][tables["anomalies"]["layer"] == "mail"]
    noted = mail[mail["kind"].isin(["header_address_limit", "date_out_of_range"])]
    assert list(noted["kind"]) == ["header_address_limit", "header_address_limit", "date_out_of_range"]
    assert set(noted["session_id"]) == {session_id} and set(noted["frame"]) == {data.frame}
    message = tables["messages"].iloc[0]
    assert list(message["to"]) == ["a@example.test", "b@example.test"] and message["sha256"] == message_rows.parse_row(
        NOTED, limits, True).sha256
    assert message["session_id"] == session_id and message["size"] == len(NOTED)
