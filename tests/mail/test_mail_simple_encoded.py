"""RFC 2047 encoded words read by :mod:`smtpsniff.mail.simple` without the stdlib's parser.

Unstructured values (Subject, DKIM-Signature, ...) and address lists whose display names hold
encoded words or quoted strings are answered by ``simple_value`` / ``simple_mailboxes`` when
they are in a strict subset; the oracle is the stdlib itself (``email.policy.default``'s header
classes, and ``email._encoded_words.decode`` for single words).  Whenever the fast path answers,
its answer must equal ``str()`` of the stdlib header (and the stdlib's mailboxes), the stdlib
must record no defect for that value (in the header, and for a value with ``=?`` anywhere in
its parse tree), and ``decode_value`` must log nothing; ``decode_value`` must equal the
stdlib's ``str()`` for every value.

Inputs: the header values of mail the stdlib's own writers make (``EmailMessage`` with
``Address`` lists, ``email.header.Header``, ``email.utils.formataddr``, folded by
``policy.default``), hand-made words of random text in several scripts under many charsets and
both encodings, seeded mutations of all of them (broken padding, bad hex, unknown charsets,
extra blanks, tabs, words run together, quotes, specials, control characters, empty words), and
the realistic messages ``make_capture.py --transcripts realistic`` writes, and the messages of
the recorded captures.  Whole messages are also
parsed with and without the fast path, which must give the same ``ParsedMessage``.  The tests
check the fast path takes most encoded values, so that they keep comparing something.
"""
from __future__ import annotations

import base64
import codecs
import random
import subprocess
import sys
from email import _encoded_words, policy
from email.header import Header as EmailHeader
from email.headerregistry import Address as StdAddress
from email.message import EmailMessage
from email.utils import formataddr

import pytest
from corpus import realistic_messages
from mail_oracles import captures_with_sidecars, sent_messages

from smtpsniff.mail import parse, simple
from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import HeaderParses, decode_value
from smtpsniff.mail.simple import simple_mailboxes, simple_value

STDLIB = policy.default.header_factory
_ADDRESS_FIELDS = ("From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Resent-From")
_UNSTRUCTURED_FIELDS = ("Subject", "DKIM-Signature", "Thread-Topic", "X-Note")

# Pieces of text: several scripts, and what the stdlib treats specially (specials, quotes,
# white space of every kind, control characters, the encoded-word delimiters).
_PIECES = ["José", "Müller", "Zoë", "Ångström", "Françoise", "Søren", "Łódź", "Straße", "naïve",
           "Иван", "Петров", "Ελλάδα", "李小龙", "会议通知", "下周一", "日本語", "テスト", "한국어",
           "שלום", "مرحبا", "😀", "€", "–", "…", "Alice", "Bob", "O'Neil", "Re:", "Fwd:", "#1",
           "100%", "x", "a b", ",", '"', "\\", "(", ")", "<", ">", "@", ".", ":", ";", "[", "]",
           "_", "=", "?", "=?", "?=", " ", "  ", "\t", "\u00a0", "\u3000", "\u2028", "\x85",
           "\x00", "\x7f", "\r\n", "\x0b", "\ufeff"]
_CHARSETS = ["utf-8", "iso-8859-1", "iso-8859-2", "iso-8859-5", "iso-8859-7", "iso-8859-15",
             "koi8-r", "windows-1251", "windows-1252", "gb2312", "gbk", "gb18030", "big5",
             "shift_jis", "euc-jp", "iso-2022-jp", "euc-kr", "us-ascii", "utf-7", "utf-16"]
_SPELLINGS = {"utf-8": ["utf-8", "UTF-8", "Utf-8", "utf8", "utf-8*en", "UTF-8*de-DE"],
              "iso-8859-1": ["iso-8859-1", "ISO-8859-1", "latin1"],
              "windows-1252": ["windows-1252", "Windows-1252", "cp1252"],
              "shift_jis": ["shift_jis", "Shift_JIS", "sjis"]}
_NOISE = [" ", "  ", "\t", "=", "?", "==", "=?", "?=", "_", "=ZZ", "=4", '"', ",", "<", ">",
          "(", ")", ":", ";", "@", ".", "\\", "é", "\x00", "\x01", "*en", "=?utf-8?q??=",
          "=?utf-8?b??=", "=?bogus?q?x?=", "=?unknown-8bit?q?=FF?=", ", ", " <a@b.c>"]


