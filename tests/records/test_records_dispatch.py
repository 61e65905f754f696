"""SmtpPipeline.feed_all dispatches many frames' events in one pass: the same records as frame by frame.

``feed_all`` hands the events of a whole decoded batch (classic pcap, C fast path) or of every frame
(any other source) to the dispatcher as one lazily chained stream.  The live path's ``feed`` takes
one frame and dispatches its events at once.  Over every capture (ours and the shared ones), the
three give the same sessions (every record, field for field), the same loose anomalies and counts --
also with SMTP found only by probing (no SMTP port given), where a probe's verdict tells the
reassembler to ignore a connection in the middle of a batch.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from corpus import all_capture_params
from smtpsniff.capture.files import open_capture
from smtpsniff.pipeline import AnalysisResult, SmtpPipeline


def _run(path: Path, how: str, **options) -> tuple[SmtpPipeline, AnalysisResult]:
    with open_capture(path) as reader:
        pipeline = SmtpPipeline(**options)
        if how == "batches":
            return pipeline, pipeline.feed_all(reader)
        if how == "frames":
            return pipeline, pipeline.feed_all(frame for frame in reader)  # a generator has no batches
        for frame in reader:  # "live": one frame at a time
            pipeline.feed(frame)
        return pipeline, pipeline.finish()


def _same(path: Path, **options) -> int:
    live_pipeline, live = _run(path, "live", **options)
    for how in ("batches", "frames"):
        pipeline, result = _run(path, how, **options)
        assert len(result.sessions) == len(live.sessions)
        for a, b in zip(result.sessions, live.sessions):
            assert a == b
            assert repr(a) == repr(b)  # also the types of equal values (1 and True, say)
        assert repr(result.anomalies) == repr(live.anomalies)
        assert (result.smtp_packets, result.tcp_connections) == (live.smtp_packets, live.tcp_connections)
        assert pipeline.streams.reassembler.stats == live_pipeline.streams.reassembler.stats
    return len(live.sessions)


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
