"""The message fields a reader looks for, taken from an entity's :class:`Header` records.

RFC 5322 section 3.6 (originator, destination, identification, informational and trace fields;
the table in 3.6 says which may occur once), RFC 5321 section 4.4 (Return-Path, Received),
RFC 8601 (Authentication-Results), RFC 6376 section 3.5 (DKIM-Signature tags), RFC 2045
section 4 (MIME-Version).  When a once-only field repeats, the first occurrence is used and the
repeat is recorded; To, Cc and Bcc are the union of their repeats.  This module knows nothing of
bytes on the wire or of MIME bodies.
"""
from __future__ import annotations

import re
from typing import Any

from smtpsniff.limits import Limits
from smtpsniff.mail.anomalies import AnomalyLog, excerpt
from smtpsniff.mail.headers import HeaderParses, addresses, msg_ids, parse_date
from smtpsniff.mail.model import Address, EmbeddedMessage, Header
from smtpsniff.mail.received import ips_in, parse_received, received_path

# RFC 5322 section 3.6, the "Max number" column: fields allowed at most once.
_ONCE = ("date", "from", "sender", "reply-to", "to", "cc", "bcc", "message-id", "in-reply-to",
         "references", "subject")
# RFC 6376 section 3.2: tag-list = tag-spec *( ";" tag-spec ), tag-spec = tag-name "=" tag-value.
_DKIM_TAG = re.compile(r"(?:^|;)\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*([^;]*)")
_WSP = re.compile(r"\s+")


#: An entity's headers by lower-case name (RFC 5322 section 1.2.2), each list in wire order.
_ByName = dict[str, list[Header]]
_NONE: list[Header] = []  # what _all gives for an absent name; never changed


def _by_name(headers: tuple[Header, ...]) -> _ByName:
    by_name: _ByName = {}
    for header in headers:
        lname = header.name.lower()
        found = by_name.get(lname)
        if found is None:
            by_name[lname] = [header]
        else:
            found.append(header)
    return by_name


def _first(headers: _ByName, lname: str) -> Header | None:
    found = headers.get(lname)
    return found[0] if found else None


def _all(headers: _ByName, lname: str) -> list[Header]:
    return headers.get(lname, _NONE)


def _stripped(header: Header | None) -> str | None:
    return header.value.strip() if header is not None else None


def _addresses(headers: _ByName, lname: str, log: AnomalyLog,
               parses: HeaderParses | None = None) -> tuple[Address, ...]:
    """The mailboxes of the first ``lname`` field."""
    header = _first(headers, lname)
    return addresses(header, log, parses) if header is not None else ()


def _recipients(headers: _ByName, lname: str, log: AnomalyLog,
                parses: HeaderParses | None = None) -> tuple[Address, ...]:
    """The mailboxes of every ``lname`` field, repeats removed: a repeated To or Cc still names
    recipients (Zeek's smtp.log ``to``/``cc`` are likewise the union of all such fields)."""
    found = headers.get(lname)
    if not found:
        return ()
    if len(found) == 1:
        return addresses(found[0], log, parses, distinct=True)
    seen: dict[Address, None] = {}
    for header in found:
        for address in addresses(header, log, parses):
            seen.setdefault(address, None)
    return tuple(seen)


def dkim_tags(value: str) -> tuple[str | None, str | None]:
    """(d, s) of one DKIM-Signature value; folding white space inside values removed."""
    tags = {m.group(1).lower(): _WSP.sub("", m.group(2)) for m in _DKIM_TAG.finditer(value)}
    return tags.get("d") or None, tags.get("s") or None


