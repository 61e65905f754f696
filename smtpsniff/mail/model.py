"""The mail parser's records: what one transferred message holds, as frozen dataclasses.

This module only defines data.  It knows nothing of SMTP, TCP or captures, and nothing of how the
records are filled (that is :mod:`smtpsniff.mail.parse`).

Conventions, so that every record can go straight to a DataFrame, a CSV or Arrow:

* every ``str`` field is valid Unicode (bytes that are not UTF-8 become U+FFFD); the exact bytes
  are kept beside it in a ``bytes`` field wherever they can differ;
* missing data is ``None`` (or an empty tuple), never an invented value;
* times are timezone-aware UTC :class:`~datetime.datetime` objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from smtpsniff.anomaly import Anomaly


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """One mailbox of an address header (RFC 5322 section 3.4), decoded.

    ``addr`` is the addr-spec (``local@domain``); with SMTPUTF8 (RFC 6532) either side may be
    non-ASCII.  ``display_name`` is RFC 2047 decoded, ``""`` when absent.
    """

    display_name: str
    addr: str

    def __str__(self) -> str:
        return f"{self.display_name} <{self.addr}>" if self.display_name else self.addr


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """One header field (RFC 5322 section 2.2) in wire order.

    ``raw`` is the whole field exactly as on the wire (name, colon, folded value) without the
    line ending that closes it.  ``raw_value`` is the value unfolded (section 2.2.3), leading
    white space removed, decoded as UTF-8 (RFC 6532 section 3.2) but not RFC 2047 decoded.
    ``value`` is the value as a reader sees it: RFC 2047 encoded words decoded by the stdlib
    ``email.policy.default`` header classes (structured headers come back re-rendered).
    ``index`` counts from 0 in the entity's header block.
    """

    index: int
    name: str
    raw: bytes
    raw_value: str
    value: str

    @property
    def lname(self) -> str:
        """The name in lower case, for case-insensitive matching (RFC 5322 section 1.2.2)."""
        return self.name.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedHop:
    """One Received trace field (RFC 5321 section 4.4 Stamp), split into its clauses.

    Every clause is optional in practice.  ``from_host`` is the name the sending host gave
    (its HELO, or what the stamp puts first), ``from_rdns`` the reverse-DNS name the receiver
    looked up, ``from_ips`` the IP literals found in the from clause.  ``for_`` is the
    recipient without angle brackets.  ``timestamp`` is the date after the last ``;`` in UTC.
    """

    index: int
    raw: str
    from_host: str | None = None
    from_helo: str | None = None
    from_rdns: str | None = None
    from_ips: tuple[str, ...] = ()
    by_host: str | None = None
    via: str | None = None
    with_protocol: str | None = None
    id: str | None = None
    for_: str | None = None
    timestamp: datetime | None = None
    timestamp_raw: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddedMessage:
    """The header summary of a message/rfc822 part (RFC 2046 section 5.2.1).

    Its own MIME parts are listed in :attr:`ParsedMessage.parts` under the part's path.
    """

    headers: tuple[Header, ...]
    from_: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    subject: str | None = None
    date: datetime | None = None
    date_raw: str | None = None
    message_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MimePart:
    """One MIME entity (RFC 2045 section 2.4) of the flattened tree, in document order.

    ``path`` numbers entities from the root ``"1"``: the children of ``"1"`` are ``"1.1"``,
    ``"1.2"``, ...; the root entity of an embedded message/rfc822 at ``"1.2"`` is ``"1.2.1"``.
    ``depth`` is the number of dots; ``parent`` the parent's path (``None`` for the root).

    ``size`` counts the encoded body bytes as transferred (``None`` for multipart and message
    containers, whose bytes are their children's); ``decoded_size`` and the hashes cover the
    whole decoded body, even when ``content`` was cut at ``max_part_decoded_bytes``
    (``content_truncated``).  Hashes are set for every leaf, ``None`` for containers.

    ``filename`` comes from Content-Disposition ``filename`` or else Content-Type ``name``,
    RFC 2231 and RFC 2047 decoded; ``filename_raw`` is the parameter value exactly as on the
    wire (RFC 2231 continuations joined in section order).  File names are data here: they may
    hold ``../``, NUL or bidi characters, and are sanitised only when a file is written.

    A message/rfc822 part is a container (``is_multipart``, summary in ``message``), never an
    attachment itself: the stdlib does not keep its bytes; its leaves are listed below it.
    """

    path: str
    depth: int
    parent: str | None
    content_type: str
    content_type_raw: str | None = None
    charset: str | None = None
    transfer_encoding: str | None = None
    disposition: str | None = None
    filename: str | None = None
    filename_raw: str | None = None
    name: str | None = None
    name_raw: str | None = None
    content_id: str | None = None
    is_multipart: bool = False
    is_attachment: bool = False
    size: int | None = None
    decoded_size: int | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    preview: str | None = None
    message: EmbeddedMessage | None = None
    headers: tuple[Header, ...] = ()
    content: bytes | None = field(default=None, repr=False)
    content_truncated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedMessage:
    """Everything read from the bytes of one message (RFC 5322 + MIME, RFC 2045-2049).

    Address fields are tuples of :class:`Address` (a header may list several mailboxes, and
    ``from_count`` says how many From fields there were: RFC 5322 section 3.6 allows one).
    When a field occurs more than once, the first occurrence is used, except To, Cc and Bcc,
    which list the mailboxes of every occurrence; all fields are in ``headers``.

    ``received_path`` holds one IP per Received field, in header order (newest hop first),
    chosen as Zeek's SMTP script does (see :func:`smtpsniff.mail.received.path_ip`), with
    consecutive repeats collapsed.  Zeek's ``path`` starts with the connection's server and
    client addresses: build it with :func:`smtpsniff.mail.received.zeek_path`.
    """

    size: int
    complete: bool
    header_bytes: int
    headers: tuple[Header, ...]
    from_: tuple[Address, ...] = ()
    from_count: int = 0
    sender: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    subject: str | None = None
    subject_raw: str | None = None
    date: datetime | None = None
    date_raw: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    return_path: str | None = None
    received: tuple[ReceivedHop, ...] = ()
    received_path: tuple[str, ...] = ()
    x_mailer: str | None = None
    user_agent: str | None = None
    x_originating_ip: str | None = None
    authentication_results: tuple[str, ...] = ()
    #: (d, s) of every DKIM-Signature (RFC 6376 section 3.5), ``None`` where a tag is absent.
    dkim: tuple[tuple[str | None, str | None], ...] = ()
    mime_version: str | None = None
    content_type: str | None = None
    parts: tuple[MimePart, ...] = ()
    urls: tuple[str, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()
    #: Anomalies counted but not kept once a kind reached ``max_anomalies_per_kind``.
    anomalies_suppressed: int = 0

    @property
    def attachments(self) -> tuple[MimePart, ...]:
        """The parts an extractor would write: ``is_attachment`` leaves, in order."""
        return tuple(p for p in self.parts if p.is_attachment)

    def header_values(self, name: str) -> tuple[str, ...]:
        """Decoded values of every header called ``name`` (case-insensitive), in order."""
        lname = name.lower()
        return tuple(h.value for h in self.headers if h.lname == lname)
