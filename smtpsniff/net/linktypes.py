"""Link layers: find where the IP header starts in a captured frame, by LINKTYPE.

One job: given the frame bytes of one link type, say whether the network layer is IPv4, IPv6 or
something else, and at which offset it begins.  This module knows nothing of IP, TCP, fragments or
SMTP; it never builds objects other than the ``(net, offset)`` pair it returns.

Link type values and header layouts come from www.tcpdump.org/linktypes.html (and the per-type pages
linked there).  Each ``link_*`` function takes the frame bytes and returns ``(net, offset)`` where
``net`` is :data:`NET_IPV4`, :data:`NET_IPV6`, :data:`NET_OTHER` (a valid frame that does not
carry IP: ARP, LLDP, ...) or :data:`NET_TRUNCATED` (the snaplen cut the link header itself).
"""
from __future__ import annotations

from collections.abc import Callable

# --- LINKTYPE_* values (www.tcpdump.org/linktypes.html) -----------------------------------------
LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family in the capturing host's byte order
LINKTYPE_ETHERNET = 1  # IEEE 802.3 Ethernet
DLT_RAW_12 = 12  # DLT_RAW on most BSDs; pcap files written there may carry it (Wireshark maps it)
DLT_RAW_14 = 14  # DLT_RAW on OpenBSD
LINKTYPE_RAW = 101  # raw IPv4 or IPv6; the version nibble says which
LINKTYPE_LOOP = 108  # OpenBSD loopback: 4-byte address family in network byte order
LINKTYPE_LINUX_SLL = 113  # Linux "cooked" capture v1 (16-byte header)
LINKTYPE_IPV4 = 228  # raw IPv4 only
LINKTYPE_IPV6 = 229  # raw IPv6 only
LINKTYPE_LINUX_SLL2 = 276  # Linux "cooked" capture v2 (20-byte header), what `tcpdump -i any` writes

LINKTYPE_NAMES: dict[int, str] = {
    LINKTYPE_NULL: "NULL",
    LINKTYPE_ETHERNET: "ETHERNET",
    DLT_RAW_12: "RAW",
    DLT_RAW_14: "RAW",
    LINKTYPE_RAW: "RAW",
    LINKTYPE_LOOP: "LOOP",
    LINKTYPE_LINUX_SLL: "LINUX_SLL",
    LINKTYPE_IPV4: "IPV4",
    LINKTYPE_IPV6: "IPV6",
    LINKTYPE_LINUX_SLL2: "LINUX_SLL2",
}

# --- what a link function reports -----------------------------------------------------------------
NET_IPV4 = 4
NET_IPV6 = 6
NET_OTHER = 0
NET_TRUNCATED = -1

# --- EtherTypes (IEEE 802.3 / IANA ethernet-numbers) --------------------------------------------
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
#: Tag protocol identifiers: IEEE 802.1Q C-tag 0x8100, IEEE 802.1ad S-tag 0x88A8, and the pre-standard
#: QinQ S-tags 0x9100 / 0x9200 still emitted by some switches.  Each tag is 4 bytes: TPID (already read)
#: then TCI, then the next EtherType.
VLAN_TPIDS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200))

# --- address families seen in NULL / LOOP headers -----------------------------------------------
AF_INET = 2
#: AF_INET6 differs by OS: 10 Linux, 24 NetBSD/OpenBSD/BSD/OS, 28 FreeBSD/DragonFly, 30 macOS/iOS
#: (the list Wireshark and libpcap accept for LINKTYPE_NULL).
AF_INET6_VALUES = frozenset((10, 24, 28, 30))

_ETHER_NET = {ETHERTYPE_IPV4: NET_IPV4, ETHERTYPE_IPV6: NET_IPV6}

LinkDecoder = Callable[[bytes], "tuple[int, int]"]


