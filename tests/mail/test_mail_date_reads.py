"""Date fields read through the message's ``HeaderParses`` (a canonical date read once, for its
decoded value and for ``parse_date``) against the same fields read without it, where the value
comes from ``simple.date_value`` with the stdlib's ``parsedate_to_datetime`` and ``parse_date``
from the stdlib's parser: the same decoded values, dates and anomalies, each read twice.

Inputs: the seeded dates of test_mail_simple_dates (right and wrong day names, out-of-range
fields and zones, inserted noise) and the dates of test_mail_simple_headers.
"""
from __future__ import annotations

from test_mail_simple_dates import _dates
from test_mail_simple_headers import _DATES

from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import HeaderParses, decode_value, parse_date
from smtpsniff.mail.simple import canonical_date


def test_dates_through_header_parses_read_as_without():
    canonical = 0
    for text in _dates(3000) + _DATES:
        for name in ("Date", "Resent-Date"):
            logs = [AnomalyLog(DEFAULT_LIMITS.max_anomalies_per_kind) for _ in range(2)]
            parses = HeaderParses()
            with_parses = [(decode_value(name, text, logs[0], parses),
                            repr(parse_date(text, "Date header", logs[0], parses)))
                           for _ in range(2)]
            without = [(decode_value(name, text, logs[1]),
                        repr(parse_date(text, "Date header", logs[1]))) for _ in range(2)]
            assert with_parses == without, text
            assert logs[0].freeze() == logs[1].freeze(), text
        canonical += canonical_date(text) is not None
    assert canonical > 150
