"""``smtpsniff.read(..., tables=...)``: the tables not asked for are built when first asked for, and
are the tables a read of every table gives; ``smtpsniff analyze`` alone builds only what its
summary shows (the messages parsed for their anomalies, but not the mail tables' rows)."""
from __future__ import annotations

import io
from contextlib import redirect_stdout
from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd
import pytest
from corpus import own_captures

import smtpsniff
from smtpsniff import cli
from smtpsniff.analysis import capture, mail_tables, security_tables, workers
from smtpsniff.analysis.mail_tables import mail_messages
from smtpsniff.analysis.schema import SCHEMAS
from smtpsniff.commands.analyze import SUMMARY_TABLES
from smtpsniff.limits import Limits

MAIL = "smtpsniff.analysis.mail_tables"
SECURITY = "smtpsniff.analysis.security_tables"
#: Captures with messages, credentials and findings (a detector that reads the messages among them).
CAPTURES = [p for p in own_captures() if p.name in {
    "smtp-auth-attacks.pcap", "smtp-spoofing.pcap", "smtp-smuggling.pcap", "smtp-starttls-attacks.pcap",
    "smtp-enumeration.pcap", "smtp-relay.pcap", "smtp-hostile-names.pcap"}]


def assert_same_tables(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert list(left) == list(right)
    for name, frame in left.items():
        pd.testing.assert_frame_equal(frame, right[name], check_exact=True, obj=name)
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.CategoricalDtype):
                assert frame[column].cat.categories.equals(right[name][column].cat.categories), (name, column)


def test_the_chosen_captures_have_credentials_findings_and_messages():
    assert len(CAPTURES) == 7
    tables = [smtpsniff.read(p).tables for p in CAPTURES]
    assert all(len(t["findings"]) for t in tables)
    assert any(len(t["credentials"]) for t in tables) and any(len(t["messages"]) for t in tables)
    assert any(len(t["findings"][t["findings"]["kind"] == "display_name_spoof"]) for t in tables)  # a late detector


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("first", ["findings", "headers", "tables"])
def test_tables_left_for_later_are_the_tables_built_at_once(path, first):
    full = smtpsniff.read(path)
    cap = smtpsniff.read(path, tables=SUMMARY_TABLES)
    left = ("findings", "credentials", "messages", "attachments", "headers")
    assert not any(name in cap.__dict__ for name in left)
    getattr(cap, first)  # the first one asked for builds every one left
    assert all(name in cap.__dict__ for name in left)
    assert_same_tables(cap.tables, full.tables)
    assert cap.findings is cap.tables["findings"] and cap.credentials is cap.tables["credentials"]


@pytest.mark.parametrize("options", [{"show_secrets": True}, {"thresholds": {"auth_bruteforce_min_failures": 1}}],
                         ids=["show_secrets", "thresholds"])
def test_tables_left_for_later_are_built_with_the_read_options(options):
    path = next(p for p in CAPTURES if p.name == "smtp-auth-attacks.pcap")
    full = smtpsniff.read(path, **options)
    assert_same_tables(smtpsniff.read(path, tables=SUMMARY_TABLES, **options).tables, full.tables)
    assert not smtpsniff.read(path).tables["credentials"].equals(full.credentials) \
        or len(smtpsniff.read(path).findings) != len(full.findings)  # the options change them


def test_an_unknown_threshold_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(ValueError, match="unknown threshold 'nope'"):
        smtpsniff.read(tmp_path / "not-even-there.pcap", thresholds={"nope": 1}, tables=["sessions"])


def test_tables_left_for_later_with_worker_processes(monkeypatch):
    """Read through a worker process (its settings turned down, as in test_workers), the tables
    left for later are built in this process, the worker gone: the same tables again."""
    monkeypatch.setattr(workers, "START_AFTER_SESSIONS", 0)
    monkeypatch.setattr(workers, "START_AFTER_MESSAGES", 1)
    monkeypatch.setattr(workers, "BATCH_SESSIONS", 2)
    monkeypatch.setattr(workers, "BATCH_MESSAGES", 2)
    path = next(p for p in CAPTURES if p.name == "smtp-spoofing.pcap")
    full = smtpsniff.read(path, workers=0)
    cap = smtpsniff.read(path, workers=1, tables=["sessions"])
    assert cap.stats.workers == 1 and cap.stats.messages_parsed_by_workers > 0
    assert_same_tables(cap.tables, full.tables)


def test_a_filter_and_the_notebook_view_of_a_capture_with_tables_left_for_later():
    path = next(p for p in CAPTURES if p.name == "smtp-auth-attacks.pcap")
    full = smtpsniff.read(path)
    expression = "smtp.response.code == 535"
    assert_same_tables(smtpsniff.read(path, tables=["sessions"]).filter(expression).tables,
                       full.filter(expression).tables)
    assert smtpsniff.read(path, tables=["sessions"])._repr_html_() == full._repr_html_()
    assert repr(smtpsniff.read(path, tables=["sessions"])) == repr(full)


