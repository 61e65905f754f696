"""What every detector reads: the session records, the credentials, parsed messages, thresholds.

Detectors receive one :class:`DetectionContext`; it parses each message at most once and resolves
thresholds by name.  It knows nothing of pandas or output.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..credentials import Credential
from ..credentials.mask import mask
from ..limits import DEFAULT_LIMITS, Limits
from ..mail import parse_message
from ..mail.model import ParsedMessage
from ..records.builder import MessageData, SessionRecords
from ..records.model import SessionRecord
from .model import Threshold
from .verbs import sessions_sending


@dataclass
class DetectionContext:
    records: list[SessionRecords]
    credentials: list[Credential]
    thresholds: Mapping[str, float] = field(default_factory=dict)
    known_thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    show_secrets: bool = False
    limits: Limits = DEFAULT_LIMITS
    _parsed: dict[tuple[int, int, int], ParsedMessage] = field(default_factory=dict)
    _by_session: dict[int, list[Credential]] | None = None
    #: Tables built before the findings (the mail tables' ``messages`` and ``headers``), if any.
    tables: Mapping[str, object] = field(default_factory=dict)
    from_fields: dict | None = None  # (session, transaction) -> FromFields, filled by .headers
    from_fields_from_tables: bool = False
    from_messages: list | None = None  # what .headers.messages yields, listed by its first call
    from_header_values: dict | None = None  # (session, transaction) -> From fields, filled by .headers
    from_mailboxes: dict = field(default_factory=dict)  # From text -> its mailboxes, filled by .headers
    _sending: dict[str, frozenset[int]] = field(default_factory=dict)
    _session_ids: np.ndarray | None = None  # each record's session id, in record order
    _auth_attempts: list[tuple[Credential, SessionRecord]] | None = None

    def threshold(self, name: str) -> float:
        if name in self.thresholds:
            return float(self.thresholds[name])
        return self.known_thresholds[name].default

    def parsed(self, message: MessageData) -> ParsedMessage:
        """The message parsed by :func:`smtpsniff.mail.parse_message` (cached)."""
        key = (message.session_id, message.trans_index, message.command_index)
        if key not in self._parsed:
            self._parsed[key] = parse_message(message.content, limits=self.limits, complete=message.complete)
        return self._parsed[key]

    def auth_attempts(self) -> list[tuple[Credential, SessionRecord]]:
        """Each credential with a username and a known outcome, in order, with the record of
        its session (read once for the detectors that group AUTH attempts by their sessions'
        addresses; a credential of no known session is left out)."""
        if self._auth_attempts is None:
            ids = {c.session_id for c in self.credentials}
            sessions = {r.session.session_id: r.session for r in self.records_of(ids)}
            self._auth_attempts = [
                (c, s) for c in self.credentials
                if (s := sessions.get(c.session_id)) is not None and c.username and c.success is not None]
        return self._auth_attempts

    def records_of(self, session_ids: Collection[int]) -> list[SessionRecords]:
        """The records of the sessions ``session_ids``, in record order (the detectors that find
        their few candidate sessions in the tables read only those records)."""
        wanted = np.fromiter(session_ids, dtype=np.int64, count=len(session_ids))
        records = self.records
        return [records[i] for i in np.flatnonzero(np.isin(self.session_ids(), wanted)).tolist()]

    def session_ids(self) -> np.ndarray:
        """Each record's session id, in record order: the ``sessions`` table's column when it is
        the records' (see :meth:`_ids_from_table`), else read from the records."""
        if self._session_ids is None:
            self._session_ids = self._ids_from_table()
            if self._session_ids is None:
                self._session_ids = np.array([r.session.session_id for r in self.records], dtype=np.int64)
        return self._session_ids

    def _ids_from_table(self) -> np.ndarray | None:
        """The ``sessions`` table's ``session_id`` column, when the table has one row per record and
        its first and last rows are the first and last records' (it is built from the records in
        their order); None otherwise."""
        sessions = self.tables.get("sessions")
        records = self.records
        if sessions is None or len(sessions) != len(records) or not records:  # type: ignore[arg-type]
            return None
        column = sessions["session_id"]  # type: ignore[index]
        if column.hasnans:
            return None
        ids = column.to_numpy(dtype=np.int64)
        if ids[0] != records[0].session.session_id or ids[-1] != records[-1].session.session_id:
            return None
        return ids

    def sending(self, verb: str) -> frozenset[int]:
        """Ids of the sessions that sent at least one command ``verb`` (see :mod:`.verbs`)."""
        found = self._sending.get(verb)
        if found is None:
            found = self._sending[verb] = sessions_sending(verb, self.records, self.tables)
        return found

    def secret(self, value: str | None) -> str | None:
        return mask(value, self.show_secrets)

    def credentials_of(self, session_id: int) -> Iterable[Credential]:
        if self._by_session is None:
            self._by_session = {}
            for c in self.credentials:
                self._by_session.setdefault(c.session_id, []).append(c)
        return self._by_session.get(session_id, ())
