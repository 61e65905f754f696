"""Differential test: the SMTP commands and replies smtpsniff decodes are the ones tshark's dissector shows.

For every capture in captures/, tests/data/ and ../shared/captures, every TCP connection that either
tool sees as SMTP is paired by endpoints (in order, for reused ports), and per connection:

* the commands ``(verb, argument)`` equal tshark's ``(smtp.req.command, smtp.req.parameter)``, the
  verb compared in upper case (RFC 5321 2.4: verbs are case-insensitive; smtpsniff upper-cases them,
  tshark shows them as sent);
* the replies ``(code, lines)`` equal tshark's ``smtp.response.code`` items.  tshark 4.0 shows the
  lines of a multi-line reply that share a segment as one item (one code, one ``smtp.rsp.parameter``
  per line) and starts a new item in every segment, so each of our replies must be made of whole
  consecutive tshark items of its code, adding up to its line count, never two items of one segment
  (those are two replies), and an item whose only line is a last line (``ddd SP``) ends a reply;
* every timestamp smtpsniff gives with a frame number is tshark's ``frame.time_epoch`` of that frame.

Where tshark shows something else and the fault is tshark's, the difference is a named rule in
:data:`RULES` with its reason, and :data:`KNOWN` lists which captures need which rules.  A listed
rule must still change the comparison in its capture (so when tshark or smtpsniff changes, the test
says so), and no capture may need a rule it does not list.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from smtp_oracles import (ROOT, SHARED, TsharkCapture, all_capture_params, needs_tshark, shared_cache_dir,
                          smtpsniff_read, tshark_smtp)
from smtpsniff.proxy import ProxyKind
from smtpsniff.records.builder import SessionRecords

pytestmark = needs_tshark

#: Ports tshark 4.0 dissects as SMTP without being told (its "tcp.port" preference: 25, 587).
TSHARK_SMTP_PORTS = frozenset({25, 587})
#: Non-alphabetic or longer verbs tshark's line_is_smtp_command() knows besides 4-letter words.
TSHARK_LONG_COMMANDS = frozenset({"STARTTLS", "X-EXPS", "X-LINK2STATE", "XEXCH50"})

Cmd = tuple[str, str]
Rep = tuple  # (code, lines) for ours; (code, lines, frame, first line) for tshark's items


# ------------------------------------------------------------------------------------------ views
def capture_id(path: Path) -> str:
    for base in (ROOT, SHARED.parent):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return path.name


def line_text(raw: bytes) -> str:
    """A wire line as tshark shows an ENC_ASCII string: each octet >= 0x80 becomes U+FFFD."""
    return "".join(chr(b) if b < 0x80 else "\ufffd" for b in raw)


def strip_eol(raw: bytes) -> bytes:
    return raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw


def tshark_is_command(word: str) -> bool:
    """packet-smtp.c line_is_smtp_command(): four ASCII letters, or one of a few longer verbs."""
    return (len(word) == 4 and word.isascii() and word.isalpha()) or word.upper() in TSHARK_LONG_COMMANDS


@dataclass
class Conn:
    """One connection as both tools see it."""

    records: SessionRecords | None
    stream: int | None
    ours_cmds: list[Cmd] = field(default_factory=list)
    ours_reps: list[Rep] = field(default_factory=list)
    their_cmds: list[Cmd] = field(default_factory=list)
    their_reps: list[Rep] = field(default_factory=list)  # tshark items: (code, lines, frame, text)
    their_cmd_frames: list[int] = field(default_factory=list)


def our_views(r: SessionRecords) -> tuple[list[Cmd], list[Rep]]:
    return [(c.verb, c.argument) for c in r.commands], [(x.code, x.lines) for x in r.replies]


def decode_ports(path: Path) -> tuple[int, ...]:
    """Server ports of smtpsniff's sessions that tshark must be told are SMTP (-d tcp.port==N,smtp).

    Only sessions with clear-text commands or replies count: forcing the SMTP dissector onto
    implicit-TLS ports would show TLS records as SMTP lines.  Nor do sessions through a proxy tunnel:
    tshark's own SOCKS and HTTP dissectors hand the tunnel to SMTP after the handshake, which a
    forced port would show as SMTP lines.
    """
    cap = smtpsniff_read(path)
    return tuple(sorted({r.session.server_port for r in cap.records
                         if r.session.server_port not in TSHARK_SMTP_PORTS and (r.commands or r.replies)
                         and r.session.detected_by not in {k.value for k in ProxyKind}}))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """Where tshark's output of each capture is kept: one tshark run per capture for the whole run."""
    return shared_cache_dir(tmp_path_factory)


