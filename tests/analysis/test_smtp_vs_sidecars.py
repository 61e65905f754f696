"""Ground truth from the recorders: what each real client sent and read equals smtpsniff's records and tables.

Every capture recorded by tests/data/record (and captures/smtp-sample.pcap) has a sidecar written
from the clients' own transcripts.  Per recorded session (matched by client and server port), for
everything in clear text:

* the server's replies, in wire order: code and every text line;
* the client's command lines, in wire order (``transcript``; lines a raw client wrote in one piece are
  split where a line ends, CRLF or bare LF, as the server's replies confirm), with the reply code that
  answered each (DATA: the 354) and the pipelining flag (a command written in the same batch after
  another one is pipelined);
* AUTH exchanges: mechanism, initial response and each response as sent (base64), their decoding, the
  credentials inside, every reply code and the outcome; the session's last AUTH outcome;
* each transaction: MAIL FROM, MAIL reply, each RCPT TO with its reply code, DATA/BDAT, final reply;
* each message's bytes (``data_b64``) equal ``MessageData.content`` exactly, and size and SHA-256 agree;
* TLS: STARTTLS or implicit, the SNI and the negotiated version where the client logged it.

Where a recorded session legitimately differs (an attack the decoder reports rather than follows),
:data:`KNOWN` names it with the reason and a check that the difference is still that one.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from smtp_oracles import ROOT, smtpsniff_read
from smtpsniff.reassembly.events import Direction
from smtpsniff.records.builder import SessionRecords
from smtpsniff.smtp.events import AuthStepKind

SIDECARS = sorted((ROOT / "tests" / "data").glob("*.json")) + [ROOT / "captures" / "smtp-sample.json"]


@dataclass
class Case:
    sidecar: Path
    capture: Path
    session: dict  # one entry of the sidecar's "sessions"

    @property
    def id(self) -> str:
        return f"{self.capture.name}#{self.session['id']}"


def _cases() -> list:
    params = []
    for path in SIDECARS:
        doc = json.loads(path.read_text(encoding="utf-8"))
        capture = path.with_name(doc["capture"])
        for session in doc["sessions"]:
            case = Case(path, capture, session)
            params.append(pytest.param(case, id=case.id))
    return params


CASES = _cases()


def records_of(case: Case) -> SessionRecords:
    """Our session for the recorded one: same client port and server port."""
    s = case.session
    cport, sport = s["client_addr"][1], s["server_addr"][1]
    found = [r for r in smtpsniff_read(case.capture).records
             if (r.session.client_port, r.session.server_port) == (cport, sport)]
    assert len(found) == 1, f"{len(found)} sessions for client port {cport} -> {sport}"
    return found[0]


# ------------------------------------------------------------------------------------------ expectations
def reply_lines(item: dict) -> list[str]:
    """A transcript reply's text lines without their "ddd-"/"ddd " (swaks and raw clients keep them)."""
    lines, prefix = item["lines"], re.compile(rf"^{item['code']}[ -]")
    if lines and all(prefix.match(line) for line in lines):
        return [line[4:] for line in lines]
    return list(lines)


def split_raw(text: str) -> list[str]:
    """A raw client write cut into the lines a server reads: each ends at CRLF or at a bare LF
    (RFC 5321 2.3.8 names both as seen in the wild; a bare CR stays inside its line)."""
    return [line for line in re.findall(r"[^\n]*\n|[^\n]+$", text)]


def expected_client(case: Case) -> tuple[list[tuple[str, str, bool]], list[dict], list[dict]]:
    """(command lines with terminator and pipelined flag, auth responses, messages) in clear."""
    s = case.session
    chunk_lines = iter(c["line"] for c in s["commands"] if c["kind"] == "bdat-chunk")
    commands, responses, bodies = [], [], []
    last_batch = None
    for item in s["transcript"]:
        if item["dir"] != "C" or item["encrypted"]:
            continue
        batch = item.get("pipelined_batch")
        kind = item["kind"]
        if kind in ("command", "bdat-chunk"):
            line = item["line"] if kind == "command" else next(chunk_lines)
            commands.append((line + "\r\n", item["line"] if kind == "command" else line,
                             batch is not None and batch == last_batch))
        elif kind == "raw":  # lines written in one piece: each after the first is pipelined
            for k, line in enumerate(split_raw(item["line"])):
                commands.append((line, line.rstrip("\r\n"), k > 0))
        elif kind == "auth-response":
            responses.append(item)
        elif kind == "data-body":
            bodies.append(item)
        last_batch = batch
    return commands, responses, bodies


