"""smtpsniff: a Wireshark-style analyser for SMTP traffic.

>>> import smtpsniff
>>> cap = smtpsniff.read("captures/smtp-sample.pcap")
>>> cap.sessions, cap.transactions, cap.commands, cap.replies, cap.anomalies

``read`` and ``Capture`` are imported on first use, so the packet layers (and the live path) do not
pay for pandas and matplotlib when they do not need them.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Capture", "read", "__version__"]


def __getattr__(name: str):  # PEP 562: lazy attributes
    if name == "read":  # reading imports no pandas: it is imported once the files are read
        from .analysis import reading

        return reading.read
    if name == "Capture":
        from .analysis import capture

        return capture.Capture
    raise AttributeError(f"module 'smtpsniff' has no attribute {name!r}")
