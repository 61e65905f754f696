"""Writing every chart of a capture as PNG and SVG files (``analyze --charts DIR``).

File names are the chart names (``reply_codes.png``), fixed by smtpsniff, never from the capture;
a rerun replaces them.  SVG files carry no date, so identical input gives identical files.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

from ..analysis.charts import CHARTS
from .safe import safe_filename

FORMATS = ("png", "svg")
#: Resolution of the PNG files.
DPI = 110
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}}


@contextmanager
def quiet_glyphs():
    """Silence matplotlib's "Glyph ... missing from font" warnings while saving: its fonts have no
    CJK glyphs and a capture may carry any script; the picture shows boxes, the tables the text."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        yield


def write_charts(cap, out_dir: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Draw every chart of :data:`~smtpsniff.analysis.charts.CHARTS` and save it in each format."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, chart in CHARTS.items():
        figure = chart(cap).figure
        for fmt in formats:
            path = out_dir / safe_filename(f"{name}.{fmt}")
            with quiet_glyphs():
                figure.savefig(path, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
            written.append(path)
    return written
