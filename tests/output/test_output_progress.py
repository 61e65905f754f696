"""The progress bar of the CLI changes nothing in the results, and keeps the C fast path."""
from __future__ import annotations

import pytest

import smtpsniff
from corpus import ROOT
from smtpsniff.capture.files import open_capture
from smtpsniff.commands.common import ProgressReader, progress_frames
from smtpsniff.net import native
from smtpsniff.streams import StreamPipeline


@pytest.mark.parametrize("capture", ["captures/smtp-sample.pcap", "tests/data/smtp-basic.pcapng"])
def test_tables_are_the_same_with_and_without_the_bar(capture):
    plain = smtpsniff.read(ROOT / capture)
    with_bar = smtpsniff.read(ROOT / capture, progress=lambda reader: progress_frames(reader, True))
    assert plain.stats.packets == with_bar.stats.packets
    for name, table in plain.tables.items():
        assert table.equals(with_bar.tables[name]), name


def test_a_classic_pcap_behind_the_bar_still_takes_the_fast_path():
    if not native.enabled():
        pytest.skip("the C fast path is not built")
    with open_capture(ROOT / "captures" / "smtp-sample.pcap") as reader:
        assert StreamPipeline().decoded_batches(ProgressReader(reader)) is not None
