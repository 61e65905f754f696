"""32-bit TCP sequence-number arithmetic, and turning sequence numbers into 64-bit stream offsets.

TCP sequence numbers live in a circle of 2**32 values (RFC 9293 section 3.4: "all arithmetic dealing
with sequence numbers must be performed modulo 2**32").  Ordering follows serial-number arithmetic
(RFC 1982 section 3.2 with SERIAL_BITS = 32): ``a`` is before ``b`` when ``b - a`` taken modulo 2**32
lies in ``(0, 2**31)``.  RFC 1982 leaves the distance of exactly 2**31 undefined; here
:func:`seq_diff` maps it to ``-2**31`` so every pair gets an answer and the answer is stable.

:func:`unwrap` is what lets the layers above never see a wrap: it places a 32-bit number on the
64-bit line next to a reference position (the next byte expected), so a stream that crosses
2**32 - 1 -> 0, once by its ISN or many times by volume, keeps growing offsets.  This module knows
nothing of connections, payloads or protocols.
"""
from __future__ import annotations

SEQ_BITS = 32
SEQ_MOD = 1 << SEQ_BITS
SEQ_MASK = SEQ_MOD - 1
#: Half the sequence space: the largest distance RFC 1982 can order.
SEQ_HALF = 1 << (SEQ_BITS - 1)


def seq_add(a: int, n: int) -> int:
    """``a + n`` modulo 2**32 (RFC 1982 section 3.1, for ``0 <= n < 2**31``; any ``n`` is accepted)."""
    return (a + n) & SEQ_MASK


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` on the circle, in ``[-2**31, 2**31)``.

    Positive when ``a`` is after ``b`` (RFC 1982 section 3.2), negative when before, 0 when equal.
    """
    return ((a - b + SEQ_HALF) & SEQ_MASK) - SEQ_HALF


def seq_lt(a: int, b: int) -> bool:
    """RFC 1982 ``a < b``."""
    return seq_diff(a, b) < 0


def seq_le(a: int, b: int) -> bool:
    return seq_diff(a, b) <= 0


def seq_gt(a: int, b: int) -> bool:
    """RFC 1982 ``a > b``."""
    return seq_diff(a, b) > 0


def seq_ge(a: int, b: int) -> bool:
    return seq_diff(a, b) >= 0


def seq_in_window(s: int, left: int, size: int) -> bool:
    """RFC 9293 section 3.4 window test ``left <= s < left + size`` modulo 2**32."""
    return ((s - left) & SEQ_MASK) < size


def unwrap(seq: int, ref_seq: int, ref_abs: int) -> int:
    """The 64-bit position of 32-bit ``seq``, given that ``ref_seq`` is at 64-bit position ``ref_abs``.

    The answer is the position congruent to ``seq`` modulo 2**32 nearest to ``ref_abs`` (within
    ``[-2**31, 2**31)`` of it): data more than 2 GiB away from the reference is ambiguous for TCP itself,
    which is why RFC 7323 PAWS exists.  The hot path in :mod:`smtpsniff.reassembly.stream` inlines
    this expression.
    """
    return ref_abs + (((seq - ref_seq + SEQ_HALF) & SEQ_MASK) - SEQ_HALF)
