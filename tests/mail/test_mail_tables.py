"""The messages, attachments and headers tables against what the clients really sent.

Oracle: the recorder's sidecars (tests/data/*.json, captures/smtp-sample.json): message bytes and
sha256, envelope, the header values the client wrote, the decoded subject, the MIME structure
(content types in walk order) and the sha256 of every attached file.  Damage comes from a real
capture with a gap inside a BDAT chunk (Zeek's smtp-bdat-gap trace).
"""
from __future__ import annotations

import re

import pytest
from mail_oracles import ROOT, ZEEK, analysed, captures_with_sidecars, mail_of, sent_messages, zeek_capture

import smtpsniff
import smtpsniff.analysis.mail_tables as mail_tables
import smtpsniff.analysis.workers as workers
from smtpsniff.analysis.schema import columns
from smtpsniff.output.extract import extract
from smtpsniff.output.zeek import zeek_rows

_FOLD = re.compile(r"\r\n|\n")


def _in_transaction(cap):
    return cap.messages[cap.messages["mail_from"].notna()].reset_index(drop=True)


@pytest.mark.parametrize("capture", captures_with_sidecars(), ids=lambda p: p.name)
def test_messages_table_matches_the_sidecar(capture):
    cap = analysed(str(capture))
    sent = sent_messages(capture)
    rows = _in_transaction(cap)
    assert len(rows) == len(sent)
    for row, truth in zip(rows.itertuples(index=False), sent):
        row = row._asdict()
        assert row["sha256"] == truth["sha256"] and row["size"] == truth["size"] == len(truth["bytes"])
        assert row["complete"] and row["captured_bytes"] == row["size"] and row["gap_bytes"] == 0
        # the sidecar's own address split is naive about quoted local parts: the MAIL line decides
        assert row["mail_from"] == truth["mail_from"] or f"<{row['mail_from']}>" in truth["mail_line"]
        assert len(row["rcpt_to"]) == len(truth["rcpt_to"])
        assert row["via"] == truth["transfer"]
        if truth.get("subject_decoded") is not None:
            assert row["subject"] == truth["subject_decoded"]
        if truth.get("attachments") is not None:
            assert row["attachment_count"] == len(truth["attachments"])


@pytest.mark.parametrize("capture", captures_with_sidecars(), ids=lambda p: p.name)
def test_headers_and_structure_match_the_sidecar(capture):
    mail = [m for m in mail_of(capture) if m.transaction is not None and m.transaction.mail_from is not None]
    headers = analysed(str(capture)).headers
    for m, truth in zip(mail, sent_messages(capture)):
        mine = headers[(headers["session_id"] == m.session_id) & (headers["message_index"] == m.message_index)
                       & (headers["part"] == "1")]
        by_name = {}  # the sidecar keeps the last field of each name
        for name, raw in zip(mine["name"], mine["raw_value"]):
            by_name[name.lower()] = raw
        for name, value in (truth.get("headers") or {}).items():
            assert by_name[name] == _FOLD.sub("", value), name
        if truth.get("structure"):
            assert [p.content_type for p in m.parsed.parts] == truth["structure"]
        assert list(mine["index"]) == list(range(len(mine)))  # every field, in wire order


@pytest.mark.parametrize("capture", captures_with_sidecars(), ids=lambda p: p.name)
def test_attachments_table_matches_the_files_that_were_attached(capture):
    cap = analysed(str(capture))
    truth = [a for m in sent_messages(capture) for a in m.get("attachments", [])]
    rows = cap.attachments[cap.attachments["trans_index"].notna()]
    assert list(rows["sha256"]) == [a["sha256"] for a in truth]
    assert list(rows["decoded_size"]) == [a["size"] for a in truth]
    assert list(rows["content_type"].astype(str)) == [a["content_type"] for a in truth]
    assert list(rows["filename"]) == [a["filename"] for a in truth]
    assert not rows["truncated"].any()


def test_connection_columns_and_links():
    cap = analysed(str(ROOT / "captures" / "smtp-sample.pcap"))
    for table in ("messages", "attachments", "headers"):
        frame = getattr(cap, table)
        assert list(frame.columns) == columns(table)
        joined = frame.merge(cap.sessions, on="session_id", suffixes=("", "_s"))
        assert len(joined) == len(frame)
        assert (joined["client_port"] == joined["client_port_s"]).all()
    joined = cap.messages.merge(cap.transactions, on=["session_id", "trans_index"], suffixes=("", "_t"))
    assert len(joined) == len(cap.messages)
    assert (joined["size"] == joined["message_size"]).all()


