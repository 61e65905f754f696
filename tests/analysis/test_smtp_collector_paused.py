"""``read`` holds the cyclic garbage collector while it works and gives it back as it found it."""
from __future__ import annotations

import gc
from pathlib import Path

import pytest

import smtpsniff
from smtpsniff.pipeline import collector_paused

SAMPLE = Path(__file__).resolve().parents[2] / "captures" / "smtp-sample.pcap"


@pytest.fixture
def restore_gc():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_read_restores_an_enabled_collector(restore_gc):
    gc.enable()
    seen = []

    def watch(frames):  # the progress hook sees each frame as it is read
        for frame in frames:
            seen.append(gc.isenabled())
            yield frame

    cap = smtpsniff.read(SAMPLE, progress=watch)
    assert len(cap.sessions) > 0 and seen and not any(seen)  # held while the frames were read
    assert gc.isenabled()


def test_read_leaves_a_disabled_collector_disabled(restore_gc):
    gc.disable()
    smtpsniff.read(SAMPLE)
    assert not gc.isenabled()


def test_collector_given_back_when_the_block_raises(restore_gc):
    gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: the outer block alone gives it back
            pass
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()
