"""pcapng, built block by block: sections, byte orders, interfaces, resolutions, every packet block."""
from __future__ import annotations

import gzip

import pytest

import capture_build as b
from capture_oracle import assert_matches_tshark, read_all
from smtpsniff.capture import pcapng

ETHER = bytes(12) + b"\x08\x00"


def two_sections(first: str, second: str) -> bytes:
    """Section 1: two interfaces (raw IP at 10^-9 s, Ethernet at 2^-20 s with a 100 s offset),
    EPBs on both, a custom, an unknown, an NRB and an ISB block to skip, an SPB, an obsolete PB.
    Section 2 (other byte order): its own interface 0, default 10^-6 s resolution, snaplen 40."""
    o, p = first, second
    return (
        b.shb(o)
        + b.idb(o, b.LINKTYPE_RAW, tsresol=9)
        + b.idb(o, b.LINKTYPE_ETHERNET, tsresol=0x80 | 20, tsoffset=100)
        + b.epb(o, 0, 1_700_000_000_123_456_789, b.ipv4_udp(1))
        + b.epb(o, 1, (1_700_000_000 << 20) + 12345, ETHER + b.ipv4_udp(2))
        + b.unknown_block(o, 0x00000BAD)  # custom block (4.8): skipped
        + b.unknown_block(o, 0x0000_0099)  # unknown type: skipped by its length (3.1)
        + b.block(o, 4, b"\0\0\0\0")  # NRB holding only nrb_record_end
        + b.spb(o, b.ipv4_udp(3))
        + b.obsolete_pb(o, 0, 1_700_000_001_000_000_000, b.ipv4_udp(4))
        + b.isb(o, 0, 5)
        + b.shb(p)
        + b.idb(p, b.LINKTYPE_RAW, snaplen=40)
        + b.epb(p, 0, 1_700_000_002_000_001, b.ipv4_udp(5))
        + b.spb(p, b.ipv4_udp(6)[:40], 48)  # captured length = min(original, snaplen)
    )


@pytest.mark.tshark
@pytest.mark.parametrize(("first", "second"), [("<", ">"), (">", "<")])
@pytest.mark.parametrize("compress", [False, True])
def test_two_sections_match_tshark(first, second, compress, write, tshark):
    data = two_sections(first, second)
    path = write("two.pcapng.gz" if compress else "two.pcapng", gzip.compress(data) if compress else data)
    frames, reader = read_all(path)
    assert (reader.format, reader.compressed) == ("pcapng", compress)
    # Interfaces are numbered across the file: section 2's interface 0 is interface 2.
    assert reader.linktypes == {0: b.LINKTYPE_RAW, 1: b.LINKTYPE_ETHERNET, 2: b.LINKTYPE_RAW}
    assert [(f.interface, f.linktype) for f in frames] == [(0, 101), (1, 1), (0, 101), (0, 101), (2, 101), (2, 101)]
    # Simple packet blocks have no timestamp: tshark shows none, we carry the previous frame's.
    assert frames[2].ts_ns == frames[1].ts_ns and frames[5].ts_ns == frames[4].ts_ns
    assert [a.kind for a in reader.anomalies] == ["simple_packet_block_no_timestamp"]
    assert_matches_tshark(frames, tshark(path), skip_ts={3, 6})


def test_timestamp_resolutions_are_exact():
    assert pcapng.timestamp_scale(6) == (1000, 0, 1)  # the default, 10^-6
    assert pcapng.timestamp_scale(9) == (1, 0, 1)
    assert pcapng.timestamp_scale(12) == (1, 0, 1000)  # picoseconds floor to ns
    assert pcapng.timestamp_scale(0x80 | 20) == (1_000_000_000, 20, 1)


def test_tsoffset_and_binary_resolution(write):
    frames, _ = read_all(write("x.pcapng", two_sections("<", ">")))
    # (2^20 * 1_700_000_000 + 12345) / 2^20 s = 1_700_000_000 s + 11_773_109.5... ns, floored; + 100 s.
    assert frames[1].ts_ns == 1_700_000_100_011_773_109
    assert frames[0].ts_ns == 1_700_000_000_123_456_789


def test_undefined_interface_skips_only_that_block(write):
    o = "<"
    data = b.shb(o) + b.idb(o) + b.epb(o, 3, 1, b"x" * 20) + b.epb(o, 0, 2, b"y" * 20)
    frames, reader = read_all(write("x.pcapng", data))
    assert [f.data for f in frames] == [b"y" * 20] and frames[0].number == 1
    assert [a.kind for a in reader.anomalies] == ["undefined_interface"]


def test_trailing_length_mismatch_stops(write):
    o = "<"
    bad = bytearray(b.epb(o, 0, 2, b"y" * 20))
    bad[-4:] = (len(bad) + 4).to_bytes(4, "little")
    data = b.shb(o) + b.idb(o) + b.epb(o, 0, 1, b"x" * 20) + bytes(bad) + b.epb(o, 0, 3, b"z" * 20)
    frames, reader = read_all(write("x.pcapng", data))
    assert [f.data for f in frames] == [b"x" * 20]
    assert [a.kind for a in reader.anomalies] == ["bad_block_length"]


def test_absurd_block_length_stops(write):
    o = "<"
    data = b.shb(o) + b.idb(o) + b.epb(o, 0, 1, b"x" * 20) + (6).to_bytes(4, "little") + (0xFFFFFFF0).to_bytes(4, "little") + bytes(40)
    frames, reader = read_all(write("x.pcapng", data))
    assert len(frames) == 1
    assert [a.kind for a in reader.anomalies] == ["record_too_large"]


@pytest.mark.parametrize("cut_into", [3, 10, 40])  # block header, fixed part, packet data
def test_truncated_block_keeps_whole_frames(cut_into, write):
    o = "<"
    head = b.shb(o) + b.idb(o) + b.epb(o, 0, 1, b"x" * 20)
    last = b.epb(o, 0, 2, b"y" * 20)
    frames, reader = read_all(write("x.pcapng", head + last[:cut_into]))
    assert [f.data for f in frames] == [b"x" * 20]
    [anomaly] = reader.anomalies
    assert anomaly.kind == "truncated_capture"
    needed = 12 if cut_into < 12 else len(last)
    assert anomaly.message == f"capture ends in the middle of the block after frame 1 (needed {needed} bytes, {cut_into} left)"


@pytest.mark.parametrize("chunk", [1, 2, 5, 12, 13, 100])
def test_any_chunk_size_gives_the_same_frames(chunk):
    data = two_sections(">", "<")
    whole = frames_of(data, 1 << 20)
    assert len(whole) == 6
    assert frames_of(data, chunk) == whole


def frames_of(data: bytes, chunk: int) -> list:
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        pos += n
        return data[pos - n:pos]

    batches = pcapng.iter_batches(read, b"", lambda *a: None, {}, max_block_bytes=1 << 20, chunk_bytes=chunk)
    return [f for batch in batches for f in batch]
