"""Format detection by magic number, gzip, errors at open time, and the reader's bookkeeping."""
from __future__ import annotations

import gzip

import pytest

import capture_build as b
from capture_oracle import DATA, read_all
from smtpsniff.capture.files import CaptureFormatError, open_capture
from smtpsniff.limits import Limits


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("x.txt", b"Hello, this is text\n", "not a pcap or pcapng file (starts with 48 65 6c 6c)"),
        ("empty.pcap", b"", "not a pcap or pcapng file (empty file)"),
        ("ten.pcap", b.pcap_header()[:10], "too short for a pcap file header (10 bytes, need 24)"),
        ("ten.bin", b"\x00" * 10, "not a pcap or pcapng file (starts with 00 00 00 00)"),
        ("short.pcapng", b.shb()[:20], "too short for a pcapng section header (20 bytes, need 28)"),
        ("bom.pcapng", b.shb()[:8] + b"\x11\x22\x33\x44" + b.shb()[12:],
         "pcapng section header has an unknown byte-order magic (11 22 33 44)"),
        ("x.txt.gz", gzip.compress(b"Hello, this is text\n", mtime=0),
         "gzip-compressed, but not a pcap or pcapng file (starts with 48 65 6c 6c)"),
    ],
)
def test_not_a_capture_fails_at_open_with_one_line(name, data, reason, write):
    path = write(name, data)
    with pytest.raises(CaptureFormatError) as info:
        open_capture(path)
    assert str(info.value) == f"{path}: {reason}"


def test_damaged_gzip_header_fails_at_open(write):
    path = write("bad.gz", b"\x1f\x8b" + b"\xff" * 30)
    with pytest.raises(CaptureFormatError, match="gzip-compressed, but the stream is damaged"):
        open_capture(path)


def test_format_comes_from_the_magic_not_the_name(write):
    path = write("really-pcapng.pcap", (DATA / "loopback.pcapng").read_bytes())
    with open_capture(path) as reader:
        assert reader.format == "pcapng"


def test_corrupt_deflate_data_keeps_earlier_frames(write):
    # Two gzip members (RFC 1952 section 2.2); the second's first deflate block has the reserved
    # block type 11 (RFC 1951 section 3.2.3), which zlib rejects at once.
    first = gzip.compress(b.pcap_header("<") + b"".join(b.pcap_record("<", n, 0, bytes([n % 256]) * 1500) for n in range(1000)))
    second = bytearray(gzip.compress(b.pcap_record("<", 0, 0, b"z" * 1500) * 10))
    second[10] = 0xFF
    frames, reader = read_all(write("bad.pcap.gz", first + bytes(second)))
    assert len(frames) == 1000
    assert all(f.data == bytes([(f.number - 1) % 256]) * 1500 for f in frames)
    assert [a.kind for a in reader.anomalies] == ["corrupt_gzip"]


def test_bad_gzip_crc_is_an_anomaly_after_all_frames(write):
    packed = bytearray(gzip.compress((DATA / "loopback_us.pcap").read_bytes()))
    packed[-8] ^= 0xFF  # CRC32 in the trailer (RFC 1952 section 2.2)
    frames, reader = read_all(write("crc.pcap.gz", bytes(packed)))
    assert len(frames) == 24
    assert [a.kind for a in reader.anomalies] == ["corrupt_gzip"]


def test_unsupported_pcapng_version_is_an_anomaly(write):
    shb = bytearray(b.shb("<"))
    shb[12:14] = (2).to_bytes(2, "little")
    frames, reader = read_all(write("v2.pcapng", bytes(shb) + b.idb("<") + b.epb("<", 0, 1, b"x")))
    assert frames == []
    assert [a.kind for a in reader.anomalies] == ["unsupported_pcapng_version"]


def test_reader_attributes_position_and_single_iteration():
    path = DATA / "loopback_ns.pcap"
    reader = open_capture(path)
    assert (reader.path, reader.format, reader.compressed, reader.nanosecond) == (str(path), "pcap", False, True)
    assert reader.file_size == path.stat().st_size
    before = reader.position()
    frames = list(reader)
    assert 0 < before <= reader.position() == reader.file_size
    assert len(frames) == 24
    with pytest.raises(RuntimeError):
        iter(reader)
    reader.close()


def test_context_manager_closes_without_iterating():
    with open_capture(DATA / "loopback.pcapng") as reader:
        pass
    assert reader._raw.closed


def test_anomalies_are_capped_per_kind_but_counted_exactly(write):
    o = "<"
    data = b.shb(o) + b.idb(o) + b"".join(b.epb(o, 9, n, b"x") for n in range(5))
    with open_capture(write("x.pcapng", data), limits=Limits(max_anomalies_per_kind=2)) as reader:
        assert list(reader) == []
    assert len(reader.anomalies) == 2
    assert reader.anomaly_counts == {"undefined_interface": 5}
