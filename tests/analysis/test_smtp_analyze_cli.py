"""``smtpsniff analyze``: exports read back equal to ``smtpsniff.read``, exit codes, damaged input.

* ``-o DIR --format csv|parquet|json`` writes one file per table (``.csv``, ``.parquet``, ``.jsonl``);
  read back with pandas they hold the same rows and values as ``smtpsniff.read`` of the same file
  (CSV: list cells joined with spaces, formula-like cells quoted, timestamps ISO 8601; JSON lines:
  timestamps ISO 8601, lists as lists; Parquet: the schema's dtypes);
* exit code 0 on a good capture, 2 on a text file or a missing file (and a one-line reason);
* a capture cut in the middle of a packet warns on stderr and still reports every command and reply
  of the frames before the cut (which frames those are, tshark says).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import smtpsniff
from smtp_oracles import ROOT, SHARED, TSHARK, smtpsniff_read
from smtpsniff.analysis.schema import SCHEMAS
from smtpsniff.cli import main
from smtpsniff.output.safe import csv_safe

SAMPLE = ROOT / "captures" / "smtp-sample.pcap"
INJECTION = ROOT / "tests" / "data" / "smtp-injection.pcap"  # HTML, formulas and escapes in every field
SUFFIX = {"csv": ".csv", "parquet": ".parquet", "json": ".jsonl"}


def _canonical(value):
    """A cell as plain Python: None for missing, ISO text for times, lists for list cells."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_canonical(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _rows(frame: pd.DataFrame) -> list[list]:
    return [[_canonical(v) for v in row] for row in frame.astype(object).itertuples(index=False, name=None)]


def _csv_text(value) -> str:
    value = _canonical(value)
    if value is None:
        return ""
    if isinstance(value, list):
        value = " ".join(map(str, value))
    return str(csv_safe(value))


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["analyze", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("capture", [SAMPLE, INJECTION], ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_exported_tables_read_back_as_read_gives_them(tmp_path, capsys, fmt, capture):
    out_dir = tmp_path / "out"
    code, _, err = run(capsys, capture, "-o", out_dir, "--format", fmt)
    assert code == 0, err
    cap = smtpsniff_read(capture)
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(f"{name}{SUFFIX[fmt]}" for name in SCHEMAS)
    for name, frame in cap.tables.items():
        path = out_dir / f"{name}{SUFFIX[fmt]}"
        columns = [c.name for c in SCHEMAS[name]]
        if fmt == "parquet":
            back = pd.read_parquet(path)
            assert list(back.columns) == columns
            if len(frame):  # an empty category column comes back as object from Arrow
                assert [str(t) for t in back.dtypes] == [c.dtype for c in SCHEMAS[name]], name
            assert _rows(back) == _rows(frame), name
        elif fmt == "json":
            lines = path.read_text(encoding="utf-8").splitlines()
            back = [json.loads(line) for line in lines]
            assert all(list(record) == columns for record in back), name
            assert [[record[c] for c in columns] for record in back] == _rows(frame), name
        else:
            back = pd.read_csv(path, dtype=str, keep_default_na=False)
            assert list(back.columns) == columns
            want = [[_csv_text(v) for v in row] for row in frame.astype(object).itertuples(index=False, name=None)]
            assert back.values.tolist() == want, name


def test_csv_neutralises_formulas(tmp_path, capsys):
    """Capture text that a spreadsheet would run is quoted in CSV (smtp-injection has such HELO/VRFY text)."""
    code, _, _ = run(capsys, INJECTION, "-o", tmp_path, "--format", "csv")
    assert code == 0
    cells = [c for c in pd.read_csv(tmp_path / "commands.csv", dtype=str, keep_default_na=False).values.ravel()]
    raw = [a for a in smtpsniff_read(INJECTION).commands["argument"]]
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    formula_like = [a for a in raw if a.startswith(("=", "+", "-", "@"))]
    assert all("'" + a in cells for a in formula_like)


def test_good_capture_exits_0_and_summarises(capsys):
    code, out, err = run(capsys, SAMPLE)
    assert code == 0 and err == ""
    cap = smtpsniff_read(SAMPLE)
    assert f"{len(cap.sessions)} SMTP sessions" in " ".join(out.split())


@pytest.mark.parametrize("name, content", [("notes.txt", b"this is not a capture\n"), ("empty.pcap", b"")])
def test_unusable_file_exits_2(tmp_path, capsys, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run(capsys, path, "-o", tmp_path / "out")
    assert code == 2
    assert err.startswith("smtpsniff: ") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_missing_file_exits_2_from_the_real_command(tmp_path):
    """The installed entry point (python -m smtpsniff), not only main(): exit status and message."""
    missing = tmp_path / "nowhere.pcap"
    proc = subprocess.run([sys.executable, "-m", "smtpsniff", "analyze", str(missing)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "nowhere.pcap" in proc.stderr and proc.stdout == ""


def test_one_bad_file_among_good_ones_still_analyses_the_good(tmp_path, capsys):
    bad = tmp_path / "bad.pcap"
    bad.write_text("nope")
    code, out, err = run(capsys, SAMPLE, bad, "-o", tmp_path / "out", "--format", "csv")
    assert code == 2 and "bad.pcap" in err
    commands = pd.read_csv(tmp_path / "out" / "commands.csv")
    assert len(commands) == len(smtpsniff_read(SAMPLE).commands)


def _last_complete_frame(path: Path) -> int:
    out = subprocess.run([TSHARK, "-n", "-r", str(path), "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=False).stdout.split()
    return int(out[-1])


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
def test_truncated_capture_warns_and_keeps_what_came_before(tmp_path, capsys):
    data = SAMPLE.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) * 3 // 5 + 7])  # inside a packet record
    last = _last_complete_frame(cut)
    code, out, err = run(capsys, cut, "-o", tmp_path / "out", "--format", "json")
    assert code == 0
    assert err.startswith("smtpsniff: warning: cut.pcap: capture ends in the middle of record"), err
    full = smtpsniff_read(SAMPLE)
    part = smtpsniff.read(cut)
    keep = lambda t: t[t["frame"] <= last]  # noqa: E731
    for name in ("commands", "replies"):
        ours = part.tables[name][["session_id", "index", "frame", "ts"]].reset_index(drop=True)
        want = keep(full.tables[name])[["session_id", "index", "frame", "ts"]].reset_index(drop=True)
        pd.testing.assert_frame_equal(ours, want)
    assert list(part.commands["verb"]) == list(keep(full.commands)["verb"])
    assert 0 < len(part.commands) < len(full.commands)
    written = [json.loads(line) for line in (tmp_path / "out" / "commands.jsonl").read_text().splitlines()]
    assert len(written) == len(part.commands)


@pytest.mark.skipif(not (SHARED / "zeek" / "smtp").is_dir(), reason="shared captures are absent")
def test_gzip_and_shared_capture(tmp_path, capsys):
    """A gzip-compressed capture analyses like the plain one."""
    import gzip

    plain = SHARED / "zeek" / "smtp" / "smtp.pcap"
    packed = tmp_path / "smtp.pcap.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    code, _, err = run(capsys, packed, "-o", tmp_path / "out", "--format", "parquet")
    assert code == 0, err
    back = pd.read_parquet(tmp_path / "out" / "commands.parquet")
    assert _rows(back) == _rows(smtpsniff_read(plain).commands)
