"""What the mail layer holds once instead of in equal copies, against what it holds without that.

* ``headers.shared_string``: the bounded table of header names, short values and Received
  clauses.  The oracle is the parse with an empty table that takes nothing (every string kept as
  it came): each parsed message must be equal, and the table must never pass its bound.

Messages: the realistic corpus (make_capture's generator), the sent messages of the recorded
captures, and seeded mutations of both (header names, values and folds changed, lines cut).
"""
from __future__ import annotations

import random

import pytest

from corpus import realistic_messages
from mail_oracles import captures_with_sidecars, sent_messages
from smtpsniff.mail import headers as headers_module
from smtpsniff.mail.parse import parse_message


def _mutations(messages: list[bytes], count: int, seed: str) -> list[bytes]:
    """``count`` variants of ``messages``: a header renamed, a value changed or folded, a line cut."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        raw = rng.choice(messages)
        head, sep, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        i = rng.randrange(len(lines))
        kind = rng.randrange(5)
        if kind == 0 and b":" in lines[i]:
            name, _, value = lines[i].partition(b":")
            lines[i] = name + b"-X%d:" % rng.randrange(1000) + value
        elif kind == 1 and b":" in lines[i]:
            name, _, _ = lines[i].partition(b":")
            lines[i] = name + b": " + rng.choice([b"1.0", b"base64", b"=?utf-8?q?=C3=A9?=", b"", b" x",
                                                  "é".encode(), b"\xff", b"text/plain"])
        elif kind == 2:
            lines.insert(i + 1, b"\t" + rng.choice([b"folded", b"(comment)", b"=?utf-8?b?w6k=?="]))
        elif kind == 3:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        else:
            lines.insert(i, b"X-Many-%d: %d" % (rng.randrange(10**6), rng.randrange(10**6)))
        out.append(b"\r\n".join(lines) + sep + body)
    return out


def _corpus() -> list[bytes]:
    sent = [m["bytes"] for path in captures_with_sidecars() for m in sent_messages(path)]
    realistic = realistic_messages(60)
    return realistic + sent + _mutations(realistic + sent, 1500, "mail-shared-values")


@pytest.fixture(scope="module")
def corpus() -> list[bytes]:
    return _corpus()


def _unshared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(headers_module, "_SHARED_STRINGS", {})
    monkeypatch.setattr(headers_module, "_SHARED_STRINGS_MAX", 0)


def test_mail_shared_strings_give_the_parse_of_unshared_strings(corpus, monkeypatch):
    with monkeypatch.context() as patch:
        _unshared(patch)
        expected = [parse_message(raw, complete=n % 7 != 0) for n, raw in enumerate(corpus)]
        assert headers_module._SHARED_STRINGS == {}
    monkeypatch.setattr(headers_module, "_SHARED_STRINGS", {})  # a fresh table, filled below
    got = [parse_message(raw, complete=n % 7 != 0) for n, raw in enumerate(corpus)]
    assert got == expected
    shared = headers_module._SHARED_STRINGS
    assert shared and all(k is v and type(k) is str for k, v in shared.items())
    held = {id(s) for s in shared.values()}
    names = [h.name for p in got for h in p.headers]
    assert all(id(name) in held for name in names if name in shared)
    for h in (h for p in got for h in p.headers):  # a value equal to raw_value is that string
        assert (h.value is h.raw_value) == (h.value == h.raw_value)


def test_mail_shared_strings_table_keeps_its_bound(corpus, monkeypatch):
    with monkeypatch.context() as patch:
        _unshared(patch)
        expected = [parse_message(raw) for raw in corpus]
    bound = 50
    monkeypatch.setattr(headers_module, "_SHARED_STRINGS", {})
    monkeypatch.setattr(headers_module, "_SHARED_STRINGS_MAX", bound)
    many_names = [b"X-Name-%d: v%d\r\n" % (n, n) * 2 + raw for n, raw in enumerate(corpus)]
    assert [parse_message(raw) for raw in corpus] == expected
    assert len(headers_module._SHARED_STRINGS) == bound
    with monkeypatch.context() as patch:
        _unshared(patch)
        expected_many = [parse_message(raw) for raw in many_names]
    assert [parse_message(raw) for raw in many_names] == expected_many
    shared = headers_module._SHARED_STRINGS
    assert len(shared) == bound
    assert all(len(k) <= headers_module._SHARED_STRING_CHARS for k in shared)