def pair_connections(path: Path, cache: Path | None = None) -> tuple[list[Conn], TsharkCapture]:
    cap = smtpsniff_read(path)
    ts = tshark_smtp(path, decode_ports(path), cache)
    streams: dict[int, dict] = defaultdict(lambda: {"ends": set(), "cmds": [], "frames": [], "reps": []})
    for f in ts.frames:
        st = streams[f.stream]
        st["ends"] |= {f.src, f.dst}
        for line in f.requests:
            if line.command is not None:
                st["cmds"].append((line.command.upper(), line.parameter or ""))
                st["frames"].append(f.number)
        for line in f.responses:
            st["reps"].append((line.code, max(1, len(line.rsp_parameters)), f.number, line.text))
    by_endpoints: dict[frozenset, list[SessionRecords]] = defaultdict(list)
    for r in sorted(cap.records, key=lambda r: r.session.session_id):
        s = r.session
        by_endpoints[frozenset({(s.client_ip, s.client_port), (s.server_ip, s.server_port)})].append(r)
    conns = []
    for index, st in sorted(streams.items()):
        candidates = by_endpoints.get(frozenset(st["ends"]))
        r = candidates.pop(0) if candidates else None
        conn = Conn(r, index, their_cmds=st["cmds"], their_reps=st["reps"], their_cmd_frames=st["frames"])
        if r is not None:
            conn.ours_cmds, conn.ours_reps = our_views(r)
        conns.append(conn)
    for left in by_endpoints.values():
        for r in left:
            conn = Conn(r, None)
            conn.ours_cmds, conn.ours_reps = our_views(r)
            conns.append(conn)
    return conns, ts


def reply_problem(ours: list[Rep], items: list[Rep]) -> str | None:
    """Why our replies are not tshark's items grouped (see the module docstring), or None."""
    problem, used = match_replies(ours, items)
    if problem is None and used < len(items):
        return f"tshark shows {len(items) - used} more reply items, first {items[used][:3]}"
    return problem


def match_replies(ours: list[Rep], items: list[Rep]) -> tuple[str | None, int]:
    """Group the first tshark items into our replies: (problem or None, items used)."""
    i = 0
    for k, (code, lines) in enumerate(ours):
        got, frames = 0, []
        while got < lines and i < len(items):
            item_code, n, frame, text = items[i]
            if item_code != code:
                return f"reply #{k} {code} ({lines} lines): tshark's next item is {item_code} in frame {frame}", i
            if frame in frames:
                return f"reply #{k} {code} merges two replies tshark shows in frame {frame}", i
            if n == 1 and text[3:4] != "-" and got + 1 < lines:
                return f"reply #{k} {code} goes on after tshark's last line {text!r} (frame {frame})", i
            got += n
            frames.append(frame)
            i += 1
        if got != lines:
            return f"reply #{k} {code} has {lines} lines, tshark's items add up to {got}", i
    return None, i


# ------------------------------------------------------------------------------------------ rules
@dataclass(frozen=True)
class Rule:
    """A difference that is tshark's: how tshark's view follows from ours, and why."""

    reason: str
    #: Exact: what tshark shows, computed from our records and views.
    commands: Callable[[Conn], list[Cmd]] | None = None
    #: Looser: a relation the two views must satisfy (returns a problem or None).
    relation: Callable[[Conn], str | None] | None = None


def _four_char(conn: Conn) -> list[Cmd]:
    out = []
    for c, view in zip(conn.records.commands, conn.ours_cmds):
        if len(c.verb) == 4:
            out.append(view)
        else:
            line = line_text(strip_eol(c.raw))
            out.append((line[:4].upper(), line[5:]))
    return out


