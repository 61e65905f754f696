"""tshark as the independent oracle for the capture tests: what it reads, and the comparison.

Its one job is asking tshark; it must not use the reader under test except to compare with it.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import NamedTuple

from smtpsniff.capture.files import open_capture
from smtpsniff.capture.frame import Frame

DATA = Path(__file__).resolve().parents[1] / "data" / "capture"


class Oracle(NamedTuple):
    """One packet as tshark reports it."""

    number: int
    ts_ns: int | None  # None: the record has no timestamp (pcapng simple packet block)
    wire_len: int
    cap_len: int
    data: bytes
    section: int
    interface: int | None


def _epoch_ns(text: str) -> int:
    seconds, _, fraction = text.partition(".")
    return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])


def tshark_packets(path: Path) -> list[Oracle]:
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "json", "-x"],
        check=True, capture_output=True, timeout=60,
    ).stdout
    packets = []
    for packet in json.loads(out or b"[]"):
        layers = packet["_source"]["layers"]
        frame = layers["frame"]
        if "frame.encap_type" not in frame:
            continue  # not a packet: Wireshark shows pcapng custom blocks as records, we skip them
        time = frame.get("frame.time_epoch")
        interface = frame.get("frame.interface_id")
        packets.append(Oracle(
            number=int(frame["frame.number"]),
            ts_ns=_epoch_ns(time) if time and frame.get("frame.time") != "" else None,
            wire_len=int(frame["frame.len"]),
            cap_len=int(frame["frame.cap_len"]),
            data=bytes.fromhex(layers["frame_raw"][0]) if "frame_raw" in layers else b"",
            section=int(frame.get("frame.section_number", 1)),
            interface=int(interface) if interface is not None else None,
        ))
    return packets


def read_all(path: Path) -> tuple[list[Frame], object]:
    """Every frame of ``path`` and the (closed) reader, for its anomalies and attributes."""
    with open_capture(path) as reader:
        frames = list(reader)
    return frames, reader


def assert_matches_tshark(frames: list[Frame], oracle: list[Oracle], *, skip_ts: set[int] = frozenset()) -> None:
    """Same packets, in order: bytes, lengths and timestamps to the nanosecond (frame numbers may
    differ only where tshark counts records that are not packets)."""
    assert len(frames) == len(oracle)
    for frame, expected in zip(frames, oracle):
        assert frame.data == expected.data, frame.number
        assert len(frame.data) == expected.cap_len, frame.number
        assert frame.wire_len == expected.wire_len, frame.number
        if frame.number not in skip_ts:
            assert frame.ts_ns == expected.ts_ns, frame.number
    assert [f.number for f in frames] == list(range(1, len(frames) + 1))
