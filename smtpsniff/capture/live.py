"""Capture frames from a network interface as they arrive, through a kernel BPF filter.

Its one job is the interface: open it, let the kernel filter it (only matching packets ever reach
user space), read each packet with its kernel timestamp in nanoseconds and original length, and
report what the kernel received and dropped.  It hands up :class:`~smtpsniff.capture.frame.Frame`
tuples, exactly as the file readers do, and knows nothing of what the frames contain.

Two backends:

* ``scapy`` (default, Linux): scapy resolves the interface, compiles the filter with libpcap and
  opens the ``AF_PACKET`` socket (``conf.L2listen``); frames are read from that socket raw, without
  scapy dissecting them.  The link type is the interface's own (Ethernet for ``lo`` and ``eth*``, as
  libpcap's ``ARPHRD_TO_DLT``).  ``any`` (every interface) and interfaces without a known link
  header are captured "cooked", as libpcap does, with a ``LINKTYPE_LINUX_SLL2`` header built from
  the socket address.  Loopback packets are seen twice by a packet socket (sent, then received);
  the outgoing copy is filtered out, as libpcap does.  Drops come from ``PACKET_STATISTICS``.
* ``pyshark``: tshark's live capture (dumpcap -> tshark), see :mod:`smtpsniff.capture.live_pyshark`.
"""
from __future__ import annotations

import errno
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from smtpsniff.capture.frame import Frame
from smtpsniff.capture.pcapng_writer import InterfaceInfo
from smtpsniff.limits import DEFAULT_LIMITS, Limits

BACKENDS = ("scapy", "pyshark")

#: Frames read per ``poll`` at most, so the caller regains control (timers, display) under load.
MAX_BATCH = 2048

# LINKTYPE_* values (www.tcpdump.org/linktypes.html).
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL2 = 276
#: DLT_RAW is 12 on Linux (14 on OpenBSD) where the file format says LINKTYPE_RAW (101).
_DLT_TO_LINKTYPE = {12: LINKTYPE_RAW, 14: LINKTYPE_RAW}

# Linux <linux/if_packet.h>, <linux/if_arp.h>, <asm-generic/socket.h>.
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_AUXDATA = 8
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
SO_ATTACH_FILTER = 26
PACKET_OUTGOING = 4
ARPHRD_LOOPBACK = 772
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
ETH_P_8021Q = 0x8100

_TIMESPEC = struct.Struct("qq")  # struct timespec on 64-bit Linux
#: struct tpacket_auxdata: status, len, snaplen, mac, net, vlan_tci, vlan_tpid.
_AUXDATA = struct.Struct("IIIHHHH")
_STATS = struct.Struct("II")  # struct tpacket_stats: tp_packets, tp_drops (reset when read)
#: LINKTYPE_LINUX_SLL2 header: protocol, reserved, ifindex, ARPHRD type, packet type, address length,
#: address (8 bytes), all in network byte order (www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html).
_SLL2 = struct.Struct(">HHIHBB8s")
_VLAN_TAG = struct.Struct(">HH")
_ANCILLARY_BYTES = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(_AUXDATA.size) + 64


class LiveCaptureError(Exception):
    """The interface cannot be captured on; the message is one line saying why and what to do."""


@dataclass(frozen=True, slots=True)
class LiveStats:
    """What a live capture has seen so far."""

    #: Frames handed up.
    frames: int
    #: Packets the kernel matched to the filter (libpcap's ps_recv), ``None`` when unknown.
    kernel_received: int | None
    #: Of those, packets the kernel dropped because the capture buffer was full (ps_drop).
    kernel_dropped: int | None


class LiveSource(Protocol):
    """A live capture: ``poll`` for frames, ``stats`` for drops, ``close`` when done."""

    name: str
    bpf: str
    interface: InterfaceInfo
    backend: str

    def poll(self, timeout: float) -> list[Frame]:
        """Frames that arrived, waiting up to ``timeout`` seconds for the first; maybe none."""

    def drain(self) -> list[Frame]:
        """Stop capturing; the frames captured but not yet polled."""

    def stats(self) -> LiveStats: ...

    def close(self) -> None: ...


def bpf_for_ports(ports: Iterable[int]) -> str:
    """The default kernel filter: TCP to or from any of the SMTP ports (IPv4 and IPv6)."""
    return " or ".join(f"tcp port {p}" for p in sorted(set(ports)))


