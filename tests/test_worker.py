"""Work in another process: ``smtpsniff.transfer`` and the ``python -m smtpsniff.worker`` program.

The oracles are this process's own results: :func:`smtpsniff.mail.parse_message` for messages,
and the records a pipeline builds itself for sessions.  What crosses the pipe must be equal to
them, field by field, for clean, realistic, damaged and hostile messages and for every recorded
capture's sessions.
"""
from __future__ import annotations

import base64
import io
import json
import os
import pickle
import subprocess
import sys
from dataclasses import fields, is_dataclass, replace
from pathlib import Path

import pytest
from corpus import ROOT, own_captures, realistic_messages, session_jobs

from smtpsniff import fastinit, transfer
from smtpsniff.capture.files import open_capture
from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail import parse_message
from smtpsniff.pipeline import SmtpPipeline, replay
from smtpsniff.worker import FRAME, MESSAGES, SESSIONS, Worker, frame, read_frame

B64 = base64.b64encode(bytes(range(256)) * 4)

DAMAGED = [
    # an embedded message/rfc822 with its own parts
    (b"From: a@example.com\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n"
     b"--o\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n"
     b"From: =?utf-8?q?J=C3=B6rg?= <j@example.net>\r\nSubject: inner\r\nContent-Type: multipart/alternative; "
     b"boundary=i\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--i\r\nContent-Type: text/html\r\n\r\n"
     b"<p>inner</p>\r\n--i--\r\n--o--\r\n"),
    # broken base64, a hostile file name, no closing boundary
    (b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
     b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"../../etc/\x1b[31mx\"\r\n"
     b"Content-Transfer-Encoding: base64\r\n\r\n" + B64[:-3] + b"!!\r\n"),
    # a header the stdlib getter raises on: mail_parse_failed or mime_header_error
    (b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf\r\n"
     b"Content-Disposition: attachment; filename*=idna''%ff\r\n\r\nx\r\n"),
    # not a message at all
    b"\x00\xff" * 300,
    b"",
]


def sent_messages() -> list[bytes]:
    """The messages the clients of the recorded captures sent in plain text (from the sidecars)."""
    out = []
    for capture in own_captures():
        sidecar = capture.with_name(capture.name + ".json")
        if not sidecar.exists():
            sidecar = capture.with_suffix(".json")
        if not sidecar.exists():
            continue
        for session in json.loads(sidecar.read_text())["sessions"]:
            out.extend(base64.b64decode(m["data_b64"]) for m in session.get("messages", [])
                       if m.get("data_b64") is not None and not m.get("encrypted"))
    return out


