"""``smtpsniff streams``: files hold each direction's bytes exactly, the index describes them."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import ROOT, needs_tshark
from tshark_follow import follow_all

SAMPLE = ROOT / "captures" / "smtp-sample.pcap"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smtpsniff", *args], capture_output=True, text=True, timeout=120)


@needs_tshark
def test_stream_files_equal_tshark_follow(tmp_path):
    result = run_cli("streams", str(SAMPLE), "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "index.csv").open()))
    followed = {frozenset({s.node0, s.node1}): s for s in follow_all(SAMPLE)}
    assert len(rows) == 2 * len(followed)
    for row in rows:
        client = (row["client_ip"], int(row["client_port"]))
        server = (row["server_ip"], int(row["server_port"]))
        stream = followed[frozenset({client, server})]
        sender = client if row["direction"] == "c2s" else server
        expected = bytes(stream.data[0 if stream.node0 == sender else 1])
        data = (tmp_path / row["file"]).read_bytes() if row["file"] else b""
        assert data == expected
        assert int(row["bytes"]) == len(data)
        assert row["gaps"] == "0"


def test_rerun_replaces_files_instead_of_appending(tmp_path):
    for _ in range(2):
        assert run_cli("streams", str(SAMPLE), "-o", str(tmp_path)).returncode == 0
    rows = list(csv.DictReader((tmp_path / "index.csv").open()))
    for row in rows:
        if row["file"]:
            assert (tmp_path / row["file"]).stat().st_size == int(row["bytes"])


def test_not_a_capture_is_one_line_and_exit_2(tmp_path):
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("hello, this is not a capture\n")
    result = run_cli("streams", str(bogus), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not a pcap or pcapng" in result.stderr


def test_truncated_capture_warns_and_keeps_what_came_before(tmp_path):
    data = SAMPLE.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) * 2 // 3 + 7])  # ends inside a record
    result = run_cli("streams", str(cut), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "truncated" in result.stderr.lower() or "middle of record" in result.stderr
    rows = list(csv.DictReader((tmp_path / "out" / "index.csv").open()))
    assert rows and sum(int(r["bytes"]) for r in rows) > 0


@pytest.mark.parametrize("gap_capture", [ROOT.parent / "shared/captures/zeek/smtp_smtp-bdat-gap/smtp-bdat-gap.pcap"])
def test_gaps_are_listed_with_offsets_not_filled(tmp_path, gap_capture):
    if not gap_capture.exists():
        pytest.skip("../shared/captures is absent")
    assert run_cli("streams", str(gap_capture), "-o", str(tmp_path)).returncode == 0
    rows = list(csv.DictReader((tmp_path / "index.csv").open()))
    gapped = [r for r in rows if int(r["gaps"])]
    assert gapped
    for row in gapped:
        offsets = [tuple(map(int, g.split("+"))) for g in row["gap_list"].split()]
        assert sum(length for _, length in offsets) == int(row["gap_bytes"])
        assert (tmp_path / row["file"]).stat().st_size == int(row["bytes"])
