"""EHLO reply lines -> the extensions a server announces (RFC 5321 4.1.1.1 and 2.2.2).

  ehlo-ok-rsp = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
              / ( "250-" Domain [ SP ehlo-greet ] CRLF *( "250-" ehlo-line CRLF ) "250" SP ehlo-line CRLF )

Pure function of the reply's text lines; it knows no state, no events, no bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

from smtpsniff.fastinit import slot_builder
from smtpsniff.smtp.grammar import EHLO_LINE


#: The longest SIZE number read: no server announces more than a few digits, and int() of at most
#: 640 digits never raises, whatever ``sys.set_int_max_str_digits`` allows (640 is its least limit).
_SIZE_DIGITS_MOST = 640


@dataclass(frozen=True, slots=True)
class ParsedCapabilities:
    domain: str
    greeting: str
    items: tuple[tuple[str, tuple[str, ...]], ...]
    invalid_lines: tuple[str, ...]  # lines that are no ehlo-line

    def has(self, keyword: str) -> bool:
        return any(k == keyword for k, _ in self.items)

    def params(self, keyword: str) -> tuple[str, ...] | None:
        for k, p in self.items:
            if k == keyword:
                return p
        return None

    @property
    def size(self) -> int | None:
        """RFC 1870 4: ``SIZE [number]`` (ASCII digits, RFC 5234 B.1); 0 or no number means no fixed
        limit -> None, and so does a number longer than ``_SIZE_DIGITS_MOST`` digits (the raw value
        stays in ``items``)."""
        p = self.params("SIZE")
        if p and p[0].isascii() and p[0].isdigit():
            digits = p[0].lstrip("0")
            if digits and len(digits) <= _SIZE_DIGITS_MOST:
                return int(digits)
        return None

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        """RFC 4954 3 ``AUTH mech...`` and the pre-standard ``AUTH=mech...``, upper-cased, in order."""
        seen: dict[str, None] = {}
        for k, p in self.items:
            if k in ("AUTH", "AUTH="):
                for mech in p:
                    seen.setdefault(mech.upper(), None)
        return tuple(seen)


_new_parsed = slot_builder(ParsedCapabilities)


def _plain_keyword(word: str) -> bool:
    """``word`` is a whole ehlo-keyword, ``(ALPHA / DIGIT) *(ALPHA / DIGIT / "-")``, as EHLO_LINE's."""
    return word.isascii() and word.replace("-", "").isalnum() and word[0] != "-"


def parse_ehlo_lines(lines: tuple[str, ...]) -> ParsedCapabilities:
    first = lines[0] if lines else ""
    domain, _, greeting = first.strip().partition(" ")
    items: list[tuple[str, tuple[str, ...]]] = []
    invalid: list[str] = []
    for line in lines[1:]:
        # The usual line, "KEYWORD" or "KEYWORD SP params", without the pattern: a keyword followed
        # by SP is EHLO_LINE's "[ \t]+ params" branch, and str.split() drops the blanks it would.
        keyword, sep, rest = line.partition(" ")
        if keyword.isascii() and keyword.replace("-", "").isalnum() and keyword[0] != "-":  # _plain_keyword
            items.append((keyword.upper(), tuple(rest.split()) if sep else ()))
            continue
        m = EHLO_LINE.match(line)
        if m is None:
            invalid.append(line)
            continue
        keyword = m.group("keyword").upper()
        if m.group("eq"):
            if keyword != "AUTH":
                invalid.append(line)
                continue
            keyword = "AUTH="
            params = tuple((m.group("eqparams") or "").split())
        else:
            params = tuple((m.group("params") or "").split())
        items.append((keyword, params))
    return _new_parsed(domain, greeting.strip(), tuple(items), tuple(invalid))
