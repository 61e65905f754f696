"""The C SlotBuilder (smtpsniff/_native/fastpath.c) against fastinit's Python builder, the oracle:
for every class the project builds with ``slot_builder``, the same objects (fields, equality, hash,
repr), the same calls refused, and no reference leaked or lost."""
from __future__ import annotations

import dataclasses
import gc
import sys

import pytest

from smtpsniff import fastinit
from smtpsniff.net import native
from smtpsniff.reassembly.events import StreamData
from smtpsniff.records import model
from smtpsniff.smtp.events import Command, Reply
from smtpsniff.smtp.lines import Line

pytestmark = pytest.mark.skipif(fastinit._CSlotBuilder is None, reason="the C extension is not built")

CLASSES = [StreamData, Line, Reply, Command, model.ReplyRecord, model.CommandRecord, model.RecipientRecord,
           model.TransactionRecord, model.SessionRecord]


def values(cls) -> list:
    """A distinct object per field (a fresh one each call, so reference counts can be watched)."""
    return [object() if i % 2 else [f.name, i] for i, f in enumerate(dataclasses.fields(cls))]


def test_native_slot_builder_switch(monkeypatch):
    assert fastinit.ENV_SWITCH == native.ENV_SWITCH
    monkeypatch.setenv(fastinit.ENV_SWITCH, "0")
    assert not isinstance(fastinit.slot_builder(Reply), fastinit._CSlotBuilder)
    monkeypatch.setenv(fastinit.ENV_SWITCH, "1")
    assert isinstance(fastinit.slot_builder(Reply), fastinit._CSlotBuilder)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_native_slot_builder_same_objects(cls, monkeypatch):
    monkeypatch.setenv(fastinit.ENV_SWITCH, "1")
    c_build, py_build = fastinit.slot_builder(cls), fastinit.python_slot_builder(cls)
    assert isinstance(c_build, fastinit._CSlotBuilder)
    names = [f.name for f in dataclasses.fields(cls)]
    vals = values(cls)
    made = [c_build(*vals), py_build(*vals)]
    half = len(names) // 2  # positional and keywords mixed, keywords out of order
    kw = dict(reversed(list(zip(names[half:], vals[half:]))))
    made += [c_build(*vals[:half], **kw), py_build(*vals[:half], **kw), c_build(**dict(zip(names, vals)))]
    for obj in made:
        assert type(obj) is cls
        assert [getattr(obj, n) for n in names] == vals
        assert all(getattr(obj, n) is v for n, v in zip(names, vals))
        assert obj == made[1] and repr(obj) == repr(made[1])
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, names[0], 1)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_native_slot_builder_refused_calls(cls, monkeypatch):
    monkeypatch.setenv(fastinit.ENV_SWITCH, "1")
    names = [f.name for f in dataclasses.fields(cls)]
    vals = values(cls)
    calls = [
        ((), {}),  # nothing
        (vals[:-1], {}),  # one missing
        (vals + [1], {}),  # one too many
        (vals[:-1], {"no_such_field": 1}),  # unknown keyword
        (vals, {names[0]: 1}),  # given twice
        (vals[:-1], {names[0]: 1}),  # given twice, one missing
    ]
    for args, kwargs in calls:
        for build in (fastinit.slot_builder(cls), fastinit.python_slot_builder(cls)):
            with pytest.raises(TypeError):
                build(*args, **kwargs)


def test_native_slot_builder_references():
    build = fastinit.slot_builder(Reply)
    names = [f.name for f in dataclasses.fields(Reply)]
    vals = values(Reply)
    before = [sys.getrefcount(v) for v in vals]
    for _ in range(1000):
        obj = build(*vals)
        del obj
        for kwargs in ({"no_such_field": 1}, {names[-1]: 1, names[0]: 2}):  # refused after slots were set
            with pytest.raises(TypeError):
                build(*vals[: len(names) - len(kwargs)], **kwargs)
    gc.collect()
    assert [sys.getrefcount(v) for v in vals] == before
    kept = [build(*vals) for _ in range(10)]
    assert [sys.getrefcount(v) for v in vals] == [b + 10 for b in before]
    del kept
    gc.collect()
    assert [sys.getrefcount(v) for v in vals] == before


