"""The records of security findings: :class:`Finding`, its :class:`Severity`, and :class:`Threshold`.

Kinds are stable snake_case names that users filter and alert on.  Only shapes live here; the
detectors (one module each in this package) fill them.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..fastinit import slot_builder


class Severity(str, Enum):
    """How bad a finding is, lowest first (``--fail-on`` compares by :attr:`rank`)."""

    INFO = "info"  # worth knowing, normal on the Internet (plain port-25 relaying)
    LOW = "low"  # a weakness or a sign that needs context
    MEDIUM = "medium"  # an attack attempt or exposure that did not clearly succeed
    HIGH = "high"  # credentials or mail exposed, an attack that the traffic shows working
    CRITICAL = "critical"  # an attack that succeeded (a guessed password, an accepted relay of many)

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown severity {text!r}; choose one of {', '.join(s.value for s in cls)}") from None


_RANK = {s: i for i, s in enumerate(Severity)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One security-relevant observation.

    ``session_id`` is the session the finding is about (the first one when it spans several, as a
    brute force does; ``sessions`` lists all).  ``frames`` are the frames that show it, ``ts_ns``
    the time of the first.  ``explanation`` is one readable line; ``evidence`` the lines or bytes
    themselves (bytes escaped, secrets masked unless asked for).
    """

    kind: str
    severity: Severity
    session_id: int | None
    ts_ns: int | None
    frames: tuple[int, ...]
    explanation: str
    evidence: str
    sessions: tuple[int, ...] = ()

    @property
    def frame(self) -> int | None:
        return self.frames[0] if self.frames else None


#: A :class:`Finding` from every field, ``sessions`` included, with its slots written directly
#: (see :mod:`smtpsniff.fastinit`): what the detectors build their findings with.
new_finding = slot_builder(Finding)


@dataclass(frozen=True, slots=True)
class Threshold:
    """A named, documented number a detector compares with (overridable by name)."""

    name: str
    default: float
    doc: str
