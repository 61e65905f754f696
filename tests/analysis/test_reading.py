"""``smtpsniff.read`` and ``smtpsniff analyze`` read the capture files before they import pandas
(``analysis/reading.py``): the import then runs while worker processes parse the messages."""
from __future__ import annotations

import subprocess
import sys

import pytest
from corpus import ROOT

#: Whether pandas was imported when the files had been read (at the hand-off to the workers),
#: and once the capture was built.
SCRIPT = """
import sys
import smtpsniff
from smtpsniff.analysis import workers
seen = []
hand_off = workers.Workers.hand_off
def noted(self, *args, **kwargs):
    seen.append("pandas" in sys.modules)
    return hand_off(self, *args, **kwargs)
workers.Workers.hand_off = noted
assert "pandas" not in sys.modules, "imported with smtpsniff.read"
if sys.argv[1] == "cli":
    from smtpsniff.cli import build_parser
    args = build_parser().parse_args(["analyze", sys.argv[2]])
    assert "pandas" not in sys.modules, "imported with the command line's parser"
    sessions = len(smtpsniff.commands.analyze.read_files(args, [sys.argv[2]]).sessions)
else:
    sessions = len(smtpsniff.read(sys.argv[2]).sessions)
print(seen, "pandas" in sys.modules, sessions)
"""


@pytest.mark.parametrize("way", ["read", "cli"])
def test_the_files_are_read_before_pandas_is_imported(way):
    capture = ROOT / "captures" / "smtp-sample.pcap"
    done = subprocess.run([sys.executable, "-c", SCRIPT, way, str(capture)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[False]", "True", "8"]


def test_capture_names_what_reading_defines():
    from smtpsniff.analysis import capture, reading

    assert capture.read is reading.read
    assert capture.ReadOptions is reading.ReadOptions and capture.CaptureStats is reading.CaptureStats
