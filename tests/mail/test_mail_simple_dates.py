"""smtpsniff.mail.simple's canonical dates against their oracle, ``email.utils``.

``canonical_date`` must return exactly what ``parsedate_to_datetime`` returns (same fields, same
zone object, naive for ``-0000``) or None, and the rendering of a Date field what the stdlib's
``DateHeader`` renders.  Inputs: dates in the canonical form with every field pushed past its
range (day 00 and 31 June, hour 24, zones of 24 hours or with minutes past 59, years 0999 and
9999, wrong day names) and seeded mutations of them (spaces, case, missing comma, non-ASCII
digits, comments).
"""
from __future__ import annotations

import random
from datetime import datetime
from email import policy
from email.utils import format_datetime, parsedate_to_datetime

from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import HeaderParses, parse_date
from smtpsniff.mail.simple import canonical_date, date_value

STDLIB = policy.default.header_factory
_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_NOISE = [" ", "  ", ",", "", "\t", "x", "\u0664", "0", "-", "+", " (UTC)", "GMT", ":", "\udcff",
          "=?"]


def _dates(count: int = 6000) -> list[str]:
    rng = random.Random(53223)
    out = []
    for _ in range(count):
        value = "{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} {}{:02d}{:02d}".format(
            rng.choice(_DAYS), rng.choice([0, 1, 4, 9, 28, 29, 30, 31, 32, rng.randint(1, 31)]),
            rng.choice(_MONTHS), rng.choice([999, 1000, 1900, 1969, 2000, 2024, 2038, 9999,
                                             rng.randint(1000, 9999)]),
            rng.choice([0, 9, 23, 24, 29, rng.randint(0, 23)]),
            rng.choice([0, 59, 60, rng.randint(0, 59)]),
            rng.choice([0, 59, 60, 61, rng.randint(0, 59)]),
            rng.choice("+-"), rng.choice([0, 0, 1, 5, 12, 14, 23, 24, 99]),
            rng.choice([0, 0, 30, 45, 59, 60, 99]))
        try:  # the right day name, half the time
            when = datetime.strptime(value[5:16], "%d %b %Y")
            if rng.random() < 0.5:
                value = _DAYS[when.weekday()] + value[3:]
        except ValueError:
            pass
        if rng.random() < 0.3:
            at = rng.randint(0, len(value))
            value = value[:at] + rng.choice(_NOISE) + value[at:]
        out.append(value)
    return out


def _stdlib_datetime(value: str) -> str:
    try:
        return repr(parsedate_to_datetime(value))
    except Exception as exc:  # noqa: BLE001
        return repr(exc)


def test_canonical_dates_read_as_the_stdlib_reads_them():
    answered = 0
    for value in _dates():
        found = canonical_date(value)
        if found is None:
            continue
        answered += 1
        assert repr(found) == _stdlib_datetime(value), value  # fields and zone object alike
    assert answered > 400


def test_date_values_render_as_the_stdlib_renders_them():
    answered = 0
    for value in _dates() + ["Tue, 04 Jun 2024 10:15:00 +0000", "Wed, 04 Jun 2024 10:15:00 -0000"]:
        for parsedate in (parsedate_to_datetime, HeaderParses().parsedate):
            found = date_value(value, parsedate)
            if found is None:
                continue
            answered += 1
            header = STDLIB("Date", value)
            assert header.defects == (), value
            assert found == str(header) == format_datetime(parsedate_to_datetime(value)), value
    assert answered > 400


def test_parse_date_with_and_without_the_message_reads():
    for value in _dates(1500):
        logs = [AnomalyLog(DEFAULT_LIMITS.max_anomalies_per_kind) for _ in range(2)]
        ours = parse_date(value, "Date header", logs[0], HeaderParses())
        plain = parse_date(value, "Date header", logs[1])
        assert repr(ours) == repr(plain), value
        assert logs[0].freeze() == logs[1].freeze(), value
