"""smtp_smuggling: end-of-data look-alikes in DATA, receivers' ends, smuggled commands, and a
server (Postfix 3.7) whose extra replies show it took the smuggled end."""
from __future__ import annotations

import base64

from smtpsniff.findings.smtp_smuggling import ends

from security_common import findings, read, session_id_of, sidecar

NAME = "smtp-smuggling.pcap"


def test_every_shape_found_with_its_offset_and_commands():
    f = findings(NAME, "smtp_smuggling").set_index("session_id")
    for s in sidecar(NAME)["sessions"]:
        sid = session_id_of(NAME, s)
        meta = s["messages"][0]
        wire = base64.b64decode(meta["wire_b64"])
        # the strict receiver's message: up to CRLF.CRLF, dot-unstuffed at CRLF line starts (RFC 5321 4.5.2)
        body = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in wire[:-3].split(b"\r\n"))
        shape = meta["shape"].encode()
        row = f.loc[sid]
        assert f"at octet {wire.index(shape)} " in row.explanation  # nothing before it is stuffed
        assert f"strict end at octet {len(body)}" in row.explanation
        assert "3 SMTP command(s) smuggled" in row.explanation
        assert row.evidence.startswith("MAIL FROM:<admin@example.test>")
        receivers = {"LF-only", "CR-or-LF"} if b"\n." in shape or shape.startswith(b"\n") else {"CR-or-LF"}
        assert {r for r in ("LF-only", "CR-or-LF") if f"{r} receiver" in row.explanation} == receivers


def test_critical_exactly_where_the_server_queued_the_smuggled_message():
    f = findings(NAME, "smtp_smuggling").set_index("session_id")
    for s in sidecar(NAME)["sessions"]:
        queued = sum(1 for e in s["transcript"] if e["dir"] == "S" and e["code"] == 250
                     and "queued" in " ".join(e["lines"]))
        severity = str(f.loc[session_id_of(NAME, s), "severity"])
        assert (severity == "critical") == (queued == 2), (s["server"], s["note"], queued)
        assert severity in ("critical", "high")
    crit = {s["server"] for s in sidecar(NAME)["sessions"]
            if str(f.loc[session_id_of(NAME, s), "severity"]) == "critical"}
    assert crit == {"postfix"}  # aiosmtpd 1.4.6 is strict


def test_receiver_models_on_the_decoded_message():
    for r in read(NAME).records:
        found = ends(r.messages[0])
        assert found["strict"] is None and found["CR-or-LF"] is not None


def test_dot_stuffed_lone_dot_is_no_smuggling():
    # smtp-mime.pcap has a line that is a lone "." (sent stuffed as ".."): a strict content line
    assert findings("smtp-mime.pcap", "smtp_smuggling").empty
    assert findings("smtp-bdat.pcap", "smtp_smuggling").empty


def test_decoded_message_is_what_a_strict_receiver_stores():
    cap = read(NAME)
    for s in sidecar(NAME)["sessions"]:
        records = next(r for r in cap.records if r.session.session_id == session_id_of(NAME, s))
        assert records.messages[0].content == base64.b64decode(s["messages"][0]["data_b64"])
