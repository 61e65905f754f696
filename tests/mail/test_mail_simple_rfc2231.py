"""RFC 2231 parameter values (sections 3 and 4) in smtpsniff.mail.simple, against the stdlib.

``simple_value`` answers a Content-Type or Content-Disposition value with ``name*=charset'lang'
%-text`` parameters and ``name*0*=...; name*1*=...`` continuations without the stdlib's parser;
smtpsniff.mail.mime then reads the getters (file name, name, charset, boundary, ...) from that
rendering.  The oracle is the stdlib itself: for every value the simple path answers, the
``email.policy.default`` header must have no defects and the same ``str()``, and the stdlib's
getters on its own tree must answer what ours answer; whole messages must parse to equal
:class:`~smtpsniff.mail.model.ParsedMessage` objects with the RFC 2231 path on and off.

Inputs: values the stdlib's own ``EmailMessage.add_attachment`` and ``email.mime`` write for
file names in many scripts (with quotes, spaces, ``%``, ``'``, ``;``, backslashes, names long
enough for continuations), hand-made continuations (ordered, unordered, missing and repeated
sections, encoded and plain sections mixed, many charsets, languages), seeded mutations of them
(bad %-escapes, unknown charsets, quotes, case of names, noise), the realistic messages
(tests/corpus.py) and the messages the recorded clients sent (tests/data sidecars).
"""
from __future__ import annotations

import random
import re
from email import policy
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser

import pytest
from corpus import realistic_messages
from mail_oracles import captures_with_sidecars, recorded_header_fields, sent_messages

from smtpsniff.mail import parse_message, simple
from smtpsniff.mail.headers import MAIL_POLICY, HeaderParses
from smtpsniff.mail.mime import _clean_getters, _content_fields, _simple_getters
from smtpsniff.mail.simple import simple_value

STDLIB = policy.default.header_factory
_FIELDS = ("Content-Type", "Content-Disposition")

# File names as mail clients meet them: many scripts, and the characters RFC 2231 encodes or the
# stdlib quotes (space, quote, backslash, "%", "'", ";", "*", angle brackets, control characters).
_NAMES = [
    "Rechnung-3-M\u00e4rz.pdf", "report.pdf", "caf\u00e9 cr\u00e8me.docx", "na\u00efve r\u00e9sum\u00e9.txt",
    "\u0421\u0447\u0451\u0442 \u2116 42.pdf", "\u8acb\u6c42\u66f8_2024.xlsx", "\u898b\u7a4d\u3082\u308a.pdf",
    "\uc1a1\uc7a5.hwp", "\u0641\u0627\u062a\u0648\u0631\u0629.pdf", "\u05d7\u05e9\u05d1\u05d5\u05e0\u05d9\u05ea.pdf",
    "\u03c4\u03b9\u03bc\u03bf\u03bb\u03cc\u03b3\u03b9\u03bf.pdf", "\u0e43\u0e1a\u0e41\u0e08\u0e49\u0e07\u0e2b\u0e19\u0e35\u0e49.pdf",
    "\U0001f4ce attachment \U0001f600.png", "\u0141\u00f3d\u017a \u017c\u00f3\u0142w.pdf", "Stra\u00dfe.txt",
    'say "hello".txt', "back\\slash.txt", "100% done.pdf", "it's mine.pdf", "a;b;c.pdf",
    "star*name.pdf", "<angle>.pdf", " padded name .pdf", "tab\there.pdf", "semi; colon\u00e9.pdf",
    "equals=sign \u00e9.pdf", "question?\u00e9.pdf", "comma,\u00e9.pdf", "(paren) \u00e9.pdf",
    "x" * 90 + ".pdf", "\u00e4" * 60 + ".pdf", "Jahresabschluss-" + "\u00dc" * 20 + "-" * 40 + ".pdf",
    "\u6587\u4ef6" * 30 + ".zip", "a" * 200 + "\u00e9.bin", "new\nline\u00e9.txt", "nul\x00\u00e9.txt",
    "%41%42.pdf", "utf-8''x.pdf", "=?utf-8?q?x?=.pdf", "\u00e9", "\u00e9 ", " \u00e9",
]
_CHARSETS = ["utf-8", "UTF-8", "utf8", "iso-8859-1", "ISO-8859-15", "windows-1252", "koi8-r",
             "gb2312", "shift_jis", "euc-kr", "big5", "us-ascii", "", "x-unknown", "utf-16",
             "latin1", "idna", "cp1251"]