def _check(name: str, value: str) -> bool:
    """Assert the fast path agrees with the stdlib on ``value``; True if it answered."""
    fast = simple_value(STDLIB[name], value)
    boxes = simple_mailboxes(value) if name in _ADDRESS_FIELDS else None
    assert HeaderParses().simple(name, value) == fast, (name, value)
    try:
        header = STDLIB(name, value)
    except Exception:  # noqa: BLE001  # the stdlib raises on some values: then the fast
        # path must not answer
        assert fast is None and boxes is None, (name, value)
        return False
    log = AnomalyLog(100)
    assert decode_value(name, value, log, HeaderParses()) == str(header), (name, value)
    if fast is None and boxes is None:
        return False
    assert header.defects == (), (name, value, header.defects)
    assert header._parse_tree.all_defects == [], (name, value, header._parse_tree.all_defects)
    assert not log.freeze(), (name, value)
    if fast is not None:
        assert fast == str(header), (name, value)
    if boxes is not None:
        assert boxes == [(a.display_name, a.addr_spec) for a in header.addresses], (name, value)
    return True


# -- making encoded words -------------------------------------------------------------------

def _text(rng: random.Random, clean: bool) -> str:
    pieces = _PIECES[:40] if clean else _PIECES  # the first ones are plain letters and marks
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 4)))


def _charset_for(rng: random.Random, text: str) -> tuple[str, bytes]:
    """A charset that can write ``text`` (utf-8 when none of the others can), spelled as mail
    spells it, and the text's bytes in it."""
    usable = [c for c in _CHARSETS if _encodes(text, c)] or ["utf-8"]
    charset = rng.choice(usable)
    spelling = rng.choice(_SPELLINGS.get(charset, [charset, charset.upper()]))
    return spelling, text.encode(charset, "surrogatepass")


