"""The Received fast paths of smtpsniff/mail/received.py against copies of the general code.

``valid_ip`` answers without :mod:`ipaddress` for texts that cannot be addresses, ``_tokens`` reads
the usual pieces with one regex, ``path_ip`` scans with the opening characters in the match and
stops at the second IP.  The oracle is the general code: the reference copies below
(``reference_*``: the loop over characters, ``ipaddress.ip_address`` for every candidate, the
look-behind scan), compared on every Received field of the recorded clients' messages, of the
stamp shapes received.py's docstring lists (and seeded stamps of those shapes), of the realistic
messages ``make_capture.py --transcripts realistic`` writes (Postfix/Exim/Exchange/Gmail chains),
and on seeded mutations of all of them; whole :class:`ReceivedHop` values field by field, with
the anomalies each parse records.
``valid_ip`` is also checked against :func:`ipaddress.ip_address` on fuzzed texts.
"""
from __future__ import annotations

import ipaddress
import random
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import fields

import pytest
from corpus import realistic_messages
from mail_oracles import captures_with_sidecars, sent_messages
from test_mail_received import POSTFIX_GMAIL_CHAIN

from smtpsniff.mail import fields as mail_fields
from smtpsniff.mail import received
from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import parse_date
from smtpsniff.mail.model import Header, ReceivedHop
from smtpsniff.mail.parse import parse_message

# ---------------------------------------------------------------------------------------------
# Reference copies of the general code (received.py before its fast paths).

_REF_KEYWORDS = frozenset({"from", "by", "via", "with", "id", "for"})
_REF_IP_CANDIDATE = r"[0-9A-Fa-f:.]+"
_REF_IP_ANYWHERE = re.compile(r"(?:IPv6:)?(" + _REF_IP_CANDIDATE + r")")
_REF_IP_WRAPPED = re.compile(
    r"(?<=\[)(?:IPv6:)?(" + _REF_IP_CANDIDATE + r")(?=\])"
    r"|(?<=\()(" + _REF_IP_CANDIDATE + r")(?=\))"
    r"|(?<=\{)(" + _REF_IP_CANDIDATE + r")(?=\})"
    r"|(?<= )(" + _REF_IP_CANDIDATE + r")(?= )"
    r"|^(" + _REF_IP_CANDIDATE + r")$"
)
_REF_HELO_EQ = re.compile(r"\bhelo=([^\s)\]]+)", re.IGNORECASE)
_REF_HELO_WORD = re.compile(r"^HELO\s+(\S+)", re.IGNORECASE)


def reference_valid_ip(text: str) -> str | None:
    text = text.strip(".:") if text.count(":") < 2 else text.rstrip(".")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def reference_ips_in(text: str) -> tuple[str, ...]:
    found: list[str] = []
    for match in _REF_IP_ANYWHERE.finditer(text):
        ip = reference_valid_ip(match.group(1))
        if ip is not None and ip not in found:
            found.append(ip)
    return tuple(found)


def reference_path_ip(value: str) -> str | None:
    ips: list[str] = []
    for match in _REF_IP_WRAPPED.finditer(value):
        text = next(g for g in match.groups() if g is not None)
        ip = reference_valid_ip(text)
        if ip is not None:
            ips.append(ip)
    if len(ips) > 1:
        return ips[1]
    return ips[0] if ips else None


def reference_received_path(hops: Iterable[ReceivedHop], limit: int, log: AnomalyLog
                            ) -> tuple[str, ...]:
    path: list[str] = []
    for hop in hops:
        ip = reference_path_ip(hop.raw)
        if ip is None or (path and path[-1] == ip):
            continue
        if len(path) >= limit:
            log.add("received_path_limit", f"Received path longer than max_received_path={limit}")
            break
        path.append(ip)
    return tuple(path)


def reference_tokens(text: str) -> Iterator[tuple[bool, str]]:
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            depth, j = 0, i
            while j < n:
                c = text[j]
                if c == "\\":
                    j += 2
                    continue
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            yield True, text[i + 1:j]
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] != "(":
                closer = {"[": "]", "<": ">"}.get(text[j])
                if closer is not None:
                    k = text.find(closer, j + 1)
                    j = n if k < 0 else k + 1
                else:
                    j += 1
            yield False, text[i:j]
            i = j


