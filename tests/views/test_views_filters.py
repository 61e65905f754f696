"""Display filters: the rows a Wireshark field filter keeps are the frames tshark keeps with the
same filter; connection filters keep tshark's tcp.stream set; bad or hostile expressions are a
one-line error (exit 2 on the command line), never evaluated."""
from __future__ import annotations

import subprocess

import pytest

from views_common import FEATURES, SAMPLE, read
from corpus import needs_tshark
from smtpsniff.analysis.filters import FilterError, apply_filter, compile_filter
from smtpsniff.cli import main

# (filter, the same filter for tshark).  Our verbs are upper-cased (RFC 5321 2.4: verbs are
# case-insensitive); smtplib sends lower-case ones, so tshark is asked case-insensitively.
FIELD_FILTERS = [
    ("smtp.response.code == 550", "smtp.response.code == 550"),
    ("smtp.response.code >= 400 && smtp.response.code < 500", "smtp.response.code >= 400 && smtp.response.code < 500"),
    ("smtp.response.code in {221 354}", "smtp.response.code in {221, 354}"),  # single-line replies: one frame each
    ("smtp.response.code in {221, 235}", "smtp.response.code in {221, 235}"),
    ('smtp.req.command == "VRFY"', 'upper(smtp.req.command) == "VRFY"'),
    ('smtp.req.command == "RCPT"', 'upper(smtp.req.command) == "RCPT"'),
    ('smtp.req.parameter contains "alice"', 'smtp.req.parameter contains "alice"'),
    ('smtp.rsp.parameter contains "Recipient address rejected"',
     'smtp.rsp.parameter contains "Recipient address rejected"'),
    # "matches" is a case-insensitive regular expression in Wireshark; "contains" is exact
    ('smtp.rsp.parameter matches "user UNKNOWN( in virtual)?"',
     'smtp.rsp.parameter matches "user UNKNOWN( in virtual)?"'),
    ('smtp.rsp.parameter ~ "^5.1.1 <(root|nobody@example.test)>"',
     'smtp.rsp.parameter ~ "^5.1.1 <(root|nobody@example.test)>"'),
]


def _tshark_frames(path, display_filter: str, extra: list[str] = ()) -> set[int]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), *extra, "-Y", display_filter, "-T", "fields",
                          "-e", "frame.number"], capture_output=True, text=True, check=True, timeout=120)
    return {int(x) for x in out.stdout.split()}


@needs_tshark
@pytest.mark.parametrize("ours,theirs", FIELD_FILTERS, ids=[f for f, _ in FIELD_FILTERS])
@pytest.mark.parametrize("path", [SAMPLE, FEATURES], ids=lambda p: p.name)
def test_field_filters_keep_the_frames_tshark_keeps(path, ours, theirs):
    cap = read(path)
    extra = ["-d", "tcp.port==2525,smtp"]
    result = apply_filter(cap.tables, ours)
    assert result.filter.table in ("commands", "replies")
    got = set(result.rows["frame"].astype(int))
    # A command or reply carried by a segment that also carries others is in both sets; tshark
    # marks the frame, we mark the row: compare frames.
    assert got == _tshark_frames(path, theirs, extra)
    assert got, "the filter should match something in these captures"


@needs_tshark
@pytest.mark.parametrize("ours,theirs", [
    ("tcp.port == 587", "tcp.port == 587"),
    ("tcp.port != 25", "tcp.port != 25"),
    ("ip.addr == 127.0.0.1 and tcp.port in {587}", "ip.addr == 127.0.0.1 and tcp.port in {587}"),
    ("tcp.stream == 3 || tcp.stream == 5", "tcp.stream == 3 || tcp.stream == 5"),
])
def test_connection_filters_keep_the_sessions_tshark_keeps(ours, theirs):
    cap = read(SAMPLE)
    result = apply_filter(cap.tables, ours)
    assert result.filter.table == "sessions"
    out = subprocess.run(["tshark", "-n", "-r", str(SAMPLE), "-Y", f"({theirs}) && tcp.len > 0", "-T", "fields",
                          "-e", "tcp.stream"], capture_output=True, text=True, check=True, timeout=120)
    assert result.session_ids == {int(x) for x in out.stdout.split()}


