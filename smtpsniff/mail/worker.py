"""A process that parses messages for another: ``python -m smtpsniff.mail.worker``.

The parent (:class:`smtpsniff.analysis.mail_workers.MailWorkers`) writes requests to its standard
input and reads the answers from its standard output, each framed as an 8-byte big-endian length
and that many bytes:

- a request is a pickle of ``(batch, limits, [(content, complete), ...])``;
- the answer is ``(batch, [ParsedMessage, ...])`` in the same order, written by
  :func:`smtpsniff.mail.transfer.dumps`: each message is what
  ``parse_message(content, limits=limits, complete=complete)`` gives in the parent.

:func:`~smtpsniff.mail.parse_message` never raises.  Should an answer not pickle, the answer is
``(batch, None)`` and the parent parses that batch itself.  The worker ends at the end of its
input.  It reads nothing else and writes nothing else: no file, no socket.
"""
from __future__ import annotations

import gc
import pickle
import struct
import sys
from typing import BinaryIO

from ..limits import Limits
from .parse import parse_message
from .transfer import dumps

#: The frame header: the length of what follows.
FRAME = struct.Struct(">Q")


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


def answer(request: bytes) -> bytes:
    """The framed answer to one request's payload."""
    batch, limits, messages = pickle.loads(request)  # written by the parent that started this process
    assert isinstance(limits, Limits)
    parsed = [parse_message(content, limits=limits, complete=complete) for content, complete in messages]
    try:
        return frame(dumps((batch, parsed)))
    except Exception:  # noqa: BLE001 -- whatever it was, the parent parses the batch itself
        return frame(pickle.dumps((batch, None)))


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer every request of ``requests`` on ``answers``, until the end of ``requests``.

    The cyclic collector runs once after each batch rather than during it: a batch's results live
    until they are pickled, and the few cycles the stdlib parser leaves are freed then."""
    gc.disable()
    try:
        while (request := read_frame(requests)) is not None:
            answers.write(answer(request))
            answers.flush()
            gc.collect(0)
    finally:
        gc.enable()


def main() -> None:
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except (BrokenPipeError, KeyboardInterrupt):  # the parent went away or stopped us
        pass


if __name__ == "__main__":
    main()
