"""Split one direction's bytes into lines, incrementally, within a bound.

A line ends at LF.  RFC 5321 2.3.8 says CRLF; a bare LF also ends a command or reply line here
because Postfix, Sendmail, Exim and Zeek accept it -- the caller sees ``ending == b"\\n"`` and
reports it.  A bare CR is data (RFC 5321 2.3.8 forbids it alone; the caller reports it).

Lines are taken one at a time with :meth:`LineSplitter.take` from a position in the caller's chunk,
so the caller can switch framing (DATA content, BDAT octets, TLS) exactly after any line.  A line
that spans chunks keeps the capture time and frame of its first byte and the frame of its last.

A line longer than ``limit`` octets never grows the buffer past it.  Two policies:

* ``split=False`` (commands, replies): the first ``limit`` octets are returned as a ``cut`` line and
  everything up to the next LF is skipped and counted (``skipped``), so the rest of an over-long
  line can never pose as a line of its own (a smuggling vector).
* ``split=True`` (message content): the line is passed on in pieces of at most ``limit`` octets,
  the later pieces marked ``continued``; a piece never ends between CR and LF.

This module knows nothing of SMTP beyond line endings.
"""
from __future__ import annotations

from dataclasses import dataclass

from smtpsniff.fastinit import slot_builder


@dataclass(frozen=True, slots=True)
class Line:
    raw: bytes  # the octets as sent, terminator included
    ending: bytes  # b"\r\n", b"\n", or b"" (cut by the limit / flushed at a gap or close)
    ts_ns: int  # first byte
    frame: int  # first byte
    end_frame: int  # last byte
    cut: bool = False  # the limit cut the line (split=False) or this piece (split=True)
    continued: bool = False  # split=True: this piece continues the previous one

    @property
    def content(self) -> bytes:
        return self.raw[: len(self.raw) - len(self.ending)]


#: ``new_line(raw, ending, ts_ns, frame, end_frame, cut, continued)``: one per line of every session.
new_line = slot_builder(Line)


class LineSplitter:
    __slots__ = ("limit", "split", "buffer", "_ts", "_frame", "_last_frame", "skipping", "_skipped",
                 "_continued")

    def __init__(self, limit: int, *, split: bool = False) -> None:
        if limit < 2:
            raise ValueError("line limit must be at least 2 octets")
        self.limit = limit
        self.split = split
        #: The octets of a line started but not finished; read it, never change it.
        self.buffer = bytearray()
        self._ts = 0
        self._frame = 0
        self._last_frame = 0
        #: The tail of a cut line is being dropped (up to its LF); read it, never set it.
        self.skipping = False
        self._skipped = 0
        self._continued = False

    @property
    def pending(self) -> int:
        """Octets of a line started but not finished."""
        return len(self.buffer)

    def skip_tail(self, data: bytes, pos: int) -> int:
        """Drop the tail of a cut line from ``data[pos:]``; the position after its LF, or the end."""
        if not self.skipping:
            return pos
        nl = data.find(b"\n", pos)
        if nl < 0:
            self._skipped += len(data) - pos
            return len(data)
        self._skipped += nl + 1 - pos
        self.skipping = False
        return nl + 1

    def take(self, data: bytes, pos: int, ts_ns: int, frame: int) -> tuple[Line | None, int]:
        """The next complete line from ``data[pos:]`` (with what is buffered), and the new position.

        Returns ``(None, len(data))`` when the chunk ends inside a line; the partial line is kept.
        """
        end = len(data)
        if self.skipping:
            pos = self.skip_tail(data, pos)
        if pos >= end:
            return None, end
        buf = self.buffer
        if not buf:
            self._ts, self._frame = ts_ns, frame
        room = self.limit - len(buf)
        nl = data.find(b"\n", pos, pos + room)
        if nl >= 0:
            if buf:
                raw = bytes(buf) + data[pos : nl + 1]
                buf.clear()
            else:
                raw = data[pos : nl + 1]
            line = new_line(raw, b"\r\n" if raw.endswith(b"\r\n") else b"\n", self._ts, self._frame, frame,
                             False, self._continued)
            self._continued = False
            return line, nl + 1
        if end - pos < room:
            self.buffer += data[pos:]
            self._last_frame = frame
            return None, end
        # The limit is reached without LF.
        take = room
        if self.split and data[pos + take - 1 : pos + take] == b"\r" and len(self.buffer) + take > 1:
            take -= 1  # never separate CR from a following LF: the CR starts the next piece
        raw = bytes(self.buffer) + data[pos : pos + take]
        self.buffer.clear()
        line = Line(raw, b"", self._ts, self._frame, frame, cut=True, continued=self._continued)
        if self.split:
            self._continued = True
        else:
            self.skipping = True
        return line, pos + take

    def take_skipped(self) -> int:
        """Octets dropped after cut lines since the last call."""
        n, self._skipped = self._skipped, 0
        return n

    def flush(self) -> Line | None:
        """The partial line, if any (at a gap or at close); the splitter starts afresh."""
        self.skipping = False
        continued, self._continued = self._continued, False
        if not self.buffer:
            return None
        raw = bytes(self.buffer)
        self.buffer.clear()
        return Line(raw, b"", self._ts, self._frame, self._last_frame, continued=continued)
