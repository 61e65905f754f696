"""The stdlib ``Message`` getters the mail layer asks most often, answered with less work.

:func:`get`, :func:`content_type` and :func:`boundary` return exactly what ``Message.get``,
``Message.get_content_type`` and ``Message.get_boundary`` return (or raise what they raise) for
the entities of :mod:`smtpsniff.mail`'s trees, whose header factory is a
:class:`~smtpsniff.mail.headers.HeaderParses`: a field is fetched without the line-break split
when its value has no CR or LF, and the boundary of a simple Content-Type value (a plain string,
rendered ``type/subtype; name="value"...``, see :mod:`smtpsniff.mail.simple`) is read from the
rendering (tests/mail/test_mail_fast_paths.py checks them against the stdlib's).  This module
knows nothing of anomalies, records or SMTP.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from email.message import Message
from email.policy import Policy
from email.utils import collapse_rfc2231_value

#: What :func:`get` returns for an absent field unless told otherwise.
MISSING = object()
# The parameters of a Content-Type or Content-Disposition value as simple.simple_value renders it.
RENDERED_PARAM = re.compile(r'; ([A-Za-z0-9._-]+)="([^"]*)"')


def get(entity: Message, lname: str, failobj: object = None) -> object:
    """``entity.get(lname, failobj)`` for a lower-case name: :func:`fetch` of the first field of
    that name (in any case)."""
    return get_in(entity._headers, entity.policy, lname, failobj)  # type: ignore[attr-defined]


def get_in(items: Sequence[tuple[str, object]], policy: Policy, lname: str,
           failobj: object = None) -> object:
    """:func:`get` of an entity whose fields (its ``_headers``) are ``items`` and whose policy
    is ``policy``, without the entity."""
    for item in items:  # what Message.get reads
        if item[0].lower() == lname:
            return fetch_in(policy, item)
    return failobj


def fetch(entity: Message, item: tuple[str, object]) -> object:
    """What ``Message.get`` returns for the field ``item`` (a (name, value) pair of the entity):
    ``policy.header_fetch_parse(name, value)``, which for a value that is a ``str`` without CR
    or LF (not already a header object) is ``policy.header_factory(name, value)``."""
    return fetch_in(entity.policy, item)


def fetch_in(policy: Policy, item: tuple[str, object]) -> object:
    """:func:`fetch` for an entity whose policy is ``policy``."""
    name, value = item
    if type(value) is str and "\r" not in value and "\n" not in value:
        return policy.header_factory(name, value)
    return policy.header_fetch_parse(name, value)


def content_type(entity: Message) -> str:
    """``entity.get_content_type()``: the Content-Type value before any ``;``, stripped and in
    lower case; ``text/plain`` when it is not ``type/subtype``; the entity's default type when
    there is no Content-Type field (RFC 2045 section 5.2)."""
    value = get(entity, "content-type", MISSING)
    if value is MISSING:
        return entity.get_default_type()
    return media_type(str(value))


def content_type_in(items: Sequence[tuple[str, object]], policy: Policy) -> str:
    """:func:`content_type` of an entity with the fields ``items``, the policy ``policy`` and
    the default type ``text/plain`` (what ``policy.message_factory`` makes)."""
    value = get_in(items, policy, "content-type", MISSING)
    if value is MISSING:
        return "text/plain"
    return media_type(str(value))


def media_type(value: str) -> str:
    """What ``get_content_type`` makes of a Content-Type value: the part before any ``;``,
    stripped and in lower case, or ``text/plain`` when that is not ``type/subtype``."""
    ctype = value.partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


def rendered_param(value: str, lname: str) -> str | None:
    """The first parameter named ``lname`` (in any case) of a value rendered as
    :mod:`smtpsniff.mail.simple` renders Content-Type and Content-Disposition, as written
    between its quotes (not yet collapsed as RFC 2231 values are), or None when there is none."""
    for match in RENDERED_PARAM.finditer(value):
        if match.group(1).lower() == lname:
            return match.group(2)
    return None


def boundary(entity: Message) -> str | None:
    """``entity.get_boundary()``.  For a simple Content-Type value the stdlib's parameter parse
    finds the first parameter named ``boundary`` (in any case) and unquotes it, then the getter
    collapses it (which removes one pair of angle brackets) and strips blanks on its right."""
    value = get(entity, "content-type", MISSING)
    if type(value) is not str:
        return entity.get_boundary()
    found = rendered_param(value, "boundary")
    return None if found is None else collapse_rfc2231_value(found).rstrip()
