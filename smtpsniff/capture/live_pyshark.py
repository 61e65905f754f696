"""The pyshark live backend: tshark's capture (dumpcap -> tshark -> JSON) as raw frames.

Its one job is to turn ``pyshark.LiveCapture(use_json=True, include_raw=True)`` into the same
:class:`~smtpsniff.capture.frame.Frame` tuples the scapy backend yields: the raw frame bytes
(``frame_raw``), the epoch time with tshark's nanoseconds, the wire length and the link type.
pyshark's loop runs in a thread of its own; frames wait in a bounded queue (when it is full the
thread waits, the pipes fill and dumpcap's buffer absorbs the rest, as with tshark alone).
Stopping ends dumpcap, then tshark (the processes pyshark started for this capture).  pyshark's JSON
reader completes a packet only when tshark starts printing the next one, so the last packet
before a stop can be lost; the scapy backend has no such delay.

dumpcap runs with ``-q`` under pyshark, so drops are not known: ``LiveStats`` says ``None``.
"""
from __future__ import annotations

import asyncio
import os
import queue
import re
import shutil
import subprocess
import threading
import time

from smtpsniff.capture.frame import Frame
from smtpsniff.capture.live import LiveCaptureError, LiveStats, permission_hint
from smtpsniff.capture.pcapng_writer import InterfaceInfo
from smtpsniff.limits import DEFAULT_LIMITS, Limits

#: Wireshark's WTAP_ENCAP numbers (``frame.encap_type``) -> LINKTYPE_* (wiretap/pcap-common.c).
WTAP_ENCAP_TO_LINKTYPE = {1: 1, 7: 101, 15: 0, 25: 113, 210: 276}
#: dumpcap -L names -> LINKTYPE_* (www.tcpdump.org/linktypes.html).
DLT_NAME_TO_LINKTYPE = {"EN10MB": 1, "RAW": 101, "NULL": 0, "LOOP": 108, "LINUX_SLL": 113,
                        "LINUX_SLL2": 276, "IPV4": 228, "IPV6": 229}
#: Frames waiting between pyshark's thread and the analysis.
QUEUE_FRAMES = 65536
#: Seconds to wait for dumpcap to open its capture socket before giving up.
START_TIMEOUT_S = 15.0
#: Seconds tshark is given to print the packets it has read once dumpcap has stopped.
TSHARK_FLUSH_S = 2.0

_DLT_LINE = re.compile(r"^\s+(\S+)\s")


