"""Damaged and hostile messages: each gives its anomalies and still reports everything else."""
from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import replace
from datetime import datetime, timezone

from smtpsniff.anomaly import Layer
from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail import parse_message

HEAD = (b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\n"
        b"Date: Tue, 2 Jan 2024 10:15:00 +0000\r\nSubject: damaged\r\nMIME-Version: 1.0\r\n")
PAYLOAD = bytes(range(256)) * 3


def kinds(parsed):
    return {a.kind for a in parsed.anomalies}


def multipart(*bodies: bytes, close: bool = True) -> bytes:
    out = HEAD + b'Content-Type: multipart/mixed; boundary="BND"\r\n\r\npreamble\r\n'
    for body in bodies:
        out += b"--BND\r\n" + body + b"\r\n"
    return out + (b"--BND--\r\n" if close else b"")


TEXT = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nhello https://ok.example/x"


def attachment(encoded: bytes, cte: bytes = b"base64", name: bytes = b"a.bin") -> bytes:
    return (b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
            b"filename=\"" + name + b"\"\r\nContent-Transfer-Encoding: " + cte + b"\r\n\r\n"
            + encoded)


def assert_rest_intact(parsed):
    assert parsed.from_[0].addr == "alice@example.com"
    assert parsed.to[0].addr == "bob@example.org"
    assert parsed.subject == "damaged"
    assert parsed.date == datetime(2024, 1, 2, 10, 15, tzinfo=timezone.utc)
    assert all(a.layer is Layer.MAIL for a in parsed.anomalies)


def test_bad_base64_decodes_what_decodes():
    good = base64.b64encode(PAYLOAD)
    bad = good[:40] + b"!!*\x00" + good[40:] + b"A"  # junk inside, one dangling character
    parsed = parse_message(multipart(TEXT, attachment(bad)))
    assert "bad_base64" in kinds(parsed)
    att = parsed.attachments[0]
    assert att.content == PAYLOAD
    assert att.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert parsed.parts[1].preview == "hello https://ok.example/x"
    assert parsed.urls == ("https://ok.example/x",)
    assert_rest_intact(parsed)


def test_base64_cut_short_keeps_the_whole_bytes():
    good = base64.b64encode(PAYLOAD)
    parsed = parse_message(multipart(attachment(good[:-3])))
    att = parsed.attachments[0]
    assert "bad_base64" in kinds(parsed)
    assert PAYLOAD.startswith(att.content) and len(att.content) >= len(PAYLOAD) - 3


def test_bad_quoted_printable():
    body = b"caf=E9 =ZZ broken =\r\nsoft break=3"
    parsed = parse_message(multipart(
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
        b"quoted-printable\r\n\r\n" + body, TEXT))
    assert "bad_quoted_printable" in kinds(parsed)
    part = parsed.parts[1]
    assert part.content == b"caf\xe9 =ZZ broken soft break=3"
    assert part.preview == "café =ZZ broken soft break=3"
    assert parsed.parts[2].content == b"hello https://ok.example/x"
    assert_rest_intact(parsed)


def test_missing_closing_boundary():
    parsed = parse_message(multipart(TEXT, attachment(base64.b64encode(PAYLOAD)), close=False))
    assert "unterminated_multipart" in kinds(parsed)
    assert [p.path for p in parsed.parts] == ["1", "1.1", "1.2"]
    assert parsed.attachments[0].content == PAYLOAD
    assert_rest_intact(parsed)


def test_boundary_never_appears():
    raw = HEAD + (b'Content-Type: multipart/mixed; boundary="NOPE"\r\n\r\n'
                  b"--OTHER\r\nContent-Type: text/plain\r\n\r\nhi https://x.example/\r\n")
    parsed = parse_message(raw)
    assert "missing_boundary" in kinds(parsed)
    (root,) = parsed.parts
    assert root.content_type == "multipart/mixed" and not root.is_multipart
    assert root.content.startswith(b"--OTHER")
    assert_rest_intact(parsed)


