"""Credentials from AUTH exchanges (RFC 4954): one :class:`Credential` per AUTH attempt.

:func:`exchanges` groups a session's SASL steps by AUTH command and finds the reply that ended
each; :func:`credentials` hands each exchange to the module of its mechanism (one module per
mechanism: :mod:`.plain`, :mod:`.login`, :mod:`.cram_md5`, :mod:`.ntlm`, :mod:`.oauth`,
:mod:`.digest_md5`, :mod:`.scram`).  Secrets are returned in full: masking is the caller's job
(:mod:`.mask`).  Knows nothing of packets, pandas or output.
"""
from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter
from types import ModuleType

from ..records.builder import SessionRecords
from . import cram_md5, digest_md5, login, ntlm, oauth, plain, scram
from .mask import MASK, mask, mask_auth_argument
from .model import AuthExchange, Credential, Decoded, SecretKind

_MODULES: tuple[ModuleType, ...] = (plain, login, cram_md5, ntlm, oauth, digest_md5, scram)
#: Mechanism name (upper case) -> the module that decodes it.
DECODERS: dict[str, ModuleType] = {mech: module for module in _MODULES for mech in module.MECHANISMS}

_CHALLENGE_STAGE = "auth_challenge"
_VERB = attrgetter("verb")


def exchanges(records: SessionRecords) -> Iterator[AuthExchange]:
    """Every AUTH command of a session with its steps and outcome, in order."""
    if "AUTH" not in map(_VERB, records.commands):  # checked in C: most sessions send no AUTH
        return
    session = records.session
    steps_by_command: dict[int, list] = {}
    for step in records.auth_steps:
        steps_by_command.setdefault(step.command_index, []).append(step)
    final: dict[int, int] | None = None  # AUTH command index -> the code of the reply that ended it
    tls_from = None if not session.implicit_tls else -1
    for command in records.commands:
        if command.verb == "STARTTLS" and command.reply_code == 220 and tls_from is None:
            tls_from = command.index
        if command.verb != "AUTH":
            continue
        if final is None:  # read the replies once, and only for sessions with AUTH
            final = {}
            for reply in records.replies:
                if reply.verb == "AUTH" and reply.command_index is not None and reply.stage != _CHALLENGE_STAGE:
                    final.setdefault(reply.command_index, reply.code)
        mechanism = command.argument.split(" ", 1)[0].upper()
        yield AuthExchange(
            session_id=session.session_id, command_index=command.index, mechanism=mechanism,
            steps=tuple(steps_by_command.get(command.index, ())), ts_ns=command.ts_ns, frame=command.frame,
            outcome_code=final.get(command.index), tls=tls_from is not None and command.index > tls_from)


def decode_exchange(ex: AuthExchange) -> Decoded:
    module = DECODERS.get(ex.mechanism)
    if module is None:
        return Decoded(note=f"mechanism {ex.mechanism or '(none)'} is not decoded")
    try:
        return module.decode(ex)
    except (ValueError, IndexError, UnicodeError) as exc:  # hostile input never stops the run
        return Decoded(note=f"could not decode {ex.mechanism}: {exc}")


def credential(ex: AuthExchange) -> Credential:
    d = decode_exchange(ex)
    code = ex.outcome_code
    return Credential(
        session_id=ex.session_id, command_index=ex.command_index, ts_ns=ex.ts_ns, frame=ex.frame,
        mechanism=ex.mechanism, username=d.username, authzid=d.authzid, realm=d.realm, secret=d.secret,
        secret_kind=d.secret_kind.value if d.secret_kind else None, hash=d.hash, hash_format=d.hash_format,
        hashcat_mode=d.hashcat_mode, outcome_code=code, success=None if code is None else 200 <= code < 300,
        cancelled=ex.cancelled, complete=d.complete, tls=ex.tls, steps=len(ex.steps), note=d.note)


def credentials(records: SessionRecords) -> list[Credential]:
    """One :class:`Credential` per AUTH command of the session, secrets in full."""
    return [credential(ex) for ex in exchanges(records)]


__all__ = ["AuthExchange", "Credential", "DECODERS", "Decoded", "MASK", "SecretKind", "credential",
           "credentials", "decode_exchange", "exchanges", "mask", "mask_auth_argument"]
