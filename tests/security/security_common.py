"""Shared helpers of the credentials and findings tests: cached reads of the recorded captures and
their ground-truth sidecars (tests/data/record wrote both from what the real clients did)."""
from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus import ROOT, SHARED  # noqa: E402

import smtpsniff  # noqa: E402

DATA = ROOT / "tests" / "data"


def path_of(name: str) -> Path:
    """``shared:zeek/smtp/smtp.pcap``, ``captures/smtp-sample.pcap`` or a file of tests/data."""
    if name.startswith("shared:"):
        return SHARED / name.removeprefix("shared:")
    return ROOT / name if name.startswith("captures/") else DATA / name


@lru_cache(maxsize=None)
def read(name: str, show_secrets: bool = False, thresholds: tuple = ()) -> smtpsniff.Capture:
    return smtpsniff.read(path_of(name), show_secrets=show_secrets, thresholds=dict(thresholds))


@lru_cache(maxsize=None)
def sidecar(name: str) -> dict:
    return json.loads(path_of(name).with_suffix(".json").read_text(encoding="utf-8"))


def findings(name: str, kind: str, **kw):
    cap = read(name, **kw)
    return cap.findings[cap.findings["kind"] == kind].reset_index(drop=True)


def severities(frame) -> list[str]:
    return [str(s) for s in frame["severity"]]


def session_of(cap, session_id: int):
    return cap.sessions[cap.sessions["session_id"] == session_id].iloc[0]


def shared(path: str) -> Path:
    return SHARED / path


def session_ids_by_note(name: str) -> dict[str, int]:
    """Sidecar note -> session id, matched by the client's port (nmap sessions have none)."""
    cap = read(name)
    ports = dict(zip(cap.sessions["client_port"].astype(int), cap.sessions["session_id"].astype(int)))
    return {s["note"]: ports[s["client_addr"][1]] for s in sidecar(name)["sessions"]
            if s.get("client_addr") and s["client_addr"][1] in ports}


def kinds_by_session(name: str, **kw) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for row in read(name, **kw).findings.itertuples():
        out.setdefault(int(row.session_id), set()).add(str(row.kind))
    return out


def session_id_of(name: str, s: dict) -> int:
    """The session id of one sidecar session (matched by the client's port)."""
    cap = read(name)
    match = cap.sessions[cap.sessions["client_port"] == s["client_addr"][1]]
    return int(match["session_id"].iloc[0])


def session_ids_where(name: str, note_prefix: str) -> set[int]:
    return {session_id_of(name, s) for s in sidecar(name)["sessions"]
            if s.get("client_addr") and s["note"].startswith(note_prefix)}