def message_fields(headers: tuple[Header, ...], limits: Limits, log: AnomalyLog,
                   parses: HeaderParses | None = None) -> tuple[Any, ...]:
    """The :class:`~smtpsniff.mail.model.ParsedMessage` fields that come from top-level headers,
    ``from_`` to ``content_type`` in the order the class declares them.

    ``parses``: the message's :class:`~smtpsniff.mail.headers.HeaderParses`, so that an address
    field is not parsed again for its mailboxes."""
    fields: _ByName = {}  # _by_name(headers), with the first header of each name beside it
    firsts: dict[str, Header] = {}
    for header in headers:
        lname = header.name.lower()
        found = fields.get(lname)
        if found is None:
            fields[lname] = [header]
            firsts[lname] = header
        else:
            found.append(header)
    first = firsts.get  # None when absent
    for lname in _ONCE if len(fields) < len(headers) else ():  # some name repeats
        repeats = fields.get(lname)
        if repeats is not None and len(repeats) > 1:
            kind = "multiple_from" if lname == "from" else "duplicate_header"
            log.add(kind, f"{len(repeats)} {repeats[0].name} fields; RFC 5322 section 3.6 allows "
                    "one: "
                    + ", ".join(excerpt(h.raw_value, 40) for h in repeats[:5]))
    from_headers = _all(fields, "from")
    if not from_headers:
        log.add("missing_from", "no From field (RFC 5322 section 3.6 requires one)")
    date_header = first("date")
    if date_header is None:
        log.add("missing_date", "no Date field (RFC 5322 section 3.6 requires one)")
    subject = first("subject")
    received_headers = fields.get("received")
    received = (tuple(parse_received(h, i, log) for i, h in enumerate(received_headers))
                if received_headers else ())
    originating = first("x-originating-ip")
    originating_ips = ips_in(originating.raw_value) if originating is not None else ()
    return_path = first("return-path")
    content_type = first("content-type")
    user_agent = first("user-agent") or first("x-user-agent")
    in_reply_to = first("in-reply-to")
    references = first("references")
    # Read in this order, for the order of their anomalies: From, Sender, Reply-To, To, Cc, Bcc,
    # then Date, then the Received path.
    from_ = addresses(from_headers[0], log, parses) if from_headers else ()
    sender_header = first("sender")
    sender = addresses(sender_header, log, parses) if sender_header is not None else ()
    reply_to_header = first("reply-to")
    reply_to = addresses(reply_to_header, log, parses) if reply_to_header is not None else ()
    to = _recipients(fields, "to", log, parses) if "to" in fields else ()
    cc = _recipients(fields, "cc", log, parses) if "cc" in fields else ()
    bcc = _recipients(fields, "bcc", log, parses) if "bcc" in fields else ()
    results = fields.get("authentication-results")
    signatures = fields.get("dkim-signature")
    return (  # ParsedMessage's fields from from_ to content_type, in its order
        from_,  # from_
        len(from_headers),  # from_count
        sender,
        reply_to,
        to,
        cc,
        bcc,
        subject.value if subject is not None else None,  # subject
        subject.raw_value if subject is not None else None,  # subject_raw
        (parse_date(date_header.raw_value, "Date header", log, parses)  # date
         if date_header else None),
        date_header.raw_value if date_header is not None else None,  # date_raw
        _stripped(first("message-id")),  # message_id
        in_reply_to.raw_value.strip() if in_reply_to is not None else None,  # in_reply_to
        msg_ids(references.raw_value) if references is not None else (),  # references
        (return_path.raw_value.strip().strip("<>").strip()  # return_path
         if return_path is not None else None),
        received,
        (received_path(received, limits.max_received_path, log)  # received_path
         if received else ()),
        _stripped(first("x-mailer")),  # x_mailer
        _stripped(user_agent),  # user_agent
        originating_ips[0] if originating_ips else None,  # x_originating_ip
        tuple([h.value for h in results]) if results else (),  # authentication_results
        tuple([dkim_tags(h.raw_value) for h in signatures]) if signatures else (),  # dkim
        _stripped(first("mime-version")),  # mime_version
        (content_type.raw_value.split(";", 1)[0].strip().lower()  # content_type
         if content_type is not None else None),
    )


def embedded_summary(headers: tuple[Header, ...], where: str, log: AnomalyLog,
                     parses: HeaderParses | None = None) -> EmbeddedMessage:
    """The header summary of a message/rfc822 part."""
    fields = _by_name(headers)
    subject = _first(fields, "subject")
    date_header = _first(fields, "date")
    return EmbeddedMessage(
        headers=headers,
        from_=_addresses(fields, "from", log, parses),
        to=_recipients(fields, "to", log, parses),
        cc=_recipients(fields, "cc", log, parses),
        subject=subject.value if subject is not None else None,
        date=(parse_date(date_header.raw_value, f"Date of {where}", log, parses)
              if date_header else None),
        date_raw=date_header.raw_value if date_header is not None else None,
        message_id=_stripped(_first(fields, "message-id")),
    )
