"""smtpsniff: a Wireshark-style analyser for SMTP traffic.

>>> import smtpsniff
>>> cap = smtpsniff.read("captures/smtp-sample.pcap")
>>> cap.sessions, cap.transactions, cap.commands, cap.replies, cap.anomalies
"""
__version__ = "0.1.0"

from .analysis.capture import Capture, read  # noqa: E402

__all__ = ["Capture", "read", "__version__"]