_LANGUAGES = ["", "", "en", "de-DE", "ja", "*", "en us"]
_NOISE = ['"', "'", "''", "%", "%2", "%zz", "%C3", "*", "*0", "*1*", "*00", ";", "; ", " ", "\t",
          "=", "\\", "\u00e9", "\udce9", "(c)", "=?", ",", "/", "FILENAME", "Name", ";x"]


def _stdlib_written() -> list[tuple[str, str]]:
    """The Content-Type and Content-Disposition values (unfolded) the stdlib writes for an
    attachment named each of ``_NAMES``: ``EmailMessage.add_attachment`` and ``email.mime``."""
    raws = [_attachment_message(name) for name in _NAMES]
    raws += [_legacy_message(name) for name in _NAMES]
    values = []
    for raw in raws:
        for entity in BytesParser(policy=policy.compat32).parsebytes(raw).walk():
            for name, value in entity.items():
                if name.lower() in ("content-type", "content-disposition"):
                    values.append((name, re.sub(r"\r?\n", "", value)))
    return values


def _attachment_message(name: str) -> bytes:
    message = EmailMessage()
    message["From"] = "a@example.test"
    message["Subject"] = "attachment"
    message.set_content("see attached\n")
    message.add_attachment(b"%PDF-1.4 body\n", maintype="application", subtype="pdf",
                           filename=name)
    return message.as_bytes(policy=policy.SMTP)


def _legacy_message(name: str) -> bytes:
    message = MIMEMultipart()
    message["From"] = "a@example.test"
    message.attach(MIMEText("see attached\n", "plain", "utf-8"))
    part = MIMEApplication(b"%PDF-1.4 body\n", "pdf", name=("utf-8", "", name))
    part.add_header("Content-Disposition", "attachment", filename=("utf-8", "de", name))
    message.attach(part)
    return message.as_bytes()


def _percent(data: bytes, rng: random.Random) -> str:
    """RFC 2231 section 7 %-encoding of ``data``, at times also of safe characters, in either
    case of hex digit."""
    out = []
    for byte in data:
        char = chr(byte)
        if char.isascii() and (char.isalnum() or char in "-._~!$&+") and rng.random() < 0.9:
            out.append(char)
        else:
            text = f"%{byte:02X}"
            out.append(text.lower() if rng.random() < 0.1 else text)
    return "".join(out)


def _handmade(rng: random.Random) -> str:
    """One RFC 2231 parameter (or a repeat of one), in one piece or in sections."""
    attribute = rng.choice(["filename", "name", "charset", "boundary", "Filename", "FILENAME",
                            "x-name", "title"])
    text = rng.choice(_NAMES)
    charset = rng.choice(_CHARSETS)
    try:
        data = text.encode(charset or "ascii")
    except (LookupError, UnicodeError):
        data = text.encode("utf-8")
    language = rng.choice(_LANGUAGES)
    encoded = _percent(data, rng)
    shape = rng.randint(0, 5)
    if shape == 0:  # name*=charset'lang'text (at times without the charset and language)
        if rng.random() < 0.1:
            return f"{attribute}*={encoded}"
        return f"{attribute}*={charset}'{language}'{encoded}"
    # continuations: cut the encoded text between escapes, at times inside one
    cuts = sorted(rng.sample(range(1, len(encoded)), min(len(encoded) - 1, rng.randint(1, 4))))
    if rng.random() < 0.8:
        cuts = [cut for cut in cuts if "%" not in encoded[max(cut - 2, 0):cut]]
    pieces = [encoded[start:end] for start, end in zip([0, *cuts], [*cuts, len(encoded)])]
    sections = []
    for number, piece in enumerate(pieces):
        if number == 0:
            sections.append(f"{attribute}*0*={charset}'{language}'{piece}")
        elif shape == 2 and "%" not in piece and rng.random() < 0.5:  # a plain section
            sections.append(f'{attribute}*{number}="{piece}"' if rng.random() < 0.5
                            else f"{attribute}*{number}={piece}")
        else:
            sections.append(f"{attribute}*{number}*={piece}")
    if rng.random() < 0.1:  # the first section without its charset and language
        sections[0] = f"{attribute}*0*={pieces[0]}"
    elif rng.random() < 0.1 and len(sections) > 1:  # a later section with them
        sections[-1] = f"{attribute}*{len(sections) - 1}*={charset}'{language}'{pieces[-1]}"
    if shape == 3:  # sections in another order
        rng.shuffle(sections)
    elif shape == 4 and len(sections) > 1:  # a missing or repeated section
        if rng.random() < 0.5:
            del sections[rng.randrange(len(sections))]
        else:
            sections.insert(rng.randrange(len(sections)), rng.choice(sections))
    elif shape == 5:  # plain sections only
        sections = [f'{attribute}*{number}="{piece}"' for number, piece in
                    enumerate(text.encode("ascii", "ignore").decode().replace('"', "").split(" "))
                    if piece]
        if not sections:
            sections = [f"{attribute}*0=x"]
    return "; ".join(sections)


