"""Helpers for the net-layer tests (a module, not conftest, so its name is unique under rootdir imports):
frames from scapy packets, decoding with the accounting invariant checked, scapy and tshark as oracles,
and a reader for capture files."""
from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from smtpsniff.capture.frame import Frame
from smtpsniff.net.decode import PacketDecoder
from smtpsniff.net.segment import Skip, TcpSegment

DATA = Path(__file__).resolve().parent.parent / "data" / "net"

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def frame(pkt: Packet | bytes, linktype: int = 1, number: int = 1, ts_ns: int = 0, wire_len: int | None = None) -> Frame:
    data = bytes(pkt)
    return Frame(number, ts_ns, linktype, data, len(data) if wire_len is None else wire_len)


def decode_all(frames: Iterable[Frame], decoder: PacketDecoder | None = None) -> tuple[PacketDecoder, list[TcpSegment | Skip]]:
    """Decode every frame and check the accounting invariant afterwards."""
    decoder = decoder or PacketDecoder()
    results = [decoder.decode(f) for f in frames]
    check_invariant(decoder)
    return decoder, results


def decode_one(pkt: Packet | bytes, linktype: int = 1, **kwargs: int) -> TcpSegment | Skip:
    _, (result,) = decode_all([frame(pkt, linktype, **kwargs)])
    return result


def check_invariant(decoder: PacketDecoder) -> None:
    c = decoder.counts
    assert c.frames == c.tcp + sum(c.skipped.values()), c
    assert c.balanced
    assert set(c.skipped) == {s.value for s in Skip}
    assert sum(c.by_linktype.values()) == c.frames
    # The catch-all in decode() is a safety net: explicit checks must handle every input.
    assert "malformed_frame" not in decoder.anomaly_counts, decoder.anomalies


def assert_matches_scapy(seg: TcpSegment | Skip, pkt: Packet) -> None:
    """Field-by-field comparison with what scapy parsed from the same bytes."""
    assert isinstance(seg, TcpSegment), seg
    ip = pkt[IP] if IP in pkt else pkt[IPv6]
    tcp = pkt[TCP]
    assert seg.ip_version == ip.version
    assert (seg.src, seg.dst) == (ip.src, ip.dst)
    assert (seg.sport, seg.dport, seg.seq, seg.ack) == (tcp.sport, tcp.dport, tcp.seq, tcp.ack)
    assert seg.flags == int(tcp.flags)
    assert seg.payload == (pkt[Raw].load if Raw in pkt else b"")  # scapy files padding separately
    assert not seg.truncated and seg.wire_payload_len == len(seg.payload)


def pcap_bytes(linktype: int, frames: Iterable[bytes]) -> bytes:
    """A classic little-endian microsecond pcap (the format of tcpdump.org/manpages/pcap-savefile)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for i, data in enumerate(frames):
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(data), len(data)))
        out.append(data)
    return b"".join(out)


def read_frames(path: Path) -> list[Frame]:
    """Frames of a capture file, through the capture layer when it is there, else scapy's reader."""
    try:
        from smtpsniff.capture.files import open_capture
    except ImportError:  # pragma: no cover - the capture layer is written concurrently
        from scapy.utils import RawPcapReader

        frames = []
        with RawPcapReader(str(path)) as reader:
            for i, (data, meta) in enumerate(reader):
                ts = (meta.sec * 1_000_000 + meta.usec) * 1000
                frames.append(Frame(i + 1, ts, reader.linktype, data, meta.wirelen))
        return frames
    with open_capture(path) as reader:
        return list(reader)


def tshark_rows(path: Path, fields: list[str]) -> list[list[str]]:
    """``tshark -T fields`` output; tshark reassembles IPv4 fragments by default, as we do."""
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=l"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines()]


def eth(**fields: object) -> Ether:
    """Ethernet with explicit addresses (scapy otherwise looks up routes and neighbours: slow)."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **fields)
