"""Hostile names, formulas and escape sequences from a capture stay harmless."""
from __future__ import annotations

import os

import pytest

from smtpsniff.output.safe import MAX_FILENAME_BYTES, csv_safe, safe_filename, terminal_safe, unique_path

HOSTILE_NAMES = [
    "../../x", "..", ".", "/etc/passwd", "C:\\Windows\\system32\\cmd.exe", "\\\\server\\share\\f",
    "a\x00b.txt", "evil\r\nname.txt", "\x1b[31mred\x1b[0m.txt", "CON", "con.txt", "LPT1.log", "nul",
    "x" * 300 + ".pdf", "é" * 200 + ".txt", "invoice\u202egpj.exe", "   ", "", "trailing. . .",
    ".hidden", "a/b/../../c", "..\\..\\y",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_stay_inside_the_folder(tmp_path, name):
    safe = safe_filename(name)
    assert safe and "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert not safe.startswith(".")
    assert len(safe.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert all(ord(ch) >= 0x20 for ch in safe)
    target = unique_path(tmp_path, safe)
    target.write_bytes(b"x")
    assert target.resolve().parent == tmp_path.resolve()
    assert os.listdir(tmp_path) == [target.name]


def test_windows_device_names_are_prefixed():
    assert safe_filename("CON") == "_CON"
    assert safe_filename("com1.txt") == "_com1.txt"
    assert safe_filename("console.txt") == "console.txt"


def test_long_names_keep_their_extension():
    assert safe_filename("a" * 400 + ".docx").endswith(".docx")


def test_collisions_are_numbered_never_overwritten(tmp_path):
    paths = []
    for _ in range(3):
        p = unique_path(tmp_path, safe_filename("report.pdf"))
        p.write_bytes(b"x")
        paths.append(p.name)
    assert paths == ["report.pdf", "report (2).pdf", "report (3).pdf"]


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_cells_are_neutralised(cell):
    assert csv_safe(cell) == "'" + cell


def test_plain_cells_and_numbers_unchanged():
    assert csv_safe("hello") == "hello"
    assert csv_safe(-5) == -5


def test_terminal_escape_sequences_are_shown_not_sent():
    out = terminal_safe("250 ok\x1b]0;pwned\x07\x1b[2J\x08\x00 end\ttab")
    assert "\x1b" not in out and "\x07" not in out and "\x00" not in out and "\x08" not in out
    assert "250 ok" in out and "end\ttab" in out