def reference_parse_received(header: Header, index: int, log: AnomalyLog) -> ReceivedHop:
    value = header.raw_value
    clauses_text, sep, date_text = value.rpartition(";")
    if not sep:
        clauses_text, date_text = value, ""
    date_text = date_text.strip()
    clauses: dict[str, tuple[list[str], list[str]]] = {}
    current: tuple[list[str], list[str]] | None = None
    for is_comment, text in reference_tokens(clauses_text):
        if is_comment:
            if current is not None:
                current[1].append(text)
            continue
        keyword = text.lower()
        if keyword in _REF_KEYWORDS and keyword not in clauses and (current is None or current[0]):
            current = clauses[keyword] = ([], [])
        elif current is not None and not current[1]:
            current[0].append(text)
    when = parse_date(date_text, f"Received header {index}", log) if date_text else None

    def first(keyword: str) -> str | None:
        words = clauses.get(keyword, ([], []))[0]
        return words[0] if words else None

    from_words, from_comments = clauses.get("from", ([], []))
    from_host = from_words[0] if from_words else None
    from_rdns = from_helo = None
    for comment in from_comments:
        helo = _REF_HELO_EQ.search(comment) or _REF_HELO_WORD.search(comment)
        if helo and from_helo is None:
            from_helo = helo.group(1)
        first_word = comment.split()[0] if comment.split() else ""
        if (from_rdns is None and first_word and not first_word.startswith("[")
                and "=" not in first_word and reference_valid_ip(first_word) is None
                and first_word.upper() != "HELO"):
            from_rdns = first_word.rstrip(".")
    with_words = clauses.get("with", ([], []))[0]
    for_ = first("for")
    return ReceivedHop(
        index=index,
        raw=value,
        from_host=from_host,
        from_helo=from_helo,
        from_rdns=from_rdns,
        from_ips=reference_ips_in(" ".join(from_words + from_comments)),
        by_host=first("by"),
        via=first("via"),
        with_protocol=" ".join(with_words) or None,
        id=first("id"),
        for_=for_.strip("<>") if for_ else None,
        timestamp=when,
        timestamp_raw=date_text or None,
    )

# ---------------------------------------------------------------------------------------------
# Inputs.

