"""``command_injection``: command lines carrying what a parser downstream may split or choke on.

* a CR inside a command line (``MAIL FROM:<a>\\rRCPT TO:<b>``): a receiver taking CR as a line end
  reads two commands (RFC 5321 2.3.8 forbids bare CR) -- ``medium``;
* an LF inside a line, seen as a bare-LF line end in a session whose other lines end in CRLF:
  header/command injection through a parameter -- ``medium``;
* NUL octets (truncate C strings in filters and logs) -- ``medium``;
* lines over ``max_command_line`` (RFC 5321 4.5.3.1.4: 512 octets; AUTH lines 12288, RFC 4954 4),
  the shape of buffer-overflow attempts -- ``low``, ``medium`` when a line was cut at
  ``max_buffered_line``.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from operator import attrgetter

import numpy as np

from ..credentials.mask import mask_auth_argument
from ..records.builder import SessionRecords
from ..records.model import CommandRecord
from .context import DetectionContext
from .evidence import lines, show
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("command_injection",)
THRESHOLDS: tuple[Threshold, ...] = ()
_RAW = attrgetter("raw")
_COMMANDS = attrgetter("commands")


def _content(raw: bytes) -> bytes:
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    return raw[:-1] if raw.endswith(b"\n") else raw


def _shown(c: CommandRecord, show_secrets: bool) -> str:
    if c.verb == "AUTH" and not show_secrets:
        return show(f"AUTH {mask_auth_argument(c.argument)}", 120)
    return show(c.raw, 120)


def with_unusual_lines(records: Sequence[SessionRecords], plain_limit: int) -> list[SessionRecords]:
    """The sessions of ``records`` (in order) with a command line that is not plain: one that does
    not end in CRLF, holds another CR or a NUL, or is longer than ``plain_limit`` octets.

    Every command line of every session is read at once: the lines joined into one buffer, where
    numpy finds each CR and NUL and the line it falls in (by the lines' end offsets) and reads the
    last two octets of each line.  A session with plain lines only shows none of the signs
    :func:`detect` looks for, as its own whole-session test says.
    """
    counts, lengths, buffer = _joined_lines(records)
    if not len(lengths):
        return []
    ends = np.cumsum(lengths)
    plain = (lengths >= 2) & (lengths <= plain_limit)
    if len(buffer) >= 2:
        last = np.where(plain, ends, 2)  # a line too short to end in CRLF reads the buffer's first octets
        plain &= (buffer[last - 2] == 13) & (buffer[last - 1] == 10)
    crs = np.flatnonzero(buffer == 13)
    plain &= np.bincount(np.searchsorted(ends, crs, side="right"), minlength=len(lengths)) == 1
    nuls = np.flatnonzero(buffer == 0)
    if len(nuls):
        plain[np.searchsorted(ends, nuls, side="right")] = False
    session_of_line = np.repeat(np.arange(len(records)), counts)
    return [records[i] for i in np.unique(session_of_line[~plain]).tolist()]


#: Sessions whose command lines :func:`_joined_lines` reads in one go.
LINES_BLOCK = 128


def _joined_lines(records: Sequence[SessionRecords]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Each session's number of commands, the length of each command line and the lines joined
    (as octets), in order.

    Read block by block of :data:`LINES_BLOCK` sessions: a block's commands and lines, fetched
    from memory to be measured, are still in the CPU cache when they are joined (measuring every
    line first and joining them after would fetch each from memory twice)."""
    counts: list[int] = []
    lengths: list[int] = []
    parts: list[bytes] = []
    for start in range(0, len(records), LINES_BLOCK):
        commands = list(map(_COMMANDS, records[start:start + LINES_BLOCK]))
        counts.extend(map(len, commands))
        raws = list(map(_RAW, chain.from_iterable(commands)))
        lengths.extend(map(len, raws))
        parts.append(b"".join(raws))
    return (counts, np.array(lengths, dtype=np.int64),
            np.frombuffer(b"".join(parts), dtype=np.uint8))


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    limits = ctx.limits
    plain_limit = min(limits.max_command_line, limits.max_auth_line)
    for r in with_unusual_lines(ctx.records, plain_limit):
        sid = r.session.session_id
        commands = r.commands
        crlf = any(c.raw.endswith(b"\r\n") for c in commands)
        signs: dict[str, tuple[Severity, str, list[CommandRecord]]] = {}

        def add(key: str, severity: Severity, why: str, c: CommandRecord) -> None:
            signs.setdefault(key, (severity, why, []))[2].append(c)

        for c in commands:
            raw = c.raw
            if len(raw) <= plain_limit and raw.endswith(b"\r\n") and raw.count(b"\r") == 1 and b"\x00" not in raw:
                continue  # the usual line: none of the signs below can hold
            body = _content(raw)
            if b"\r" in body:
                add("cr", Severity.MEDIUM, "CR inside a command line (CR-or-LF receivers split it)", c)
            if crlf and c.raw.endswith(b"\n") and not c.raw.endswith(b"\r\n"):
                add("lf", Severity.MEDIUM, "LF inside a command line (other lines end in CRLF)", c)
            if b"\x00" in c.raw:
                add("nul", Severity.MEDIUM, "NUL octet in a command line", c)
            limit = limits.max_auth_line if c.verb == "AUTH" else limits.max_command_line
            if not c.raw.endswith(b"\n") and len(c.raw) >= limits.max_buffered_line:
                add("cut", Severity.MEDIUM, f"command line longer than {limits.max_buffered_line} octets", c)
            elif len(c.raw) > limit:
                add("long", Severity.LOW, f"command line over {limit} octets (RFC 5321 4.5.3.1.4)", c)
        for severity, why, items in signs.values():
            yield new_finding(
                kind="command_injection", severity=severity, session_id=sid, ts_ns=items[0].ts_ns,
                frames=tuple(dict.fromkeys(c.frame for c in items)), sessions=(sid,),
                explanation=f"{why}: {len(items)} command(s), longest {max(len(c.raw) for c in items)} octets",
                evidence=lines(_shown(c, ctx.show_secrets) for c in items))