def test_multipart_without_boundary_parameter():
    raw = HEAD + b"Content-Type: multipart/mixed\r\n\r\nbody\r\n"
    parsed = parse_message(raw)
    assert "missing_boundary" in kinds(parsed)
    assert parsed.parts[0].content == b"body\r\n"
    assert_rest_intact(parsed)


def test_headers_without_space_after_colon():
    """Arkime's smtp-nospaces case: valid RFC 5322 (the space is not required)."""
    raw = (b"From:Alice <alice@example.com>\r\nTo:bob@example.org\r\nSubject:damaged\r\n"
           b"Date:Tue, 2 Jan 2024 10:15:00 +0000\r\nContent-Type:text/plain\r\n\r\nbody\r\n")
    parsed = parse_message(raw)
    assert_rest_intact(parsed)
    assert parsed.headers[0].raw == b"From:Alice <alice@example.com>"
    assert parsed.content_type == "text/plain"
    assert parsed.anomalies == ()


def test_header_line_without_colon_is_skipped_and_the_rest_kept():
    raw = (b"From: Alice <alice@example.com>\r\nthis line has no colon\r\nTo: bob@example.org\r\n"
           b"Date: Tue, 2 Jan 2024 10:15:00 +0000\r\nSubject: damaged\r\n"
           b"Content-Type: text/plain\r\n\r\nbody\r\n")
    parsed = parse_message(raw)
    assert "invalid_header_line" in kinds(parsed)
    assert_rest_intact(parsed)
    assert [h.name for h in parsed.headers] == ["From", "To", "Date", "Subject", "Content-Type"]
    assert parsed.parts[0].content == b"body\r\n"


def test_no_empty_line_before_body():
    raw = HEAD + b"Hello, this is the body.\r\nSecond line.\r\n"
    parsed = parse_message(raw)
    assert "missing_header_body_separator" in kinds(parsed)
    assert parsed.parts[0].content == b"Hello, this is the body.\r\nSecond line.\r\n"
    assert_rest_intact(parsed)


def test_space_before_colon_obsolete_syntax():
    raw = HEAD.replace(b"Subject: damaged", b"Subject : damaged") + b"\r\nbody\r\n"
    parsed = parse_message(raw)
    assert "header_space_before_colon" in kinds(parsed)
    assert_rest_intact(parsed)
    assert parsed.parts[0].content == b"body\r\n"


def test_200_kb_of_headers():
    junk = b"".join(b"X-Junk-%06d: %s\r\n" % (i, b"x" * 80) for i in range(2200))
    raw = HEAD + junk + b"X-Late: after the limit\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
    assert len(junk) > 200_000
    parsed = parse_message(raw)
    assert "header_bytes_limit" in kinds(parsed)
    assert sum(len(h.raw) + 2 for h in parsed.headers) <= DEFAULT_LIMITS.max_mail_header_bytes
    assert "X-Late" not in [h.name for h in parsed.headers]
    assert parsed.header_bytes == raw.index(b"\r\n\r\n") + 4
    assert parsed.parts[0].content == b"body\r\n"
    assert_rest_intact(parsed)


