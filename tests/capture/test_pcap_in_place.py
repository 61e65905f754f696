"""pcap.iter_batches reading into one reused buffer (``readinto``) against reading with ``read``.

The oracle is the ``read`` path: for every chunk size, records larger than a chunk, a file cut in a
record header or body and an absurd record length, both give the same frames, the same anomalies,
the same reads (sizes and order), and stop at the same place.  The cutter copies what it keeps, as
the C cutter does; a cutter that kept views of the buffer would see them overwritten.
"""
from __future__ import annotations

import io

import pytest

import capture_build as b
from smtpsniff.capture import pcap


def body(sizes: list[int]) -> bytes:
    """Records of ``sizes`` bytes, each filled with its own index (the cutter does not decode them)."""
    return b"".join(
        b.pcap_record("<", 1_700_000_000 + i, i, (i.to_bytes(2, "big") * n)[:n]) for i, n in enumerate(sizes)
    )


def copying_cutter(header: pcap.PcapHeader, limit: int) -> pcap.Cut:
    python_cut = pcap.frame_cutter(header, limit)
    stops_early = [0]

    def cut(buf, off: int, number: int) -> tuple:
        # The Python cutter on a copy: its frames keep nothing of ``buf``.  Every third call ends
        # after one record (``need`` 0), as the C cutter may.
        data = bytes(buf)
        stops_early[0] += 1
        if stops_early[0] % 3 == 0:
            data = data[: _one_record_end(data, off)]
            frames, n, off, number, last, _need, large = python_cut(data, off, number)
            if n:
                return frames, n, off, number, last, 0, large
        return python_cut(data, off, number)

    return cut


def _one_record_end(data: bytes, off: int) -> int:
    if off + 16 > len(data):
        return len(data)
    incl = int.from_bytes(data[off + 8 : off + 12], "little")
    return min(len(data), off + 16 + incl) if incl <= 1 << 20 else len(data)


def run(data: bytes, chunk: int, in_place: bool) -> tuple:
    stream = io.BytesIO(data)
    header = pcap.parse_header(stream.read(24))
    reads: list[tuple[str, int, int]] = []

    def read(n: int) -> bytes:
        out = stream.read(n)
        reads.append(("read", n, len(out)))
        return out

    def readinto(view: memoryview) -> int:
        n = stream.readinto(view)
        reads.append(("readinto", len(view), n))
        return n

    notes: list = []
    batches = pcap.iter_batches(
        read, header, b"", lambda *a: notes.append(a), max_record_bytes=1 << 20, chunk_bytes=chunk,
        cut=copying_cutter(header, 1 << 20), readinto=readinto if in_place else None,
    )
    frames = [f for batch in batches for f in batch]
    return frames, notes, _merged(reads), stream.tell()


def _merged(reads: list[tuple[str, int, int]]) -> list[tuple[int, int]]:
    """(asked, got) per read of the iterator: a readinto that came short and the one asked for the
    rest of its view are one read (``read(n)`` also reads until ``n`` bytes or the end)."""
    out: list[list[int]] = []
    rest = 0
    for kind, n, got in reads:
        if kind == "readinto" and rest and n == rest:
            out[-1][1] += got
        else:
            out.append([n, got])
        rest = n - got if kind == "readinto" and got else 0
    return [tuple(pair) for pair in out]


SIZES = [10, 3000, 0, 17, 70_000, 5, 1500, 1500, 200_000, 1]


@pytest.mark.parametrize("chunk", [1, 15, 16, 17, 100, 1499, 4096, 65_536, 1 << 20])
def test_same_frames_reads_and_anomalies_as_read(chunk):
    data = b.pcap_header("<") + body(SIZES)
    expected = run(data, chunk, False)
    assert run(data, chunk, True) == expected
    assert [len(f.data) for f in expected[0]] == SIZES


@pytest.mark.parametrize("cut_at", [24 + 5, 24 + 16 + 10 + 9, 24 + 16 + 10 + 16 + 2000, -1])
@pytest.mark.parametrize("chunk", [7, 1000, 1 << 20])
def test_truncated_files(cut_at, chunk):
    data = (b.pcap_header("<") + body(SIZES))[:cut_at]
    expected = run(data, chunk, False)
    assert run(data, chunk, True) == expected
    assert expected[1] and expected[1][0][0] == "truncated_capture"


@pytest.mark.parametrize("chunk", [9, 4096])
def test_absurd_record_length(chunk):
    absurd = b"\x00" * 8 + (0xFFFFFFF0).to_bytes(4, "little") * 2
    data = b.pcap_header("<") + body(SIZES[:3]) + absurd + body(SIZES)
    expected = run(data, chunk, False)
    assert run(data, chunk, True) == expected
    assert len(expected[0]) == 3 and expected[1][0][0] == "record_too_large"
