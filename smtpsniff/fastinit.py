"""Build frozen, slotted dataclasses without the per-field cost of their generated ``__init__``.

A frozen dataclass's ``__init__`` sets every field through ``object.__setattr__``; on the paths
that build one object per segment, line, reply or command that is a visible share of the time.
:func:`slot_builder` returns a function that takes every field (defaults included), by position in
field order or by keyword, and writes the slots directly: the same object -- same fields,
equality, hash and repr -- for about half the cost; the C ``SlotBuilder`` of
``smtpsniff._native.fastpath``, when it is built and ``SMTPSNIFF_NATIVE`` is not ``0`` when the
builder is made, writes the slots for a small fraction of it.  A class with ``__post_init__``
(validation) gets a function of the same signature that calls its constructor.

This module knows nothing of packets, streams or SMTP: every layer may use it.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from smtpsniff._native import fastpath as _fastpath

_CSlotBuilder = None if _fastpath is None else _fastpath.SlotBuilder  # (None: the Python builder is used)

T = TypeVar("T")

#: The switch of every C fast path (as :data:`smtpsniff.net.native.ENV_SWITCH`): ``0`` turns it off.
ENV_SWITCH = "SMTPSNIFF_NATIVE"


def slot_builder(cls: type[T]) -> Callable[..., T]:
    """``build(*every_field) -> cls`` writing the slots of frozen, slotted dataclass ``cls``.

    The builder is the C one when the extension is built and ``SMTPSNIFF_NATIVE`` is not ``0`` now,
    else :func:`python_slot_builder`'s; both build the same objects and reject the same calls (a
    field missing, unknown or given twice: ``TypeError``).
    """
    if (_CSlotBuilder is not None and os.environ.get(ENV_SWITCH, "1").strip() != "0"
            and _slots_only(cls)):
        try:
            return _CSlotBuilder(cls, tuple(f.name for f in fields(cls)))  # type: ignore[arg-type]
        except TypeError:  # a field that is no slot of cls itself (inherited): the Python way
            pass
    return python_slot_builder(cls)


def _slots_only(cls: type) -> bool:
    """Whether :func:`python_slot_builder` would write ``cls``'s slots (not call its constructor)."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    return (all(n.isidentifier() and not n.startswith("_") for n in names)
            and not hasattr(cls, "__post_init__") and "__slots__" in cls.__dict__)


def python_slot_builder(cls: type[T]) -> Callable[..., T]:
    """:func:`slot_builder` in Python: a generated function that sets each slot through its descriptor."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    if not all(n.isidentifier() and not n.startswith("_") for n in names):
        return cls
    params = ", ".join(names)
    env: dict[str, Any] = {"_cls": cls}
    if hasattr(cls, "__post_init__") or "__slots__" not in cls.__dict__:
        keywords = ", ".join(f"{n}={n}" for n in names)
        src = f"def make(_cls):\n    def build({params}):\n        return _cls({keywords})\n    return build\n"
        setters: list[Any] = []
    else:
        # The setters are closure variables of the built function, as a hand-written one would have.
        setters = [cls.__dict__[name].__set__ for name in names]
        set_params = "".join(f", _set{i}" for i in range(len(names)))
        body = "".join(f"        _set{i}(o, {name})\n" for i, name in enumerate(names))
        src = (f"def make(_cls{set_params}):\n    _new = object.__new__\n    def build({params}):\n"
               f"        o = _new(_cls)\n{body}        return o\n    return build\n")
    exec(src, env)  # noqa: S102 -- generated from the field names only, as dataclasses does
    build = env["make"](cls, *setters)
    build.__qualname__ = build.__name__ = f"build_{cls.__name__}"
    build.__doc__ = f"A {cls.__name__}, every field given in field order or by keyword (see smtpsniff.fastinit)."
    return build