@pytest.mark.parametrize("wanted, plan", [
    (None, ((MAIL, SECURITY), None, ())),
    ((), ((), MAIL, (SECURITY,))),  # the core tables alone: the mail tables add their anomalies to them
    (("sessions", "anomalies"), ((), MAIL, (SECURITY,))),
    (("headers",), ((MAIL,), None, (SECURITY,))),
    (("credentials",), ((MAIL, SECURITY), None, ())),
    (("findings", "sessions"), ((MAIL, SECURITY), None, ())),
])
def test_providers_for(wanted, plan):
    assert capture.providers_for(wanted) == capture.ProviderPlan(*plan)


@pytest.mark.parametrize("name", ["smtp-features.pcap", "smtp-sample.pcap"])
def test_the_anomalies_of_the_rows_left_for_later_are_in_at_once(name):
    """The messages table's limits give anomalies as its rows are made; left for later, they are
    found without the rows, and are the same."""
    path = next(p for p in own_captures() if p.name == name)
    limits = Limits(max_header_addresses=1)
    full = smtpsniff.read(path, limits=limits)
    assert (full.anomalies["kind"] == "header_address_limit").any()
    cap = smtpsniff.read(path, limits=limits, tables=SUMMARY_TABLES)
    assert "messages" not in cap.__dict__ and mail_messages(cap)  # parsed, the rows not made
    pd.testing.assert_frame_equal(cap.anomalies, full.anomalies, check_exact=True)
    assert "messages" not in cap.__dict__
    assert_same_tables(cap.tables, full.tables)


def test_the_anomalies_of_the_rows_are_found_without_them():
    """``_limit_anomalies`` gives what ``_message_rows`` adds, in its order: To and Cc past the
    limit, and Dates outside what a table timestamp holds (some pushed there)."""
    messages = [m for p in CAPTURES + own_captures()[:8] for m in mail_messages(smtpsniff.read(p))]
    far = [datetime(1500, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)]
    messages += [replace(m, parsed=replace(m.parsed, date=far[i % 2])) for i, m in enumerate(messages[::3])]
    messages += [replace(m, parsed=replace(m.parsed, cc=m.parsed.to * 2)) for m in messages[::5] if m.parsed.to]
    for limits in (Limits(), Limits(max_header_addresses=1), Limits(max_header_addresses=0)):
        extra: list = []
        mail_tables._message_rows(messages, limits, extra)
        assert mail_tables._limit_anomalies(messages, limits) == extra
        assert {a.kind for a in extra} >= ({"date_out_of_range", "header_address_limit"}
                                           if limits.max_header_addresses < 2 else {"date_out_of_range"})
        assert any(a.message.endswith(f"Cc mailboxes; max_header_addresses={limits.max_header_addresses} kept")
                   for a in extra) == (limits.max_header_addresses < 2)


def test_every_table_is_built_by_one_step():
    """The core tables and the providers' own tables are the schemas' tables; a provider adds rows
    to no table but the core ``anomalies``."""
    from importlib import import_module

    provided = [t for module in capture.TABLE_PROVIDERS for t in import_module(module).TABLES]
    assert set(capture.TABLES) | set(provided) == set(SCHEMAS)
    assert [t for t in provided if t in capture.TABLES] == ["anomalies"]
    assert len(set(provided)) == len(provided)


def test_an_unknown_table_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(ValueError, match="no such table: nope .*sessions"):
        smtpsniff.read(tmp_path / "not-even-there.pcap", tables=["sessions", "nope"])


def test_an_unknown_attribute_is_still_an_attribute_error():
    cap = smtpsniff.read(CAPTURES[0], tables=["sessions"])
    with pytest.raises(AttributeError, match="no attribute 'findngs'"):
        cap.findngs  # noqa: B018
    assert not hasattr(cap, "_deferred_x")
    assert "findings" not in cap.__dict__  # a failed look-up builds nothing


def test_analyze_alone_builds_no_credentials_findings_or_mail_rows(monkeypatch):
    """The summary shows none of them; with -o, a filter or charts every table is built with the rest."""
    built = []
    build, rows = security_tables.build, mail_tables._message_rows
    monkeypatch.setattr(security_tables, "build", lambda *a, **k: built.append(1) or build(*a, **k))
    monkeypatch.setattr(mail_tables, "_message_rows", lambda *a, **k: built.append(2) or rows(*a, **k))
    path = str(next(p for p in CAPTURES if p.name == "smtp-spoofing.pcap"))  # fewer than 256 messages
    summaries = []
    for extra in ([], ["-Y", "smtp.response.code >= 0"]):
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli.main(["analyze", path, *extra]) == 0
        summaries.append(out.getvalue().split("filter smtp.response.code")[0])
        assert built == ([] if not extra else [2, 1])  # (with the filter: the rows of one chunk, the findings)
    assert summaries[0] == summaries[1]
