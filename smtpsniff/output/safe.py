"""Making capture-controlled text safe for file systems, spreadsheets and terminals.

Everything a capture carries (file names, subjects, banners) is hostile by assumption.  This module
only transforms strings; it never writes anything.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

#: Longest file name written (most file systems allow 255 bytes per name, ext4 and NTFS included).
MAX_FILENAME_BYTES = 200

# Windows reserved device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9), with or without extension.
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.IGNORECASE)
# Path separators, characters Windows forbids, and every C0/C1 control character.
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f-\x9f/\\:*?"<>|]')


def safe_filename(name: str | bytes | None, *, fallback: str = "unnamed") -> str:
    """A single path component derived from ``name`` that cannot escape its folder.

    Separators, control and reserved characters become ``_``; leading dots (``..``, hidden files)
    and trailing dots/spaces (ignored by Windows) are removed; reserved device names get a ``_``
    prefix; the result is cut to :data:`MAX_FILENAME_BYTES` UTF-8 bytes keeping the extension.
    """
    if isinstance(name, bytes):
        name = name.decode("utf-8", errors="replace")
    text = unicodedata.normalize("NFC", name or "")
    text = _UNSAFE_CHARS.sub("_", text)
    # Unicode format characters (bidi overrides such as U+202E) disguise extensions.
    text = "".join("_" if unicodedata.category(ch) == "Cf" else ch for ch in text)
    text = text.strip().lstrip(".").rstrip(". ")
    if not text:
        text = fallback
    if _WINDOWS_RESERVED.match(text):
        text = "_" + text
    return _cut_utf8(text, MAX_FILENAME_BYTES)


def _cut_utf8(text: str, limit: int) -> str:
    if len(text.encode("utf-8")) <= limit:
        return text
    stem, dot, ext = text.rpartition(".")
    if not dot or len(ext.encode("utf-8")) > 16:
        stem, ext = text, ""
    room = limit - (len(ext.encode("utf-8")) + 1 if ext else 0)
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(". ")
    return f"{cut or 'unnamed'}.{ext}" if ext else (cut or "unnamed")


def unique_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem (2).ext``, ``(3)``... : never an existing file.

    ``name`` must come from :func:`safe_filename`; the result is checked to lie inside ``folder``.
    """
    folder = folder.resolve()
    candidate = folder / name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    n = 1
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = folder / (f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})")
    if candidate.resolve().parent != folder:
        raise ValueError(f"refusing to write outside {folder}: {name!r}")
    return candidate


#: Characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(value: object) -> object:
    """Neutralise a CSV cell that a spreadsheet would evaluate: prefix it with a single quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


# CSI/OSC/other escape sequences, then any remaining C0/C1 control except tab and newline.
_ANSI_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """Text with escape sequences removed and other control characters shown as ``\\xNN``."""
    text = _ANSI_SEQUENCE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
