"""Parsed messages to bytes and back, for parsing in another process (:mod:`smtpsniff.mail.worker`).

The stdlib pickles a frozen, slotted dataclass through its generated ``__setstate__``, which sets
each field with ``object.__setattr__`` after looking the fields up again: about 1.7 us an object,
a quarter of the cost of parsing a message.  :func:`dumps` reduces every class of the parse result
(:data:`CLASSES`) to its fields in order, and :func:`loads` (plain :func:`pickle.loads`) builds it
back through :func:`smtpsniff.fastinit.slot_builder`: the same objects, equal field by field, for a
fraction of the cost.  What is not one of these classes (tuples, strings, bytes, datetimes, the
:class:`~smtpsniff.anomaly.Layer` enum) is pickled as usual.

Only bytes this module wrote should be given to :func:`loads`: pickle data can run code.  The
worker's pipe is such a channel (the parent starts the worker and nothing else writes to it).
"""
from __future__ import annotations

import copyreg
import io
import pickle
from dataclasses import fields
from operator import attrgetter

from ..anomaly import Anomaly
from ..fastinit import slot_builder
from .model import (
    Address,
    EmbeddedMessage,
    Header,
    MimePart,
    ParsedMessage,
    ReceivedHop,
)

#: The classes reduced to their fields; the position of each is its code in the pickled data.
CLASSES: tuple[type, ...] = (Header, Address, ReceivedHop, EmbeddedMessage, MimePart, ParsedMessage, Anomaly)

_BUILDERS = tuple(slot_builder(cls) for cls in CLASSES)


def _rebuild(code: int, values: tuple):
    """The object of class ``CLASSES[code]`` with field values ``values`` in field order."""
    return _BUILDERS[code](*values)


def _reducer(code: int, cls: type):
    get = attrgetter(*(f.name for f in fields(cls)))

    def reduce(obj):
        return _rebuild, (code, get(obj))

    return reduce


_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH.update({cls: _reducer(code, cls) for code, cls in enumerate(CLASSES)})


def dumps(value: object) -> bytes:
    """``value`` (parse results, in any container) pickled with :data:`CLASSES` reduced to fields."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(value)
    return out.getvalue()


#: Read what :func:`dumps` wrote (plain unpickling: :func:`_rebuild` is found by name).
loads = pickle.loads