def _encodes(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def _q(data: bytes, rng: random.Random) -> str:
    """RFC 2047 section 4.2 "Q" text, with the choices writers make (hex case, "_" or "=20")."""
    out = []
    lower = rng.random() < 0.2
    for byte in data:
        char = chr(byte)
        if char == " " and rng.random() < 0.8:
            out.append("_")
        elif char.isascii() and char.isalnum() or char in "!*+-/":
            out.append(char)
        else:
            out.append(f"={byte:02x}" if lower else f"={byte:02X}")
    return "".join(out)


def _word(data: bytes, spelling: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"=?{spelling}?{rng.choice('bB')}?{base64.b64encode(data).decode('ascii')}?="
    return f"=?{spelling}?{rng.choice('qQ')}?{_q(data, rng)}?="


def _encoded(rng: random.Random, text: str) -> str:
    """``text`` as encoded words, the way one of the stdlib's writers or a hand-made one would."""
    roll = rng.random()
    if roll < 0.2:  # email.header.Header, folded: unfolded as smtpsniff unfolds
        charset = rng.choice([c for c in ("utf-8", "iso-8859-1", "koi8-r", "iso-2022-jp",
                                          "euc-jp", "big5", "gb2312") if _encodes(text, c)]
                             or ["utf-8"])
        try:
            header = EmailHeader(text, charset)
        except UnicodeError:  # a charset whose output codec cannot write the text
            header = EmailHeader(text, "utf-8")
        return header.encode().replace("\r\n", "").replace("\n", "")
    spelling, data = _charset_for(rng, text)
    if roll < 0.4 and len(text) > 1:  # split in two words, at a character boundary or not
        if rng.random() < 0.7:
            cut = rng.randint(1, len(text) - 1)
            charset = spelling.partition("*")[0]
            try:
                first = text[:cut].encode(charset)
                second = text[cut:].encode(charset)
            except (UnicodeEncodeError, LookupError):
                first, second = data[:1], data[1:]
        else:
            cut = rng.randint(0, len(data))
            first, second = data[:cut], data[cut:]
        return _word(first, spelling, rng) + rng.choice([" ", " ", "\t", "  "]) + _word(
            second, spelling, rng)
    return _word(data, spelling, rng)


def _mutated(rng: random.Random, value: str) -> str:
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        at = rng.randint(0, len(value))
        if roll < 0.45:
            value = value[:at] + rng.choice(_NOISE) + value[at:]
        elif roll < 0.6 and value:
            value = value[:at] + value[at + 1:]
        elif roll < 0.7:
            value = value.replace("=?=", "?=", 1)  # padding cut
        elif roll < 0.8:
            value = value.replace("?=", "=?=", 1)  # padding added
        elif roll < 0.9:
            value = value.replace(rng.choice(["utf-8", "UTF-8", "iso-8859-1", "koi8-r"]),
                                  rng.choice(["bogus", "x-unknown", "utf-7", "unknown-8bit",
                                              "base64", "undefined"]), 1)
        else:
            value = value.replace(" ", rng.choice(["", "  ", "\t", " \t "]), 1)
    return value


def _unstructured_value(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(1, 5)):
        if rng.random() < 0.5:
            words.append(_encoded(rng, _text(rng, rng.random() < 0.7)))
        else:
            words.append(rng.choice(["Rapport", "Re:", "[list]", "a=b;", "q?", "#42", "x",
                                     "v=1;", "h=from:to;", "?=", "(c)"]))
    separators = [" "] * 8 + ["  ", "\t", " \t"]
    value = words[0]
    for word in words[1:]:
        value += rng.choice(separators) + word
    return value


def _addr(rng: random.Random) -> str:
    return f"{rng.choice(['a', 'rcpt1x0', 'j.smith', 'x+y'])}@{rng.choice(['b.c', 'example.org'])}"


def _mailbox(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.1:
        return _addr(rng)
    if roll < 0.15:
        return f"<{_addr(rng)}>"
    name = _text(rng, rng.random() < 0.7)
    if roll < 0.35:  # the stdlib's writer: headerregistry.Address, folded by policy.default
        try:
            folded = STDLIB("To", [StdAddress(name, addr_spec=_addr(rng))]).fold(
                policy=policy.default)
        except Exception:  # noqa: BLE001  # names the stdlib refuses to write
            return _addr(rng)
        return folded[len("To: "):].replace("\r\n", "").replace("\n", "")
    if roll < 0.5:  # email.utils.formataddr (quotes an ASCII name with specials)
        charset = rng.choice(["utf-8", "iso-8859-1", "koi8-r"])
        try:
            return formataddr((name, _addr(rng)), charset).replace("\n", "")
        except (UnicodeEncodeError, LookupError):
            return _addr(rng)
    words = [_encoded(rng, name) if rng.random() < 0.8 else _quoted(rng)]
    if rng.random() < 0.2:
        words.insert(rng.randint(0, 1), _quoted(rng))
    if rng.random() < 0.4:
        words.insert(rng.randint(0, 1), rng.choice(["Alice", "Kierkegaard", "O'Neil", "Jr"]))
    if rng.random() < 0.2:
        words.append(_encoded(rng, _text(rng, True)))
    return rng.choice([" ", " ", "  ", "\t"]).join(words) + rng.choice([" ", " ", "\t"]) + \
        f"<{_addr(rng)}>"


def _quoted(rng: random.Random) -> str:
    """An RFC 5322 quoted string of ASCII: specials, blanks, quoted-pairs, now and then an
    encoded word or a lone backslash."""
    pieces = ["Smith", ",", " ", "  ", "\t", "J.", "(x)", "<a@b>", ":", ";", "@", "[", "]", "\\\"",
              "\\\\", "\\a", "'", "=?utf-8?q?a?=", "\\ ", "=", "?", "#"]
    return '"' + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4))) + '"'


def _address_value(rng: random.Random) -> str:
    items = [_mailbox(rng) for _ in range(rng.randint(1, 4))]
    return "".join(item + rng.choice([", ", ", ", ",", ",\t", " , "]) for item in items[:-1]) + \
        items[-1]


