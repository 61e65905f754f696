"""Which sessions sent a given command verb: the index several detectors (and the credentials
table) filter their sessions with, instead of each scanning every command of every session.

Read from the ``commands`` table when the tables were built (one vectorised comparison over a
column whose values are each command's ``verb``), else from the session records.  Both give the
same ids: the table is built from those records (tests/findings compares them on every capture).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter

from ..records.builder import SessionRecords

_VERB = attrgetter("verb")


def sessions_sending(verb: str, records: Sequence[SessionRecords], tables: Mapping[str, object]) -> frozenset[int]:
    """Ids of the sessions of ``records`` that sent at least one command ``verb`` (upper case)."""
    commands = tables.get("commands")
    if commands is not None:
        return frozenset(commands["session_id"][commands["verb"] == verb].tolist())  # type: ignore[index]
    return sessions_sending_in_records(verb, records)


def sessions_sending_in_records(verb: str, records: Sequence[SessionRecords]) -> frozenset[int]:
    """:func:`sessions_sending` read from the records alone."""
    return frozenset(r.session.session_id for r in records if verb in map(_VERB, r.commands))
