"""One message's content as the client sends it: DATA text (dot-stuffed) or BDAT octets.

DATA (RFC 5321 4.5.2 and 4.1.1.4): lines end with CRLF; the content ends at the first line that is
exactly ".", i.e. at CRLF "." CRLF -- the CRLF before the dot belongs to the message, and a content
that starts with ".CRLF" is the empty message.  A line that starts with "." and has more on it loses
that dot.  This is the strict reading: a bare LF is *not* a line end here, so "\\n.\\n" neither ends
the message nor is unstuffed -- it is recorded as a smuggling candidate (SEC Consult, "SMTP
Smuggling", 2023), with the other end-of-data shapes lenient receivers honour.

BDAT (RFC 3030 2): the content is the chunks' octets, concatenated, unchanged.

Bare CR, bare LF (RFC 5321 2.3.8), NUL and over-long lines (4.5.3.1.6) are counted exactly; their
offsets are kept up to a bound.  Content is kept up to ``max_message_bytes``; ``size`` counts all.

This module knows no commands, replies or state; it reports what it saw and the caller decides.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from smtpsniff.fastinit import slot_builder
from smtpsniff.limits import Limits
from smtpsniff.smtp.events import MessageComplete
from smtpsniff.smtp.lines import Line, LineSplitter

END_LINE = b".\r\n"
SHAPE_LF_DOT_LF = b"\n.\n"
SHAPE_LF_DOT_CRLF = b"\n.\r\n"
SHAPE_CRLF_DOT_LF = b"\r\n.\n"
SHAPE_CR_DOT_CRLF = b"\r.\r\n"


@dataclass(slots=True)
class Finding:
    """A first occurrence the caller turns into an anomaly (one per kind per message)."""

    kind: str
    message: str
    ts_ns: int
    frame: int


@dataclass(slots=True)
class _Offsets:
    cap: int
    count: int = 0
    kept: list[int] = field(default_factory=list)

    def add(self, offset: int) -> None:
        self.count += 1
        if len(self.kept) < self.cap:
            self.kept.append(offset)


_new_message_complete = slot_builder(MessageComplete)


class MessageAssembler:
    def __init__(self, *, via: str, command_index: int, limits: Limits, dot_stuffed: bool,
                 content_reader: Callable | None = None) -> None:
        """``content_reader``: the C copier of well-formed lines (``smtp_content`` of
        :func:`smtpsniff.net.native.smtp_functions`), or None to read every line in Python."""
        self.via = via
        self.command_index = command_index
        self._limits = limits
        self._dot = dot_stuffed
        self._splitter = LineSplitter(limits.max_buffered_line, split=True)
        self._content = bytearray()
        self.size = 0
        self.wire_bytes = 0
        self.gap_bytes = 0
        self.chunks = 0
        self._at_start = True  # strict line start: content start or after CRLF
        self._prev_ending: bytes | None = None  # None: content start; b"": unknown (cut/gap)
        self._line_len = 0
        self._cap = limits.max_recorded_offsets
        self._bare_cr = _Offsets(self._cap)
        self._bare_lf = _Offsets(self._cap)
        self._nul = 0
        self._long = 0
        self._shapes: list[tuple[int, bytes]] = []
        self._shape_count = 0
        self._reported: set[str] = set()
        self.findings: list[Finding] = []
        self.end_marker = b""
        self.first: tuple[int, int] | None = None  # (ts_ns, frame) of the first byte
        self.last: tuple[int, int] | None = None
        self._c_lines = content_reader
        self._longest = min(limits.max_text_line, self._splitter.limit)  # a plain line, CRLF included

    # -- feeding ---------------------------------------------------------------------------------
    def feed_data(self, data: bytes, pos: int, ts_ns: int, frame: int) -> tuple[int, bool]:
        """DATA content from ``data[pos:]``: (position after what was used, whether it ended)."""
        end = len(data)
        c_lines = self._c_lines
        bulk = self._dot and c_lines is None
        tail = data.rfind(b"\n", pos) + 1 if bulk else 0  # after the chunk's last complete line (once)
        while pos < end:
            if self.first is None:
                self.first = (ts_ns, frame)
            if c_lines is not None and self._at_start and not self._splitter.buffer:
                new, ended = self._native_lines(data, pos)
                if new > pos:
                    self.wire_bytes += new - pos
                    pos = new
                    self.last = (ts_ns, frame)
                    if ended:
                        return pos, True
                    if pos == end:
                        break
                # The line at pos is one the C copier leaves (it would leave it again): read it here.
            elif bulk and self._at_start and not self._splitter.buffer:
                new = self._plain_lines(data, pos, tail)
                if new < 0:
                    bulk = False  # something to look at closely: line by line to the chunk's end
                elif new > pos:
                    self.wire_bytes += new - pos
                    pos = new
                    self.last = (ts_ns, frame)
                    continue
            line, new = self._splitter.take(data, pos, ts_ns, frame)
            self.wire_bytes += new - pos
            pos = new
            self.last = (ts_ns, frame)
            if line is None:
                break
            if c_lines is not None and self._at_start and not line.cut and not line.continued:
                # Mostly a line the chunk boundary cut in two, now whole: the C copier takes it when
                # it is a plain one (all of it -- it holds one LF, at its end) or leaves it untouched.
                taken, ended = self._native_lines(line.raw, 0)
                if taken:
                    if ended:
                        return pos, True
                    continue
            if self._piece(line):
                return pos, True
        return pos, False

    def feed_octets(self, data: bytes, ts_ns: int, frame: int) -> None:
        """BDAT chunk octets, all of them content."""
        if self.first is None:
            self.first = (ts_ns, frame)
        self.last = (ts_ns, frame)
        self.wire_bytes += len(data)
        pos = 0
        while pos < len(data):
            if self._c_lines is not None and self._at_start and not self._splitter.buffer:
                pos, _ = self._native_lines(data, pos)
                if pos >= len(data):
                    break
            line, pos = self._splitter.take(data, pos, ts_ns, frame)
            if line is None:
                break
            self._piece(line)

    def gap(self, length: int) -> None:
        """``length`` octets of content were lost: flush the partial line, forget line position."""
        self._flush_partial()
        self.gap_bytes += length
        self.wire_bytes += length
        self._at_start = False
        self._prev_ending = b""
        self._line_len = 0

    def _plain_lines(self, data: bytes, pos: int, stop: int) -> int:
        """Take in one go the complete lines at ``data[pos:]`` that :meth:`_piece` would only copy.

        Such lines end with CRLF, hold no other CR or LF, no NUL, do not start with "." (the end
        line and dot-stuffed lines go through :meth:`_piece`) and fit ``max_text_line``.  Called at
        a strict line start with nothing buffered; ``stop`` is the position after the last LF of
        ``data``.  Returns the position after them (``pos`` when the first line is incomplete or
        starts with "."), or -1 when one of them needs a closer look.
        """
        if stop <= pos or data[pos] == 0x2E:  # "."
            return pos
        dot = data.find(b"\n.", pos, stop)
        if dot >= 0:
            stop = dot + 1
        lf = data.count(b"\n", pos, stop)
        if data.count(b"\r\n", pos, stop) != lf or data.count(b"\r", pos, stop) != lf \
                or data.find(b"\x00", pos, stop) >= 0:
            return -1
        longest = min(self._limits.max_text_line, self._splitter.limit)
        if stop - pos > longest and max(map(len, data[pos:stop].split(b"\n"))) + 1 > longest:
            return -1
        room = self._limits.max_message_bytes - len(self._content)
        if room > 0:
            self._content += data[pos : min(stop, pos + room)]
        self.size += stop - pos
        self._prev_ending = b"\r\n"
        return stop

    def _native_lines(self, data: bytes, pos: int) -> tuple[int, bool]:
        """:meth:`_plain_lines` and the end line, done in C (``content_reader``), line by line:
        (position after the lines taken, whether the end line was among them).

        Called at a strict line start with nothing buffered.  The C copier takes lines while each is
        complete, ends with CRLF, holds no other CR and no NUL and fits ``max_text_line`` and the line
        buffer -- lines on which :meth:`_piece` raises nothing and whose bytes (less the leading dot
        of DATA, RFC 5321 4.5.2) it only copies -- and, for DATA, stops after the end line "." CRLF,
        which :meth:`_piece` would take as the end.  The first other line is left to :meth:`_piece`.
        """
        new, size, ended = self._c_lines(data, pos, self._longest, self._dot, self._content,
                                         self._limits.max_message_bytes)
        if size:
            self.size += size
            self._prev_ending = b"\r\n"
        if ended:  # as _piece does for the end line
            self.end_marker = END_LINE if self._prev_ending is None else b"\r\n" + END_LINE
        return new, ended

    # -- one piece (a line, or a part of an over-long line) --------------------------------------
    def _piece(self, line: Line) -> bool:
        raw, ending = line.raw, line.ending
        start = self._at_start and not line.continued
        prev = self._prev_ending
        if self._dot and start and raw == END_LINE:
            self.end_marker = END_LINE if prev is None else b"\r\n" + END_LINE
            return True
        base = self.size
        if raw == b".\n":
            if prev == b"\r\n":
                self._shape(base - 2, SHAPE_CRLF_DOT_LF, line)
            elif prev == b"\n":
                self._shape(base - 1, SHAPE_LF_DOT_LF, line)
        elif raw == END_LINE and prev == b"\n":
            self._shape(base - 1, SHAPE_LF_DOT_CRLF, line)
        body = raw[1:] if (self._dot and start and raw[:1] == b".") else raw
        if body.endswith(SHAPE_CR_DOT_CRLF):
            self._shape(base + len(body) - 4, SHAPE_CR_DOT_CRLF, line)
        # RFC 5321 2.3.8: CR and LF only as CRLF.
        crlf_at = len(body) - 2 if ending == b"\r\n" else -1
        i = body.find(b"\r")
        while i >= 0:
            if i != crlf_at:
                self._bare_cr.add(base + i)
                self._first("bare_cr", "bare CR in message content (RFC 5321 2.3.8)", line)
            i = body.find(b"\r", i + 1)
        if ending == b"\n":
            self._bare_lf.add(base + len(body) - 1)
            self._first("bare_lf", "bare LF in message content (RFC 5321 2.3.8)", line)
        nul = body.count(b"\x00")
        if nul:
            self._nul += nul
            self._first("nul_byte", "NUL octet in message content", line)
        self._line_len += len(raw)
        if ending == b"\r\n":
            if self._line_len > self._limits.max_text_line:
                self._long += 1
                self._first(
                    "text_line_too_long",
                    f"content line of {self._line_len} octets > {self._limits.max_text_line} "
                    "(RFC 5321 4.5.3.1.6)",
                    line,
                )
            self._line_len = 0
        room = self._limits.max_message_bytes - len(self._content)
        if room > 0:
            self._content += body[:room]
        self.size += len(body)
        self._prev_ending = ending if not line.cut else b""
        self._at_start = ending == b"\r\n"
        return False

    def _shape(self, offset: int, shape: bytes, line: Line) -> None:
        self._shape_count += 1
        if len(self._shapes) < self._cap:
            self._shapes.append((max(offset, 0), shape))
        self._first("smuggling_candidate", f"end-of-data look-alike {shape!r} in message content", line)

    def _first(self, kind: str, message: str, line: Line) -> None:
        if kind not in self._reported:
            self._reported.add(kind)
            self.findings.append(Finding(kind, message, line.ts_ns, line.frame))

    def _flush_partial(self) -> None:
        line = self._splitter.flush()
        if line is not None:
            self._piece(line)
            self._at_start = False

    def take_findings(self) -> list[Finding]:
        out, self.findings = self.findings, []
        return out

    # -- the end ---------------------------------------------------------------------------------
    def finish(self, *, complete: bool, ts_ns: int, frame: int) -> MessageComplete:
        self._flush_partial()
        first = self.first or (ts_ns, frame)
        last = self.last or (ts_ns, frame)
        return _new_message_complete(  # by position, in field order: the builder's quick way
            self.via,  # via
            self.command_index,  # command_index
            bytes(self._content),  # content
            self.size,  # size
            self.size > len(self._content),  # truncated_content
            self.wire_bytes,  # wire_bytes
            complete and self.gap_bytes == 0,  # complete
            self.gap_bytes,  # gap_bytes
            self.end_marker,  # end_marker
            self.chunks if self.via == "BDAT" else 1,  # chunks
            self._bare_cr.count,  # bare_cr_count
            tuple(self._bare_cr.kept),  # bare_cr_offsets
            self._bare_lf.count,  # bare_lf_count
            tuple(self._bare_lf.kept),  # bare_lf_offsets
            self._nul,  # nul_count
            self._long,  # long_line_count
            tuple(self._shapes),  # smuggling_candidates
            self._shape_count,  # smuggling_candidate_count
            first[0],  # ts_ns
            first[1],  # frame
            last[1],  # end_frame
            last[0],  # end_ts_ns
        )
