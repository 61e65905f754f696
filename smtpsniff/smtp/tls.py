"""Read the first TLS handshake message of a direction: ClientHello or ServerHello.

RFC 8446 5.1 (record layer), 4.1.2 (ClientHello), 4.1.3 (ServerHello), 4.2.1 (supported_versions);
RFC 5246 7.4.1 (TLS 1.2 hellos); RFC 6066 3 (server_name); RFC 7301 3.1 (ALPN);
RFC 8701 (GREASE values, skipped).

Only plaintext handshake bytes at the start of a connection are read; nothing is decrypted.
Malformed input returns ``None`` (the caller reports it); this module never raises on input and
knows nothing of SMTP.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Handshake record content type (RFC 8446 5.1); alert is 21.
HANDSHAKE = 0x16
ALERT = 0x15
CLIENT_HELLO = 1
SERVER_HELLO = 2
EXT_SERVER_NAME = 0
EXT_ALPN = 16
EXT_SUPPORTED_VERSIONS = 43

#: Octets buffered to find the first hello.  A ClientHello fits one 2^14-octet record in practice
#: (RFC 8446 5.1 limits a record to 2^14 + 5 octets); post-quantum key shares make it ~2 KiB.
#: Four records' worth leaves room for hellos split across records.
MAX_HELLO_BYTES = 4 * (2**14 + 5)

_VERSION_NAMES = {
    0x0002: "SSL 2.0", 0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1",
    0x0303: "TLS 1.2", 0x0304: "TLS 1.3",
}


def version_name(v: int) -> str:
    return _VERSION_NAMES.get(v, f"0x{v:04x}")


def is_grease(v: int) -> bool:
    """RFC 8701 2: 0x0A0A, 0x1A1A, ... 0xFAFA."""
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def record_start(buf: bytes) -> bool | None:
    """Whether ``buf`` begins with a TLS record header: type handshake (or alert) and version 3.x.

    None when more bytes are needed to tell (RFC 8446 5.1: ContentType, ProtocolVersion).
    """
    if not buf:
        return None
    if buf[0] not in (HANDSHAKE, ALERT):
        return False
    if len(buf) < 2:
        return None
    return buf[1] == 0x03


@dataclass(frozen=True, slots=True)
class ClientHelloInfo:
    record_version: int
    legacy_version: int
    supported_versions: tuple[int, ...]
    sni: str | None
    alpn: tuple[str, ...]
    cipher_suites: int

    @property
    def version(self) -> int:
        return max(self.supported_versions) if self.supported_versions else self.legacy_version


@dataclass(frozen=True, slots=True)
class ServerHelloInfo:
    record_version: int
    legacy_version: int
    selected_version: int | None
    cipher_suite: int

    @property
    def version(self) -> int:
        return self.selected_version if self.selected_version is not None else self.legacy_version


class NeedMore(Exception):
    """Internal: the handshake message is not complete yet."""


class Malformed(Exception):
    """Internal: the bytes are not a well-formed hello."""


def first_handshake(buf: bytes) -> tuple[int, int, bytes] | None:
    """(record version, handshake type, body) of the first handshake message, from records.

    Raises NeedMore when incomplete, Malformed when the records are not handshake records.
    """
    payload = bytearray()
    pos = 0
    record_version = None
    while True:
        if len(payload) >= 4:
            hlen = int.from_bytes(payload[1:4], "big")
            if len(payload) >= 4 + hlen:
                assert record_version is not None
                return record_version, payload[0], bytes(payload[4 : 4 + hlen])
        if len(buf) < pos + 5:
            raise NeedMore
        ctype, ver, rlen = buf[pos], int.from_bytes(buf[pos + 1 : pos + 3], "big"), int.from_bytes(buf[pos + 3 : pos + 5], "big")
        if ctype != HANDSHAKE or (ver >> 8) != 3 or rlen == 0 or rlen > 2**14 + 2048:
            raise Malformed
        if record_version is None:
            record_version = ver
        if len(buf) < pos + 5 + rlen:
            raise NeedMore
        payload += buf[pos + 5 : pos + 5 + rlen]
        pos += 5 + rlen


class _Reader:
    __slots__ = ("b", "p")

    def __init__(self, b: bytes) -> None:
        self.b, self.p = b, 0

    # Each method reads its bytes itself (no nested calls): a ClientHello takes dozens of reads.
    def take(self, n: int) -> bytes:
        p, b = self.p, self.b
        if p + n > len(b):
            raise Malformed
        self.p = p + n
        return b[p : p + n]

    def u8(self) -> int:
        p, b = self.p, self.b
        if p + 1 > len(b):
            raise Malformed
        self.p = p + 1
        return b[p]

    def u16(self) -> int:
        p, b = self.p, self.b
        if p + 2 > len(b):
            raise Malformed
        self.p = p + 2
        return (b[p] << 8) | b[p + 1]

    def vec8(self) -> bytes:
        p, b = self.p, self.b
        if p + 1 > len(b):
            raise Malformed
        end = p + 1 + b[p]
        if end > len(b):
            raise Malformed
        self.p = end
        return b[p + 1 : end]

    def vec16(self) -> bytes:
        p, b = self.p, self.b
        if p + 2 > len(b):
            raise Malformed
        end = p + 2 + ((b[p] << 8) | b[p + 1])
        if end > len(b):
            raise Malformed
        self.p = end
        return b[p + 2 : end]

    def done(self) -> bool:
        return self.p >= len(self.b)


def _extensions(r: _Reader) -> list[tuple[int, bytes]]:
    if r.done():  # extensions are optional before TLS 1.3 (RFC 5246 7.4.1.2)
        return []
    b = r.vec16()
    n = len(b)
    out = []
    p = 0
    while p < n:  # _Reader's u16 (type) then vec16 (data) per extension, without a call per read
        if p + 4 > n:
            raise Malformed
        end = p + 4 + ((b[p + 2] << 8) | b[p + 3])
        if end > n:
            raise Malformed
        out.append(((b[p] << 8) | b[p + 1], b[p + 4 : end]))
        p = end
    return out


def parse_client_hello(record_version: int, body: bytes) -> ClientHelloInfo:
    r = _Reader(body)
    legacy = r.u16()
    r.take(32)  # random
    r.vec8()  # legacy_session_id
    suites = r.vec16()
    r.vec8()  # compression methods
    sni = None
    alpn: tuple[str, ...] = ()
    versions: tuple[int, ...] = ()
    for etype, data in _extensions(r):
        if etype == EXT_SERVER_NAME and data:
            names = _Reader(_Reader(data).vec16())
            while not names.done():
                ntype, name = names.u8(), names.vec16()
                if ntype == 0 and sni is None:  # host_name
                    sni = name.decode("ascii", "backslashreplace")
        elif etype == EXT_ALPN and data:
            protos = _Reader(_Reader(data).vec16())
            found = []
            while not protos.done():
                found.append(protos.vec8().decode("ascii", "backslashreplace"))
            alpn = tuple(found)
        elif etype == EXT_SUPPORTED_VERSIONS and data:
            vr = _Reader(_Reader(data).vec8())
            vs = []
            while not vr.done():
                v = vr.u16()
                if not is_grease(v):
                    vs.append(v)
            versions = tuple(vs)
    return ClientHelloInfo(record_version, legacy, versions, sni, alpn, len(suites) // 2)


def parse_server_hello(record_version: int, body: bytes) -> ServerHelloInfo:
    r = _Reader(body)
    legacy = r.u16()
    r.take(32)
    r.vec8()
    suite = r.u16()
    r.u8()
    selected = None
    for etype, data in _extensions(r):
        if etype == EXT_SUPPORTED_VERSIONS and len(data) == 2:
            selected = int.from_bytes(data, "big")
    return ServerHelloInfo(record_version, legacy, selected, suite)


def parse_hello(buf: bytes) -> ClientHelloInfo | ServerHelloInfo | None | bool:
    """The first hello in ``buf``: its info; ``None`` when more bytes are needed; ``False`` when the
    bytes are no (parsable) hello."""
    try:
        record_version, htype, body = first_handshake(buf)
        if htype == CLIENT_HELLO:
            return parse_client_hello(record_version, body)
        if htype == SERVER_HELLO:
            return parse_server_hello(record_version, body)
        return False
    except NeedMore:
        return None
    except Malformed:
        return False