# ------------------------------------------------------------------------------------------ known differences
def _starttls_injection(case: Case, r: SessionRecords) -> str | None:
    injected = [c for c in case.session["commands"] if c.get("pipelined_batch") and c["verb"] != "STARTTLS"
                and c["reply_code"] is None]
    ours = [p.data for p in r.plaintext_after_starttls if p.direction is Direction.CLIENT_TO_SERVER]
    want = [(c["line"] + "\r\n").encode() for c in injected]
    if not injected or ours[: len(want)] != want:
        return f"injected {want} are not our first plain-text lines after STARTTLS {ours[:3]}"
    starttls = next(c.index for c in r.commands if c.verb == "STARTTLS")
    if [c for c in r.commands if c.index > starttls]:
        return "a line after STARTTLS became a command"
    return None


def _smuggled_replies(case: Case, r: SessionRecords) -> str | None:
    replies = [x for x in case.session["transcript"] if x["dir"] == "S"]
    quit_ = next(c for c in r.commands if c.verb == "QUIT")
    recorded = next(c for c in case.session["commands"] if c.get("verb") == "QUIT")
    unexpected = [x.code for x in r.replies if x.verb is None]
    if quit_.reply_code != replies[-1]["code"] or recorded["reply_code"] == quit_.reply_code:
        return f"QUIT got {quit_.reply_code} (wire: {replies[-1]['code']}, recorder: {recorded['reply_code']})"
    return None if unexpected == [250, 250, 354, 250] else f"unexpected replies {unexpected}"


def _source_route(case: Case, r: SessionRecords) -> str | None:
    sent = [m for m in case.session["messages"] if not m["encrypted"]]
    ours = [t for t in r.transactions if t.mail_from is not None]
    routed = 0
    for t, m in zip(ours, sent):
        for mine, theirs in zip(t.rcpt_to, m["rcpt_to"]):
            if theirs.startswith("@") and ":" in theirs:
                routed += 1
                if mine != theirs.split(":", 1)[1]:
                    return f"{theirs!r} -> {mine!r} is not the mailbox of the source route"
                if not any(f"<{theirs}>" in c.argument for c in r.commands if c.verb == "RCPT"):
                    return f"the RCPT argument lost the source route {theirs!r}"
            elif mine != theirs:
                return f"{mine!r} != {theirs!r}"
        if list(t.rcpt_codes) != m["rcpt_codes"] or t.mail_from != m["mail_from"]:
            return "codes or sender differ"
    return None if routed and len(ours) == len(sent) else "no source-routed recipient any more"


def _quoted_local_part(case: Case, r: SessionRecords) -> str | None:
    m = case.session["messages"][0]
    t = next(t for t in r.transactions if t.mail_from is not None)
    if m["mail_line"] != f"MAIL FROM:<{t.mail_from}>" or not t.mail_from.startswith(m["mail_from"] + ">"):
        return f"ours {t.mail_from!r}, recorder {m['mail_from']!r}, line {m['mail_line']!r}"
    return None


def _refused_bdat_message(case: Case, r: SessionRecords) -> str | None:
    extra = r.messages[-1]
    t = next(t for t in r.transactions if t.trans_index == extra.trans_index)
    n = len([m for m in case.session["messages"] if m.get("data_b64")])
    if len(r.messages) != n + 1 or (extra.via, extra.size, extra.content) != ("BDAT", 0, b""):
        return "the extra message is not one empty BDAT"
    return None if (t.mail_from, t.final_reply_code, t.status) == (None, 503, "rejected") else f"its transaction {t}"


ASPECTS = ("replies", "commands", "pairing", "auth", "transactions", "messages", "tls")

#: (capture, session id, aspect) -> (reason, check returning a problem or None).
KNOWN = {
    **{("smtp-starttls-attacks.pcap", i, aspect): (
        "STARTTLS command injection (CVE-2011-0411): the client wrote 'STARTTLS\\r\\nRSET\\r\\n' in one piece; "
        "the RSET sits where TLS is due after the 220, so smtpsniff reports it as plaintext_after_starttls, "
        "not as a command (the server never answered it either)", _starttls_injection)
       for i in (1, 2) for aspect in ("commands", "pairing")},
    **{("smtp-smuggling.pcap", i, "pairing"): (
        "Postfix honoured the smuggled end of data and answered the smuggled MAIL/RCPT/DATA/message (250 250 "
        "354 250); the recorder pairs replies in order so it gives QUIT a 250, while QUIT got the 221 on the "
        "wire; smtpsniff reads the smuggled commands as content (RFC 5321 4.1.1.4) and reports the four "
        "replies as unexpected", _smuggled_replies) for i in (6, 7, 8)},
    **{("smtp-relay.pcap", i, "transactions"): (
        "RCPT TO:<@example.test:victim@elsewhere.test>: RFC 5321 4.1.2 and appendix C say to ignore a "
        "source route, so the recipient is the mailbox (as Zeek's extract_email_addrs_set gives); the "
        "route stays in the command's argument; the recorder logs the whole path", _source_route) for i in (1, 2)},
    ("smtp-injection.pcap", 1, "transactions"): (
        "MAIL FROM:<\"<script>...</script>\"@evil.test>: a Quoted-string local part may hold '>' (RFC 5321 "
        "4.1.2); the recorder's raw client cut the path at the first '>'", _quoted_local_part),
    ("smtp-bdat.pcap", 1, "messages"): (
        "BDAT 0 LAST outside a transaction (Postfix: 503 need RCPT): BDAT octets go without a go-ahead "
        "(RFC 3030 2), so smtpsniff records the empty message with a transaction row the server rejected; "
        "the client logged no message", _refused_bdat_message),
}


