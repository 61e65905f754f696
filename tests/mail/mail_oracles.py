"""Helpers shared by the mail integration tests: sidecars, Zeek baselines, cached analyses.

Oracles only: the ground-truth sidecars written by tests/data/record (what the client sent), and
the baselines Zeek ships beside its traces in ../shared/captures.  Nothing here computes an
expected value itself.
"""
from __future__ import annotations

import base64
import json
import sys
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import ROOT, SHARED, all_capture_params, needs_tshark, own_captures  # noqa: E402

import smtpsniff  # noqa: E402
from smtpsniff.analysis.mail_tables import mail_messages  # noqa: E402
from smtpsniff.mail import parse_message  # noqa: E402

ZEEK = SHARED / "zeek"


def sidecar_path(capture: Path) -> Path:
    return capture.with_name(capture.name + ".json") if capture.suffix == ".pcapng" else capture.with_suffix(".json")


def captures_with_sidecars() -> list[Path]:
    return [p for p in own_captures() if sidecar_path(p).is_file()]


def sidecar(capture: Path) -> dict:
    return json.loads(sidecar_path(capture).read_text(encoding="utf-8"))


def sent_messages(capture: Path) -> list[dict]:
    """Messages the client sent in plain text (the capture can show them), in send order."""
    out = []
    for session in sidecar(capture)["sessions"]:
        for message in session.get("messages", []):
            if message.get("data_b64") is not None and not message.get("encrypted"):
                out.append({**message, "bytes": base64.b64decode(message["data_b64"])})
    return out


def recorded_header_fields(names: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """Every distinct (name, raw value) of the header fields of every part of every message the
    recorded clients sent, sorted; with ``names`` (lower case), only the fields so named."""
    out = set()
    for capture in captures_with_sidecars():
        for message in sent_messages(capture):
            for part in parse_message(message["bytes"]).parts:
                out.update((h.name, h.raw_value) for h in part.headers
                           if names is None or h.name.lower() in names)
    return sorted(out)


@lru_cache(maxsize=None)
def analysed(path: str):
    """``smtpsniff.read`` of one capture, once per test process."""
    return smtpsniff.read(path)


def mail_of(path: Path):
    return mail_messages(analysed(str(path)))


def zeek_case(name: str) -> Path:
    return ZEEK / name


def zeek_capture(case: str) -> Path:
    folder = zeek_case(case)
    return next(p for p in sorted(folder.iterdir()) if p.suffix in (".pcap", ".pcapng"))


def read_zeek_tsv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A Zeek ASCII log (or a zeek-cut -m output) as field names and rows of raw cell strings."""
    fields: list[str] = []
    rows: list[dict[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("###") or not line:
            continue
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
            continue
        if line.startswith("#"):
            continue
        if not fields:  # zeek-cut -m: the first line names the fields
            fields = line.rstrip("\t").split("\t")
            continue
        rows.append(dict(zip(fields, line.split("\t"))))
    return fields, rows


def zeek_baselines(log: str) -> list[Path]:
    """Every expected ``log`` (smtp.log, files.log, files.log.cut, files.cut) under ../shared/captures/zeek."""
    if not ZEEK.is_dir():
        return []
    return sorted(ZEEK.glob(f"*/expected/*/{log}"))


__all__ = ["ROOT", "SHARED", "ZEEK", "all_capture_params", "analysed", "needs_tshark", "captures_with_sidecars", "mail_of", "read_zeek_tsv",
           "sent_messages", "sidecar", "sidecar_path", "zeek_baselines", "zeek_capture", "zeek_case"]
