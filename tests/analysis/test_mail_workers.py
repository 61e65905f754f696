"""Messages parsed in worker processes (``smtpsniff.analysis.mail_workers``) give the same tables.

Every test here starts real ``python -m smtpsniff.mail.worker`` processes; the worker settings are
turned down (a worker from the first message, batches of two) so that the small captures of
``tests/data`` go through them.  The oracle is ``smtpsniff.read(..., mail_workers=0)``, which
parses every message in the reading process.
"""
from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace

import pandas as pd
import pytest
from corpus import ROOT, own_captures

import smtpsniff
from smtpsniff.analysis import mail_workers
from smtpsniff.analysis.mail_tables import mail_messages
from smtpsniff.capture.files import open_capture
from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail import parse_message
from smtpsniff.pipeline import SmtpPipeline

#: Captures with several messages, damaged and hostile ones among them.
WITH_MAIL = [p for p in own_captures() if p.name in {
    "smtp-mime.pcap", "smtp-smuggling.pcap", "smtp-hostile-names.pcap", "smtp-bdat.pcap", "smtp-spoofing.pcap",
    "smtp-utf8.pcap", "smtp-auth.pcap"}]


@pytest.fixture
def eager_workers(monkeypatch):
    """Workers from the first message on, two messages a batch."""
    monkeypatch.setattr(mail_workers, "START_AFTER_MESSAGES", 1)
    monkeypatch.setattr(mail_workers, "BATCH_MESSAGES", 2)


def assert_same_capture(a, b) -> None:
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True, obj=name)
    left, right = mail_messages(a), mail_messages(b)
    assert [m.parsed for m in left] == [m.parsed for m in right]
    assert [m.sha256 for m in left] == [m.sha256 for m in right]


def test_the_chosen_captures_carry_mail():
    assert len(WITH_MAIL) == 7
    assert all(len(smtpsniff.read(p, mail_workers=0).messages) >= 2 for p in WITH_MAIL)


@pytest.mark.parametrize("capture", own_captures(), ids=lambda p: p.name)
def test_workers_give_the_same_tables(capture, eager_workers):
    here = smtpsniff.read(capture, mail_workers=0)
    there = smtpsniff.read(capture, mail_workers=1)
    assert_same_capture(here, there)
    assert here.stats.mail_workers == 0
    if len(here.messages) >= 2:  # a batch closed: the worker started, and answered at least it
        assert there.stats.mail_workers == 1 and there.stats.messages_parsed_by_workers >= 2
        assert there.stats.mail_workers_lost == 0


def test_two_workers(eager_workers):
    capture = ROOT / "tests" / "data" / "smtp-smuggling.pcap"
    there = smtpsniff.read(capture, mail_workers=2)
    assert_same_capture(smtpsniff.read(capture, mail_workers=0), there)
    assert there.stats.mail_workers == 2 and there.stats.messages_parsed_by_workers >= 4


def test_several_files_at_once(eager_workers):
    files = WITH_MAIL[:3]
    assert_same_capture(smtpsniff.read(*files, mail_workers=0), smtpsniff.read(*files, mail_workers=1))


def test_small_captures_start_no_worker():
    cap = smtpsniff.read(ROOT / "tests" / "data" / "smtp-mime.pcap")
    assert len(cap.messages) < mail_workers.START_AFTER_MESSAGES
    assert cap.stats.mail_workers == 0 and cap.stats.messages_parsed_by_workers == 0


def records_of(path):
    """The session records of a capture, and a pool fed as each session closes."""
    out = []
    with open_capture(path) as reader:
        SmtpPipeline(DEFAULT_LIMITS, on_session=out.append).feed_all(reader)
    return out


def messages_of(records):
    return [data for r in records for data in r.messages]