# The shapes of received.py's docstring, as their MTAs write them.
_SHAPES = [
    ("from mail-wm1-f41.google.com (mail-wm1-f41.google.com [209.85.128.41])\r\n\tby mx.example.org"
     " (Postfix) with ESMTPS id 4T3Xk15hWbz9sWm\r\n\tfor <bob@example.org>; Tue,  2 Jan 2024 "
     "10:15:05 +0100 (CET)"),
    ("from client.example (dsl-1.isp.example [203.0.113.9] (may be forged))\r\n\tby mx.example.com"
     " (8.15.2/8.15.2) with ESMTP id 402AF0xK012345\r\n\tfor <bob@example.com>; Tue, 2 Jan 2024 "
     "10:15:00 -0500"),
    ("from [198.51.100.7] (helo=client.example.net)\r\n\tby mx.example.com with esmtpsa  (TLS1.3) "
     "tls TLS_AES_256_GCM_SHA384\r\n\t(Exim 4.96)\r\n\t(envelope-from <a@client.example.net>)\r\n\t"
     "id 1rKXy2-000ABC-2F\r\n\tfor bob@example.com; Tue, 02 Jan 2024 10:15:00 +0000"),
    ("from AM0PR07MB4321.eurprd07.prod.outlook.com (2603:10a6:208:1c0::17) by "
     "AM0PR07MB1234.eurprd07.prod.outlook.com (2603:10a6:208:ac::15) with Microsoft SMTP Server "
     "(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7159.14; Tue, 2 Jan "
     "2024 10:15:00 +0000"),
    ("from EX1.corp.example (10.1.2.3) by EX2.corp.example (10.1.2.4) with Microsoft SMTP Server "
     "(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.1.2507.18; Sat, 14 Nov "
     "2026 06:13:00 +0000"),
    ("from [192.168.1.23] ([2a02:8109:9a40:1234::5])\r\n        by smtp.gmail.com with ESMTPSA id "
     "m5-20020a05600c4f4500b0040d5a5c523csm1234567wmq.1.2024.01.02.01.15.02\r\n        for "
     "<bob@example.org>\r\n        (version=TLS1_3 cipher=TLS_AES_128_GCM_SHA256 bits=128/128);\r\n"
     "        Tue, 02 Jan 2024 01:15:02 -0800 (PST)"),
    ("by 2002:a05:6940:892f:b0:1818:5d9d with SMTP id ed99531985d;        Sat, 21 Nov 2026 "
     "01:04:00 +0000"),
    ("from unknown (HELO relay.example) (192.0.2.44)\r\n  by mail.example.com with SMTP; "
     "2 Jan 2024 10:15:00 -0000"),
    "(qmail 12345 invoked by uid 89); 2 Jan 2024 10:15:00 -0000",
    "from x (y [192.0.2.1]) by z; yesterday",
    "from a ([IPv6:2001:db8::1]) by c",
    "from host1.2.3.4.example by x",
    "from a (1.2.3.999) by b",
    "192.0.2.9",
    "192.0.2.9\n",
    "2001:db8::7",
    "from a (b [192.0.2.1] (nested (deeper) \\) quoted)) by c (d) with e; Mon, 1 Jan 2024 0:0:0",
    "from a {192.0.2.5} by b {192.0.2.6} (192.0.2.7) [fe80::1%eth0] 192.0.2.8 ",
    "from a (b [192.0.2.1) by c <x@y (z) w> for <unclosed; Mon, 1 Jan 2024 10:00:00 +0000",
    "from a.example. (a.example. [::ffff:192.0.2.1]) by b via c with d id e for f",
    "\x85from\xa0a\u2003(b\u3000[192.0.2.1])\x1cby c\x1f; Mon, 1 Jan 2024 10:00:00 GMT",
]


