"""Sessions decoded and messages parsed in worker processes (``smtpsniff.analysis.workers``) give
the same tables.

Every test here starts real worker processes (``smtpsniff.worker``); the settings are turned down
(workers from the first session and message, batches of two) so that the small captures of
``tests/data`` go through them.  The oracle is ``smtpsniff.read(..., workers=0)``, which does
everything in the reading process.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import replace

import pandas as pd
import pytest
from corpus import ROOT, own_captures

import smtpsniff
from smtpsniff.analysis import reading, workers
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
    """Workers from the first session and message on, two of each a batch."""
    monkeypatch.setattr(workers, "START_AFTER_SESSIONS", 0)
    monkeypatch.setattr(workers, "START_AFTER_MESSAGES", 1)
    monkeypatch.setattr(workers, "BATCH_SESSIONS", 2)
    monkeypatch.setattr(workers, "BATCH_MESSAGES", 2)


def assert_same_capture(a, b) -> None:
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True, obj=name)
    left, right = mail_messages(a), mail_messages(b)
    assert [m.parsed for m in left] == [m.parsed for m in right]
    assert [m.sha256 for m in left] == [m.sha256 for m in right]


def test_the_chosen_captures_carry_mail():
    assert len(WITH_MAIL) == 7
    assert all(len(smtpsniff.read(p, workers=0).messages) >= 2 for p in WITH_MAIL)


@pytest.mark.parametrize("capture", own_captures(), ids=lambda p: p.name)
def test_workers_give_the_same_tables(capture, eager_workers):
    here = smtpsniff.read(capture, workers=0)
    there = smtpsniff.read(capture, workers=1)
    assert_same_capture(here, there)
    assert here.stats.workers == 0 and here.stats.sessions_decoded_by_workers == 0
    if len(here.sessions):  # every session recorded: the worker started and took some
        assert there.stats.workers == 1 and there.stats.workers_lost == 0
        assert there.stats.sessions_decoded_by_workers >= 1


def test_two_workers(eager_workers):
    capture = ROOT / "tests" / "data" / "smtp-smuggling.pcap"
    there = smtpsniff.read(capture, workers=2)
    assert_same_capture(smtpsniff.read(capture, workers=0), there)
    assert there.stats.workers == 2 and there.stats.sessions_decoded_by_workers >= 2


def test_several_files_at_once(eager_workers):
    files = WITH_MAIL[:3]
    assert_same_capture(smtpsniff.read(*files, workers=0), smtpsniff.read(*files, workers=1))


def test_small_captures_start_no_worker():
    cap = smtpsniff.read(ROOT / "tests" / "data" / "smtp-mime.pcap")
    assert len(cap.messages) < workers.START_AFTER_MESSAGES and len(cap.sessions) < workers.START_AFTER_SESSIONS
    assert cap.stats.workers == 0 and cap.stats.messages_parsed_by_workers == 0


@pytest.mark.parametrize("at_once", [True, False], ids=["at-the-size", "one-byte-short"])
def test_large_files_start_the_workers_before_their_first_session(monkeypatch, at_once):
    """Files that add up to START_AT_ONCE_BYTES start the workers before the first session, which
    they then decode, every one; one byte short, a small capture starts none."""
    capture = ROOT / "tests" / "data" / "smtp-smuggling.pcap"
    size = capture.stat().st_size
    monkeypatch.setattr(reading, "START_AT_ONCE_BYTES", size if at_once else size + 1)
    there = smtpsniff.read(capture, workers=1)
    assert_same_capture(smtpsniff.read(capture, workers=0), there)
    assert len(there.sessions) >= 2
    if at_once:
        assert there.stats.workers == 1
        assert there.stats.sessions_decoded_by_workers == len(there.sessions)
    else:
        assert there.stats.workers == 0 and there.stats.sessions_decoded_by_workers == 0


def records_of(path, pool=None, *, kill_when_started=False):
    """The session records of a capture, sorted by session: decoded here, or through ``pool``
    (its worker killed as soon as it has started, when asked)."""
    out = []
    on_session = out.append if pool is None else (lambda r: (out.append(r), pool.add(r)))
    pipeline = SmtpPipeline(DEFAULT_LIMITS, on_session=on_session, offload=pool)
    with open_capture(path) as reader:
        for frame in reader:
            pipeline.feed(frame)
            if kill_when_started and pool.worker_pids():
                os.kill(pool.worker_pids()[0], signal.SIGKILL)  # still starting: it has answered nothing
                kill_when_started = False
        pipeline.finish()
    return sorted(out, key=lambda r: r.session.session_id)


def messages_of(records):
    return [data for r in records for data in r.messages]


def eager_pool(**kwargs):
    return workers.Workers(DEFAULT_LIMITS, 1, start_after_sessions=0, start_after_messages=1, batch_sessions=1,
                           batch_messages=1, **kwargs)


def assert_same_work(pool, records, expected):
    assert records == expected
    parsed = [pool.parse(data) for data in messages_of(records)]
    assert parsed == [parse_message(d.content, complete=d.complete) for d in messages_of(records)]


@pytest.mark.parametrize("capture", WITH_MAIL[:3], ids=lambda p: p.name)
def test_a_worker_killed_before_answering_loses_nothing(capture):
    expected = records_of(capture)
    with eager_pool() as pool:
        records = records_of(capture, pool, kill_when_started=True)
        assert_same_work(pool, records, expected)
    assert pool.stats.workers == 1 and pool.stats.workers_lost == 1
    # What was handed to it was decoded here; the sessions that opened after it was found gone
    # were never recorded.
    assert pool.stats.sessions_by_workers == 0 and pool.stats.sessions_here >= 1


def test_a_worker_that_exits_at_once():
    capture = WITH_MAIL[0]
    with eager_pool(command=[sys.executable, "-c", "pass"]) as pool:
        assert_same_work(pool, records_of(capture, pool), records_of(capture))
    assert pool.stats.workers == 1 and pool.stats.workers_lost == 1
    assert pool.stats.sessions_by_workers == 0 and pool.stats.messages_by_workers == 0


def test_a_silent_worker_is_stopped():
    capture = WITH_MAIL[0]
    with eager_pool(command=[sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=0.5) as pool:
        assert_same_work(pool, records_of(capture, pool), records_of(capture))
    assert pool.stats.workers == 1 and pool.stats.workers_lost == 1


def test_a_worker_that_cannot_be_started(tmp_path):
    capture = WITH_MAIL[0]
    with eager_pool(command=[str(tmp_path / "no-such-program")]) as pool:
        assert_same_work(pool, records_of(capture, pool), records_of(capture))
    assert pool.stats.workers == 0 and pool.stats.messages_here == len(messages_of(records_of(capture)))


def test_answers_bigger_than_a_pipe(eager_workers):
    """Messages of megabytes: requests and answers written and read in many pieces."""
    big = (b"From: a@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           + b"".join(b"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
                      b"filename=f%d.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n" % n
                      + (b"QUJDRA==" * 9 + b"\r\n") * 12000 for n in range(3)) + b"--b--\r\n")
    records = records_of(WITH_MAIL[0])
    data = messages_of(records)[0]
    bundles = [replace(records[0], messages=(replace(data, content=big + bytes([n])),)) for n in range(6)]
    with eager_pool() as pool:
        for bundle in bundles:
            pool.add(bundle)
        parsed = [pool.parse(b.messages[0]) for b in bundles]
    assert len(big) > 2 * workers.PIPE_BYTES
    assert parsed == [parse_message(b.messages[0].content) for b in bundles]
    assert pool.stats.messages_by_workers >= 1


def test_cli_option(eager_workers, tmp_path, capsys):
    from smtpsniff.cli import main

    capture = str(ROOT / "tests" / "data" / "smtp-smuggling.pcap")
    outputs = []
    for n in ("0", "1"):
        assert main(["analyze", "--workers", n, "-o", str(tmp_path / n), "--format", "json", capture]) == 0
        outputs.append({p.name: p.read_bytes() for p in (tmp_path / n).iterdir()})
    assert outputs[0] == outputs[1] and "messages.jsonl" in outputs[0]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["analyze", "--workers", "-1", capture])
    assert stop.value.code == 2 and "not a number of processes" in capsys.readouterr().err


def test_workers_ignore_the_current_directory(eager_workers, tmp_path, monkeypatch):
    """A module in the current directory named as a standard one does not reach the workers."""
    (tmp_path / "email.py").write_text("raise ImportError('the current directory was on the path')\n")
    monkeypatch.chdir(tmp_path)
    capture = ROOT / "tests" / "data" / "smtp-smuggling.pcap"
    there = smtpsniff.read(capture, workers=1)
    assert there.stats.workers == 1 and there.stats.workers_lost == 0
    assert there.stats.sessions_decoded_by_workers >= 2 and there.stats.messages_parsed_by_workers >= 2


@pytest.mark.parametrize("most", [1, 300, 5000])
def test_sessions_past_max_offload_bytes_are_decoded_here(eager_workers, most):
    """A recorded session that outgrows Limits.max_offload_bytes is decoded here from where it stands."""
    limits = replace(DEFAULT_LIMITS, max_offload_bytes=most)
    files = [ROOT / "tests" / "data" / name for name in
             ("smtp-smuggling.pcap", "smtp-bdat.pcap", "smtp-starttls-attacks.pcap", "smtp-features.pcap")]
    here = smtpsniff.read(*files, limits=limits, workers=0)
    there = smtpsniff.read(*files, limits=limits, workers=1)
    assert_same_capture(here, there)
    assert_same_capture(smtpsniff.read(*files, workers=0), there)  # the bound changes nothing else
    if most == 1:  # every session outgrew it at its first octets: none was left to the worker
        assert there.stats.sessions_decoded_by_workers == 0


# -- the hand-off: the workers parse the waiting messages while this process builds tables -------

def handed_off(capture, copies=None, order=None, **kwargs):
    """A pool given ``capture``'s messages (each ``copies`` times, as other objects; by default
    enough times for more batches than a worker holds after the hand-off), its worker started only
    then and handed them off (in the ``order`` of the messages that function gives the records
    with the copies, when given); and the records with the copies.  Every batch of messages waits
    at the hand-off: none went to the worker before."""
    never = 10 ** 9
    pool = workers.Workers(DEFAULT_LIMITS, 1, start_after_sessions=never, start_after_messages=never,
                           batch_sessions=1, batch_messages=1, **kwargs)
    records = records_of(capture)
    if copies is None:
        copies = max(3, workers.IN_FLIGHT_HANDED_OFF // max(1, len(messages_of(records))) + 1)
    bundles = [replace(r, messages=tuple(replace(d, content=bytes(bytearray(d.content))) for d in r.messages))
               for _ in range(copies) for r in records]
    for bundle in bundles:
        pool.add(bundle)
    pool._start()
    assert len(pool._waiting[workers.MESSAGES]) == len(messages_of(bundles)) > workers.IN_FLIGHT_HANDED_OFF
    pool.hand_off(None if order is None else order(bundles))
    return pool, bundles


def assert_parsed(pool, bundles):
    parsed = [pool.parse(data) for data in messages_of(bundles)]
    assert parsed == [parse_message(d.content, complete=d.complete) for d in messages_of(bundles)]


def wait_for_answers(pool):
    """Until every batch handed to a fed worker is answered (polled: the feeding threads answer
    without this thread's help)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        feeds = [w.feed for w in pool._workers if w.feed is not None]
        with pool._feeding:
            if all(f.given == len(f.answers) for f in feeds) and not pool._waiting[workers.MESSAGES]:
                return
        time.sleep(0.02)
    raise AssertionError("the fed workers did not answer")


def feeding_threads():
    return [t for t in threading.enumerate() if t.name.startswith("smtpsniff-feed-")]


@pytest.mark.parametrize("capture", WITH_MAIL, ids=lambda p: p.name)
def test_handed_off_messages_are_parsed_without_this_process(capture):
    pool, bundles = handed_off(capture)
    with pool:
        assert len(feeding_threads()) == 2
        wait_for_answers(pool)  # this thread parses nothing meanwhile
        assert_parsed(pool, bundles)
    assert pool.stats.messages_here == 0 and pool.stats.messages_by_workers == len(messages_of(bundles))
    assert pool.stats.workers_lost == 0 and pool.stats.peak_rss_kib > 0
    assert not feeding_threads()


#: A worker that writes down the content of every message it is given, in the order given.
LOGGING_MESSAGES = """
import sys
from smtpsniff.transfer import loads
from smtpsniff.worker import MESSAGES, Worker, read_frame
worker = Worker()
with open(sys.argv[1], "w") as log:
    while (request := read_frame(sys.stdin.buffer)) is not None:
        kind, _, _, items = loads(request)
        if kind == MESSAGES:
            log.writelines(content.hex() + "\\n" for content, _ in items)
            log.flush()
        sys.stdout.buffer.write(worker.answer(request))
        sys.stdout.buffer.flush()
"""


@pytest.mark.parametrize("order", [None, lambda b: reversed(messages_of(b)), lambda b: messages_of(b)[1::2]],
                         ids=["as-they-came", "reversed", "every-other-one"])
def test_the_workers_parse_in_the_order_the_hand_off_is_given(order, tmp_path):
    """The waiting messages are batched again in the order the caller will ask for them; those
    the order leaves out come after, in the order they came.  Each is parsed once."""
    log = tmp_path / "given"
    capture = next(p for p in WITH_MAIL if p.name == "smtp-spoofing.pcap")  # messages of different content
    pool, bundles = handed_off(capture, order=order, command=[sys.executable, "-c", LOGGING_MESSAGES, str(log)])
    messages = messages_of(bundles)
    asked = messages if order is None else list(order(bundles))
    expected = asked + [d for d in messages if not any(d is a for a in asked)]
    with pool:
        wait_for_answers(pool)
        assert_parsed(pool, bundles)
    assert pool.stats.messages_by_workers == len(messages) and pool.stats.messages_here == 0
    assert log.read_text().split() == [d.content.hex() for d in expected]
    assert len({d.content for d in messages}) > 1


def test_a_worker_killed_after_the_hand_off_loses_nothing():
    capture = WITH_MAIL[0]
    pool, bundles = handed_off(capture)
    with pool:
        process = pool._workers[0].process
        os.kill(process.pid, signal.SIGKILL)
        assert_parsed(pool, bundles)
    # (whether it had answered all it was given when it died depends on the scheduler: either
    # way each message is parsed once, and nothing waits for it)
    assert pool.stats.workers_lost <= 1 and process.returncode == -signal.SIGKILL
    assert pool.stats.messages_here + pool.stats.messages_by_workers == len(messages_of(bundles))
    assert not feeding_threads()


#: A worker that decodes sessions but never answers a request of messages (it takes them).
SILENT_ON_MESSAGES = """
import sys, time
from smtpsniff.transfer import loads
from smtpsniff.worker import MESSAGES, Worker, read_frame
worker = Worker()
while (request := read_frame(sys.stdin.buffer)) is not None:
    if loads(request)[0] == MESSAGES:
        time.sleep(60)
    sys.stdout.buffer.write(worker.answer(request))
    sys.stdout.buffer.flush()
"""


def test_a_worker_silent_after_the_hand_off_is_stopped():
    capture = WITH_MAIL[0]
    pool, bundles = handed_off(capture, command=[sys.executable, "-c", SILENT_ON_MESSAGES], timeout_s=0.5)
    with pool:
        started = time.monotonic()
        assert_parsed(pool, bundles)
        assert time.monotonic() - started < 30
    assert pool.stats.workers_lost == 1 and pool.stats.messages_by_workers == 0
    assert pool.stats.messages_here == len(messages_of(bundles))
    assert not feeding_threads()


#: A worker that answers its first request, then each of the others only once the file named by
#: its argument exists.
GATED = """
import os, sys, time
from smtpsniff.worker import Worker, read_frame
gate, worker, answered = sys.argv[1], Worker(), 0
while (request := read_frame(sys.stdin.buffer)) is not None:
    while answered and not os.path.exists(gate):
        time.sleep(0.01)
    sys.stdout.buffer.write(worker.answer(request))
    sys.stdout.buffer.flush()
    answered += 1
"""


def first_answer_in(pool):
    """Until the fed worker's first answer has come (polled, as :func:`wait_for_answers`)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with pool._feeding:
            if pool._workers[0].feed.answers:
                return
        time.sleep(0.01)
    raise AssertionError("the fed worker did not answer")


def test_a_parse_that_came_is_given_before_the_others_come(tmp_path):
    """After the hand-off, asking for a parse the worker gave finishes nothing: the worker goes on
    with the waiting batches while the caller works on what it has."""
    gate = tmp_path / "gate"
    pool, bundles = handed_off(WITH_MAIL[0], command=[sys.executable, "-c", GATED, str(gate)])
    messages = messages_of(bundles)
    with pool:
        first_answer_in(pool)
        assert pool.parse(messages[0]) == parse_message(messages[0].content, complete=messages[0].complete)
        assert pool.stats.messages_here == 0
        assert pool._workers[0].feed is not None and pool._waiting[workers.MESSAGES]  # the rest to come
        gate.touch()
        assert_parsed(pool, bundles)
    assert pool.stats.messages_here + pool.stats.messages_by_workers == len(messages)
    assert pool.stats.workers_lost == 0
    assert not feeding_threads()


def test_the_waiting_batches_are_parsed_here_while_the_worker_holds_the_next(tmp_path):
    """A parse the worker holds is awaited while this process parses the waiting batches (the
    first one each time); what the worker holds is not parsed twice."""
    gate = tmp_path / "gate"
    pool, bundles = handed_off(WITH_MAIL[0], command=[sys.executable, "-c", GATED, str(gate)])
    messages = messages_of(bundles)
    with pool:
        first_answer_in(pool)
        opener = threading.Timer(1.0, gate.touch)
        opener.start()
        try:
            assert pool.parse(messages[1]) == parse_message(messages[1].content, complete=messages[1].complete)
        finally:
            opener.join()
        held = len(messages) - pool.stats.messages_here  # the first, and those the worker held
        assert 1 < held <= 1 + workers.IN_FLIGHT_HANDED_OFF
        assert not pool._waiting[workers.MESSAGES]
        assert_parsed(pool, bundles)
    assert pool.stats.messages_by_workers == held and pool.stats.workers_lost == 0
    assert not feeding_threads()


def test_a_pool_closed_after_the_hand_off_stops_its_workers_and_threads():
    pool, _ = handed_off(WITH_MAIL[1])
    processes = [w.process for w in pool._workers]
    with pool:
        pass  # no parse asked for (as when building the tables failed)
    assert processes and all(p.returncode is not None for p in processes)
    assert not feeding_threads()


def test_sessions_are_handed_out_before_messages():
    """With batches of both kinds waiting, the next batch a worker is given is one of sessions,
    though the messages waited longer."""
    with workers.Workers(DEFAULT_LIMITS, 1) as pool:
        messages = workers._Batch(1, workers.MESSAGES)
        sessions = workers._Batch(2, workers.SESSIONS)
        pool._waiting[workers.MESSAGES].append(messages)
        pool._waiting[workers.SESSIONS].append(sessions)
        assert pool._next_batch() is sessions and pool._next_batch() is messages
        assert pool._next_batch() is None


def test_messages_sharing_one_content_object():
    """CPython has one empty bytes object and one of each single byte: messages may share their
    content object, and each still gets the parse of its own ``complete``."""
    records = records_of(WITH_MAIL[0])
    data = messages_of(records)[0]
    bundles = [replace(records[0], messages=tuple(replace(data, content=content, complete=complete)
                                                  for content in (b"", b"\n") for complete in (True, False)))
               for _ in range(2)]
    assert parse_message(b"", complete=True) != parse_message(b"", complete=False)
    with eager_pool() as pool:
        for bundle in bundles:
            pool.add(bundle)
        assert_parsed(pool, bundles)
    assert pool.stats.workers == 1 and pool.stats.messages_by_workers >= 1
    assert pool.stats.messages_by_workers + pool.stats.messages_here == 8  # each parsed once


def test_a_hand_off_without_workers_leaves_the_parsing_here(tmp_path):
    capture = WITH_MAIL[0]
    with eager_pool(command=[str(tmp_path / "no-such-program")]) as pool:
        records = records_of(capture, pool)
        pool.hand_off()
        assert not feeding_threads()
        assert_same_work(pool, records, records_of(capture))
    assert pool.stats.workers == 0 and pool.stats.messages_here == len(messages_of(records))


#: A worker that answers every request as if it were another batch.
OUT_OF_TURN = """
import sys
from smtpsniff.transfer import dumps, loads
from smtpsniff.worker import Worker, frame, read_frame
worker = Worker()
while (request := read_frame(sys.stdin.buffer)) is not None:
    number, result = loads(worker.answer(request)[8:])
    sys.stdout.buffer.write(frame(dumps((number + 10 ** 6, result))))
    sys.stdout.buffer.flush()
"""


#: A worker whose answers are framed but are not what it was asked for: bytes that are no
#: pickle, a pickle of something else, and a batch's number with the wrong kind of results (as
#: when something in the worker printed to its standard output).
GARBAGE = """
import sys
from smtpsniff.transfer import dumps, loads
from smtpsniff.worker import Worker, frame, read_frame
worker, answered = Worker(), 0
while (request := read_frame(sys.stdin.buffer)) is not None:
    number, result = loads(worker.answer(request)[8:])
    wrong = [b"Traceback (most recent call last):", dumps(42), dumps((number, ["text"] * len(result)))]
    sys.stdout.buffer.write(frame(wrong[answered % 3]))
    sys.stdout.buffer.flush()
    answered += 1
"""


#: A worker that writes a line of text to its output before its first answer.
CHATTY = """
import sys
from smtpsniff.worker import Worker
sys.stdout.buffer.write(b"worker started, all is well\\n")
sys.stdout.buffer.flush()
Worker().serve(sys.stdin.buffer, sys.stdout.buffer)
"""


def test_a_worker_writing_text_to_its_output_is_given_up_at_once():
    """Text read as a frame's length is far beyond MAX_ANSWER_BYTES: the worker is given up there
    and then, not after it falls silent (WORKER_TIMEOUT_S)."""
    capture = WITH_MAIL[0]
    with eager_pool(command=[sys.executable, "-c", CHATTY]) as pool:
        started = time.monotonic()
        assert_same_work(pool, records_of(capture, pool), records_of(capture))
        assert time.monotonic() - started < 30
    assert pool.stats.workers == 1 and pool.stats.workers_lost == 1
    assert pool.stats.sessions_by_workers == 0 and pool.stats.messages_by_workers == 0


def test_a_worker_writing_text_after_the_hand_off_is_given_up_at_once():
    script = CHATTY.replace('sys.stdout.buffer.write(b"worker', 'sys.stdin.buffer.peek(1)\nsys.stdout.buffer.write(b"worker')
    pool, bundles = handed_off(WITH_MAIL[0], command=[sys.executable, "-c", script])
    with pool:
        started = time.monotonic()
        assert_parsed(pool, bundles)
        assert time.monotonic() - started < 30
    assert pool.stats.workers_lost == 1 and pool.stats.messages_by_workers == 0
    assert not feeding_threads()


@pytest.mark.parametrize("first", [0, 1, 2], ids=["not-a-pickle", "not-an-answer", "wrong-results"])
def test_a_worker_answering_garbage_loses_nothing(first, monkeypatch):
    monkeypatch.setattr(workers, "BATCH_SESSIONS", 2)
    script = GARBAGE.replace("worker, answered = Worker(), 0", f"worker, answered = Worker(), {first}")
    capture = WITH_MAIL[0]
    with eager_pool(command=[sys.executable, "-c", script]) as pool:
        assert_same_work(pool, records_of(capture, pool), records_of(capture))
    assert pool.stats.workers == 1 and pool.stats.workers_lost == 1
    assert pool.stats.sessions_by_workers == 0 and pool.stats.messages_by_workers == 0


@pytest.mark.parametrize("first", [0, 1, 2], ids=["not-a-pickle", "not-an-answer", "wrong-results"])
def test_a_worker_answering_garbage_after_the_hand_off_loses_nothing(first):
    script = GARBAGE.replace("worker, answered = Worker(), 0", f"worker, answered = Worker(), {first}")
    assert_given_up_after_the_hand_off(script)


def assert_given_up_after_the_hand_off(script: str) -> None:
    """The worker program ``script``, fed after the hand-off, is given up at its first answer:
    every message is parsed here, as it would have been, and no feeding thread is left."""
    pool, bundles = handed_off(WITH_MAIL[0], command=[sys.executable, "-c", script])
    with pool:
        assert_parsed(pool, bundles)
    assert pool.stats.workers_lost == 1 and pool.stats.messages_by_workers == 0
    assert pool.stats.messages_here == len(messages_of(bundles))
    assert not feeding_threads()


def test_a_worker_answering_out_of_turn_loses_nothing():
    capture = WITH_MAIL[0]
    with eager_pool(command=[sys.executable, "-c", OUT_OF_TURN]) as pool:
        assert_same_work(pool, records_of(capture, pool), records_of(capture))
    assert pool.stats.workers == 1 and pool.stats.workers_lost == 1
    assert pool.stats.sessions_by_workers == 0 and pool.stats.messages_by_workers == 0


def test_a_worker_answering_out_of_turn_after_the_hand_off_loses_nothing():
    assert_given_up_after_the_hand_off(OUT_OF_TURN)
