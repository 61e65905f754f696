"""``smtpsniff.read`` reads the capture files before it imports pandas (``analysis/reading.py``):
the import then runs while worker processes parse the messages."""
from __future__ import annotations

import subprocess
import sys

from corpus import ROOT

#: Whether pandas was imported when the files had been read (at the hand-off to the workers),
#: and once the capture was built.
SCRIPT = """
import sys
import smtpsniff
from smtpsniff.analysis import workers
seen = []
hand_off = workers.Workers.hand_off
def noted(self):
    seen.append("pandas" in sys.modules)
    return hand_off(self)
workers.Workers.hand_off = noted
assert "pandas" not in sys.modules, "imported with smtpsniff.read"
cap = smtpsniff.read(sys.argv[1])
print(seen, "pandas" in sys.modules, len(cap.sessions))
"""


def test_the_files_are_read_before_pandas_is_imported():
    capture = ROOT / "captures" / "smtp-sample.pcap"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(capture)], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[False]", "True", "8"]


def test_capture_names_what_reading_defines():
    from smtpsniff.analysis import capture, reading

    assert capture.read is reading.read
    assert capture.ReadOptions is reading.ReadOptions and capture.CaptureStats is reading.CaptureStats
