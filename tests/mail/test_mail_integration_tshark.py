"""Header values of the messages table agree with tshark's IMF dissector (``imf.*``) on every capture.

For each message tshark dissects, every occurrence of From, To, Cc, Subject, Message-ID and Date
(the message's own header block, then those of embedded message/rfc822 parts, as tshark lists
them) is compared with smtpsniff's value.  A difference passes only when it is one of these,
each checked, not assumed:

* ``folding``: tshark keeps the CRLF of folded lines; smtpsniff unfolds (RFC 5322 2.2.3).
* ``utf8_as_bytes``: tshark 4.0 shows each byte of a UTF-8 header (RFC 6532) as U+FFFD; the value
  is smtpsniff's with every non-ASCII character replaced by one U+FFFD per UTF-8 byte (in an
  embedded message tshark also cuts it by the number of extra UTF-8 bytes).
* ``client_lines_glued``: tshark took client lines sent before the message (pipelined commands,
  or a CRAM-MD5 response it does not follow) as part of it, so the first field's name became
  ``"<those lines>\\r\\nFrom"``: the value is found under that name among tshark's unknown fields.
* ``past_header_limit``: the field lies past ``max_mail_header_bytes``; smtpsniff counts it and
  records ``header_bytes_limit`` instead of keeping it, and tshark's value is in the raw message.

Besides, tshark does not decode RFC 2047 encoded words: where the value holds them, smtpsniff's
decoded value must equal the stdlib's ``decode_header``/``make_header`` of tshark's text.

Messages only tshark shows must be ones the server never took as a message: lines sent after
a DATA the server refused (503), or plain text after STARTTLS (recorded as plaintext_after_starttls).
"""
from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from functools import lru_cache
from pathlib import Path

import pytest
from mail_oracles import ROOT, SHARED, all_capture_params, analysed, mail_of, needs_tshark

FIELDS = {"from": "from", "to": "to", "cc": "cc", "subject": "subject", "message_id": "message-id", "date": "date"}
_FOLD = re.compile(r"\r\n|\n")


@dataclass
class Comparison:
    counts: Counter = field(default_factory=Counter)
    unexplained: list[str] = field(default_factory=list)


def tshark_imf(path: Path, server_ports: set[int]) -> list[dict]:
    args = ["tshark", "-n", "-r", str(path), "-Y", "smtp && imf", "-T", "json", "-e", "frame.number",
            "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "imf.extension.type",
            "-e", "imf.extension.value"]
    for name in FIELDS:
        args += ["-e", f"imf.{name}"]
    for port in sorted(server_ports - {25, 465, 587}):
        args += ["-d", f"tcp.port=={port},smtp"]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    return [p["_source"]["layers"] for p in json.loads(out)] if out.strip() else []


def utf8_as_bytes(text: str) -> str:
    return "".join(ch if ord(ch) < 0x80 else "\ufffd" * len(ch.encode("utf-8")) for ch in text)


def _cut_like_tshark(text: str) -> str:
    """tshark's value of a UTF-8 field in an embedded message: bytes as U+FFFD, then cut by as many
    characters as the UTF-8 encoding has bytes beyond one per character."""
    extra = len(text.encode("utf-8")) - len(text)
    return utf8_as_bytes(text)[:len(text) - extra]


def header_entities(message) -> list:
    """The message's own header block, then each embedded message's, in document order."""
    containers = {p.path for p in message.parsed.parts if p.content_type in ("message/rfc822", "message/global")}
    return [p for p in message.parsed.parts if p.parent is None or p.parent in containers]


@lru_cache(maxsize=None)
def compare(path: Path) -> Comparison:
    """Every header value of every message tshark dissects in ``path``, compared (once per process)."""
    result = Comparison()
    cap = analysed(str(path))
    mail = mail_of(path)
    used: set[int] = set()
    for layers in tshark_imf(path, {int(p) for p in cap.sessions["server_port"].dropna()}):
        frame = int(layers["frame.number"][0])
        client = ((layers.get("ip.src") or layers.get("ipv6.src"))[0], int(layers["tcp.srcport"][0]))
        candidates = [i for i, m in enumerate(mail) if (m.session.client_ip, m.session.client_port) == client
                      and m.data.end_frame <= frame and i not in used]
        if not candidates:
            _explain_tshark_only(cap, client, frame, result)
            continue
        used.add(candidates[-1])
        message = mail[candidates[-1]]
        result.counts["messages"] += 1
        ours_by_field = {name: [h for entity in header_entities(message) for h in entity.headers
                                if h.lname == hname] for name, hname in FIELDS.items()}
        glued = dict(zip([t.rsplit("\r\n", 1)[-1].lower() for t in layers.get("imf.extension.type", [])],
                         layers.get("imf.extension.value", [])))
        limited = any(a.kind == "header_bytes_limit" for a in message.parsed.anomalies)
        raw_text = message.data.content.decode("utf-8", "replace")
        for name, ours in ours_by_field.items():
            theirs = list(layers.get(f"imf.{name}", []))
            for header in ours:
                if not theirs:
                    if glued.get(FIELDS[name]) == header.raw_value:
                        result.counts["client_lines_glued"] += 1
                        result.counts["compared"] += 1
                    else:
                        result.unexplained.append(f"frame {frame} {name}: tshark has none, ours {header.raw_value!r}")
                    continue
                _compare_value(frame, name, theirs.pop(0), header, result)
            for value in theirs:  # occurrences smtpsniff does not list
                if limited and _FOLD.sub("", value)[:200] in _FOLD.sub("", raw_text):
                    result.counts["past_header_limit"] += 1
                    result.counts["compared"] += 1
                else:
                    result.unexplained.append(f"frame {frame} {name}: only tshark has {value[:80]!r}")
    result.counts["ours_only"] = len(mail) - len(used)
    result.counts["ours_only_bdat"] = sum(1 for i, m in enumerate(mail) if i not in used and m.data.via == "BDAT")
    return result