def _no_ground_truth(case: Case, aspect: str) -> str | None:
    s = case.session
    if not s["transcript"]:
        return "no transcript (nmap's smtp-open-relay script logs none)"
    if aspect in ("pairing", "transactions") and any(x["kind"] == "raw" for x in s["transcript"]):
        return "raw writes: the recorder logs neither their commands nor their transactions"
    return None


def check(case: Case, aspect: str) -> SessionRecords | None:
    """Skip when the sidecar has nothing to say; run the KNOWN check instead when listed (None back)."""
    reason = _no_ground_truth(case, aspect)
    if reason:
        pytest.skip(reason)
    r = records_of(case)
    known = KNOWN.get((case.capture.name, case.session["id"], aspect))
    if known is not None:
        text, still = known
        problem = still(case, r)
        assert problem is None, f"KNOWN difference changed: {problem}\n  (KNOWN says: {text})"
        return None
    return r


# ------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("case", CASES)
def test_replies_are_the_servers(case):
    if (r := check(case, "replies")) is None:
        return
    want = [(x["code"], reply_lines(x)) for x in case.session["transcript"]
            if x["dir"] == "S" and not x["encrypted"]]
    assert [(x.code, x.text.split("\n")) for x in r.replies] == want


@pytest.mark.parametrize("case", CASES)
def test_commands_are_the_clients(case):
    if (r := check(case, "commands")) is None:
        return
    commands, _, _ = expected_client(case)
    assert [c.raw.decode("utf-8", "surrogateescape") for c in r.commands] == [raw for raw, _, _ in commands]
    assert [c.pipelined for c in r.commands] == [p for _, _, p in commands]
    recorded = [(c["verb"], c["arg"]) for c in case.session["commands"]
                if c["kind"] in ("command", "bdat-chunk") and not c["encrypted"]]
    if len(recorded) == len(r.commands):  # the client logged each command (no raw writes)
        assert [(c.verb, c.argument) for c in r.commands] == recorded


@pytest.mark.parametrize("case", CASES)
def test_each_command_has_the_reply_that_answered_it(case):
    """The recorder pairs replies with commands in order (RFC 2920 3: replies come in command order);
    a DATA command is answered by its 354 (or refusal), the message by the next reply."""
    if (r := check(case, "pairing")) is None:
        return
    clear = [c for c in case.session["commands"] if not c["encrypted"]]
    want = [c["reply_code"] for c in clear if c["kind"] in ("command", "bdat-chunk")]
    assert [c.reply_code for c in r.commands] == want


@pytest.mark.parametrize("case", CASES)
def test_auth_exchanges(case):
    if (r := check(case, "auth")) is None:
        return
    auths = [a for a in case.session["auth"] if not a["encrypted"]]
    commands = [c for c in r.commands if c.verb == "AUTH"]
    assert [c.argument.split(" ")[0].upper() for c in commands] == [a["mechanism"] for a in auths]
    for command, a in zip(commands, auths):
        steps = [x for x in r.auth_steps
                 if x.command_index == command.index and x.direction is Direction.CLIENT_TO_SERVER]
        initial = [x for x in steps if x.kind is AuthStepKind.INITIAL]
        responses = [x for x in steps if x.kind in (AuthStepKind.RESPONSE, AuthStepKind.CANCEL)]
        recorded_initial = [a["initial_response"]] if a["initial_response"] is not None else []
        assert [x.raw.decode() for x in initial] == recorded_initial
        assert [x.raw.decode() for x in responses] == a["responses"]
        for x in initial + responses:
            if x.kind is not AuthStepKind.CANCEL and x.raw not in (b"", b"="):
                assert x.decoded and x.data == base64.b64decode(x.raw), x
        codes = [x.code for x in r.replies if x.command_index == command.index]
        assert codes == a["reply_codes"] and codes[-1] == a["final_code"]
        assert (200 <= a["final_code"] < 300) == a["success"]
        _check_credentials(a, [x.data for x in initial + responses])
    if auths:
        s = r.session
        assert (s.auth_mechanism, s.auth_reply_code, s.auth_success) == (
            auths[-1]["mechanism"], auths[-1]["final_code"], auths[-1]["success"])