def _mutated(rng: random.Random, value: str) -> str:
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        at = rng.randint(0, len(value))
        value = value[:at] + rng.choice(_NOISE) + value[at:]
    return value


def _handmade_values(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    values = []
    for _ in range(count):
        field = rng.choice(_FIELDS)
        value = "application/pdf" if field == "Content-Type" else rng.choice(
            ["attachment", "inline", "Attachment"])
        params = [_handmade(rng) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        if rng.random() < 0.4:
            params.insert(rng.randint(0, len(params)), rng.choice(
                ['size=1234', 'charset="utf-8"', "creation-date=x", 'name="plain.pdf"']))
        separators = [rng.choice(["; ", ";", ";\t", "; \t "]) for _ in params]
        value += "".join(sep + param for sep, param in zip(separators, params))
        values.append((field, _mutated(rng, value)))
    return values


def _realistic_values() -> list[tuple[str, str]]:
    values = []
    for raw in realistic_messages(120):
        for entity in BytesParser(policy=policy.compat32).parsebytes(raw).walk():
            for name, value in entity.items():
                if name.lower() in ("content-type", "content-disposition"):
                    values.append((name, re.sub(r"\r?\n", "", value)))
    return values


def _recorded_values() -> list[tuple[str, str]]:
    return recorded_header_fields(("content-type", "content-disposition"))


def _check(name: str, value: str) -> bool:
    """Assert the simple path agrees with the stdlib header; True if it answered."""
    fast = simple_value(STDLIB[name], value)
    if fast is None:
        return False
    header = STDLIB(name, value)
    assert header.defects == (), (name, value, header.defects)
    assert fast == str(header), (name, value)
    return True


def _extended(value: str) -> bool:
    """An RFC 2231 extended or sectioned parameter (what the simple path once left alone)."""
    return re.search(r";[ \t]*[A-Za-z0-9._-]+\*", value) is not None


def test_stdlib_written_values_agree_with_the_stdlib():
    values = _stdlib_written()
    answered = [value for name, value in values if _check(name, value)]
    extended = [value for value in answered if _extended(value)]
    # most of what the stdlib writes is answered: all but the names holding '"' or "\\"
    assert len(extended) > 0.6 * sum(_extended(value) for _, value in values)
    assert any("*1*=" in value for value in extended)  # continuations of long names


def test_handmade_values_agree_with_the_stdlib():
    values = _handmade_values(5000, 2231)
    answered = [value for name, value in values if _check(name, value)]
    clean = 0  # values the stdlib reads without a defect (or raising)
    for name, value in values:
        try:
            clean += STDLIB(name, value).defects == ()
        except Exception:  # noqa: BLE001  # (a charset such as utf-16 that raises)
            continue
    assert len(answered) > 0.7 * clean > 500
    assert sum("*1" in value for value in answered) > 200  # continuations answered
    assert any(re.search(r"\*\d=", value) for value in answered)  # plain sections too


def test_realistic_values_agree_and_rfc2231_ones_take_the_simple_path():
    values = _realistic_values()
    answered = {value for name, value in values if _check(name, value)}
    extended = [value for _, value in values if _extended(value)]
    assert extended  # the corpus writes RFC 2231 file names
    assert sum(value in answered for value in extended) > 0.9 * len(extended)


def test_recorded_values_agree_with_the_stdlib():
    values = _recorded_values()
    if not values:
        pytest.skip("no recorded messages in tests/data")
    for name, value in values:
        _check(name, value)


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("Content-Disposition", "attachment; filename*=utf-8''Rechnung-3-M%C3%A4rz.pdf",
     'attachment; filename="Rechnung-3-M\u00e4rz.pdf"'),
    ("Content-Type", "application/pdf; name*=iso-8859-1'de'M%E4rz.pdf",
     'application/pdf; name="M\u00e4rz.pdf"'),
    ("Content-Disposition", "attachment; filename*1*=%A4.pdf; filename*0*=utf-8''M%C3",
     None),  # a character cut between sections: each section decodes alone (a defect)
    ("Content-Disposition", "attachment; filename*1*=r%C3%A4.pdf; filename*0*=utf-8''M",
     'attachment; filename="Mr\u00e4.pdf"'),  # sections joined in the order of their numbers
    ("Content-Disposition", 'attachment; filename*0="a b"; filename*1=c', 'attachment; filename="a bc"'),
    ("Content-Disposition", "attachment; filename*=''plain.pdf", 'attachment; filename="plain.pdf"'),
    ("Content-Disposition", "attachment; filename*=utf-8''100%.pdf", 'attachment; filename="100%.pdf"'),
])
def test_usual_shapes(name, value, expected):
    assert simple_value(STDLIB[name], value) == expected
    if expected is not None:
        assert _check(name, value)


