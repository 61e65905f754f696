"""Writes (or checks) the README's generated reference sections: the limits and the tables.

The limits come from smtpsniff/limits.py (each field, its default and its ``#:`` comment); the tables
from smtpsniff.analysis.schema.SCHEMAS.  Usage: ``python tools/readme_reference.py --write`` after
changing either; the test suite runs ``--check`` so the README cannot drift from the code.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smtpsniff.analysis.schema import SCHEMAS  # noqa: E402
from smtpsniff.limits import DEFAULT_LIMITS  # noqa: E402

README = ROOT / "README.md"


def _limit_docs() -> list[tuple[str, str]]:
    source = (ROOT / "smtpsniff" / "limits.py").read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Limits")
    out = []
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            doc: list[str] = []
            i = node.lineno - 2
            while i >= 0 and lines[i].strip().startswith("#:"):
                doc.insert(0, lines[i].strip()[2:].strip())
                i -= 1
            out.append((node.target.id, " ".join(doc)))
    return out


def _human(name: str, value: int) -> str:
    if name.endswith("_ns"):
        return f"{value / 1e9:g} s"
    if ("bytes" in name or name.endswith(("_line", "_chunk"))) and value >= 1024 and value % 1024 == 0:
        for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value % size == 0:
                return f"{value // size} {unit}"
    return f"{value:,}"


def limits_markdown() -> str:
    rows = ["| limit | default | what it bounds |", "|---|---:|---|"]
    for name, doc in _limit_docs():
        rows.append(f"| `{name}` | {_human(name, getattr(DEFAULT_LIMITS, name))} | {doc.replace('|', '/')} |")
    return "\n".join(rows)


def tables_markdown() -> str:
    parts = []
    for table, columns in SCHEMAS.items():
        parts.append(f"**{table}**\n\n| column | dtype | meaning |\n|---|---|---|")
        parts.extend(f"| `{c.name}` | {c.dtype} | {c.doc.replace('|', '/')} |" for c in columns)
        parts.append("")
    return "\n".join(parts).rstrip()


SECTIONS = {"limits": limits_markdown, "tables": tables_markdown}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- reference:{name} -->\n)(?:.*?\n)?(<!-- /reference:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- reference:{name} --> section")
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite README.md's generated sections")
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    args = parser.parse_args()
    current = README.read_text(encoding="utf-8")
    wanted = render(current)
    if args.write:
        README.write_text(wanted, encoding="utf-8")
        return 0
    if current != wanted:
        print("README.md's generated reference is out of date: run python tools/readme_reference.py --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
