"""``records.builder.SharedValues``: the builders of one pipeline hold equal values once.

The oracle is the same pipeline with no shared table (``SessionBuilder``'s default, and what a
pipeline that does not keep its sessions uses): every capture of the corpus must give equal
session records, and equal reply texts and capabilities must then be one object.
"""
from __future__ import annotations

from collections import defaultdict

import pytest

from corpus import all_capture_params
from smtpsniff.capture.files import open_capture
from smtpsniff.pipeline import SmtpPipeline
from smtpsniff.records.builder import SharedValues, capability_lines


def _records(path, shared: bool):
    pipeline = SmtpPipeline()
    if not shared:
        pipeline._shared = None
    with open_capture(path) as reader:
        return pipeline.feed_all(reader).sessions


@pytest.mark.parametrize("path", all_capture_params())
def test_records_shared_values_give_the_records_of_unshared_ones(path):
    shared, alone = _records(path, True), _records(path, False)
    assert shared == alone
    seen: dict[object, list] = defaultdict(list)
    for bundle in shared:
        for r in bundle.replies:
            seen[r.text].append(r.text)
        for c in bundle.capabilities:
            seen[c.items].append(c.items)
    for value, held in seen.items():
        assert all(h is held[0] for h in held), value


def test_records_not_kept_share_nothing():
    assert SmtpPipeline(keep_sessions=False)._shared is None
    assert SmtpPipeline()._shared is not None


def test_records_shared_values_tables():
    shared = SharedValues()
    text, again = "".join(["250 ", *["ok"] * 10]), "".join(["250 ", *["okok"] * 5])
    assert text is not again and shared.text(again) is again and shared.text(text) is again
    items = (("SIZE", ("10240000",)), ("PIPELINING", ()), ("AUTH", ("PLAIN", "LOGIN")))
    lines = shared.capability_lines(items)
    assert lines == capability_lines(items) == ("SIZE 10240000", "PIPELINING", "AUTH PLAIN LOGIN")
    assert shared.capability_lines(items[:1] + items[1:]) is lines