def _stamp(rng: random.Random) -> str:
    """A Received value of one of the docstring's shapes, with random hosts, ids and addresses."""
    ip4 = ".".join(str(rng.randrange(256)) for _ in range(4))
    ip6 = str(ipaddress.IPv6Address(rng.getrandbits(128) & ~(0xFFFF << rng.randrange(0, 112, 16))))
    ip = rng.choice([ip4, ip6, "IPv6:" + ip6])
    host = f"mx{rng.randrange(10)}.example{rng.randrange(100)}.net"
    date = (f"{rng.choice(['Mon', 'Tue', 'Sat'])}, {rng.randint(1, 28):02d} Nov 2026 "
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00 {rng.choice(['+0000', '-0800'])}")
    ident = f"{rng.getrandbits(40):X}"
    return rng.choice([
        (f"from {host} ({host} [{ip}])\r\n\tby mail.example.org (Postfix) with ESMTPS id {ident}"
         f"\r\n\tfor <user@example.org>; {date}"),
        (f"from [{ip}] (helo={host})\tby relay.example.com with esmtpsa  (TLS1.3) tls "
         f"TLS_AES_256_GCM_SHA384\t(Exim 4.96)\t(envelope-from <b@example.com>)\tid {ident}-0001; "
         f"{date}"),
        (f"from EX1.corp.example ({ip4}) by EX2.corp.example ({ip}) with Microsoft SMTP Server "
         f"(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.1.2507.18; {date}"),
        (f"by 2002:a05:{ident[:4]}:{ident[4:8]}:b0:1818:5d9d with SMTP id {ident.lower()};        "
         f"{date}"),
        (f"from {host} ({host} [{ip}] (may be forged)) by mx.example.com (8.15.2/8.15.2) with ESMTP"
         f" id {ident}; {date}"),
        f"from unknown (HELO {host}) ({ip}) by {host} with SMTP; {date}",
    ])


def _received_values(raw: bytes) -> list[str]:
    return [hop.raw for hop in parse_message(raw).received]


def _corpus() -> list[str]:
    values = list(_SHAPES) + _received_values(POSTFIX_GMAIL_CHAIN)
    for capture in captures_with_sidecars():
        for message in sent_messages(capture):
            values.extend(_received_values(message["bytes"]))
    rng = random.Random(5321)
    values.extend(_stamp(rng) for _ in range(300))
    for raw in realistic_messages():
        values.extend(_received_values(raw))
    return values


_NOISE = list("()[]<>\\;: .=\t{}%/0123456789abcdefABCDEF\x85\xa0\u2003\u3000\r\n\x1cxyz") + [
    "IPv6:", "[IPv6:", "((", "))", "::", "(helo=", "(HELO ", "from ", " by ", " with ", " id ",
    " for ", "%eth0", "192.0.2.1", "::1", "2001:db8::5", " 10.0.0.1 ", "(1.2.3.4)", "\\(", "\\)",
    "(" * 40, ")" * 40, "[" * 5, "<" * 5, "; Mon, 1 Jan 2024 10:00:00 +0000", "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:1.2.3.4", "01.2.3.4", "255.255.255.256", ".", ":", "..", "fe80::1%", "a::b::c"]


def _mutate(value: str, rng: random.Random) -> str:
    out = list(value)
    for _ in range(rng.randint(1, 5)):
        at = rng.randint(0, len(out))
        roll = rng.random()
        if roll < 0.5 or not out:
            out[at:at] = [rng.choice(_NOISE)]
        elif roll < 0.75:
            del out[at:at + rng.randint(1, 6)]
        else:
            out[min(at, len(out) - 1)] = rng.choice(_NOISE)
    return "".join(out)


def _wrapped(rng: random.Random, texts: list[str]) -> str:
    """Address texts wrapped as Zeek looks for them, and not, among words."""
    pieces = []
    for _ in range(rng.randint(1, 8)):
        text = rng.choice(texts)
        pieces.append(rng.choice(["[%s]", "(%s)", "{%s}", " %s ", "[IPv6:%s]", "%s", "(%s]",
                                  "by %s", "IPv6:%s"]) % text)
    return rng.choice(["", " "]).join(pieces)


@pytest.fixture(scope="module")
def values() -> list[str]:
    base = _corpus()
    rng = random.Random(2821)
    texts = _ip_texts(rng, 3000)
    return (base + [_mutate(rng.choice(base), rng) for _ in range(8000)]
            + [_wrapped(rng, texts) for _ in range(3000)]
            + [text + rng.choice(["", "\n", " ", "\n\n"]) for text in texts])


def _ip_texts(rng: random.Random, count: int) -> list[str]:
    """Texts near IP addresses: random strings over their characters, addresses written in
    their usual forms, and those changed a little."""
    alphabet = "0123456789abcdefABCDEF:.%"
    extra = alphabet + "/ gx\n\u0663\u00b2\uff11"
    out: list[str] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.3:
            chars = alphabet if rng.random() < 0.8 else extra
            out.append("".join(rng.choice(chars) for _ in range(rng.randint(0, 40))))
        else:
            if rng.random() < 0.5:
                address = ".".join(str(rng.randrange(256 if rng.random() < 0.9 else 1000))
                                   for _ in range(4))
                if rng.random() < 0.2:
                    address = address.replace(".", ".0", 1)
            else:
                bits = rng.getrandbits(128)
                for _ in range(rng.randint(0, 3)):
                    start = rng.randrange(0, 128, 16)
                    bits &= ~(((1 << rng.randrange(16, 129, 16)) - 1) << start)
                ip = ipaddress.IPv6Address(bits & ((1 << 128) - 1))
                address = rng.choice([str(ip), ip.exploded, ip.exploded.upper()])
                if rng.random() < 0.2:
                    quad = ipaddress.IPv4Address(bits & 0xFFFFFFFF)
                    address = address.rsplit(":", 2)[0] + f":{quad}"
                if rng.random() < 0.1:
                    address += "%" + rng.choice(["eth0", "1", "", "a%b", "x:y"])
            if roll > 0.6:
                address = _mutate(address, rng) if rng.random() < 0.7 else (
                    rng.choice(["", ".", ":", "..", "::", ".:"]) + address
                    + rng.choice(["", ".", ":", "..", "::", ":."]))
            out.append(address)
    return out

# ---------------------------------------------------------------------------------------------
# Tests.


def test_regex_white_space_is_str_isspace():
    """``\\s`` in a str pattern and :meth:`str.isspace` pick the same code points, all of them
    checked: the token regex relies on it."""
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    assert re.findall(r"\s", every) == [ch for ch in every if ch.isspace()]


def test_valid_ip_matches_ipaddress():
    rng = random.Random(4291)
    texts = _ip_texts(rng, 30000)
    valid = {4: 0, 6: 0}
    for text in texts:
        expected = reference_valid_ip(text)
        assert received.valid_ip(text) == expected, text
        if expected is not None:
            valid[ipaddress.ip_address(expected).version] += 1
    assert min(valid.values()) > len(texts) // 20, valid  # addresses, not only rejections


def test_valid_ip_on_every_word_and_candidate(values):
    seen: set[str] = set()
    for value in values:
        for text in value.split() + _REF_IP_ANYWHERE.findall(value):
            if text not in seen:
                seen.add(text)
                assert received.valid_ip(text) == reference_valid_ip(text), text


def test_tokens_match_the_loop(values):
    fallbacks = 0
    for value in values:
        assert received._tokens(value) == list(reference_tokens(value)), value
        fallbacks += any(other for _, _, other in received._TOKEN.findall(value))
    # both the regex and the loop were compared
    assert len(values) // 20 < fallbacks < len(values) // 2, fallbacks


def test_ips_and_path_ip(values):
    for value in values:
        assert received.ips_in(value) == reference_ips_in(value), value
        assert received.path_ip(value) == reference_path_ip(value), value


def _hop_and_log(parse, value: str, index: int) -> tuple[ReceivedHop, AnomalyLog]:
    log = AnomalyLog(3)
    header = Header(index=index, name="Received", raw=b"", raw_value=value, value=value)
    return parse(header, index, log), log


def test_parse_received_field_by_field(values):
    for index, value in enumerate(values):
        fast, fast_log = _hop_and_log(received.parse_received, value, index % 7)
        general, general_log = _hop_and_log(reference_parse_received, value, index % 7)
        for field in fields(ReceivedHop):
            mine, theirs = getattr(fast, field.name), getattr(general, field.name)
            assert repr(mine) == repr(theirs), (field.name, value)
        assert fast_log.freeze() == general_log.freeze(), value
        assert fast_log.suppressed == general_log.suppressed


def test_received_path(values):
    rng = random.Random(1000)
    for _ in range(400):
        chain = rng.sample(values, rng.randint(1, 8))
        hops = [_hop_and_log(reference_parse_received, value, i)[0]
                for i, value in enumerate(chain)]
        hops += hops[:rng.randint(0, 2)]  # repeats to collapse
        limit = rng.randint(1, 6)
        fast_log, general_log = AnomalyLog(2), AnomalyLog(2)
        assert (received.received_path(hops, limit, fast_log)
                == reference_received_path(hops, limit, general_log)), chain
        assert fast_log.freeze() == general_log.freeze()


def test_whole_messages(monkeypatch: pytest.MonkeyPatch):
    """parse_message of the realistic corpus with the Received code and with the references."""
    messages = realistic_messages()
    fast = [repr(parse_message(raw)) for raw in messages]
    monkeypatch.setattr(mail_fields, "parse_received", reference_parse_received)
    monkeypatch.setattr(mail_fields, "received_path", reference_received_path)
    monkeypatch.setattr(mail_fields, "ips_in", reference_ips_in)
    assert [repr(parse_message(raw)) for raw in messages] == fast
