"""user_enumeration: VRFY/EXPN and RCPT sweeps; thresholds by name."""
from __future__ import annotations

from security_common import findings, sidecar

NAME = "smtp-enumeration.pcap"


def test_sweeps_counted_as_the_sidecar_says():
    f = findings(NAME, "user_enumeration")
    assert len(f) == 1 and str(f["severity"].iloc[0]) == "medium"
    cmds = [c for s in sidecar(NAME)["sessions"] for c in s["commands"] if c.get("verb") in ("VRFY", "EXPN", "RCPT")]
    vrfy = [c for c in cmds if c["verb"] != "RCPT"]
    rcpt = [c for c in cmds if c["verb"] == "RCPT"]
    vrfy_unknown = sum(c["reply_code"] in (550, 551, 553) for c in vrfy)
    rcpt_unknown = sum(c["reply_code"] in (550, 551, 553) for c in rcpt)
    expl = f["explanation"].iloc[0]
    assert f"{len(vrfy)} names asked with EXPN/VRFY, {vrfy_unknown} answered unknown" in expl
    assert f"{rcpt_unknown} of {len(rcpt)} RCPT addresses answered unknown" in expl


def test_thresholds_override_by_name():
    quiet = findings(NAME, "user_enumeration", thresholds=(("enumeration_min_vrfy", 17),
                                                           ("enumeration_min_unknown", 9)))
    assert quiet.empty
    only_rcpt = findings(NAME, "user_enumeration", thresholds=(("enumeration_min_vrfy", 17),))
    assert "RCPT" in only_rcpt["explanation"].iloc[0] and "VRFY" not in only_rcpt["explanation"].iloc[0]


def test_a_few_lookups_are_no_sweep():
    assert findings("smtp-features.pcap", "user_enumeration").empty  # 2 VRFY + 2 EXPN, 2 unknown RCPT
    assert len(findings("captures/smtp-sample.pcap", "user_enumeration")) == 1  # the 6-name VRFY probe