def _non_ascii(conn: Conn) -> list[Cmd]:
    return [(verb, line_text(arg.encode("utf-8", "surrogateescape"))) for verb, arg in conn.ours_cmds]


def _unknown_verb_as_data(conn: Conn) -> list[Cmd]:
    return [view for c, view in zip(conn.records.commands, conn.ours_cmds)
            if tshark_is_command(line_text(strip_eol(c.raw)).split(" ", 1)[0])]


def _after_eom_in_segment(conn: Conn) -> list[Cmd]:
    ends = {(m.end_frame, m.command_index) for m in conn.records.messages if m.via == "DATA" and m.complete}
    return [view for c, view in zip(conn.records.commands, conn.ours_cmds)
            if not any(c.frame == frame and c.index > index for frame, index in ends)]


def _bare_cr_ends_line(conn: Conn) -> list[Cmd]:
    out = []
    for c, view in zip(conn.records.commands, conn.ours_cmds):
        content = strip_eol(c.raw)
        if b"\r" not in content:
            out.append(view)
            continue
        for piece in content.split(b"\r"):
            line = line_text(piece)
            out.append((line[:4].upper(), line[5:]))
    return out


def _nul_ends_text(conn: Conn) -> list[Cmd]:
    return [(verb, arg.split("\x00", 1)[0]) for verb, arg in conn.ours_cmds]


def _is_subsequence(small: list, big: list) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def _bdat_tracking(conn: Conn) -> str | None:
    bdat_frames = [c.frame for c in conn.records.commands if c.verb == "BDAT"]
    if not bdat_frames:
        return "no BDAT in this connection"
    # the first command of the first segment that carries a BDAT command
    k = next(i for i, c in enumerate(conn.records.commands) if c.frame == bdat_frames[0])
    if conn.their_cmds[:k] != conn.ours_cmds[:k]:
        return f"commands before the first BDAT segment differ: {conn.ours_cmds[:k]} / {conn.their_cmds[:k]}"
    if not _is_subsequence(conn.their_cmds[k:], conn.ours_cmds[k:]):
        return (f"tshark's commands from the first BDAT segment {conn.their_cmds[k:]} are not among ours "
                f"{conn.ours_cmds[k:]}")
    return None


def _client_batch(conn: Conn) -> str | None:
    first = conn.records.commands[0] if conn.records.commands else None
    data = [c for c in conn.records.commands if c.verb == "DATA"]
    if first is None or not data or data[0].frame != first.frame:
        return "the first client segment does not carry commands up to DATA"
    if not _is_subsequence(conn.their_cmds, conn.ours_cmds):
        return f"tshark's commands {conn.their_cmds} are not among ours"
    return None


def _plaintext_after_starttls(conn: Conn) -> str | None:
    """tshark keeps decoding after STARTTLS's 220; smtpsniff keeps those lines as injection evidence."""
    lines = {(p.direction.value, p.data) for p in conn.records.plaintext_after_starttls}
    n = len(conn.ours_cmds)
    if conn.their_cmds[:n] != conn.ours_cmds:
        return "our commands are not the start of tshark's"
    problem, m = match_replies(conn.ours_reps, conn.their_reps)
    if problem is not None:
        return f"our replies are not the start of tshark's: {problem}"
    client = {line_text(strip_eol(d)).upper() for direction, d in lines if direction == "c2s"}
    server = {line_text(d) for direction, d in lines if direction == "s2c"}
    for verb, arg in conn.their_cmds[n:]:
        if (f"{verb} {arg}" if arg else verb).upper() not in client:
            return f"tshark's {verb} {arg} after STARTTLS is not among our plaintext lines"
    for item in conn.their_reps[m:]:
        if item[3] not in server:
            return f"tshark's reply line {item[3]!r} after STARTTLS is not among our plaintext lines"
    return None if (conn.their_cmds[n:] or conn.their_reps[m:]) else "tshark shows nothing after STARTTLS"


def _tunnel_reversed(conn: Conn) -> str | None:
    if conn.their_cmds or any(code is not None for code, *_ in conn.their_reps):
        return "tshark shows commands or reply codes in the tunnel"
    return None if conn.ours_cmds and conn.ours_reps else "smtpsniff shows no SMTP in the tunnel"