def _generated(count: int, seed: int) -> list[tuple[str, str, bool]]:
    """(field, value, mutated) triples."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        if rng.random() < 0.5:
            name, value = rng.choice(_UNSTRUCTURED_FIELDS), _unstructured_value(rng)
        else:
            name, value = rng.choice(_ADDRESS_FIELDS), _address_value(rng)
        mutated = rng.random() < 0.4
        out.append((name, _mutated(rng, value) if mutated else value, mutated))
    return out


# -- messages -------------------------------------------------------------------------------

def _written_messages(count: int = 60, seed: int = 7) -> list[bytes]:
    """Messages as the stdlib's EmailMessage writes them: encoded display names in From, To and
    Cc, an encoded Subject, a folded DKIM-Signature (shaped as real mail is)."""
    rng = random.Random(seed)
    names = ["José Müller", "Zoë Ångström", "李小龙", "Иван Петров", "Alice Smith", "Bob O'Neil",
             "Françoise Dupont", "Søren Kierkegaard", "Müller, José", 'Dr. Zoë "Z" (Å)',
             "Smith, John", 'Dr. "Who"', "J. R. R. Tolkien"]
    subjects = ["Réunion de projet – compte rendu", "Quarterly report", "Ваш заказ отправлен",
                "会议通知：下周一", "Re: Fwd: Überweisung bestätigt", "Lunch?", "日本語のテスト"]
    out = []
    for n in range(count):
        m = EmailMessage(policy=policy.SMTP)
        m["DKIM-Signature"] = (f"v=1; a=rsa-sha256; d=example.com; s=sel{n}; "
                               f"h=from:to:subject; bh={'A' * 44}; b={'B' * rng.randint(40, 340)}")
        m["From"] = StdAddress(rng.choice(names), f"sender{n}", "example.com")
        m["To"] = [StdAddress(rng.choice(names), f"rcpt{n}x{k}", "example.org")
                   for k in range(rng.randint(1, 4))]
        if rng.random() < 0.5:
            m["Cc"] = [StdAddress(rng.choice(names), f"cc{n}x{k}", "example.net")
                       for k in range(rng.randint(1, 3))]
        m["Subject"] = f"{rng.choice(subjects)} {n}"
        m.set_content("Bonjour.\n")
        out.append(m.as_bytes(policy=policy.SMTP))
    return out


def _capture_messages() -> list[bytes]:
    """The messages the recorded clients sent, as the captures hold them."""
    return [message["bytes"] for capture in captures_with_sidecars() for message in sent_messages(capture)]


def _values(messages: list[bytes]) -> list[tuple[str, str]]:
    """Every (name, raw value) of every entity of the messages, as parse_message reads them."""
    values = set()
    for raw in messages:
        for part in parse.parse_message(raw).parts:
            values.update((h.name, h.raw_value) for h in part.headers)
    return sorted(values)


def _encoded_share(values: list[tuple[str, str]]) -> tuple[int, int]:
    """(encoded values the fast path answered, encoded values), each checked."""
    answered = encoded = 0
    for name, value in values:
        took = _check(name, value)
        if "=?" in value and (name in _ADDRESS_FIELDS or name in ("Subject", "DKIM-Signature")):
            encoded += 1
            answered += took
    return answered, encoded


# -- the tests ------------------------------------------------------------------------------

def test_values_the_stdlib_writes_are_answered_exactly():
    answered, encoded = _encoded_share(_values(_written_messages()))
    print(f"fast path: {answered} of {encoded} encoded values written by the stdlib")
    assert encoded > 100 and answered >= 0.9 * encoded, (answered, encoded)


def test_realistic_corpus_values_are_answered_exactly():
    answered, encoded = _encoded_share(_values(realistic_messages()))
    print(f"fast path: {answered} of {encoded} encoded values of the realistic corpus")
    assert encoded > 200 and answered >= 0.9 * encoded, (answered, encoded)


def test_capture_messages_values_agree_with_the_stdlib():
    values = _values(_capture_messages())
    assert sum(_check(name, value) for name, value in values) > len(values) // 2


def test_generated_values_agree_with_the_stdlib():
    cases = _generated(5000, 2047)
    answered = {True: 0, False: 0}
    for name, value, mutated in cases:
        answered[mutated] += _check(name, value)
    clean = sum(not mutated for _, _, mutated in cases)
    print(f"fast path: {answered[False]} of {clean} generated values, "
          f"{answered[True]} of {len(cases) - clean} mutated ones")
    # both sides are exercised: most clean values are answered, many mutated ones are not
    assert answered[False] > 0.5 * clean, answered
    assert 0 < answered[True] < 0.8 * (len(cases) - clean), answered


def test_single_words_decode_as_the_stdlib_decodes_them():
    """_decoded_text against email._encoded_words.decode, for every charset spelling the table
    holds (and unknown ones), on text and on random bytes, B and Q, padding cut or not."""
    rng = random.Random(4648)
    spellings = [*simple._CHARSET_CODECS, "UTF-8", "ISO-8859-15", "bogus", "utf-7",
                 "unknown-8bit", "utf-16", "undefined"]
    answered = 0
    for _ in range(4000):
        spelling = rng.choice(spellings)
        if rng.random() < 0.5:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))
        else:
            try:
                data = _text(rng, rng.random() < 0.8).encode(spelling, "strict")
            except (UnicodeError, LookupError):
                data = _text(rng, True).encode("utf-8")
        word = _word(data, spelling, rng)
        if rng.random() < 0.15:
            word = word.replace("=?=", "?=", 1)
        match = simple._ENCODED_WORD.fullmatch(word)
        if match is None:
            continue
        mine = simple._decoded_text(*match.groups())
        if mine is None:
            continue
        answered += 1
        text, _, _, defects = _encoded_words.decode(word)
        assert defects == [] and mine == text, (word, mine, text, defects)
    assert answered > 1500


def test_charset_table_names_the_codecs_python_finds():
    for spelling, codec in simple._CHARSET_CODECS.items():
        assert spelling == spelling.lower()
        assert codecs.lookup(spelling).name == codecs.lookup(spelling.upper()).name == codec
    assert "utf-8" in simple._CHARSET_CODECS and "iso-8859-1" in simple._CHARSET_CODECS


def _outcome(raw: bytes) -> str:
    try:
        return repr(parse.parse_message(raw))
    except Exception as exc:  # noqa: BLE001  # the same failure on both paths is agreement too
        return f"raised {exc!r}"


def test_messages_parse_the_same_without_the_fast_path(monkeypatch: pytest.MonkeyPatch):
    """parse_message with the encoded-word readers and with both declining (the stdlib answers
    every encoded value): the same ParsedMessage, anomalies included."""
    messages = _written_messages(40, 11)
    messages += realistic_messages() + _capture_messages()
    rng = random.Random(5322)
    for raw in _written_messages(60, 13):  # and mutated values in their headers
        head, _, body = raw.partition(b"\n\n") if b"\r\n\r\n" not in raw else raw.partition(
            b"\r\n\r\n")
        lines = head.decode("ascii").split("\r\n" if b"\r\n" in head else "\n")
        lines = [_mutated(rng, line) if rng.random() < 0.3 else line for line in lines]
        messages.append("\r\n".join(lines).encode("utf-8", "surrogatepass") + b"\r\n\r\n" + body)
    unstructured, mailboxes = simple._encoded_unstructured, simple._phrase_mailboxes
    taken = {"unstructured": 0, "mailboxes": 0}

    def counting(name, reader):
        def call(value):
            found = reader(value)
            taken[name] += found is not None
            return found
        return call

    def declining(value):
        return None

    for raw in messages:
        monkeypatch.setattr(simple, "_encoded_unstructured", counting("unstructured", unstructured))
        monkeypatch.setattr(simple, "_phrase_mailboxes", counting("mailboxes", mailboxes))
        fast = _outcome(raw)
        monkeypatch.setattr(simple, "_encoded_unstructured", declining)
        monkeypatch.setattr(simple, "_phrase_mailboxes", declining)
        assert fast == _outcome(raw), raw
    assert taken["unstructured"] > 50 and taken["mailboxes"] > 50, taken


@pytest.mark.parametrize(("name", "value"), [
    ("Subject", "=?utf-8?q?R=C3=A9union_de_projet_=E2=80=93?= compte rendu 54"),
    ("Subject", "=?UTF-8?B?w6k=?= =?utf-8?b?w6k=?="),  # the blank between two words is dropped
    ("Subject", "=?utf-8?q?a?=\t \t=?utf-8?q?b?= c"),  # every blank between them
    ("Subject", "a  =?utf-8?q?b?=  c "),  # blanks next to plain words are kept
    ("Subject", "=?utf-8?q?=3D?="),  # a "Q" text that starts with "=" 2HEXDIG
    ("Subject", "=?utf-8?q?=c3=a9t=c3=a9?="),  # lower-case hex
    ("Subject", "=?utf-8*en?q?a_b?="),  # a language (RFC 2231 section 5)
    ("Subject", "=?utf-8?b??="),  # an empty word
    ("Subject", "=?utf-8?q?a=C2=A0b=09c?="),  # white space other than a space inside
    ("Subject", "=?iso-2022-jp?b?GyRCRnxLXDhsGyhC?="),
    ("Subject", "=?koi8-r?q?=F0=D2=C9=D7=C5=D4?="),
    ("DKIM-Signature", "v=1; bh=AAAA; =?utf-8?q?b=3DBBBB?= =?utf-8?q?BBBB?="),
    ("From", "=?utf-8?q?Jos=C3=A9_M=C3=BCller?= <a@b.c>"),
    ("To", "=?utf-8?q?a?= =?utf-8?q?b?= <x@y.z>"),  # in a phrase the space stays
    ("To", "=?utf-8?q?a=2C_b?= <x@y.z>"),  # a special: the stdlib quotes the name
    ("To", '=?utf-8?q?a=22b=5Cc?= <x@y.z>'),  # a quote and a backslash, escaped
    ("To", "=?utf-8?q?_a__b_?= <x@y.z>"),  # blank runs inside a word: one space each
    ("To", "=?utf-8?q??= <x@y.z>"),  # an empty display name
    ("To", "=?utf-8?q?S=C3=B8ren?= Kierkegaard <a@b.c>,\t<d@e.f>, g@h.i"),
    ("To", '"Smith, John" <j@x.y>, =?utf-8?b?w6k=?= <a@b.c>'),  # a quoted string: re-quoted
    ("To", '"John Smith" <j@x.y>'),  # no special: written without quotes
    ("To", '"a <b>, c" <x@y.z>, d@e.f'),  # a comma inside quotes
    ("To", '"Dr. \\"Who\\" \\\\ \\x" <x@y.z>'),  # quoted-pairs, made the characters they quote
    ("To", '" a\tb  " Jr <x@y.z>'),  # blanks inside quotes stay as written
    ("To", '"" <x@y.z>'),  # an empty quoted string
])
def test_common_shapes_are_answered(name, value):
    assert _check(name, value)


@pytest.mark.parametrize(("name", "value"), [
    ("Subject", "=?utf-8?b?w6k?="),  # padding repaired by the stdlib (a defect)
    ("Subject", "=?utf-8?b?w6k=?=x"),  # no white space after the word (a defect)
    ("Subject", "x=?utf-8?b?w6k=?="),  # nor before it
    ("Subject", "=?utf-8?q?a=ZZ?="),  # not "=" 2HEXDIG
    ("Subject", "=?utf-8?q?a b?="),  # white space inside (a defect)
    ("Subject", "=?utf-8?b?/w==?="),  # not UTF-8 (a defect)
    ("Subject", "=?utf-8?q?a=00b?="),  # a NUL (a defect)
    ("Subject", "=?bogus?q?a?="),  # an unknown charset (a defect)
    ("Subject", "=?unknown-8bit?q?=FF?="),  # undecoded bytes
    ("Subject", "caf\u00e9 =?utf-8?q?a?="),  # 8-bit text beside a word
    ("To", "=?utf-8?q?a?=<x@y.z>"),  # no white space after the word (a defect)
    ("To", '"=?utf-8?q?a?=" <x@y.z>'),  # a word in a quoted string (a defect)
    ("To", "=?utf-8?q?a=0D=0Ab?= <x@y.z>"),  # CR LF in a display name (the stdlib raises)
    ("To", "=?utf-8?q?a?=@example.org"),  # a word as a local part
    ("To", "Group: =?utf-8?q?a?= <x@y.z>;"),  # group syntax
    ("To", '"a"b <x@y.z>'),  # a quoted string and an atom run together
    ("To", '"a\\ b" <x@y.z>'),  # a quoted blank
    ("To", '"Smith, J." <j@x.y> (work)'),  # a comment
])
def test_other_shapes_are_left_to_the_stdlib(name, value):
    assert not _check(name, value)


def test_long_phrases_that_do_not_match_end():
    """A phrase of many encoded words (each also atext) that is not followed by an address, and
    other long values: read in time proportional to their length, not tried in every way the
    words could split (a hang, caught by the subprocess's timeout, is the failure)."""
    values = ["=?utf-8?q?a?= " * 60, "=?utf-8?q?a?= " * 60 + "<a@b.c", '"a" ' * 60 + "x",
              "a " * 60 + "=?", "=?utf-8?q?a?= <a@b.c>, " * 60 + "x"]
    code = ("import sys; from smtpsniff.mail.simple import simple_mailboxes, simple_value\n"
            "from email.headerregistry import UnstructuredHeader\n"
            f"for value in {values!r}:\n"
            "    assert simple_mailboxes(value) is None\n"
            "    simple_value(UnstructuredHeader, value)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
