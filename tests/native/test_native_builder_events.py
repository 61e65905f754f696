"""The record builder's C ``add_all`` (``fastpath.BuilderEvents``, through
:func:`smtpsniff.records.builder.add_events`) against :meth:`SessionBuilder.add_all` itself.

Every SMTP session of every capture is decoded once; its events are then given to two builders,
one through each ``add_all``, and the two must finish with equal records.  So must they for the
same events cut into batches at random places, with events dropped, repeated or moved, and
when either raises, the other must raise the same error.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from corpus import all_capture_params, session_jobs

from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.pipeline import _replay_ops, new_session
from smtpsniff.records.builder import SessionBuilder, SharedValues, add_events
from smtpsniff.smtp.events import Command, Reply

C_ADD = add_events(True)
pytestmark = pytest.mark.skipif(C_ADD is add_events(False), reason="the C extension is not built")


def sessions_events(path: Path) -> list[tuple]:
    """``(job, events)`` of each SMTP session of ``path``: its decoder's events, all in order."""
    out = []
    for job in session_jobs(path):
        events: list = []
        session = new_session(job.opened, job.detected_by, DEFAULT_LIMITS, None, None)
        session.add = lambda builder, batch, events=events: events.extend(batch)  # gathered, built below
        _replay_ops(session, job.ops)
        session.finish(job.closed)
        out.append((job, events))
    return out


def built(job, batches: list[list], add, shared: SharedValues | None = None):
    """The records (or the exception) of a builder given ``batches`` one ``add`` at a time."""
    builder = SessionBuilder(job.opened, detected_by=job.detected_by,
                             implicit_tls=job.opened.server.port == 465, shared=shared)
    try:
        for batch in batches:
            add(builder, batch)
        return builder.finish(job.closed, tls_bytes_c2s=3, tls_bytes_s2c=5)
    except Exception as exc:  # noqa: BLE001 -- compared with the other builder's
        return (type(exc), str(exc))


def assert_same(job, batches: list[list], shared_pair: tuple | None = None) -> None:
    python_shared, c_shared = shared_pair or (None, None)
    expected = built(job, [list(b) for b in batches], SessionBuilder.add_all, python_shared)
    got = built(job, [list(b) for b in batches], C_ADD, c_shared)
    assert got == expected


@pytest.mark.parametrize("path", all_capture_params())
def test_every_session_builds_the_same_records(path):
    sessions = sessions_events(path)
    python_shared, c_shared = SharedValues(), SharedValues()
    for job, events in sessions:
        assert_same(job, [events])
        assert_same(job, [events], (python_shared, c_shared))
        one_by_one = [[e] for e in events]
        assert_same(job, one_by_one)


@pytest.mark.parametrize("path", all_capture_params())
def test_altered_event_sequences_build_the_same_records(path):
    """Events dropped, repeated, moved and cut into batches anywhere: the C handlers must keep
    the Python ones' state in every order, not only in the decoder's."""
    rng = random.Random(f"builder-events-{path}")
    for job, events in sessions_events(path)[:60]:
        for _ in range(6):
            altered = list(events)
            for _ in range(rng.randint(1, 4)):
                if not altered:
                    break
                i = rng.randrange(len(altered))
                what = rng.random()
                if what < 0.3:
                    del altered[i]
                elif what < 0.6:
                    altered.insert(rng.randrange(len(altered) + 1), altered[i])
                else:
                    altered.insert(rng.randrange(len(altered) + 1), altered.pop(i))
            cuts = sorted(rng.sample(range(len(altered) + 1), min(3, len(altered) + 1)))
            batches = [altered[a:b] for a, b in zip([0, *cuts], [*cuts, len(altered)])]
            assert_same(job, batches)


def test_the_c_handlers_ran():
    """The C function is not the Python method under another name: the builder's own methods
    are left alone, yet commands and replies are built (no Python handler of theirs is called)."""
    path = Path(__file__).resolve().parents[2] / "captures" / "smtp-sample.pcap"
    job, events = next((j, e) for j, e in sessions_events(path)
                       if any(type(x) is Command for x in e) and any(type(x) is Reply for x in e))
    calls = []

    class Watched(SessionBuilder):
        __slots__ = ()

        def _on_command(self, c):
            calls.append("command")
            SessionBuilder._on_command(self, c)

    # A subclass goes its own way: C calls its add_all, which calls its handlers.
    builder = Watched(job.opened, detected_by=job.detected_by, implicit_tls=False)
    C_ADD(builder, list(events))
    assert "command" in calls
    calls.clear()
    # SessionBuilder itself: the C handlers, with the same outcome.
    plain = SessionBuilder(job.opened, detected_by=job.detected_by, implicit_tls=False)
    C_ADD(plain, list(events))
    assert calls == []
    assert plain.finish(job.closed) == builder.finish(job.closed)


def test_events_not_in_a_list_go_through_add_all():
    path = Path(__file__).resolve().parents[2] / "captures" / "smtp-sample.pcap"
    job, events = sessions_events(path)[0]
    a = SessionBuilder(job.opened, detected_by=job.detected_by, implicit_tls=False)
    b = SessionBuilder(job.opened, detected_by=job.detected_by, implicit_tls=False)
    C_ADD(a, tuple(events))
    SessionBuilder.add_all(b, events)
    assert a.finish(job.closed) == b.finish(job.closed)


def test_bad_calls_raise():
    with pytest.raises(TypeError):
        C_ADD(None)
    with pytest.raises(AttributeError):  # no SessionBuilder: its add_all is asked for
        C_ADD(object(), [])
    path = Path(__file__).resolve().parents[2] / "captures" / "smtp-sample.pcap"
    job, events = sessions_events(path)[0]
    builder = SessionBuilder(job.opened, detected_by=job.detected_by, implicit_tls=False)
    builder._current = None  # a state the handlers cannot read: an error, not a crash
    reply = next(e for e in events if type(e) is Reply)
    with pytest.raises(TypeError):
        C_ADD(builder, [reply])