RULES: dict[str, Rule] = {
    "four_char_command": Rule(
        "tshark's smtp.req.command is the first 4 characters of the line and smtp.req.parameter starts at "
        "the 6th (packet-smtp.c: cmdlen = 4), so STARTTLS shows as STAR + TLS and a base64 line as its "
        "first 4 characters", commands=_four_char),
    "non_ascii_as_replacement": Rule(
        "tshark shows command text as ENC_ASCII: every octet >= 0x80 of a UTF-8 (RFC 6531) address is one "
        "U+FFFD; smtpsniff decodes UTF-8", commands=_non_ascii),
    "unknown_verb_as_data": Rule(
        "tshark takes a client line whose first word is not a 4-letter word (nor STARTTLS, X-EXPS, "
        "X-LINK2STATE, XEXCH50: line_is_smtp_command()) for a DATA fragment; the server answered it as "
        "a command (500 unrecognized)",
        commands=_unknown_verb_as_data),
    "command_after_eom_in_segment": Rule(
        "a command in the same segment as the end of DATA (CRLF.CRLF) is not dissected by tshark "
        "(packet-smtp.c: 'what about stuff after the first line?')", commands=_after_eom_in_segment),
    "bare_cr_ends_line": Rule(
        "tshark's tvb_find_line_end() ends a line at a lone CR; RFC 5321 2.3.8 ends lines at CRLF only, "
        "and the server agreed (one 555 reply to 'MAIL FROM:<a>\\rRCPT TO:<b>')", commands=_bare_cr_ends_line),
    "nul_ends_text": Rule(
        "tshark shows a string field up to its first NUL octet; smtpsniff keeps the whole argument (and "
        "reports the NUL as an anomaly)", commands=_nul_ends_text),
    "bdat_tracking": Rule(
        "tshark 4.0 counts BDAT chunk octets by its own reading of the size (strtoul, even for sizes the "
        "server refused or that overflow) and takes segments holding BDAT with pipelined commands for "
        "DATA fragments, so commands from the first segment with a BDAT on go missing; what it still "
        "shows must be ours, in order, and everything before that segment equal", relation=_bdat_tracking),
    "client_batch_as_data": Rule(
        "the client sent its commands through DATA and the message in its first segment (before the "
        "greeting); tshark files that segment and the rest of the stream as DATA fragments", relation=_client_batch),
    "plaintext_after_starttls": Rule(
        "the capture holds decrypted traffic written back after STARTTLS's 220: tshark goes on decoding "
        "SMTP, smtpsniff treats clear text where TLS is due as STARTTLS-injection evidence "
        "(PlaintextAfterStarttls, CVE-2011-0411), so each further tshark line must be one of those",
        relation=_plaintext_after_starttls),
    "tunnel_direction_reversed": Rule(
        "SMTP inside an HTTP CONNECT tunnel on port 8240: tshark's SMTP dissector decides the direction by "
        "'destination port == the port it was found on', which the tunnel swaps, so it shows the client's "
        "commands as empty responses and the server's replies as DATA fragments", relation=_tunnel_reversed),
}

