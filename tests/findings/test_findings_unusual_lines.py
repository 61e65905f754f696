"""command_injection reads every command line of a capture at once (numpy over the joined lines) to
pick the sessions worth its per-line loop: checked against the per-line test itself, on real
sessions whose lines are replaced from a fixed seed by empty, short, CR-, LF- and NUL-bearing and
over-long lines (and left as they are)."""
from __future__ import annotations

import random
from dataclasses import replace

import pytest
from corpus import ROOT

import smtpsniff
from smtpsniff.findings import command_injection
from smtpsniff.findings.command_injection import with_unusual_lines

_RAWS = [b"", b"\r", b"\n", b"\r\n", b"\x00", b"A\r\n", b"\r\r\n", b"A\rB\r\n", b"A\r\nB", b"\x00\r\n", b"A\n",
         b"A" * 510 + b"\r\n", b"A" * 511 + b"\r\n", b"A" * 3000 + b"\r\n", b"NOOP", b"\r\n\r\n", b"\n\r"]


def _plain(raw: bytes, limit: int) -> bool:
    return len(raw) <= limit and raw.endswith(b"\r\n") and raw.count(b"\r") == 1 and b"\x00" not in raw


def _expected(records, limit: int) -> list:
    return [r for r in records if not all(_plain(c.raw, limit) for c in r.commands)]


@pytest.mark.parametrize("name", ["captures/smtp-sample.pcap", "tests/data/smtp-command-injection.pcap"])
@pytest.mark.parametrize("block", [1, 2, 3, 128])
def test_unusual_lines_match_the_per_line_test(name, block, monkeypatch):
    monkeypatch.setattr(command_injection, "LINES_BLOCK", block)  # sessions read per block: across blocks too
    records = smtpsniff.read(ROOT / name).records
    for limit in (512, 12288, 0, 3):
        assert with_unusual_lines(records, limit) == _expected(records, limit)
    for seed in range(20):
        rng = random.Random(seed)
        changed = [replace(r, commands=tuple(replace(c, raw=rng.choice(_RAWS)) if rng.random() < 0.3 else c
                                             for c in r.commands)) for r in records]
        for limit in (512, 2):
            assert with_unusual_lines(changed, limit) == _expected(changed, limit), (seed, limit)
    assert with_unusual_lines([], 512) == []
    empty = [replace(r, commands=()) for r in records]
    assert with_unusual_lines(empty, 512) == []
    blank = [replace(r, commands=tuple(replace(c, raw=b"") for c in r.commands)) for r in records]
    assert with_unusual_lines(blank, 512) == _expected(blank, 512)
