"""An open SMTP session hands its waiting events to its builder in batches, not all at close.

The pipeline keeps a session's decoder events in ``_Session.pending`` and gives them to the
builder in one ``add_all`` when ``PENDING_EVENTS`` have gathered and when the connection closes.
Fed frame by frame (as the live path feeds it) with a small batch, every open session must hold
fewer events than that batch plus the few one frame brings, and the records must be those of the
default run, which hands most sessions' events over only at close (the builder reads its state
only in ``finish``).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from corpus import own_captures
from smtpsniff import pipeline as pipeline_module
from smtpsniff.capture.files import open_capture

_BATCH = 8
_ONE_FRAME = 16  # more than any single frame of these captures adds to a session's events


def _records(path: Path) -> list[str]:
    with open_capture(path) as reader:
        return [repr(r) for r in pipeline_module.SmtpPipeline().feed_all(reader).sessions]


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in own_captures()])
def test_records_pending_events_stay_bounded_and_build_the_same_records(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _records(path)
    monkeypatch.setattr(pipeline_module, "PENDING_EVENTS", _BATCH, raising=False)
    pipeline = pipeline_module.SmtpPipeline()
    most = 0
    with open_capture(path) as reader:
        for frame in reader:
            pipeline.feed(frame)
            most = max([most, *(len(s.pending) for s in pipeline._sessions.values())])
    assert most < _BATCH + _ONE_FRAME
    assert [repr(r) for r in pipeline.finish().sessions] == expected
