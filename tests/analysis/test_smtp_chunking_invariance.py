"""The SMTP decoder gives the same events however the reassembled bytes are cut.

For real captures, each SMTP connection's reassembled stream events (in capture order, so the two
directions interleave exactly as captured) are fed to :class:`SmtpConversation`:

* as delivered by the reassembler;
* cut into 1-byte pieces, and into random pieces (fixed seeds), each piece keeping the time and frame
  of the data it came from: the events must be equal field for field, times and frames included
  (a line split over chunks keeps the time and frame of its first byte);
* with consecutive data of one direction merged into one chunk (what a different segmentation
  would have delivered): the events must be equal once time and frame attribution is set aside.
"""
from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smtp_oracles import ROOT, SHARED, smtpsniff_read
from smtpsniff.capture.files import open_capture
from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.pipeline import IMPLICIT_TLS_PORTS
from smtpsniff.reassembly.events import ConnectionClosed, ConnectionOpened, StreamData, StreamGap
from smtpsniff.reassembly.table import SMTP_PORTS
from smtpsniff.smtp.conversation import SmtpConversation
from smtpsniff.streams import StreamPipeline, stream_events

CAPTURES = [
    ROOT / "captures" / "smtp-sample.pcap",  # AUTH, STARTTLS + TLS, DATA with attachments
    ROOT / "tests" / "data" / "smtp-bdat.pcap",  # BDAT chunks, pipelined BDAT
    ROOT / "tests" / "data" / "smtp-features.pcap",  # pipelining, rejections, unknown verb
    ROOT / "tests" / "data" / "smtp-smuggling.pcap",  # bare LF / CR end-of-data shapes
    ROOT / "tests" / "data" / "smtp-command-injection.pcap",  # bare CR, LF, NUL, over-long line
    ROOT / "tests" / "data" / "smtp-starttls-attacks.pcap",  # STARTTLS command/response injection
    ROOT / "tests" / "data" / "smtp-implicit-tls.pcap",  # TLS from the first byte
    SHARED / "zeek" / "smtp_smtp-bdat-gap" / "smtp-bdat-gap.pcap",  # a gap inside a BDAT chunk
    SHARED / "zeek" / "smtp-one-side-only" / "smtp-one-side-only.pcap",  # no replies: held bytes at close
    SHARED / "arkime" / "smtp-decrypted" / "smtp-decrypted.pcap",  # clear text after STARTTLS
    SHARED / "pcapplusplus" / "Smtp" / "Smtp.pcap",  # starts mid-connection
    SHARED / "ndpi" / "smtps" / "smtps.pcapng",  # implicit-TLS port answered in clear
]

Events = list  # decoder events of one connection, in order
Chunker = Callable[[bytes], Iterator[bytes]]


def _id(path: Path) -> str:
    return path.name if path.is_relative_to(ROOT) else str(path.relative_to(SHARED))


def stream_of(path: Path) -> list:
    """The capture's stream events, in capture order (the reassembler's own chunking)."""
    with open_capture(path) as reader:
        return list(stream_events(reader, StreamPipeline(DEFAULT_LIMITS, server_ports=SMTP_PORTS)))


def decode(events: list, smtp: set[int], chunker: Chunker | None = None, merge: bool = False) -> dict[int, Events]:
    """Feed each SMTP connection's (``smtp``: connection ids) stream events to its own decoder, re-cut
    by ``chunker``."""
    conversations: dict[int, SmtpConversation] = {}
    out: dict[int, Events] = {}
    if merge:
        events = _merged(events)
    for ev in events:
        kind = type(ev)
        if kind is ConnectionOpened:
            if ev.conn_id in smtp:
                conversations[ev.conn_id] = SmtpConversation(
                    implicit_tls=ev.server.port in IMPLICIT_TLS_PORTS, midstream=not ev.handshake_seen)
                out[ev.conn_id] = []
            continue
        conv = conversations.get(getattr(ev, "conn_id", None))
        if conv is None:
            continue
        got = out[ev.conn_id]
        if kind is StreamData:
            for piece in (chunker(ev.data) if chunker else (ev.data,)):
                got += conv.receive(ev.direction, piece, ev.ts_ns, ev.frame)
        elif kind is StreamGap:
            got += conv.gap(ev.direction, ev.length, ev.ts_ns, ev.frame)
        elif kind is ConnectionClosed:
            got += conv.close(ev.ts_ns)
    return out


def _merged(events: list) -> list:
    """Consecutive data of one connection and direction as one chunk (time and frame of the first)."""
    out: list = []
    for ev in events:
        last = out[-1] if out else None
        if (type(ev) is StreamData and type(last) is StreamData and last.conn_id == ev.conn_id
                and last.direction is ev.direction):
            out[-1] = dataclasses.replace(last, data=last.data + ev.data)
        else:
            out.append(ev)
    return out


def bytewise(data: bytes) -> Iterator[bytes]:
    return (data[i : i + 1] for i in range(len(data)))


def random_pieces(seed: int) -> Chunker:
    rng = random.Random(seed)

    def cut(data: bytes) -> Iterator[bytes]:
        i = 0
        while i < len(data):
            n = rng.choice((1, 2, 3, rng.randint(1, 64), rng.randint(1, 1500)))
            yield data[i : i + n]
            i += n

    return cut


_ATTRIBUTION = frozenset({"ts_ns", "frame", "end_frame", "end_ts_ns"})


def without_attribution(event):
    """The event with its capture time and frame fields blanked."""
    names = [f.name for f in dataclasses.fields(event) if f.name in _ATTRIBUTION]
    return dataclasses.replace(event, **{name: None for name in names})


def _first_difference(a: Events, b: Events) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"event #{i}:\n  whole:    {x}\n  re-cut:   {y}"
    return f"{len(a)} events whole, {len(b)} re-cut; first extra: {(a + b)[min(len(a), len(b))]}"


@pytest.fixture(scope="module")
def streams() -> dict[Path, list]:
    return {}


def _events(streams: dict, path: Path) -> tuple[list, set[int]]:
    """The stream events and the ids of the connections smtpsniff found SMTP on (any port; not the
    proxy tunnels, whose streams start with the proxy's handshake)."""
    if not path.exists():
        pytest.skip(f"{path} is absent")
    if path not in streams:
        smtp = {r.session.session_id for r in smtpsniff_read(path).records
                if r.session.detected_by in ("port", "greeting")}
        streams[path] = stream_of(path), smtp
    return streams[path]


@pytest.mark.parametrize("path", CAPTURES, ids=_id)
def test_bytewise_and_random_pieces_give_identical_events(path, streams):
    events, smtp = _events(streams, path)
    whole = decode(events, smtp)
    assert any(whole.values()), "no SMTP connection decoded"
    for name, chunker in (("bytewise", bytewise), ("random-1", random_pieces(1)), ("random-2", random_pieces(2))):
        recut = decode(events, smtp, chunker)
        assert recut.keys() == whole.keys()
        for conn_id, expected in whole.items():
            difference = _first_difference(expected, recut[conn_id])
            assert recut[conn_id] == expected, f"{name}, connection {conn_id}: {difference}"


@pytest.mark.parametrize("path", CAPTURES, ids=_id)
def test_merged_segments_give_the_same_events(path, streams):
    events, smtp = _events(streams, path)
    whole = decode(events, smtp)
    merged = decode(events, smtp, merge=True)
    for conn_id, expected in whole.items():
        a = [without_attribution(e) for e in expected]
        b = [without_attribution(e) for e in merged[conn_id]]
        assert a == b, f"connection {conn_id}: {_first_difference(a, b)}"
