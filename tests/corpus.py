"""The captures every cross-check runs over: ours (captures/, tests/data/) and the peers' in ../shared/captures."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "captures"
_CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")


def _captures_under(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _CAPTURE_SUFFIXES
                  and "expected" not in p.parts)


def own_captures() -> list[Path]:
    return _captures_under(ROOT / "captures") + _captures_under(ROOT / "tests" / "data")


def shared_captures() -> list[Path]:
    return _captures_under(SHARED)


def capture_params(paths: list[Path]) -> list:
    """pytest parameters named by path relative to the project (or to shared/)."""
    def name(p: Path) -> str:
        for base in (ROOT, SHARED.parent):
            if p.is_relative_to(base):
                return str(p.relative_to(base))
        return p.name
    return [pytest.param(p, id=name(p)) for p in paths]


def all_capture_params() -> list:
    params = capture_params(own_captures()) + capture_params(shared_captures())
    if not shared_captures():
        params.append(pytest.param(None, id="shared-captures-absent",
                                   marks=pytest.mark.skip(reason=f"{SHARED} is absent")))
    return params


needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


def realistic_messages(count: int = 120, seed: int = 1) -> list[bytes]:
    """``count`` messages as relays and mail clients write them (Received chains, DKIM, RFC 2047
    names and subjects, alternatives, attachments with RFC 2231 names): the ones
    ``benchmarks/make_capture.py --transcripts realistic`` sends, as the server receives them
    (dot-unstuffed, ending in CRLF)."""
    import importlib.util
    import random
    import re
    import sys

    name = "benchmarks_make_capture"
    make_capture = sys.modules.get(name)
    if make_capture is None:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "make_capture.py")
        assert spec is not None and spec.loader is not None
        make_capture = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(make_capture)
    rng = random.Random(f"realistic-messages-{seed}")
    messages = []
    for n in range(count):
        stuffed = make_capture.realistic_message(rng, f"user{n}@example.org", [f"rcpt{n}@example.net"], n)
        messages.append(re.sub(rb"(?m)^\.\.", b".", stuffed))
    return messages


def session_jobs(path: Path) -> list:
    """The SMTP sessions of a capture as jobs (``pipeline.SessionJob``), each recorded as
    ``smtpsniff.read`` records a session for a worker process to decode."""
    from smtpsniff.capture.files import open_capture
    from smtpsniff.pipeline import session_jobs as jobs_of

    with open_capture(path) as reader:
        return jobs_of(reader)
