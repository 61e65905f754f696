"""Build frozen, slotted dataclasses without the per-field cost of their generated ``__init__``.

A frozen dataclass's ``__init__`` sets every field through ``object.__setattr__``; on the paths
that build one object per line, reply or command that is a visible share of the decoder's time.
:func:`slot_builder` returns a keyword-only function that takes every field (defaults included)
and writes the slots directly: the same object -- same fields, equality, hash and repr -- for
about half the cost.  A class with ``__post_init__`` (validation) gets its own constructor back.

This module knows no SMTP.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def slot_builder(cls: type[T]) -> Callable[..., T]:
    """``build(**every_field) -> cls`` writing the slots of frozen, slotted dataclass ``cls``."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or "__slots__" not in cls.__dict__ \
            or not all(n.isidentifier() and not n.startswith("_") for n in names):
        return cls
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    body = []
    for i, name in enumerate(names):
        env[f"_set{i}"] = cls.__dict__[name].__set__
        body.append(f"    _set{i}(o, {name})\n")
    src = (f"def build(*, {', '.join(names)}):\n    o = _new(_cls)\n{''.join(body)}    return o\n")
    exec(src, env)  # noqa: S102 -- generated from the field names only, as dataclasses does
    build = env["build"]
    build.__qualname__ = build.__name__ = f"build_{cls.__name__}"
    build.__doc__ = f"A {cls.__name__}, every field given by keyword (see smtpsniff.smtp.fastinit)."
    return build