@pytest.mark.parametrize("value", [
    "attachment; filename*=utf-8''a%22b.pdf",  # a '"' the stdlib escapes in its rendering
    "attachment; filename*=utf-8''a%5Cb.pdf",  # a backslash
    "attachment; filename*=x-unknown''a.pdf",  # a charset outside the known ones
    "attachment; filename*=utf-8''M%E4rz.pdf",  # bytes the charset does not decode
    "attachment; filename*=M%C3%A4rz.pdf",  # no charset and language (a defect)
    "attachment; filename*=\"utf-8''a.pdf\"",  # a quoted extended value (a defect)
    "attachment; filename*0*=utf-8''a; filename*2*=b",  # a missing section (a defect)
    "attachment; filename*00*=utf-8''a",  # a leading 0 (a defect)
    "attachment; filename=a; filename*=utf-8''b",  # a repeat (a defect)
    "attachment; filename=utf-8''a",  # an initial value not marked (a defect)
    "attachment; filename*1*=utf-8''a",  # an initial value in a later section (a defect)
    "attachment; filename*0*=utf-8''a; filename*1*=utf-8''b",  # (the same)
    "attachment; filename*=report.pdf",  # a marked value without charset and language
    "attachment; filename*0*=report; filename*1*=.pdf",  # (the same)
    "attachment; filename*0*=utf-8''a; filename*" + "1" * 5000 + "*=b",  # beyond int()'s digits
])
def test_other_shapes_are_left_to_the_stdlib(value):
    assert simple_value(STDLIB["Content-Disposition"], value) is None


def _getters(entity) -> tuple:
    """What the stdlib's getters read from an entity's Content-Type and Content-Disposition
    (the type of what one raises in its place)."""
    getters = (entity.get_content_type, entity.get_params, lambda: entity.get_param("name"),
               entity.get_filename, entity.get_boundary, entity.get_content_charset,
               entity.get_content_disposition,
               lambda: entity.get_param("filename", header="content-disposition"))
    answers = []
    for getter in getters:
        try:
            answers.append(getter())
        except Exception as exc:  # noqa: BLE001  # compared: both trees must raise the same
            answers.append(type(exc))
    return tuple(answers)


def _entities(count: int, seed: int) -> list[bytes]:
    """Header blocks of one entity with RFC 2231 parameters in Content-Type and/or
    Content-Disposition (the charset and boundary parameters among them at times)."""
    rng = random.Random(seed)
    handmade = _handmade_values(count, seed)
    written = _stdlib_written()
    types = [value for field, value in written + handmade if field == "Content-Type"]
    dispositions = [value for field, value in written + handmade if field != "Content-Type"]
    out = []
    for _ in range(count):
        content_type = rng.choice(types + ["application/pdf", "text/plain; charset=utf-8"])
        fields = f"Content-Type: {content_type}\r\n"
        if rng.random() < 0.7:
            fields += f"Content-Disposition: {rng.choice(dispositions)}\r\n"
        out.append(fields.encode("utf-8", "surrogatepass") + b"\r\nbody\r\n")
    return out


