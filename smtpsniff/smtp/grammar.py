"""SMTP grammar: each compiled pattern under the RFC ABNF rule it implements, plus small parsers.

Patterns work on ``str`` decoded from the wire with ``errors="surrogateescape"`` (UTF-8 first, as
RFC 6531 SMTPUTF8 allows; any other byte survives as a lone surrogate, so ``.encode("utf-8",
"surrogateescape")`` gives the original bytes back).  Matching is lenient where real peers are
lenient (Postel), and the decoder reports the deviation as an anomaly.

This module knows no state, no events and no limits.
"""
from __future__ import annotations

import base64
import binascii
import re
import sys
from dataclasses import dataclass

WIRE_ENCODING = "utf-8"
WIRE_ERRORS = "surrogateescape"


def wire_text(data: bytes) -> str:
    """Bytes -> text for display and matching; reversible with :func:`wire_bytes`."""
    return data.decode(WIRE_ENCODING, WIRE_ERRORS)


def wire_bytes(text: str) -> bytes:
    return text.encode(WIRE_ENCODING, WIRE_ERRORS)


# ------------------------------------------------------------------------------------------------
# RFC 5321 4.1.1 / 4.1.3 / 4.1.4: commands.  verb = 4 letters in the base protocol, longer ones in
# extensions (STARTTLS RFC 3207, XCLIENT/XFORWARD Postfix).  RFC 5321 2.4: verbs are case-insensitive.
#   command = verb [SP argument] CRLF    (RFC 5321 4.1.1 writes each as "VERB" SP ... CRLF)
# Lenient: any run of spaces/tabs separates verb and argument; trailing blanks are dropped.
COMMAND_LINE = re.compile(r"^[ \t]*(?P<verb>[^ \t]+)(?:[ \t]+(?P<arg>.*?))?[ \t]*$", re.S)

#: Verbs of RFC 5321 and of the extensions and de-facto commands smtpsniff recognises.
KNOWN_VERBS: frozenset[str] = frozenset(
    {
        # RFC 5321 4.1.1, 4.1.4 (SEND/SOML/SAML/TURN obsolete), RFC 2033 LHLO (LMTP)
        "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "RSET", "VRFY", "EXPN", "HELP", "NOOP",
        "QUIT", "SEND", "SOML", "SAML", "TURN",
        "BDAT",  # RFC 3030
        "STARTTLS",  # RFC 3207
        "AUTH",  # RFC 4954
        "ETRN",  # RFC 1985
        "ATRN",  # RFC 2645
        "BURL",  # RFC 4468
        "XCLIENT", "XFORWARD",  # Postfix
        "VERB", "ONEX", "XUSR",  # Sendmail
        "XEXCH50", "X-EXPS", "X-LINK2STATE", "X-ANONYMOUSTLS",  # Microsoft Exchange
        "SIZE",  # seen in the wild from broken clients; kept known so it resynchronises
    }
)

# RFC 5321 4.1.2:
#   Path          = "<" [ A-d-l ":" ] Mailbox ">"
#   Reverse-path  = Path / "<>"
#   Mail-parameters = esmtp-param *(SP esmtp-param)
#   Quoted-string = DQUOTE *QcontentSMTP DQUOTE   (may hold ">" and spaces)
_PATH = r'<(?:"(?:[^"\\]|\\.)*"|[^>"])*>'
#   mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF   (RFC 5321 4.1.1.2)
#   rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
#          [SP Rcpt-parameters] CRLF                              (RFC 5321 4.1.1.3)
# Lenient: blanks after the colon, and a path without angle brackets (reported as an anomaly).
MAIL_ARGUMENT = re.compile(
    rf"^FROM:[ \t]*(?P<path>{_PATH}|[^ \t<>]+)(?:[ \t]+(?P<params>.*))?$", re.I | re.S
)
RCPT_ARGUMENT = re.compile(
    rf"^TO:[ \t]*(?P<path>{_PATH}|[^ \t<>]+)(?:[ \t]+(?P<params>.*))?$", re.I | re.S
)
#   A-d-l = At-domain *( "," At-domain ) ; source route, to be ignored (RFC 5321 4.1.2, C)
SOURCE_ROUTE = re.compile(r"^@[^:]*:")

#   esmtp-param   = esmtp-keyword ["=" esmtp-value]
#   esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
#   esmtp-value   = 1*(%d33-60 / %d62-126)   ; RFC 6531 3.3 adds UTF8-non-ascii
ESMTP_PARAM = re.compile(r"^(?P<key>[A-Za-z0-9][A-Za-z0-9-]*)(?:=(?P<value>[^=\s\x00-\x1f\x7f]*))?$")

