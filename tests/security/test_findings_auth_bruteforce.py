"""auth_bruteforce: many failures for one user; critical when a later attempt got in."""
from __future__ import annotations

from security_common import findings, sidecar

NAME = "smtp-auth-attacks.pcap"


def test_brute_force_then_success_is_critical():
    f = findings(NAME, "auth_bruteforce")
    truth = sidecar(NAME)
    alice = [a for s in truth["sessions"] for a in s["auth"] if a["username"] == "alice"]
    failures = [a for a in alice if not a["success"]]
    assert len(f) == 1 and str(f["severity"].iloc[0]) == "critical"
    expl = f["explanation"].iloc[0]
    assert f"{len(failures)} failed AUTH attempts for 'alice'" in expl and truth["brute_force_source"] in expl
    assert "then AUTH LOGIN succeeded (235)" in expl
    assert len(f["sessions"].iloc[0]) == len(alice) == 7


def test_threshold_by_name():
    assert findings(NAME, "auth_bruteforce", thresholds=(("auth_bruteforce_min_failures", 7),)).empty
    assert len(findings(NAME, "auth_bruteforce", thresholds=(("auth_bruteforce_min_failures", 6),))) == 1


def test_a_few_typos_are_no_brute_force():
    assert findings("smtp-auth.pcap", "auth_bruteforce").empty  # alice failed twice
