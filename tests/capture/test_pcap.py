"""Classic pcap, built byte by byte: both byte orders, µs/ns/modified, and damaged files."""
from __future__ import annotations

import gzip

import pytest

import capture_build as b
from capture_oracle import assert_matches_tshark, read_all
from smtpsniff.capture import pcap
from smtpsniff.capture.frame import Frame

US, NS, MODIFIED = 0xA1B2C3D4, 0xA1B23C4D, 0xA1B2CD34


def records(order: str, *, nano: bool = False, modified: bool = False) -> list[bytes]:
    frac = 999_999_999 if nano else 999_999
    return [
        b.pcap_record(order, 1_700_000_000, 0, b.ipv4_udp(1), modified=modified),
        b.pcap_record(order, 1_700_000_000, frac, b.ipv4_udp(2, 100), modified=modified),
        b.pcap_record(order, 1_700_000_001, 7, b.ipv4_udp(3, 200)[:40], 228, modified=modified),  # snaplen cut
        b.pcap_record(order, 4_000_000_000, 123, b"", 0, modified=modified),  # after 2038, empty
    ]


def pcap_file(order: str, magic: int = US, **kw) -> bytes:
    return b.pcap_header(order, magic=magic, linktype=b.LINKTYPE_RAW) + b"".join(
        records(order, nano=magic == NS, modified=magic == MODIFIED, **kw)
    )


@pytest.mark.tshark
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("magic", [US, NS, MODIFIED])
def test_hand_built_pcap_matches_tshark(order, magic, write, tshark):
    path = write("x.pcap", pcap_file(order, magic))
    frames, reader = read_all(path)
    assert reader.format == "pcap" and reader.nanosecond == (magic == NS)
    assert reader.anomalies == [] and reader.linktypes == {0: b.LINKTYPE_RAW}
    assert [f.linktype for f in frames] == [b.LINKTYPE_RAW] * 4
    assert_matches_tshark(frames, tshark(path))


def test_timestamps_are_exact_integers(write):
    frames, _ = read_all(write("ns.pcap", pcap_file(">", NS)))
    assert frames[1].ts_ns == 1_700_000_000_999_999_999
    frames, _ = read_all(write("us.pcap", pcap_file("<", US)))
    assert frames[1].ts_ns == 1_700_000_000_999_999_000


@pytest.mark.tshark
def test_fcs_bits_above_the_link_type_are_not_the_link_type(write, tshark):
    # draft-ietf-opsawg-pcap section 4: F bit set, FCS length 2 (16-bit words) -> 4 bytes of FCS.
    header = b.pcap_header("<", linktype=0x24000000 | b.LINKTYPE_RAW)
    path = write("fcs.pcap", header + b"".join(records("<")))
    frames, reader = read_all(path)
    assert reader.linktypes == {0: b.LINKTYPE_RAW}
    assert pcap.parse_header(header).fcs_bytes == 4
    assert len(frames) == len(tshark(path)) == 4


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 16, 17, 64])
def test_any_chunk_size_gives_the_same_frames(chunk):
    data = pcap_file("<", NS)
    header = pcap.parse_header(data)
    whole = frames_of(data[24:], header, 1 << 20)
    assert frames_of(data[24:], header, chunk) == whole
    assert len(whole) == 4


def frames_of(body: bytes, header: pcap.PcapHeader, chunk: int, notes: list | None = None) -> list[Frame]:
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        pos += n
        return body[pos - n:pos]

    sink = notes if notes is not None else []
    batches = pcap.iter_batches(read, header, b"", lambda *a: sink.append(a), max_record_bytes=1 << 20, chunk_bytes=chunk)
    return [f for batch in batches for f in batch]


@pytest.mark.parametrize(
    ("cut", "kept", "needed", "left"),
    [
        (24 + 16 + 48 + 5, 1, 16, 5),  # in the second record's header
        (24 + 16 + 48 + 16 + 50, 1, 16 + 128, 66),  # in the second record's body
    ],
)
def test_truncated_file_keeps_whole_frames_and_says_where(cut, kept, needed, left, write):
    frames, reader = read_all(write("cut.pcap", pcap_file("<")[:cut]))
    assert len(frames) == kept
    [anomaly] = reader.anomalies
    assert anomaly.kind == "truncated_capture"
    assert anomaly.message == f"capture ends in the middle of record {kept + 1} (needed {needed} bytes, {left} left)"


def test_header_only_file_has_no_frames_and_no_anomaly(write):
    frames, reader = read_all(write("empty.pcap", b.pcap_header()))
    assert frames == [] and reader.anomalies == []


def test_absurd_record_length_stops_without_allocating(write):
    data = pcap_file("<")
    absurd = b.pcap_header("<") + records("<")[0] + b"\x00" * 8 + (0xFFFFFFF0).to_bytes(4, "little") * 2 + data[24:]
    frames, reader = read_all(write("absurd.pcap", absurd))
    assert len(frames) == 1
    [anomaly] = reader.anomalies
    assert anomaly.kind == "record_too_large" and "record 2" in anomaly.message


def test_truncated_gzip_keeps_frames_before_the_break(write):
    body = b"".join(b.pcap_record("<", 1_700_000_000 + n, 0, b.ipv4_udp(n, 1000)) for n in range(2000))
    packed = gzip.compress(b.pcap_header("<") + body)
    frames, reader = read_all(write("cut.pcap.gz", packed[: len(packed) * 2 // 3]))
    kinds = {a.kind for a in reader.anomalies}
    assert "corrupt_gzip" in kinds
    assert 100 < len(frames) < 2000
    assert [f.number for f in frames] == list(range(1, len(frames) + 1))
    assert all(f.data == b.ipv4_udp(f.number - 1, 1000) for f in frames)