class PysharkSource:
    """A live capture through pyshark; see the module docstring."""

    backend = "pyshark"

    def __init__(self, name: str, *, bpf: str, limits: Limits = DEFAULT_LIMITS) -> None:
        try:
            import pyshark
        except ImportError as exc:  # pragma: no cover - pyshark is a dependency
            raise LiveCaptureError(f"the pyshark backend needs pyshark: {exc}") from None
        if not shutil.which("tshark") or not shutil.which("dumpcap"):
            raise LiveCaptureError("the pyshark backend needs tshark and dumpcap (apt-get install tshark)")
        self.name = name
        self.bpf = self.kernel_bpf = bpf
        linktype = _default_linktype(name)
        self.linktype = linktype
        self.interface = InterfaceInfo(linktype=linktype, snaplen=limits.live_snaplen, name=name, bpf=bpf)
        self._queue: queue.Queue = queue.Queue(QUEUE_FRAMES)
        self._error: BaseException | None = None
        self._frames = 0
        self._stopping = threading.Event()
        self._capture = None
        self._ready = threading.Event()
        self._pyshark = pyshark
        self._thread = threading.Thread(target=self._run, name="smtpsniff-pyshark", daemon=True)
        self._thread.start()
        self._wait_started()

    # --- pyshark's thread ------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        number = 0
        try:
            capture = self._pyshark.LiveCapture(interface=self.name, bpf_filter=self.bpf, use_json=True,
                                                include_raw=True, eventloop=loop)
            self._capture = capture
            self._ready.set()
            for packet in capture.sniff_continuously():
                number += 1
                self._queue.put(self._frame(packet, number))
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            if not self._stopping.is_set():
                self._error = exc
        finally:
            self._ready.set()
            self._queue.put(None)
            try:
                if self._capture is not None:
                    self._capture.close()
            except Exception:  # noqa: BLE001 - tearing down after the end
                pass

    def _frame(self, packet, number: int) -> Frame:
        info = packet.frame_info
        sec, _, frac = str(info.time_epoch).partition(".")
        ts_ns = int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])
        data = packet.get_raw_packet()
        try:
            linktype = WTAP_ENCAP_TO_LINKTYPE.get(int(info.encap_type), self.linktype)
        except (AttributeError, ValueError):
            linktype = self.linktype
        try:
            wire_len = int(info.len)
        except (AttributeError, ValueError):
            wire_len = len(data)
        return Frame(number, ts_ns, linktype, data, wire_len, 0)

    # --- the caller's side -------------------------------------------------------------------------
    def _wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._error is not None:
                self.close()
                raise LiveCaptureError(self._describe(self._error))
            if not self._thread.is_alive():
                raise LiveCaptureError(f"tshark stopped before capturing on {self.name}")
            if self._dumpcap_capturing():
                return
            time.sleep(0.05)
        self.close()
        raise LiveCaptureError(f"dumpcap did not start capturing on {self.name} within {START_TIMEOUT_S:.0f} s")

    def _dumpcap(self):
        capture = self._capture
        if capture is None:
            return None
        for process in list(getattr(capture, "_running_processes", ())):
            cmd = _cmdline(process.pid)
            if cmd and os.path.basename(cmd[0]) == "dumpcap" and process.returncode is None:
                return process
        return None

    def _dumpcap_capturing(self) -> bool:
        """dumpcap holds a packet socket, i.e. it is capturing (``/proc/net/packet`` lists it)."""
        process = self._dumpcap()
        if process is None:
            return False
        try:
            with open("/proc/net/packet", encoding="ascii") as fh:
                inodes = {line.split()[-1] for line in fh.read().splitlines()[1:]}
            fd_dir = f"/proc/{process.pid}/fd"
            for fd in os.listdir(fd_dir):
                target = os.readlink(os.path.join(fd_dir, fd))
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return True
        except OSError:
            return False
        return False

    def _describe(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split())
        if "permission" in text.lower():
            return permission_hint(self.name)
        if "does not exist" in text or "No such device" in text:
            return f"no such interface: {self.name}"
        return f"tshark could not capture on {self.name}: {text or type(exc).__name__}"

    def poll(self, timeout: float) -> list[Frame]:
        frames: list[Frame] = []
        try:
            item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return frames
        while item is not None:
            frames.append(item)
            if len(frames) >= 2048:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        else:
            self._queue.put(None)  # keep the end marker for the next poll
            if self._error is not None:
                error, self._error = self._error, None
                raise LiveCaptureError(self._describe(error))
        self._frames += len(frames)
        return frames

    @property
    def finished(self) -> bool:
        """The capture has ended and every frame was read."""
        return not self._thread.is_alive() and self._queue.qsize() <= 1

    def stats(self) -> LiveStats:
        return LiveStats(frames=self._frames, kernel_received=None, kernel_dropped=None)

    def close(self) -> None:
        """Stop dumpcap, give tshark a moment to print what it read, then stop tshark too.

        The frames already delivered stay pollable.  Only the processes pyshark started for this
        capture are signalled.
        """
        self._stopping.set()
        if not self._thread.is_alive():
            return
        process = self._dumpcap()
        if process is not None:
            _terminate(process)
        self._thread.join(timeout=TSHARK_FLUSH_S)
        if self._thread.is_alive() and self._capture is not None:
            for process in list(getattr(self._capture, "_running_processes", ())):
                _terminate(process)
            self._thread.join(timeout=TSHARK_FLUSH_S)

    def drain(self) -> list[Frame]:
        """Stop dumpcap; every frame tshark still delivers."""
        self.close()
        out: list[Frame] = []
        while True:
            batch = self.poll(0)
            if not batch:
                return out
            out.extend(batch)


def _terminate(process) -> None:
    if process.returncode is None:
        try:
            process.terminate()
        except ProcessLookupError:
            pass


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [part.decode("utf-8", "replace") for part in fh.read().split(b"\0") if part]
    except OSError:
        return []


def _default_linktype(name: str) -> int:
    """The link type dumpcap captures ``name`` with: the first that ``dumpcap -L`` lists."""
    try:
        out = subprocess.run(["dumpcap", "-L", "-i", name], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LiveCaptureError(f"dumpcap could not list the link types of {name}: {exc}") from None
    if out.returncode != 0:
        text = " ".join(out.stderr.split())
        if "permission" in text.lower():
            raise LiveCaptureError(permission_hint(name))
        if "No such device" in text or "doesn't exist" in text or "There is no device" in text:
            raise LiveCaptureError(f"no such interface: {name}")
        raise LiveCaptureError(f"dumpcap cannot capture on {name}: {text}")
    for line in out.stdout.splitlines():
        match = _DLT_LINE.match(line)
        if match and match.group(1) in DLT_NAME_TO_LINKTYPE:
            return DLT_NAME_TO_LINKTYPE[match.group(1)]
    raise LiveCaptureError(f"dumpcap lists no link type smtpsniff decodes for {name}")
