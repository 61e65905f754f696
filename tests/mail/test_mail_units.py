"""The small pure helpers: transfer decoders, raw parameters, URL finding, dates."""
from __future__ import annotations

import base64
from datetime import datetime, timezone

from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import msg_ids, parse_date
from smtpsniff.mail.mime import decode_base64, decode_quoted_printable, raw_params
from smtpsniff.mail.urls import dedupe, html_text, html_urls, text_urls


def test_decode_base64_clean_and_damaged():
    data = bytes(range(200))
    enc = base64.encodebytes(data)
    assert decode_base64(enc) == (data, None)
    out, problem = decode_base64(enc.replace(b"\n", b"\n#", 1))
    assert out == data and problem
    out, problem = decode_base64(b"QUJD=RE\xff\xfe")  # "=" mid-stream, 8-bit junk
    assert out.startswith(b"ABC") and problem
    assert decode_base64(b"")[0] == b""


def test_decode_quoted_printable():
    assert decode_quoted_printable(b"a=3Db=\r\nc= \r\nd=\re=\nf") == (b"a=bcdef", None)
    assert decode_quoted_printable(b"x=3d")[1] is None  # lower-case hex is tolerated
    out, problem = decode_quoted_printable(b"50% =G0 off")
    assert out == b"50% =G0 off" and "offset 4" in problem


def test_raw_params():
    value = 'attachment; filename="a b.txt"; size=3'
    assert raw_params(value, "filename") == '"a b.txt"'
    assert raw_params(value, "name") is None
    value = "attachment; filename*1=\"b.txt\"; filename*0*=utf-8''a%20"
    assert raw_params(value, "filename") == "utf-8''a%20\"b.txt\""
    assert raw_params(None, "filename") is None


def test_text_and_html_urls():
    text = "See https://a.example/x, (http://b.example/y) and ftp://c.example/z. www.no.example"
    assert text_urls(text) == ["https://a.example/x", "http://b.example/y", "ftp://c.example/z"]
    html = ('<html xmlns="http://www.w3.org/1999/xhtml"><a HREF=\'https://d.example/?a=1&amp;b=2\''
            '>x</a><img src=cid:x><form action="http://e.example/post"></form>'
            "<p>visit https://f.example/ now</p><script>var u='https://g.example/';</script></html>")
    assert html_urls(html) == ["https://d.example/?a=1&b=2", "http://e.example/post",
                               "https://f.example/"]
    assert html_text(html) == "x visit https://f.example/ now"
    assert dedupe(["a", "b", "a", "c"], 2) == (("a", "b"), 1)


def test_dates_and_msg_ids():
    log = AnomalyLog(10)
    assert parse_date("Mon, 5 Oct 2009 11:36:07 +0530", "t", log) == datetime(
        2009, 10, 5, 6, 6, 7, tzinfo=timezone.utc)
    assert parse_date("5 Oct 09 11:36 EST", "t", log) == datetime(2009, 10, 5, 16, 36,
                                                                tzinfo=timezone.utc)
    assert parse_date("", "t", log) is None
    assert log.kinds() <= {"date_unparseable"}
    assert msg_ids("<a@b>\r\n <c@d> junk") == ("<a@b>", "<c@d>")
    assert msg_ids("bare-id") == ("bare-id",)