def nested(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\ninnermost\r\n"
    for level in range(depth):
        b = b"b%d" % level
        body = (b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n--' + b + b"\r\n"
                + body + b"\r\n--" + b + b"--\r\n")
    return HEAD + body


def test_mime_nesting_deeper_than_the_limit():
    parsed = parse_message(nested(150))
    assert "mime_depth_limit" in kinds(parsed)
    assert len(parsed.parts) == DEFAULT_LIMITS.max_mime_depth + 1
    assert max(p.depth for p in parsed.parts) == DEFAULT_LIMITS.max_mime_depth
    assert_rest_intact(parsed)
    small = parse_message(nested(100), limits=replace(DEFAULT_LIMITS, max_mime_depth=10))
    assert "mime_depth_limit" in kinds(small) and len(small.parts) == 11


def test_mime_nesting_beyond_the_stdlib_recursion_limit_does_not_raise():
    parsed = parse_message(nested(3000))
    assert {"mime_depth_limit", "mime_parse_failed"} & kinds(parsed)
    assert_rest_intact(parsed)


def test_too_many_parts():
    parsed = parse_message(multipart(*[TEXT] * 30), limits=replace(DEFAULT_LIMITS,
                                                                   max_mime_parts=10))
    assert "mime_parts_limit" in kinds(parsed) and len(parsed.parts) == 10
    assert parsed.urls == ("https://ok.example/x",)


def test_nul_bytes():
    raw = multipart(b"Content-Type: text/plain\r\n\r\nnul\x00here", TEXT).replace(
        b"Subject: damaged", b"Subject: damaged\r\nX-Nul: a\x00b")
    parsed = parse_message(raw)
    assert "nul_bytes" in kinds(parsed)
    assert parsed.parts[1].content == b"nul\x00here"
    assert [h.raw_value for h in parsed.headers if h.name == "X-Nul"] == ["a\x00b"]
    assert_rest_intact(parsed)


def test_invalid_charset_names():
    raw = multipart(b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nabc \xe9",
                    b"Content-Type: text/plain; charset=base64\r\n\r\nplain").replace(
        b"Subject: damaged", b"Subject: damaged\r\nX-Tag: =?x-bogus?q?abc?=")
    parsed = parse_message(raw)
    assert "undecodable_charset" in kinds(parsed)
    assert parsed.parts[1].preview == "abc \ufffd"
    assert parsed.parts[2].preview == "plain"
    assert_rest_intact(parsed)


def test_truncated_message():
    full = multipart(TEXT, attachment(base64.b64encode(PAYLOAD)))
    cut = full[: full.index(b"Content-Transfer-Encoding: base64") + 200]
    parsed = parse_message(cut, complete=False)
    assert not parsed.complete
    assert {"message_incomplete", "unterminated_multipart"} <= kinds(parsed)
    att = parsed.attachments[0]
    assert PAYLOAD.startswith(att.content) and 0 < len(att.content) < len(PAYLOAD)
    assert parsed.parts[1].content == b"hello https://ok.example/x"
    assert_rest_intact(parsed)


def test_empty_message():
    parsed = parse_message(b"")
    assert {"empty_message", "missing_from", "missing_date"} <= kinds(parsed)
    assert parsed.headers == () and parsed.size == 0 and parsed.header_bytes == 0
    (part,) = parsed.parts
    assert part.content_type == "text/plain" and part.size == 0 and part.content == b""
    assert part.md5 == hashlib.md5(b"").hexdigest()


def test_message_with_only_headers():
    parsed = parse_message(HEAD.rstrip(b"\r\n"))
    assert_rest_intact(parsed)
    assert parsed.mime_version == "1.0"
    assert parsed.parts[0].size == 0
    assert parsed.anomalies == ()


def test_lf_only_line_endings():
    raw = multipart(TEXT, attachment(base64.b64encode(PAYLOAD))).replace(b"\r\n", b"\n")
    parsed = parse_message(raw)
    assert kinds(parsed) == {"bare_lf"}
    assert parsed.attachments[0].content == PAYLOAD
    assert parsed.parts[1].content == b"hello https://ok.example/x"
    assert_rest_intact(parsed)


def test_hostile_filenames_are_kept_exactly():
    rtl = "invoice\u202efdp.exe"
    raw = multipart(
        attachment(b"QQ==", name=b"../../etc/passwd"),
        attachment(b"QQ==", name=b"=?utf-8?q?a=00b=2Eexe?="),
        b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        b"filename*=utf-8''" + "".join(f"%{b:02X}" for b in rtl.encode()).encode()
        + b"\r\n\r\nx",
        attachment(b"QQ==", name=b"C:\\\\Windows\\\\evil.dll"),
    )
    parsed = parse_message(raw)
    names = [(p.filename, p.filename_raw) for p in parsed.attachments]
    assert names[0] == ("../../etc/passwd", '"../../etc/passwd"')
    assert names[1] == ("a\x00b.exe", '"=?utf-8?q?a=00b=2Eexe?="')
    assert names[2][0] == rtl
    assert names[3][0] == "C:\\Windows\\evil.dll"
    assert names[3][1] == '"C:\\\\Windows\\\\evil.dll"'
    assert_rest_intact(parsed)


def test_multiple_from_and_duplicate_headers():
    raw = HEAD + b"From: Mallory <ceo@example.com>\r\nSubject: second\r\n\r\nbody"
    parsed = parse_message(raw)
    assert {"multiple_from", "duplicate_header"} <= kinds(parsed)
    assert parsed.from_count == 2
    assert_rest_intact(parsed)  # the first of each is used
    assert parsed.header_values("from")[1] == "Mallory <ceo@example.com>"


def test_dates_without_zone_and_unparseable():
    parsed = parse_message(HEAD.replace(b"+0000", b"") + b"\r\nbody")
    assert "date_without_timezone" in kinds(parsed)
    assert parsed.date == datetime(2024, 1, 2, 10, 15, tzinfo=timezone.utc)
    parsed = parse_message(HEAD.replace(b"+0000", b"-0000") + b"\r\nbody")
    assert parsed.date == datetime(2024, 1, 2, 10, 15, tzinfo=timezone.utc)
    assert parsed.anomalies == ()
    parsed = parse_message(HEAD.replace(b"Tue, 2 Jan 2024 10:15:00 +0000", b"last tuesday")
                           + b"\r\nbody")
    assert "date_unparseable" in kinds(parsed)
    assert parsed.date is None and parsed.date_raw == "last tuesday"
    assert parsed.subject == "damaged"


def test_invalid_addresses_and_8bit_garbage_headers():
    raw = (HEAD.replace(b"To: bob@example.org", b"To: bob@example.org, bad@@x, <>")
           + b"X-Legacy: caf\xe9 cr\xe8me\r\n\r\nbody")
    parsed = parse_message(raw)
    assert {"invalid_address", "header_not_utf8"} <= kinds(parsed)
    assert [a.addr for a in parsed.to] == ["bob@example.org"]
    legacy = parsed.headers[-1]
    assert legacy.raw == b"X-Legacy: caf\xe9 cr\xe8me"
    assert legacy.value == "caf\ufffd cr\ufffdme"


def test_part_decoded_limit_cuts_content_not_hashes():
    limits = replace(DEFAULT_LIMITS, max_part_decoded_bytes=100)
    parsed = parse_message(multipart(attachment(base64.b64encode(PAYLOAD))), limits=limits)
    att = parsed.attachments[0]
    assert "part_decoded_limit" in kinds(parsed)
    assert att.content == PAYLOAD[:100] and att.content_truncated
    assert att.decoded_size == len(PAYLOAD)
    assert att.sha256 == hashlib.sha256(PAYLOAD).hexdigest()


def test_unknown_transfer_encoding_and_encoded_multipart():
    raw = multipart(attachment(b"begin 644 a\r\n#86)C\r\n`\r\nend", cte=b"x-uuencode"))
    raw = raw.replace(b"multipart/mixed;", b"multipart/mixed; x=1;").replace(
        b"MIME-Version: 1.0\r\n", b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n")
    parsed = parse_message(raw)
    assert {"unknown_transfer_encoding", "bad_multipart_encoding"} <= kinds(parsed)
    assert parsed.attachments[0].content.startswith(b"begin 644")


def test_anomaly_cap_per_kind():
    raw = HEAD + b"".join(b"Subject: s%d\r\n" % i for i in range(5)) + b"\r\n"
    limits = replace(DEFAULT_LIMITS, max_anomalies_per_kind=1)
    junk = b"".join(b"junk line %d\r\nX-A: 1\r\n" % i for i in range(5))
    parsed = parse_message(raw.replace(b"MIME", junk + b"MIME"), limits=limits)
    assert [a.kind for a in parsed.anomalies].count("invalid_header_line") == 1
    assert parsed.anomalies_suppressed >= 4


def test_random_damage_never_raises():
    from email import policy
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "Jörg <j@example.de>"
    msg["To"] = "a@example.com"
    msg["Subject"] = "Grüße"
    msg["Date"] = "Tue, 2 Jan 2024 10:15:00 +0000"
    msg.set_content("text https://a.example/")
    msg.add_alternative("<a href='https://b.example/'>b</a>", subtype="html")
    msg.add_attachment(PAYLOAD, maintype="application", subtype="zip", filename="ä.zip")
    base = msg.as_bytes(policy=policy.SMTP)
    rng = random.Random(5322)
    specials = [b"\r", b"\n", b"\x00", b":", b"=", b"-", b"\"", b";", b"\xff", b"(", b"<", b"?="]
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[pos:pos + 1] = rng.choice(specials)
            elif choice < 0.7:
                del data[pos:pos + rng.randint(1, 40)]
            else:
                data[pos] = rng.randrange(256)
        cut = rng.random() < 0.2
        parsed = parse_message(bytes(data[: rng.randrange(len(data))] if cut else data),
                               complete=not cut)
        assert parsed.parts
        for part in parsed.parts:  # every str is clean Unicode (Arrow, CSV)
            for text in (part.filename, part.preview, part.content_type):
                if text is not None:
                    text.encode("utf-8")
        for header in parsed.headers:
            header.value.encode("utf-8")
            header.raw_value.encode("utf-8")


def test_repeated_to_fields_are_all_recipients():
    raw = HEAD + b"To: carol@example.net, bob@example.org\r\nCc: d@example.org\r\n\r\nbody"
    parsed = parse_message(raw)
    assert [a.addr for a in parsed.to] == ["bob@example.org", "carol@example.net"]
    assert [a.addr for a in parsed.cc] == ["d@example.org"]
    assert "duplicate_header" in kinds(parsed)


def test_a_failure_no_rule_covers_is_an_anomaly_not_a_crash(monkeypatch):
    """Whatever raises inside the parse (here the header reader, made to fail) becomes
    ``mail_parse_failed`` on the message read as one undecoded part; nothing escapes."""
    from smtpsniff.mail import parse as parse_module

    raw = HEAD + b"\r\nbody\r\n"
    monkeypatch.setattr(parse_module, "split_header_block",
                        lambda *args, **kwargs: (_ for _ in ()).throw(LookupError("no such thing")))
    parsed = parse_message(raw, complete=False)
    assert [a.kind for a in parsed.anomalies] == ["message_incomplete", "mail_parse_failed"]
    assert "LookupError: 'no such thing'" in parsed.anomalies[1].message
    assert parsed.size == len(raw) and parsed.headers == () and parsed.from_ == ()
    (part,) = parsed.parts
    assert part.content == raw and part.sha256 == hashlib.sha256(raw).hexdigest()


def test_idna_rfc2231_filename_is_an_anomaly():
    """``filename*=idna''%ff``: the stdlib's getter raises UnicodeError (it once escaped the parse
    and stopped the whole capture's analysis)."""
    parsed = parse_message(multipart(b"Content-Type: application/octet-stream\r\n"
                                     b"Content-Disposition: attachment; filename*=idna''%ff\r\n\r\nhi"))
    assert "mime_header_error" in kinds(parsed) and "mail_parse_failed" not in kinds(parsed)
    assert_rest_intact(parsed)