# RFC 5321 4.2:
#   Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
#   Reply-code = %x32-35 %x30-35 %x30-39
# Lenient: any three digits (out-of-range codes are reported), text after "-"/" " kept verbatim.
REPLY_LINE = re.compile(r"^(?P<code>[0-9]{3})(?:(?P<sep>[ -])(?P<text>.*))?$", re.S)
STRICT_REPLY_CODE = re.compile(r"^[2-5][0-5][0-9]$")


def split_reply_line(content: bytes) -> tuple[str, str | None, str] | None:
    """:data:`REPLY_LINE` matched against ``wire_text(content)``, done on the bytes: ``(code, sep,
    text)`` (``sep`` None and ``text`` "" for a bare code), or None when it is no reply line.

    The code and separator are ASCII, so the text after them decodes on its own to the same
    characters; the line (``content``, terminator removed) holds no LF for ``$`` to stop at.
    """
    code = content[:3]
    if len(code) != 3 or not code.isdigit():  # bytes.isdigit: ASCII digits only, as [0-9]
        return None
    if len(content) == 3:
        return code.decode("ascii"), None, ""
    sep = content[3]
    if sep != 0x20 and sep != 0x2D:  # " " or "-"
        return None
    return code.decode("ascii"), "-" if sep == 0x2D else " ", content[4:].decode(WIRE_ENCODING, WIRE_ERRORS)
#: A whole reply as a well-behaved server sends it: one strict code on every line, "-" on all
#: but the last, CRLF after each, no other CR, LF or NUL (the decoder's fast path; anything else
#: is read line by line, with the anomalies it deserves).
PLAIN_REPLY = re.compile(rb"([2-5][0-5][0-9])(?:-[^\r\n\x00]*\r\n\1)*(?: [^\r\n\x00]*)?\r\n")
#: What a resynchronising server stream waits for after a gap (Zeek does the same).
REPLY_START = re.compile(rb"^[0-9]{3}(?:[ -]|\r?\n)")

# RFC 3463 2 (enhanced status codes, announced by ENHANCEDSTATUSCODES, RFC 2034):
#   status-code = class "." subject "." detail ; class = "2"/"4"/"5"; subject, detail = 1*3digit
# RFC 2034 3: it is the first thing of the text of each reply line.
ENHANCED_CODE = re.compile(r"^(?P<code>[245]\.[0-9]{1,3}\.[0-9]{1,3})(?=[ \t]|$)")

#: The one str object the decoder hands out for each known verb and each enhanced status code
#: ``class.subject.detail`` with a one-digit subject and a detail below 100 (RFC 3463 2 and the codes
#: registered since), the commonest, as ``SHARED_TEXT.get(text, text)``: commands, replies and their
#: records share it instead of each holding a new equal str.  Interned, so these are the objects the
#: C readers (``smtpsniff/_native/fastpath.c``) hand out too.  Values are equal either way.  Never changed.
SHARED_TEXT: dict[str, str] = {
    s: s for s in map(sys.intern, (*KNOWN_VERBS, *(f"{cls}.{subject}.{detail}" for cls in "245"
                                                    for subject in range(10) for detail in range(100))))
}

# RFC 3030 2:
#   bdat-cmd   ::= "BDAT" SP chunk-size [ SP end-marker ] CR LF
#   chunk-size ::= 1*DIGIT
#   end-marker ::= "LAST"
BDAT_ARGUMENT = re.compile(r"^(?P<size>[0-9]+)(?:[ \t]+(?P<last>LAST))?$", re.I)

# RFC 4954 4:
#   auth-command     = "AUTH" SP sasl-mech [SP initial-response] *(CRLF [base64]) [CRLF cancel-response] CRLF
#   sasl-mech        = 1*20mech-char ; mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE (RFC 4422 3.1)
#   initial-response = base64 / "="
#   cancel-response  = "*"
# Lenient: lower case mechanism names are accepted (and upper-cased).
AUTH_ARGUMENT = re.compile(r"^(?P<mech>[A-Za-z0-9_-]{1,20})(?:[ \t]+(?P<initial>\S+))?$")

# RFC 5321 4.1.4 (ehlo-line) / 4.1.1.1:
#   ehlo-line    = ehlo-keyword *( SP ehlo-param )
#   ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
#   ehlo-param   = 1*(%d33-126)
# "AUTH=LOGIN PLAIN" (pre-RFC 2554 Outlook form) is accepted as keyword "AUTH=".
EHLO_LINE = re.compile(
    r"^(?P<keyword>[A-Za-z0-9][A-Za-z0-9-]*)(?:(?P<eq>=)(?P<eqparams>.*?)|[ \t]+(?P<params>.*?))?[ \t]*$"
)

