"""Test helper: decode a transcript whole, byte by byte and in random chunkings; all must agree.

A transcript is a list of items in capture order: ``(Direction, bytes)`` for data, or
``("gap", Direction, length)`` for lost bytes.  Item ``i`` is frame ``i + 1`` at ``(i + 1) * 1000`` ns.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Any, Callable, Iterable

from smtpsniff.anomaly import Anomaly
from smtpsniff.reassembly.events import Direction
from smtpsniff.smtp.conversation import SmtpConversation

C = Direction.CLIENT_TO_SERVER
S = Direction.SERVER_TO_CLIENT
_ATTRIBUTION = ("ts_ns", "frame", "end_frame", "end_ts_ns")


def _whole(data: bytes, rng: random.Random) -> list[bytes]:
    return [data]


def _bytewise(data: bytes, rng: random.Random) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def _random(data: bytes, rng: random.Random) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        n = rng.choice((1, 2, 3, 5, 7, 13, 64, 500))
        out.append(data[pos : pos + n])
        pos += n
    return out


def feed(items: Iterable[tuple], chunker: Callable[[bytes, random.Random], list[bytes]], *,
         seed: int = 0, distinct_frames: bool = False, **kwargs: Any) -> tuple[list, SmtpConversation]:
    conv = SmtpConversation(**kwargs)
    rng = random.Random(seed)
    events: list = []
    frame = 0
    ts = 0
    for i, item in enumerate(items):
        base = (i + 1) * 1000
        if item[0] == "gap":
            frame = frame + 1 if distinct_frames else i + 1
            events += conv.gap(item[1], item[2], base, frame)
            continue
        direction, data = item
        for k, piece in enumerate(chunker(data, rng)):
            frame = frame + 1 if distinct_frames else i + 1
            ts = base + k if distinct_frames else base
            events += conv.receive(direction, piece, ts, frame)
    events += conv.close((len(list(items)) + 1) * 1000 if not isinstance(items, list) else (len(items) + 1) * 1000)
    return events, conv


def strip_attribution(ev: Any) -> Any:
    fields = {f.name for f in dataclasses.fields(ev)}
    return dataclasses.replace(ev, **{k: 0 for k in _ATTRIBUTION if k in fields})


class Decoded(list):
    conv: SmtpConversation

    def of(self, cls: type) -> list:
        return [e for e in self if isinstance(e, cls)]

    def kinds(self) -> list[str]:
        return [e.kind for e in self if isinstance(e, Anomaly)]

    def first(self, cls: type) -> Any:
        found = self.of(cls)
        assert found, f"no {cls.__name__} in {self!r}"
        return found[0]


def decode(items: list[tuple], **kwargs: Any) -> Decoded:
    """Decode ``items``; assert that every chunking gives the same events; return them."""
    items = list(items)
    whole, conv = feed(items, _whole, **kwargs)
    bytewise, conv2 = feed(items, _bytewise, **kwargs)
    assert bytewise == whole, _diff(whole, bytewise)
    assert conv2.state == conv.state
    assert (conv2.tls_bytes_c2s, conv2.tls_bytes_s2c) == (conv.tls_bytes_c2s, conv.tls_bytes_s2c)
    plain = [strip_attribution(e) for e in whole]
    for seed in (1, 2, 3):
        chunked, _ = feed(items, _random, seed=seed, distinct_frames=True, **kwargs)
        other = [strip_attribution(e) for e in chunked]
        assert other == plain, _diff(plain, other)
    out = Decoded(whole)
    out.conv = conv
    return out


def _diff(a: list, b: list) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"event {i} differs:\n  {x!r}\n  {y!r}"
    return f"lengths differ: {len(a)} vs {len(b)}; tail {a[len(b):] or b[len(a):]!r}"
