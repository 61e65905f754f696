"""32-bit sequence arithmetic (RFC 1982 section 3, RFC 9293 section 3.4)."""
from __future__ import annotations

import random

from smtpsniff.reassembly.seq import (
    SEQ_HALF,
    SEQ_MOD,
    seq_add,
    seq_diff,
    seq_ge,
    seq_gt,
    seq_in_window,
    seq_le,
    seq_lt,
    unwrap,
)


def test_order_across_wrap() -> None:
    assert seq_lt(SEQ_MOD - 10, 5)
    assert seq_gt(5, SEQ_MOD - 10)
    assert seq_diff(5, SEQ_MOD - 10) == 15
    assert seq_diff(SEQ_MOD - 10, 5) == -15
    assert seq_le(7, 7) and seq_ge(7, 7) and not seq_lt(7, 7)
    assert seq_add(SEQ_MOD - 1, 2) == 1


def test_half_distance_is_stable() -> None:
    # RFC 1982 leaves it undefined; we answer -2**31 both ways round (never crash, never flip-flop).
    assert seq_diff(SEQ_HALF, 0) == -SEQ_HALF
    assert seq_diff(0, SEQ_HALF) == -SEQ_HALF


def test_diff_matches_signed_difference() -> None:
    rnd = random.Random(1)
    for _ in range(10_000):
        a = rnd.randrange(SEQ_MOD)
        d = rnd.randrange(-SEQ_HALF + 1, SEQ_HALF)
        b = (a + d) % SEQ_MOD
        assert seq_diff(b, a) == d
        assert seq_lt(a, b) == (d > 0)


def test_window() -> None:
    assert seq_in_window(2, SEQ_MOD - 3, 10)
    assert not seq_in_window(7, SEQ_MOD - 3, 10)


def test_unwrap_keeps_growing_past_the_wrap() -> None:
    ref_seq, ref_abs = SEQ_MOD - 100, 5 * SEQ_MOD - 100
    assert unwrap(20, ref_seq, ref_abs) == 5 * SEQ_MOD + 20
    assert unwrap(SEQ_MOD - 200, ref_seq, ref_abs) == 5 * SEQ_MOD - 200
