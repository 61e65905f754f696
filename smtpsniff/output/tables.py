"""Writing the tables of a :class:`~smtpsniff.analysis.capture.Capture` as CSV, Parquet or JSON lines.

CSV cells that a spreadsheet would run as formulas are neutralised; list cells are joined with
spaces in CSV and kept as lists in Parquet and JSON.  Timestamps are ISO 8601 UTC in CSV/JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .safe import csv_safe

FORMATS = ("csv", "parquet", "json")
_SUFFIX = {"csv": ".csv", "parquet": ".parquet", "json": ".jsonl"}


def write_tables(tables: dict[str, pd.DataFrame], out_dir: Path, fmt: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        path = out_dir / f"{name}{_SUFFIX[fmt]}"
        if fmt == "csv":
            _for_text(frame, csv=True).to_csv(path, index=False)
        elif fmt == "parquet":
            frame.to_parquet(path, index=False)
        elif fmt == "json":
            with path.open("w", encoding="utf-8") as fh:
                for record in _for_text(frame, csv=False).to_dict(orient="records"):
                    fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        else:
            raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        written.append(path)
    return written


def _for_text(frame: pd.DataFrame, *, csv: bool) -> pd.DataFrame:
    """Plain Python values per cell (no float coercion of nullable integers), made safe for CSV."""
    columns = {}
    for name, series in frame.items():
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            values = [None if pd.isna(t) else t.isoformat() for t in series]
        elif series.dtype == object and csv:
            values = [" ".join(map(str, v)) if isinstance(v, (list, tuple)) else v for v in series]
        elif series.dtype == object:
            values = list(series)
        else:
            values = [None if pd.isna(v) else v for v in series.astype(object)]
        if csv:
            values = [csv_safe(v) for v in values]
        columns[name] = pd.Series(values, index=frame.index, dtype=object)
    return pd.DataFrame(columns, index=frame.index)
