"""Shared helpers of the view tests: the captures they read (parsed once per worker)."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus import ROOT  # noqa: E402

import smtpsniff  # noqa: E402

SAMPLE = ROOT / "captures" / "smtp-sample.pcap"
DATA = ROOT / "tests" / "data"
INJECTION = DATA / "smtp-injection.pcap"
FEATURES = DATA / "smtp-features.pcap"
AUTH = DATA / "smtp-auth.pcap"


@functools.lru_cache(maxsize=None)
def read(path: Path, show_secrets: bool = False):
    return smtpsniff.read(path, show_secrets=show_secrets)
