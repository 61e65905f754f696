"""``SmtpConversation.feed_client`` / ``feed_server`` (the pipeline's way in) against ``receive``.

The pipeline hands a data event's bytes to ``feed_client`` or ``feed_server``, which append the
events to the session's own list instead of returning a new one.  ``receive`` is the oracle: over
every capture, with the C readers on and off, both ways must give the same events in the same
order and leave the conversation in the same state; and bytes after ``close`` are still reported by
``receive`` alone (the pipeline never feeds a closed conversation).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from corpus import all_capture_params
from smtpsniff.capture.files import open_capture
from smtpsniff.net import native
from smtpsniff.reassembly.events import ConnectionClosed, ConnectionOpened, StreamData, StreamGap
from smtpsniff.reassembly.table import SMTP_PORTS
from smtpsniff.smtp.conversation import C2S, S2C, SmtpConversation
from smtpsniff.streams import StreamPipeline, stream_events


def _both_ways(path: Path) -> tuple[list, list]:
    """Per SMTP-port connection: (events, state) fed through receive, and through feed_*."""
    by_receive: dict[int, tuple[SmtpConversation, list]] = {}
    by_feed: dict[int, tuple[SmtpConversation, list]] = {}
    done_receive: list = []
    done_feed: list = []
    with open_capture(path) as reader:
        for ev in stream_events(reader, StreamPipeline()):
            kind = type(ev)
            if kind is ConnectionOpened:
                if ev.server.port in SMTP_PORTS:
                    for table in (by_receive, by_feed):
                        table[ev.conn_id] = (SmtpConversation(midstream=not ev.handshake_seen,
                                                              implicit_tls=ev.server.port == 465), [])
                continue
            if getattr(ev, "conn_id", None) not in by_receive:
                continue
            (a, a_out), (b, b_out) = by_receive[ev.conn_id], by_feed[ev.conn_id]
            if kind is StreamData:
                a_out += a.receive(ev.direction, ev.data, ev.ts_ns, ev.frame)
                (b.feed_client if ev.direction is C2S else b.feed_server)(bytes(ev.data), 0, ev.ts_ns, ev.frame, b_out)
            elif kind is StreamGap:
                a_out += a.gap(ev.direction, ev.length, ev.ts_ns, ev.frame)
                b_out += b.gap(ev.direction, ev.length, ev.ts_ns, ev.frame)
            elif kind is ConnectionClosed:
                a_out += a.close(ev.ts_ns)
                b_out += b.close(ev.ts_ns)
                for conv, out, done in ((a, a_out, done_receive), (b, b_out, done_feed)):
                    done.append((out, conv.state, conv.client_mode, conv.server_mode, conv.commands_sent))
                del by_receive[ev.conn_id], by_feed[ev.conn_id]
    return done_receive, done_feed


@pytest.mark.parametrize("on", [True, False], ids=["c", "python"])
@pytest.mark.parametrize("path", all_capture_params())
def test_smtp_feed_into_matches_receive(path: Path, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if on and not native.enabled():
        pytest.skip("the C extension is not built or switched off")
    monkeypatch.setenv(native.ENV_SWITCH, "1" if on else "0")
    by_receive, by_feed = _both_ways(path)
    assert by_feed == by_receive


def test_smtp_feed_into_after_close_is_left_to_receive() -> None:
    conv = SmtpConversation()
    out: list = []
    conv.feed_server(b"220 hi\r\n", 0, 1, 1, out)
    conv.feed_client(b"QUIT\r\n", 0, 2, 2, out)
    conv.feed_server(b"221 bye\r\n", 0, 3, 3, out)
    assert [type(e).__name__ for e in out] == ["Reply", "Command", "Reply"]
    conv.close(4)
    assert [e.kind for e in conv.receive(S2C, b"x", 5, 5)] == ["data_after_close"]
    conv.feed_client(b"NOOP\r\n", 0, 6, 6, out)  # a closed conversation's modes drop them
    assert len(out) == 3