# RFC 3461 4: xtext = *( xchar / hexchar ); hexchar = "+" 2(%x30-39 / %x41-46)
_XTEXT_HEX = re.compile(r"\+([0-9A-Fa-f]{2})")
# RFC 6533 3: utf-8-addr-xtext adds "\x{" 1*6HEXDIG "}"
_UTF8_XTEXT = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")

#: ESMTP parameters whose value is xtext (RFC 3461 4.2 ENVID, 4.2 ORCPT; RFC 4954 5 AUTH=;
#: Postfix XCLIENT/XFORWARD attributes are xtext too).
XTEXT_PARAMS = frozenset({"ENVID", "ORCPT", "AUTH"})


def decode_xtext(value: str) -> str:
    """RFC 3461 4 xtext (and RFC 6533 unitext escapes) -> text; malformed escapes stay as they are."""
    value = _XTEXT_HEX.sub(lambda m: chr(int(m.group(1), 16)), value)
    return _UTF8_XTEXT.sub(lambda m: _safe_chr(int(m.group(1), 16), m.group(0)), value)


def _safe_chr(cp: int, fallback: str) -> str:
    try:
        return chr(cp)
    except (ValueError, OverflowError):
        return fallback


@dataclass(frozen=True, slots=True)
class ParamProblem:
    """A parameter the grammar (or its extension's rule) does not allow; text for an anomaly."""

    kind: str
    message: str


_NOTIFY_VALUES = {"SUCCESS", "FAILURE", "DELAY"}
#: Per-parameter value rules from their RFCs.
_VALUE_RULES: dict[str, tuple[re.Pattern[str] | None, str]] = {
    "SIZE": (re.compile(r"^[0-9]{1,20}$"), "RFC 1870 6: SIZE=1*20DIGIT"),
    "BODY": (re.compile(r"^(?:7BIT|8BITMIME|BINARYMIME)$", re.I), "RFC 6152 / RFC 3030: BODY=7BIT|8BITMIME|BINARYMIME"),
    "RET": (re.compile(r"^(?:FULL|HDRS)$", re.I), "RFC 3461 4.3: RET=FULL|HDRS"),
    "SMTPUTF8": (None, "RFC 6531 3.4: SMTPUTF8 takes no value"),
}


def parse_params(text: str | None) -> tuple[dict[str, str | None], list[ParamProblem]]:
    """RFC 5321 4.1.2 Mail-parameters / Rcpt-parameters -> ``{KEYWORD: value or None}``.

    Keywords are upper-cased (RFC 5321 2.4: case-insensitive); values are kept as sent.  A
    repeated keyword keeps its first value and is reported.
    """
    params: dict[str, str | None] = {}
    problems: list[ParamProblem] = []
    if not text:
        return params, problems
    for token in text.split():
        m = ESMTP_PARAM.match(token)
        if m is None:
            problems.append(ParamProblem("invalid_esmtp_param", f"not an esmtp-param: {token!r}"))
            continue
        key, value = m.group("key").upper(), m.group("value")
        if key in params:
            problems.append(ParamProblem("duplicate_esmtp_param", f"{key} given more than once"))
            continue
        params[key] = value
        problems.extend(_check_value(key, value))
    return params, problems


def _check_value(key: str, value: str | None) -> list[ParamProblem]:
    if key == "NOTIFY":
        parts = (value or "").upper().split(",")
        if parts != ["NEVER"] and not (parts and all(p in _NOTIFY_VALUES for p in parts)):
            return [ParamProblem("invalid_esmtp_param", f"RFC 3461 4.1: NOTIFY={value!r}")]
        return []
    rule = _VALUE_RULES.get(key)
    if rule is None:
        return []
    pattern, why = rule
    ok = value is None if pattern is None else (value is not None and pattern.match(value) is not None)
    return [] if ok else [ParamProblem("invalid_esmtp_param", f"{why}; got {key}={value!r}")]


def xtext_values(params: dict[str, str | None], *, all_xtext: bool = False) -> dict[str, str]:
    """Decoded values of the xtext parameters (all of them for XCLIENT/XFORWARD)."""
    return {
        k: decode_xtext(v)
        for k, v in params.items()
        if v is not None and (all_xtext or k in XTEXT_PARAMS)
    }


def strip_path(path: str) -> tuple[str, bool]:
    """``<@a,@b:user@d>`` -> (``user@d``, True); a path without brackets -> (itself, False).

    RFC 5321 4.1.2: the source route (A-d-l) must be accepted and ignored (appendix C).
    ``<>`` gives the empty string (the null reverse-path), never None.
    """
    if path.startswith("<") and path.endswith(">"):
        inner = path[1:-1]
        return SOURCE_ROUTE.sub("", inner, count=1), True
    return path, False


def decode_base64(text: str) -> bytes | None:
    """RFC 4648 base64 as RFC 4954 uses it; ``=`` is the empty response; None when not base64."""
    if text == "=":
        return b""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
