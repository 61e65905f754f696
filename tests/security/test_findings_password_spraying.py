"""password_spraying: one source failing for many usernames."""
from __future__ import annotations

from security_common import findings, sidecar

NAME = "smtp-auth-attacks.pcap"


def test_spraying_from_one_source():
    f = findings(NAME, "password_spraying")
    truth = sidecar(NAME)
    sprayed = [s for s in truth["sessions"] if s["client_addr"][0] == truth["spraying_source"]]
    users = {a["username"] for s in sprayed for a in s["auth"]}
    assert len(f) == 1 and str(f["severity"].iloc[0]) == "high"
    assert f"{truth['spraying_source']} failed AUTH at 127.0.0.25 for {len(users)} usernames" in f["explanation"].iloc[0]
    for user in users:
        assert f" {user} -> 535" in f["evidence"].iloc[0]


def test_threshold_by_name():
    assert findings(NAME, "password_spraying", thresholds=(("spraying_min_users", 7),)).empty


def test_brute_force_of_one_user_is_no_spraying():
    f = findings(NAME, "password_spraying")
    assert sidecar(NAME)["brute_force_source"] not in " ".join(f["explanation"])
