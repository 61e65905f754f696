"""Every column of every table ``smtpsniff.read`` returns owns its memory.

The frames take their column arrays without a copy (``analysis.tables._typed_frame``), so a
column array handed to two columns or two frames would let a user's in-place change of one table
show in another: no two numpy buffers of a read's tables may overlap.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import smtpsniff
from corpus import ROOT

_CAPTURES = ["captures/smtp-sample.pcap", "tests/data/smtp-mime.pcap", "tests/data/smtp-auth-attacks.pcap",
             "tests/data/smtp-spoofing.pcap"]


def _buffers(array) -> list[np.ndarray]:
    """The numpy buffers behind a column's array (values, mask), whatever its dtype's kind."""
    found = [getattr(array, name, None) for name in ("_data", "_mask", "_ndarray")]
    if isinstance(array, np.ndarray):
        found.append(array)
    return [b for b in found if isinstance(b, np.ndarray) and b.size]


@pytest.mark.parametrize("name", _CAPTURES)
def test_tables_columns_share_no_buffer(name):
    capture = smtpsniff.read(ROOT / name)
    buffers = [(f"{table}.{column}", buffer) for table, frame in capture.tables.items()
               for column in frame.columns for buffer in _buffers(frame[column].array)]
    assert len(buffers) > 100
    shared = [(a, b) for (a, x), (b, y) in itertools.combinations(buffers, 2) if np.shares_memory(x, y)]
    assert shared == []