def link_ethernet(data: bytes) -> tuple[int, int]:
    """Ethernet II, with any number of 802.1Q / 802.1ad tags (IEEE 802.1Q clause 9)."""
    if len(data) < 14:
        return NET_TRUNCATED, 0
    etype = (data[12] << 8) | data[13]
    if etype == ETHERTYPE_IPV4:  # the untagged case first: nearly every frame
        return NET_IPV4, 14
    off = 14
    while etype in VLAN_TPIDS:  # each pass consumes 4 bytes, so a stack of tags always ends
        if len(data) < off + 4:
            return NET_TRUNCATED, 0
        etype = (data[off + 2] << 8) | data[off + 3]
        off += 4
    # An EtherType <= 1500 is an 802.3 length field (LLC follows): not IP, like ARP or LLDP.
    return _ETHER_NET.get(etype, NET_OTHER), off


def _af_net(af: int) -> int:
    if af == AF_INET:
        return NET_IPV4
    if af in AF_INET6_VALUES:
        return NET_IPV6
    return NET_OTHER


def link_null(data: bytes) -> tuple[int, int]:
    """LINKTYPE_NULL: the AF value is in the byte order of the host that wrote the file.

    Like tcpdump and Wireshark, guess the order: AF values are small, so a value with bits in its
    upper 16 bits was written by a host of the other endianness.
    """
    if len(data) < 4:
        return NET_TRUNCATED, 0
    af = int.from_bytes(data[:4], "little")
    if af & 0xFFFF0000:
        af = int.from_bytes(data[:4], "big")
    return _af_net(af), 4


def link_loop(data: bytes) -> tuple[int, int]:
    """LINKTYPE_LOOP: like NULL but the AF value is always big-endian."""
    if len(data) < 4:
        return NET_TRUNCATED, 0
    return _af_net(int.from_bytes(data[:4], "big")), 4


def link_linux_sll(data: bytes) -> tuple[int, int]:
    """LINKTYPE_LINUX_SLL: packet type, ARPHRD type, address length, 8-byte address, protocol."""
    if len(data) < 16:
        return NET_TRUNCATED, 0
    return _ETHER_NET.get((data[14] << 8) | data[15], NET_OTHER), 16


def link_linux_sll2(data: bytes) -> tuple[int, int]:
    """LINKTYPE_LINUX_SLL2: protocol, reserved, interface index, ARPHRD type, packet type,
    address length, 8-byte address (20 bytes; the protocol comes first)."""
    if len(data) < 20:
        return NET_TRUNCATED, 0
    return _ETHER_NET.get((data[0] << 8) | data[1], NET_OTHER), 20


def link_raw(data: bytes) -> tuple[int, int]:
    """LINKTYPE_RAW: the IP version nibble decides.  Anything else is handed on as IPv4 so that
    the IP decoder reports the bad version as malformed (a raw-IP link carries nothing but IP)."""
    if not data:
        return NET_TRUNCATED, 0
    return (NET_IPV6 if data[0] >> 4 == 6 else NET_IPV4), 0


def link_ipv4(data: bytes) -> tuple[int, int]:
    """LINKTYPE_IPV4: always IPv4 (the IP decoder checks the version nibble)."""
    return NET_IPV4, 0


def link_ipv6(data: bytes) -> tuple[int, int]:
    """LINKTYPE_IPV6: always IPv6 (the IP decoder checks the version nibble)."""
    return NET_IPV6, 0


#: Link types the net layer decodes, by LINKTYPE value.
LINK_DECODERS: dict[int, LinkDecoder] = {
    LINKTYPE_ETHERNET: link_ethernet,
    LINKTYPE_LINUX_SLL2: link_linux_sll2,
    LINKTYPE_LINUX_SLL: link_linux_sll,
    LINKTYPE_RAW: link_raw,
    DLT_RAW_12: link_raw,
    DLT_RAW_14: link_raw,
    LINKTYPE_NULL: link_null,
    LINKTYPE_LOOP: link_loop,
    LINKTYPE_IPV4: link_ipv4,
    LINKTYPE_IPV6: link_ipv6,
}
