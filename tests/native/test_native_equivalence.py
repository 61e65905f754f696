"""The C fast path (smtpsniff/_native/fastpath.c) against the pure-Python reader and decoder.

The oracle is smtpsniff's own Python path (``SMTPSNIFF_NATIVE=0``), which the net and capture tests
check against scapy and tshark: on every capture of the corpus, on scapy-built frames of every link
type in every pcap flavour, and on damaged files (every byte flipped, every truncation), both paths
must give the same per-record results (segment or skip reason, frame numbers, timestamps), the same
PacketCounts and anomalies, the same stream events and the same SMTP analysis.
"""
from __future__ import annotations

import io
import struct
import sys
from pathlib import Path

import pytest

from smtpsniff import streams
from smtpsniff.capture import files, pcap
from smtpsniff.capture.files import open_capture
from smtpsniff.capture.frame import Frame
from smtpsniff.limits import DEFAULT_LIMITS, SECOND_NS, Limits
from smtpsniff.net import native
from smtpsniff.net.decode import PacketDecoder
from smtpsniff.net.segment import TcpSegment
from smtpsniff.pipeline import SmtpPipeline
from smtpsniff.streams import StreamPipeline, stream_events

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "net"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import all_capture_params
from netcheck import eth
from test_net_robustness import BODY, TCP_OPTS, VALID

pytestmark = pytest.mark.skipif(not native.available(), reason="the C extension smtpsniff._native.fastpath is not built")

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE = ROOT / "captures" / "smtp-sample.pcap"
MAX_RECORD = 262144