def test_getters_read_what_the_stdlib_getters_read():
    """For each entity whose Content-Type and Content-Disposition the simple path answers,
    mime's getters (_simple_getters on the tree, _clean_getters on the fields) answer what the
    stdlib's getters answer on its own tree, and the stdlib's getters read the plain strings as
    they read its headers."""
    answered = 0
    for raw in _entities(2500, 4231):
        parses = HeaderParses()
        try:
            stdlib = BytesParser(policy=policy.default).parsebytes(raw)
        except Exception as exc:  # noqa: BLE001  # (a charset such as idna that raises)
            with pytest.raises(type(exc)):
                BytesParser(policy=MAIL_POLICY.clone(header_factory=parses)).parsebytes(raw)
            continue
        ours = BytesParser(policy=MAIL_POLICY.clone(header_factory=parses)).parsebytes(raw)
        assert _getters(ours) == _getters(stdlib), raw
        found = _simple_getters(ours)
        items = ours._headers
        clean = _clean_getters(items, parses, _content_fields(items))
        assert (clean is None) == (found is None), raw
        if found is None:
            continue
        answered += _extended(raw.decode("utf-8", "surrogatepass"))
        content_type, _, name, filename, _, charset, disposition, _ = _getters(stdlib)
        expected = (content_type, disposition, filename,
                    name if isinstance(name, str) else None, charset)
        assert found == expected, raw
        assert clean[0] == expected, raw
    assert answered > 150  # entities with RFC 2231 values answered


def _off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn the RFC 2231 path off: every value with a section or "*" is left to the stdlib."""
    monkeypatch.setattr(simple, "_parameter_values", lambda params: None)


def _synthetic_messages() -> list[bytes]:
    """Messages holding attachments the stdlib names (every name of _NAMES) and parts whose
    Content-Type and Content-Disposition are the handmade values."""
    messages = [_attachment_message(name) for name in _NAMES]
    messages += [_legacy_message(name) for name in _NAMES]
    handmade = _handmade_values(300, 7231)
    rng = random.Random(7231)
    for start in range(0, len(handmade), 3):
        parts = []
        for field, value in handmade[start:start + 3]:
            if field == "Content-Type":
                fields = f"Content-Type: {value}\r\n"
            else:
                fields = f"Content-Type: application/pdf\r\nContent-Disposition: {value}\r\n"
            encoding = rng.choice(["base64", "7bit"])
            body = "JVBERi0xLjQK" if encoding == "base64" else "text"
            parts.append(f"{fields}Content-Transfer-Encoding: {encoding}\r\n\r\n{body}\r\n")
        raw = ("From: a@example.test\r\nMIME-Version: 1.0\r\n"
               'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
               "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
               + "".join(f"--b1\r\n{part}" for part in parts) + "--b1--\r\n")
        messages.append(raw.encode("utf-8", "surrogatepass"))
    return messages


def _recorded_messages() -> list[bytes]:
    return [message["bytes"] for capture in captures_with_sidecars()
            for message in sent_messages(capture)]


@pytest.mark.parametrize("corpus", ["realistic", "synthetic", "recorded"])
def test_whole_messages_parse_the_same_with_the_path_off(corpus, monkeypatch):
    raws = {"realistic": lambda: realistic_messages(120), "synthetic": _synthetic_messages,
            "recorded": _recorded_messages}[corpus]()
    if not raws:
        pytest.skip("no recorded messages in tests/data")
    fast = [parse_message(raw) for raw in raws]
    _off(monkeypatch)
    slow = [parse_message(raw) for raw in raws]
    for raw, ours, theirs in zip(raws, fast, slow):
        assert ours == theirs, raw[:300]
        assert [part.content for part in ours.parts] == [part.content for part in theirs.parts]


def test_the_path_is_taken_for_realistic_attachments(monkeypatch):
    """parse_message of the realistic messages builds no stdlib Content-Disposition header
    for their RFC 2231 file names."""
    raws = realistic_messages(60)  # (written with the stdlib's EmailMessage)
    assert sum(b"filename*=" in raw for raw in raws) > 10
    built = []
    original = STDLIB["Content-Disposition"].parse.__func__

    def counting(cls, value, kwds):
        built.append(value)
        return original(cls, value, kwds)

    import email.headerregistry
    monkeypatch.setattr(email.headerregistry.ContentDispositionHeader, "parse",
                        classmethod(counting))
    for raw in raws:
        parse_message(raw)
    assert [value for value in built if "*=" in value] == []
