"""A C extension built from other sources (its INTERFACE differs) is not used: the Python code runs,
with a warning saying how to rebuild it, and the analysis is the same."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smtpsniff import _native

ROOT = Path(__file__).resolve().parent.parent.parent

# An extension module of another interface version, in place before smtpsniff is imported.
STALE = """
import json, sys, types, warnings
mode = {mode!r}
if mode != "current":
    stale = types.ModuleType("smtpsniff._native.fastpath")
    stale.__file__ = "stale-fastpath.so"
    if mode != "no interface":  # built before the extension said its interface
        stale.INTERFACE = {interface}
    sys.modules["smtpsniff._native.fastpath"] = stale
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import smtpsniff
    from smtpsniff import fastinit
    from smtpsniff.net import native
    from smtpsniff.smtp import conversation
cap = smtpsniff.read("captures/smtp-sample.pcap", workers=0)
print(json.dumps({{"native": native.available(), "slot_builder": fastinit._CSlotBuilder is not None,
                  "ehlo": conversation._C_EHLO is not None, "warnings": [str(w.message) for w in caught],
                  "sessions": len(cap.sessions), "commands": len(cap.commands), "replies": len(cap.replies)}}))
"""


def run(mode: str) -> dict:
    code = STALE.format(mode=mode, interface=_native.INTERFACE - 1)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["older interface", "no interface"])
def test_an_extension_of_another_interface_is_not_used(mode):
    current = run("current")
    stale = run(mode)
    assert not stale["native"] and not stale["slot_builder"] and not stale["ehlo"]
    assert any("built from other sources" in w and "rebuild" in w for w in stale["warnings"])
    assert {k: stale[k] for k in ("sessions", "commands", "replies")} == \
        {k: current[k] for k in ("sessions", "commands", "replies")}
    if _native.fastpath is not None:
        assert current["native"] and current["slot_builder"] and not current["warnings"]
