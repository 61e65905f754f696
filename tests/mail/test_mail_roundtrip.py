"""Messages built with the stdlib's EmailMessage, serialised for SMTP, parsed back."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage

from smtpsniff.mail import parse_message

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 700


def kinds(parsed):
    return {a.kind for a in parsed.anomalies}


def build_mixed() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Alice Example <alice@example.com>"
    msg["To"] = "Bob <bob@example.org>, carol@example.net"
    msg["Cc"] = "Dave <dave@example.org>"
    msg["Subject"] = "Quarterly report"
    msg["Date"] = "Tue, 02 Jan 2024 10:15:00 +0100"
    msg["Message-ID"] = "<report-1@example.com>"
    msg["X-Mailer"] = "Mutt/2.2.9"
    msg.set_content("Hi Bob,\n\nthe report is attached. See https://intranet.example.com/q4.\n")
    msg.add_alternative(
        "<html><body><p>Hi Bob,</p><p>the report is <a href=\"https://intranet.example.com/q4?"
        "a=1&amp;b=2\">here</a>.</p><img src=\"https://cdn.example.com/logo.png\"></body></html>",
        subtype="html")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="chart.png")
    return msg


def test_mixed_message_fields_parts_and_hashes():
    raw = build_mixed().as_bytes(policy=policy.SMTP)
    parsed = parse_message(raw)
    assert parsed.size == len(raw)
    assert parsed.complete
    assert [str(a) for a in parsed.from_] == ["Alice Example <alice@example.com>"]
    assert parsed.from_count == 1
    assert [a.addr for a in parsed.to] == ["bob@example.org", "carol@example.net"]
    assert parsed.to[0].display_name == "Bob"
    assert [a.addr for a in parsed.cc] == ["dave@example.org"]
    assert parsed.subject == "Quarterly report"
    assert parsed.date == datetime(2024, 1, 2, 9, 15, tzinfo=timezone.utc)
    assert parsed.message_id == "<report-1@example.com>"
    assert parsed.x_mailer == "Mutt/2.2.9"
    assert parsed.mime_version == "1.0"
    assert parsed.content_type == "multipart/mixed"

    paths = [(p.path, p.content_type, p.depth, p.parent) for p in parsed.parts]
    assert paths == [
        ("1", "multipart/mixed", 0, None),
        ("1.1", "multipart/alternative", 1, "1"),
        ("1.1.1", "text/plain", 2, "1.1"),
        ("1.1.2", "text/html", 2, "1.1"),
        ("1.2", "application/pdf", 1, "1"),
        ("1.3", "image/png", 1, "1"),
    ]
    pdf, png = parsed.attachments
    for part, data in ((pdf, PDF), (png, PNG)):
        assert part.content == data
        assert part.decoded_size == len(data)
        assert part.md5 == hashlib.md5(data).hexdigest()
        assert part.sha1 == hashlib.sha1(data).hexdigest()
        assert part.sha256 == hashlib.sha256(data).hexdigest()
        assert part.transfer_encoding == "base64"
        assert part.disposition == "attachment"
        assert part.size > part.decoded_size  # base64 grows by 4/3 plus line ends
    assert pdf.filename == "report.pdf"
    assert pdf.filename_raw == '"report.pdf"'
    text, html = parsed.parts[2], parsed.parts[3]
    assert not text.is_attachment and not html.is_attachment
    assert text.charset == "utf-8"
    assert text.preview.startswith("Hi Bob, the report is attached.")
    assert html.preview == "Hi Bob, the report is here ."
    assert text.md5 == hashlib.md5(text.content).hexdigest()
    assert parsed.urls == (
        "https://intranet.example.com/q4",
        "https://intranet.example.com/q4?a=1&b=2",
        "https://cdn.example.com/logo.png",
    )
    assert kinds(parsed) == set()


def test_headers_keep_order_raw_and_decoded():
    msg = EmailMessage()
    msg["From"] = "Jörg Müller <joerg@example.de>"
    msg["To"] = "x@example.de"
    msg["Date"] = "Tue, 02 Jan 2024 10:15:00 +0000"
    msg["Subject"] = "Grüße aus Köln " * 8  # long: folded on output
    msg.set_content("x")
    raw = msg.as_bytes(policy=policy.SMTP)
    parsed = parse_message(raw)
    names = [h.name for h in parsed.headers]
    assert names[:4] == ["From", "To", "Date", "Subject"]
    assert [h.index for h in parsed.headers] == list(range(len(parsed.headers)))
    subject = parsed.headers[3]
    assert b"\r\n " in subject.raw  # folded on the wire, kept folded
    assert subject.raw in raw
    assert "\r\n" not in subject.raw_value and subject.raw_value.startswith("=?utf-8?")
    assert subject.value == "Grüße aus Köln " * 8
    assert parsed.subject == subject.value
    assert parsed.subject_raw == subject.raw_value
    assert parsed.from_[0].display_name == "Jörg Müller"
    assert parsed.header_values("SUBJECT") == (subject.value,)


def test_rfc2047_subjects_in_several_charsets_and_encodings():
    cases = [
        (b"=?UTF-8?B?w6nDqMOgIOKCrCDkuK3mlofpgq7ku7Y=?=", "éèà € 中文邮件"),
        (b"=?ISO-8859-1?Q?Caf=E9_cr=E8me_=E0_la_carte?=", "Café crème à la carte"),
        (b"=?gb2312?B?1tDOxNPKvP4=?=", "中文邮件"),
        (b"=?utf-8?q?Re=3A_caf=C3=A9?= =?iso-8859-1?b?LSBt6m1l?=", "Re: café- même"),
        (b"=?windows-1252?Q?=93quoted=94?=", "\u201cquoted\u201d"),
    ]
    for encoded, expected in cases:
        raw = (b"From: a@example.com\r\nDate: Tue, 02 Jan 2024 10:15:00 +0000\r\nSubject: "
               + encoded + b"\r\n\r\nbody\r\n")
        parsed = parse_message(raw)
        assert parsed.subject == expected, encoded
        assert parsed.subject_raw == encoded.decode()
        assert kinds(parsed) == set(), (encoded, parsed.anomalies)


def test_rfc2231_and_rfc2047_filenames_decoded_and_raw_kept():
    raw = (
        b"From: a@example.com\r\nDate: Tue, 02 Jan 2024 10:15:00 +0000\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
        b"--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--XX\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment;\r\n filename*=UTF-8''%E6%8A%A5%E5%91%8A%202024.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
        b"--XX\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*0*=iso-8859-1''r%E9sum;\r\n"
        b' filename*1="\xc3\xa9.doc"\r\n\r\nabc\r\n'
        b"--XX\r\nContent-Type: application/msword; name=\"=?utf-8?B?0L/RgNC40LLQtdGCLmRvYw==?=\"\r\n"
        b"\r\nabc\r\n--XX--\r\n")
    parsed = parse_message(raw)
    first, second, third = parsed.attachments
    assert first.filename == "报告 2024.pdf"
    assert first.filename_raw == "UTF-8''%E6%8A%A5%E5%91%8A%202024.pdf"
    assert first.content == b"%PDF-"
    # RFC 2231 section 4.1: only the first section names the charset; the second is 8-bit UTF-8
    # on the wire (RFC 6532) and is read as such.
    assert second.filename_raw == "iso-8859-1''r%E9sum\"é.doc\""
    assert second.filename == "résumé.doc"
    assert third.filename == "привет.doc"
    assert third.name == "привет.doc"
    assert third.name_raw == '"=?utf-8?B?0L/RgNC40LLQtdGCLmRvYw==?="'
    assert third.disposition is None and third.is_attachment


def test_nested_message_rfc822_is_summarised_and_its_parts_listed():
    inner = EmailMessage()
    inner["From"] = "Mallory <mallory@evil.example>"
    inner["To"] = "alice@example.com"
    inner["Subject"] = "=?utf-8?q?Urgent=3A_invoice?="
    inner["Date"] = "Mon, 01 Jan 2024 08:00:00 -0500"
    inner["Message-ID"] = "<inner@evil.example>"
    inner.set_content("Pay now: http://evil.example/pay")
    inner.add_attachment(b"MZ\x90\x00" * 64, maintype="application",
                         subtype="x-msdownload", filename="invoice.exe")
    outer = EmailMessage()
    outer["From"] = "alice@example.com"
    outer["To"] = "soc@example.com"
    outer["Subject"] = "Fwd: suspicious"
    outer["Date"] = "Mon, 01 Jan 2024 14:00:00 +0000"
    outer.set_content("See the attached message.")
    outer.add_attachment(inner)
    parsed = parse_message(outer.as_bytes(policy=policy.SMTP))
    by_path = {p.path: p for p in parsed.parts}
    assert list(by_path) == ["1", "1.1", "1.2", "1.2.1", "1.2.1.1", "1.2.1.2"]
    forwarded = by_path["1.2"]
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.is_multipart and not forwarded.is_attachment
    assert forwarded.message.subject == "Urgent: invoice"
    assert forwarded.message.from_[0].addr == "mallory@evil.example"
    assert forwarded.message.date == datetime(2024, 1, 1, 13, 0, tzinfo=timezone.utc)
    assert forwarded.message.message_id == "<inner@evil.example>"
    exe = by_path["1.2.1.2"]
    assert exe.filename == "invoice.exe" and exe.is_attachment and exe.depth == 3
    assert exe.sha256 == hashlib.sha256(b"MZ\x90\x00" * 64).hexdigest()
    assert parsed.urls == ("http://evil.example/pay",)
    assert parsed.subject == "Fwd: suspicious"


def test_smtputf8_addresses_and_raw_utf8_headers():
    msg = EmailMessage()
    msg["From"] = "Jörg <jörg@bücher.example>"
    msg["To"] = "用户@例子.广告"
    msg["Subject"] = "Grüße"
    msg["Date"] = "Tue, 02 Jan 2024 10:15:00 +0000"
    msg.set_content("Hallo")
    raw = msg.as_bytes(policy=policy.SMTPUTF8)
    assert "jörg@bücher.example".encode() in raw  # really 8-bit on the wire
    parsed = parse_message(raw)
    assert parsed.from_[0].addr == "jörg@bücher.example"
    assert parsed.from_[0].display_name == "Jörg"
    assert parsed.to[0].addr == "用户@例子.广告"
    assert parsed.subject == "Grüße"
    assert parsed.headers[0].raw.decode("utf-8") == "From: Jörg <jörg@bücher.example>"
    assert kinds(parsed) == set()


def test_single_part_message_is_path_1_and_not_an_attachment():
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["Date"] = "Tue, 02 Jan 2024 10:15:00 +0000"
    msg.set_content("plain body\n", cte="quoted-printable")
    parsed = parse_message(msg.as_bytes(policy=policy.SMTP))
    (part,) = parsed.parts
    assert (part.path, part.depth, part.parent, part.content_type) == ("1", 0, None, "text/plain")
    assert part.content == b"plain body\r\n"
    assert not part.is_attachment and parsed.attachments == ()
    assert part.headers is parsed.headers