def _check_credentials(a: dict, data: list[bytes]) -> None:
    """The recorded username and password are inside the decoded SASL data (RFC 4616, LOGIN, RFC 2195)."""
    user, password = a.get("username"), a.get("password")
    if user is None:
        return
    if a["mechanism"] == "PLAIN":
        assert data and data[0].split(b"\0")[1:] == [user.encode(), password.encode()], data
    elif a["mechanism"] == "LOGIN":
        assert data[:2] == [user.encode(), password.encode()], data
    elif a["mechanism"] == "CRAM-MD5":
        assert data and data[0].startswith(user.encode() + b" "), data


@pytest.mark.parametrize("case", CASES)
def test_transactions_and_recipients(case):
    if (r := check(case, "transactions")) is None:
        return
    sent = [m for m in case.session["messages"] if not m["encrypted"]]
    ours = [t for t in r.transactions if t.mail_from is not None]
    assert [(t.mail_from, list(t.rcpt_to), list(t.rcpt_codes), t.mail_reply_code) for t in ours] == [
        (m["mail_from"], m["rcpt_to"], m["rcpt_codes"], m["mail_code"]) for m in sent]
    for t, m in zip(ours, sent):
        assert t.data_via == m["transfer"]
        assert t.final_reply_code == m.get("final_code")
        if m["transfer"] == "DATA":
            assert t.data_reply_code == m.get("data_code")
    recipients = [(x.trans_index, x.address, x.reply_code) for x in r.recipients]
    assert recipients == [(t.trans_index, a, c) for t in r.transactions for a, c in zip(t.rcpt_to, t.rcpt_codes)]


@pytest.mark.parametrize("case", CASES)
def test_message_bytes(case):
    if (r := check(case, "messages")) is None:
        return
    sent = [m for m in case.session["messages"] if not m["encrypted"] and m.get("data_b64") is not None]
    assert len(r.messages) == len(sent)
    for ours, m in zip(r.messages, sent):
        content = base64.b64decode(m["data_b64"])
        assert ours.content == content
        assert ours.size == m["size"] == len(content) and ours.complete and not ours.truncated_content
        assert hashlib.sha256(ours.content).hexdigest() == m["sha256"]
        assert ours.via == m["transfer"]


@pytest.mark.parametrize("case", CASES)
def test_tls_and_sni(case):
    """STARTTLS: sent in clear and answered 220 (the sidecar's "tls" field only names the recorder's
    own TLS modes, attack sessions that switch say "none"); implicit TLS; SNI; version; greeting."""
    if (r := check(case, "tls")) is None:
        return
    s, sess = r.session, case.session
    starttls = any(c.get("verb") == "STARTTLS" and c["reply_code"] == 220 and not c["encrypted"]
                   for c in sess["commands"])
    assert (s.starttls_used, s.implicit_tls) == (starttls, sess["tls"] == "implicit")
    if sess["tls"] == "starttls":
        assert starttls
    if sess["sni"] is not None or not (s.starttls_used or s.implicit_tls):
        assert s.sni == sess["sni"]  # (a raw client's TLS handshake is not in its transcript)
    if sess["tls_info"]:
        assert s.tls_version == sess["tls_info"]["version"].replace("TLSv", "TLS ")
    first_reply = next(x for x in sess["transcript"] if x["dir"] == "S")
    if first_reply["encrypted"]:  # implicit TLS: the greeting is inside TLS
        assert (s.greeting_code, s.banner) == (None, None)
    else:
        assert (s.greeting_code, s.banner) == (first_reply["code"], "\n".join(reply_lines(first_reply)))


def test_every_known_difference_names_a_recorded_session():
    sessions = {(c.values[0].capture.name, c.values[0].session["id"]) for c in CASES}
    assert {(capture, i) for capture, i, _ in KNOWN} <= sessions
    assert {aspect for _, _, aspect in KNOWN} <= set(ASPECTS)


def test_tables_carry_the_same_as_the_records():
    """The DataFrames are built from the records compared above: one capture end to end, with AUTH
    secrets masked in the table (``read(show_secrets=False)``) and kept in the records."""
    cap = smtpsniff_read(ROOT / "captures" / "smtp-sample.pcap")
    records = [c for r in cap.records for c in r.commands]
    table = cap.commands
    assert list(table["verb"]) == [c.verb for c in records]
    for shown, c in zip(table["argument"], records):
        if c.verb == "AUTH" and " " in c.argument:
            mechanism, secret = c.argument.split(" ", 1)
            assert shown.startswith(mechanism) and secret not in shown
        else:
            assert shown == c.argument
    assert [None if pd.isna(v) else v for v in table["reply_code"]] == [c.reply_code for c in records]
    assert list(cap.recipients["address"]) == [x.address for r in cap.records for x in r.recipients]
