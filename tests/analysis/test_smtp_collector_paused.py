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


class _Node:
    """A container the collector tracks (a cycle when it points to itself)."""

    def __init__(self) -> None:
        self.other = None


def test_kept_objects_go_to_the_oldest_generation(restore_gc):
    gc.enable()
    gc.collect()
    with collector_paused(kept=True):
        kept = [_Node() for _ in range(1000)]
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(o) in oldest for o in kept) and gc.get_freeze_count() == 0
    assert gc.get_count()[0] < 100  # the young generation starts empty: no pass over what was kept


def test_kept_objects_cycles_still_collected(restore_gc):
    import weakref

    gc.enable()
    with collector_paused(kept=True):
        node = _Node()
        node.other = node
        ref = weakref.ref(node)
    del node
    assert ref() is not None  # a cycle: reference counting alone does not free it
    gc.collect()
    assert ref() is None


def test_kept_leaves_someone_elses_freeze_alone(restore_gc):
    gc.enable()
    gc.freeze()
    try:
        count = gc.get_freeze_count()
        with collector_paused(kept=True):
            made = _Node()
        assert count > 0 and gc.get_freeze_count() == count and gc.isenabled()
        assert id(made) not in {id(o) for o in gc.get_objects(generation=2)}  # not moved: left young
    finally:
        gc.unfreeze()