def _compare_value(frame: int, name: str, theirs: str, header, result: Comparison) -> None:
    result.counts["compared"] += 1
    ours = header.raw_value
    if theirs == ours:
        result.counts["identical"] += 1
    elif _FOLD.sub("", theirs) == ours:
        result.counts["folding"] += 1
    elif ours != utf8_as_bytes(ours) and _FOLD.sub("", theirs) in (utf8_as_bytes(ours), _cut_like_tshark(ours)):
        result.counts["utf8_as_bytes"] += 1
        return
    else:
        result.unexplained.append(f"frame {frame} {name}: tshark {theirs!r} != ours {ours!r}")
        return
    if "=?" in ours:  # tshark shows encoded words as they are; smtpsniff decodes them (RFC 2047)
        decoded = str(make_header(decode_header(_FOLD.sub("", theirs))))
        if _squash(decoded) == _squash(header.value):
            result.counts["rfc2047_decoded"] += 1
        else:
            result.unexplained.append(f"frame {frame} {name}: decoded {header.value!r} != stdlib {decoded!r}")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _explain_tshark_only(cap, client: tuple[str, int], frame: int, result: Comparison) -> None:
    sessions = cap.sessions[(cap.sessions["client_ip"] == client[0]) & (cap.sessions["client_port"] == client[1])]
    ids = set(sessions["session_id"])
    commands = cap.commands[cap.commands["session_id"].isin(ids) & (cap.commands["frame"] < frame)
                            & cap.commands["verb"].isin(["DATA", "BDAT"])]
    plaintext = cap.anomalies[cap.anomalies["session_id"].isin(ids)
                              & (cap.anomalies["kind"] == "plaintext_after_starttls")]
    if len(commands) and commands.iloc[-1]["reply_code"] >= 400:
        result.counts["tshark_only_refused_data"] += 1
    elif len(plaintext):
        result.counts["tshark_only_plaintext_after_starttls"] += 1
    else:
        result.unexplained.append(f"frame {frame}: a message only tshark shows")


@needs_tshark
@pytest.mark.tshark
@pytest.mark.parametrize("capture", all_capture_params())
def test_headers_agree_with_tshark_imf(capture):
    result = compare(capture)
    assert result.unexplained == []
    assert result.counts["compared"] == sum(result.counts[k] for k in (
        "identical", "folding", "utf8_as_bytes", "client_lines_glued", "past_header_limit"))


@needs_tshark
@pytest.mark.tshark
def test_each_explanation_is_exercised():
    """The comparison is not vacuous: the reference captures hit every explained difference."""
    own = compare(ROOT / "tests" / "data" / "smtp-mime.pcap")
    assert own.counts["identical"] >= 20 and own.counts["rfc2047_decoded"] == 1
    assert compare(ROOT / "tests" / "data" / "smtp-utf8.pcap").counts["utf8_as_bytes"] == 12
    assert compare(ROOT / "tests" / "data" / "smtp-auth.pcap").counts["client_lines_glued"] == 2
    zeek = SHARED / "zeek"
    if not zeek.is_dir():
        pytest.skip(f"{zeek} is absent")
    assert compare(zeek / "smtp" / "smtp.pcap").counts["folding"] >= 1
    invalid = compare(zeek / "smtp-mail-transactions-invalid" / "smtp-mail-transactions-invalid.pcap")
    assert invalid.counts["tshark_only_refused_data"] == 3
    limit = compare(zeek / "smtp_mime-header-size-limit" / "mime-header-size-limit.pcap")
    assert limit.counts["past_header_limit"] >= 1
