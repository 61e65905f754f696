"""Previews and readable HTML text collapse white space with str.split(); the oracle is the regex
they stand for, ``re.sub(r"\\s+", " ", text).strip()``.

Inputs: every code point (each alone between two letters, so that the two must agree on which
characters are white space), seeded random strings of white space of every kind, letters,
surrogate escapes and markup, and the text bodies the recorded clients sent (tests/data
sidecars).
"""
from __future__ import annotations

import html
import random
import re
import sys

from mail_oracles import captures_with_sidecars, sent_messages

from smtpsniff.mail.urls import _COMMENT, _SCRIPT_STYLE, _TAG, html_text, plain_preview

_SPACE = re.compile(r"\s+")


def _preview(text: str, chars: int) -> str:
    return _SPACE.sub(" ", text[: chars * 4]).strip()[:chars]


def _html_text(source: str) -> str:
    text = _SCRIPT_STYLE.sub(" ", source)
    text = _COMMENT.sub(" ", text)
    text = _TAG.sub(" ", text)
    return _SPACE.sub(" ", html.unescape(text)).strip()


def test_every_code_point_is_white_space_to_both_or_to_neither():
    for point in range(sys.maxunicode + 1):
        text = "a" + chr(point) + "b"
        assert plain_preview(text, 10) == _preview(text, 10), hex(point)


def test_previews_and_html_text_equal_the_regex_collapse():
    rng = random.Random(2045)
    alphabet = (" \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u202f\u3000"
                "\udcff\u200b\ufeffab<>&;/=\"'")
    texts = ["", " ", "a", " a ", "\r\n\r\n", "&nbsp;x&#32;y&#x2028;z", "<p>a</p>\n<!-- c -->b"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 1200)))
              for _ in range(3000)]
    for capture in captures_with_sidecars():
        texts.extend(message["bytes"].decode("utf-8", "replace") for message in
                     sent_messages(capture))
    for text in texts:
        for chars in (0, 1, 7, 200):
            assert plain_preview(text, chars) == _preview(text, chars), text
        assert html_text(text) == _html_text(text), text