def open_live(name: str, *, bpf: str, backend: str = "scapy", limits: Limits = DEFAULT_LIMITS,
              promisc: bool = True) -> LiveSource:
    """Start capturing on interface ``name`` (``any`` for all) through the kernel filter ``bpf``.

    Raises :class:`LiveCaptureError` with one readable line when the interface does not exist,
    capturing is not permitted, the filter does not compile or the backend is missing.
    """
    if backend == "scapy":
        return ScapySource(name, bpf=bpf, limits=limits, promisc=promisc)
    if backend == "pyshark":
        from smtpsniff.capture.live_pyshark import PysharkSource

        return PysharkSource(name, bpf=bpf, limits=limits)
    raise LiveCaptureError(f"unknown capture backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def permission_hint(name: str) -> str:
    return (f"no permission to capture on {name}: run as root or give the interpreter CAP_NET_RAW "
            f"(setcap cap_net_raw,cap_net_admin=eip {os.path.realpath(sys.executable)})")


class ScapySource:
    """An ``AF_PACKET`` socket opened by scapy, read raw; see the module docstring."""

    backend = "scapy"

    def __init__(self, name: str, *, bpf: str, limits: Limits = DEFAULT_LIMITS, promisc: bool = True) -> None:
        self.name = name
        self.bpf = bpf
        self._limits = limits
        self._frames = 0
        self._received = 0
        self._dropped = 0
        self._listen = None
        self._closed = False
        self._ifindex: dict[str, int] = {}
        try:
            import scapy.layers.l2  # noqa: F401 - registers the link layers scapy names sockets by
            from scapy.config import conf
            from scapy.data import ARPHRD_TO_DLT
            from scapy.error import Scapy_Exception
        except ImportError as exc:  # pragma: no cover - scapy is a dependency
            raise LiveCaptureError(f"the scapy backend needs scapy: {exc}") from None
        self.cooked = name == "any"
        hatype = None
        if not self.cooked:
            hatype = _interface_type(name)
            dlt = ARPHRD_TO_DLT.get(hatype)
            if dlt is None or dlt < 0:
                self.cooked = True  # no link header libpcap would keep: capture cooked, as it does
        try:
            if self.cooked:
                self._sock = _cooked_socket(name, bpf)
                linktype = LINKTYPE_LINUX_SLL2
                kernel_bpf = bpf
            else:
                # Loopback: the kernel drops the outgoing copy of each packet (SKF_AD_PKTTYPE).
                kernel_bpf = f"({bpf}) and inbound" if hatype == ARPHRD_LOOPBACK else bpf
                self._listen = conf.L2listen(iface=name, filter=kernel_bpf, promisc=promisc)
                self._sock = self._listen.ins
                linktype = _DLT_TO_LINKTYPE.get(dlt, dlt)
        except PermissionError:
            raise LiveCaptureError(permission_hint(name)) from None
        except Scapy_Exception as exc:
            raise LiveCaptureError(f"cannot use the capture filter {bpf!r}: {_one_line(exc)}") from None
        except ValueError as exc:  # scapy: "Interface 'x' not found !"
            raise LiveCaptureError(f"no such interface: {name} ({_one_line(exc)})") from None
        except OSError as exc:
            raise LiveCaptureError(_os_error(name, exc)) from None
        self.kernel_bpf = kernel_bpf
        self._set_buffer(limits.live_socket_buffer_bytes)
        self._sock.setblocking(False)
        self._loopback_name = _loopback_name() if self.cooked else None
        self.interface = InterfaceInfo(linktype=linktype, snaplen=limits.live_snaplen, name=name, bpf=bpf)
        self.linktype = linktype
        self._buf = bytearray(limits.live_snaplen)
        self._view = memoryview(self._buf)

    def _set_buffer(self, size: int) -> None:
        # SO_RCVBUFFORCE passes net.core.rmem_max (it needs CAP_NET_ADMIN); SO_RCVBUF is capped by it.
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except OSError:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)

    @property
    def buffer_bytes(self) -> int:
        """The receive buffer the kernel granted (it reports twice the size asked, for overhead)."""
        return self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    def poll(self, timeout: float) -> list[Frame]:
        frames: list[Frame] = []
        if self._closed:
            return frames
        try:
            ready, _, _ = select.select((self._sock,), (), (), timeout)
        except InterruptedError:
            return frames
        if not ready:
            return frames
        recv = self._sock.recvmsg_into
        bufs = (self._buf,)
        view = self._view
        snaplen = len(self._buf)
        cooked = self.cooked
        linktype = self.linktype
        number = self._frames
        new = tuple.__new__
        while len(frames) < MAX_BATCH:
            try:
                n, ancillary, _flags, address = recv(bufs, _ANCILLARY_BYTES, socket.MSG_TRUNC)
            except (BlockingIOError, InterruptedError):
                break
            ts_ns = None
            wire_len = n
            aux = None
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
                    sec, nsec = _TIMESPEC.unpack_from(value)
                    ts_ns = sec * 1_000_000_000 + nsec
                elif level == SOL_PACKET and kind == PACKET_AUXDATA and len(value) >= _AUXDATA.size:
                    aux = _AUXDATA.unpack_from(value)
                    wire_len = aux[1]
            data = bytes(view[: n if n < snaplen else snaplen])
            if ts_ns is None:
                ts_ns = time.time_ns()
            if cooked:
                ifname, proto, pkttype, hatype, addr = address
                if pkttype == PACKET_OUTGOING and ifname == self._loopback_name:
                    continue  # the received copy of the same loopback packet follows
                header = _SLL2.pack(proto, 0, self._index_of(ifname), hatype, pkttype, min(len(addr), 8), addr[:8])
                data = header + data
                wire_len += len(header)
            elif aux is not None and (aux[5] or aux[0] & TP_STATUS_VLAN_VALID) and linktype == LINKTYPE_ETHERNET:
                # The kernel took the 802.1Q tag out into auxdata; put it back where it was.
                tpid = aux[6] if aux[0] & TP_STATUS_VLAN_TPID_VALID else ETH_P_8021Q
                data = data[:12] + _VLAN_TAG.pack(tpid, aux[5]) + data[12:]
                wire_len += 4
            number += 1
            frames.append(new(Frame, (number, ts_ns, linktype, data, wire_len, 0)))
        self._frames = number
        return frames

    def drain(self) -> list[Frame]:
        """The frames already in the socket buffer (a bounded number of reads), then close."""
        frames: list[Frame] = []
        for _ in range(1 + self._limits.live_socket_buffer_bytes // (64 * MAX_BATCH)):
            batch = self.poll(0)
            if not batch:
                break
            frames.extend(batch)
        self.close()
        return frames

    def _index_of(self, ifname: str) -> int:
        index = self._ifindex.get(ifname)
        if index is None:
            try:
                index = socket.if_nametoindex(ifname)
            except OSError:
                index = 0
            self._ifindex[ifname] = index
        return index

    def stats(self) -> LiveStats:
        if not self._closed:
            try:
                packets, drops = _STATS.unpack(self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS.size))
                # The kernel counts outgoing loopback copies it skips in "cooked" any; they are
                # not frames, but they are packets it received, as libpcap counts them.
                self._received += packets
                self._dropped += drops
            except OSError:
                pass
        return LiveStats(frames=self._frames, kernel_received=self._received, kernel_dropped=self._dropped)

    def close(self) -> None:
        if self._closed:
            return
        self.stats()
        self._closed = True
        if self._listen is not None:
            self._listen.close()
        else:
            self._sock.close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _os_error(name: str, exc: OSError) -> str:
    if exc.errno in (errno.EPERM, errno.EACCES):
        return permission_hint(name)
    if exc.errno == errno.ENODEV:
        return f"no such interface: {name}"
    if exc.errno == errno.ENETDOWN:
        return f"interface {name} is down"
    return f"cannot capture on {name}: {exc.strerror or _one_line(exc)}"


