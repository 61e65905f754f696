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

from ..fastinit import slot_builder
from ..records.builder import SessionRecords
from . import cram_md5, digest_md5, login, ntlm, oauth, plain, scram
from .mask import MASK, mask, mask_auth_argument
from .model import AuthExchange, Credential, Decoded, SecretKind

_MODULES: tuple[ModuleType, ...] = (plain, login, cram_md5, ntlm, oauth, digest_md5, scram)
#: Mechanism name (upper case) -> the module that decodes it.
DECODERS: dict[str, ModuleType] = {mech: module for module in _MODULES for mech in module.MECHANISMS}

_CHALLENGE_STAGE = "auth_challenge"
_VERB = attrgetter("verb")
# One exchange per AUTH command, one credential per exchange: built with their slots written directly.
_new_exchange = slot_builder(AuthExchange)
_new_credential = slot_builder(Credential)
_SECRET_KIND_VALUE = {k: k.value for k in SecretKind}


def exchanges(records: SessionRecords) -> Iterator[AuthExchange]:
    """Every AUTH command of a session with its steps and outcome, in order."""
    commands = records.commands
    verbs = list(map(_VERB, commands))  # read in C
    if "AUTH" not in verbs:
        return
    session = records.session
    steps_by_command: dict[int, list] = {}
    for step in records.auth_steps:
        steps_by_command.setdefault(step.command_index, []).append(step)
    final: dict[int, int] = {}  # AUTH command index -> the code of the reply that ended it
    for reply in [x for x in records.replies if x.verb == "AUTH"]:
        if reply.command_index is not None and reply.stage != _CHALLENGE_STAGE:
            final.setdefault(reply.command_index, reply.code)
    # The exchange ran inside TLS when the first STARTTLS answered 220 came before it (in list
    # order) with a lower index, or the whole session was implicit TLS.
    tls_at = tls_from = -1 if session.implicit_tls else None  # that STARTTLS: list position, command index
    if tls_at is None and "STARTTLS" in verbs:
        for position, command in enumerate(commands):
            if command.verb == "STARTTLS" and command.reply_code == 220:
                tls_at, tls_from = position, command.index
                break
    new = _new_exchange
    for position, verb in enumerate(verbs):
        if verb != "AUTH":
            continue
        command = commands[position]
        index = command.index
        yield new(session.session_id, index, command.argument.split(" ", 1)[0].upper(),
                  tuple(steps_by_command.get(index, ())), command.ts_ns, command.frame, final.get(index),
                  tls_at is not None and tls_at < position and index > tls_from)


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
    return _new_credential(
        session_id=ex.session_id, command_index=ex.command_index, ts_ns=ex.ts_ns, frame=ex.frame,
        mechanism=ex.mechanism, username=d.username, authzid=d.authzid, realm=d.realm, secret=d.secret,
        secret_kind=_SECRET_KIND_VALUE[d.secret_kind] if d.secret_kind else None, hash=d.hash,
        hash_format=d.hash_format, hashcat_mode=d.hashcat_mode, outcome_code=code, success=None if code is None else 200 <= code < 300,
        cancelled=ex.cancelled, complete=d.complete, tls=ex.tls, steps=len(ex.steps), note=d.note)


def credentials(records: SessionRecords) -> list[Credential]:
    """One :class:`Credential` per AUTH command of the session, secrets in full."""
    return [credential(ex) for ex in exchanges(records)]


__all__ = ["AuthExchange", "Credential", "DECODERS", "Decoded", "MASK", "SecretKind", "credential",
           "credentials", "decode_exchange", "exchanges", "mask", "mask_auth_argument"]