#: capture -> the rules it needs, in the order they apply.
KNOWN: dict[str, tuple[str, ...]] = {
    "captures/smtp-sample.pcap": ("four_char_command",),
    "tests/data/smtp-starttls.pcap": ("four_char_command",),
    "tests/data/smtp-features.pcap": ("unknown_verb_as_data",),
    "tests/data/smtp-utf8.pcap": ("non_ascii_as_replacement",),
    "tests/data/smtp-injection.pcap": ("unknown_verb_as_data",),
    "tests/data/smtp-command-injection.pcap": ("bare_cr_ends_line", "nul_ends_text"),
    "tests/data/smtp-starttls-attacks.pcap": ("four_char_command", "plaintext_after_starttls"),
    "tests/data/smtp-bdat.pcap": ("bdat_tracking",),
    "captures/arkime/smtp-decrypted/smtp-decrypted.pcap": ("four_char_command", "plaintext_after_starttls"),
    "captures/arkime/smtp-starttls/smtp-starttls.pcap": ("four_char_command",),
    "captures/arkime/smtp-moloch-bof/smtp-moloch-bof.pcap": ("client_batch_as_data",),
    "captures/arkime/smtp-subject-multi-nospace/smtp-subject-multi-nospace.pcap": ("client_batch_as_data",),
    "captures/arkime/smtp-subject-windows/smtp-subject-windows.pcap": ("client_batch_as_data",),
    "captures/arkime/smtp-subject-utf8-q/smtp-subject-utf8-q.pcap": ("command_after_eom_in_segment",),
    "captures/ndpi/smtp-starttls/smtp-starttls.pcap": ("four_char_command",),
    "captures/pcapplusplus/Smtp/Smtp.pcap": ("four_char_command",),
    "captures/zeek/tls_smtp-starttls/smtp-starttls.pcap": ("four_char_command",),
    "captures/zeek/http_connect-with-smtp/connect-with-smtp.pcap": ("tunnel_direction_reversed",),
    "captures/zeek/smtp-mail-transactions-invalid/smtp-mail-transactions-invalid.pcap":
        ("unknown_verb_as_data",),
    "captures/zeek/smtp_smtp-bdat-cmd-chunk-size-overflow/smtp-bdat-cmd-chunk-size-overflow.pcap":
        ("bdat_tracking",),
    "captures/zeek/smtp_smtp-bdat-cmd-chunk-size-overflow2/smtp-bdat-cmd-chunk-size-overflow2.pcap":
        ("bdat_tracking",),
    "captures/zeek/smtp_smtp-bdat-cmd-invalid/smtp-bdat-cmd-invalid.pcapng": ("bdat_tracking",),
    "captures/zeek/smtp_smtp-bdat-cmd-negative-chunk-size/smtp-bdat-cmd-negative-chunk-size.pcap":
        ("bdat_tracking",),
    "captures/zeek/smtp_smtp-bdat-gap/smtp-bdat-gap.pcap": ("bdat_tracking",),
    "captures/zeek/smtp_smtp-bdat-pipeline-8bitmime/smtp-bdat-pipeline-8bitmime.pcap": ("bdat_tracking",),
}


# ------------------------------------------------------------------------------------------ comparison
@dataclass
class Outcome:
    connections: int = 0
    commands: int = 0
    replies: int = 0
    problems: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)


def compare(path: Path, cache: Path | None = None) -> Outcome:
    """Pair the connections of ``path`` and compare them under the capture's listed rules."""
    listed = KNOWN.get(capture_id(path), ())
    out = Outcome()
    conns, _ = pair_connections(path, cache)
    for conn in conns:
        label = f"tshark stream {conn.stream}" if conn.stream is not None else "smtpsniff-only session"
        if conn.records is None:
            if conn.their_cmds or any(code is not None for code, *_ in conn.their_reps):
                out.problems.append(f"{label}: tshark shows SMTP {conn.their_cmds[:3]} smtpsniff did not find")
            continue
        if conn.stream is None and not (conn.ours_cmds or conn.ours_reps):
            continue  # e.g. implicit TLS: nothing in clear for either tool
        label += f" = session {conn.records.session.session_id}"
        cmds_ok = conn.ours_cmds == conn.their_cmds
        reps_problem = reply_problem(conn.ours_reps, conn.their_reps)
        if cmds_ok and reps_problem is None:
            out.connections += 1
            out.commands += len(conn.ours_cmds)
            out.replies += len(conn.ours_reps)
            continue
        expected = conn.ours_cmds
        for name in listed:
            rule = RULES[name]
            if rule.commands is not None:
                projected = rule.commands(Conn(conn.records, conn.stream, expected, conn.ours_reps))
                if projected != expected:
                    out.used.add(name)
                expected = projected
        cmds_ok = expected == conn.their_cmds
        if cmds_ok and reps_problem is None:
            continue
        projected_conn = Conn(conn.records, conn.stream, expected, conn.ours_reps, conn.their_cmds,
                              conn.their_reps, conn.their_cmd_frames)
        verdicts = {n: RULES[n].relation(projected_conn) for n in listed if RULES[n].relation is not None}
        holding = [n for n, problem in verdicts.items() if problem is None]
        if holding:
            out.used.update(holding)
            continue
        if not cmds_ok:
            out.problems.append(f"{label}: commands differ\n  ours:   {expected}\n  tshark: {conn.their_cmds}"
                                + "".join(f"\n  rule {n}: {p}" for n, p in verdicts.items()))
        if reps_problem is not None:
            out.problems.append(f"{label}: replies differ: {reps_problem}"
                                + "".join(f"\n  rule {n}: {p}" for n, p in verdicts.items()))
    return out