def _plain() -> dict:
    """Frames the C code decodes itself (VALID's IPv6 ones carry extension headers, left to Python)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import CookedLinuxV2, Dot1Q

    v6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP_OPTS / BODY
    return {
        "plain-ether-v6": (1, eth() / v6),
        "plain-vlan-v4": (1, eth() / Dot1Q(vlan=7) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP_OPTS / BODY),
        "plain-sll2-v6": (276, CookedLinuxV2() / v6),
        "plain-raw-v6": (101, v6),
        "plain-ipv6": (229, v6),
        "plain-udp-v6": (1, eth() / IPv6(src="::1", dst="::2") / UDP() / BODY),
    }


FRAMES = {**VALID, **_plain()}


def set_native(monkeypatch, on: bool) -> None:
    monkeypatch.setenv(native.ENV_SWITCH, "1" if on else "0")


# --- per-record results -----------------------------------------------------------------------

def decode_records(read, header: pcap.PcapHeader, initial: bytes, use_native: bool, chunk: int = 4096):
    """Everything one path says about a pcap byte stream: per record (number, ts, result), counts,
    net anomalies, capture anomalies."""
    decoder = PacketDecoder()
    notes: list = []
    note = lambda kind, msg, ts: notes.append((kind, msg, ts))
    records: list = []
    if use_native:
        cut = native.pcap_cutter(decoder)(header, MAX_RECORD)
        for items, tss, _sweeps in pcap.iter_batches(read, header, initial, note, max_record_bytes=MAX_RECORD,
                                            chunk_bytes=chunk, cut=cut):
            for item, ts in zip(items, tss):
                if type(item) is Frame:
                    assert item.ts_ns == ts
                    item = decoder.decode(item)
                records.append((ts, item))
    else:
        for frames in pcap.iter_batches(read, header, initial, note, max_record_bytes=MAX_RECORD, chunk_bytes=chunk):
            for frame in frames:
                records.append((frame.ts_ns, decoder.decode(frame)))
    return records, decoder.counts, decoder.anomalies, decoder.anomaly_counts, notes


def both_on_bytes(data: bytes, chunk: int = 4096):
    header = pcap.parse_header(data)
    results = []
    for use_native in (False, True):
        stream = io.BytesIO(data)
        stream.read(pcap.FILE_HEADER_BYTES)
        results.append(decode_records(stream.read, header, b"", use_native, chunk))
    return results


def assert_same(data: bytes, chunk: int = 4096) -> list:
    py, nat = both_on_bytes(data, chunk)
    assert nat[0] == py[0]  # per record: timestamp and segment (frame number inside) or skip reason
    assert nat[1] == py[1]  # PacketCounts
    assert nat[2:] == py[2:]  # net anomalies, their exact counts, capture anomalies
    assert nat[1].balanced
    return py[0]


# --- pcap flavours --------------------------------------------------------------------------------

MAGICS = {"us": 0xA1B2C3D4, "ns": 0xA1B23C4D, "modified": 0xA1B2CD34}


def pcap_file(linktype: int, frames: list[tuple[bytes, int]], order: str = "<", flavour: str = "us") -> bytes:
    """A classic pcap of ``(captured bytes, wire length)`` records in byte order ``order``."""
    out = [struct.pack(order + "IHHiIII", MAGICS[flavour], 2, 4, 0, 0, MAX_RECORD, linktype)]
    for i, (data, wire) in enumerate(frames):
        frac = (i * 7919) % (1_000_000_000 if flavour == "ns" else 1_000_000)
        out.append(struct.pack(order + "IIII", 1_700_000_000 + i, frac, len(data), wire))
        if flavour == "modified":
            out.append(struct.pack(order + "IHBx", 3, 0x0800, 0))
        out.append(data)
    return b"".join(out)


def damaged_variants(data: bytes) -> list[tuple[bytes, int]]:
    """``data`` with each byte flipped three ways, cut at every length by the snaplen, and cut at
    every length claiming to be whole."""
    out = []
    for i in range(len(data)):
        for mask in (0xFF, 0x01, 0x80):
            flipped = bytearray(data)
            flipped[i] ^= mask
            out.append((bytes(flipped), len(data)))
    for n in range(len(data)):
        out.append((data[:n], len(data)))
        out.append((data[:n], n))
    return out


@pytest.mark.parametrize("flavour", sorted(MAGICS))
@pytest.mark.parametrize("order", ["<", ">"], ids=["le", "be"])
@pytest.mark.parametrize("name", sorted(FRAMES))
def test_link_types_and_damaged_frames(name, order, flavour):
    linktype, pkt = FRAMES[name]
    data = bytes(pkt)
    records = assert_same(pcap_file(linktype, [(data, len(data))] + damaged_variants(data), order, flavour))
    if "udp" not in name:
        assert type(records[0][1]) is TcpSegment  # the undamaged frame is a segment


def test_link_type_builders_of_the_net_tests():
    """The frames test_net_linktypes builds for every link type, VLAN stacks, NULL in both orders."""
    import test_net_linktypes as lt_tests
    from scapy.layers.l2 import Dot1AD, Dot1Q, Loopback

    cases = []
    for ip in (lt_tests.V4, lt_tests.V6):
        cases += [(1, eth() / ip), (1, eth() / Dot1Q(vlan=3) / ip), (1, eth() / Dot1AD(vlan=3) / Dot1Q(vlan=4) / ip),
                  (1, eth(type=0x9100) / Dot1Q(vlan=3) / ip), (113, lt_tests.CookedLinux() / ip),
                  (276, lt_tests.CookedLinuxV2() / ip), (0, Loopback() / ip), (101, ip), (12, ip), (14, ip),
                  (228 if ip is lt_tests.V4 else 229, ip)]
        for af in (2, 10, 24, 28, 30, 7):
            cases += [(0, struct.pack("<I", af) + bytes(ip)), (0, struct.pack(">I", af) + bytes(ip)),
                      (108, struct.pack(">I", af) + bytes(ip)), (108, struct.pack("<I", af) + bytes(ip))]
    cases.append((1, eth() / lt_tests.ARP()))
    cases.append((1, eth() / lt_tests.IP(dst="192.0.2.9") / lt_tests.UDP()))
    cases.append((147, b"\x00" * 40))  # a link type the decoders do not know
    by_link: dict[int, list] = {}
    for linktype, pkt in cases:
        raw = bytes(pkt)
        by_link.setdefault(linktype, []).append((raw, len(raw)))
    # TSO/GSO: IPv4 Total Length / IPv6 Payload Length 0, whole or cut by the snaplen
    for raw in (bytes(eth() / lt_tests.V4), bytes(eth() / lt_tests.V6)):
        at = 16 if raw[12:14] == b"\x08\x00" else 18
        tso = raw[:at] + b"\x00\x00" + raw[at + 2:]
        for cap in (len(tso), len(tso) - 3, 34, 54, 60):
            for wire in (len(tso), len(tso) + 1000, cap):
                by_link[1].append((tso[:cap], max(wire, cap)))
    for linktype, frames in by_link.items():
        assert_same(pcap_file(linktype, frames))


# --- real captures -------------------------------------------------------------------------------

def classic_pcap(path: Path | None) -> Path:
    if path is None:
        pytest.skip("no capture")
    with open_capture(path) as reader:
        if reader.format != "pcap":
            pytest.skip("pcapng: the C fast path reads classic pcap only")
    return path


def read_both(path: Path, monkeypatch) -> list:
    results = []
    for on in (False, True):
        set_native(monkeypatch, on)
        with open_capture(path) as reader:
            decoder = PacketDecoder()
            records: list = []
            make_cut = native.pcap_cutter(decoder)
            if on:
                for items, tss, _sweeps in reader.cut_batches(make_cut):
                    for item, ts in zip(items, tss):
                        records.append((ts, decoder.decode(item) if type(item) is Frame else item))
            else:
                assert make_cut is None
                records = [(frame.ts_ns, decoder.decode(frame)) for frame in reader]
            results.append((records, decoder.counts, decoder.anomalies, decoder.anomaly_counts,
                            reader.anomalies, reader.anomaly_counts, reader.position(), reader.linktypes))
    return results


def events_both(path: Path, monkeypatch, limits: Limits = DEFAULT_LIMITS) -> list:
    results = []
    for on in (False, True):
        set_native(monkeypatch, on)
        pipeline = StreamPipeline(limits)
        with open_capture(path) as reader:
            assert (pipeline.decoded_batches(reader) is not None) is on or reader.format != "pcap"
        with open_capture(path) as reader:
            events = list(stream_events(reader, pipeline))
            results.append((events, pipeline.decoder.counts, pipeline.anomalies(), pipeline.reassembler.stats,
                            pipeline.last_ts_ns, reader.anomalies, reader.position()))
    return results


@pytest.mark.parametrize("path", all_capture_params())
def test_corpus_records_counts_and_anomalies(path, monkeypatch):
    py, nat = read_both(classic_pcap(path), monkeypatch)
    assert nat == py


@pytest.mark.parametrize("path", all_capture_params())
def test_corpus_stream_events(path, monkeypatch):
    py, nat = events_both(classic_pcap(path), monkeypatch)
    assert nat == py


@pytest.mark.parametrize("path", all_capture_params())
def test_corpus_stream_events_small_chunks_and_frequent_expiry(path, monkeypatch):
    """Records split across reads and idle sweeps inside every batch: same events, same expiry."""
    path = classic_pcap(path)
    monkeypatch.setattr(files, "CHUNK_BYTES", 700)
    monkeypatch.setattr(streams, "EXPIRE_EVERY_FRAMES", 5)
    # timeouts short enough that the sweeps close connections and drop fragments in these captures
    limits = Limits(connection_idle_timeout_ns=SECOND_NS // 10, closed_linger_ns=SECOND_NS // 20,
                    fragment_timeout_ns=SECOND_NS // 10)
    py, nat = events_both(path, monkeypatch, limits)
    assert nat == py


@pytest.mark.parametrize("path", all_capture_params())
def test_corpus_smtp_analysis(path, monkeypatch):
    path = classic_pcap(path)
    results = []
    for on in (False, True):
        set_native(monkeypatch, on)
        pipeline = SmtpPipeline()
        with open_capture(path) as reader:
            result = pipeline.feed_all(reader)
        results.append((result, pipeline.streams.decoder.counts, pipeline.streams.reassembler.stats))
    assert results[1] == results[0]


# --- damaged files ---------------------------------------------------------------------------------

def first_records(path: Path, n: int) -> bytes:
    """The file header and first ``n`` records of a little-endian classic pcap."""
    data = path.read_bytes()
    off = pcap.FILE_HEADER_BYTES
    for _ in range(n):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    return data[:off]


@pytest.fixture(scope="module")
def sample_head() -> bytes:
    return first_records(SAMPLE, 6)


def test_every_byte_of_a_file_flipped(sample_head):
    """Record headers and frames damaged one byte at a time (lengths too: huge records, cut files)."""
    for i in range(pcap.FILE_HEADER_BYTES, len(sample_head)):
        damaged = bytearray(sample_head)
        damaged[i] ^= 0xFF
        assert_same(bytes(damaged), chunk=256)


def test_every_truncation_of_a_file(sample_head):
    for n in range(pcap.FILE_HEADER_BYTES, len(sample_head) + 1):
        records = assert_same(sample_head[:n], chunk=256)
        assert len(records) <= 6


def test_record_too_large_reported_alike():
    data = pcap_file(1, [(bytes(VALID["ether-v4"][1]), 74)])
    big = data + struct.pack("<IIII", 1_700_000_009, 0, MAX_RECORD + 1, MAX_RECORD + 1) + b"x" * 64
    *_, notes = both_on_bytes(big)[1]
    assert [kind for kind, _, _ in notes] == ["record_too_large"]
    assert_same(big)


# --- the switch ------------------------------------------------------------------------------------

def test_switch_and_formats(monkeypatch, tmp_path):
    set_native(monkeypatch, False)
    assert not native.enabled() and native.pcap_cutter(PacketDecoder()) is None
    with open_capture(SAMPLE) as reader:
        assert StreamPipeline().decoded_batches(reader) is None
        assert sum(1 for _ in reader) > 0  # still readable as frames
    set_native(monkeypatch, True)
    assert native.enabled()
    with open_capture(SAMPLE) as reader:
        assert StreamPipeline().decoded_batches(reader) is not None
        with pytest.raises(RuntimeError):
            iter(reader)
    pcapng_files = sorted((ROOT / "tests" / "data").glob("*.pcapng"))
    if pcapng_files:
        with open_capture(pcapng_files[0]) as reader:
            assert StreamPipeline().decoded_batches(reader) is None
    assert StreamPipeline().decoded_batches([]) is None  # a plain iterable of frames
