"""``SmtpConversation(c_readers=...)``: the C readers a pipeline asks for once, for all its connections.

A conversation given them decodes as one that asks :func:`smtpsniff.net.native.smtp_functions`
itself, and one given ``None`` as the pure-Python decoder (``SMTPSNIFF_NATIVE=0``, the oracle); a
pipeline follows the switch as it is set when the pipeline is made.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from smtp_transcript import feed
from test_smtp_native import SESSIONS, _whole, recorded_calls

import smtpsniff.pipeline as pipeline_module
from smtpsniff.capture.files import open_capture
from smtpsniff.net import native
from smtpsniff.pipeline import SmtpPipeline
from smtpsniff.smtp.conversation import SmtpConversation

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus import own_captures  # noqa: E402

pytestmark = pytest.mark.skipif(
    not native.available() or not hasattr(native._fastpath, "smtp_content"),
    reason="the C extension smtpsniff._native.fastpath is not built, or predates the SMTP readers")


@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_smtp_c_readers_given_or_asked(name, monkeypatch):
    items = SESSIONS[name]
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    python_asked = feed(items, _whole)[0]
    monkeypatch.setenv(native.ENV_SWITCH, "1")
    c_asked = feed(items, _whole)[0]
    readers = native.smtp_functions()
    assert readers is not None
    assert feed(items, _whole, c_readers=readers)[0] == c_asked
    assert feed(items, _whole, c_readers=None)[0] == python_asked == c_asked


def _readers_used(monkeypatch, switch: str) -> set:
    """The C readers of every conversation a pipeline made with ``SMTPSNIFF_NATIVE=switch``."""
    monkeypatch.setenv(native.ENV_SWITCH, switch)
    used: set = set()

    class Spy(SmtpConversation):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            used.add(self._c_command)

    monkeypatch.setattr(pipeline_module, "SmtpConversation", Spy)
    with open_capture(own_captures()[0]) as reader:
        SmtpPipeline().feed_all(reader)
    return used


def test_smtp_c_readers_pipeline_follows_switch(monkeypatch):
    assert _readers_used(monkeypatch, "0") == {None}
    assert _readers_used(monkeypatch, "1") == {native.smtp_functions()[0]}


def test_smtp_c_readers_recorded_calls_leave_them_out():
    made = recorded_calls(own_captures()[0])
    assert made and all("c_readers" not in kwargs for kwargs, _ in made)