@pytest.mark.parametrize("path", all_capture_params())
def test_commands_and_replies_match_tshark(path, cache_dir):
    outcome = compare(path, cache_dir)
    assert not outcome.problems, "\n".join(outcome.problems)
    listed = set(KNOWN.get(capture_id(path), ()))
    assert outcome.used == listed, (
        f"rules needed {sorted(outcome.used)} but KNOWN lists {sorted(listed)}: a listed rule that is no longer "
        "needed means tshark or smtpsniff changed; re-check it")


def test_every_known_capture_exists_when_shared_is_present():
    """A KNOWN entry for a capture that is not in the corpus would never be checked."""
    present = {capture_id(p.values[0]) for p in all_capture_params() if p.values[0] is not None}
    missing = [c for c in KNOWN if c not in present and (SHARED.is_dir() or (ROOT / c).exists())]
    assert not missing, missing
    assert all(name in RULES for names in KNOWN.values() for name in names)


# ------------------------------------------------------------------------------------------ timestamps
def _frame_time_problems(table: pd.DataFrame, name: str, ts_col: str, frame_col: str,
                         times: dict[int, int]) -> list[str]:
    problems = []
    rows = table[table[frame_col].notna()]
    for ts, frame in zip(rows[ts_col], rows[frame_col]):
        want = times.get(int(frame))
        if want is None:
            problems.append(f"{name}: frame {frame} is not in the capture")
        elif ts.value != want:
            problems.append(f"{name}: frame {frame} at {ts.value} ns, tshark says {want} ns")
    return problems


@pytest.mark.parametrize("path", all_capture_params())
def test_timestamps_are_tsharks_frame_times(path, cache_dir):
    cap = smtpsniff_read(path)
    times = tshark_smtp(path, decode_ports(path), cache_dir).times
    problems = []
    for name, ts_col, frame_col in (("commands", "ts", "frame"), ("replies", "ts", "frame"),
                                    ("recipients", "ts", "frame"), ("transactions", "ts", "frame"),
                                    ("sessions", "start", "first_frame"), ("anomalies", "ts", "frame")):
        problems += _frame_time_problems(getattr(cap, name), name, ts_col, frame_col, times)
    replied = cap.commands[cap.commands["reply_frame"].notna()]
    for frame, reply_frame, latency in zip(replied["frame"], replied["reply_frame"], replied["latency_s"]):
        want = (times[int(reply_frame)] - times[int(frame)]) / 1e9
        if abs(latency - want) > 1e-9:
            problems.append(f"commands: latency of frame {frame} is {latency}, tshark's frames say {want}")
    assert not problems, "\n".join(problems[:20])


#: capture -> (reason, smtpsniff's count) where the TCP connection counts legitimately differ.
CONNECTION_COUNT_KNOWN = {
    "tests/data/capture/loopback_snap64.pcapng": (
        "every frame was cut at 64 octets (snaplen): tshark still follows the TCP headers it has, "
        "smtpsniff's net layer skips truncated frames (counted in packets['skipped_truncated'])", 0),
}


@pytest.mark.parametrize("path", all_capture_params())
def test_tcp_connection_count_is_tsharks(path, cache_dir):
    """``stats.tcp_connections`` counts each TCP connection once, SMTP or not (tshark's tcp.stream)."""
    cap = smtpsniff_read(path)
    theirs = tshark_smtp(path, decode_ports(path), cache_dir).tcp_streams
    known = CONNECTION_COUNT_KNOWN.get(capture_id(path))
    if known is None:
        assert cap.stats.tcp_connections == theirs
    else:
        reason, ours = known
        assert (cap.stats.tcp_connections, theirs) != (theirs, theirs), f"now agrees: drop the entry ({reason})"
        assert cap.stats.tcp_connections == ours, reason
