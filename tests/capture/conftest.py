"""Fixtures for the capture tests: tshark as the independent oracle, and a file writer."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from capture_oracle import Oracle, tshark_packets


@pytest.fixture
def tshark() -> Callable[[Path], list[Oracle]]:
    """``tshark(path)``: the packets tshark reads from ``path``; skips the test without tshark."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    return tshark_packets


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """``write(name, data)``: a file in the test's temporary directory."""

    def _write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write

