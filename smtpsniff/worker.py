"""A process that decodes sessions and parses messages for another: ``python -m smtpsniff.worker``.

The parent (:class:`smtpsniff.analysis.workers.Workers`) writes requests to its standard input and
reads the answers from its standard output, each framed as an 8-byte big-endian length and that
many bytes, pickled by :func:`smtpsniff.transfer.dumps`:

- ``(MESSAGES, batch, limits, [(content, complete), ...])`` is answered by
  ``(batch, [ParsedMessage, ...])``, each what ``parse_message(content, limits=limits,
  complete=complete)`` gives in the parent;
- ``(SESSIONS, batch, limits, [SessionJob, ...])`` is answered by
  ``(batch, [SessionRecords, ...])``: each session's records, as :func:`smtpsniff.pipeline.replay`
  gives them in the parent (their messages are parsed through requests of the first kind: the
  parent asks for the sessions first, as it needs every one of them before it builds any table).

Neither the decoder nor :func:`~smtpsniff.mail.parse_message` raises on bad input.  Should
anything else go wrong with a batch, the answer is ``(batch, None)`` and the parent does that
batch itself.  The worker ends at the end of its input.  It reads and writes nothing else: no
file, no socket.
"""
from __future__ import annotations

import gc
import struct
import sys
from typing import BinaryIO

from .limits import Limits
from .mail import parse_message
from .net import native
from .pipeline import replay
from .records.builder import SharedValues
from .transfer import dumps, loads

#: The frame header: the length of what follows.
FRAME = struct.Struct(">Q")
#: The kinds of request.
MESSAGES, SESSIONS = "messages", "sessions"


def read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame of ``stream``, or None at its end (a frame cut short is an end too)."""
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (size,) = FRAME.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


def frame(payload: bytes) -> bytes:
    return FRAME.pack(len(payload)) + payload


class Worker:
    """The answers to requests, with what lasts between them: the values the sessions' records
    share (:class:`~smtpsniff.records.builder.SharedValues`) and the decoder's C readers."""

    def __init__(self) -> None:
        self.shared = SharedValues()
        self.c_readers = native.smtp_functions()

    def answer(self, request: bytes) -> bytes:
        """The framed answer to one request's payload."""
        kind, batch, limits, items = loads(request)  # written by the parent that started this process
        assert isinstance(limits, Limits)
        try:
            if kind == MESSAGES:
                result: list = [parse_message(content, limits=limits, complete=complete) for content, complete in items]
            else:
                result = [replay(job, limits, self.shared, self.c_readers) for job in items]
            return frame(dumps((batch, result)))
        except Exception:  # noqa: BLE001 -- whatever it was, the parent does the batch itself
            return frame(dumps((batch, None)))

    def serve(self, requests: BinaryIO, answers: BinaryIO) -> None:
        """Answer every request of ``requests`` on ``answers``, until the end of ``requests``.

        The cyclic collector runs once after each batch rather than during it: a batch's results
        live until they are pickled, and the few cycles the stdlib parser leaves are freed then."""
        gc.disable()
        try:
            while (request := read_frame(requests)) is not None:
                answers.write(self.answer(request))
                answers.flush()
                gc.collect(0)
        finally:
            gc.enable()


def main() -> None:
    try:
        Worker().serve(sys.stdin.buffer, sys.stdout.buffer)
    except (BrokenPipeError, KeyboardInterrupt):  # the parent went away or stopped us
        pass


if __name__ == "__main__":
    main()