def test_native_slot_builder_cycles_collected():
    """Objects built in C take part in garbage collection like any other."""
    import weakref

    class Marker:
        pass

    build = fastinit.slot_builder(Line)
    m = Marker()
    ref = weakref.ref(m)
    box: list = [m]
    obj = build(box, b"", 0, 0, 0, False, False)
    box.append(obj)  # obj -> box -> obj
    del obj, box, m
    gc.collect()
    assert ref() is None


def test_native_slot_builder_bad_construction():
    C = fastinit._CSlotBuilder
    with pytest.raises(TypeError):
        C(Reply, ("no_such_field",))
    with pytest.raises(TypeError):
        C(Reply, ("code", "code"))
    with pytest.raises(TypeError):
        C(Reply, ["code"])
    with pytest.raises(TypeError):
        C(int, ("real",))
    with pytest.raises(TypeError):
        C.__new__(C)(1)
    b = C(Reply, ())
    with pytest.raises(TypeError):
        b.__init__(Reply, ("code",))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_native_slot_builder_keyword_orders(cls, monkeypatch):
    """Every split into positional and keyword fields, keywords in field order, shuffled or
    reversed, with the call site's own (interned) names or with equal strings made at run time:
    the C builder's guess of where the next keyword is never changes which slot a value lands in."""
    import random

    monkeypatch.setenv(fastinit.ENV_SWITCH, "1")
    c_build, py_build = fastinit.slot_builder(cls), fastinit.python_slot_builder(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    vals = values(cls)
    rng = random.Random(1)
    for split in range(len(names) + 1):
        pairs = list(zip(names[split:], vals[split:]))
        shuffled = pairs[:]
        rng.shuffle(shuffled)
        for order in (pairs, shuffled, pairs[::-1]):
            for fresh in (False, True):  # fresh: keys that are equal strings, not the same objects
                kw = {("".join(list(n)) if fresh else n): v for n, v in order}
                obj = c_build(*vals[:split], **kw)
                assert all(getattr(obj, n) is v for n, v in zip(names, vals))
                assert obj == py_build(*vals[:split], **kw)
        # a literal keyword call (vectorcall with the call site's names), in reverse order
        call = "build(*head, " + ", ".join(f"{n}=v[{i}]" for i, n in reversed(list(enumerate(names))[split:])) + ")"
        obj = eval(call, {"build": c_build, "head": vals[:split], "v": vals})  # noqa: S307 - fixed test text
        assert all(getattr(obj, n) is v for n, v in zip(names, vals))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_native_slot_builder_reduce(cls, monkeypatch):
    """``reduce(obj)``: the builder and obj's fields in order, the same objects, as pickle needs
    them to build obj again; refused for any other class (a subclass too) and for unset slots."""
    monkeypatch.setenv(fastinit.ENV_SWITCH, "1")
    build = fastinit.slot_builder(cls)
    vals = values(cls)
    obj = build(*vals)
    before = [sys.getrefcount(v) for v in vals]
    builder, fields = build.reduce(obj)
    assert builder is build and type(fields) is tuple and list(fields) == vals
    assert all(f is v for f, v in zip(fields, vals))
    assert builder(*fields) == obj
    del fields
    assert [sys.getrefcount(v) for v in vals] == before
    other = CLASSES[(CLASSES.index(cls) + 1) % len(CLASSES)]
    with pytest.raises(TypeError):
        build.reduce(fastinit.slot_builder(other)(*values(other)))
    with pytest.raises(TypeError):
        build.reduce(object())
    with pytest.raises(AttributeError):
        build.reduce(object.__new__(cls))  # no field set