def test_a_worker_killed_before_answering_loses_nothing():
    records = [r for p in WITH_MAIL for r in records_of(p)]
    with mail_workers.MailWorkers(DEFAULT_LIMITS, 1, start_after=1, batch_messages=1) as pool:
        pool.add(records[0])
        pool.add(records[1])
        pids = pool.worker_pids()
        assert len(pids) == 1
        os.kill(pids[0], signal.SIGKILL)  # still starting: it has answered nothing
        for r in records[2:]:
            pool.add(r)
        parsed = [pool.parse(data) for data in messages_of(records)]
    assert parsed == [parse_message(d.content, complete=d.complete) for d in messages_of(records)]
    assert pool.stats.workers_lost == 1
    assert pool.stats.messages_here == len(parsed) and pool.stats.messages_by_workers == 0


def test_a_worker_that_exits_at_once():
    records = [r for p in WITH_MAIL for r in records_of(p)]
    with mail_workers.MailWorkers(DEFAULT_LIMITS, 1, start_after=1, batch_messages=1,
                                  command=[sys.executable, "-c", "pass"]) as pool:
        for r in records:
            pool.add(r)
        parsed = [pool.parse(data) for data in messages_of(records)]
    assert parsed == [parse_message(d.content, complete=d.complete) for d in messages_of(records)]
    assert pool.stats.workers == 1 and pool.stats.workers_lost == 1
    assert pool.stats.messages_here == len(parsed)


def test_a_worker_that_cannot_be_started(tmp_path):
    records = records_of(WITH_MAIL[0])
    with mail_workers.MailWorkers(DEFAULT_LIMITS, 1, start_after=1, batch_messages=1,
                                  command=[str(tmp_path / "no-such-program")]) as pool:
        for r in records:
            pool.add(r)
        parsed = [pool.parse(data) for data in messages_of(records)]
    assert parsed == [parse_message(d.content, complete=d.complete) for d in messages_of(records)]
    assert pool.stats.workers == 0


def test_answers_bigger_than_a_pipe(eager_workers):
    """Messages of megabytes: requests and answers written and read in many pieces."""
    big = (b"From: a@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           + b"".join(b"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
                      b"filename=f%d.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n" % n
                      + (b"QUJDRA==" * 9 + b"\r\n") * 12000 for n in range(3)) + b"--b--\r\n")
    records = records_of(WITH_MAIL[0])
    data = messages_of(records)[0]
    bundles = [replace(records[0], messages=(replace(data, content=big + bytes([n])),)) for n in range(6)]
    with mail_workers.MailWorkers(DEFAULT_LIMITS, 1, start_after=1, batch_messages=1) as pool:
        for bundle in bundles:
            pool.add(bundle)
        parsed = [pool.parse(b.messages[0]) for b in bundles]
    assert len(big) > 2 * mail_workers.PIPE_BYTES
    assert parsed == [parse_message(b.messages[0].content) for b in bundles]
    assert pool.stats.messages_by_workers >= 1


def test_cli_option(eager_workers, tmp_path, capsys):
    from smtpsniff.cli import main

    capture = str(ROOT / "tests" / "data" / "smtp-smuggling.pcap")
    outputs = []
    for n in ("0", "1"):
        assert main(["analyze", "--mail-workers", n, "-o", str(tmp_path / n), "--format", "json", capture]) == 0
        outputs.append({p.name: p.read_bytes() for p in (tmp_path / n).iterdir()})
    assert outputs[0] == outputs[1] and "messages.jsonl" in outputs[0]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["analyze", "--mail-workers", "-1", capture])
    assert stop.value.code == 2 and "not a number of processes" in capsys.readouterr().err


def test_workers_ignore_the_current_directory(eager_workers, tmp_path, monkeypatch):
    """A module in the current directory named as a standard one does not reach the workers."""
    (tmp_path / "email.py").write_text("raise ImportError('the current directory was on the path')\n")
    monkeypatch.chdir(tmp_path)
    capture = ROOT / "tests" / "data" / "smtp-smuggling.pcap"
    there = smtpsniff.read(capture, mail_workers=1)
    assert there.stats.mail_workers == 1 and there.stats.mail_workers_lost == 0
    assert there.stats.messages_parsed_by_workers >= 2