def corpus() -> list[tuple[bytes, bool]]:
    own = sent_messages()
    messages = realistic_messages(40) + own + DAMAGED
    return [(m, True) for m in messages] + [(m[: len(m) // 2], False) for m in messages[::7]]


def objects_in(value, out: list) -> list:
    """Every dataclass object reachable from ``value``."""
    if is_dataclass(value) and not isinstance(value, type):
        out.append(value)
        for f in fields(value):
            objects_in(getattr(value, f.name), out)
    elif isinstance(value, (tuple, list)):
        for item in value:
            objects_in(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            objects_in(item, out)
    return out


def test_round_trip_equals_the_parse():
    parsed = [parse_message(m, complete=c) for m, c in corpus()]
    back = transfer.loads(transfer.dumps(parsed))
    assert back == parsed
    kinds = {a.kind for p in parsed for a in p.anomalies}
    assert {"message_incomplete", "bad_base64"} <= kinds  # the damaged ones were damaged
    assert any(p.message is not None for m in parsed for p in m.parts)  # an embedded message came across


def test_every_class_of_a_parse_and_a_session_is_reduced_to_its_fields():
    parsed = [parse_message(m, complete=c) for m, c in corpus()]
    jobs, records = jobs_and_records(ROOT / "tests" / "data" / "smtp-features.pcap")
    seen = {type(o) for o in objects_in([parsed, jobs, records], [])}
    assert seen <= set(transfer.CLASSES), seen - set(transfer.CLASSES)
    # Reduced to fields: the pickled data names the rebuilding function (or, with the C builders,
    # the function that gives the builder), never a class's __setstate__.
    data = transfer.dumps(parsed[0])
    assert (b"_builder" if fastinit._CSlotBuilder is not None else b"_rebuild") in data
    assert b"ParsedMessage" not in data
    plain = pickle.dumps(parsed[0])
    assert b"ParsedMessage" in plain  # what the stdlib's pickling would have written


#: Pickle, in a process whose builders are the Python ones (SMTPSNIFF_NATIVE=0), the parses and
#: session records of a capture; the data to standard output.
PYTHON_BUILDERS = """
import sys
from pathlib import Path
from smtpsniff import transfer
from smtpsniff.mail import parse_message
sys.path.insert(0, sys.argv[1])
from test_worker import corpus, jobs_and_records
parsed = [parse_message(m, complete=c) for m, c in corpus()]
_, records = jobs_and_records(Path(sys.argv[2]))
assert not hasattr(transfer._BUILDERS[0], "reduce")
sys.stdout.buffer.write(transfer.dumps((parsed, records)))
"""


@pytest.mark.skipif(fastinit._CSlotBuilder is None, reason="the C extension is not built")
def test_pickles_of_either_builders_are_read_by_the_other():
    """A process with the C builders and one without read each other's data: what the worker and
    the reading process exchange does not depend on which of them has the C extension."""
    capture = ROOT / "tests" / "data" / "smtp-features.pcap"
    parsed = [parse_message(m, complete=c) for m, c in corpus()]
    _, records = jobs_and_records(capture)
    env = {**os.environ, fastinit.ENV_SWITCH: "0"}
    done = subprocess.run([sys.executable, "-c", PYTHON_BUILDERS, str(Path(__file__).parent), str(capture)],
                          capture_output=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"_rebuild" in done.stdout and b"_builder" not in done.stdout
    assert transfer.loads(done.stdout) == (parsed, records)
    ours = transfer.dumps((parsed, records))
    assert b"_builder" in ours
    read_back = subprocess.run(
        [sys.executable, "-c", "import sys; from smtpsniff import transfer; "
         "parsed, records = transfer.loads(sys.stdin.buffer.read()); "
         "assert not hasattr(transfer._BUILDERS[0], 'reduce'); print(len(parsed), len(records))"],
        input=ours, capture_output=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert read_back.returncode == 0, read_back.stderr.decode(errors="replace")
    assert read_back.stdout.split() == [str(len(parsed)).encode(), str(len(records)).encode()]


def run_worker(requests: bytes) -> io.BytesIO:
    done = subprocess.run([sys.executable, "-m", "smtpsniff.worker"], input=requests, capture_output=True,
                          cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return io.BytesIO(done.stdout)


def test_worker_answers_what_parse_message_gives():
    messages = corpus()
    limits = replace(DEFAULT_LIMITS, max_part_decoded_bytes=512)  # the limits travel with each request
    answers = run_worker(b"".join(frame(transfer.dumps((MESSAGES, n, limits, messages[n::3]))) for n in range(3)))
    for n in range(3):
        number, parsed = transfer.loads(read_frame(answers))
        assert number == n
        assert parsed == [parse_message(m, limits=limits, complete=c) for m, c in messages[n::3]]
    assert read_frame(answers) is None


def jobs_and_records(capture):
    """A capture's session jobs (as an offloading pipeline records them) and the records a
    pipeline that decodes every session itself builds."""
    jobs = session_jobs(capture)
    with open_capture(capture) as reader:
        records = SmtpPipeline().feed_all(reader).sessions
    return jobs, sorted(records, key=lambda r: r.session.session_id)


@pytest.mark.parametrize("capture", [p for p in own_captures() if p.suffix in (".pcap", ".pcapng")],
                         ids=lambda p: p.name)
def test_worker_decodes_sessions_as_the_pipeline_does(capture):
    jobs, records = jobs_and_records(capture)
    assert len(jobs) == len(records)
    answers = run_worker(frame(transfer.dumps((SESSIONS, 1, DEFAULT_LIMITS, jobs))))
    number, result = transfer.loads(read_frame(answers))
    assert number == 1
    got = sorted(result, key=lambda r: r.session.session_id)
    assert got == records
    assert [replay(job, DEFAULT_LIMITS, None, None) for job in jobs] == result


@pytest.mark.parametrize("cut", [0, 3, FRAME.size, FRAME.size + 10])
def test_worker_stops_at_a_request_cut_short(cut):
    whole = frame(transfer.dumps((MESSAGES, 7, DEFAULT_LIMITS, [(b"Subject: x\r\n\r\nbody\r\n", True)])))
    answers = io.BytesIO()
    Worker().serve(io.BytesIO(whole + whole[:cut]), answers)
    answers.seek(0)
    number, parsed = transfer.loads(read_frame(answers))
    assert number == 7 and parsed[0].subject == "x"
    assert read_frame(answers) is None  # the cut request is an end, not an answer
