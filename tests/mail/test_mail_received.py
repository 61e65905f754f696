"""Received stamps of common MTAs, and the Zeek-style path built from them."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail import parse_message, zeek_path
from smtpsniff.mail.received import path_ip

# A Gmail user writing to a Postfix site: newest hop first, as on the wire.
POSTFIX_GMAIL_CHAIN = (
    b"Return-Path: <sender@gmail.com>\r\n"
    b"Delivered-To: bob@example.org\r\n"
    b"Received: from mx.example.org (localhost [127.0.0.1])\r\n"
    b"\tby mail.example.org (Postfix) with ESMTP id 4T3Xk21Q2Dz9sWn\r\n"
    b"\tfor <bob@example.org>; Tue,  2 Jan 2024 10:15:07 +0100 (CET)\r\n"
    b"Received: from mail-wm1-f41.google.com (mail-wm1-f41.google.com [209.85.128.41])\r\n"
    b"\t(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)\r\n"
    b"\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n"
    b"\t(No client certificate requested)\r\n"
    b"\tby mx.example.org (Postfix) with ESMTPS id 4T3Xk15hWbz9sWm\r\n"
    b"\tfor <bob@example.org>; Tue,  2 Jan 2024 10:15:05 +0100 (CET)\r\n"
    b"Received: by mail-wm1-f41.google.com with SMTP id 5b1f17b1804b1-40d5336986cso12345675e9.1\r\n"
    b"        for <bob@example.org>; Tue, 02 Jan 2024 01:15:03 -0800 (PST)\r\n"
    b"Received: from [192.168.1.23] ([2a02:8109:9a40:1234::5])\r\n"
    b"        by smtp.gmail.com with ESMTPSA id m5-20020a05600c4f4500b0040d5a5c523csm1234567wmq.1.2024.01.02.01.15.02\r\n"
    b"        for <bob@example.org>\r\n"
    b"        (version=TLS1_3 cipher=TLS_AES_128_GCM_SHA256 bits=128/128);\r\n"
    b"        Tue, 02 Jan 2024 01:15:02 -0800 (PST)\r\n"
    b"From: Sender <sender@gmail.com>\r\n"
    b"Date: Tue, 2 Jan 2024 10:15:01 +0100\r\n"
    b"Message-ID: <CAF=abc@mail.gmail.com>\r\n"
    b"Subject: hello\r\n"
    b"To: bob@example.org\r\n"
    b"\r\nhi\r\n"
)


def test_postfix_gmail_chain():
    parsed = parse_message(POSTFIX_GMAIL_CHAIN)
    assert len(parsed.received) == 4
    local, mx, gmail_out, gmail_sub = parsed.received
    assert (local.from_host, local.from_rdns, local.from_ips) == (
        "mx.example.org", "localhost", ("127.0.0.1",))
    assert (local.by_host, local.with_protocol, local.id, local.for_) == (
        "mail.example.org", "ESMTP", "4T3Xk21Q2Dz9sWn", "bob@example.org")
    assert local.timestamp == datetime(2024, 1, 2, 9, 15, 7, tzinfo=timezone.utc)
    assert local.timestamp_raw == "Tue,  2 Jan 2024 10:15:07 +0100 (CET)"
    assert mx.from_host == "mail-wm1-f41.google.com"
    assert mx.from_ips == ("209.85.128.41",)
    assert (mx.by_host, mx.with_protocol, mx.id) == ("mx.example.org", "ESMTPS", "4T3Xk15hWbz9sWm")
    assert gmail_out.from_host is None and gmail_out.from_ips == ()
    assert gmail_out.by_host == "mail-wm1-f41.google.com" and gmail_out.with_protocol == "SMTP"
    assert gmail_out.timestamp == datetime(2024, 1, 2, 9, 15, 3, tzinfo=timezone.utc)
    assert gmail_sub.from_host == "[192.168.1.23]"
    assert gmail_sub.from_ips == ("192.168.1.23", "2a02:8109:9a40:1234::5")
    assert gmail_sub.with_protocol == "ESMTPSA" and gmail_sub.for_ == "bob@example.org"
    assert gmail_sub.index == 3
    # Zeek: second wrapped IP when there are two, else the first; repeats collapsed.
    assert parsed.received_path == ("127.0.0.1", "209.85.128.41", "2a02:8109:9a40:1234::5")
    assert zeek_path(parsed.received_path, client_ip="209.85.128.41", server_ip="192.0.2.25") == (
        "192.0.2.25", "209.85.128.41", "127.0.0.1", "209.85.128.41", "2a02:8109:9a40:1234::5")
    assert parsed.return_path == "sender@gmail.com"
    assert parsed.anomalies == ()


def hop(value: str):
    raw = f"From: a@b.example\r\nDate: Tue, 2 Jan 2024 10:15:01 +0100\r\nReceived: {value}\r\n\r\n"
    return parse_message(raw.encode()).received[0]


def test_exim_stamp():
    h = hop("from [198.51.100.7] (helo=client.example.net)\r\n\tby mx.example.com with esmtpsa"
            "  (TLS1.3) tls TLS_AES_256_GCM_SHA384\r\n\t(Exim 4.96)\r\n\t(envelope-from "
            "<a@client.example.net>)\r\n\tid 1rKXy2-000ABC-2F\r\n\tfor bob@example.com; "
            "Tue, 02 Jan 2024 10:15:00 +0000")
    assert h.from_host == "[198.51.100.7]" and h.from_helo == "client.example.net"
    assert h.from_ips == ("198.51.100.7",)
    assert h.by_host == "mx.example.com" and h.with_protocol == "esmtpsa"
    assert h.id == "1rKXy2-000ABC-2F" and h.for_ == "bob@example.com"
    assert h.timestamp == datetime(2024, 1, 2, 10, 15, tzinfo=timezone.utc)


def test_sendmail_stamp_may_be_forged():
    h = hop("from client.example (dsl-1.isp.example [203.0.113.9] (may be forged))\r\n\t"
            "by mx.example.com (8.15.2/8.15.2) with ESMTP id 402AF0xK012345\r\n\tfor "
            "<bob@example.com>; Tue, 2 Jan 2024 10:15:00 -0500")
    assert (h.from_host, h.from_rdns, h.from_ips) == ("client.example", "dsl-1.isp.example",
                                                      ("203.0.113.9",))
    assert h.by_host == "mx.example.com" and h.id == "402AF0xK012345"
    assert h.timestamp == datetime(2024, 1, 2, 15, 15, tzinfo=timezone.utc)


def test_exchange_online_stamp_and_zeek_second_ip_rule():
    value = ("from AM0PR07MB4321.eurprd07.prod.outlook.com (2603:10a6:208:1c0::17) by "
             "AM0PR07MB1234.eurprd07.prod.outlook.com (2603:10a6:208:ac::15) with Microsoft SMTP "
             "Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id "
             "15.20.7159.14; Tue, 2 Jan 2024 10:15:00 +0000")
    h = hop(value)
    assert h.from_host == "AM0PR07MB4321.eurprd07.prod.outlook.com"
    assert h.from_ips == ("2603:10a6:208:1c0::17",)
    assert h.by_host == "AM0PR07MB1234.eurprd07.prod.outlook.com"
    assert h.with_protocol == "Microsoft SMTP Server"
    assert h.id == "15.20.7159.14"
    assert path_ip(value) == "2603:10a6:208:ac::15"  # Zeek takes the second of two


def test_qmail_and_no_clause_stamps():
    h = hop("from unknown (HELO relay.example) (192.0.2.44)\r\n  by mail.example.com with SMTP; "
            "2 Jan 2024 10:15:00 -0000")
    assert h.from_host == "unknown" and h.from_helo == "relay.example"
    assert h.from_ips == ("192.0.2.44",) and h.from_rdns is None
    assert h.timestamp == datetime(2024, 1, 2, 10, 15, tzinfo=timezone.utc)
    h = hop("(qmail 12345 invoked by uid 89); 2 Jan 2024 10:15:00 -0000")
    assert (h.from_host, h.by_host, h.from_ips) == (None, None, ())
    assert h.timestamp is not None


def test_received_with_bad_date_keeps_clauses():
    parsed = parse_message(b"From: a@b.example\r\nDate: Tue, 2 Jan 2024 10:15:01 +0100\r\n"
                           b"Received: from x (y [192.0.2.1]) by z; yesterday\r\n\r\n")
    (h,) = parsed.received
    assert h.timestamp is None and h.timestamp_raw == "yesterday"
    assert h.from_ips == ("192.0.2.1",) and h.by_host == "z"
    assert "date_unparseable" in {a.kind for a in parsed.anomalies}


def test_path_ip_needs_wrapping_like_zeek():
    assert path_ip("from host1.2.3.4.example by x") is None
    assert path_ip("from a (b [192.0.2.1]) by c") == "192.0.2.1"
    assert path_ip("from a ([IPv6:2001:db8::1]) by c") == "2001:db8::1"
    assert path_ip("192.0.2.9") == "192.0.2.9"
    assert path_ip("from a (1.2.3.999) by b") is None


def test_received_path_limit():
    raw = b"".join(b"Received: from h (h [192.0.2.%d])\r\n" % (i % 250 + 1) for i in range(20))
    parsed = parse_message(raw + b"\r\n", limits=replace(DEFAULT_LIMITS, max_received_path=5))
    assert len(parsed.received) == 20
    assert len(parsed.received_path) == 5
    assert "received_path_limit" in {a.kind for a in parsed.anomalies}
