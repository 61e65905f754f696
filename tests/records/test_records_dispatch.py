"""SmtpPipeline.feed_all dispatches a decoded batch's events in one pass: the same records as frame by frame.

With a classic pcap and the C fast path, ``feed_all`` hands each batch's events to the dispatcher as
one lazily chained stream; any other source goes frame by frame through ``feed``.  Over every
capture (ours and the shared ones), both give the same sessions (every record, field for field),
the same loose anomalies and counts -- also with SMTP found only by probing (no SMTP port given),
where a probe's verdict tells the reassembler to ignore a connection in the middle of a batch.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from corpus import all_capture_params
from smtpsniff.capture.files import open_capture
from smtpsniff.pipeline import AnalysisResult, SmtpPipeline


def _run(path: Path, *, batched: bool, **options) -> tuple[SmtpPipeline, AnalysisResult]:
    with open_capture(path) as reader:
        pipeline = SmtpPipeline(**options)
        frames = reader if batched else (frame for frame in reader)  # a generator has no batches
        return pipeline, pipeline.feed_all(frames)


def _same(path: Path, **options) -> int:
    fast_pipeline, fast = _run(path, batched=True, **options)
    slow_pipeline, slow = _run(path, batched=False, **options)
    assert len(fast.sessions) == len(slow.sessions)
    for a, b in zip(fast.sessions, slow.sessions):
        assert a == b
        assert repr(a) == repr(b)  # also the types of equal values (1 and True, say)
    assert repr(fast.anomalies) == repr(slow.anomalies)
    assert (fast.smtp_packets, fast.tcp_connections) == (slow.smtp_packets, slow.tcp_connections)
    assert fast_pipeline.streams.reassembler.stats == slow_pipeline.streams.reassembler.stats
    return len(fast.sessions)


@pytest.mark.parametrize("path", all_capture_params())
def test_records_batched_dispatch_same_as_frame_by_frame(path: Path) -> None:
    _same(path)


@pytest.mark.parametrize("path", all_capture_params())
def test_records_batched_dispatch_same_when_smtp_is_only_probed(path: Path) -> None:
    # Port 1 carries no SMTP in any capture: every SMTP session is found by a probe, every other
    # connection is ignored once its probe says no.
    _same(path, smtp_ports=frozenset({1}))


def test_records_probed_sessions_are_found() -> None:
    """The probe path above is exercised: the bundled capture's sessions are found without their port."""
    path = Path(__file__).resolve().parents[2] / "captures" / "smtp-sample.pcap"
    assert _same(path, smtp_ports=frozenset({1})) == _same(path) > 0