def _interface_type(name: str) -> int:
    """The ARPHRD type of interface ``name`` (sysfs), or ``LiveCaptureError`` when there is none."""
    try:
        socket.if_nametoindex(name)
    except OSError:
        raise LiveCaptureError(f"no such interface: {name}") from None
    try:
        with open(f"/sys/class/net/{name}/type", encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        from scapy.interfaces import resolve_iface

        try:
            return resolve_iface(name).type
        except ValueError:
            raise LiveCaptureError(f"no such interface: {name}") from None


def _loopback_name() -> str | None:
    """Name of the loopback interface (its outgoing copies are skipped in cooked captures)."""
    try:
        for _index, ifname in socket.if_nameindex():
            with open(f"/sys/class/net/{ifname}/type", encoding="ascii") as fh:
                if int(fh.read().strip()) == ARPHRD_LOOPBACK:
                    return ifname
    except (OSError, ValueError):
        pass
    return "lo"


def _cooked_socket(name: str, bpf: str) -> socket.socket:
    """A ``SOCK_DGRAM`` packet socket on ``name`` (or every interface for ``any``), filtered.

    The socket hands up packets from the network header on, so the filter is compiled for raw IP
    (DLT_RAW), and it is attached before the socket is bound, with the buffer emptied afterwards,
    so that no unfiltered packet is ever read (scapy and libpcap do the same).
    """
    from scapy.arch.common import compile_filter, free_filter
    from scapy.arch.linux import sock_fprog
    from scapy.data import DLT_RAW

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)
        program = compile_filter(bpf, linktype=DLT_RAW)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, sock_fprog(program.bf_len, program.bf_insns))
        finally:
            free_filter(program)
        if name != "any":
            sock.bind((name, ETH_P_ALL))
        sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        while True:
            try:
                sock.recv(1)
            except BlockingIOError:
                break
    except BaseException:
        sock.close()
        raise
    return sock
