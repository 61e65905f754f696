"""Real-world shaped messages: a DKIM-signed header set, Exchange, an Outlook HTML mail."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from smtpsniff.mail import parse_message

DKIM_SIGNED = (
    b"Received: from mail-ej1-f54.google.com (mail-ej1-f54.google.com [209.85.218.54])\r\n"
    b"\tby mx.example.org (Postfix) with ESMTPS id 4T3Y0Z6ZxYz9sWn\r\n"
    b"\tfor <bob@example.org>; Tue,  2 Jan 2024 10:20:00 +0100 (CET)\r\n"
    b"ARC-Seal: i=1; a=rsa-sha256; t=1704187199; cv=none;\r\n"
    b"        d=google.com; s=arc-20160816;\r\n"
    b"        b=Zx1yPq\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    b"        d=gmail.com; s=20230601; t=1704187199; x=1704791999; darn=example.org;\r\n"
    b"        h=to:subject:message-id:date:from:mime-version:from:to:cc:subject\r\n"
    b"         :date:message-id:reply-to;\r\n"
    b"        bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
    b"        b=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    b"        d=1e100.net; s=20230601; t=1704187199;\r\n"
    b"        bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n"
    b"Authentication-Results: mx.example.org;\r\n"
    b"\tdkim=pass (2048-bit key; unprotected) header.d=gmail.com header.i=@gmail.com "
    b"header.a=rsa-sha256 header.s=20230601 header.b=dGhpcyBp;\r\n"
    b"\tdkim-atps=neutral\r\n"
    b"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=gmail.com\r\n"
    b"MIME-Version: 1.0\r\n"
    b"From: Sender Name <sender@gmail.com>\r\n"
    b"Date: Tue, 2 Jan 2024 10:19:59 +0100\r\n"
    b"Message-ID: <CAJx=u1@mail.gmail.com>\r\n"
    b"Subject: signed\r\n"
    b"To: bob@example.org\r\n"
    b'Content-Type: text/plain; charset="UTF-8"\r\n'
    b"\r\n"
    b"signed body\r\n"
)


def test_dkim_signed_header_set():
    parsed = parse_message(DKIM_SIGNED)
    assert parsed.dkim == (("gmail.com", "20230601"), ("1e100.net", "20230601"))
    assert len(parsed.authentication_results) == 2
    assert "dkim=pass" in parsed.authentication_results[0]
    assert parsed.authentication_results[1].endswith("spf=pass smtp.mailfrom=gmail.com")
    assert parsed.received[0].from_ips == ("209.85.218.54",)
    assert parsed.from_[0].addr == "sender@gmail.com"
    assert parsed.parts[0].charset == "utf-8"
    assert parsed.parts[0].content == b"signed body\r\n"
    dkim = [h for h in parsed.headers if h.name == "DKIM-Signature"][0]
    assert dkim.raw.count(b"\r\n") == 5  # six lines, folded exactly as sent
    assert parsed.anomalies == ()


EXCHANGE = (
    b"Received: from EXCH01.corp.example.com (10.1.2.3) by EXCH02.corp.example.com\r\n"
    b" (10.1.2.4) with Microsoft SMTP Server (TLS) id 15.1.2507.35; Tue, 2 Jan 2024\r\n"
    b" 10:30:00 +0100\r\n"
    b"Received: from EXCH01.corp.example.com ([fe80::1c2d:3e4f:5a6b:7c8d]) by\r\n"
    b" EXCH01.corp.example.com ([fe80::1c2d:3e4f:5a6b:7c8d%12]) with mapi id\r\n"
    b" 15.01.2507.035; Tue, 2 Jan 2024 10:29:59 +0100\r\n"
    b"From: =?iso-8859-1?Q?J=FCrgen_Schr=F6der?= <j.schroeder@corp.example.com>\r\n"
    b"To: \"'Partner'\" <partner@other.example>\r\n"
    b"Subject: AW: Angebot\r\n"
    b"Thread-Topic: Angebot\r\n"
    b"Thread-Index: AdoAbCdEfGhIjKlMnOpQrStUvWxYzA==\r\n"
    b"Date: Tue, 2 Jan 2024 09:29:58 +0000\r\n"
    b"Message-ID: <AM0PR07MB4321ABCDEF@AM0PR07MB4321.eurprd07.prod.outlook.com>\r\n"
    b"References: <a1@other.example>\r\n <a2@other.example>\r\n"
    b"In-Reply-To: <a2@other.example>\r\n"
    b"Accept-Language: de-DE, en-US\r\n"
    b"Content-Language: de-DE\r\n"
    b"X-MS-Has-Attach: yes\r\n"
    b"X-Originating-IP: [198.51.100.23]\r\n"
    b"X-Mailer: Microsoft Outlook 16.0\r\n"
    b"Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"MIME-Version: 1.0\r\n"
    b"\r\n"
    b"eJ8+IgAAAQA=\r\n"
)


def test_exchange_message_with_x_originating_ip_and_tnef():
    parsed = parse_message(EXCHANGE)
    assert parsed.x_originating_ip == "198.51.100.23"
    assert parsed.x_mailer == "Microsoft Outlook 16.0"
    assert parsed.from_[0].display_name == "Jürgen Schröder"
    assert parsed.to[0].display_name == "'Partner'"
    assert parsed.references == ("<a1@other.example>", "<a2@other.example>")
    assert parsed.in_reply_to == "<a2@other.example>"
    assert parsed.date == datetime(2024, 1, 2, 9, 29, 58, tzinfo=timezone.utc)
    first, second = parsed.received
    assert first.from_ips == ("10.1.2.3",) and first.by_host == "EXCH02.corp.example.com"
    assert first.with_protocol == "Microsoft SMTP Server" and first.id == "15.1.2507.35"
    assert first.timestamp == datetime(2024, 1, 2, 9, 30, tzinfo=timezone.utc)
    assert second.with_protocol == "mapi"
    assert parsed.received_path[0] == "10.1.2.4"  # Zeek's "second IP" rule
    (tnef,) = parsed.parts
    assert tnef.content_type == "application/ms-tnef" and tnef.is_attachment
    assert tnef.filename == "winmail.dat" and tnef.disposition is None
    assert tnef.content == bytes.fromhex("789f3e220000010000")[:8]
    assert tnef.sha1 == hashlib.sha1(tnef.content).hexdigest()


OUTLOOK_HTML = (
    b"From: \"IT Service Desk\" <it-support@micros0ft-helpdesk.example>\r\n"
    b"Reply-To: collect@attacker.example\r\n"
    b"To: victim@corp.example.com\r\n"
    b"Subject: =?utf-8?B?QWN0aW9uIHJlcXVpcmVkOiB5b3VyIG1haWxib3ggaXMgZnVsbA==?=\r\n"
    b"Date: Tue, 2 Jan 2024 11:00:00 +0000\r\n"
    b"Message-ID: <phish-1@micros0ft-helpdesk.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"X-Mailer: Microsoft Outlook 16.0\r\n"
    b"Content-Type: multipart/alternative;\r\n"
    b"\tboundary=\"----=_NextPart_000_0012_01DA3D7E.5A4B3C20\"\r\n"
    b"\r\n"
    b"This is a multipart message in MIME format.\r\n"
    b"\r\n"
    b"------=_NextPart_000_0012_01DA3D7E.5A4B3C20\r\n"
    b"Content-Type: text/plain;\r\n\tcharset=\"windows-1252\"\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Your mailbox is full. Log in at https://login.micros0ft-helpdesk.example/owa/?u=3Dvic=\r\n"
    b"tim to keep your mail. =96 IT\r\n"
    b"\r\n"
    b"------=_NextPart_000_0012_01DA3D7E.5A4B3C20\r\n"
    b"Content-Type: text/html;\r\n\tcharset=\"windows-1252\"\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<html xmlns:o=3D\"urn:schemas-microsoft-com:office:office\"><head><style>p.MsoNormal=\r\n"
    b" {margin:0cm;}</style></head><body lang=3DDE><div class=3DWordSection1>\r\n"
    b"<p class=3DMsoNormal>Your mailbox is full. <a href=3D\"https://login.micros0ft-helpdes=\r\n"
    b"k.example/owa/?u=3Dvictim&amp;r=3D1\">Click here</a> or visit <a href=3D'http://bit.e=\r\n"
    b"xample/x'>this</a>. =96 IT</p><img src=3D\"cid:image001.png@01DA3D7E\"><a href=3D\"mailto:a@b\">m</a>\r\n"
    b"</div></body></html>\r\n"
    b"\r\n"
    b"------=_NextPart_000_0012_01DA3D7E.5A4B3C20--\r\n"
)


def test_outlook_html_mail_with_links():
    parsed = parse_message(OUTLOOK_HTML)
    assert parsed.subject == "Action required: your mailbox is full"
    assert parsed.reply_to[0].addr == "collect@attacker.example"
    assert parsed.from_[0].display_name == "IT Service Desk"
    assert parsed.urls == (
        "https://login.micros0ft-helpdesk.example/owa/?u=victim",
        "https://login.micros0ft-helpdesk.example/owa/?u=victim&r=1",
        "http://bit.example/x",
    )
    text, html = parsed.parts[1], parsed.parts[2]
    assert text.charset == "windows-1252" and text.transfer_encoding == "quoted-printable"
    assert text.preview == ("Your mailbox is full. Log in at https://login.micros0ft-helpdesk"
                            ".example/owa/?u=victim to keep your mail. \u2013 IT")
    assert html.preview == "Your mailbox is full. Click here or visit this . \u2013 IT m"
    assert b"=3D" not in html.content and b"<a href=\"https://login" in html.content
    assert parsed.attachments == ()
    assert parsed.anomalies == ()
