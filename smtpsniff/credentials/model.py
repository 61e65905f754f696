"""What one AUTH exchange reveals: the :class:`Credential` record and the :class:`AuthExchange` it is read from.

An exchange is the AUTH command, every SASL step that followed it (RFC 4954 4) and the reply that
ended it.  This module only declares shapes; the per-mechanism modules fill them.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..fastinit import slot_builder
from ..smtp.events import AuthStep, AuthStepKind
from ..reassembly.events import Direction


_C2S, _S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
_CANCEL = AuthStepKind.CANCEL


class SecretKind(str, Enum):
    """What ``Credential.secret`` holds."""

    PASSWORD = "password"  # PLAIN, LOGIN: the password as typed
    TOKEN = "token"  # XOAUTH2, OAUTHBEARER: an OAuth 2.0 bearer token (RFC 6750)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthExchange:
    """One AUTH command with its SASL steps, in wire order."""

    session_id: int
    command_index: int
    mechanism: str
    steps: tuple[AuthStep, ...]
    ts_ns: int
    frame: int
    outcome_code: int | None  # the reply that ended the exchange (235, 535, 454, ...); None if unseen
    tls: bool  # the exchange ran inside TLS (visible only when the capture was decrypted)

    @property
    def client(self) -> tuple[bytes, ...]:
        """Client messages in order: the initial response (if any), then each response; no cancel."""
        return tuple([s.data for s in self.steps if s.direction is _C2S and s.kind is not _CANCEL])

    @property
    def server(self) -> tuple[bytes, ...]:
        """Server challenges (the decoded text of each 334 reply) in order."""
        return tuple([s.data for s in self.steps if s.direction is _S2C])

    @property
    def cancelled(self) -> bool:
        return any(s.kind is _CANCEL for s in self.steps)

    @property
    def has_initial(self) -> bool:
        return any(s.kind is AuthStepKind.INITIAL for s in self.steps)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decoded:
    """What a mechanism module read from an exchange."""

    username: str | None = None
    authzid: str | None = None
    realm: str | None = None  # NTLM domain, DIGEST-MD5 realm
    secret: str | None = None
    secret_kind: SecretKind | None = None
    hash: str | None = None  # a line an offline cracker takes
    hash_format: str | None = None
    hashcat_mode: int | None = None
    complete: bool = False  # every message the mechanism needs was seen
    note: str | None = None  # what could not be read, in one line


_build_decoded = slot_builder(Decoded)


def decoded(*, username: str | None = None, authzid: str | None = None, realm: str | None = None,
            secret: str | None = None, secret_kind: SecretKind | None = None, hash: str | None = None,
            hash_format: str | None = None, hashcat_mode: int | None = None, complete: bool = False,
            note: str | None = None) -> Decoded:
    """``Decoded(...)`` (the same defaults) with its slots written directly (see
    :mod:`smtpsniff.fastinit`): the mechanism modules build one per AUTH exchange."""
    return _build_decoded(username, authzid, realm, secret, secret_kind, hash, hash_format, hashcat_mode,
                          complete, note)


@dataclass(frozen=True, slots=True, kw_only=True)
class Credential:
    """One row of the ``credentials`` table: an AUTH attempt and what it exposed."""

    session_id: int
    command_index: int
    ts_ns: int
    frame: int
    mechanism: str
    username: str | None
    authzid: str | None
    realm: str | None
    secret: str | None
    secret_kind: str | None
    hash: str | None
    hash_format: str | None
    hashcat_mode: int | None
    outcome_code: int | None
    success: bool | None
    cancelled: bool
    complete: bool
    tls: bool
    steps: int
    note: str | None

    @property
    def cleartext(self) -> bool:
        return not self.tls
