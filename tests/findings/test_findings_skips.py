"""Detectors that skip work (sessions, groups, names, messages that cannot hold a finding) against
their oracle: the straightforward form of each, which looks at everything (the references below).

Both run on the records of the captures with findings of these kinds, and on the same records
changed from a fixed seed: HELO names (the client's and the server's addresses and names,
localhost, loopback, blanks, dots), RCPT addresses and paths in relay syntax with relay and
unknown-user refusals, command lines with CR, LF, NUL and lengths around the limits, message
contents with the shapes of an early end of data, a data_before_greeting anomaly, masked banners
and EHLO keywords, STARTTLS refused.  Every finding, its fields and its order, must be the same.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from operator import attrgetter, methodcaller

import pytest
from corpus import ROOT

import smtpsniff
from smtpsniff.analysis.capture import build_tables
from smtpsniff.anomaly import Anomaly, Layer
from smtpsniff.credentials import credentials
from smtpsniff.findings import (
    DetectionContext,
    auth_bruteforce,
    command_injection,
    early_talker,
    helo_mismatch,
    open_relay,
    password_spraying,
    smtp_smuggling,
    starttls_not_used,
    starttls_stripping,
    user_enumeration,
)
from smtpsniff.findings import thresholds as known_thresholds
from smtpsniff.findings.command_injection import CommandRecord, _content, _shown
from smtpsniff.findings.domains import domain_of, server_names
from smtpsniff.findings.evidence import lines, show
from smtpsniff.findings.helo_mismatch import _problem
from smtpsniff.findings.model import Finding, Severity
from smtpsniff.findings.open_relay import NOT_LOCAL, relay_syntax, says_relay
from smtpsniff.findings.smtp_smuggling import ends, smuggled_commands
from smtpsniff.findings.starttls_not_used import _ACTIVITY, SUBMISSION_PORTS
from smtpsniff.findings.starttls_stripping import _KEYWORD, _MASKED_KEYWORD, _masked_banner, _went_on_in_clear
from smtpsniff.findings.user_enumeration import unknown_user

_VERB = attrgetter("verb")
_RAW = attrgetter("raw")
_ENDS_CRLF = methodcaller("endswith", b"\r\n")
_PROBE_VERBS = frozenset({"VRFY", "EXPN"})
_LOCALHOST = ("localhost", "localhost.localdomain")


def reference_helo_mismatch(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        s = r.session
        # The name is the argument's first word; an argument of blanks only (a vertical tab is no
        # separator to the decoder, RFC 5321 4.1.1.1) names nothing to compare.
        helos = [c for c in r.commands if c.verb in ("EHLO", "HELO", "LHLO") and c.argument.split()]
        for c in helos:
            try:
                problem = _problem(c.argument.split()[0], s.client_ip, s.server_ip, server_names(r))
            except ValueError:
                continue
            if problem is None:
                continue
            severity, why = problem
            yield Finding(
                kind="helo_mismatch", severity=severity, session_id=s.session_id, ts_ns=c.ts_ns, frames=(c.frame,),
                sessions=(s.session_id,), explanation=f"{c.verb} {show(c.argument)}: {why}",
                evidence=show(c.raw))
            break


def reference_open_relay(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        if not r.recipients:  # findings come from recipients only
            continue
        sid = r.session.session_id
        authed = [c.ts_ns for c in ctx.credentials_of(sid) if c.success]
        senders = {t.trans_index: t.mail_from for t in r.transactions}
        raw_paths: dict[int | None, list[str]] = {}  # RCPT arguments as sent, per transaction, in order
        for c in r.commands:
            if c.verb == "RCPT":
                raw_paths.setdefault(c.trans_index, []).append(c.argument.partition(":")[2].strip())
        attempts, accepted = [], []
        for rc in r.recipients:
            code = rc.reply_code
            if code is None or (authed and min(authed) < rc.ts_ns):
                continue
            sent = raw_paths.get(rc.trans_index, [])
            path = sent[rc.index] if rc.index < len(sent) else f"<{rc.address}>"
            syntax = relay_syntax(rc.address, path)
            sender = senders.get(rc.trans_index)
            if code >= 400 and (code in NOT_LOCAL or says_relay(rc.reply_text) or syntax):
                attempts.append((rc, sender, syntax, path))
            elif 200 <= code < 300 and syntax:
                accepted.append((rc, sender, syntax, path))
        for kind, items, severity, verdict in (
                ("open_relay_attempt", attempts, Severity.LOW, "refused as relaying"),
                ("open_relay_accepted", accepted, Severity.HIGH, "accepted without AUTH")):
            if not items:
                continue
            first = items[0][0]
            targets = sorted({domain_of(rc.address) or rc.address for rc, _, _, _ in items})
            syntaxes = sorted({s for _, _, s, _ in items if s})
            yield Finding(
                kind=kind, severity=severity, session_id=sid, ts_ns=first.ts_ns,
                frames=tuple(rc.frame for rc, _, _, _ in items), sessions=(sid,),
                explanation=(f"{len(items)} RCPT for {', '.join(show(d) for d in targets[:5])}"
                             f"{' …' if len(targets) > 5 else ''} {verdict}"
                             + (f" ({', '.join(syntaxes)})" if syntaxes else "")),
                evidence=lines(f"MAIL FROM:<{show(sender or '')}> RCPT TO:{show(path)} -> {rc.reply_code} "
                               f"{show((rc.reply_text or '').splitlines()[0] if rc.reply_text else '')}".rstrip()
                               for rc, sender, _, path in items))


def reference_user_enumeration(ctx: DetectionContext) -> Iterator[Finding]:
    groups: dict[tuple[str, str], dict] = {}
    for r in ctx.records:
        s = r.session
        g = groups.get((s.client_ip, s.server_ip))
        if g is None:
            g = groups[(s.client_ip, s.server_ip)] = {"vrfy": {}, "rcpt": {}, "sessions": [], "frames": []}
        g["sessions"].append(s.session_id)
        replies = None  # command index -> reply, built for the sessions that ask
        if _PROBE_VERBS.isdisjoint(map(_VERB, r.commands)):  # no VRFY or EXPN: the loop below finds nothing
            commands = ()
        else:
            commands = r.commands
        for c in commands:
            if c.verb in ("VRFY", "EXPN") and c.argument:
                if replies is None:
                    replies = {x.command_index: x for x in r.replies if x.command_index is not None}
                reply = replies.get(c.index)
                g["vrfy"].setdefault(c.argument.lower(), (c, reply.text if reply else None))
        for rc in r.recipients:
            g["rcpt"].setdefault(rc.address.lower(), rc)
    min_vrfy = ctx.threshold("enumeration_min_vrfy")
    min_unknown = ctx.threshold("enumeration_min_unknown")
    min_ratio = ctx.threshold("enumeration_min_unknown_ratio")
    for (client, server), g in groups.items():
        vrfy, rcpt = g["vrfy"], g["rcpt"]
        unknown_rcpt = [x for x in rcpt.values() if unknown_user(x.reply_code, x.reply_text)]
        vrfy_unknown = [c for c, text in vrfy.values() if unknown_user(c.reply_code, text)]
        rcpt_sweep = (len(unknown_rcpt) >= min_unknown and rcpt
                      and len(unknown_rcpt) / len(rcpt) >= min_ratio)
        vrfy_sweep = len(vrfy) >= min_vrfy
        if not (rcpt_sweep or vrfy_sweep):
            continue
        probes = ([c for c, _ in vrfy.values()] if vrfy_sweep else []) + (list(rcpt.values()) if rcpt_sweep else [])
        probes.sort(key=lambda x: x.ts_ns)
        sessions = tuple(dict.fromkeys(p.session_id for p in probes))
        parts = []
        if vrfy_sweep:
            verbs = "/".join(sorted({c.verb for c, _ in vrfy.values()}))
            parts.append(f"{len(vrfy)} names asked with {verbs}, {len(vrfy_unknown)} answered unknown")
        if rcpt_sweep:
            parts.append(f"{len(unknown_rcpt)} of {len(rcpt)} RCPT addresses answered unknown")
        shown = [f"{show(p.verb + ' ' + p.argument) if hasattr(p, 'verb') else 'RCPT ' + show(p.address)}"
                 f" -> {p.reply_code}" for p in probes]
        yield Finding(
            kind="user_enumeration", severity=Severity.MEDIUM, session_id=sessions[0], ts_ns=probes[0].ts_ns,
            frames=tuple(dict.fromkeys(p.frame for p in probes)), sessions=sessions,
            explanation=f"{client} probed mailboxes of {server}: " + "; ".join(parts),
            evidence=lines(shown))


def reference_command_injection(ctx: DetectionContext) -> Iterator[Finding]:
    limits = ctx.limits
    plain_limit = min(limits.max_command_line, limits.max_auth_line)
    for r in ctx.records:
        sid = r.session.session_id
        commands = r.commands
        if not commands:
            continue
        raws = list(map(_RAW, commands))
        # The whole session at once (the usual one): every line ends in CRLF and, the CRs counted
        # over all lines being one per line, holds no other CR; no NUL, none over the plainer
        # limit.  Then no line shows any sign below.
        if all(map(_ENDS_CRLF, raws)) and max(map(len, raws)) <= plain_limit:
            joined = b"".join(raws)
            if joined.count(b"\r") == len(raws) and b"\x00" not in joined:
                continue
        crlf = any(c.raw.endswith(b"\r\n") for c in commands)
        signs: dict[str, tuple[Severity, str, list[CommandRecord]]] = {}

        def add(key: str, severity: Severity, why: str, c: CommandRecord) -> None:
            signs.setdefault(key, (severity, why, []))[2].append(c)

        for c in commands:
            raw = c.raw
            if len(raw) <= plain_limit and raw.endswith(b"\r\n") and raw.count(b"\r") == 1 and b"\x00" not in raw:
                continue  # the usual line: none of the signs below can hold
            body = _content(raw)
            if b"\r" in body:
                add("cr", Severity.MEDIUM, "CR inside a command line (CR-or-LF receivers split it)", c)
            if crlf and c.raw.endswith(b"\n") and not c.raw.endswith(b"\r\n"):
                add("lf", Severity.MEDIUM, "LF inside a command line (other lines end in CRLF)", c)
            if b"\x00" in c.raw:
                add("nul", Severity.MEDIUM, "NUL octet in a command line", c)
            limit = limits.max_auth_line if c.verb == "AUTH" else limits.max_command_line
            if not c.raw.endswith(b"\n") and len(c.raw) >= limits.max_buffered_line:
                add("cut", Severity.MEDIUM, f"command line longer than {limits.max_buffered_line} octets", c)
            elif len(c.raw) > limit:
                add("long", Severity.LOW, f"command line over {limit} octets (RFC 5321 4.5.3.1.4)", c)
        for severity, why, items in signs.values():
            yield Finding(
                kind="command_injection", severity=severity, session_id=sid, ts_ns=items[0].ts_ns,
                frames=tuple(dict.fromkeys(c.frame for c in items)), sessions=(sid,),
                explanation=f"{why}: {len(items)} command(s), longest {max(len(c.raw) for c in items)} octets",
                evidence=lines(_shown(c, ctx.show_secrets) for c in items))


def reference_smtp_smuggling(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        sid = r.session.session_id
        for msg in r.messages:
            found = ends(msg)
            early = {name: at for name, at in found.items() if at is not None}
            if not early:
                continue
            first, _ = min(early.values())
            commands = smuggled_commands(msg.content, first)
            after = [c.ts_ns for c in r.commands if c.index > msg.command_index]
            extra = [x for x in r.replies if x.stage == "unexpected" and x.ts_ns >= msg.ts_ns
                     and (not after or x.ts_ns <= min(after))]
            severity = Severity.CRITICAL if extra and commands else Severity.HIGH if commands else Severity.LOW
            where = ", ".join(f"{name} receiver at octet {at} ({show(sh)})" for name, (at, sh) in early.items())
            yield Finding(
                kind="smtp_smuggling", severity=severity, session_id=sid,
                ts_ns=msg.ts_ns, frames=tuple(dict.fromkeys((msg.frame, msg.end_frame))), sessions=(sid,),
                explanation=(f"{msg.via} content holds an end of data that a strict receiver ignores: {where}; "
                             f"strict end at octet {len(msg.content)}"
                             + (f"; {len(commands)} SMTP command(s) smuggled behind it" if commands else "")
                             + (f"; the server sent {len(extra)} replies no command explains "
                                f"({', '.join(str(x.code) for x in extra)}): it ended the message early and "
                                "ran the smuggled commands" if extra else "")),
                evidence=(lines(show(c) for c in commands) if commands
                          else show(msg.content[max(0, first - 40): first + 60])))


def reference_early_talker(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        s = r.session
        anomaly = next((a for a in r.anomalies if a.kind == "data_before_greeting"), None)
        greeting = next((x for x in r.replies if x.verb == "<greeting>"), None)
        if anomaly is None or not s.handshake_seen or greeting is None:
            continue
        early = [c for c in r.commands if c.ts_ns <= greeting.ts_ns
                 or (anomaly.frame is not None and c.frame == anomaly.frame)]
        first = early[0] if early else None
        delay = (f"{((first.ts_ns - s.start_ns) / 1e9):.3f} s after the connection opened"
                 if first else "before the greeting")
        answer = f"; the greeting was {greeting.code} {show(greeting.text.splitlines()[0] if greeting.text else '')}"
        yield Finding(
            kind="early_talker", severity=Severity.MEDIUM, session_id=s.session_id,
            ts_ns=anomaly.ts_ns if anomaly.ts_ns is not None else s.start_ns,
            frames=tuple(f for f in (anomaly.frame, greeting.frame) if f is not None),
            sessions=(s.session_id,),
            explanation=f"client spoke {delay}, before the server's greeting was complete (RFC 5321 3.1){answer}",
            evidence=show(first.raw) if first else anomaly.message)


def reference_starttls_not_used(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        s = r.session
        if s.starttls_used or s.implicit_tls:
            continue
        offer = next((c for c in r.capabilities if c.starttls), None)
        if offer is None or "STARTTLS" in map(_VERB, r.commands):
            continue
        after = [c for c in r.commands if c.verb in _ACTIVITY and c.ts_ns >= offer.ts_ns]
        if not after:
            continue
        auth = any(c.verb == "AUTH" for c in after)
        severity = Severity.MEDIUM if auth or s.server_port in SUBMISSION_PORTS else Severity.LOW
        verbs = sorted({c.verb for c in after})
        yield Finding(
            kind="starttls_not_used", severity=severity, session_id=s.session_id, ts_ns=offer.ts_ns,
            frames=(offer.frame, after[0].frame), sessions=(s.session_id,),
            explanation=(f"server offered STARTTLS but the client sent {', '.join(verbs)} in clear"
                         + ("; its credentials crossed in clear" if auth else "")),
            evidence=f"EHLO reply offers STARTTLS; first command in clear: {after[0].verb}")


def reference_auth_bruteforce(ctx: DetectionContext) -> Iterator[Finding]:
    sessions = {r.session.session_id: r.session for r in ctx.records}
    groups: dict[tuple[str, str], list] = {}
    for c in ctx.credentials:
        s = sessions.get(c.session_id)
        if s is None or not c.username or c.success is None:
            continue
        groups.setdefault((s.server_ip, c.username), []).append((c, s))
    minimum = ctx.threshold("auth_bruteforce_min_failures")
    for (server, user), attempts in groups.items():
        attempts.sort(key=lambda cs: cs[0].ts_ns)
        failures = [(c, s) for c, s in attempts if not c.success]
        if len(failures) < minimum:
            continue
        last_failure = failures[-1][0].ts_ns
        won = [(c, s) for c, s in attempts if c.success and c.ts_ns > failures[0][0].ts_ns]
        clients = sorted({s.client_ip for _, s in failures})
        span = (last_failure - failures[0][0].ts_ns) / 1e9
        involved = failures + won
        yield Finding(
            kind="auth_bruteforce", severity=Severity.CRITICAL if won else Severity.HIGH,
            session_id=failures[0][0].session_id, ts_ns=failures[0][0].ts_ns,
            frames=tuple(c.frame for c, _ in involved), sessions=tuple(dict.fromkeys(c.session_id for c, _ in involved)),
            explanation=(f"{len(failures)} failed AUTH attempts for {show(user)!r} at {server} in {span:.1f} s "
                         f"from {', '.join(clients)}"
                         + (f"; then AUTH {won[0][0].mechanism} succeeded ({won[0][0].outcome_code})" if won else "")),
            evidence=lines(f"{c.mechanism} {show(user)} -> {c.outcome_code}" for c, _ in involved))

def reference_password_spraying(ctx: DetectionContext) -> Iterator[Finding]:
    sessions = {r.session.session_id: r.session for r in ctx.records}
    groups: dict[tuple[str, str], list] = {}
    for c in ctx.credentials:
        s = sessions.get(c.session_id)
        if s is None or not c.username or c.success is None:
            continue
        groups.setdefault((s.client_ip, s.server_ip), []).append(c)
    minimum = ctx.threshold("spraying_min_users")
    for (client, server), attempts in groups.items():
        attempts.sort(key=lambda c: c.ts_ns)
        failed_users = dict.fromkeys(c.username for c in attempts if not c.success)  # ordered set
        if len(failed_users) < minimum:
            continue
        won = [c for c in attempts if c.success and c.username in failed_users]
        failures = [c for c in attempts if not c.success]
        involved = sorted(failures + won, key=lambda c: c.ts_ns)
        yield Finding(
            kind="password_spraying", severity=Severity.CRITICAL if won else Severity.HIGH,
            session_id=involved[0].session_id, ts_ns=involved[0].ts_ns, frames=tuple(c.frame for c in involved),
            sessions=tuple(dict.fromkeys(c.session_id for c in involved)),
            explanation=(f"{client} failed AUTH at {server} for {len(failed_users)} usernames "
                         f"({len(failures)} attempts)"
                         + (f"; {show(won[0].username)!r} then succeeded" if won else "")),
            evidence=lines(f"{c.mechanism} {show(c.username)} -> {c.outcome_code}" for c in involved))

def reference_starttls_stripping(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        sid = r.session.session_id
        for caps in r.capabilities:
            if "XXXX" not in " ".join(map(_KEYWORD, caps.items)):  # no keyword can start with XXXX
                continue
            masked = [kw for kw, _ in caps.items if kw.startswith("XXXX") and _MASKED_KEYWORD.fullmatch(kw)]
            if not masked or caps.starttls:
                continue
            clear = _went_on_in_clear(r, caps.ts_ns)
            yield Finding(
                kind="starttls_stripping", severity=Severity.HIGH if clear else Severity.MEDIUM, session_id=sid,
                ts_ns=caps.ts_ns, frames=(caps.frame,), sessions=(sid,),
                explanation=(f"EHLO reply has the masked keyword {show(masked[0])} where STARTTLS belongs"
                             + (f"; the client then sent {', '.join(clear)} in clear" if clear else "")),
                evidence="EHLO reply: " + " | ".join(show(kw) for kw, _ in caps.items))
            break
        for c in r.commands if "STARTTLS" in map(_VERB, r.commands) else ():
            if c.verb != "STARTTLS" or c.reply_code is None or c.reply_code == 220:
                continue
            reply = next((x for x in r.replies if x.command_index == c.index), None)
            clear = _went_on_in_clear(r, c.ts_ns)
            offered = any(k.starttls for k in r.capabilities)
            yield Finding(
                kind="starttls_stripping", severity=Severity.HIGH if clear else Severity.MEDIUM, session_id=sid,
                ts_ns=c.ts_ns, frames=tuple(f for f in (c.frame, c.reply_frame) if f is not None), sessions=(sid,),
                explanation=(f"STARTTLS answered {c.reply_code}"
                             + (" although STARTTLS was offered" if offered else "")
                             + (f"; the client then sent {', '.join(clear)} in clear" if clear else "")),
                evidence=f"STARTTLS -> {c.reply_code} {show(reply.text) if reply else ''}".rstrip())
        banner = r.session.banner
        if banner and banner.count("*") >= 6 and _masked_banner(banner):  # it needs six "*" at least
            greeting = next((x for x in r.replies if x.verb == "<greeting>"), None)
            yield Finding(
                kind="starttls_stripping", severity=Severity.MEDIUM, session_id=sid,
                ts_ns=greeting.ts_ns if greeting else r.session.start_ns,
                frames=(greeting.frame,) if greeting else (), sessions=(sid,),
                explanation="greeting masked with '*': an inspecting middlebox that also rewrites EHLO replies",
                evidence=f"220 {show(banner)}")


CASES = [
    (helo_mismatch.detect, reference_helo_mismatch),
    (open_relay.detect, reference_open_relay),
    (user_enumeration.detect, reference_user_enumeration),
    (command_injection.detect, reference_command_injection),
    (smtp_smuggling.detect, reference_smtp_smuggling),
    (early_talker.detect, reference_early_talker),
    (starttls_not_used.detect, reference_starttls_not_used),
    (auth_bruteforce.detect, reference_auth_bruteforce),
    (password_spraying.detect, reference_password_spraying),
    (starttls_stripping.detect, reference_starttls_stripping),
]
CAPTURES = ["tests/data/smtp-spoofing.pcap", "tests/data/smtp-relay.pcap", "tests/data/smtp-enumeration.pcap",
            "tests/data/smtp-command-injection.pcap", "tests/data/smtp-smuggling.pcap",
            "tests/data/smtp-early-talker.pcap", "tests/data/smtp-hostile-names.pcap",
            "tests/data/smtp-auth-attacks.pcap", "tests/data/smtp-starttls-attacks.pcap", "captures/smtp-sample.pcap"]


def _read(name: str, show_secrets: bool = False) -> smtpsniff.Capture:
    return smtpsniff.read(ROOT / name, show_secrets=show_secrets)


def _context(tables: dict, records, show_secrets: bool = False, values: dict | None = None) -> DetectionContext:
    return DetectionContext(records=records, credentials=[c for r in records for c in credentials(r)],
                            thresholds=values or {},
                            known_thresholds=known_thresholds(), show_secrets=show_secrets,
                            tables=tables)


def _same(records, tables, **kw) -> None:
    """The detectors with the tables built from ``records`` and without any, against the references."""
    for detect, reference in CASES:
        theirs = list(reference(_context({}, records, **kw)))
        assert list(detect(_context(dict(tables), records, **kw))) == theirs, detect.__module__
        assert list(detect(_context({}, records, **kw))) == theirs, detect.__module__


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("show_secrets", [False, True])
def test_captures(name, show_secrets):
    cap = _read(name, show_secrets)
    _same(cap.records, cap.tables, show_secrets=show_secrets)
    _same(cap.records, cap.tables, show_secrets=show_secrets,
          values={"enumeration_min_vrfy": 1, "enumeration_min_unknown": 1, "enumeration_min_unknown_ratio": 0.1,
                  "auth_bruteforce_min_failures": 1, "spraying_min_users": 2})


_HELOS = ["localhost", "LOCALHOST.", "localhost.localdomain", "[127.0.0.1]", "127.0.0.1", "[IPv6:::1]", "...", ".",
          "mx.example.test", "[10.0.0.7]", "[192.0.2.55]", "[999.1.1.1]", "a b", "\x0b", "[IPv6:fe80::1%eth0]",
          "client.example.org", "[{client}]", "[{server}]", "{server}", "{banner}", "{banner}.", "{BANNER}"]
_ADDRESSES = ["a@b.test", "user%other.test@b.test", "other.test!user@b.test", '"a@c.test"@b.test', "bang!path",
              "plain", "@hop:user@other.test", "x@y"]
_PATHS = ["<{a}>", " < @hop,@two:{a}>", "<{a}> SIZE=1", "{a}", "", "<@x:{a}>"]
_REPLIES = [(250, "ok"), (550, "5.1.1 User unknown"), (551, "not local"), (553, "Relay access denied"),
            (554, "relaying <relay@x> denied"), (450, "try later"), (550, "Unable to relay"), (None, None),
            (550, None), (553, "mailbox name not allowed")]
_RAWS = [b"NOOP\r\n", b"NOOP\rRCPT TO:<b>\r\n", b"NOOP\n", b"NO\x00OP\r\n", b"A" * 511 + b"\r\n",
         b"A" * 600 + b"\r\n", b"A" * 2000, b"NOOP", b"\r\n", b"\n", b"x\r", b"AUTH PLAIN AGFAYgBj\r\n"]
_MASKS = ["XXXXXXXA", "XXXXXXXX", "XXXX", "XXXXABC", "XXX", "STARTTLS"]
_CONTENTS = [b"a\r\n.\r\nMAIL FROM:<x>\r\n", b"a\r.\r\nRCPT TO:<y>\r\n", b"a\r.\rDATA\r\n", b"a\r.\n", b"a\rb.\r\n",
             b"plain\r\n", b"\r.", b""]


def _mutated(records, rng: random.Random):
    out = []
    for r in records:
        s = r.session
        banner = (s.banner or "mail.example.test").partition(" ")[0]
        names = {"client": s.client_ip, "server": s.server_ip, "banner": banner, "BANNER": banner.upper()}
        commands = []
        for c in r.commands:
            if c.verb in ("EHLO", "HELO") and rng.random() < 0.7:
                c = replace(c, argument=rng.choice(_HELOS).format(**names))
            elif c.verb == "RCPT" and rng.random() < 0.5:
                c = replace(c, argument="TO:" + rng.choice(_PATHS).format(a=rng.choice(_ADDRESSES)))
            elif c.verb in ("VRFY", "EXPN", "NOOP") and rng.random() < 0.5:
                c = replace(c, verb=rng.choice(["VRFY", "EXPN"]), argument=rng.choice(_ADDRESSES),
                            reply_code=rng.choice(_REPLIES)[0])
            elif c.verb == "STARTTLS" and rng.random() < 0.5:
                c = replace(c, reply_code=rng.choice([220, 454, 502, None]))
            if rng.random() < 0.1:
                c = replace(c, raw=rng.choice(_RAWS))
            commands.append(c)
        recipients = []
        for x in r.recipients:
            code, text = rng.choice(_REPLIES)
            recipients.append(replace(x, address=rng.choice(_ADDRESSES), reply_code=code, reply_text=text)
                              if rng.random() < 0.7 else x)
        messages = tuple(replace(m, content=rng.choice(_CONTENTS) + m.content[:200]) if rng.random() < 0.5 else m
                         for m in r.messages)
        anomalies = r.anomalies
        if rng.random() < 0.2:
            anomalies += (Anomaly(layer=Layer.SMTP, kind="data_before_greeting", message="early", conn_id=s.session_id,
                                  ts_ns=s.start_ns, frame=rng.choice([None, s.first_frame])),)
        if rng.random() < 0.15:
            s = replace(s, banner=rng.choice(["*" * 20, "** *** ***", "mail.example.test ******", "*****", None]))
        capabilities = tuple(
            replace(k, starttls=False, items=tuple((rng.choice(_MASKS), p) if kw == "STARTTLS" else (kw, p)
                                                   for kw, p in k.items))
            if rng.random() < 0.3 else k for k in r.capabilities)
        out.append(replace(r, session=s, commands=tuple(commands), recipients=tuple(recipients), messages=messages,
                           anomalies=anomalies, capabilities=capabilities))
    return out


@pytest.mark.parametrize("name", CAPTURES)
def test_changed_records(name):
    cap = _read(name)
    for seed in range(6):
        records = _mutated(cap.records, random.Random(seed))
        _same(records, build_tables(records),
              values={"enumeration_min_vrfy": seed % 3 + 1, "enumeration_min_unknown": seed % 2 + 1})


@pytest.mark.parametrize("name", ["tests/data/smtp-enumeration.pcap", "tests/data/smtp-relay.pcap",
                                  "captures/smtp-sample.pcap"])
def test_rcpt_sweeps_alone(name):
    """user_enumeration's RCPT bound (distinct addresses answered 550/551/553) on its own: VRFY
    sweeps out of reach, recipients answered each code (relay refusals among them)."""
    cap = _read(name)
    found = 0
    for seed in range(2 * len(_REPLIES)):
        rng = random.Random(seed)
        replies = [_REPLIES[seed % len(_REPLIES)]] if seed < len(_REPLIES) else _REPLIES  # one code alone, or all
        records = [replace(r, recipients=tuple(
            replace(x, address=f"u{rng.randrange(6)}@{rng.choice(['b.test', 'B.test'])}",
                    reply_code=code, reply_text=text)
            for x in r.recipients for code, text in [rng.choice(replies)])) for r in cap.records]
        values = {"enumeration_min_vrfy": 1000, "enumeration_min_unknown": seed % 3 + 1,
                  "enumeration_min_unknown_ratio": 0.1}
        theirs = list(reference_user_enumeration(_context({}, records, values=values)))
        assert list(user_enumeration.detect(_context(build_tables(records), records, values=values))) == theirs
        found += len(theirs)
    assert found, name
