"""The README stays true: its generated reference matches the code, its commands exist."""
from __future__ import annotations

import re
import subprocess
import sys

from corpus import ROOT


def test_generated_reference_is_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "readme_reference.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_command_in_the_readme_exists():
    from smtpsniff.cli import COMMANDS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"(?:`|\$ |^)smtpsniff ([a-z]+) ", readme, re.M))
    assert named <= set(COMMANDS), named - set(COMMANDS)
    assert set(COMMANDS) <= named, set(COMMANDS) - named


def test_quick_start_has_exactly_the_two_setup_commands_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].strip() in ci.replace(" -q", "").replace("python -m pip install -e", "python -m pip install -e")
