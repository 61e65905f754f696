"""Parsing in another process: ``smtpsniff.mail.transfer`` and the ``python -m smtpsniff.mail.worker`` program.

The oracle is :func:`smtpsniff.mail.parse_message` in this process: what crosses the pipe must be
equal to it, field by field, for clean, realistic, damaged and hostile messages.
"""
from __future__ import annotations

import base64
import io
import pickle
import subprocess
import sys
from dataclasses import fields, is_dataclass, replace

import pytest
from corpus import ROOT, realistic_messages
from mail_oracles import captures_with_sidecars, sent_messages

from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail import parse_message, transfer
from smtpsniff.mail.worker import FRAME, frame, read_frame, serve

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


def corpus() -> list[tuple[bytes, bool]]:
    own = [m["bytes"] for capture in captures_with_sidecars() for m in sent_messages(capture)]
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
    return out


def test_round_trip_equals_the_parse():
    parsed = [parse_message(m, complete=c) for m, c in corpus()]
    back = transfer.loads(transfer.dumps(parsed))
    assert back == parsed
    kinds = {a.kind for p in parsed for a in p.anomalies}
    assert {"message_incomplete", "bad_base64"} <= kinds  # the damaged ones were damaged
    assert any(p.message is not None for m in parsed for p in m.parts)  # an embedded message came across


def test_every_class_of_a_parse_is_reduced_to_its_fields():
    parsed = [parse_message(m, complete=c) for m, c in corpus()]
    seen = {type(o) for o in objects_in(parsed, [])}
    assert seen <= set(transfer.CLASSES), seen - set(transfer.CLASSES)
    # Reduced to fields: the pickled data names the rebuilding function, never a class's __setstate__.
    data = transfer.dumps(parsed[0])
    assert b"_rebuild" in data and b"ParsedMessage" not in data
    plain = pickle.dumps(parsed[0])
    assert b"ParsedMessage" in plain  # what the stdlib's pickling would have written


def test_worker_answers_what_parse_message_gives():
    messages = corpus()
    limits = replace(DEFAULT_LIMITS, max_part_decoded_bytes=512)  # the limits travel with each request
    requests = b"".join(frame(pickle.dumps((n, limits, messages[n::3]))) for n in range(3))
    done = subprocess.run([sys.executable, "-m", "smtpsniff.mail.worker"], input=requests, capture_output=True,
                          cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    answers = io.BytesIO(done.stdout)
    for n in range(3):
        number, parsed = transfer.loads(read_frame(answers))
        assert number == n
        assert parsed == [parse_message(m, limits=limits, complete=c) for m, c in messages[n::3]]
    assert read_frame(answers) is None


@pytest.mark.parametrize("cut", [0, 3, FRAME.size, FRAME.size + 10])
def test_worker_stops_at_a_request_cut_short(cut):
    whole = frame(pickle.dumps((7, DEFAULT_LIMITS, [(b"Subject: x\r\n\r\nbody\r\n", True)])))
    answers = io.BytesIO()
    serve(io.BytesIO(whole + whole[:cut]), answers)
    answers.seek(0)
    number, parsed = transfer.loads(read_frame(answers))
    assert number == 7 and parsed[0].subject == "x"
    assert read_frame(answers) is None  # the cut request is an end, not an answer
