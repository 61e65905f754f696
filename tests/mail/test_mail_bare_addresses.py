"""The shortcut of :func:`~smtpsniff.mail.simple.simple_mailboxes` for lists of bare addr-specs.

A value that is only addr-specs separated by ``","`` or ``", "`` is split at once; every other
value is read item by item (``_listed_mailboxes``, the general path; ``_phrase_mailboxes`` for a
value with an encoded word or a quoted string).  Both must give the same
answer on generated address lists (bare, angle and named mailboxes, usual and unusual
separators), on seeded mutations of them, and on the address fields of the recorded clients'
messages; where the answer is a list it must also be what the stdlib reads.
"""
from __future__ import annotations

import random

from mail_oracles import captures_with_sidecars, sent_messages
from test_mail_simple_headers import STDLIB, _mailbox_list, _mutated

from smtpsniff.mail import parse_message
from smtpsniff.mail.simple import _listed_mailboxes, _phrase_mailboxes, simple_mailboxes

_BARE_NOISE = [",", ", ", ",,", " ,", " ", "@", ".", "<", ">", "\t", "é", "\x00", "=?"]


def _bare_list(rng: random.Random) -> str:
    value = _mailbox_list(rng)
    if rng.random() < 0.6:  # mostly bare addr-specs, as most To fields are
        value = ", ".join(item.strip().split("<")[-1].rstrip(">") for item in value.split(","))
    for _ in range(rng.randint(0, 2) if rng.random() < 0.5 else 0):
        at = rng.randint(0, len(value))
        value = value[:at] + rng.choice(_BARE_NOISE) + value[at:]
    return value


def _agree(value: str) -> bool:
    """Assert the shortcut answers as the general path (and the stdlib); True for a list."""
    found = simple_mailboxes(value)
    general = _phrase_mailboxes if "=?" in value or '"' in value else _listed_mailboxes
    assert found == general(value), value
    if found is None:
        return False
    header = STDLIB("To", value)
    assert header.defects == (), value
    assert found == [(a.display_name or "", a.addr_spec) for a in header.addresses], value
    return True


def test_generated_lists_agree():
    rng = random.Random(1129)
    values = [_bare_list(rng) for _ in range(6000)] + [_mutated(rng, _bare_list(rng))
                                                        for _ in range(3000)]
    answered = sum(_agree(value) for value in values)
    assert 1000 < answered < len(values)


def test_recorded_address_fields_agree():
    for capture in captures_with_sidecars():
        for message in sent_messages(capture):
            for h in parse_message(message["bytes"]).headers:
                if h.name.lower() in ("from", "to", "cc", "bcc", "reply-to", "sender"):
                    _agree(h.raw_value)


def test_separators_and_shapes():
    assert simple_mailboxes("a@b.test,c@d.test, e@f.test") == [
        ("", "a@b.test"), ("", "c@d.test"), ("", "e@f.test")]
    for value in ("a@b.test,  c@d.test", "a@b.test ,c@d.test", "a@b.test,", ",a@b.test",
                  " a@b.test", "a@b.test "):
        assert _agree(value) is (_listed_mailboxes(value) is not None), value
