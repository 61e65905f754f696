"""Records, events and parsed messages to bytes and back, between smtpsniff's own processes.

The stdlib pickles a frozen, slotted dataclass through its generated ``__setstate__``, which sets
each field with ``object.__setattr__`` after looking the fields up again (about 1.7 us an object),
and an enum member by calling its class.  :func:`dumps` reduces every class of :data:`CLASSES` to
its fields in order and every enum of :data:`ENUMS` to its member's name, and plain
:func:`pickle.loads` (:data:`loads`) builds them back through
:func:`smtpsniff.fastinit.slot_builder` and an attribute look-up: the same objects, equal field by
field, for a fraction of the cost.  With the C extension the builders themselves take the objects
apart (``SlotBuilder.reduce``) and are called on the fields directly.  Anything else is pickled as
usual.

It serves :mod:`smtpsniff.worker`: sessions to decode go one way (:class:`~smtpsniff.pipeline.SessionJob`),
their records and parsed messages come back.  Only bytes smtpsniff wrote should be given to
:data:`loads`: pickle data can run code.  The worker's pipes are such a channel (the parent starts
the worker and nothing else writes to them).

It knows nothing of packets, streams or SMTP beyond the classes it lists.
"""
from __future__ import annotations

import copyreg
import io
import pickle
from dataclasses import fields
from operator import attrgetter

from .anomaly import Anomaly, Layer
from .fastinit import slot_builder
from .mail.model import (
    Address,
    EmbeddedMessage,
    Header,
    MimePart,
    ParsedMessage,
    ReceivedHop,
)
from .pipeline import SessionJob
from .reassembly.events import (
    CloseReason,
    ConnectionClosed,
    ConnectionOpened,
    Direction,
    Endpoint,
    RoleBasis,
    StreamChunks,
)
from .records.builder import MessageData, SessionRecords
from .records.model import (
    CommandRecord,
    ConnectionInfo,
    RecipientRecord,
    ReplyRecord,
    SessionRecord,
    TransactionRecord,
    TransactionStatus,
)
from .smtp.events import (
    AuthStep,
    AuthStepKind,
    Capabilities,
    MessageComplete,
    PlaintextAfterStarttls,
    ReplyStage,
)

#: The classes reduced to their fields; the position of each is its code in the pickled data.
CLASSES: tuple[type, ...] = (
    # parsed messages
    Header, Address, ReceivedHop, EmbeddedMessage, MimePart, ParsedMessage, Anomaly,
    # a session's records
    SessionRecords, SessionRecord, ConnectionInfo, TransactionRecord, RecipientRecord, CommandRecord, ReplyRecord,
    MessageData, MessageComplete, AuthStep, PlaintextAfterStarttls, Capabilities,
    # what decides them
    SessionJob, Endpoint, ConnectionOpened, ConnectionClosed, StreamChunks,
)
#: The enums reduced to their members' names.
ENUMS: tuple[type, ...] = (Layer, Direction, RoleBasis, CloseReason, TransactionStatus, AuthStepKind, ReplyStage)

_BUILDERS = tuple(slot_builder(cls) for cls in CLASSES)


def _rebuild(code: int, values: tuple):
    """The object of class ``CLASSES[code]`` with field values ``values`` in field order."""
    return _BUILDERS[code](*values)


def _reducer(code: int, cls: type):
    names = [f.name for f in fields(cls)]
    get = attrgetter(*names) if len(names) > 1 else (lambda obj, _name=names[0]: (getattr(obj, _name),))

    def reduce(obj):
        return _rebuild, (code, get(obj))

    return reduce


def _enum_reducer(cls: type):
    def reduce(member):
        return getattr, (cls, member.name)

    return reduce


def _builder(code: int):
    """The builder of class ``CLASSES[code]`` (what a C builder is pickled as, see below)."""
    return _BUILDERS[code]


_CODES = {id(builder): code for code, builder in enumerate(_BUILDERS)}


def _reduce_builder(builder) -> tuple:
    """A C builder of :data:`_BUILDERS`, pickled as the call of :func:`_builder` that gives it back
    (pickle memoizes it: once per dump)."""
    return _builder, (_CODES[id(builder)],)


_DISPATCH = copyreg.dispatch_table.copy()
# A C builder (smtpsniff._native.fastpath.SlotBuilder) reduces an object itself, in C: to the
# builder and the object's fields.  Unpickling then calls the builder on each object's fields
# without a Python frame between.  Without the C extension, a Python reducer and _rebuild do the
# same.  Either way the bytes are read by plain unpickling, whichever builders the reading process
# has.
for _code, (_cls, _built) in enumerate(zip(CLASSES, _BUILDERS)):
    if hasattr(_built, "reduce"):
        _DISPATCH[_cls] = _built.reduce
        _DISPATCH[type(_built)] = _reduce_builder
    else:
        _DISPATCH[_cls] = _reducer(_code, _cls)
del _code, _cls, _built
_DISPATCH.update({cls: _enum_reducer(cls) for cls in ENUMS})


def dumps(value: object) -> bytes:
    """``value`` pickled with :data:`CLASSES` reduced to fields and :data:`ENUMS` to names."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(value)
    return out.getvalue()


#: Read what :func:`dumps` wrote (plain unpickling: :func:`_rebuild` is found by name).
loads = pickle.loads
