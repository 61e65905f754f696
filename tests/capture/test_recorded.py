"""Real loopback captures (tcpdump µs and ns pcap, tshark/dumpcap pcapng) read like tshark reads them."""
from __future__ import annotations

import gzip

import pytest

from capture_oracle import DATA, assert_matches_tshark, read_all

RECORDED = {
    "loopback_us.pcap": ("pcap", False),  # tcpdump -i lo -w
    "loopback_ns.pcap": ("pcap", True),  # tcpdump -i lo --time-stamp-precision=nano -w
    "loopback.pcapng": ("pcapng", False),  # tshark -i lo -w (if_tsresol 10^-9, an ISB at the end)
    "loopback_snap64.pcapng": ("pcapng", False),  # dumpcap -s 64: captured length < wire length
}


@pytest.mark.tshark
@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_capture_matches_tshark(name, tshark):
    path = DATA / name
    frames, reader = read_all(path)
    assert (reader.format, reader.nanosecond, reader.compressed) == (*RECORDED[name], False)
    assert reader.anomalies == []
    assert reader.linktypes == {0: 1}  # Linux loopback is recorded as Ethernet
    assert reader.position() == reader.file_size == path.stat().st_size
    assert_matches_tshark(frames, tshark(path))


@pytest.mark.tshark
@pytest.mark.parametrize("name", sorted(RECORDED))
def test_gzip_of_recorded_capture_matches_tshark(name, tshark, write):
    path = write(name + ".gz", gzip.compress((DATA / name).read_bytes()))
    frames, reader = read_all(path)
    assert reader.compressed and reader.format == RECORDED[name][0]
    assert reader.anomalies == []
    assert reader.position() == reader.file_size
    assert_matches_tshark(frames, tshark(path))


def test_snaplen_cut_frames_keep_their_wire_length():
    frames, _ = read_all(DATA / "loopback_snap64.pcapng")
    assert any(f.truncated for f in frames)
    assert all(len(f.data) <= 64 for f in frames)
