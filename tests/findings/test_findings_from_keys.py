"""The From detectors (sender_mismatch, multiple_from, display_name_spoof) list only the messages
whose keys the mail tables show could hold a finding (headers.keys_where): checked against their
oracle, the same detectors' loops over every message (the references below), run with the tables
and without them (every message parsed).

On the captures with findings of these kinds, and on their records changed from a fixed seed:
message headers replaced by From fields of every shape (display names holding addresses of the
same and of other domains, two From fields, none, groups, quoting, encoded words, literals) and
envelope senders replaced (null sender, other domains, literals, no domain).
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace

import pytest
from corpus import ROOT

import smtpsniff
from smtpsniff.analysis.capture import build_tables
from smtpsniff.findings import (
    DetectionContext,
    display_name_spoof,
    multiple_from,
    sender_mismatch,
)
from smtpsniff.findings import thresholds as known_thresholds
from smtpsniff.findings.display_name_spoof import _ADDRESS
from smtpsniff.findings.domains import domain_of, org_domain
from smtpsniff.findings.evidence import lines, show
from smtpsniff.findings.headers import messages
from smtpsniff.findings.model import Finding, Severity


def reference_sender_mismatch(ctx: DetectionContext) -> Iterator[Finding]:
    for r, m, t, from_ in messages(ctx):
        if t is None or not t.mail_from or not from_.mailboxes:
            continue
        envelope = org_domain(domain_of(t.mail_from))
        header = org_domain(domain_of(from_.mailboxes[0][1]))
        if envelope is None or header is None or envelope == header:
            continue
        yield Finding(
            kind="sender_mismatch", severity=Severity.LOW, session_id=m.session_id, ts_ns=m.ts_ns,
            frames=(t.frame, m.frame), sessions=(m.session_id,),
            explanation=f"envelope sender domain {show(envelope)} differs from the From header domain {show(header)}",
            evidence=f"MAIL FROM:<{show(t.mail_from)}> | From: {show(from_.fields[0] if from_.fields else from_.mailboxes[0][1])}")


def reference_multiple_from(ctx: DetectionContext) -> Iterator[Finding]:
    for r, m, t, from_ in messages(ctx):
        if from_.count < 2:
            continue
        yield Finding(
            kind="multiple_from", severity=Severity.MEDIUM, session_id=m.session_id, ts_ns=m.ts_ns,
            frames=(m.frame,), sessions=(m.session_id,),
            explanation=f"message has {from_.count} From header fields; RFC 5322 3.6 allows one",
            evidence=lines(f"From: {show(value)}" for value in from_.fields))


def reference_display_name_spoof(ctx: DetectionContext) -> Iterator[Finding]:
    for r, m, t, from_ in messages(ctx):
        for display_name, addr in from_.mailboxes:
            shown = _ADDRESS.search(display_name or "")
            if shown is None:
                continue
            claimed, real = org_domain(domain_of(shown.group(0))), org_domain(domain_of(addr))
            if claimed is None or claimed == real:
                continue
            yield Finding(
                kind="display_name_spoof", severity=Severity.MEDIUM, session_id=m.session_id, ts_ns=m.ts_ns,
                frames=(m.frame,), sessions=(m.session_id,),
                explanation=f"From display name shows {show(shown.group(0))} but the address is {show(addr)}",
                evidence=f"From: {show(from_.fields[0] if from_.fields else addr)}")
            break


CASES = [(sender_mismatch.detect, reference_sender_mismatch), (multiple_from.detect, reference_multiple_from),
         (display_name_spoof.detect, reference_display_name_spoof)]
CAPTURES = ["tests/data/smtp-spoofing.pcap", "captures/smtp-sample.pcap", "tests/data/smtp-bdat.pcap",
            "tests/data/smtp-utf8.pcap", "tests/data/smtp-mime.pcap"]


def _context(records, tables: dict) -> DetectionContext:
    return DetectionContext(records=records, credentials=[], known_thresholds=known_thresholds(), tables=tables)


def _same(records, tables) -> int:
    """Each detector with the tables (first alone, then after the full listing) and without them,
    against its reference run the same way, and without the tables against with them; the number
    of findings."""
    found = 0
    for detect, reference in CASES:
        theirs = list(reference(_context(records, dict(tables))))
        assert list(detect(_context(records, dict(tables)))) == theirs, detect.__module__
        listed = _context(records, dict(tables))
        list(messages(listed))  # the full listing made first: the keys pick from it
        assert list(detect(listed)) == theirs, detect.__module__
        alone = list(detect(_context(records, {})))
        assert alone == list(reference(_context(records, {}))), detect.__module__
        assert alone == theirs, detect.__module__  # every message parsed here: the same findings
        found += len(theirs)
    return found


@pytest.mark.parametrize("name", CAPTURES)
def test_captures(name):
    cap = smtpsniff.read(ROOT / name)
    _same(cap.records, cap.tables)


_DOMAINS = ["example.test", "mail.example.test", "other.test", "example.co.uk", "x.example.co.uk", "[192.0.2.1]",
            "localhost", "EXAMPLE.TEST", "example.test."]
_NAMES = ["Alice", "ceo@{d}", '"ceo@{d}"', "Bob (boss@{d})", "=?utf-8?q?ceo=40{d}?=", "\u00e9lise", "",
          '"Smith, J" ', "x@y"]


def _from_value(rng: random.Random) -> str:
    addr = f"user@{rng.choice(_DOMAINS)}"
    shape = rng.randrange(7)
    if shape == 0:
        return addr
    if shape == 1:
        return f"{rng.choice(_NAMES).format(d=rng.choice(_DOMAINS))} <{addr}>"
    if shape == 2:
        return f"a@{rng.choice(_DOMAINS)}, {rng.choice(_NAMES).format(d=rng.choice(_DOMAINS))} <{addr}>"
    if shape == 3:
        return f"Team: {addr}, b@{rng.choice(_DOMAINS)};"
    if shape == 4:
        return f"{rng.choice(_NAMES).format(d=rng.choice(_DOMAINS))} <user>"
    if shape == 5:
        return "undisclosed"
    return f'"{rng.choice(_NAMES).format(d=rng.choice(_DOMAINS))}" <{addr}>'


def _content(rng: random.Random) -> bytes:
    fields = [f"From: {_from_value(rng)}" for _ in range(rng.choice([0, 1, 1, 1, 2, 3]))]
    fields += ["To: rcpt@example.test", "Subject: test"]
    rng.shuffle(fields)
    return ("\r\n".join(fields) + "\r\n\r\nbody\r\n").encode()


def _mutated(records, rng: random.Random):
    out = []
    for r in records:
        transactions = tuple(replace(t, mail_from=rng.choice(["", None, f"s@{rng.choice(_DOMAINS)}", "nodomain",
                                                              f"s@{rng.choice(_DOMAINS)}"]))
                             if rng.random() < 0.6 else t for t in r.transactions)
        messages_ = tuple(replace(m, content=_content(rng)) if rng.random() < 0.8 else m for m in r.messages)
        out.append(replace(r, transactions=transactions, messages=messages_))
    return out


@pytest.mark.parametrize("name", ["tests/data/smtp-spoofing.pcap", "captures/smtp-sample.pcap"])
def test_changed_records(name):
    cap = smtpsniff.read(ROOT / name)
    found = 0
    for seed in range(12):
        records = _mutated(cap.records, random.Random(seed))
        found += _same(records, build_tables(records))
    assert found > 10  # the changes make findings of each shape to compare