def test_mixed_command_and_response_fields_run_on_the_commands():
    cap = read(FEATURES)
    result = apply_filter(cap.tables, 'smtp.req.command == "RCPT" and smtp.response.code == 550')
    assert result.filter.table == "commands"
    c = cap.commands
    expected = c[(c["verb"] == "RCPT") & (c["reply_code"] == 550)]
    assert list(result.rows["frame"]) == list(expected["frame"]) and len(expected) > 0


def test_plain_columns_and_other_tables():
    cap = read(SAMPLE)
    result = apply_filter(cap.tables, 'status == "rejected"')
    assert result.filter.table == "transactions"
    assert result.session_ids == set(cap.transactions.loc[cap.transactions["status"] == "rejected", "session_id"])
    result = apply_filter(cap.tables, 'imf.subject contains "report"')
    assert result.filter.table == "messages"
    assert list(result.rows["subject"]) == ["Weekly sales report (week 22)"]
    result = apply_filter(cap.tables, 'helo.str.startswith("laptop")')
    assert result.session_ids == {3, 4}


def test_filter_keeps_matching_rows_and_whole_sessions():
    cap = read(SAMPLE)
    cut = cap.filter("smtp.response.code == 535")
    assert list(cut.replies["code"]) == [535]  # the filter's own table: matching rows
    assert set(cut.sessions["session_id"]) == {3}
    assert len(cut.commands) == len(cap.commands[cap.commands["session_id"] == 3])  # others: whole sessions
    assert [r.session.session_id for r in cut.records] == [3]


@pytest.mark.parametrize("expr,says", [
    ("smtp.foo == 1", "unknown field"),
    ("smtp.response.code = 550", "use =="),
    ("@cap", "cannot read"),
    ("verb.__class__", "__"),
    ("__import__('os').system('id')", "__"),
    ("argument.str.__len__()", "__"),
    ("argument.upper()", "not allowed"),
    ("ip.addr", "must be compared"),
    ("verb == 'MAIL'; import os", "cannot read"),
    ('smtp.req.command == "MAIL" and imf.subject == "x"', "no single table"),
    ("", "empty"),
    ('smtp.response.code == "a" +', "cannot be evaluated"),
])
def test_bad_filters_are_one_line_errors(expr, says):
    cap = read(SAMPLE)
    with pytest.raises(FilterError) as info:
        apply_filter(cap.tables, expr)
    assert says in str(info.value)
    assert "\n" not in str(info.value)


def test_no_python_reaches_the_query():
    cap = read(SAMPLE)
    compiled = compile_filter('smtp.req.parameter contains "x" || ip.src == 10.0.0.1', cap.tables)
    assert "@" not in compiled.query and "__" not in compiled.query
    assert compiled.query == ('argument.astype(\'string\').str.contains("x", regex=False, na=False) '
                              'or client_ip == "10.0.0.1"')


@pytest.mark.parametrize("command", [["analyze"], ["report", "-o", "/dev/null"], ["show"]])
def test_cli_bad_filter_exits_2_with_one_line(capsys, command):
    code = main([command[0], str(SAMPLE), *command[1:], "--filter", "smtp.nope == 1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "unknown field 'smtp.nope'" in err


def test_cli_analyze_filter_says_what_it_kept(tmp_path, capsys):
    assert main(["analyze", str(SAMPLE), "-Y", "smtp.response.code == 550", "-o", str(tmp_path)]) == 0
    assert "5 rows of the replies table, 3 sessions" in capsys.readouterr().out
    replies = (tmp_path / "replies.csv").read_text().splitlines()
    assert len(replies) == 1 + 5
    sessions = (tmp_path / "sessions.csv").read_text().splitlines()
    assert len(sessions) == 1 + 3
