"""Every reassembled TCP direction equals what tshark's Follow TCP Stream (raw) gives, byte for byte.

Runs over every capture in captures/, tests/data/ and ../shared/captures.  Where a direction has a
gap, tshark and smtpsniff legitimately differ (tshark 4.0's follow simply concatenates what it has,
smtpsniff reports the hole): there the bytes smtpsniff delivered must each be a piece of tshark's
stream in order.  Independently of both reassemblers, the bytes delivered must equal the bytes the
captured segments cover (from tshark's per-packet sequence numbers), and every hole between
captured segments must be reported as a gap.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from corpus import all_capture_params, needs_tshark
from smtpsniff.capture.files import open_capture
from smtpsniff.reassembly.events import ConnectionOpened, Direction, StreamData, StreamGap
from smtpsniff.streams import StreamPipeline, stream_events
from tshark_follow import captured_coverage, follow_all


def reassemble(path: Path):
    conns: dict[int, ConnectionOpened] = {}
    data: dict[tuple[int, Direction], list[bytes]] = defaultdict(list)
    gaps: dict[tuple[int, Direction], int] = defaultdict(int)
    with open_capture(path) as reader:
        for ev in stream_events(reader, StreamPipeline()):
            if isinstance(ev, ConnectionOpened):
                conns[ev.conn_id] = ev
            elif isinstance(ev, StreamData):
                data[ev.conn_id, ev.direction].append(ev.data)
            elif isinstance(ev, StreamGap):
                gaps[ev.conn_id, ev.direction] += ev.length
                data[ev.conn_id, ev.direction].append(None)  # marks where the hole is
    return conns, data, gaps


@needs_tshark
@pytest.mark.parametrize("path", all_capture_params())
def test_streams_match_tshark_follow(path):
    conns, data, gaps = reassemble(path)
    followed = follow_all(path)
    coverage = captured_coverage(path)
    by_endpoints: dict[frozenset, list[ConnectionOpened]] = defaultdict(list)
    for conn in sorted(conns.values(), key=lambda c: c.conn_id):
        by_endpoints[frozenset({(conn.client.ip, conn.client.port), (conn.server.ip, conn.server.port)})].append(conn)

    compared = 0
    for stream in followed:
        candidates = by_endpoints.get(frozenset({stream.node0, stream.node1}))
        theirs_total = len(stream.data[0]) + len(stream.data[1])
        if not candidates:
            assert theirs_total == 0, f"tshark stream {stream.index} {stream.node0}<->{stream.node1} not reassembled"
            continue
        conn = candidates.pop(0)
        for node, endpoint in ((0, stream.node0), (1, stream.node1)):
            client_side = endpoint == (conn.client.ip, conn.client.port)
            direction = Direction.CLIENT_TO_SERVER if client_side else Direction.SERVER_TO_CLIENT
            pieces = data.get((conn.conn_id, direction), [])
            theirs = bytes(stream.data[node])
            covered, holes = coverage.get((stream.index, endpoint), (0, 0))
            delivered = sum(len(p) for p in pieces if p is not None)
            assert delivered == covered, (f"stream {stream.index} {endpoint}: delivered {delivered} bytes but the "
                                          f"captured segments cover {covered}")
            assert gaps.get((conn.conn_id, direction), 0) >= holes, (
                f"stream {stream.index} {endpoint}: {holes} bytes were never captured but only "
                f"{gaps.get((conn.conn_id, direction), 0)} reported as gaps")
            if gaps.get((conn.conn_id, direction), 0) == 0:
                ours = b"".join(pieces)
                assert ours == theirs, (f"stream {stream.index} {endpoint}: {len(ours)} bytes, tshark {len(theirs)}; "
                                        f"first difference at {_first_difference(ours, theirs)}")
            else:
                _assert_pieces_in_order(pieces, theirs, stream.index, endpoint)
            compared += 1
    assert compared or not followed


def _first_difference(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def _assert_pieces_in_order(pieces: list[bytes | None], theirs: bytes, index: int, endpoint) -> None:
    """Each run of bytes between two holes appears in tshark's stream, in order."""
    runs, current = [], []
    for piece in pieces:
        if piece is None:
            if current:
                runs.append(b"".join(current))
            current = []
        else:
            current.append(piece)
    if current:
        runs.append(b"".join(current))
    position = 0
    for run in runs:
        found = theirs.find(run, position)
        assert found >= 0, f"stream {index} {endpoint}: {len(run)} bytes after a gap are not in tshark's stream"
        position = found + len(run)
