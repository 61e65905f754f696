"""SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802 3, RFC 7677): salted challenge-response.

The wire holds the salt, the iteration count, the AuthMessage and the ClientProof: enough to test
a password guess offline (RFC 5802 3: ClientProof = ClientKey XOR HMAC(H(ClientKey), AuthMessage)).
No common cracker reads SCRAM exchanges, so the line is smtpsniff's own, self-describing:
``$smtpsniff-scram$<hash>$<iterations>$<base64 salt>$<base64 AuthMessage>$<base64 ClientProof>``;
:func:`verify` tests a password against it.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from .model import AuthExchange, Decoded, decoded
from .text import sasl_text

MECHANISMS = ("SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS")
HASH_FORMAT = "smtpsniff-scram (smtpsniff.credentials.scram.verify)"


def _attributes(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in sasl_text(data).split(","):
        key, sep, value = item.partition("=")
        if sep and len(key) == 1:
            out.setdefault(key, value)
    return out


def _saslname(value: str) -> str:
    return value.replace("=2C", ",").replace("=3D", "=")


def decode(ex: AuthExchange) -> Decoded:
    client, server = ex.client, ex.server
    if not client:
        return decoded(note="no client-first-message")
    first = client[0]
    # RFC 5802 7: client-first-message = gs2-header client-first-message-bare
    parts = first.split(b",", 2)
    if len(parts) < 3:
        return decoded(note="client-first-message has no GS2 header (RFC 5802 7)")
    bare = parts[2]
    attrs = _attributes(bare)
    user = _saslname(attrs["n"]) if "n" in attrs else None
    authzid = _saslname(sasl_text(parts[1])[2:]) if parts[1].startswith(b"a=") else None
    server_first = next((s for s in server if s.startswith(b"r=")), None)
    final = next((c for c in client[1:] if b",p=" in c), None)
    if server_first is None or final is None:
        return decoded(username=user, authzid=authzid, note="server-first or client-final message not seen")
    sattrs = _attributes(server_first)
    try:
        salt = base64.b64decode(sattrs["s"], validate=True)
        iterations = int(sattrs["i"])
    except (KeyError, ValueError, binascii.Error):
        return decoded(username=user, authzid=authzid, note="server-first-message lacks a usable salt or count")
    without_proof, _, proof = final.rpartition(b",p=")
    auth_message = bare + b"," + server_first + b"," + without_proof
    name = ex.mechanism.removeprefix("SCRAM-").removesuffix("-PLUS").replace("-", "").lower()
    line = "$smtpsniff-scram${}${}${}${}${}".format(
        name, iterations, base64.b64encode(salt).decode(), base64.b64encode(auth_message).decode(),
        proof.decode("ascii", errors="replace"))
    return decoded(username=user, authzid=authzid, hash=line, hash_format=HASH_FORMAT, complete=True)


def verify(line: str, password: str) -> bool:
    """Whether ``password`` produced the ClientProof in a ``$smtpsniff-scram$`` line (RFC 5802 3).

    The password is used as given (SASLprep, RFC 4013, leaves ASCII passwords unchanged).
    """
    _, _, name, iterations, salt_b64, message_b64, proof_b64 = line.split("$")
    salted = hashlib.pbkdf2_hmac(name, password.encode("utf-8"), base64.b64decode(salt_b64), int(iterations))
    client_key = hmac.new(salted, b"Client Key", name).digest()
    stored_key = hashlib.new(name, client_key).digest()
    signature = hmac.new(stored_key, base64.b64decode(message_b64), name).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    return hmac.compare_digest(proof, base64.b64decode(proof_b64))
