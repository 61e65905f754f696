"""smtpsniff.findings.in_order against its oracle, the one stable sort on the whole key.

Findings generated from a fixed seed with few distinct times (long runs of equal times), times
missing, every severity, a few kinds and findings equal in every key (told apart by their
evidence, so that stability shows).
"""
from __future__ import annotations

import random

import pytest

from smtpsniff.findings import in_order
from smtpsniff.findings.model import Finding, Severity


def oracle(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.ts_ns is None, f.ts_ns or 0, -f.severity.rank, f.kind))


def _findings(rng: random.Random, n: int, times: int) -> list[Finding]:
    kinds = ["no_tls", "starttls_not_used", "auth_before_starttls", "a", "b"]
    out = []
    for i in range(n):
        ts = None if rng.random() < 0.1 else rng.randrange(times) * 1000 - 5000
        out.append(Finding(kind=rng.choice(kinds), severity=rng.choice(list(Severity)), session_id=i, ts_ns=ts,
                           frames=(i,), explanation="", evidence=str(i), sessions=(i,)))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_same_order_as_the_one_sort(seed):
    rng = random.Random(seed)
    findings = _findings(rng, rng.choice([0, 1, 2, 3, 50, 2000]), rng.choice([1, 2, 5, 100, 10**6]))
    assert [f.evidence for f in in_order(list(findings))] == [f.evidence for f in oracle(findings)]


def test_every_run_shape():
    """Runs of equal times at the start, the end, back to back and alone, long and short."""
    for times in ([1, 1, 2, 3, 3, 3, 4, 5, 5], [7] * 9, [1, 2, 3], [2, 2], [3, 1, 3, 1, 2, 2, None, None]):
        rng = random.Random(len(times))
        findings = [Finding(kind=rng.choice("xy"), severity=rng.choice(list(Severity)), session_id=i, ts_ns=ts,
                            frames=(), explanation="", evidence=str(i)) for i, ts in enumerate(times)]
        assert [f.evidence for f in in_order(list(findings))] == [f.evidence for f in oracle(findings)]