def test_each_message_is_parsed_once(monkeypatch):
    calls = []
    real = mail_tables.parse_message

    def counting(raw, **kwargs):
        calls.append(len(raw))
        return real(raw, **kwargs)

    monkeypatch.setattr(mail_tables, "parse_message", counting)
    monkeypatch.setattr(workers, "parse_message", counting)  # read() parses through Workers.parse
    cap = smtpsniff.read(ROOT / "tests" / "data" / "smtp-mime.pcap")
    mail = mail_tables.mail_messages(cap)
    zeek_rows(cap.records, mail)
    assert len(calls) == len(mail) == len(cap.messages) == 4
    assert [m.parsed.size for m in mail] == list(cap.messages["size"])


def test_empty_capture_keeps_the_columns():
    cap = analysed(str(ROOT / "tests" / "data" / "smtp-starttls.pcap"))  # everything after STARTTLS is TLS
    for table in ("messages", "attachments", "headers"):
        frame = getattr(cap, table)
        assert frame.empty and list(frame.columns) == columns(table)
    assert mail_tables.mail_messages(cap) == ()


def test_mail_anomalies_carry_session_and_frame():
    capture = ROOT / "tests" / "data" / "smtp-hostile-names.pcap"
    cap = analysed(str(capture))
    mail = cap.anomalies[cap.anomalies["layer"] == "mail"]
    assert len(mail) == int(cap.messages["anomalies"].sum()) > 0
    frames = set(cap.messages["frame"])
    assert mail["session_id"].notna().all() and set(mail["frame"]) <= frames
    assert mail["ts"].is_monotonic_increasing or cap.anomalies["ts"].dropna().is_monotonic_increasing


def test_a_gap_inside_bdat_still_reports_the_rest(tmp_path):
    """smtp-bdat-gap: 1000 bytes lost inside a BDAT chunk.  The cut message is listed (incomplete,
    with its gap and a message_incomplete anomaly), and the DATA message after it is whole."""
    case = ZEEK / "smtp_smtp-bdat-gap"
    if not case.is_dir():
        pytest.skip(f"{case} is absent")
    capture = zeek_capture("smtp_smtp-bdat-gap")
    cap = analysed(str(capture))
    first, second = cap.messages.to_dict("records")
    assert (first["via"], first["complete"], first["captured_bytes"]) == ("BDAT", False, 100)
    assert first["gap_bytes"] == 100 and first["anomalies"] >= 1
    kinds = set(cap.anomalies.loc[cap.anomalies["frame"] == first["frame"], "kind"])
    assert "message_incomplete" in kinds
    assert (second["via"], second["complete"]) == ("DATA", True)
    assert second["from_addr"] == "sender@example.com" and list(second["to"]) == ["recipient@example.com"]
    assert second["preview"] == "Hello!"
    summary = extract(mail_of(capture), tmp_path)
    assert summary.messages == 2


def test_body_preview_is_the_first_plain_text_else_the_first_html():
    """body_preview (one pass over the parts) against the rule read literally: the first
    text/plain part that is no attachment and has a preview, else the first such text/html one."""
    import random

    from smtpsniff.mail import MimePart

    def literal(parts):
        for wanted in ("text/plain", "text/html"):
            for part in parts:
                if part.content_type == wanted and not part.is_attachment and part.preview:
                    return part.preview
        return None

    rng = random.Random(2046)
    found = set()
    for case in range(3000):
        parts = [MimePart(path=f"1.{n}", depth=1, parent="1",
                          content_type=rng.choice(["text/plain", "text/html", "image/png"]),
                          is_attachment=rng.random() < 0.3,
                          preview=rng.choice([None, "", f"p{n}", f"q{n}"]))
                 for n in range(rng.randint(0, 5))]
        expected = literal(parts)
        assert mail_tables.body_preview(parts) == expected, parts
        found.add(None if expected is None else expected[0])
    assert found == {None, "p", "q"}
